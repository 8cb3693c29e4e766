//! The canonical flow key.

use core::net::IpAddr;

use crate::wire::{FlowTuple, Ip, Packet, Transport};

/// One end of a flow: `Lo` is the (address, port) that sorts first in the key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Lo = 0,
    Hi = 1,
}

impl Endpoint {
    pub const fn other(self) -> Self {
        match self {
            Self::Lo => Self::Hi,
            Self::Hi => Self::Lo,
        }
    }

    /// 0 for `Lo`, 1 for `Hi`: an index for per-direction counters.
    pub const fn index(self) -> usize {
        self as usize
    }
}

/// Canonical 5-tuple plus bridge: both directions of a flow give the same key.
/// Addresses are the bits of IPv6 addresses, IPv4 ones IPv4-mapped; `family`
/// keeps those apart from real IPv6 addresses. 64-bit words, high one first,
/// not octets: the key is compared and hashed as words on every packet, and
/// its 40 octets share a cache line with what a lookup reads besides.
/// `repr(C)`: the ports, protocol, family and bridge are the key's fifth word
/// in memory ([`FlowKey::tail`]), read with one load where compared and hashed.
#[derive(Clone, Copy, Debug, Eq)]
#[repr(C)]
pub struct FlowKey {
    pub lo_addr: [u64; 2],
    pub hi_addr: [u64; 2],
    pub lo_port: u16,
    pub hi_port: u16,
    /// IP protocol (upper layer after IPv6 extension headers).
    pub protocol: u8,
    /// 4 or 6.
    pub family: u8,
    /// The bridge (pair of ports) the packet crossed.
    pub bridge: u16,
}

/// Compared as five words without a branch between them: the derived
/// comparison tests the seven fields one by one, a branch and two loads each,
/// on every lookup.
impl PartialEq for FlowKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        ((self.lo_addr[0] ^ other.lo_addr[0])
            | (self.lo_addr[1] ^ other.lo_addr[1])
            | (self.hi_addr[0] ^ other.hi_addr[0])
            | (self.hi_addr[1] ^ other.hi_addr[1])
            | (self.tail() ^ other.tail()))
            == 0
    }
}

/// The words [`PartialEq`] compares (for maps keyed by flow, off the fast path).
impl core::hash::Hash for FlowKey {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.lo_addr.hash(state);
        self.hi_addr.hash(state);
        self.tail().hash(state);
    }
}

impl FlowKey {
    /// The ports, protocol, family and bridge as one word, in their order in
    /// memory (little-endian: the compiler reads it with one load).
    #[inline]
    fn tail(&self) -> u64 {
        u64::from(self.lo_port)
            | u64::from(self.hi_port) << 16
            | u64::from(self.protocol) << 32
            | u64::from(self.family) << 40
            | u64::from(self.bridge) << 48
    }

    /// The key of a flow from `src`:`sport` to `dst`:`dport`, and which end of it the
    /// source is.
    pub fn new(
        src: IpAddr,
        sport: u16,
        dst: IpAddr,
        dport: u16,
        protocol: u8,
        bridge: u16,
    ) -> (Self, Endpoint) {
        let (family, s, d) = match (src, dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => (4, mapped(s), mapped(d)),
            (s, d) => (6, v6_bits(s), v6_bits(d)),
        };
        Self::of_bits(family, (s, sport), (d, dport), protocol, bridge)
    }

    /// [`FlowKey::new`] for addresses as integers (IPv4 ones mapped).
    #[inline(always)]
    fn of_bits(
        family: u8,
        (s, sport): (u128, u16),
        (d, dport): (u128, u16),
        protocol: u8,
        bridge: u16,
    ) -> (Self, Endpoint) {
        // Compared as integers: byte arrays built octet by octet and read back as
        // words stall store forwarding, on every packet.
        let src_is_lo = (s, sport) <= (d, dport);
        Self::ordered(family, (s, sport), (d, dport), src_is_lo, protocol, bridge)
    }

