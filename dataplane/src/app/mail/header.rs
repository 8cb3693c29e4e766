//! The values of the message header fields a mail record carries: address
//! lists (RFC 5322 §3.4), RFC 2047 encoded-words, MIME parameters (RFC 2045
//! §5.1, RFC 2183). Pure functions over one unfolded value.

use super::charsets::{KOI8_R, WINDOWS_1251};
use crate::app::text::{FixedText, is_wsp, trim};

/// The addresses of an address list, without display names, comments or
/// group names, appended to `out` with `,` between them (after what `out`
/// holds already). Whole addresses only: false when one did not fit.
///
/// ```text
/// address-list = address *("," address)     address = mailbox / group
/// mailbox      = name-addr / addr-spec      name-addr = [display-name] "<" addr-spec ">"
/// group        = display-name ":" [mailbox-list] ";"
/// ```
pub fn addresses<const N: usize>(value: &[u8], out: &mut FixedText<N>) -> bool {
    let mut fits = true;
    let mut start = 0;
    let mut lex = Lexer::default();
    for (i, &b) in value.iter().enumerate() {
        if lex.top(b) && matches!(b, b',' | b';' | b':') {
            if b != b':' {
                fits &= push_address(value.get(start..i).unwrap_or(&[]), out);
            }
            // A group's name is no address: what follows its colon is.
            start = i + 1;
        }
    }
    fits & push_address(value.get(start..).unwrap_or(&[]), out)
}

/// Where a scan of an address list is: quoted strings, comments and angle
/// brackets hide the separators inside them.
#[derive(Default)]
struct Lexer {
    quoted: bool,
    escaped: bool,
    comment: u8,
    angle: bool,
}

impl Lexer {
    /// Reads `b`; whether it stands outside any quote, comment and brackets.
    fn top(&mut self, b: u8) -> bool {
        if self.escaped {
            self.escaped = false;
            return false;
        }
        match b {
            b'\\' if self.quoted || self.comment > 0 => self.escaped = true,
            b'"' if self.comment == 0 => self.quoted = !self.quoted,
            _ if self.quoted => {}
            b'(' => self.comment = self.comment.saturating_add(1),
            b')' if self.comment > 0 => self.comment -= 1,
            _ if self.comment > 0 => {}
            b'<' => self.angle = true,
            b'>' => self.angle = false,
            _ => return !self.angle,
        }
        false
    }
}

/// The addr-spec of one mailbox: inside its angle brackets, else the
/// mailbox without comments and white space; nothing for an empty one.
pub fn mailbox(m: &[u8]) -> &[u8] {
    let mut lex = Lexer::default();
    let mut open = None;
    let mut bare = (None, 0);
    for (i, &b) in m.iter().enumerate() {
        let was_top = lex.comment == 0 && !lex.quoted && !lex.angle;
        let top = lex.top(b);
        if was_top && b == b'<' {
            open = Some(i + 1);
        } else if b == b'>'
            && let Some(s) = open
        {
            let inner = trim(m.get(s..i).unwrap_or(&[]));
            // An obsolete route (`<@a,@b:x@y>`, RFC 5322 §4.4) is not the address.
            return match inner.iter().rposition(|&c| c == b':') {
                Some(c) if inner.first() == Some(&b'@') => inner.get(c + 1..).unwrap_or(&[]),
                _ => inner,
            };
        }
        if top && !is_wsp(b) && !matches!(b, b'\r' | b'\n') {
            bare = (bare.0.or(Some(i)), i + 1);
        }
    }
    match bare {
        (Some(s), e) => m.get(s..e).unwrap_or(&[]),
        (None, _) => &[],
    }
}

fn push_address<const N: usize>(m: &[u8], out: &mut FixedText<N>) -> bool {
    let a = mailbox(m);
    if a.is_empty() {
        return true;
    }
    let sep = usize::from(!out.is_empty());
    if out.room() < a.len() + sep {
        out.mark_truncated();
        return false;
    }
    if sep == 1 {
        out.push(b",");
    }
    out.push(a)
}

