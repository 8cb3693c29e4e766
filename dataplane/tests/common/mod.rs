//! Helpers shared by the integration tests: reading the capture fixtures.
#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use metaprobe_dataplane::wire::{TcpFlags, decode};
use metaprobe_test_support::capture::read_frames;
use pcap_file::DataLink;

pub use metaprobe_test_support::fixtures_dir as fixtures;

/// Every frame of a pcap or pcapng file with its link type.
pub fn read_capture(path: &Path) -> Vec<(DataLink, Vec<u8>)> {
    read_frames(path)
        .into_iter()
        .map(|f| (f.link, f.data))
        .collect()
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
