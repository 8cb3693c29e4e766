//! The grammar pieces the line-oriented text protocols share (SIP, FTP, SMTP,
//! POP3, IMAP): lines, a direction read line by line within a cap
//! ([`next_line`]), header fields with folding, literal prefixes that can say
//! "cut here", small lexical helpers, and a fixed-capacity copy of a value.
//!
//! # Contract
//!
//! * Everything reads `&[u8]` through the one cursor
//!   ([`metaprobe_ipfix::codec::Reader`]) or with checked slice accessors;
//!   nothing allocates, panics or reads past its input, whatever the bytes.
//! * A line ends at LF; a CR right before the LF is not part of it. CRLF is what
//!   the RFCs require; a bare LF is accepted because real stacks send it and
//!   every mature parser (tshark, Zeek, Suricata) accepts it too.
//! * Values are returned as sub-slices of the input. A folded header value
//!   (RFC 3261 §7.3.1, RFC 5322 §2.2.3) is returned raw — line breaks and the
//!   leading whitespace of the continuation lines included — with
//!   [`Value::folded`] set; [`Value::unfold`] writes the unfolded form into a
//!   caller's buffer when one is wanted.
//!
//! ```text
//! header-block = *( field-line ) CRLF
//! field-line   = field-name *WSP ":" field-value CRLF *( WSP continuation CRLF )
//! ```

use metaprobe_ipfix::codec::Reader;

use super::Outcome;
use super::http::utf8_prefix;

/// What a streaming call over one direction of a connection made of the
/// octets it was given: how many of them it is done with (the caller drops
/// them and starts the next call after them, whatever the outcome) and the
/// outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<T, R> {
    pub consumed: usize,
    pub outcome: Outcome<T, R>,
}

impl<T, R> Step<T, R> {
    pub const fn new(consumed: usize, outcome: Outcome<T, R>) -> Self {
        Step { consumed, outcome }
    }
}

/// SP or HTAB (RFC 5234 `WSP`).
pub const fn is_wsp(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// WSP, CR or LF: the linear white space of a folded value.
const fn is_lws(b: u8) -> bool {
    is_wsp(b) || b == b'\r' || b == b'\n'
}

/// `line` without one CR at its end.
pub fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The next line of `r` (see the module contract), or `None` — nothing
/// consumed — when no LF is left.
pub fn take_line<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let n = find_lf(r.peek_rest())?;
    let line = r.take(n)?;
    r.skip(1)?;
    Some(strip_cr(line))
}

/// Where a direction's line reader is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Lines {
    #[default]
    Start,
    /// Inside a line longer than the cap: octets are dropped up to its LF.
    Skip,
}

/// A line of `r` longer than the caller can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong;

/// The next whole line of a direction (without its line break): `Ok(None)`
/// when none is whole yet (the cursor stays before the partial line), `Err`
/// when a line does not end within `cap` octets (they are consumed, and the
/// rest of the line later).
pub fn next_line<'a>(
    r: &mut Reader<'a>,
    lines: &mut Lines,
    cap: usize,
) -> Result<Option<&'a [u8]>, TooLong> {
    if *lines == Lines::Skip {
        if take_line(r).is_none() {
            r.rest();
            return Ok(None);
        }
        *lines = Lines::Start;
    }
    if let Some(line) = take_line(r) {
        return Ok(Some(line));
    }
    if r.left() >= cap {
        r.rest();
        *lines = Lines::Skip;
        return Err(TooLong);
    }
    Ok(None)
}

/// Offset of the first LF in `b`, eight octets at a time (SWAR: a word whose
/// octets are `b ^ 0x0a..` has a zero octet where `b` has an LF; the classic
/// `(w - 0x01..) & !w & 0x80..` test flags it, and the lowest flag is exact).
pub fn find_lf(b: &[u8]) -> Option<usize> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const LFS: u64 = ONES * b'\n' as u64;
    let (words, tail) = b.as_chunks::<8>();
    for (i, word) in words.iter().enumerate() {
        let w = u64::from_le_bytes(*word) ^ LFS;
        let found = w.wrapping_sub(ONES) & !w & HIGHS;
        if found != 0 {
            return Some(i * 8 + (found.trailing_zeros() / 8) as usize);
        }
    }
    let at = words.len() * 8;
    tail.iter().position(|&c| c == b'\n').map(|i| at + i)
}

/// `b` without leading and trailing SP/HTAB.
pub fn trim(b: &[u8]) -> &[u8] {
    trim_by(b, is_wsp)
}