/// An unstructured value (Subject) with its RFC 2047 encoded-words decoded
/// to UTF-8, appended to `out`; the white space between two adjacent
/// encoded-words is dropped (§6.2). A word in a charset this does not know
/// stays as it was sent. False when something did not fit.
///
/// ```text
/// encoded-word = "=?" charset ["*" language] "?" ("B" / "Q") "?" encoded-text "?="
/// ```
pub fn decode_words<const N: usize>(value: &[u8], out: &mut FixedText<N>) -> bool {
    let mut fits = true;
    let mut rest = value;
    // White space held back until we know whether an encoded-word follows.
    let mut gap: &[u8] = &[];
    let mut after_word = false;
    while !rest.is_empty() {
        let ws = rest.iter().take_while(|&&b| is_lws(b)).count();
        let (space, tail) = rest.split_at(ws);
        let len = tail.iter().take_while(|&&b| !is_lws(b)).count();
        let (token, tail) = tail.split_at(len);
        rest = tail;
        gap = if gap.is_empty() { space } else { gap };
        if token.is_empty() {
            break;
        }
        match encoded_word(token) {
            Some(w) => {
                if !after_word {
                    fits &= out.push(gap);
                }
                fits &= w.decode_into(out);
                after_word = true;
            }
            None => {
                fits &= out.push(gap);
                fits &= out.push(token);
                after_word = false;
            }
        }
        gap = &[];
    }
    fits
}

/// The charsets an encoded-word's octets are converted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Charset {
    /// UTF-8 and its subset US-ASCII: copied.
    Utf8,
    /// ISO-8859-1: each octet is the code point.
    Latin1,
    Table(&'static [u16; 128]),
}

impl Charset {
    fn of(name: &[u8]) -> Option<Charset> {
        // RFC 2231 §5: a language may follow the charset after `*`.
        let name = name.split(|&b| b == b'*').next().unwrap_or(name);
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        Some(if is(b"utf-8") || is(b"us-ascii") || is(b"utf8") {
            Charset::Utf8
        } else if is(b"iso-8859-1") || is(b"latin1") {
            Charset::Latin1
        } else if is(b"windows-1251") || is(b"cp1251") {
            Charset::Table(&WINDOWS_1251)
        } else if is(b"koi8-r") {
            Charset::Table(&KOI8_R)
        } else {
            return None;
        })
    }
}

/// One encoded-word, split.
#[derive(Clone, Copy, Debug)]
struct Word<'a> {
    charset: Charset,
    base64: bool,
    text: &'a [u8],
}

/// `token` as an encoded-word in a known charset.
fn encoded_word(token: &[u8]) -> Option<Word<'_>> {
    let inner = token.strip_prefix(b"=?")?.strip_suffix(b"?=")?;
    let mut parts = inner.splitn(3, |&b| b == b'?');
    let (charset, enc, text) = (parts.next()?, parts.next()?, parts.next()?);
    let base64 = match enc {
        b"B" | b"b" => true,
        b"Q" | b"q" => false,
        _ => return None,
    };
    Some(Word {
        charset: Charset::of(charset)?,
        base64,
        text,
    })
}

impl Word<'_> {
    /// Appends the word's text as UTF-8; false when it did not all fit.
    fn decode_into<const N: usize>(&self, out: &mut FixedText<N>) -> bool {
        let mut fits = true;
        let mut put = |b: u8| fits &= self.put(b, out);
        if self.base64 {
            base64(self.text, &mut put);
        } else {
            q(self.text, &mut put);
        }
        fits
    }

    fn put<const N: usize>(&self, b: u8, out: &mut FixedText<N>) -> bool {
        let c = match self.charset {
            Charset::Utf8 => return out.push_whole(&[b]),
            _ if b < 0x80 => return out.push_whole(&[b]),
            Charset::Latin1 => char::from(b),
            Charset::Table(t) => t
                .get(usize::from(b - 0x80))
                .and_then(|&u| char::from_u32(u32::from(u)))
                .unwrap_or(char::REPLACEMENT_CHARACTER),
        };
        let mut utf8 = [0; 4];
        out.push_whole(c.encode_utf8(&mut utf8).as_bytes())
    }
}

