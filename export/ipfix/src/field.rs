//! Field values of a record, as a worker fills them, and how each one is
//! written: fixed-size numbers in network byte order, addresses, and the
//! RFC 7011 §7 variable-length encoding for strings and octet arrays.
//!
//! ```text
//! RFC 7011 §7: length < 255           length 255 ..= 65535
//! +-----+------- ... ---+             +-----+-------+-------+------ ... ----+
//! | len |  content      |             | 255 | len (2 octets)|  content      |
//! +-----+------- ... ---+             +-----+-------+-------+------ ... ----+
//! ```
//!
//! Strings are always written as valid UTF-8: a [`Text`] built from bytes that
//! are not UTF-8 writes U+FFFD for each invalid sequence, and truncation stops
//! on a character boundary.

use crate::codec::Reader;
use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Longest content a variable-length field can carry (2-octet length).
pub const MAX_VARLEN_CONTENT: usize = 65535;

/// What a field puts on the wire; checked against the information element
/// table by the template tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireKind {
    /// 1-octet unsigned.
    U8,
    /// 2-octet unsigned.
    U16,
    /// 4-octet unsigned.
    U32,
    /// 8-octet unsigned.
    U64,
    /// 6-octet MAC address.
    Mac,
    /// Variable-length UTF-8 string.
    Text,
    /// Variable-length octet array.
    Octets,
    /// The source/destination pair: 1003/1004 (IPv4) or 1103/1104 (IPv6).
    Addrs,
}

/// One field of a record. Typed records call each field's own code
/// (`encoder::Fields`, written by the `templates!` macro); the trait is
/// object-safe too, so that a record read back field by field (`refit`) is
/// planned and written by the same encoder.
pub trait Field {
    /// What this field writes.
    fn wire_kind(&self) -> WireKind;
    /// Octets of a fixed-size field; `None` for a variable-length one.
    fn fixed_len(&self) -> Option<usize>;
    /// Content octets a variable-length field would write when limited to
    /// `cap` octets (truncated on a character boundary for strings).
    fn content_len_within(&self, cap: usize) -> usize;
    /// Writes a fixed-size field.
    fn write_fixed(&self, out: &mut Vec<u8>);
    /// Writes at most `cap` content octets of a variable-length field (no
    /// length prefix) and returns how many it wrote; equal to
    /// `content_len_within(cap)`.
    fn write_content(&self, cap: usize, out: &mut Vec<u8>) -> usize;
    /// True when the field needs the IPv6 variant of the template.
    fn is_v6(&self) -> bool {
        false
    }
    /// Octets the field takes on the wire with its content cut to `cap` (the
    /// length prefix included), and whether the content had to be cut. The
    /// encoder plans a record with one call per field.
    fn wire_len(&self, cap: usize) -> (usize, bool) {
        match self.fixed_len() {
            Some(n) => (n, false),
            None => {
                let n = self.content_len_within(cap);
                (
                    varlen_prefix_len(n) + n,
                    n < self.content_len_within(usize::MAX),
                )
            }
        }
    }
    /// Writes the field's `wire_len(cap)` octets: the fixed value, or the
    /// length prefix and the content cut to `cap`.
    fn write(&self, cap: usize, out: &mut Vec<u8>) {
        match self.fixed_len() {
            Some(_) => self.write_fixed(out),
            None => {
                write_varlen_prefix(self.content_len_within(cap), out);
                self.write_content(cap, out);
            }
        }
    }
}

/// Octets of the RFC 7011 §7 length prefix for `content` octets.
pub const fn varlen_prefix_len(content: usize) -> usize {
    if content < 255 { 1 } else { 3 }
}