/// `b` without leading and trailing SP/HTAB/CR/LF (a folded value's ends).
fn trim_lws(b: &[u8]) -> &[u8] {
    trim_by(b, is_lws)
}

fn trim_by(b: &[u8], strip: fn(u8) -> bool) -> &[u8] {
    let start = b.iter().position(|&c| !strip(c)).unwrap_or(b.len());
    let end = b.iter().rposition(|&c| !strip(c)).map_or(start, |i| i + 1);
    b.get(start..end).unwrap_or(&[])
}

/// `b` split at the first `sep`: the octets before it and after it.
pub fn split_once(b: &[u8], sep: u8) -> Option<(&[u8], &[u8])> {
    let i = b.iter().position(|&c| c == sep)?;
    Some((b.get(..i)?, b.get(i + 1..)?))
}

/// A decimal number of 1 to 19 digits and nothing else (no sign, no space).
pub fn decimal(b: &[u8]) -> Option<u64> {
    if b.is_empty() || b.len() > 19 {
        return None;
    }
    b.iter().try_fold(0u64, |n, &d| {
        d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0'))
    })
}

/// Whether `hay` contains `needle`, ASCII case-insensitively.
pub fn contains_ignore_case(hay: &[u8], needle: &[u8]) -> bool {
    needle.is_empty()
        || hay
            .windows(needle.len())
            .any(|w| w.eq_ignore_ascii_case(needle))
}

/// How the start of some octets compares with a literal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix<'a> {
    /// The octets start with the literal: what follows it.
    Matched(&'a [u8]),
    /// The octets end before the literal does, and agree with it so far.
    Partial,
    /// The octets and the literal differ.
    Differs,
}

/// Compares the start of `b` with `lit`, ASCII case-insensitively: the tool of
/// a detection signature that must answer "incomplete" for a cut prefix.
pub fn literal<'a>(b: &'a [u8], lit: &[u8]) -> Prefix<'a> {
    match b.split_at_checked(lit.len()) {
        Some((head, rest)) if head.eq_ignore_ascii_case(lit) => Prefix::Matched(rest),
        Some(_) => Prefix::Differs,
        None => match lit.get(..b.len()) {
            Some(start) if start.eq_ignore_ascii_case(b) => Prefix::Partial,
            _ => Prefix::Differs,
        },
    }
}

/// A header field value: the octets from the first non-white-space one after
/// the colon to the last one of the field's last line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Value<'a> {
    /// The value as on the wire; when `folded`, with the line breaks and the
    /// continuation lines' leading white space.
    pub raw: &'a [u8],
    /// The value spans continuation lines.
    pub folded: bool,
}

impl<'a> Value<'a> {
    /// An absent or empty value.
    pub const EMPTY: Value<'static> = Value {
        raw: b"",
        folded: false,
    };

    /// The value with every line break and the white space after it replaced
    /// by one SP (RFC 3261 §7.3.1: "treated as a single SP character"):
    /// `raw` itself when not folded, else written into `out`. The flag says
    /// whether the value was cut to fit `out` (on a UTF-8 boundary).
    pub fn unfold<'o>(&self, out: &'o mut [u8]) -> (&'o [u8], bool)
    where
        'a: 'o,
    {
        if !self.folded {
            return (self.raw, false);
        }
        let mut w = Writer { out, len: 0 };
        let mut r = Reader::new(self.raw);
        let mut fits = true;
        while fits && r.any_left() {
            match take_line(&mut r) {
                Some(line) => {
                    fits = w.push(line);
                    let rest = r.peek_rest();
                    let ws = rest.iter().take_while(|&&b| is_wsp(b)).count();
                    r.skip(ws);
                    if fits && r.any_left() {
                        fits = w.push(b" ");
                    }
                }
                None => fits = w.push(r.rest()),
            }
        }
        let len = w.len;
        (utf8_cut(w.out, len, !fits), !fits)
    }
}

/// Writes into a caller's buffer, cutting what does not fit.
struct Writer<'o> {
    out: &'o mut [u8],
    len: usize,
}

impl Writer<'_> {
    /// False when `b` did not fit whole (what fits is written).
    fn push(&mut self, b: &[u8]) -> bool {
        let room = self.out.len() - self.len;
        let n = b.len().min(room);
        if let (Some(dst), Some(src)) = (self.out.get_mut(self.len..self.len + n), b.get(..n)) {
            dst.copy_from_slice(src);
            self.len += n;
        }
        n == b.len()
    }
}

