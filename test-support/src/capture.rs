//! Capture files: every packet of a classic pcap (any byte order, µs or ns) or a pcapng
//! file, and classic Ethernet pcaps written with deterministic timestamps.

use std::borrow::Cow;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read};
use std::path::Path;
use std::time::Duration;

use pcap_file::pcap::{PcapHeader, PcapPacket, PcapReader, PcapWriter};
use pcap_file::pcapng::{Block, PcapNgReader};
use pcap_file::{DataLink, Endianness, TsResolution};

const PCAPNG_MAGIC: [u8; 4] = [0x0a, 0x0d, 0x0d, 0x0a];

/// One packet of a capture, with its link type (per interface in a pcapng file).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub link: DataLink,
    /// Capture time since the Unix epoch (zero for pcapng simple packets, which have none).
    pub ts: Duration,
    pub data: Vec<u8>,
    /// Length on the wire (more than `data` holds when the capture cut it).
    pub orig_len: u32,
}

/// Every packet of the capture at `path`, in file order.
pub fn read_frames(path: &Path) -> Vec<Frame> {
    let mut file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic)
        .unwrap_or_else(|e| panic!("{} is not a capture: {e}", path.display()));
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let reader = BufReader::new(file);
    if magic == PCAPNG_MAGIC {
        read_pcapng(path, reader)
    } else {
        read_pcap(path, reader)
    }
}

/// [`read_frames`] of a capture that must be Ethernet: fails on any other link type.
pub fn read_ethernet(path: &Path) -> Vec<Frame> {
    let frames = read_frames(path);
    if let Some(f) = frames.iter().find(|f| f.link != DataLink::ETHERNET) {
        panic!("{}: link type {:?}, not Ethernet", path.display(), f.link);
    }
    frames
}

/// Packet headers are read raw, so a frame longer than the file's snap length (which
/// `pcap_file`'s checked reader refuses) is read as it was written.
fn read_pcap(path: &Path, reader: impl Read) -> Vec<Frame> {
    let mut r = PcapReader::new(reader).unwrap_or_else(|e| panic!("pcap {}: {e}", path.display()));
    let link = r.header().datalink;
    let frac = match r.header().ts_resolution {
        TsResolution::MicroSecond => Duration::from_micros,
        TsResolution::NanoSecond => Duration::from_nanos,
    };
    let mut out = Vec::new();
    while let Some(raw) = r.next_raw_packet() {
        let raw = raw.unwrap_or_else(|e| panic!("{}: packet {}: {e}", path.display(), out.len()));
        assert_eq!(
            raw.incl_len as usize,
            raw.data.len(),
            "{}: packet {}",
            path.display(),
            out.len()
        );
        out.push(Frame {
            link,
            ts: Duration::from_secs(raw.ts_sec.into()) + frac(raw.ts_frac.into()),
            data: raw.data.into_owned(),
            orig_len: raw.orig_len,
        });
    }
    out
}

fn read_pcapng(path: &Path, reader: impl Read) -> Vec<Frame> {
    let mut r =
        PcapNgReader::new(reader).unwrap_or_else(|e| panic!("pcapng {}: {e}", path.display()));
    let mut links = Vec::new();
    let mut out = Vec::new();
    while let Some(block) = r.next_block() {
        let block = block.unwrap_or_else(|e| panic!("{}: bad block: {e}", path.display()));
        let (iface, ts, data, orig_len): (usize, Duration, Cow<'_, [u8]>, u32) = match block {
            Block::InterfaceDescription(idb) => {
                links.push(idb.linktype);
                continue;
            }
            Block::EnhancedPacket(epb) => (
                epb.interface_id as usize,
                epb.timestamp,
                epb.data,
                epb.original_len,
            ),
            Block::SimplePacket(spb) => (0, Duration::ZERO, spb.data, spb.original_len),
            // The obsolete packet block; its timestamp in the default µs.
            Block::Packet(pb) => (
                usize::from(pb.interface_id),
                Duration::from_micros(pb.timestamp),
                pb.data,
                pb.original_len,
            ),
            _ => continue,
        };
        let link = *links.get(iface).unwrap_or_else(|| {
            panic!(
                "{}: packet of undescribed interface {iface}",
                path.display()
            )
        });
        out.push(Frame {
            link,
            ts,
            data: data.into_owned(),
            orig_len,
        });
    }
    out
}

/// Writes Ethernet frames (octets, length on the wire) as a classic little-endian µs pcap,
/// the first stamped `first`, each next one `step` later.
pub fn write_pcap<'a>(
    path: &Path,
    first: Duration,
    step: Duration,
    frames: impl IntoIterator<Item = (&'a [u8], u32)>,
) {
    let file = File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let header = PcapHeader {
        version_major: 2,
        version_minor: 4,
        ts_correction: 0,
        ts_accuracy: 0,
        snaplen: 65535,
        datalink: DataLink::ETHERNET,
        ts_resolution: TsResolution::MicroSecond,
        endianness: Endianness::Little,
    };
    let mut w = PcapWriter::with_header(BufWriter::new(file), header)
        .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    let mut ts = first;
    for (i, (data, orig_len)) in frames.into_iter().enumerate() {
        w.write_packet(&PcapPacket::new(ts, orig_len, data))
            .unwrap_or_else(|e| panic!("write {} packet {i}: {e}", path.display()));
        ts += step;
    }
    let mut inner = w.into_writer();
    std::io::Write::flush(&mut inner).expect("flush pcap");
}
