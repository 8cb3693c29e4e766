//! Building the TCP segments that answer a blocked request, in the
//! request's own encapsulation.
//!
//! A segment keeps the request frame's L2 header octet for octet — VLAN and
//! QinQ tags, MPLS labels, the PPPoE session (its length set anew) — with the
//! MAC addresses swapped when it goes back to the sender; then a fresh IPv4
//! (RFC 791) or IPv6 (RFC 8200) header and a 20-octet TCP header (RFC 9293),
//! both with their checksums.

use core::net::IpAddr;

use crate::forward::INJECT_FRAME_MAX;
use crate::wire::{Ip, Packet, TcpFlags};

const IPV4_HEADER: usize = 20;
const IPV6_HEADER: usize = 40;
const TCP_HEADER: usize = 20;
const TTL: u8 = 64;
const PROTOCOL_TCP: u8 = 6;

/// One segment to build: its direction relative to the request, its numbers
/// and its payload.
#[derive(Clone, Copy, Debug)]
pub struct Segment<'a> {
    /// Toward the request's sender (addresses, ports and MACs swapped).
    pub back: bool,
    pub seq: u32,
    pub ack: u32,
    pub flags: TcpFlags,
    pub payload: &'a [u8],
}

/// Writes `seg` into `buf` after the L2 header of `frame` (the request, which
/// `packet` was decoded from); the frame's length, or `None` when the request
/// has no Ethernet/IP/TCP or the segment does not fit.
pub fn write(
    buf: &mut [u8; INJECT_FRAME_MAX],
    frame: &[u8],
    packet: &Packet,
    seg: &Segment<'_>,
) -> Option<usize> {
    let tcp = packet.tcp()?;
    packet.ethernet?;
    let l3 = packet.l3_offset as usize;
    let l2 = frame.get(..l3)?;
    let ip_header = match packet.ip {
        Ip::V4(_) => IPV4_HEADER,
        Ip::V6(_) => IPV6_HEADER,
        Ip::None => return None,
    };
    let tcp_len = TCP_HEADER + seg.payload.len();
    let ip_len = ip_header + tcp_len;
    let total = l3 + ip_len;
    let out = buf.get_mut(..total)?;
    let (l2_out, rest) = out.split_at_mut(l3);
    l2_out.copy_from_slice(l2);
    if seg.back {
        let (dst, src) = l2_out.split_at_mut(6);
        dst.swap_with_slice(src.get_mut(..6)?);
    }
    if packet.pppoe.is_some() {
        // PPPoE's LENGTH counts the PPP protocol field and what follows (RFC 2516 §4).
        let len = u16::try_from(ip_len + 2).ok()?;
        l2_out
            .get_mut(l3.checked_sub(4)?..l3.checked_sub(2)?)?
            .copy_from_slice(&len.to_be_bytes());
    }
    let (src, dst) = match (packet.src_addr()?, packet.dst_addr()?) {
        (s, d) if seg.back => (d, s),
        (s, d) => (s, d),
    };
    let (sport, dport) = match (tcp.src_port, tcp.dst_port) {
        (s, d) if seg.back => (d, s),
        (s, d) => (s, d),
    };
    let (ip_out, tcp_out) = rest.split_at_mut(ip_header);
    let pseudo = match (packet.ip, src, dst) {
        (Ip::V4(v4), IpAddr::V4(s), IpAddr::V4(d)) => {
            let len = u16::try_from(ip_len).ok()?;
            #[rustfmt::skip]
            let mut h: [u8; IPV4_HEADER] = [
                0x45, v4.tos, 0, 0,  // version 4, IHL 5, TOS, total length
                0, 0, 0x40, 0,       // identification, DF
                TTL, PROTOCOL_TCP, 0, 0, // TTL, TCP, checksum
                0, 0, 0, 0, 0, 0, 0, 0,  // source, destination
            ];
            put(&mut h, 2, &len.to_be_bytes());
            put(&mut h, 12, &s.octets());
            put(&mut h, 16, &d.octets());
            let ck = !fold(sum(0, &h));
            put(&mut h, 10, &ck.to_be_bytes());
            ip_out.copy_from_slice(&h);
            // RFC 9293 §3.1: source, destination, zero, protocol, TCP length.
            let acc = sum(sum(0, &s.octets()), &d.octets());
            acc + u32::from(PROTOCOL_TCP) + tcp_len as u32
        }
        (Ip::V6(v6), IpAddr::V6(s), IpAddr::V6(d)) => {
            let len = u16::try_from(tcp_len).ok()?;
            let mut h = [0u8; IPV6_HEADER];
            let first = (6u32 << 28) | (u32::from(v6.traffic_class) << 20);
            put(&mut h, 0, &first.to_be_bytes());
            put(&mut h, 4, &len.to_be_bytes());
            put(&mut h, 6, &[PROTOCOL_TCP, TTL]);
            put(&mut h, 8, &s.octets());
            put(&mut h, 24, &d.octets());
            ip_out.copy_from_slice(&h);
            // RFC 8200 §8.1: source, destination, upper-layer length, next header.
            let acc = sum(sum(0, &s.octets()), &d.octets());
            acc + tcp_len as u32 + u32::from(PROTOCOL_TCP)
        }
        _ => return None,
    };
    let (th, data) = tcp_out.split_at_mut(TCP_HEADER);
    let mut h = [0u8; TCP_HEADER];
    put(&mut h, 0, &sport.to_be_bytes());
    put(&mut h, 2, &dport.to_be_bytes());
    put(&mut h, 4, &seg.seq.to_be_bytes());
    put(&mut h, 8, &seg.ack.to_be_bytes());
    // Data offset 5 (no options), the flags' low 8 bits.
    put(&mut h, 12, &[5 << 4, (seg.flags.0 & 0xff) as u8]);
    put(&mut h, 14, &tcp.window.to_be_bytes());
    data.copy_from_slice(seg.payload);
    let ck = !fold(sum(sum(pseudo, &h), seg.payload));
    put(&mut h, 16, &ck.to_be_bytes());
    th.copy_from_slice(&h);
    Some(total)
}

