//! PPPoE session stage (RFC 2516, ether type 0x8864) carrying PPP (RFC 1661).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  VER  | TYPE  |      CODE     |          SESSION_ID           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            LENGTH             |   PPP protocol (1 or 2) ...   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! VER and TYPE are 1 and CODE is 0 in the session stage. LENGTH counts the PPP
//! protocol field and what follows. RFC 1661 §2: protocol values have an even first
//! octet and an odd last octet, so an odd first octet is a protocol compressed to one
//! octet (PFC; discouraged by RFC 2516 but seen).

use core::fmt;

use super::stop::{Stop, StopReason};

/// Octets of the PPPoE header before the PPP protocol field.
pub const HEADER_LEN: usize = 6;

/// A PPP protocol number. Open: unknown values are data.
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PppProtocol(pub u16);

impl PppProtocol {
    pub const IPV4: Self = Self(0x0021);
    pub const IPV6: Self = Self(0x0057);
    pub const IPCP: Self = Self(0x8021);
    pub const IPV6CP: Self = Self(0x8057);
    pub const LCP: Self = Self(0xc021);
    pub const PAP: Self = Self(0xc023);
    pub const CHAP: Self = Self(0xc223);

    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            0x0021 => "IPv4",
            0x0057 => "IPv6",
            0x8021 => "IPCP",
            0x8057 => "IPV6CP",
            0xc021 => "LCP",
            0xc023 => "PAP",
            0xc223 => "CHAP",
            _ => return None,
        })
    }
}

impl fmt::Debug for PppProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => write!(f, "PppProtocol({:#06x} {n})", self.0),
            None => write!(f, "PppProtocol({:#06x})", self.0),
        }
    }
}

/// A view of a PPPoE session header and its PPP protocol field, checked to be there.
#[derive(Clone, Copy, Debug)]
pub struct PppoeHeader<'a> {
    fixed: &'a [u8; HEADER_LEN],
    protocol: PppProtocol,
    protocol_len: usize,
    rest: &'a [u8],
}

impl<'a> PppoeHeader<'a> {
    /// Checks the fixed header, the session-stage version/type/code and the PPP
    /// protocol field.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        let Some((fixed, after)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(Stop::truncated(
                StopReason::PppoeTruncated,
                HEADER_LEN + 2,
                buf.len(),
            ));
        };
        if fixed[0] != 0x11 || fixed[1] != 0 {
            return Err(Stop::value(
                StopReason::PppoeBadHeader,
                u32::from(fixed[0]) << 8 | u32::from(fixed[1]),
            ));
        }
        let (protocol, protocol_len) = match after {
            [first, ..] if first & 1 == 1 => (PppProtocol(u16::from(*first)), 1),
            [a, b, ..] => (PppProtocol(u16::from_be_bytes([*a, *b])), 2),
            _ => {
                return Err(Stop::truncated(
                    StopReason::PppoeTruncated,
                    HEADER_LEN + 2,
                    buf.len(),
                ));
            }
        };
        let rest = after.get(protocol_len..).unwrap_or(&[]);
        Ok(Self {
            fixed,
            protocol,
            protocol_len,
            rest,
        })
    }

    pub fn session_id(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    /// The LENGTH field: PPP protocol field plus PPP payload.
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    pub fn protocol(&self) -> PppProtocol {
        self.protocol
    }

    /// Octets from the start of the PPPoE header to the PPP payload.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.protocol_len
    }

    /// The PPP payload, bounded by LENGTH when LENGTH is shorter than the capture.
    pub fn payload(&self) -> &'a [u8] {
        let announced = usize::from(self.length()).saturating_sub(self.protocol_len);
        self.rest.get(..announced).unwrap_or(self.rest)
    }

    pub fn repr(&self) -> PppoeRepr {
        PppoeRepr {
            session_id: self.session_id(),
            length: self.length(),
            protocol: self.protocol,
        }
    }
}

/// The PPPoE fields later stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PppoeRepr {
    pub session_id: u16,
    pub length: u16,
    pub protocol: PppProtocol,
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const SESSION: [u8; 12] = [
        0x11,       // version 1, type 1
        0x00,       // code: session data
        0x00, 0x2d, // session id
        0x00, 0x04, // length: protocol (2) + 2 octets
        0x00, 0x21, // PPP protocol IPv4
        0x45, 0x00, // payload
        0xaa, 0xbb, // beyond LENGTH: padding
    ];

    #[test]
    fn reads_fields_and_bounds_payload_by_length() {
        let h = PppoeHeader::new_checked(&SESSION).unwrap();
        assert_eq!(h.session_id(), 0x2d);
        assert_eq!(h.protocol(), PppProtocol::IPV4);
        assert_eq!(h.header_len(), 8);
        assert_eq!(h.payload(), &[0x45, 0x00]);
        assert_eq!(h.repr().length, 4);
    }

    #[test]
    fn compressed_protocol_field() {
        let b = [0x11, 0x00, 0x00, 0x01, 0x00, 0x03, 0x21, 0x45, 0x00];
        let h = PppoeHeader::new_checked(&b).unwrap();
        assert_eq!(h.protocol(), PppProtocol::IPV4);
        assert_eq!(h.header_len(), 7);
        assert_eq!(h.payload(), &[0x45, 0x00]);
    }

    #[test]
    fn length_beyond_capture_keeps_what_is_there() {
        let mut b = SESSION;
        b[5] = 0xff;
        let h = PppoeHeader::new_checked(&b).unwrap();
        assert_eq!(h.payload(), &[0x45, 0x00, 0xaa, 0xbb]);
    }

    #[test]
    fn rejects_bad_header_and_truncation() {
        let mut b = SESSION;
        b[1] = 0x09; // PADI code
        let e = PppoeHeader::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::PppoeBadHeader, 0x1109));
        let e = PppoeHeader::new_checked(&SESSION[..7]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::PppoeTruncated, 8, 7)
        );
        let e = PppoeHeader::new_checked(&SESSION[..3]).unwrap_err();
        assert_eq!((e.reason, e.have), (StopReason::PppoeTruncated, 3));
    }
}
