//! IPv4 (RFC 791).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version|  IHL  |Type of Service|          Total Length         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Identification        |Flags|      Fragment Offset    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Time to Live |    Protocol   |         Header Checksum       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                       Source Address                          |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Destination Address                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Options                    |    Padding    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Lax lengths: Total Length above the capture ends the payload at the capture
//! ([`LenSource::Slice`]); 0 (TSO captures) does the same; below the capture it trims
//! the Ethernet padding. The checksum is not verified (a probe reports what it saw).

use core::net::Ipv4Addr;

use super::ip::{IpProtocol, LenSource};
use super::stop::{Stop, StopReason};

/// Octets of the header without options.
pub const HEADER_LEN: usize = 20;

/// A view of an IPv4 header whose fixed part and options were checked to be there.
#[derive(Clone, Copy, Debug)]
pub struct Ipv4Header<'a> {
    fixed: &'a [u8; HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
    len_source: LenSource,
}

impl<'a> Ipv4Header<'a> {
    /// Checks version, IHL, that the options were captured, and Total Length.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        let Some((fixed, _)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(Stop::truncated(
                StopReason::Ipv4Truncated,
                HEADER_LEN,
                buf.len(),
            ));
        };
        let version = fixed[0] >> 4;
        if version != 4 {
            return Err(Stop::value(StopReason::Ipv4BadVersion, u32::from(version)));
        }
        let ihl = fixed[0] & 0x0f;
        if ihl < 5 {
            return Err(Stop::value(StopReason::Ipv4BadHeaderLen, u32::from(ihl)));
        }
        let header_len = usize::from(ihl) * 4;
        let Some((header, after)) = buf.split_at_checked(header_len) else {
            return Err(Stop::truncated(
                StopReason::Ipv4OptionsTruncated,
                header_len,
                buf.len(),
            ));
        };
        let options = header.get(HEADER_LEN..).unwrap_or(&[]);
        let total = usize::from(u16::from_be_bytes([fixed[2], fixed[3]]));
        let (payload, len_source) = if total == 0 {
            (after, LenSource::Slice)
        } else if total < header_len {
            return Err(Stop::value(StopReason::Ipv4BadTotalLen, total as u32));
        } else {
            match after.get(..total - header_len) {
                Some(p) => (p, LenSource::Header),
                None => (after, LenSource::Slice),
            }
        };
        Ok(Self {
            fixed,
            options,
            payload,
            len_source,
        })
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.fixed[0] & 0x0f) * 4
    }

    /// DSCP and ECN.
    pub fn tos(&self) -> u8 {
        self.fixed[1]
    }

    pub fn total_len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    pub fn ident(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    pub fn dont_fragment(&self) -> bool {
        self.fixed[6] & 0x40 != 0
    }

    pub fn more_fragments(&self) -> bool {
        self.fixed[6] & 0x20 != 0
    }

    /// Fragment offset in units of 8 octets.
    pub fn frag_offset(&self) -> u16 {
        u16::from_be_bytes([self.fixed[6] & 0x1f, self.fixed[7]])
    }

    pub fn ttl(&self) -> u8 {
        self.fixed[8]
    }

    pub fn protocol(&self) -> IpProtocol {
        IpProtocol(self.fixed[9])
    }

    pub fn src(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[12],
            self.fixed[13],
            self.fixed[14],
            self.fixed[15],
        )
    }

    pub fn dst(&self) -> Ipv4Addr {
        Ipv4Addr::new(
            self.fixed[16],
            self.fixed[17],
            self.fixed[18],
            self.fixed[19],
        )
    }

    /// The option octets (IHL > 5), not interpreted.
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    /// The payload, bounded by Total Length and by the capture.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn len_source(&self) -> LenSource {
        self.len_source
    }

    pub fn repr(&self) -> Ipv4Repr {
        Ipv4Repr {
            src: self.src(),
            dst: self.dst(),
            protocol: self.protocol(),
            ttl: self.ttl(),
            tos: self.tos(),
            ident: self.ident(),
            dont_fragment: self.dont_fragment(),
            more_fragments: self.more_fragments(),
            frag_offset: self.frag_offset(),
            header_len: (self.fixed[0] & 0x0f) * 4,
            total_len: self.total_len(),
            len_source: self.len_source,
        }
    }
}

