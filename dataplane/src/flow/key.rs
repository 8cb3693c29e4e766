//! The canonical flow key.

use core::net::IpAddr;

use crate::wire::{Ip, Packet, Transport};

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
/// IPv4 addresses are kept IPv4-mapped in 16 octets; `family` keeps them apart from
/// real IPv6 addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowKey {
    pub lo_addr: [u8; 16],
    pub hi_addr: [u8; 16],
    pub lo_port: u16,
    pub hi_port: u16,
    /// IP protocol (upper layer after IPv6 extension headers).
    pub protocol: u8,
    /// 4 or 6.
    pub family: u8,
    /// The bridge (pair of ports) the packet crossed.
    pub bridge: u16,
}

impl FlowKey {
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
    #[inline]
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
        let (lo, hi, lo_port, hi_port, sender) = if src_is_lo {
            (s, d, sport, dport, Endpoint::Lo)
        } else {
            (d, s, dport, sport, Endpoint::Hi)
        };
        let (lo, hi) = (lo.to_be_bytes(), hi.to_be_bytes());
        (
            Self {
                lo_addr: lo,
                hi_addr: hi,
                lo_port,
                hi_port,
                protocol,
                family,
                bridge,
            },
            sender,
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
        let addr = core::net::Ipv6Addr::from(a);
        let ip = match (self.family, addr.to_ipv4_mapped()) {
            (4, Some(v4)) => IpAddr::V4(v4),
            _ => IpAddr::V6(addr),
        };
        (ip, port)
    }

    /// A seeded 64-bit hash (folded multiply over the key's words).
    #[inline]
    pub(crate) fn hash(&self, seed: u64) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        #[inline]
        fn mix(h: u64, w: u64) -> u64 {
            let m = u128::from(h ^ w) * u128::from(K);
            (m as u64) ^ ((m >> 64) as u64)
        }
        let words = [
            u64::from_le_bytes(half(&self.lo_addr, 0)),
            u64::from_le_bytes(half(&self.lo_addr, 8)),
            u64::from_le_bytes(half(&self.hi_addr, 0)),
            u64::from_le_bytes(half(&self.hi_addr, 8)),
            u64::from(self.lo_port)
                | u64::from(self.hi_port) << 16
                | u64::from(self.protocol) << 32
                | u64::from(self.family) << 40
                | u64::from(self.bridge) << 48,
        ];
        let mut h = seed;
        for w in words {
            h = mix(h, w);
        }
        mix(h, K)
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

fn half(a: &[u8; 16], at: usize) -> [u8; 8] {
    let mut out = [0u8; 8];
    if let Some(s) = a.get(at..at + 8) {
        out.copy_from_slice(s);
    }
    out
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
        assert_eq!(d.endpoint(Endpoint::Lo).0, ip("::ffff:10.0.0.1"));
        assert_ne!(a.hash(1), b.hash(1));
    }

    #[test]
    fn same_address_orders_by_port() {
        let (k, e) = FlowKey::new(ip("2001:db8::1"), 5000, ip("2001:db8::1"), 53, 17, 0);
        assert_eq!((k.lo_port, k.hi_port, e), (53, 5000, Endpoint::Hi));
    }
}