/// Writes the RFC 7011 §7 length prefix. `content` must be ≤ 65535 (the
/// encoder never asks for more).
pub fn write_varlen_prefix(content: usize, out: &mut Vec<u8>) {
    if content < 255 {
        out.push(content as u8);
    } else {
        let n = u16::try_from(content).unwrap_or(u16::MAX);
        out.push(255);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

/// Reads an RFC 7011 §7 length prefix: the length of the content that
/// follows. `None` when the prefix is cut short.
pub fn read_varlen_prefix(r: &mut Reader<'_>) -> Option<usize> {
    match r.u8()? {
        255 => r.u16().map(usize::from),
        n => Some(usize::from(n)),
    }
}

/// Reads one variable-length field (prefix and content); `None` when either
/// is cut short (the prefix may then have been consumed).
pub fn read_varlen<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let n = read_varlen_prefix(r)?;
    r.take(n)
}

macro_rules! uint_field {
    ($t:ty, $kind:ident) => {
        impl Field for $t {
            fn wire_kind(&self) -> WireKind {
                WireKind::$kind
            }
            fn fixed_len(&self) -> Option<usize> {
                Some(core::mem::size_of::<$t>())
            }
            fn content_len_within(&self, _cap: usize) -> usize {
                0
            }
            fn write_fixed(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_be_bytes());
            }
            fn write_content(&self, _cap: usize, _out: &mut Vec<u8>) -> usize {
                0
            }
        }
    };
}
uint_field!(u8, U8);
uint_field!(u16, U16);
uint_field!(u32, U32);
uint_field!(u64, U64);

/// A MAC address (IANA 56/57).
pub type Mac = [u8; 6];

impl Field for Mac {
    fn wire_kind(&self) -> WireKind {
        WireKind::Mac
    }
    fn fixed_len(&self) -> Option<usize> {
        Some(6)
    }
    fn content_len_within(&self, _cap: usize) -> usize {
        0
    }
    fn write_fixed(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(self);
    }
    fn write_content(&self, _cap: usize, _out: &mut Vec<u8>) -> usize {
        0
    }
}

/// A string field: bytes from a packet, written as valid UTF-8.
///
/// [`Text::new`] validates once (the common case, ASCII, costs one inlined test;
/// other UTF-8 one `from_utf8`); bytes that are not UTF-8 are written with
/// U+FFFD in place of each invalid sequence, so the collector never sees an
/// invalid string.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Text<'a> {
    bytes: &'a [u8],
    /// `None` when `bytes` is valid UTF-8; else the sanitised length.
    lossy_len: Option<usize>,
}

impl<'a> Text<'a> {
    /// The empty string.
    pub const EMPTY: Text<'static> = Text {
        bytes: b"",
        lossy_len: None,
    };

    /// A string from bytes of unknown encoding.
    pub fn new(bytes: &'a [u8]) -> Self {
        // ASCII first: what packets' names and headers nearly always are, and a
        // word-at-a-time test inlined here, where from_utf8 is a call.
        if bytes.is_ascii() || core::str::from_utf8(bytes).is_ok() {
            return Text {
                bytes,
                lossy_len: None,
            };
        }
        let mut n = 0usize;
        for chunk in bytes.utf8_chunks() {
            n = n.saturating_add(chunk.valid().len());
            if !chunk.invalid().is_empty() {
                n = n.saturating_add(REPLACEMENT.len());
            }
        }
        Text {
            bytes,
            lossy_len: Some(n),
        }
    }

    /// A string that is already UTF-8 (no check needed).
    pub const fn from_str(s: &'a str) -> Self {
        Text {
            bytes: s.as_bytes(),
            lossy_len: None,
        }
    }

    /// Octets this string writes when not truncated.
    pub fn len(&self) -> usize {
        self.lossy_len.unwrap_or(self.bytes.len())
    }

    /// True for the empty string.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Walks the sanitised string, pieces of valid UTF-8 in order, calling
    /// `f` with each piece that still fits in `cap` octets (a piece that does
    /// not fit is cut on a character boundary, then the walk stops).
    fn walk(&self, cap: usize, mut f: impl FnMut(&[u8])) -> usize {
        let mut left = cap;
        let mut put = |s: &str, left: &mut usize| -> bool {
            let n = floor_char_boundary(s, *left);
            f(s.as_bytes().get(..n).unwrap_or_default());
            *left -= n;
            n == s.len()
        };
        match self.lossy_len {
            None => {
                // Valid UTF-8 by construction: cut before a continuation octet
                // (0b10xx_xxxx) without validating again.
                let mut n = self.bytes.len().min(left);
                while n > 0 && self.bytes.get(n).is_some_and(|b| b & 0xc0 == 0x80) {
                    n -= 1;
                }
                f(self.bytes.get(..n).unwrap_or_default());
                left -= n;
            }
            Some(_) => {
                for chunk in self.bytes.utf8_chunks() {
                    if !put(chunk.valid(), &mut left) {
                        break;
                    }
                    if !chunk.invalid().is_empty() && !put(REPLACEMENT, &mut left) {
                        break;
                    }
                }
            }
        }
        cap - left
    }
}