/// The first `len` octets of `out`, shortened to a UTF-8 boundary when `cut`.
fn utf8_cut(out: &[u8], len: usize, cut: bool) -> &[u8] {
    let written = out.get(..len).unwrap_or(&[]);
    if cut { utf8_prefix(written) } else { written }
}

/// One header field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as sent (compare case-insensitively).
    pub name: &'a [u8],
    pub value: Value<'a>,
}

/// The header fields of a header block, in order. The block ends at an empty
/// line or at the end of the octets (a datagram whose head is not closed);
/// a last line without LF counts as a line.
///
/// A line that is neither a field (`name:` with a name of visible ASCII
/// octets other than colon) nor a continuation of one is skipped and counted
/// ([`Fields::broken`]).
#[derive(Clone, Debug)]
pub struct Fields<'a> {
    block: &'a [u8],
    r: Reader<'a>,
    broken: usize,
    closed: bool,
}

impl<'a> Fields<'a> {
    pub fn new(block: &'a [u8]) -> Self {
        Fields {
            block,
            r: Reader::new(block),
            broken: 0,
            closed: false,
        }
    }

    /// Lines skipped so far because they were not fields.
    pub fn broken(&self) -> usize {
        self.broken
    }

    /// The empty line that ends the block was reached.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Octets of the block read so far (after the walk: through the empty
    /// line when [`Fields::is_closed`]).
    pub fn offset(&self) -> usize {
        self.r.offset()
    }

    /// The octets after what was read so far.
    pub fn rest(&self) -> &'a [u8] {
        self.r.peek_rest()
    }

    /// The next line, a last one without LF included; its end offset
    /// (without the line break).
    fn line(&mut self) -> Option<(&'a [u8], usize)> {
        if !self.r.any_left() {
            return None;
        }
        match take_line(&mut self.r) {
            Some(line) => {
                let end = self.r.offset() - 1 - usize::from(self.ends_with_crlf());
                Some((line, end))
            }
            None => {
                let line = self.r.rest();
                Some((line, self.r.offset()))
            }
        }
    }

    /// Whether the line just taken ended with CRLF (rather than a bare LF).
    fn ends_with_crlf(&self) -> bool {
        let at = self.r.offset();
        at >= 2 && self.block.get(at - 2) == Some(&b'\r')
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = Field<'a>;

    fn next(&mut self) -> Option<Field<'a>> {
        loop {
            let start = self.r.offset();
            if self.closed {
                return None;
            }
            let (line, mut end) = self.line()?;
            if line.is_empty() {
                self.closed = true;
                return None;
            }
            // Continuation lines belong to this field.
            let mut continued = false;
            while self.r.peek_u8().is_some_and(is_wsp) {
                let (_, cont_end) = self.line()?;
                end = cont_end;
                continued = true;
            }
            let Some(colon) = line.iter().position(|&b| b == b':') else {
                self.broken += 1;
                continue;
            };
            let name = trim(line.get(..colon).unwrap_or(&[]));
            let name_ok = !name.is_empty()
                && !line.first().copied().is_some_and(is_wsp)
                && name.iter().all(|&b| b.is_ascii_graphic());
            if !name_ok {
                self.broken += 1;
                continue;
            }
            // The value: from after the colon to the end of the last line.
            let Some(raw) = self.block.get(start + colon + 1..end) else {
                self.broken += 1;
                continue;
            };
            let raw = trim_lws(raw);
            return Some(Field {
                name,
                value: Value {
                    raw,
                    folded: continued && raw.contains(&b'\n'),
                },
            });
        }
    }
}

/// A copy of a value in a fixed array of `N` octets (`N` ≤ 65535): for state
/// that must outlive the bytes it was read from. What does not fit is cut on
/// a UTF-8 boundary and the copy says so.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct FixedText<const N: usize> {
    buf: [u8; N],
    len: u16,
    truncated: bool,
}

impl<const N: usize> FixedText<N> {
    const CAP_FITS_LEN: () = assert!(
        N <= u16::MAX as usize,
        "FixedText holds at most 65535 octets"
    );

    pub const fn new() -> Self {
        let () = Self::CAP_FITS_LEN;
        FixedText {
            buf: [0; N],
            len: 0,
            truncated: false,
        }
    }

