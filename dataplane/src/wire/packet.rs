//! Decode once: the walk from the first octet of a frame to the L4 payload, and the
//! `Copy` [`Packet`] summary every later stage reads.
//!
//! ```text
//! Ethernet ─┬─ 802.1Q/802.1ad/0x9100 tags (≤ VLAN_MAX_DEPTH; outer, inner, +deeper) ─┐
//!           └───────────────────────────────────────────────────────────────────────┤
//!   ┌───────────────────────────────────────────────────────────────────────────────┘
//!   ├─ 0x0800 IPv4 ─┐
//!   ├─ 0x86dd IPv6 ─┤ (extension headers ≤ IPV6_EXT_CAP)
//!   ├─ 0x8847/0x8848 MPLS (≤ MPLS_MAX_DEPTH, keep MPLS_CAP) ─ first nibble 4/6 ─┤
//!   └─ 0x8864 PPPoE session ─ PPP 0x0021/0x0057 ─────────────────────────────────┤
//!                                         ┌──────────────────────────────────────┘
//!                                         ├─ later fragment: stop, counted
//!                                         ├─ TCP ─ payload
//!                                         ├─ UDP ─ payload
//!                                         └─ other protocol: stop, counted
//! ```
//!
//! A step that fails leaves every earlier layer in the summary and records a
//! [`Stop`]; nothing is dropped here (forwarding does not look at the result).

use core::net::IpAddr;

use super::ethernet::{self, EtherType, EthernetHeader, EthernetRepr};
use super::ip::IpProtocol;
use super::ipv4::{Ipv4Header, Ipv4Repr};
use super::ipv6::{self, Ipv6Extensions, Ipv6Header, Ipv6Repr};
use super::len32;
use super::mpls::{self, MPLS_MAX_DEPTH, MplsEntry, MplsStack};
use super::pppoe::{PppProtocol, PppoeHeader, PppoeRepr};
use super::stop::{Stop, StopReason};
use super::tcp::{TcpFlags, TcpHeader, TcpRepr};
use super::udp::{UdpHeader, UdpRepr};
use super::vlan::{self, VLAN_MAX_DEPTH, VlanStack, VlanTag};

/// A range of the frame: where a payload starts and how long it is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Span {
    pub offset: u32,
    pub len: u32,
}

impl Span {
    fn new(offset: usize, len: usize) -> Self {
        Self {
            offset: len32(offset),
            len: len32(len),
        }
    }

    /// The bytes of this span in `frame` (the frame the packet was decoded from);
    /// empty if the span does not fit, which cannot happen for that frame.
    pub fn slice<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        let start = self.offset as usize;
        frame
            .get(start..start.saturating_add(self.len as usize))
            .unwrap_or(&[])
    }

    /// One past the last octet.
    pub fn end(&self) -> u64 {
        u64::from(self.offset) + u64::from(self.len)
    }
}

/// The network layer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Ip {
    #[default]
    None,
    V4(Ipv4Repr),
    V6(Ipv6Repr),
}

/// The transport layer, when it is TCP or UDP and its header parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Transport {
    #[default]
    None,
    Tcp(TcpRepr),
    Udp(UdpRepr),
}

/// Everything decoded from one frame. `Copy`, no borrow of the frame: payloads are
/// [`Span`]s into it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Packet {
    /// Octets captured (the slice given to [`decode`]).
    pub len: u32,
    /// `None` for [`decode_ip`] or a frame shorter than 14 octets.
    pub ethernet: Option<EthernetRepr>,
    pub vlan: VlanStack,
    /// The ether type after the VLAN tags (the one that chose MPLS/PPPoE/IP); 0 when
    /// there is no Ethernet header.
    pub ethertype: EtherType,
    pub mpls: MplsStack,
    pub pppoe: Option<PppoeRepr>,
    pub ip: Ip,
    /// Offset of the IP header (meaningful when `ip` is not `None`).
    pub l3_offset: u32,
    /// What follows the IP header and IPv6 extension headers, bounded by the IP length
    /// and the capture: the transport header and its payload, or fragment data.
    pub ip_payload: Span,
    pub transport: Transport,
    /// What follows the TCP/UDP header (bounded by the UDP length and the IP payload).
    pub payload: Span,
    /// Why decoding did not reach an L4 payload; `None` when it did.
    pub stop: Option<Stop>,
}