const REPLACEMENT: &str = "\u{FFFD}";

/// The largest index ≤ `max` that is a character boundary of `s`.
pub fn floor_char_boundary(s: &str, max: usize) -> usize {
    if max >= s.len() {
        return s.len();
    }
    let mut i = max;
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'a> From<&'a str> for Text<'a> {
    fn from(s: &'a str) -> Self {
        Text::from_str(s)
    }
}

impl Field for Text<'_> {
    fn wire_kind(&self) -> WireKind {
        WireKind::Text
    }
    fn fixed_len(&self) -> Option<usize> {
        None
    }
    fn content_len_within(&self, cap: usize) -> usize {
        if self.len() <= cap {
            return self.len();
        }
        self.walk(cap, |_| {})
    }
    fn write_fixed(&self, _out: &mut Vec<u8>) {}
    fn write_content(&self, cap: usize, out: &mut Vec<u8>) -> usize {
        self.walk(cap, |piece| out.extend_from_slice(piece))
    }
    #[inline]
    fn wire_len(&self, cap: usize) -> (usize, bool) {
        let len = self.len();
        if len <= cap {
            return (varlen_prefix_len(len) + len, false);
        }
        self.cut_wire_len(cap)
    }
    #[inline]
    fn write(&self, cap: usize, out: &mut Vec<u8>) {
        if self.lossy_len.is_none() && self.bytes.len() <= cap {
            // Valid UTF-8 that fits: the common case, written as it is.
            write_varlen_prefix(self.bytes.len(), out);
            out.extend_from_slice(self.bytes);
        } else {
            self.write_cut(cap, out);
        }
    }
}

// The uncommon cases out of line, so that the common one (valid UTF-8 that fits)
// inlines into every record's encoder.
impl Text<'_> {
    #[cold]
    #[inline(never)]
    fn cut_wire_len(&self, cap: usize) -> (usize, bool) {
        let n = self.walk(cap, |_| {});
        (varlen_prefix_len(n) + n, n < self.len())
    }

    #[cold]
    #[inline(never)]
    fn write_cut(&self, cap: usize, out: &mut Vec<u8>) {
        write_varlen_prefix(self.content_len_within(cap), out);
        self.write_content(cap, out);
    }
}

/// An octet-array field (`raw`): CipherSuites, MPLS labels, RDATA.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Octets<'a>(pub &'a [u8]);

impl Field for Octets<'_> {
    fn wire_kind(&self) -> WireKind {
        WireKind::Octets
    }
    fn fixed_len(&self) -> Option<usize> {
        None
    }
    fn content_len_within(&self, cap: usize) -> usize {
        self.0.len().min(cap)
    }
    fn write_fixed(&self, _out: &mut Vec<u8>) {}
    fn write_content(&self, cap: usize, out: &mut Vec<u8>) -> usize {
        let n = self.0.len().min(cap);
        out.extend_from_slice(self.0.get(..n).unwrap_or_default());
        n
    }
}

/// Source and destination of the packet that carried the data: written as
/// 1003/1004 when both are IPv4, else as 1103/1104 (an IPv4 address beside an
/// IPv6 one is written IPv4-mapped).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpPair {
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
}

impl IpPair {
    /// A pair of addresses.
    pub const fn new(src: IpAddr, dst: IpAddr) -> Self {
        IpPair { src, dst }
    }
}

impl Default for IpPair {
    fn default() -> Self {
        IpPair {
            src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        }
    }
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(a) => a.to_ipv6_mapped(),
        IpAddr::V6(a) => a,
    }
}

