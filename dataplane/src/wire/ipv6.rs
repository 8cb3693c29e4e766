//! IPv6 (RFC 8200) and its extension headers.
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |Version| Traffic Class |           Flow Label                  |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |         Payload Length        |  Next Header  |   Hop Limit   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                     Source Address (16)                       |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                   Destination Address (16)                    |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! Extension headers walked (at most [`IPV6_EXT_CAP`]): hop-by-hop (0), routing (43),
//! destination options (60), mobility (135), HIP (139), shim6 (140) — all
//! `Next Header | Hdr Ext Len | …` with length (Hdr Ext Len + 1) × 8 (RFC 8200 §4.2);
//! authentication (51) with length (Payload Len + 2) × 4 (RFC 4302 §2.2); and
//! fragment (44), 8 octets (RFC 8200 §4.5):
//!
//! ```text
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  Next Header  |   Reserved    |      Fragment Offset    |Res|M|
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                         Identification                        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! ESP (50) and No Next Header (59) end the walk as the upper-layer protocol.

use core::net::Ipv6Addr;

use super::ip::{IpProtocol, LenSource};
use super::stop::{Stop, StopReason};

/// Octets of the fixed header.
pub const HEADER_LEN: usize = 40;

/// Extension headers walked before [`StopReason::Ipv6ExtTooMany`].
pub const IPV6_EXT_CAP: usize = 8;

/// A view of an IPv6 header checked to be there, with its payload bounded by Payload
/// Length and the capture.
#[derive(Clone, Copy, Debug)]
pub struct Ipv6Header<'a> {
    fixed: &'a [u8; HEADER_LEN],
    payload: &'a [u8],
    len_source: LenSource,
}

impl<'a> Ipv6Header<'a> {
    /// Checks the fixed header and the version.
    pub fn new_checked(buf: &'a [u8]) -> Result<Self, Stop> {
        let Some((fixed, after)) = buf.split_first_chunk::<HEADER_LEN>() else {
            return Err(Stop::truncated(
                StopReason::Ipv6Truncated,
                HEADER_LEN,
                buf.len(),
            ));
        };
        let version = fixed[0] >> 4;
        if version != 6 {
            return Err(Stop::value(StopReason::Ipv6BadVersion, u32::from(version)));
        }
        let length = usize::from(u16::from_be_bytes([fixed[4], fixed[5]]));
        let (payload, len_source) = if length == 0 {
            (after, LenSource::Slice)
        } else {
            match after.get(..length) {
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

    pub fn traffic_class(&self) -> u8 {
        (self.fixed[0] << 4) | (self.fixed[1] >> 4)
    }

    pub fn flow_label(&self) -> u32 {
        u32::from_be_bytes([0, self.fixed[1] & 0x0f, self.fixed[2], self.fixed[3]])
    }

    pub fn payload_len(&self) -> u16 {
        u16::from_be_bytes([self.fixed[4], self.fixed[5]])
    }

    pub fn next_header(&self) -> IpProtocol {
        IpProtocol(self.fixed[6])
    }

    pub fn hop_limit(&self) -> u8 {
        self.fixed[7]
    }

    pub fn src(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.fixed, 8))
    }

    pub fn dst(&self) -> Ipv6Addr {
        Ipv6Addr::from(addr(self.fixed, 24))
    }

    /// Everything after the fixed header (extension headers included), bounded.
    pub fn payload(&self) -> &'a [u8] {
        self.payload
    }

    pub fn len_source(&self) -> LenSource {
        self.len_source
    }

    /// The fixed header's fields; `ext` is empty until [`Ipv6Extensions::walk`] fills it.
    pub fn repr(&self) -> Ipv6Repr {
        Ipv6Repr {
            src: self.src(),
            dst: self.dst(),
            traffic_class: self.traffic_class(),
            flow_label: self.flow_label(),
            hop_limit: self.hop_limit(),
            payload_len: self.payload_len(),
            next_header: self.next_header(),
            len_source: self.len_source,
            ext: Ipv6Extensions::empty(self.next_header()),
        }
    }
}

fn addr(fixed: &[u8; HEADER_LEN], at: usize) -> [u8; 16] {
    let mut a = [0u8; 16];
    if let Some(src) = fixed.get(at..at + 16) {
        a.copy_from_slice(src);
    }
    a
}

/// A fragment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Fragment {
    pub ident: u32,
    /// In units of 8 octets.
    pub offset: u16,
    pub more: bool,
    /// Where the fragment header is, in octets from the start of the fixed
    /// header, and where the Next Header octet that names it is (6, in the
    /// fixed header, or the first octet of the extension header before it):
    /// what IP reassembly needs to rebuild the datagram's header chain.
    pub header_at: u16,
    pub named_at: u16,
}

