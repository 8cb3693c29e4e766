//! UDP (RFC 768).
//!
//! ```text
//!  0      7 8     15 16    23 24    31
//! +--------+--------+--------+--------+
//! |     Source      |   Destination   |
//! |      Port       |      Port       |
//! +--------+--------+--------+--------+
//! |     Length      |    Checksum     |
//! +--------+--------+--------+--------+
//! ```
//!
//! Length above what the IP layer bounded (a first fragment, a snap length) ends the
//! payload there ([`LenSource::Slice`]); 0 does too (RFC 2675 jumbograms).

use super::ip::LenSource;
use super::stop::{Stop, StopReason};

pub const HEADER_LEN: usize = 8;

/// A view of a UDP header checked to be there.
#[derive(Clone, Copy, Debug)]
pub struct UdpHeader<'a> {
    fixed: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
    len_source: LenSource,
}

impl<'a> UdpHeader<'a> {
    /// Checks the header and the Length field.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        let Some((fixed, after)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(Stop::truncated(
                StopReason::UdpTruncated,
                HEADER_LEN,
                buf.len(),
            ));
        };
        let length = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
        let (payload, len_source) = if length == 0 {
            (after, LenSource::Slice)
        } else if length < HEADER_LEN {
            return Err(Stop::value(StopReason::UdpBadLength, length as u32));
        } else {
            match after.get(..length - HEADER_LEN) {
                Some(p) => (p, LenSource::Header),
                None => (after, LenSource::Slice),
            }
        };
        Ok(Self {
            fixed,
            payload,
            len_source,
        })
    }

    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }

    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    pub fn checksum(&self) -> u16 {
        u16::from_be_bytes([self.fixed[6], self.fixed[7]])
    }

    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn len_source(&self) -> LenSource {
        self.len_source
    }

    pub fn repr(&self) -> UdpRepr {
        UdpRepr {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            length: self.length(),
            len_source: self.len_source,
        }
    }
}

/// The UDP fields later stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub length: u16,
    pub len_source: LenSource,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const DNS: [u8; 12] = [
        0x80, 0x1b, 0x00, 0x35, // ports 32795 -> 53
        0x00, 0x0a, 0x00, 0x00, // length 10, checksum
        0xf7, 0x6f,             // payload
        0x00, 0x00,             // beyond Length
    ];

    #[test]
    fn reads_fields_and_bounds_by_length() {
        let h = UdpHeader::new_checked(&DNS).unwrap();
        let r = h.repr();
        assert_eq!((r.src_port, r.dst_port, r.length), (32795, 53, 10));
        assert_eq!(h.payload(), &[0xf7, 0x6f]);
        assert_eq!(r.len_source, LenSource::Header);
        assert_eq!(h.checksum(), 0);
    }

    #[test]
    fn length_beyond_capture_or_zero_uses_the_slice() {
        let mut b = DNS;
        b[5] = 200;
        let h = UdpHeader::new_checked(&b).unwrap();
        assert_eq!((h.payload().len(), h.len_source()), (4, LenSource::Slice));
        b[5] = 0;
        let h = UdpHeader::new_checked(&b).unwrap();
        assert_eq!((h.payload().len(), h.len_source()), (4, LenSource::Slice));
    }

    #[test]
    fn malformed_headers_say_why() {
        let e = UdpHeader::new_checked(&DNS[..7]).unwrap_err();
        assert_eq!((e.reason, e.need, e.have), (StopReason::UdpTruncated, 8, 7));
        let mut b = DNS;
        b[5] = 7;
        let e = UdpHeader::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::UdpBadLength, 7));
    }
}