/// Decodes a frame that starts with an Ethernet II header.
pub fn decode(frame: &[u8]) -> Packet {
    let mut p = Packet::default();
    decode_into(frame, &mut p);
    p
}

/// [`decode`] into `p` (all of it rewritten): a worker decodes a burst into
/// the summaries it keeps, without a copy of each out of a return value.
#[inline]
pub fn decode_into(frame: &[u8], p: &mut Packet) {
    *p = Packet::empty(frame.len());
    if let Err(stop) = decode_ethernet(frame, p) {
        p.stop = Some(stop);
    }
}

/// Decodes a packet that starts with an IPv4 or IPv6 header (raw-IP captures,
/// tunnels), choosing the version by the first nibble.
pub fn decode_ip(packet: &[u8]) -> Packet {
    let mut p = Packet::empty(packet.len());
    let r = match packet.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(packet, 0, &mut p),
        Some(6) => decode_ipv6(packet, 0, &mut p),
        Some(n) => Err(Stop::value(StopReason::IpBadVersion, u32::from(n))),
        None => Err(Stop::truncated(StopReason::IpTruncated, 1, 0)),
    };
    if let Err(stop) = r {
        p.stop = Some(stop);
    }
    p
}

impl Packet {
    fn empty(len: usize) -> Self {
        Self {
            len: len32(len),
            ..Self::default()
        }
    }

    /// Decoding reached the L4 payload of a TCP or UDP packet.
    pub fn is_complete(&self) -> bool {
        self.stop.is_none()
    }

    pub fn ipv4(&self) -> Option<&Ipv4Repr> {
        match &self.ip {
            Ip::V4(r) => Some(r),
            _ => None,
        }
    }

    pub fn ipv6(&self) -> Option<&Ipv6Repr> {
        match &self.ip {
            Ip::V6(r) => Some(r),
            _ => None,
        }
    }

    pub fn tcp(&self) -> Option<&TcpRepr> {
        match &self.transport {
            Transport::Tcp(r) => Some(r),
            _ => None,
        }
    }

    pub fn udp(&self) -> Option<&UdpRepr> {
        match &self.transport {
            Transport::Udp(r) => Some(r),
            _ => None,
        }
    }

    pub fn src_addr(&self) -> Option<IpAddr> {
        match &self.ip {
            Ip::V4(r) => Some(IpAddr::V4(r.src)),
            Ip::V6(r) => Some(IpAddr::V6(r.src)),
            Ip::None => None,
        }
    }

    pub fn dst_addr(&self) -> Option<IpAddr> {
        match &self.ip {
            Ip::V4(r) => Some(IpAddr::V4(r.dst)),
            Ip::V6(r) => Some(IpAddr::V6(r.dst)),
            Ip::None => None,
        }
    }

    /// The upper-layer protocol (after IPv6 extension headers).
    pub fn protocol(&self) -> Option<IpProtocol> {
        match &self.ip {
            Ip::V4(r) => Some(r.protocol),
            Ip::V6(r) => Some(r.protocol()),
            Ip::None => None,
        }
    }

    /// Source and destination port of a TCP or UDP packet.
    pub fn ports(&self) -> Option<(u16, u16)> {
        match &self.transport {
            Transport::Tcp(t) => Some((t.src_port, t.dst_port)),
            Transport::Udp(u) => Some((u.src_port, u.dst_port)),
            Transport::None => None,
        }
    }

