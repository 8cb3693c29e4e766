//! Helpers shared by the integration tests: reading the capture fixtures.
#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use metaprobe_dataplane::wire::{Packet, TcpFlags, decode, decode_ip};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::truth::{Row, col};
use pcap_file::DataLink;

pub use metaprobe_test_support::fixtures_dir as fixtures;

/// Every frame of a pcap or pcapng file with its link type.
pub fn read_capture(path: &Path) -> Vec<(DataLink, Vec<u8>)> {
    read_frames(path)
        .into_iter()
        .map(|f| (f.link, f.data))
        .collect()
}

/// Source address and port, destination address and port.
pub type Tuple = (IpAddr, u16, IpAddr, u16);

/// A decoded frame of a fixture (numbered from 1, as tshark does) and the bytes its spans
/// point into.
pub struct Frame {
    pub number: usize,
    pub packet: Packet,
    pub bytes: Vec<u8>,
}

impl Frame {
    pub fn payload(&self) -> &[u8] {
        self.packet.payload(&self.bytes)
    }

    pub fn tuple(&self) -> Option<Tuple> {
        tuple_of(&self.packet)
    }
}

/// Every frame of a fixture capture, decoded: Ethernet, raw IP (LINKTYPE_RAW; DLT 12 as
/// some writers store it) or BSD loopback (a 4-octet address family, then IP).
pub fn decoded_frames(name: &str) -> Vec<Frame> {
    read_capture(&fixtures().join(name))
        .into_iter()
        .enumerate()
        .map(|(i, (link, data))| {
            let (packet, bytes) = match link {
                DataLink::ETHERNET => (decode(&data), data),
                DataLink::RAW | DataLink::IPV4 | DataLink::IPV6 | DataLink::Unknown(12) => {
                    (decode_ip(&data), data)
                }
                DataLink::NULL | DataLink::LOOP => {
                    let ip = data[4..].to_vec();
                    (decode_ip(&ip), ip)
                }
                other => panic!("{name}: link type {other:?}"),
            };
            Frame {
                number: i + 1,
                packet,
                bytes,
            }
        })
        .collect()
}

pub fn tuple_of(p: &Packet) -> Option<Tuple> {
    let (sp, dp) = p.ports()?;
    Some((p.src_addr()?, sp, p.dst_addr()?, dp))
}

/// The tuple of a truth row: IPv4 or IPv6 addresses, TCP or UDP ports.
pub fn row_tuple(row: &Row) -> Tuple {
    let either = |a: &str, b: &str| -> String {
        let v = col(row, a);
        if v.is_empty() { col(row, b) } else { v }.to_owned()
    };
    let addr = |v4, v6| either(v4, v6).parse::<IpAddr>().unwrap();
    let port = |tcp, udp| either(tcp, udp).parse::<u16>().unwrap();
    (
        addr("ip.src", "ipv6.src"),
        port("tcp.srcport", "udp.srcport"),
        addr("ip.dst", "ipv6.dst"),
        port("tcp.dstport", "udp.dstport"),
    )
}

/// Every Ethernet frame of every fixture capture: seeds for mutation tests and benches.
pub fn ethernet_frames() -> Vec<Vec<u8>> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(fixtures())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    names.sort();
    names
        .iter()
        .flat_map(|p| read_capture(p))
        .filter(|(link, _)| *link == DataLink::ETHERNET)
        .map(|(_, data)| data)
        .collect()
}

/// A TCP connection's segments in the order they were sent: (from the
/// client, payload).
pub type Dialog = Vec<(bool, Vec<u8>)>;

/// The TCP connections of a capture whose server port is `port`, sorted;
/// retransmissions left out (a segment past one the capture lost is kept).
pub fn tcp_dialogs(name: &str, port: u16) -> Vec<Dialog> {
    let mut dialogs: HashMap<_, Dialog> = HashMap::new();
    let mut next: HashMap<_, u32> = HashMap::new();
    for (_, f) in read_capture(&fixtures().join(name)) {
        let p = decode(&f);
        let (Some(tcp), Some((sp, dp))) = (p.tcp().copied(), p.ports()) else {
            continue;
        };
        let payload = p.payload(&f);
        let (src, dst) = (p.src_addr().unwrap(), p.dst_addr().unwrap());
        if tcp.flags.contains(TcpFlags::SYN) {
            next.insert((src, sp), tcp.seq.wrapping_add(1));
        }
        if payload.is_empty() || (sp != port && dp != port) {
            continue;
        }
        let expect = next.entry((src, sp)).or_insert(tcp.seq);
        if tcp.seq.wrapping_sub(*expect) >= 1 << 31 {
            continue; // before what was seen: a retransmission
        }
        *expect = tcp.seq.wrapping_add(payload.len() as u32);
        let conn = if dp == port { (src, sp) } else { (dst, dp) };
        dialogs
            .entry(conn)
            .or_default()
            .push((dp == port, payload.to_vec()));
    }
    let mut out: Vec<Dialog> = dialogs.into_values().collect();
    out.sort();
    out
}