/// The IPv4 fields later stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    pub src: Ipv4Addr,
    pub dst: Ipv4Addr,
    pub protocol: IpProtocol,
    pub ttl: u8,
    pub tos: u8,
    pub ident: u16,
    pub dont_fragment: bool,
    pub more_fragments: bool,
    /// In units of 8 octets.
    pub frag_offset: u16,
    /// IHL × 4: 20 without options, up to 60.
    pub header_len: u8,
    pub total_len: u16,
    pub len_source: LenSource,
}

impl Ipv4Repr {
    /// Part of a fragmented datagram (first, middle or last).
    pub const fn is_fragment(&self) -> bool {
        self.more_fragments || self.frag_offset != 0
    }

    /// A fragment other than the first: no transport header in it.
    pub const fn is_later_fragment(&self) -> bool {
        self.frag_offset != 0
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const WITH_OPTIONS: [u8; 30] = [
        0x46, 0x00, 0x00, 0x1c, // version 4, IHL 6; TOS; total length 28
        0x12, 0x34, 0x20, 0x00, // ident 0x1234; MF, offset 0
        0x40, 0x11, 0x00, 0x00, // TTL 64, UDP, checksum
        10, 0, 0, 1,            // source
        10, 0, 0, 2,            // destination
        0x94, 0x04, 0x00, 0x00, // option: router alert
        0xaa, 0xbb, 0xcc, 0xdd, // payload (4 = 28 - 24)
        0xee, 0xff,             // Ethernet padding
    ];

    #[test]
    fn reads_fields_options_and_trims_padding() {
        let h = Ipv4Header::new_checked(&WITH_OPTIONS).unwrap();
        let r = h.repr();
        assert_eq!(r.header_len, 24);
        assert_eq!(h.options(), &[0x94, 0x04, 0x00, 0x00]);
        assert_eq!(h.payload(), &[0xaa, 0xbb, 0xcc, 0xdd]);
        assert_eq!(r.len_source, LenSource::Header);
        assert_eq!(r.src, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.dst, Ipv4Addr::new(10, 0, 0, 2));
        assert_eq!(r.protocol, IpProtocol::UDP);
        assert_eq!((r.ident, r.ttl, r.total_len), (0x1234, 64, 28));
        assert!(r.more_fragments && !r.dont_fragment);
        assert!(r.is_fragment() && !r.is_later_fragment());
    }

    #[test]
    fn total_length_beyond_capture_and_zero_fall_back_to_the_slice() {
        let mut b = WITH_OPTIONS;
        b[2..4].copy_from_slice(&1500u16.to_be_bytes());
        let h = Ipv4Header::new_checked(&b).unwrap();
        assert_eq!(h.payload().len(), 6);
        assert_eq!(h.len_source(), LenSource::Slice);
        b[2..4].copy_from_slice(&[0, 0]);
        let h = Ipv4Header::new_checked(&b).unwrap();
        assert_eq!((h.payload().len(), h.len_source()), (6, LenSource::Slice));
    }

    #[test]
    fn malformed_headers_say_why() {
        let e = Ipv4Header::new_checked(&WITH_OPTIONS[..19]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::Ipv4Truncated, 20, 19)
        );
        let e = Ipv4Header::new_checked(&WITH_OPTIONS[..22]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::Ipv4OptionsTruncated, 24, 22)
        );
        let mut b = WITH_OPTIONS;
        b[0] = 0x65;
        let e = Ipv4Header::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::Ipv4BadVersion, 6));
        b[0] = 0x44;
        let e = Ipv4Header::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::Ipv4BadHeaderLen, 4));
        let mut b = WITH_OPTIONS;
        b[3] = 20; // total length 20 < header length 24
        let e = Ipv4Header::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::Ipv4BadTotalLen, 20));
    }
}