    /// An IPv4 or IPv6 fragment, first or later.
    pub fn is_fragment(&self) -> bool {
        match &self.ip {
            Ip::V4(r) => r.is_fragment(),
            Ip::V6(r) => r.is_fragment(),
            Ip::None => false,
        }
    }

    /// The L4 payload in `frame` (the frame this packet was decoded from).
    pub fn payload<'a>(&self, frame: &'a [u8]) -> &'a [u8] {
        self.payload.slice(frame)
    }
}

/// What the flow table needs of a frame: its 5-tuple, TCP control bits and
/// first payload octet. Read by [`flow_tuple`] with the header views
/// [`decode`] uses, without building the summary: the short path of packets
/// whose flow needs no parser (established bulk flows) stops at this.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FlowTuple {
    pub v6: bool,
    /// IPv4: the address's 32 bits; IPv6: its 128.
    pub src: u128,
    pub dst: u128,
    pub sport: u16,
    pub dport: u16,
    pub protocol: u8,
    /// `None` for UDP.
    pub tcp_flags: Option<TcpFlags>,
    /// The first octet of the L4 payload, if any.
    pub first_octet: Option<u8>,
    /// TCP: the sequence number after the payload (seq + payload length),
    /// for the short path's test of a segment wholly before where its stream
    /// goes on; 0 for UDP.
    pub seq_end: u32,
}

/// The [`FlowTuple`] of a frame [`decode`] would decode whole (a TCP or UDP
/// packet, not a fragment, under Ethernet, VLAN tags, MPLS or PPPoE), with
/// the same checks and the same key; `None` for anything else (IPv6 extension
/// headers among them): those take [`decode`].
///
/// The short path reads it with [`with_flow_tuple`].
#[inline]
pub fn flow_tuple(frame: &[u8]) -> Option<FlowTuple> {
    with_flow_tuple(frame, |t| t)
}

/// [`FlowTuple::seq_end`] of a frame (0 without a tuple): out of line, for
/// the short path's rare test of a segment against where its stream goes on.
#[inline(never)]
pub fn tcp_seq_end(frame: &[u8]) -> u32 {
    with_flow_tuple(frame, |t| t.seq_end).unwrap_or(0)
}

/// [`flow_tuple`], handed to `then` where it is read: inlined, `then` is
/// specialised for each IP version and transport (an IPv4 tuple's key is
/// built and hashed without the IPv6 case), where a tuple returned first
/// merged them into 128-bit addresses and a branch on the version, and the
/// 64-octet tuple went through memory (out of line, it was copied again).
#[inline(always)]
pub fn with_flow_tuple<R>(frame: &[u8], then: impl FnOnce(FlowTuple) -> R) -> Option<R> {
    let eth = EthernetHeader::new_checked(frame).ok()?;
    let mut ethertype = eth.ethertype();
    let mut rest = eth.payload();
    for _ in 0..VLAN_MAX_DEPTH {
        if !ethertype.is_vlan_tag() {
            break;
        }
        ethertype = VlanTag::parse(ethertype, rest).ok()?.next;
        rest = rest.get(vlan::TAG_LEN..)?;
    }
    // Which IP version the layer below names (MPLS: the first nibble), as
    // `decode` reads it: IPv4 with a version-6 header is no IPv4 packet.
    let (v6, ip) = match ethertype {
        EtherType::IPV4 => (false, rest),
        EtherType::IPV6 => (true, rest),
        EtherType::MPLS_UNICAST | EtherType::MPLS_MULTICAST => {
            let mut depth = 0;
            loop {
                if depth == MPLS_MAX_DEPTH {
                    return None;
                }
                let entry = MplsEntry::parse(rest).ok()?;
                rest = rest.get(mpls::ENTRY_LEN..)?;
                depth += 1;
                if entry.bottom() {
                    break;
                }
            }
            match rest.first().map(|b| b >> 4) {
                Some(4) => (false, rest),
                Some(6) => (true, rest),
                _ => return None,
            }
        }
        EtherType::PPPOE_SESSION => {
            let h = PppoeHeader::new_checked(rest).ok()?;
            match h.protocol() {
                PppProtocol::IPV4 => (false, h.payload()),
                PppProtocol::IPV6 => (true, h.payload()),
                _ => return None,
            }
        }
        _ => return None,
    };
    if v6 {
        let h = Ipv6Header::new_checked(ip).ok()?;
        let (src, dst) = (h.src().to_bits(), h.dst().to_bits());
        transport_tuple(true, (src, dst), h.next_header(), h.payload(), then)
    } else {
        let h = Ipv4Header::new_checked(ip).ok()?;
        if h.more_fragments() || h.frag_offset() != 0 {
            return None;
        }
        let (src, dst) = (h.src().to_bits().into(), h.dst().to_bits().into());
        transport_tuple(false, (src, dst), h.protocol(), h.payload(), then)
    }
}