impl Field for IpPair {
    fn wire_kind(&self) -> WireKind {
        WireKind::Addrs
    }
    fn fixed_len(&self) -> Option<usize> {
        Some(if self.is_v6() { 32 } else { 8 })
    }
    fn content_len_within(&self, _cap: usize) -> usize {
        0
    }
    fn write_fixed(&self, out: &mut Vec<u8>) {
        match (self.src, self.dst) {
            (IpAddr::V4(s), IpAddr::V4(d)) => {
                out.extend_from_slice(&s.octets());
                out.extend_from_slice(&d.octets());
            }
            (s, d) => {
                out.extend_from_slice(&v6(s).octets());
                out.extend_from_slice(&v6(d).octets());
            }
        }
    }
    fn write_content(&self, _cap: usize, _out: &mut Vec<u8>) -> usize {
        0
    }
    fn is_v6(&self) -> bool {
        !matches!((self.src, self.dst), (IpAddr::V4(_), IpAddr::V4(_)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_writes_what_it_measures_and_says_when_it_is_cut() {
        let long = "é".repeat(200);
        let texts = [
            Text::new(b""),
            Text::new(b"example.com"),
            Text::new(long.as_bytes()),
            Text::new(b"ab\xffcd\xfe"),
        ];
        for t in &texts {
            for cap in [0, 1, 3, 10, 255, 399, 400, 401, usize::MAX] {
                let mut out = Vec::new();
                t.write(cap, &mut out);
                let (len, cut) = t.wire_len(cap);
                let n = t.content_len_within(cap);
                let mut want = Vec::new();
                write_varlen_prefix(n, &mut want);
                t.write_content(cap, &mut want);
                assert_eq!(out, want, "cap {cap}");
                assert_eq!(out.len(), len, "cap {cap}");
                assert_eq!(cut, n < t.len(), "cap {cap}");
            }
        }
    }

    fn content(t: &Text<'_>, cap: usize) -> Vec<u8> {
        let mut v = Vec::new();
        let n = t.write_content(cap, &mut v);
        assert_eq!(n, v.len());
        assert_eq!(n, t.content_len_within(cap));
        v
    }

    #[test]
    fn utf8_truncates_on_a_char_boundary() {
        // "é" is 2 octets, "€" 3: cutting inside either backs off to its start.
        let t = Text::from_str("aé€b");
        // Valid UTF-8 that is not ASCII is taken as it is from bytes too.
        assert_eq!(Text::new("aé€b".as_bytes()), t);
        assert_eq!(t.len(), 7);
        assert_eq!(content(&t, 7), "aé€b".as_bytes());
        assert_eq!(content(&t, 6), "aé€".as_bytes());
        assert_eq!(content(&t, 5), "aé".as_bytes());
        assert_eq!(content(&t, 4), "aé".as_bytes());
        assert_eq!(content(&t, 3), "aé".as_bytes());
        assert_eq!(content(&t, 2), b"a");
        assert_eq!(content(&t, 0), b"");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let t = Text::new(b"ab\xffcd\xe2\x82");
        let want = "ab\u{FFFD}cd\u{FFFD}";
        assert_eq!(t.len(), want.len());
        assert_eq!(content(&t, 100), want.as_bytes());
        // Truncation never writes half a replacement character.
        assert_eq!(content(&t, 4), b"ab");
        assert_eq!(content(&t, 5), "ab\u{FFFD}".as_bytes());
        for cap in 0..=want.len() {
            assert!(core::str::from_utf8(&content(&t, cap)).is_ok(), "cap {cap}");
        }
    }

    #[test]
    fn varlen_prefix_forms() {
        for (n, want) in [
            (0usize, vec![0u8]),
            (254, vec![254]),
            (255, vec![255, 0, 255]),
            (256, vec![255, 1, 0]),
            (65535, vec![255, 255, 255]),
        ] {
            let mut v = Vec::new();
            write_varlen_prefix(n, &mut v);
            assert_eq!(v, want, "{n}");
            assert_eq!(varlen_prefix_len(n), want.len());
            assert_eq!(read_varlen_prefix(&mut Reader::new(&v)), Some(n));
            assert_eq!(
                read_varlen_prefix(&mut Reader::new(&v[..v.len() - 1])),
                None
            );
        }
    }

    #[test]
    fn ip_pair_picks_the_family() {
        let v4 = IpPair::new("192.0.2.1".parse().unwrap(), "192.0.2.2".parse().unwrap());
        let mut out = Vec::new();
        v4.write_fixed(&mut out);
        assert_eq!(out, [192, 0, 2, 1, 192, 0, 2, 2]);
        assert!(!v4.is_v6());
        let mixed = IpPair::new("192.0.2.1".parse().unwrap(), "2001:db8::1".parse().unwrap());
        assert!(mixed.is_v6());
        let mut out = Vec::new();
        mixed.write_fixed(&mut out);
        assert_eq!(out.len(), 32);
        assert_eq!(out.get(10..16), Some(&[0xff, 0xff, 192, 0, 2, 1][..]));
    }
}
