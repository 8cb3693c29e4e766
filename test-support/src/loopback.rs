//! Captures of what the exporter sends, for tshark to decode: each message or segment in
//! an Ethernet/IPv4 frame from 127.0.0.1 to 127.0.0.1 (checksums right, so no dissector
//! complains), written as a classic pcap.
#![allow(
    clippy::indexing_slicing,
    reason = "fixed header offsets in buffers built here"
)]

use std::path::Path;
use std::time::Duration;

use crate::capture::write_pcap;

/// Frames in a classic pcap file, frame `i` stamped `i` µs after `t`.
pub fn write_frames(path: &Path, t: u32, frames: &[Vec<u8>]) {
    let frames = frames.iter().map(|f| (&f[..], f.len() as u32));
    write_pcap(
        path,
        Duration::from_secs(t.into()),
        Duration::from_micros(1),
        frames,
    );
}

/// The RFC 1071 Internet checksum of `parts` laid end to end (each part but
/// the last of even length).
pub fn inet_checksum(parts: &[&[u8]]) -> u16 {
    let mut sum: u32 = parts
        .iter()
        .flat_map(|p| p.chunks(2))
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An Ethernet frame carrying an IPv4 packet 127.0.0.1 → 127.0.0.1 of
/// protocol `proto` around `l4` (checksummed header).
pub fn ipv4_frame(proto: u8, l4: &[u8]) -> Vec<u8> {
    let ip_len = 20 + l4.len();
    let mut p = Vec::with_capacity(14 + ip_len);
    p.extend_from_slice(&[0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00]);
    let mut ip = [
        0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, proto, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
    ];
    ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
    let sum = inet_checksum(&[&ip]);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    p.extend_from_slice(&ip);
    p.extend_from_slice(l4);
    p
}

/// Ethernet/IPv4/UDP around each message (from its source port to `dport`), in a
/// classic pcap file.
pub fn write_udp_pcap(path: &Path, packets: &[(u16, &[u8])], dport: u16, t: u32) {
    let frames: Vec<Vec<u8>> = packets
        .iter()
        .map(|(sport, msg)| {
            let mut udp = Vec::with_capacity(8 + msg.len());
            udp.extend_from_slice(&sport.to_be_bytes());
            udp.extend_from_slice(&dport.to_be_bytes());
            udp.extend_from_slice(&((8 + msg.len()) as u16).to_be_bytes());
            udp.extend_from_slice(&[0, 0]); // no UDP checksum (IPv4)
            udp.extend_from_slice(msg);
            ipv4_frame(17, &udp)
        })
        .collect();
    write_frames(path, t, &frames);
}

/// One TCP segment (20-octet header, window 65535) in an Ethernet/IPv4
/// frame, with its checksum over the IPv4 pseudo-header.
pub fn tcp_frame(ports: (u16, u16), seq: u32, ack: u32, flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20 + payload.len());
    tcp.extend_from_slice(&ports.0.to_be_bytes());
    tcp.extend_from_slice(&ports.1.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[5 << 4, flags, 0xff, 0xff, 0, 0, 0, 0]);
    tcp.extend_from_slice(payload);
    let mut pseudo = [127, 0, 0, 1, 127, 0, 0, 1, 0, 6, 0, 0];
    pseudo[10..12].copy_from_slice(&(tcp.len() as u16).to_be_bytes());
    let sum = inet_checksum(&[&pseudo, &tcp]);
    tcp[16..18].copy_from_slice(&sum.to_be_bytes());
    ipv4_frame(6, &tcp)
}