#[inline(always)]
fn transport_tuple<R>(
    v6: bool,
    (src, dst): (u128, u128),
    protocol: IpProtocol,
    l4: &[u8],
    then: impl FnOnce(FlowTuple) -> R,
) -> Option<R> {
    let tuple = |(sport, dport), tcp_flags, payload: &[u8], seq_end| FlowTuple {
        v6,
        src,
        dst,
        sport,
        dport,
        protocol: protocol.0,
        tcp_flags,
        first_octet: payload.first().copied(),
        seq_end,
    };
    // `then` in each arm: each transport gets its own copy.
    match protocol {
        IpProtocol::TCP => {
            let h = TcpHeader::new_checked(l4).ok()?;
            let ports = (h.src_port(), h.dst_port());
            let payload = h.payload();
            let seq_end = h.seq().wrapping_add(payload.len() as u32);
            Some(then(tuple(ports, Some(h.flags()), payload, seq_end)))
        }
        IpProtocol::UDP => {
            let h = UdpHeader::new_checked(l4).ok()?;
            Some(then(tuple(
                (h.src_port(), h.dst_port()),
                None,
                h.payload(),
                0,
            )))
        }
        _ => None,
    }
}

fn decode_ethernet(frame: &[u8], p: &mut Packet) -> Result<(), Stop> {
    let eth = EthernetHeader::new_checked(frame)?;
    p.ethernet = Some(eth.repr());
    let mut ethertype = eth.ethertype();
    let mut rest = eth.payload();
    let mut off = ethernet::HEADER_LEN;
    let mut depth = 0usize;
    while ethertype.is_vlan_tag() {
        if depth == VLAN_MAX_DEPTH {
            return Err(Stop::value(StopReason::VlanTooDeep, u32::from(ethertype.0)).at(off));
        }
        let tag = VlanTag::parse(ethertype, rest).map_err(|s| s.at(off))?;
        p.vlan.push(tag);
        depth += 1;
        ethertype = tag.next;
        rest = rest.get(vlan::TAG_LEN..).unwrap_or(&[]);
        off += vlan::TAG_LEN;
    }
    p.ethertype = ethertype;
    match ethertype {
        EtherType::IPV4 => decode_ipv4(rest, off, p),
        EtherType::IPV6 => decode_ipv6(rest, off, p),
        EtherType::MPLS_UNICAST | EtherType::MPLS_MULTICAST => decode_mpls(rest, off, p),
        EtherType::PPPOE_SESSION => decode_pppoe(rest, off, p),
        EtherType::PPPOE_DISCOVERY => {
            Err(Stop::value(StopReason::PppoeDiscovery, u32::from(ethertype.0)).at(off))
        }
        other => Err(Stop::value(StopReason::UnsupportedEtherType, u32::from(other.0)).at(off)),
    }
}

