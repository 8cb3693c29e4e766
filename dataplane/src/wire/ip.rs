//! What IPv4 and IPv6 share: protocol numbers and where a payload length came from.

use core::fmt;

/// An IP protocol / IPv6 next-header number. Open: unknown values are data.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IpProtocol(pub u8);

impl IpProtocol {
    pub const HOPOPT: Self = Self(0);
    pub const ICMP: Self = Self(1);
    pub const IGMP: Self = Self(2);
    pub const TCP: Self = Self(6);
    pub const UDP: Self = Self(17);
    pub const IPV6_ROUTE: Self = Self(43);
    pub const IPV6_FRAG: Self = Self(44);
    pub const GRE: Self = Self(47);
    pub const ESP: Self = Self(50);
    pub const AH: Self = Self(51);
    pub const ICMPV6: Self = Self(58);
    pub const IPV6_NONXT: Self = Self(59);
    pub const IPV6_OPTS: Self = Self(60);
    pub const SCTP: Self = Self(132);
    pub const MOBILITY: Self = Self(135);
    pub const HIP: Self = Self(139);
    pub const SHIM6: Self = Self(140);

    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0 => "HOPOPT",
            1 => "ICMP",
            2 => "IGMP",
            6 => "TCP",
            17 => "UDP",
            43 => "IPv6-Route",
            44 => "IPv6-Frag",
            47 => "GRE",
            50 => "ESP",
            51 => "AH",
            58 => "ICMPv6",
            59 => "IPv6-NoNxt",
            60 => "IPv6-Opts",
            132 => "SCTP",
            135 => "Mobility",
            139 => "HIP",
            140 => "Shim6",
            _ => return None,
        })
    }
}

impl fmt::Debug for IpProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "IpProtocol({} {n})", self.0),
            None => write!(f, "IpProtocol({})", self.0),
        }
    }
}

/// Where the length of a layer's payload came from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum LenSource {
    /// The header's length field (IPv4 total length, IPv6 payload length, UDP length),
    /// which fitted in what was captured.
    #[default]
    Header,
    /// The captured length: the length field claimed more than was captured (a snap
    /// length, a first fragment's UDP header) or was 0 (TSO captures, jumbograms).
    Slice,
}
