//! L2–L4 packet decoding: bytes in, a small `Copy` [`Packet`] summary out.
//!
//! # Contract
//!
//! * Every function here takes a plain `&[u8]` (an mbuf's data, a pcap record, a
//!   fuzzer's bytes) and never panics, allocates or uses `unsafe`, whatever the bytes.
//! * Each protocol has one file with a header *view* (`Header<'a>`), made only through
//!   `Header::new_checked`, which proves the fixed part is present by holding it as a
//!   `&[u8; N]`; its accessors then read constant offsets of that array and cannot fail.
//!   Variable parts (IPv4 options, TCP options, IPv6 extension headers) are reached
//!   through `get`/`split_at_checked` only, with lengths taken from the wire checked
//!   against what was captured.
//! * Each view has a small `Copy` `Repr` with the fields later stages read.
//! * [`decode`] (Ethernet) and [`decode_ip`] (raw IP) walk the layers once and return a
//!   [`Packet`]: every layer that parsed, the offsets of the IP payload and the L4
//!   payload, and — when it did not reach an L4 payload — a [`Stop`] that says which
//!   layer stopped it, why ([`StopReason`], an index for counters), at which offset,
//!   and the length needed versus the length there.
//! * Unknown wire values (ether types, IP protocols, PPP protocols) are data, kept in
//!   open newtypes ([`EtherType`], [`IpProtocol`], [`PppProtocol`]), never errors.
//! * Lax lengths: a header length field that claims more than was captured is not an
//!   error; the layer ends at the capture and records [`LenSource::Slice`]. A length
//!   field shorter than what was captured trims the padding (Ethernet minimum frames).

mod ethernet;
mod ip;
mod ipv4;
mod ipv6;
mod mpls;
mod packet;
mod pppoe;
mod stop;
mod tcp;
mod udp;
mod vlan;

pub use ethernet::{EtherType, EthernetHeader, EthernetRepr, MacAddr};
pub use ip::{IpProtocol, LenSource};
pub use ipv4::{Ipv4Header, Ipv4Repr};
pub use ipv6::{IPV6_EXT_CAP, Ipv6Extensions, Ipv6Fragment, Ipv6Header, Ipv6Repr};
pub use mpls::{MPLS_CAP, MPLS_MAX_DEPTH, MplsEntry, MplsStack};
pub use packet::{
    FlowTuple, Ip, Packet, Span, Transport, decode, decode_into, decode_ip, flow_tuple,
    tcp_seq_end, with_flow_tuple,
};
pub use pppoe::{PppProtocol, PppoeHeader, PppoeRepr};
pub use stop::{Layer, Stop, StopKind, StopReason};
pub use tcp::{TcpFlags, TcpHeader, TcpRepr};
pub use udp::{UdpHeader, UdpRepr};
pub use vlan::{VLAN_MAX_DEPTH, VlanId, VlanStack, VlanTag};

/// Converts a buffer length or offset to the `u32` the summaries keep, saturating
/// (a frame of 4 GiB does not exist; the saturation only keeps the conversion total).
#[inline]
fn len32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
