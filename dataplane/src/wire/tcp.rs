//! TCP (RFC 9293).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |          Source Port          |       Destination Port        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                        Sequence Number                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                    Acknowledgment Number                      |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Data |     |N|C|E|U|A|P|R|S|F|                               |
//! | Offset| Rsrv|S|W|C|R|C|S|S|Y|I|            Window             |
//! |       |     | |R|E|G|K|H|T|N|N|                               |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |           Checksum            |         Urgent Pointer        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                           [Options]                           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! The payload is what the IP layer bounded after the header (`Data Offset` × 4).

use core::fmt;

use super::stop::{Stop, StopReason};

/// Octets of the header without options.
pub const HEADER_LEN: usize = 20;

/// TCP control bits (the low 9 bits: NS and the 8 of RFC 9293).
#[derive(Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct TcpFlags(pub u16);

impl TcpFlags {
    pub const FIN: Self = Self(0x001);
    pub const SYN: Self = Self(0x002);
    pub const RST: Self = Self(0x004);
    pub const PSH: Self = Self(0x008);
    pub const ACK: Self = Self(0x010);
    pub const URG: Self = Self(0x020);
    pub const ECE: Self = Self(0x040);
    pub const CWR: Self = Self(0x080);
    pub const NS: Self = Self(0x100);

    /// All bits of `other` are set.
    #[inline]
    pub const fn contains(self, other: Self) -> bool {
        self.0 & other.0 == other.0
    }

    /// Any bit of `other` is set.
    #[inline]
    pub const fn intersects(self, other: Self) -> bool {
        self.0 & other.0 != 0
    }

    pub const fn union(self, other: Self) -> Self {
        Self(self.0 | other.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const NAMES: [&str; 9] = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR", "NS"];
        f.write_str("TcpFlags(")?;
        let mut first = true;
        for (bit, name) in NAMES.iter().enumerate() {
            if self.0 & (1 << bit) != 0 {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        f.write_str(")")
    }
}

/// A view of a TCP header whose fixed part and options were checked to be there.
#[derive(Clone, Copy, Debug)]
pub struct TcpHeader<'a> {
    fixed: &'a [u8; HEADER_LEN],
    options: &'a [u8],
    payload: &'a [u8],
}

impl<'a> TcpHeader<'a> {
    /// Checks the fixed header, Data Offset ≥ 5, and that the options were captured.
    #[inline]
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        let Some((fixed, _)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(Stop::truncated(
                StopReason::TcpTruncated,
                HEADER_LEN,
                buf.len(),
            ));
        };
        let data_offset = fixed[12] >> 4;
        if data_offset < 5 {
            return Err(Stop::value(
                StopReason::TcpBadDataOffset,
                u32::from(data_offset),
            ));
        }
        let header_len = usize::from(data_offset) * 4;
        let Some((header, payload)) = buf.split_at_checked(header_len) else {
            return Err(Stop::truncated(
                StopReason::TcpOptionsTruncated,
                header_len,
                buf.len(),
            ));
        };
        Ok(Self {
            fixed,
            options: header.get(HEADER_LEN..).unwrap_or(&[]),
            payload,
        })
    }

    pub fn src_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[0], self.fixed[1]])
    }

    pub fn dst_port(&self) -> u16 {
        u16::from_be_bytes([self.fixed[2], self.fixed[3]])
    }

    pub fn seq(&self) -> u32 {
        u32::from_be_bytes([self.fixed[4], self.fixed[5], self.fixed[6], self.fixed[7]])
    }

    pub fn ack(&self) -> u32 {
        u32::from_be_bytes([self.fixed[8], self.fixed[9], self.fixed[10], self.fixed[11]])
    }

    pub fn header_len(&self) -> usize {
        usize::from(self.fixed[12] >> 4) * 4
    }

    pub fn flags(&self) -> TcpFlags {
        TcpFlags(u16::from(self.fixed[12] & 1) << 8 | u16::from(self.fixed[13]))
    }

    pub fn window(&self) -> u16 {
        u16::from_be_bytes([self.fixed[14], self.fixed[15]])
    }

    /// The option octets, not interpreted.
    pub fn options(&self) -> &'a [u8] {
        self.options
    }

    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn repr(&self) -> TcpRepr {
        TcpRepr {
            src_port: self.src_port(),
            dst_port: self.dst_port(),
            seq: self.seq(),
            ack: self.ack(),
            header_len: (self.fixed[12] >> 4) * 4,
            flags: self.flags(),
            window: self.window(),
        }
    }
}

/// The TCP fields later stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TcpRepr {
    pub src_port: u16,
    pub dst_port: u16,
    pub seq: u32,
    pub ack: u32,
    /// Data Offset × 4: 20 to 60.
    pub header_len: u8,
    pub flags: TcpFlags,
    pub window: u16,
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const SYN_MSS: [u8; 26] = [
        0xd4, 0x96, 0x00, 0x50, // ports 54422 -> 80
        0x01, 0x02, 0x03, 0x04, // sequence
        0x00, 0x00, 0x00, 0x00, // acknowledgment
        0x60, 0x02, 0xff, 0xff, // data offset 6, SYN; window
        0x00, 0x00, 0x00, 0x00, // checksum, urgent pointer
        0x02, 0x04, 0x05, 0xb4, // option MSS 1460
        0x47, 0x45,             // payload "GE"
    ];

    #[test]
    fn reads_fields() {
        let h = TcpHeader::new_checked(&SYN_MSS).unwrap();
        let r = h.repr();
        assert_eq!((r.src_port, r.dst_port), (54422, 80));
        assert_eq!(r.seq, 0x01020304);
        assert_eq!(r.header_len, 24);
        assert_eq!(r.flags, TcpFlags::SYN);
        assert_eq!(r.window, 0xffff);
        assert_eq!(h.options(), &[0x02, 0x04, 0x05, 0xb4]);
        assert_eq!(h.payload(), b"GE");
    }

    #[test]
    fn flags_include_ns_and_print_names() {
        let mut b = SYN_MSS;
        b[12] |= 1;
        b[13] = 0x11;
        let f = TcpHeader::new_checked(&b).unwrap().flags();
        assert!(f.contains(TcpFlags::FIN.union(TcpFlags::ACK)));
        assert!(f.contains(TcpFlags::NS));
        assert!(!f.intersects(TcpFlags::SYN.union(TcpFlags::RST)));
        assert_eq!(format!("{f:?}"), "TcpFlags(FIN|ACK|NS)");
    }

    #[test]
    fn malformed_headers_say_why() {
        let e = TcpHeader::new_checked(&SYN_MSS[..19]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::TcpTruncated, 20, 19)
        );
        let e = TcpHeader::new_checked(&SYN_MSS[..22]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::TcpOptionsTruncated, 24, 22)
        );
        let mut b = SYN_MSS;
        b[12] = 0x40;
        let e = TcpHeader::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::TcpBadDataOffset, 4));
    }
}