    // len <= N: `append` is the only writer and never goes past N.
    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..usize::from(self.len)]
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Something was left out.
    pub fn is_truncated(&self) -> bool {
        self.truncated
    }

    /// Octets that still fit.
    pub fn room(&self) -> usize {
        N - usize::from(self.len)
    }

    /// Marks the copy as missing something (a part the caller left out).
    pub fn mark_truncated(&mut self) {
        self.truncated = true;
    }

    pub fn clear(&mut self) {
        self.len = 0;
        self.truncated = false;
    }

    /// Replaces the copy with `b` (cut to fit).
    pub fn set(&mut self, b: &[u8]) {
        self.clear();
        self.push(b);
    }

    /// Appends `b`, or as much of it as fits (cut on a UTF-8 boundary); false
    /// when something was left out.
    pub fn push(&mut self, b: &[u8]) -> bool {
        let fits = b.len() <= self.room();
        let part = if fits {
            b
        } else {
            utf8_prefix(b.get(..self.room()).unwrap_or(&[]))
        };
        self.append(part);
        self.truncated |= !fits;
        fits
    }

    /// Appends `b` only if it fits whole; false (and nothing appended, the
    /// copy marked truncated) otherwise.
    pub fn push_whole(&mut self, b: &[u8]) -> bool {
        let fits = b.len() <= self.room();
        if fits {
            self.append(b);
        } else {
            self.truncated = true;
        }
        fits
    }

    // Callers pass at most room() octets, so len + b.len() <= N.
    fn append(&mut self, b: &[u8]) {
        let at = usize::from(self.len);
        self.buf[at..at + b.len()].copy_from_slice(b);
        // len + b.len() <= N <= u16::MAX (CAP_FITS_LEN).
        self.len = u16::try_from(at + b.len()).unwrap_or(u16::MAX);
    }
}