/// RFC 2047 §4.1 "B": base64; padding and anything outside the alphabet ends
/// or is skipped.
fn base64(text: &[u8], put: &mut impl FnMut(u8)) {
    let mut acc = 0u32;
    let mut bits = 0;
    for &c in text {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => break,
            _ => continue,
        };
        acc = (acc << 6 | u32::from(v)) & 0xff_ffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            put((acc >> bits) as u8);
        }
    }
}

/// RFC 2047 §4.2 "Q": `_` is a space, `=XX` an octet in hex; a broken escape
/// is kept as it is.
fn q(text: &[u8], put: &mut impl FnMut(u8)) {
    let mut i = 0;
    while let Some(&c) = text.get(i) {
        let hex = |at: usize| text.get(at).and_then(|&h| char::from(h).to_digit(16));
        match (c, hex(i + 1), hex(i + 2)) {
            (b'_', _, _) => put(b' '),
            (b'=', Some(h), Some(l)) => {
                put((h << 4 | l) as u8);
                i += 2;
            }
            _ => put(c),
        }
        i += 1;
    }
}

/// The value of parameter `name` of a MIME header value (`type/sub; a=b;
/// c="d e"`), unquoted; `None` when absent. Names compare case-insensitively;
/// RFC 2231 continuations (`name*0=`) and extended values (`name*=`) count as
/// present with whatever their first piece holds.
pub fn param<'a>(value: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    // Quoted values may hold `;`: the list is walked, not split.
    let mut rest = value.get(value.iter().position(|&b| b == b';')? + 1..)?;
    loop {
        let (eq, _) = rest.iter().enumerate().find(|&(_, &b)| b == b'=')?;
        let key = trim_lws(rest.get(..eq)?);
        let after = trim_start_lws(rest.get(eq + 1..)?);
        let (val, next) = if let Some(q) = after.strip_prefix(b"\"") {
            let end = quoted_end(q);
            (q.get(..end)?, q.get(end + 1..).unwrap_or(&[]))
        } else {
            let end = after.iter().position(|&b| b == b';').unwrap_or(after.len());
            (trim_lws(after.get(..end)?), after.get(end..).unwrap_or(&[]))
        };
        let base = key.split(|&b| b == b'*').next().unwrap_or(key);
        if base.eq_ignore_ascii_case(name) {
            return Some(val);
        }
        let semi = next.iter().position(|&b| b == b';')?;
        rest = next.get(semi + 1..)?;
    }
}

/// Offset of the closing quote of a quoted string's content (its length
/// when unclosed).
fn quoted_end(q: &[u8]) -> usize {
    let mut escaped = false;
    for (i, &b) in q.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'"' => return i,
            _ => {}
        }
    }
    q.len()
}

fn is_lws(b: u8) -> bool {
    is_wsp(b) || b == b'\r' || b == b'\n'
}

fn trim_start_lws(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| is_lws(c)).count();
    b.get(n..).unwrap_or(&[])
}

fn trim_lws(b: &[u8]) -> &[u8] {
    let b = trim_start_lws(b);
    let end = b.iter().rposition(|&c| !is_lws(c)).map_or(0, |i| i + 1);
    b.get(..end).unwrap_or(&[])
}