    /// The key of source `s` and destination `d`, `src_is_lo` when the source is
    /// the lower end ([`FlowKey::of_bits`] compares them).
    #[inline(always)]
    fn ordered(
        family: u8,
        (s, sport): (u128, u16),
        (d, dport): (u128, u16),
        src_is_lo: bool,
        protocol: u8,
        bridge: u16,
    ) -> (Self, Endpoint) {
        let (lo, hi, lo_port, hi_port, sender) = if src_is_lo {
            (s, d, sport, dport, Endpoint::Lo)
        } else {
            (d, s, dport, sport, Endpoint::Hi)
        };
        let words = |a: u128| [(a >> 64) as u64, a as u64];
        (
            Self {
                lo_addr: words(lo),
                hi_addr: words(hi),
                lo_port,
                hi_port,
                protocol,
                family,
                bridge,
            },
            sender,
        )
    }

    /// The key of a [`FlowTuple`] and which end sent it. Always inlined, as
    /// what it calls: the short path has a copy of it for each IP version
    /// and transport ([`crate::wire::with_flow_tuple`]), and with four copies
    /// the compiler left it out of line, the key going through memory.
    #[inline(always)]
    pub fn from_tuple(t: &FlowTuple, bridge: u16) -> (Self, Endpoint) {
        if t.v6 {
            return Self::of_bits(6, (t.src, t.sport), (t.dst, t.dport), t.protocol, bridge);
        }
        // IPv4-mapped addresses order as the IPv4 ones do: address and port in one
        // 64-bit compare instead of a 128-bit one and a port compare.
        let end = |a: u128, port: u16| u64::from(a as u32) << 16 | u64::from(port);
        let src_is_lo = end(t.src, t.sport) <= end(t.dst, t.dport);
        let v4 = |a: u128| mapped(core::net::Ipv4Addr::from_bits(a as u32));
        Self::ordered(
            4,
            (v4(t.src), t.sport),
            (v4(t.dst), t.dport),
            src_is_lo,
            t.protocol,
            bridge,
        )
    }

    /// The key of a decoded packet, and which end sent it. Ports are 0 for protocols
    /// other than TCP and UDP. `None` without an IP layer, and for TCP/UDP packets
    /// whose transport header was not decoded (later fragments, truncated headers):
    /// they carry no ports, so they cannot be put in their flow.
    #[inline]
    pub fn from_packet(p: &Packet, bridge: u16) -> Option<(Self, Endpoint)> {
        // One match on the IP layer (every packet comes here).
        let (family, s, d, proto) = match &p.ip {
            Ip::V4(r) => (4, mapped(r.src), mapped(r.dst), r.protocol),
            Ip::V6(r) => (6, r.src.to_bits(), r.dst.to_bits(), r.protocol()),
            Ip::None => return None,
        };
        let (sport, dport) = match p.transport {
            Transport::Tcp(t) => (t.src_port, t.dst_port),
            Transport::Udp(u) => (u.src_port, u.dst_port),
            Transport::None if matches!(proto.0, 6 | 17) || p.is_fragment() => return None,
            Transport::None => (0, 0),
        };
        Some(Self::of_bits(
            family,
            (s, sport),
            (d, dport),
            proto.0,
            bridge,
        ))
    }