/// What the extension-header walk found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Extensions {
    /// The upper-layer protocol (TCP, UDP, ICMPv6, ESP, …) — or, when the walk stopped,
    /// the header it stopped at.
    pub protocol: IpProtocol,
    /// Extension headers walked.
    pub count: u8,
    /// Octets of extension headers walked.
    pub len: u16,
    pub fragment: Option<Ipv6Fragment>,
    /// A routing header was seen (the destination address is not the final one).
    pub routing: bool,
}

impl Ipv6Extensions {
    const fn empty(next: IpProtocol) -> Self {
        Self {
            protocol: next,
            count: 0,
            len: 0,
            fragment: None,
            routing: false,
        }
    }

    /// Walks the extension headers at the start of `payload`, `first` being the fixed
    /// header's Next Header. Returns what it found and, when it could not reach an
    /// upper-layer header, why (offsets relative to `payload`).
    pub fn walk(first: IpProtocol, payload: &[u8]) -> (Self, Option<Stop>) {
        let mut ext = Self::empty(first);
        let mut at = 0usize;
        // The Next Header octet naming the header at `at`, from the fixed header's start.
        let mut named_at = 6usize;
        loop {
            let nh = ext.protocol;
            let is_ext = matches!(nh.0, 0 | 43 | 44 | 51 | 60 | 135 | 139 | 140);
            if !is_ext {
                return (ext, None);
            }
            if usize::from(ext.count) == IPV6_EXT_CAP {
                return (
                    ext,
                    Some(Stop::value(StopReason::Ipv6ExtTooMany, u32::from(nh.0)).at(at)),
                );
            }
            let rest = payload.get(at..).unwrap_or(&[]);
            let Some(&[next, len_field]) = rest.first_chunk::<2>() else {
                let need = if nh == IpProtocol::IPV6_FRAG { 8 } else { 2 };
                return (ext, Some(ext_truncated(nh, need, rest.len()).at(at)));
            };
            let len = match nh {
                IpProtocol::IPV6_FRAG => 8,
                IpProtocol::AH => (usize::from(len_field) + 2) * 4,
                _ => (usize::from(len_field) + 1) * 8,
            };
            let Some(header) = rest.get(..len) else {
                return (ext, Some(ext_truncated(nh, len, rest.len()).at(at)));
            };
            if nh == IpProtocol::IPV6_FRAG {
                if let Some(&[_, _, o1, o2, i1, i2, i3, i4]) = header.first_chunk::<8>() {
                    let offset_res_m = u16::from_be_bytes([o1, o2]);
                    let frag = Ipv6Fragment {
                        ident: u32::from_be_bytes([i1, i2, i3, i4]),
                        offset: offset_res_m >> 3,
                        more: offset_res_m & 1 == 1,
                        // At most IPV6_EXT_CAP headers of at most 2048 octets
                        // each precede it: both offsets are below 2^15.
                        header_at: (HEADER_LEN + at) as u16,
                        named_at: named_at as u16,
                    };
                    ext.fragment = Some(frag);
                    if frag.offset != 0 {
                        // What follows is fragment data, not a header.
                        ext.count += 1;
                        ext.len = ext.len.saturating_add(8);
                        ext.protocol = IpProtocol(next);
                        return (
                            ext,
                            Some(
                                Stop::value(StopReason::Ipv6LaterFragment, u32::from(frag.offset))
                                    .at(at),
                            ),
                        );
                    }
                }
            } else if nh == IpProtocol::IPV6_ROUTE {
                ext.routing = true;
            }
            ext.count += 1;
            ext.len = ext
                .len
                .saturating_add(u16::try_from(len).unwrap_or(u16::MAX));
            ext.protocol = IpProtocol(next);
            named_at = HEADER_LEN + at;
            at += len;
        }
    }
}

fn ext_truncated(nh: IpProtocol, need: usize, have: usize) -> Stop {
    let mut s = Stop::truncated(StopReason::Ipv6ExtTruncated, need, have);
    s.value = u32::from(nh.0);
    s
}

/// The IPv6 fields later stages read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub traffic_class: u8,
    pub flow_label: u32,
    pub hop_limit: u8,
    pub payload_len: u16,
    /// The fixed header's Next Header (the first extension header, if any).
    pub next_header: IpProtocol,
    pub len_source: LenSource,
    pub ext: Ipv6Extensions,
}

impl Ipv6Repr {
    /// The upper-layer protocol after the extension headers.
    pub const fn protocol(&self) -> IpProtocol {
        self.ext.protocol
    }

    pub const fn is_fragment(&self) -> bool {
        self.ext.fragment.is_some()
    }