fn decode_mpls(mut rest: &[u8], mut off: usize, p: &mut Packet) -> Result<(), Stop> {
    loop {
        if p.mpls.depth() == MPLS_MAX_DEPTH {
            return Err(Stop::value(StopReason::MplsTooDeep, len32(MPLS_MAX_DEPTH)).at(off));
        }
        let entry = MplsEntry::parse(rest).map_err(|s| s.at(off))?;
        p.mpls.push(entry);
        rest = rest.get(mpls::ENTRY_LEN..).unwrap_or(&[]);
        off += mpls::ENTRY_LEN;
        if entry.bottom() {
            break;
        }
    }
    match rest.first().map(|b| b >> 4) {
        Some(4) => decode_ipv4(rest, off, p),
        Some(6) => decode_ipv6(rest, off, p),
        Some(n) => Err(Stop::value(StopReason::MplsPayloadNotIp, u32::from(n)).at(off)),
        None => Err(Stop::truncated(StopReason::IpTruncated, 1, 0).at(off)),
    }
}

fn decode_pppoe(rest: &[u8], off: usize, p: &mut Packet) -> Result<(), Stop> {
    let h = PppoeHeader::new_checked(rest).map_err(|s| s.at(off))?;
    p.pppoe = Some(h.repr());
    let inner = off + h.header_len();
    match h.protocol() {
        PppProtocol::IPV4 => decode_ipv4(h.payload(), inner, p),
        PppProtocol::IPV6 => decode_ipv6(h.payload(), inner, p),
        other => Err(Stop::value(StopReason::UnsupportedPppProtocol, u32::from(other.0)).at(off)),
    }
}

#[inline]
fn decode_ipv4(rest: &[u8], off: usize, p: &mut Packet) -> Result<(), Stop> {
    let h = Ipv4Header::new_checked(rest).map_err(|s| s.at(off))?;
    let r = h.repr();
    p.ip = Ip::V4(r);
    p.l3_offset = len32(off);
    let l4 = off + h.header_len();
    p.ip_payload = Span::new(l4, h.payload().len());
    if r.is_later_fragment() {
        return Err(Stop::value(StopReason::Ipv4LaterFragment, u32::from(r.frag_offset)).at(off));
    }
    decode_transport(r.protocol, h.payload(), l4, p)
}

fn decode_ipv6(rest: &[u8], off: usize, p: &mut Packet) -> Result<(), Stop> {
    let h = Ipv6Header::new_checked(rest).map_err(|s| s.at(off))?;
    let mut r = h.repr();
    let payload = h.payload();
    let (ext, stop) = Ipv6Extensions::walk(r.next_header, payload);
    r.ext = ext;
    p.ip = Ip::V6(r);
    p.l3_offset = len32(off);
    let walked = usize::from(ext.len);
    let l4 = off + ipv6::HEADER_LEN + walked;
    let l4_bytes = payload.get(walked..).unwrap_or(&[]);
    p.ip_payload = Span::new(l4, l4_bytes.len());
    if let Some(s) = stop {
        return Err(s.at(off + ipv6::HEADER_LEN + s.offset as usize));
    }
    decode_transport(ext.protocol, l4_bytes, l4, p)
}

#[inline]
fn decode_transport(
    protocol: IpProtocol,
    l4: &[u8],
    off: usize,
    p: &mut Packet,
) -> Result<(), Stop> {
    match protocol {
        IpProtocol::TCP => {
            let h = TcpHeader::new_checked(l4).map_err(|s| s.at(off))?;
            p.transport = Transport::Tcp(h.repr());
            p.payload = Span::new(off + h.header_len(), h.payload().len());
            Ok(())
        }
        IpProtocol::UDP => {
            let h = UdpHeader::new_checked(l4).map_err(|s| s.at(off))?;
            p.transport = Transport::Udp(h.repr());
            p.payload = Span::new(off + super::udp::HEADER_LEN, h.payload().len());
            Ok(())
        }
        other => Err(Stop::value(StopReason::UnsupportedTransport, u32::from(other.0)).at(off)),
    }
}