impl<const N: usize> Default for FixedText<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> core::fmt::Debug for FixedText<N> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:?}", self.as_bytes().utf8_chunks().collect::<Vec<_>>())?;
        if self.truncated {
            write!(f, " (truncated)")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_line_is_skipped_to_its_end() {
        let mut lines = Lines::Start;
        let mut r = Reader::new(b"0123456789");
        assert_eq!(next_line(&mut r, &mut lines, 8), Err(TooLong));
        let mut r = Reader::new(b"abc\r\nnext\r\n");
        assert_eq!(next_line(&mut r, &mut lines, 8), Ok(Some(&b"next"[..])));
        let mut r = Reader::new(b"par");
        assert_eq!(next_line(&mut r, &mut lines, 8), Ok(None));
        assert_eq!(r.offset(), 0);
    }

    /// Name, raw value, folded.
    type Seen<'a> = (&'a [u8], &'a [u8], bool);

    fn fields(block: &[u8]) -> (Vec<Seen<'_>>, usize) {
        let mut f = Fields::new(block);
        let all = f
            .by_ref()
            .map(|x| (x.name, x.value.raw, x.value.folded))
            .collect();
        (all, f.broken())
    }

    #[test]
    fn lines_end_at_lf_with_or_without_cr() {
        let mut r = Reader::new(b"a\r\nb\nc\r");
        assert_eq!(take_line(&mut r), Some(&b"a"[..]));
        assert_eq!(take_line(&mut r), Some(&b"b"[..]));
        assert_eq!(take_line(&mut r), None);
        assert_eq!(r.rest(), b"c\r");
    }

    #[test]
    fn lf_is_found_at_every_position() {
        for len in 0..40 {
            let mut b = vec![b'a'; len];
            assert_eq!(find_lf(&b), None);
            for at in 0..len {
                b[at] = b'\n';
                assert_eq!(find_lf(&b), Some(at), "{len} {at}");
                // A second LF later does not matter; octets around 0x0a and
                // 0x8a do not look like one.
                if at + 1 < len {
                    b[at + 1] = b'\n';
                    assert_eq!(find_lf(&b), Some(at));
                }
                b.fill(b'a');
            }
            let near: Vec<u8> = (0..len).map(|i| [0x0b, 0x09, 0x8a, 0x00][i % 4]).collect();
            assert_eq!(find_lf(&near), None, "{len}");
        }
    }

    #[test]
    fn fields_are_split_trimmed_and_folded() {
        let block = b"From:  <sip:a@b>;tag=1 \r\nSubject: one\r\n two\r\n\tthree\r\nbroken line\r\n  orphan?\r\nx-empty:\r\nLast: v\r\n\r\nnot: a field";
        let (all, broken) = fields(block);
        assert_eq!(
            all,
            vec![
                (&b"From"[..], &b"<sip:a@b>;tag=1"[..], false),
                (b"Subject", b"one\r\n two\r\n\tthree", true),
                (b"x-empty", b"", false),
                (b"Last", b"v", false),
            ]
        );
        // "broken line" and its continuation are one broken field line.
        assert_eq!(broken, 1);
    }

    #[test]
    fn a_block_without_its_empty_line_ends_with_the_octets() {
        let (all, _) = fields(b"A: 1\r\nB: 2");
        assert_eq!(
            all,
            vec![(&b"A"[..], &b"1"[..], false), (b"B", b"2", false)]
        );
        let (all, _) = fields(b"A: 1\r\n  more");
        assert_eq!(all, vec![(&b"A"[..], &b"1\r\n  more"[..], true)]);
        let (all, broken) = fields(b" : x\r\n:y\r\nna me: z\r\nok : w\r\n");
        assert_eq!((all, broken), (vec![(&b"ok"[..], &b"w"[..], false)], 3));
    }

    #[test]
    fn bare_lf_lines_keep_their_last_octet() {
        let (all, _) = fields(b"A: 1\nB: 22\n\n");
        assert_eq!(
            all,
            vec![(&b"A"[..], &b"1"[..], false), (b"B", b"22", false)]
        );
    }

    #[test]
    fn unfolding_replaces_each_break_by_one_space() {
        let v = Value {
            raw: b"\"Alice\"\r\n <sip:alice@example.com>\r\n\t ;tag=1",
            folded: true,
        };
        let mut out = [0u8; 64];
        assert_eq!(
            v.unfold(&mut out),
            (&b"\"Alice\" <sip:alice@example.com> ;tag=1"[..], false)
        );
        let mut small = [0u8; 10];
        assert_eq!(v.unfold(&mut small), (&b"\"Alice\" <s"[..], true));
        let plain = Value {
            raw: b"x",
            folded: false,
        };
        assert_eq!(plain.unfold(&mut small), (&b"x"[..], false));
        // A cut inside a UTF-8 sequence drops the partial character.
        let v = Value {
            raw: "ab\r\n c\u{e9}".as_bytes(),
            folded: true,
        };
        let mut five = [0u8; 5];
        assert_eq!(v.unfold(&mut five), (&b"ab c"[..], true));
    }

    #[test]
    fn literals_tell_cut_from_different() {
        assert_eq!(
            literal(b"sip/2.0 200", b"SIP/2.0"),
            Prefix::Matched(b" 200")
        );
        assert_eq!(literal(b"SI", b"SIP/2.0"), Prefix::Partial);
        assert_eq!(literal(b"", b"SIP/2.0"), Prefix::Partial);
        assert_eq!(literal(b"SIX", b"SIP/2.0"), Prefix::Differs);
        assert_eq!(literal(b"HTTP/1.1", b"SIP/2.0"), Prefix::Differs);
    }

    #[test]
    fn lexical_helpers() {
        assert_eq!(trim(b" \t a b \t"), b"a b");
        assert_eq!(trim(b"  "), b"");
        assert_eq!(split_once(b"a:b:c", b':'), Some((&b"a"[..], &b"b:c"[..])));
        assert_eq!(split_once(b"abc", b':'), None);
        assert_eq!(decimal(b"0042"), Some(42));
        assert_eq!(
            decimal(b"9999999999999999999"),
            Some(9_999_999_999_999_999_999)
        );
        assert_eq!(decimal(b"99999999999999999999"), None);
        assert_eq!(decimal(b""), None);
        assert_eq!(decimal(b"1 "), None);
        assert_eq!(decimal(b"-1"), None);
        assert!(contains_ignore_case(b"220 mail ESMTP ready", b"smtp"));
        assert!(!contains_ignore_case(b"220 ftp", b"smtp"));
    }

    #[test]
    fn fixed_text_cuts_on_a_character_boundary_and_says_so() {
        let mut t = FixedText::<4>::new();
        assert!(t.push(b"ab"));
        assert!(!t.push("c\u{e9}".as_bytes()));
        assert_eq!((t.as_bytes(), t.is_truncated()), (&b"abc"[..], true));
        t.set(b"wxyz");
        assert_eq!(
            (t.as_bytes(), t.is_truncated(), t.room()),
            (&b"wxyz"[..], false, 0)
        );
        t.clear();
        assert!(t.push_whole(b"abc"));
        assert!(!t.push_whole(b"de"));
        assert_eq!((t.as_bytes(), t.is_truncated()), (&b"abc"[..], true));
        assert!(FixedText::<0>::new().push(b""));
    }
}
