//! Ethernet II (IEEE 802.3 clause 3.2.6 with an ether type ≥ 0x0600).
//!
//! ```text
//!  0                   1                   2                   3
//! +-------------------------------------------------------------+
//! |            destination MAC (6)        |  source MAC (6)  ...
//! +-------------------------------------------------------------+
//! ...                                     | ether type (2)      |
//! +-------------------------------------------------------------+
//! ```

use core::fmt;

use super::stop::{Stop, StopReason};

/// Octets of an Ethernet II header (no FCS: NICs strip it and captures rarely keep it).
pub const HEADER_LEN: usize = 14;

/// A MAC address.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl MacAddr {
    pub const fn octets(self) -> [u8; 6] {
        self.0
    }

    /// Group (multicast or broadcast) address: the I/G bit of the first octet.
    pub const fn is_multicast(self) -> bool {
        self.0[0] & 1 == 1
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a, b, c, d, e, g] = self.0;
        write!(f, "{a:02x}:{b:02x}:{c:02x}:{d:02x}:{e:02x}:{g:02x}")
    }
}

impl fmt::Debug for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An ether type. Open: every value is data; the constants name the ones we follow.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EtherType(pub u16);

impl EtherType {
    pub const IPV4: Self = Self(0x0800);
    pub const ARP: Self = Self(0x0806);
    /// IEEE 802.1Q customer VLAN tag (C-tag).
    pub const VLAN: Self = Self(0x8100);
    pub const IPV6: Self = Self(0x86dd);
    pub const MPLS_UNICAST: Self = Self(0x8847);
    pub const MPLS_MULTICAST: Self = Self(0x8848);
    pub const PPPOE_DISCOVERY: Self = Self(0x8863);
    pub const PPPOE_SESSION: Self = Self(0x8864);
    /// IEEE 802.1ad provider bridging service tag (S-tag).
    pub const PROVIDER_BRIDGING: Self = Self(0x88a8);
    pub const LLDP: Self = Self(0x88cc);
    /// Pre-standard QinQ outer tag used by some vendors.
    pub const VLAN_9100: Self = Self(0x9100);

    /// A tag protocol identifier of a VLAN tag we unwrap: 0x8100, 0x88a8 or 0x9100.
    #[inline]
    pub const fn is_vlan_tag(self) -> bool {
        matches!(self.0, 0x8100 | 0x88a8 | 0x9100)
    }

    /// The name of a known ether type.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0800 => "IPv4",
            0x0806 => "ARP",
            0x8100 => "802.1Q",
            0x86dd => "IPv6",
            0x8847 => "MPLS",
            0x8848 => "MPLS-multicast",
            0x8863 => "PPPoE-discovery",
            0x8864 => "PPPoE-session",
            0x88a8 => "802.1ad",
            0x88cc => "LLDP",
            0x9100 => "QinQ-9100",
            _ => return None,
        })
    }
}

impl fmt::Debug for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "EtherType({:#06x} {n})", self.0),
            None => write!(f, "EtherType({:#06x})", self.0),
        }
    }
}

/// A view of an Ethernet II header whose 14 octets were checked to be there.
#[derive(Clone, Copy, Debug)]
pub struct EthernetHeader<'a> {
    fixed: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
}

impl<'a> EthernetHeader<'a> {
    /// Checks the buffer holds a whole header.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        match buf.split_first_chunk::<HEADER_LEN>() {
            Some((fixed, payload)) => Ok(Self { fixed, payload }),
            None => Err(Stop::truncated(
                StopReason::EthernetTruncated,
                HEADER_LEN,
                buf.len(),
            )),
        }
    }

    pub fn dst(&self) -> MacAddr {
        let f = self.fixed;
        MacAddr([f[0], f[1], f[2], f[3], f[4], f[5]])
    }

    pub fn src(&self) -> MacAddr {
        let f = self.fixed;
        MacAddr([f[6], f[7], f[8], f[9], f[10], f[11]])
    }

    pub fn ethertype(&self) -> EtherType {
        EtherType(u16::from_be_bytes([self.fixed[12], self.fixed[13]]))
    }

    /// Everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn repr(&self) -> EthernetRepr {
        EthernetRepr {
            dst: self.dst(),
            src: self.src(),
            ethertype: self.ethertype(),
        }
    }
}

/// The Ethernet fields later stages read. `ethertype` is the outer one (a TPID when
/// tagged); the one after the tags is [`crate::wire::Packet::ethertype`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    pub dst: MacAddr,
    pub src: MacAddr,
    pub ethertype: EtherType,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const FRAME: [u8; 16] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, // destination
        0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, // source
        0x08, 0x00,                         // ether type IPv4
        0xde, 0xad,                         // payload
    ];

    #[test]
    fn reads_fields() {
        let h = EthernetHeader::new_checked(&FRAME).unwrap();
        assert_eq!(h.dst().to_string(), "00:11:22:33:44:55");
        assert_eq!(h.src(), MacAddr([0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb]));
        assert_eq!(h.ethertype(), EtherType::IPV4);
        assert_eq!(h.payload(), &[0xde, 0xad]);
        assert!(!h.dst().is_multicast());
        assert!(MacAddr([0xff; 6]).is_multicast());
    }

    #[test]
    fn short_header_says_how_short() {
        let e = EthernetHeader::new_checked(&FRAME[..13]).unwrap_err();
        assert_eq!(e.reason, StopReason::EthernetTruncated);
        assert_eq!((e.need, e.have), (14, 13));
    }

    #[test]
    fn ethertype_debug_names_known_values_and_keeps_unknown_ones() {
        assert_eq!(format!("{:?}", EtherType::IPV6), "EtherType(0x86dd IPv6)");
        assert_eq!(format!("{:?}", EtherType(0x1234)), "EtherType(0x1234)");
        assert!(EtherType(0x9100).is_vlan_tag());
        assert!(EtherType(0x88a8).is_vlan_tag());
        assert!(!EtherType(0x8847).is_vlan_tag());
    }
}
