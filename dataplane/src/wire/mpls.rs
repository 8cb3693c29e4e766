//! MPLS label stacks (RFC 3032) over Ethernet (ether types 0x8847 and 0x8848).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                Label                  | TC  |S|       TTL     |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 3032 has no field naming the payload; after the entry with S = 1 the decoder
//! looks at the first nibble (4: IPv4, 6: IPv6), as routers and probes do.
//!
//! The raw 4-octet entries are kept (IPFIX element 2017 exports them as they are), up
//! to [`MPLS_CAP`]; deeper entries are counted; no bottom of stack within
//! [`MPLS_MAX_DEPTH`] entries stops decoding.

use super::stop::{Stop, StopReason};

/// Label stack entries kept in a [`MplsStack`].
pub const MPLS_CAP: usize = 6;

/// Entries walked at most looking for the bottom of stack.
pub const MPLS_MAX_DEPTH: usize = 16;

/// Octets of one label stack entry.
pub const ENTRY_LEN: usize = 4;

/// One label stack entry, as on the wire (network order decoded into a `u32`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MplsEntry(pub u32);

impl MplsEntry {
    /// Reads the first entry of `buf`.
    pub fn parse(buf: &[u8]) -> Result<Self, Stop> {
        match buf.first_chunk::<ENTRY_LEN>() {
            Some(b) => Ok(Self(u32::from_be_bytes(*b))),
            None => Err(Stop::truncated(
                StopReason::MplsTruncated,
                ENTRY_LEN,
                buf.len(),
            )),
        }
    }

    /// The 20-bit label.
    pub const fn label(self) -> u32 {
        self.0 >> 12
    }

    /// Traffic class (formerly EXP).
    pub const fn tc(self) -> u8 {
        ((self.0 >> 9) & 0x7) as u8
    }

    /// Bottom of stack.
    pub const fn bottom(self) -> bool {
        self.0 & 0x100 != 0
    }

    pub const fn ttl(self) -> u8 {
        (self.0 & 0xff) as u8
    }

    /// The entry in network order, as element 2017 carries it.
    pub const fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }
}

/// The label stack of a frame, top first.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct MplsStack {
    entries: [MplsEntry; MPLS_CAP],
    len: u8,
    /// Entries below the first [`MPLS_CAP`] (walked but not kept).
    pub deeper: u8,
}

impl MplsStack {
    /// The kept entries, top of stack first.
    pub fn entries(&self) -> &[MplsEntry] {
        #[expect(
            clippy::indexing_slicing,
            reason = "len is at most MPLS_CAP: push stops there"
        )]
        &self.entries[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The top entry.
    pub fn top(&self) -> Option<MplsEntry> {
        self.entries().first().copied()
    }

    /// Entries seen, kept or not.
    pub fn depth(&self) -> usize {
        usize::from(self.len) + usize::from(self.deeper)
    }

    pub(crate) fn push(&mut self, e: MplsEntry) {
        match self.entries.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = e;
                self.len += 1;
            }
            None => self.deeper = self.deeper.saturating_add(1),
        }
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn entry_fields() {
        // label 16000 (0x03e80), TC 5, S 1, TTL 64
        let e = MplsEntry::parse(&[0x03, 0xe8, 0x0b, 0x40, 0xff]).unwrap();
        assert_eq!(e.label(), 16000);
        assert_eq!(e.tc(), 5);
        assert!(e.bottom());
        assert_eq!(e.ttl(), 64);
        assert_eq!(e.to_bytes(), [0x03, 0xe8, 0x0b, 0x40]);
        let err = MplsEntry::parse(&[1, 2]).unwrap_err();
        assert_eq!(
            (err.reason, err.need, err.have),
            (StopReason::MplsTruncated, 4, 2)
        );
    }

    #[test]
    fn stack_caps_and_counts() {
        let mut s = MplsStack::default();
        assert!(s.is_empty());
        assert_eq!(s.top(), None);
        for i in 0..(MPLS_CAP as u32 + 2) {
            s.push(MplsEntry(i << 12));
        }
        assert_eq!(s.entries().len(), MPLS_CAP);
        assert_eq!(s.deeper, 2);
        assert_eq!(s.depth(), MPLS_CAP + 2);
        assert_eq!(s.top().unwrap().label(), 0);
        assert_eq!(s.entries()[MPLS_CAP - 1].label(), MPLS_CAP as u32 - 1);
    }
}