    pub const fn is_later_fragment(&self) -> bool {
        matches!(self.ext.fragment, Some(f) if f.offset != 0)
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    #[rustfmt::skip]
    const FIXED: [u8; 40] = [
        0x6a, 0xb1, 0x23, 0x45, // version 6, traffic class 0xab, flow label 0x12345
        0x00, 0x10, 0x00, 0x40, // payload length 16, next header hop-by-hop, hop limit 64
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, // 2001:db8::1
        0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, // 2001:db8::2
    ];

    #[test]
    fn reads_fixed_header() {
        let mut b = FIXED.to_vec();
        b.extend_from_slice(&[0u8; 20]);
        let h = Ipv6Header::new_checked(&b).unwrap();
        let r = h.repr();
        assert_eq!(r.traffic_class, 0xab);
        assert_eq!(r.flow_label, 0x12345);
        assert_eq!((r.payload_len, r.hop_limit), (16, 64));
        assert_eq!(r.next_header, IpProtocol::HOPOPT);
        assert_eq!(r.src, "2001:db8::1".parse::<Ipv6Addr>().unwrap());
        assert_eq!(r.dst, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
        assert_eq!(h.payload().len(), 16);
        assert_eq!(h.len_source(), LenSource::Header);
    }

    #[test]
    fn version_and_truncation() {
        let e = Ipv6Header::new_checked(&FIXED[..39]).unwrap_err();
        assert_eq!(
            (e.reason, e.need, e.have),
            (StopReason::Ipv6Truncated, 40, 39)
        );
        let mut b = FIXED;
        b[0] = 0x4a;
        let e = Ipv6Header::new_checked(&b).unwrap_err();
        assert_eq!((e.reason, e.value), (StopReason::Ipv6BadVersion, 4));
        // Payload length beyond the capture: the slice.
        let h = Ipv6Header::new_checked(&FIXED).unwrap();
        assert_eq!((h.payload().len(), h.len_source()), (0, LenSource::Slice));
    }

    #[rustfmt::skip]
    const CHAIN: [u8; 40] = [
        43, 0, 0, 0, 0, 0, 0, 0,        // hop-by-hop: next routing, 8 octets (PadN)
        44, 2, 0, 0, 0, 0, 0, 0,        // routing: next fragment, 24 octets
        0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0,
        17, 0, 0x00, 0x01, 0, 0, 0x12, 0x34, // fragment: next UDP, offset 0, M, ident 0x1234
    ];

    #[test]
    fn walks_hop_by_hop_routing_fragment() {
        let (ext, stop) = Ipv6Extensions::walk(IpProtocol::HOPOPT, &CHAIN);
        assert_eq!(stop, None);
        assert_eq!(ext.protocol, IpProtocol::UDP);
        assert_eq!((ext.count, ext.len), (3, 40));
        assert!(ext.routing);
        let f = ext.fragment.unwrap();
        assert_eq!((f.ident, f.offset, f.more), (0x1234, 0, true));
        // The fragment header follows 8 + 24 octets of headers; the routing
        // header's first octet (at 40 + 8) names it.
        assert_eq!((f.header_at, f.named_at), (40 + 32, 40 + 8));
    }

    #[test]
    fn later_fragment_stops_the_walk() {
        let frag = [6, 0, 0x05, 0x48, 0, 0, 0, 9, 0xde, 0xad];
        let (ext, stop) = Ipv6Extensions::walk(IpProtocol::IPV6_FRAG, &frag);
        let stop = stop.unwrap();
        assert_eq!(stop.reason, StopReason::Ipv6LaterFragment);
        assert_eq!(stop.value, 0xa9);
        assert_eq!(ext.fragment.unwrap().offset, 0xa9);
        assert_eq!(ext.protocol, IpProtocol::TCP);
        assert_eq!(ext.len, 8);
    }

    #[test]
    fn truncated_chain_keeps_what_was_walked() {
        let (ext, stop) = Ipv6Extensions::walk(IpProtocol::HOPOPT, &CHAIN[..20]);
        let stop = stop.unwrap();
        assert_eq!(stop.reason, StopReason::Ipv6ExtTruncated);
        assert_eq!((stop.offset, stop.need, stop.have), (8, 24, 12));
        assert_eq!(stop.value, 43);
        assert_eq!((ext.count, ext.protocol), (1, IpProtocol::IPV6_ROUTE));
        let (_, stop) = Ipv6Extensions::walk(IpProtocol::HOPOPT, &CHAIN[..1]);
        assert_eq!(stop.unwrap().need, 2);
    }

    #[test]
    fn too_many_headers_hit_the_cap() {
        let mut chain = Vec::new();
        for _ in 0..=IPV6_EXT_CAP {
            chain.extend_from_slice(&[60, 0, 0, 0, 0, 0, 0, 0]);
        }
        let (ext, stop) = Ipv6Extensions::walk(IpProtocol::IPV6_OPTS, &chain);
        assert_eq!(stop.unwrap().reason, StopReason::Ipv6ExtTooMany);
        assert_eq!(usize::from(ext.count), IPV6_EXT_CAP);
    }

    #[test]
    fn authentication_header_length_is_in_words() {
        // AH: next TCP, payload len 4 -> (4 + 2) * 4 = 24 octets
        let mut ah = vec![6, 4];
        ah.resize(24, 0);
        let (ext, stop) = Ipv6Extensions::walk(IpProtocol::AH, &ah);
        assert_eq!(stop, None);
        assert_eq!((ext.protocol, ext.len), (IpProtocol::TCP, 24));
    }
}