/// The media type of a Content-Type value (`multipart/mixed` of
/// `multipart/mixed; boundary=x`), as sent.
pub fn media_type(value: &[u8]) -> &[u8] {
    let end = value.iter().position(|&b| b == b';').unwrap_or(value.len());
    trim_lws(value.get(..end).unwrap_or(&[]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[u8]) -> (String, bool) {
        let mut out = FixedText::<64>::new();
        let fits = addresses(v, &mut out);
        (String::from_utf8_lossy(out.as_bytes()).into_owned(), fits)
    }

    fn subject(v: &[u8]) -> String {
        let mut out = FixedText::<128>::new();
        assert!(decode_words(v, &mut out));
        String::from_utf8(out.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn address_lists_lose_names_comments_and_groups() {
        assert_eq!(list(b"a@b.c").0, "a@b.c");
        assert_eq!(
            list(b"\"Buchanan, Bill\" <B.Buchanan@napier.ac.uk>, DI <di@x.com>").0,
            "B.Buchanan@napier.ac.uk,di@x.com"
        );
        assert_eq!(
            list(b"\"digitalinvestigator@networksims.com\"\r\n\t<digitalinvestigator@networksims.com>").0,
            "digitalinvestigator@networksims.com"
        );
        assert_eq!(list(b"x@y (Mr. X, jr.), z@w").0, "x@y,z@w");
        assert_eq!(list(b"undisclosed-recipients:;").0, "");
        assert_eq!(list(b"team: a@b, c@d;, e@f").0, "a@b,c@d,e@f");
        assert_eq!(list(b"<@relay.x:u@v>").0, "u@v");
        assert_eq!(list(b" , ,").0, "");
    }

    #[test]
    fn an_address_that_does_not_fit_is_left_out_whole() {
        let v = b"aaaaaaaaaaaaaaaaaaaa@b, cccccccccccccccccccc@d, eeeeeeeeeeeeeeeeeeee@f";
        let (got, fits) = list(v);
        assert_eq!(got, "aaaaaaaaaaaaaaaaaaaa@b,cccccccccccccccccccc@d");
        assert!(!fits);
    }

    #[test]
    fn encoded_words_are_decoded_to_utf8() {
        assert_eq!(subject(b"plain text"), "plain text");
        assert_eq!(
            subject(b"=?UTF-8?B?0J/RgNC40LLQtdGC?= world"),
            "Привет world"
        );
        assert_eq!(subject(b"=?iso-8859-1?q?caf=E9_au_lait?="), "café au lait");
        // Adjacent words join without the (folded) white space between them.
        assert_eq!(
            subject(b"=?utf-8?Q?a?=\r\n =?utf-8?Q?b?= c =?utf-8?Q?d?="),
            "ab c d"
        );
        // A character split over two words (UTF-8 octets in each).
        assert_eq!(subject(b"=?UTF-8?B?0J/R?= =?UTF-8?B?gA==?="), "Пр");
        assert_eq!(subject(b"=?windows-1251?B?z/Do4uXy?="), "Привет");
        assert_eq!(subject(b"=?koi8-r?Q?=F0=D2=C9=D7=C5=D4?="), "Привет");
        assert_eq!(subject(b"=?utf-8*en?Q?hi?="), "hi");
        // Unknown charsets and broken words stay as sent.
        assert_eq!(subject(b"=?x-unknown?Q?a?= b"), "=?x-unknown?Q?a?= b");
        assert_eq!(subject(b"=?utf-8?X?a?="), "=?utf-8?X?a?=");
        assert_eq!(subject(b"=?utf-8?Q?=4?="), "=4");
    }

    #[test]
    fn mime_parameters_are_found_unquoted() {
        let ct = b"multipart/mixed;\r\n boundary=\"----=_Part_1; x\"; charset=utf-8";
        assert_eq!(param(ct, b"boundary"), Some(&b"----=_Part_1; x"[..]));
        assert_eq!(param(ct, b"CHARSET"), Some(&b"utf-8"[..]));
        assert_eq!(param(ct, b"name"), None);
        assert_eq!(
            param(b"attachment; filename*0=a.txt", b"filename"),
            Some(&b"a.txt"[..])
        );
        assert_eq!(param(b"text/plain", b"name"), None);
        assert_eq!(media_type(ct), b"multipart/mixed");
    }
}
