//! IEEE 802.1Q / 802.1ad VLAN tags and their stacking (QinQ).
//!
//! A tag follows an ether type field holding its TPID (0x8100 C-tag, 0x88a8 S-tag,
//! 0x9100 pre-standard QinQ) and is four octets:
//!
//! ```text
//! +-------+---+------------------------+----------------------+
//! |PCP (3)|DEI|      VLAN id (12)      |  next ether type (16)|
//! +-------+---+------------------------+----------------------+
//! ```
//!
//! The decoder keeps the outer and the inner tag (IPFIX elements 58 and 59) and counts
//! deeper ones; it walks at most [`VLAN_MAX_DEPTH`] tags.

use core::fmt;

use super::ethernet::EtherType;
use super::stop::{Stop, StopReason};

/// Octets of one tag after its TPID.
pub const TAG_LEN: usize = 4;

/// Tags the decoder walks before it gives up with [`StopReason::VlanTooDeep`].
pub const VLAN_MAX_DEPTH: usize = 8;

/// A 12-bit VLAN id; built from the wire by masking, or checked with [`VlanId::new`].
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanId(u16);

impl VlanId {
    pub const MAX: u16 = 0x0fff;

    /// A VLAN id, if `id` fits in 12 bits.
    pub const fn new(id: u16) -> Option<Self> {
        if id <= Self::MAX {
            Some(Self(id))
        } else {
            None
        }
    }

    pub const fn value(self) -> u16 {
        self.0
    }
}

impl fmt::Debug for VlanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VlanId({})", self.0)
    }
}

/// One decoded tag.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct VlanTag {
    /// The ether type that announced this tag (0x8100, 0x88a8 or 0x9100).
    pub tpid: EtherType,
    /// Priority code point.
    pub pcp: u8,
    /// Drop eligible indicator.
    pub dei: bool,
    pub id: VlanId,
    /// The ether type after this tag.
    pub next: EtherType,
}

impl VlanTag {
    /// Parses the four octets after a TPID.
    pub fn parse(tpid: EtherType, buf: &[u8]) -> Result<Self, Stop> {
        let Some(t) = buf.first_chunk::<TAG_LEN>() else {
            return Err(Stop::truncated(
                StopReason::VlanTruncated,
                TAG_LEN,
                buf.len(),
            ));
        };
        let tci = u16::from_be_bytes([t[0], t[1]]);
        Ok(Self {
            tpid,
            pcp: (tci >> 13) as u8,
            dei: tci & 0x1000 != 0,
            id: VlanId(tci & VlanId::MAX),
            next: EtherType(u16::from_be_bytes([t[2], t[3]])),
        })
    }
}

/// The tags of a frame: outer, inner, and how many more there were.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct VlanStack {
    pub outer: Option<VlanTag>,
    pub inner: Option<VlanTag>,
    /// Tags below the inner one (a third tag and deeper).
    pub deeper: u8,
}

impl VlanStack {
    /// Number of tags seen.
    pub fn len(&self) -> usize {
        usize::from(self.outer.is_some())
            + usize::from(self.inner.is_some())
            + usize::from(self.deeper)
    }

    pub fn is_empty(&self) -> bool {
        self.outer.is_none()
    }

    pub(crate) fn push(&mut self, tag: VlanTag) {
        if self.outer.is_none() {
            self.outer = Some(tag);
        } else if self.inner.is_none() {
            self.inner = Some(tag);
        } else {
            self.deeper = self.deeper.saturating_add(1);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tag_fields() {
        // PCP 5, DEI 1, id 0x123; next IPv4
        let t = VlanTag::parse(EtherType::VLAN, &[0xb1, 0x23, 0x08, 0x00]).unwrap();
        assert_eq!(t.pcp, 5);
        assert!(t.dei);
        assert_eq!(t.id.value(), 0x123);
        assert_eq!(t.next, EtherType::IPV4);
        assert_eq!(t.tpid, EtherType::VLAN);
    }

    #[test]
    fn short_tag() {
        let e = VlanTag::parse(EtherType::VLAN, &[0, 1, 8]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::VlanTruncated, 4, 3)
        );
    }

    #[test]
    fn stack_keeps_two_and_counts_the_rest() {
        let t = |id| VlanTag {
            tpid: EtherType::VLAN,
            pcp: 0,
            dei: false,
            id: VlanId::new(id).unwrap(),
            next: EtherType::VLAN,
        };
        let mut s = VlanStack::default();
        assert!(s.is_empty());
        for id in 1..=4 {
            s.push(t(id));
        }
        assert_eq!(s.outer.unwrap().id.value(), 1);
        assert_eq!(s.inner.unwrap().id.value(), 2);
        assert_eq!(s.deeper, 2);
        assert_eq!(s.len(), 4);
        assert_eq!(VlanId::new(4096), None);
    }
}