/// Copies `v` into `h` at `at` (the offsets above are constants within `h`).
fn put(h: &mut [u8], at: usize, v: &[u8]) {
    if let Some(d) = h.get_mut(at..at + v.len()) {
        d.copy_from_slice(v);
    }
}

/// The 16-bit one's complement sum of RFC 1071, unfolded, added to `acc`.
fn sum(acc: u32, data: &[u8]) -> u32 {
    let mut chunks = data.chunks_exact(2);
    let mut acc = chunks.by_ref().fold(acc, |a, w| match w {
        [hi, lo] => a + u32::from(u16::from_be_bytes([*hi, *lo])),
        _ => a,
    });
    if let [last] = chunks.remainder() {
        acc += u32::from(*last) << 8;
    }
    acc
}

fn fold(mut acc: u32) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;
    use crate::wire::decode;

    /// A TCP segment from 10.0.0.1:40000 to 192.0.2.1:80 (seq 1000, ack 5000,
    /// PSH|ACK) carrying `payload`, under `l2` (Ethernet through the ether
    /// type of IPv4, or of PPP for PPPoE).
    pub(crate) fn request_v4(l2: &[u8], payload: &[u8]) -> Vec<u8> {
        let mut f = l2.to_vec();
        let total = (40 + payload.len()) as u16;
        f.extend_from_slice(&[0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 6, 0, 0]);
        f[l2.len() + 2..l2.len() + 4].copy_from_slice(&total.to_be_bytes());
        f.extend_from_slice(&[10, 0, 0, 1, 192, 0, 2, 1]);
        f.extend_from_slice(&40000u16.to_be_bytes());
        f.extend_from_slice(&80u16.to_be_bytes());
        f.extend_from_slice(&1000u32.to_be_bytes());
        f.extend_from_slice(&5000u32.to_be_bytes());
        f.extend_from_slice(&[0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0]);
        f.extend_from_slice(payload);
        f
    }

    pub(crate) const ETH: [u8; 14] = [2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x08, 0x00];

    /// True when the one's complement sum over `data` (with `acc`) checks.
    fn verifies(acc: u32, data: &[u8]) -> bool {
        fold(sum(acc, data)) == 0xffff
    }

    fn check_v4(frame: &[u8], l3: usize) {
        let ip = &frame[l3..l3 + 20];
        assert!(verifies(0, ip), "IPv4 header checksum");
        let tcp = &frame[l3 + 20..];
        let pseudo = sum(sum(0, &ip[12..16]), &ip[16..20]) + 6 + tcp.len() as u32;
        assert!(verifies(pseudo, tcp), "TCP checksum");
    }

    #[test]
    fn a_reply_goes_back_with_swapped_ends_and_valid_checksums() {
        let req = request_v4(&ETH, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        let p = decode(&req);
        let mut buf = [0u8; INJECT_FRAME_MAX];
        let seg = Segment {
            back: true,
            seq: 5000,
            ack: 1027,
            flags: TcpFlags::PSH.union(TcpFlags::ACK).union(TcpFlags::FIN),
            payload: b"HTTP/1.1 302 Found\r\n\r\n",
        };
        let n = write(&mut buf, &req, &p, &seg).unwrap();
        let out = &buf[..n];
        check_v4(out, 14);
        let r = decode(out);
        assert!(r.is_complete());
        let e = r.ethernet.unwrap();
        let q = p.ethernet.unwrap();
        assert_eq!((e.src, e.dst), (q.dst, q.src));
        assert_eq!((r.src_addr(), r.dst_addr()), (p.dst_addr(), p.src_addr()));
        let t = r.tcp().unwrap();
        assert_eq!(
            (t.src_port, t.dst_port, t.seq, t.ack),
            (80, 40000, 5000, 1027)
        );
        assert_eq!(t.flags, seg.flags);
        assert_eq!(r.payload.slice(out), seg.payload);
    }

    #[test]
    fn an_odd_length_payload_still_checks() {
        let req = request_v4(&ETH, b"x");
        let p = decode(&req);
        let mut buf = [0u8; INJECT_FRAME_MAX];
        let seg = Segment {
            back: false,
            seq: 1,
            ack: 2,
            flags: TcpFlags::RST,
            payload: b"abc",
        };
        let n = write(&mut buf, &req, &p, &seg).unwrap();
        check_v4(&buf[..n], 14);
        assert_eq!(buf[..12], req[..12], "onward keeps the MACs");
    }

    #[test]
    fn pppoe_and_vlan_headers_are_mirrored_with_the_new_length() {
        #[rustfmt::skip]
        let l2 = [
            2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1,
            0x81, 0x00, 0x00, 0x07, // VLAN 7
            0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0, 0, // PPPoE session 0x1234, length
            0x00, 0x21, // PPP: IPv4
        ];
        let mut req = request_v4(&l2, b"GET / HTTP/1.1\r\n\r\n");
        let ppp_len = (req.len() - 24) as u16;
        req[22..24].copy_from_slice(&ppp_len.to_be_bytes());
        let p = decode(&req);
        assert!(p.pppoe.is_some());
        let mut buf = [0u8; INJECT_FRAME_MAX];
        let seg = Segment {
            back: true,
            seq: 5000,
            ack: 1018,
            flags: TcpFlags::RST.union(TcpFlags::ACK),
            payload: &[],
        };
        let n = write(&mut buf, &req, &p, &seg).unwrap();
        let out = &buf[..n];
        assert_eq!(out[12..22], req[12..22], "VLAN tag and PPPoE session kept");
        assert_eq!(u16::from_be_bytes([out[22], out[23]]), 2 + 40);
        check_v4(out, 26);
        let r = decode(out);
        assert_eq!(r.vlan, p.vlan);
        assert!(r.is_complete());
    }

    #[test]
    fn an_ipv6_segment_checks() {
        let mut req = vec![2, 0, 0, 0, 0, 2, 2, 0, 0, 0, 0, 1, 0x86, 0xdd];
        req.extend_from_slice(&[0x60, 0, 0, 0, 0, 21, 6, 64]);
        req.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8].repeat(4));
        req.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb9].repeat(4));
        req.extend_from_slice(&[
            0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 2, 0x50, 0x18, 1, 0, 0, 0, 0, 0, b'G',
        ]);
        let p = decode(&req);
        assert!(p.is_complete());
        let mut buf = [0u8; INJECT_FRAME_MAX];
        let seg = Segment {
            back: true,
            seq: 2,
            ack: 2,
            flags: TcpFlags::RST.union(TcpFlags::ACK),
            payload: &[],
        };
        let n = write(&mut buf, &req, &p, &seg).unwrap();
        let out = &buf[..n];
        let tcp = &out[54..];
        let pseudo = sum(sum(0, &out[22..38]), &out[38..54]) + tcp.len() as u32 + 6;
        assert!(verifies(pseudo, tcp));
        let r = decode(out);
        assert_eq!(r.src_addr(), p.dst_addr());
        assert_eq!(r.tcp().unwrap().dst_port, 40000);
    }

    #[test]
    fn a_frame_without_tcp_or_too_long_is_not_built() {
        let mut buf = [0u8; INJECT_FRAME_MAX];
        let udp = [0u8; 60];
        let seg = Segment {
            back: true,
            seq: 0,
            ack: 0,
            flags: TcpFlags::RST,
            payload: &[0; INJECT_FRAME_MAX],
        };
        assert_eq!(write(&mut buf, &udp, &decode(&udp), &seg), None);
        let req = request_v4(&ETH, b"x");
        assert_eq!(write(&mut buf, &req, &decode(&req), &seg), None);
    }
}