    /// The address and port of one end.
    pub fn endpoint(&self, e: Endpoint) -> (IpAddr, u16) {
        let (a, port) = match e {
            Endpoint::Lo => (self.lo_addr, self.lo_port),
            Endpoint::Hi => (self.hi_addr, self.hi_port),
        };
        let addr = core::net::Ipv6Addr::from_bits(u128::from(a[0]) << 64 | u128::from(a[1]));
        let ip = match (self.family, addr.to_ipv4_mapped()) {
            (4, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(addr),
        };
        (ip, port)
    }

    /// A seeded 64-bit hash: a folded multiply takes two of the key's words
    /// at a time (wyhash/foldhash's construction), three for the whole key.
    #[inline(always)]
    pub(crate) fn hash(&self, seed: u64) -> u64 {
        const K: [u64; 3] = [
            0x243f_6a88_85a3_08d3,
            0x1319_8a2e_0370_7344,
            0xa409_3822_299f_31d0,
        ];
        #[inline(always)]
        fn fold(a: u64, b: u64) -> u64 {
            let m = u128::from(a) * u128::from(b);
            (m as u64) ^ ((m >> 64) as u64)
        }
        let h = fold(self.lo_addr[0] ^ seed, self.lo_addr[1] ^ K[0]);
        let h = fold(self.hi_addr[0] ^ h, self.hi_addr[1] ^ K[1]);
        fold(self.tail() ^ h, seed ^ K[2])
    }
}

/// An IPv4 address as the bits of its IPv4-mapped IPv6 address.
fn mapped(a: core::net::Ipv4Addr) -> u128 {
    0xffff_u128 << 32 | u128::from(a.to_bits())
}

fn v6_bits(a: IpAddr) -> u128 {
    match a {
        IpAddr::V4(v4) => mapped(v4),
        IpAddr::V6(v6) => v6.to_bits(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn both_directions_give_one_key() {
        let (a, ea) = FlowKey::new(ip("10.0.0.1"), 40000, ip("10.0.0.2"), 80, 6, 0);
        let (b, eb) = FlowKey::new(ip("10.0.0.2"), 80, ip("10.0.0.1"), 40000, 6, 0);
        assert_eq!(a, b);
        assert_eq!(ea, eb.other());
        assert_eq!(a.hash(7), b.hash(7));
        assert_eq!(a.endpoint(ea), (ip("10.0.0.1"), 40000));
        assert_eq!(a.endpoint(eb), (ip("10.0.0.2"), 80));
    }

    #[test]
    fn bridge_protocol_and_family_separate_flows() {
        let (a, _) = FlowKey::new(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 17, 0);
        let (b, _) = FlowKey::new(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 17, 1);
        let (c, _) = FlowKey::new(ip("10.0.0.1"), 1, ip("10.0.0.2"), 2, 6, 0);
        let (d, _) = FlowKey::new(ip("::ffff:10.0.0.1"), 1, ip("::ffff:10.0.0.2"), 2, 17, 0);
        assert_ne!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
        // Each field of the compared tail word on its own.
        let (e, _) = FlowKey::new(ip("10.0.0.1"), 3, ip("10.0.0.2"), 2, 17, 0);
        let (f, _) = FlowKey::new(ip("10.0.0.1"), 1, ip("10.0.0.2"), 4, 17, 0);
        assert_ne!(a, e);
        assert_ne!(a, f);
        assert_eq!(
            a,
            FlowKey::new(ip("10.0.0.2"), 2, ip("10.0.0.1"), 1, 17, 0).0
        );
        assert_eq!(d.endpoint(Endpoint::Lo).0, ip("::ffff:10.0.0.1"));
        assert_ne!(a.hash(1), b.hash(1));
    }

    #[test]
    fn the_hash_spreads_keys_that_differ_in_a_few_bits() {
        // 65 536 keys of a /16 and a port range: the low 16 bits (where the
        // index slot comes from) take about as many values as random ones
        // would (1 - 1/e of them).
        let mut seen = std::collections::HashSet::new();
        for i in 0..65_536u32 {
            let src = IpAddr::from([10, 1, (i >> 8) as u8, i as u8]);
            let (k, _) = FlowKey::new(src, 40_000 + (i % 7) as u16, ip("192.0.2.1"), 443, 6, 0);
            seen.insert(k.hash(0x5eed) & 0xffff);
        }
        assert!(seen.len() > 40_000, "{} distinct slots", seen.len());
    }

    #[test]
    fn same_address_orders_by_port() {
        let (k, e) = FlowKey::new(ip("2001:db8::1"), 5000, ip("2001:db8::1"), 53, 17, 0);
        assert_eq!((k.lo_port, k.hi_port, e), (53, 5000, Endpoint::Hi));
    }
}
