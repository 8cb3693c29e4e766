//! A bounded cursor over untrusted bytes: every read is checked against what
//! is left, and a failed read consumes nothing.
//!
//! Modelled on rustls `msgs/codec.rs` (`Reader`): `take` and `take_array`
//! hand out sub-slices of the input (no copy), `sub` gives a cursor over a
//! length-prefixed structure so that its parser cannot read past its end, and
//! `any_left`/`rest` tell what follows. The integer readers are big-endian
//! (network order), the order of every protocol metaprobe reads.
//!
//! ```
//! use metaprobe_ipfix::codec::Reader;
//! let mut r = Reader::new(&[0x00, 0x03, b'a', b'b', b'c', 0xff]);
//! let len = r.u16().unwrap();
//! let mut name = r.sub(usize::from(len)).unwrap();
//! assert_eq!(name.rest(), b"abc");
//! assert_eq!(r.u8(), Some(0xff));
//! assert!(!r.any_left());
//! ```

/// Reads `buf` front to back.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    rest: &'a [u8],
    used: usize,
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { rest: buf, used: 0 }
    }

    /// The next `n` octets, or `None` (nothing consumed) when fewer are left.
    pub fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = self.rest.split_at_checked(n)?;
        self.advance(head.len(), rest);
        Some(head)
    }

    /// The next `N` octets as an array reference.
    pub fn take_array<const N: usize>(&mut self) -> Option<&'a [u8; N]> {
        let (head, rest) = self.rest.split_first_chunk::<N>()?;
        self.advance(N, rest);
        Some(head)
    }

    /// A cursor over the next `len` octets, which this one skips.
    pub fn sub(&mut self, len: usize) -> Option<Reader<'a>> {
        let used = self.used;
        let inner = self.take(len)?;
        Some(Reader { rest: inner, used })
    }

    /// Skips `n` octets.
    pub fn skip(&mut self, n: usize) -> Option<()> {
        self.take(n).map(|_| ())
    }

    /// Everything left; the cursor is at the end afterwards.
    pub fn rest(&mut self) -> &'a [u8] {
        let all = self.rest;
        self.advance(all.len(), &[]);
        all
    }

    /// Everything left, without consuming it.
    pub fn peek_rest(&self) -> &'a [u8] {
        self.rest
    }

    /// The next octet, without consuming it.
    pub fn peek_u8(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    pub fn any_left(&self) -> bool {
        !self.rest.is_empty()
    }

    pub fn left(&self) -> usize {
        self.rest.len()
    }

    /// Octets consumed since the start of the outermost input (a `sub`
    /// cursor counts from where its parent stood), for errors that say where.
    pub fn offset(&self) -> usize {
        self.used
    }

    pub fn u8(&mut self) -> Option<u8> {
        self.take_array::<1>().map(|&[b]| b)
    }

    pub fn u16(&mut self) -> Option<u16> {
        self.take_array().map(|b| u16::from_be_bytes(*b))
    }

    /// A 24-bit integer (TLS handshake lengths).
    pub fn u24(&mut self) -> Option<u32> {
        self.take_array::<3>()
            .map(|&[a, b, c]| u32::from_be_bytes([0, a, b, c]))
    }

    pub fn u32(&mut self) -> Option<u32> {
        self.take_array().map(|b| u32::from_be_bytes(*b))
    }

    pub fn u64(&mut self) -> Option<u64> {
        self.take_array().map(|b| u64::from_be_bytes(*b))
    }

    fn advance(&mut self, n: usize, rest: &'a [u8]) {
        self.rest = rest;
        self.used += n;
    }
}

#[cfg(test)]
mod tests {
    use super::Reader;

    #[test]
    fn reads_in_network_order_and_counts_the_offset() {
        let mut r = Reader::new(&[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
        assert_eq!(r.u8(), Some(1));
        assert_eq!(r.u16(), Some(0x0203));
        assert_eq!(r.u24(), Some(0x04_0506));
        assert_eq!(r.offset(), 6);
        assert_eq!(r.u32(), Some(0x0708_090a));
        assert!(!r.any_left());
    }

    #[test]
    fn a_short_read_consumes_nothing() {
        let mut r = Reader::new(&[1, 2, 3]);
        assert_eq!(r.u32(), None);
        assert_eq!(r.take(4), None);
        assert_eq!(r.sub(4).map(|s| s.left()), None);
        assert_eq!(r.left(), 3);
        assert_eq!(r.take_array::<3>(), Some(&[1, 2, 3]));
        assert_eq!(r.u8(), None);
    }

    #[test]
    fn a_sub_cursor_stops_at_its_length() {
        let mut r = Reader::new(&[9, 1, 2, 3]);
        r.skip(1).unwrap();
        let mut s = r.sub(2).unwrap();
        assert_eq!(s.offset(), 1);
        assert_eq!(s.u16(), Some(0x0102));
        assert_eq!(s.u8(), None);
        assert_eq!(r.peek_u8(), Some(3));
        assert_eq!(r.rest(), &[3]);
        assert_eq!(r.offset(), 4);
    }
}
