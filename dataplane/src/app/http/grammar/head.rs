//! Message heads: `httparse` first, the lax reader for what it refuses, and the
//! fields of the records read from the header lines.

use super::*;

/// A head read from the start of some bytes: the message, the headers that
/// frame its body, its length, whether it was cut at the cap.
pub(super) enum HeadRead<'a, T> {
    Done((T, Seen<'a>, usize, bool)),
    Incomplete,
    NotHttp,
}

/// Content-Length as seen over every header that carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Length {
    #[default]
    Absent,
    Value(u64),
    /// Not a number, or two different numbers.
    Invalid,
}

impl Length {
    pub(super) fn value(self) -> u64 {
        match self {
            Length::Value(n) => n,
            _ => 0,
        }
    }
}

/// The last transfer coding named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) enum Coding {
    #[default]
    Absent,
    Chunked,
    Other,
}

/// The headers either kind of message cares about (the first of each).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Seen<'a> {
    host: &'a [u8],
    referer: &'a [u8],
    user_agent: &'a [u8],
    cookie: Cookies<'a>,
    /// More Cookie lines than [`COOKIE_LINES`].
    cookies_cut: bool,
    content_type: &'a [u8],
    location: &'a [u8],
    pub(super) length: Length,
    pub(super) coding: Coding,
}

impl<'a> Seen<'a> {
    /// The fields of the headers `httparse` read.
    fn of<'h>(headers: impl Iterator<Item = &'h httparse::Header<'a>>) -> Seen<'a>
    where
        'a: 'h,
    {
        let mut seen = Seen::default();
        for h in headers {
            seen.header(h.name.as_bytes(), h.value);
        }
        seen
    }

    fn header(&mut self, name: &[u8], value: &'a [u8]) {
        let value = trim(value);
        let slot = match name.len() {
            4 if name.eq_ignore_ascii_case(b"host") => &mut self.host,
            6 if name.eq_ignore_ascii_case(b"cookie") => {
                if !value.is_empty() && !self.cookie.push(value) {
                    self.cookies_cut = true;
                }
                return;
            }
            7 if name.eq_ignore_ascii_case(b"referer") => &mut self.referer,
            8 if name.eq_ignore_ascii_case(b"location") => &mut self.location,
            10 if name.eq_ignore_ascii_case(b"user-agent") => &mut self.user_agent,
            12 if name.eq_ignore_ascii_case(b"content-type") => &mut self.content_type,
            14 if name.eq_ignore_ascii_case(b"content-length") => {
                self.length = match (self.length, content_length(value)) {
                    (_, None) | (Length::Invalid, _) => Length::Invalid,
                    (Length::Value(a), Some(b)) if a != b => Length::Invalid,
                    (_, Some(n)) => Length::Value(n),
                };
                return;
            }
            17 if name.eq_ignore_ascii_case(b"transfer-encoding") => {
                let last = value.rsplit(|&b| b == b',').next().map(trim);
                match last {
                    Some(c) if c.eq_ignore_ascii_case(b"chunked") => self.coding = Coding::Chunked,
                    Some([]) | None => {}
                    Some(_) => self.coding = Coding::Other,
                }
                return;
            }
            _ => return,
        };
        if slot.is_empty() {
            *slot = value;
        }
    }
}

/// `1*DIGIT`, or a list of equal ones (RFC 9110 §8.6); at most 19 digits.
fn content_length(value: &[u8]) -> Option<u64> {
    let mut out = None;
    for part in value.split(|&b| b == b',').map(trim) {
        if part.is_empty() || part.len() > 19 || !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        let n = part.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        })?;
        if out.is_some_and(|o| o != n) {
            return None;
        }
        out = Some(n);
    }
    out
}

fn request_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_multiple_spaces_in_request_line_delimiters(true)
        .ignore_invalid_headers_in_requests(true);
    c
}

fn reply_config() -> httparse::ParserConfig {
    let mut c = httparse::ParserConfig::default();
    c.allow_multiple_spaces_in_response_status_delimiters(true)
        .allow_spaces_after_header_name_in_responses(true)
        .allow_obsolete_multiline_headers_in_responses(true)
        .ignore_invalid_headers_in_responses(true);
    c
}

/// What `httparse` made of a head.
enum Strict<'a, T> {
    /// The whole head: its length and the message built from it.
    Complete(usize, (T, Seen<'a>)),
    Partial,
    /// A byte it refuses; `line_read`: the start line was read before it.
    Refused {
        line_read: bool,
    },
}

/// A request head at the start of `window`; `at_cap`: no more bytes can come.
pub(super) fn read_request(window: &[u8], at_cap: bool) -> HeadRead<'_, Request<'_>> {
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut []);
    let strict =
        match request_config().parse_request_with_uninit_headers(&mut req, window, &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                let seen = Seen::of(req.headers.iter());
                let line = RequestLine {
                    start: empty_lines(window),
                    method: req.method.unwrap_or_default().as_bytes(),
                    target: req.path.unwrap_or_default().as_bytes(),
                    version: req.version,
                };
                Strict::Complete(len, (line.request(&seen, Flags::NONE), seen))
            }
            Ok(httparse::Status::Partial) => Strict::Partial,
            Err(_) => Strict::Refused {
                line_read: req.method.is_some(),
            },
        };
    read_head(window, at_cap, strict, lax_request)
}

/// A reply head at the start of `window`; `at_cap`: no more bytes can come.
pub(super) fn read_reply(window: &[u8], at_cap: bool) -> HeadRead<'_, Reply<'_>> {
    let mut headers = [const { MaybeUninit::uninit() }; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut []);
    let strict =
        match reply_config().parse_response_with_uninit_headers(&mut resp, window, &mut headers) {
            Ok(httparse::Status::Complete(len)) => {
                let seen = Seen::of(resp.headers.iter());
                let start = empty_lines(window);
                let reply = make_reply(
                    start,
                    resp.code.unwrap_or(0),
                    resp.version,
                    &seen,
                    Flags::NONE,
                );
                Strict::Complete(len, (reply, seen))
            }
            Ok(httparse::Status::Partial) => Strict::Partial,
            Err(_) => Strict::Refused {
                line_read: resp.code.is_some(),
            },
        };
    read_head(window, at_cap, strict, lax_reply)
}

/// `httparse` first; the lax reader (see [`lax_request`]) for what it cannot
/// give: a head cut by the cap, and a head with a byte it refuses after a good
/// start line.
fn read_head<'a, T>(
    window: &'a [u8],
    at_cap: bool,
    strict: Strict<'a, T>,
    lax: fn(&'a [u8], bool, Flags) -> HeadRead<'a, T>,
) -> HeadRead<'a, T> {
    match strict {
        Strict::Complete(len, (message, seen)) => HeadRead::Done((message, seen, len, false)),
        Strict::Partial if !at_cap => HeadRead::Incomplete,
        Strict::Partial => lax(window, true, Flags::NONE),
        Strict::Refused { line_read: false } => HeadRead::NotHttp,
        Strict::Refused { line_read: true } => match head_end(window) {
            Some(len) => lax(window.get(..len).unwrap_or(window), false, Flags::LAX),
            None if at_cap => lax(window, true, Flags::LAX),
            // A first line that is complete and wrong is not HTTP.
            None => match lax(window, false, Flags::LAX) {
                HeadRead::NotHttp => HeadRead::NotHttp,
                HeadRead::Done(_) | HeadRead::Incomplete => HeadRead::Incomplete,
            },
        },
    }
}

struct RequestLine<'a> {
    start: usize,
    method: &'a [u8],
    target: &'a [u8],
    version: Option<u8>,
}

impl<'a> RequestLine<'a> {
    fn request(&self, seen: &Seen<'a>, flags: Flags) -> Request<'a> {
        let method = Method::from_token(self.method);
        let (host, path) = match absolute_form(self.target) {
            Some((authority, path)) => (authority, path),
            None if method == Method::Connect && seen.host.is_empty() => (self.target, self.target),
            None => (seen.host, self.target),
        };
        Request {
            start: self.start,
            method,
            method_token: self.method,
            target: self.target,
            host,
            path,
            referer: seen.referer,
            user_agent: seen.user_agent,
            cookie: seen.cookie,
            version: self.version,
            flags: if seen.cookies_cut {
                flags.with(Flags::TRUNCATED)
            } else {
                flags
            },
        }
    }
}

fn make_reply<'a>(
    start: usize,
    status: u16,
    version: Option<u8>,
    seen: &Seen<'a>,
    flags: Flags,
) -> Reply<'a> {
    Reply {
        start,
        status,
        version,
        content_length: seen.length.value(),
        content_type: seen.content_type,
        location: seen.location,
        request: None,
        flags,
    }
}

/// `scheme "://" authority [ path-abempty [ "?" query ] ]` (RFC 9112 §3.2.2):
/// the authority without userinfo, and the path and query (`/` when empty).
fn absolute_form(target: &[u8]) -> Option<(&[u8], &[u8])> {
    let sep = target.windows(3).take(17).position(|w| w == b"://")?;
    let (scheme, rest) = target.split_at(sep);
    let scheme_ok = scheme.first().is_some_and(u8::is_ascii_alphabetic)
        && scheme
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'));
    if !scheme_ok {
        return None;
    }
    let rest = rest.get(3..)?;
    let end = rest
        .iter()
        .position(|&b| matches!(b, b'/' | b'?' | b'#'))
        .unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let authority = match authority.iter().rposition(|&b| b == b'@') {
        Some(i) => authority.get(i + 1..).unwrap_or(&[]),
        None => authority,
    };
    let path = match path.first() {
        None | Some(b'#') => b"/",
        Some(_) => path,
    };
    Some((authority, path))
}

/// The lax head reader: the request line by hand, then every `name: value`
/// line; lines without a colon and folded lines are skipped. `truncated`: the
/// head was cut at the end of `head` — the last value is cut to a UTF-8
/// boundary and the message flagged.
///
/// Why a second reader beside `httparse`: a probe must export what a browser
/// or server accepted, and `httparse` (rightly, for a server) refuses heads
/// that real clients send and real servers answer — more than
/// [`MAX_HEADERS`] lines, obs-fold continuation lines, bytes outside its
/// token and field-value sets (raw UTF-8 or control octets in a value, spaces
/// before the colon) — and it cannot read a head that is cut by the
/// reassembly cap. For those it reads the start line by hand (method a token,
/// target, `HTTP/1.x`) and takes each `name: value` line it can; anything
/// else still answers `NotHttp`. Such messages carry [`Flags::LAX`].
fn lax_request(head: &[u8], truncated: bool, flags: Flags) -> HeadRead<'_, Request<'_>> {
    let start = empty_lines(head);
    let body = head.get(start..).unwrap_or(&[]);
    let (line, rest, complete) = split_line(body);
    // A CR is allowed only before the LF that ends the line.
    let Some(sp) = line
        .iter()
        .position(|&b| b == b' ')
        .filter(|_| !line.contains(&b'\r'))
    else {
        return HeadRead::NotHttp;
    };
    let (method, after) = line.split_at(sp);
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) {
        return HeadRead::NotHttp;
    }
    let after = trim_start(after);
    let t_end = after.iter().position(|&b| b == b' ').unwrap_or(after.len());
    let (target, version) = after.split_at(t_end);
    let version = http1_version(trim(version));
    let target = match (complete, version) {
        (true, None) => return HeadRead::NotHttp,
        (false, None) => utf8_prefix(target),
        (_, Some(_)) => target,
    };
    if target.is_empty() {
        return HeadRead::NotHttp;
    }
    let mut seen = Seen::default();
    if complete {
        lax_headers(rest, &mut seen);
    }
    let flags = if truncated {
        flags.with(Flags::TRUNCATED)
    } else {
        flags
    };
    let line = RequestLine {
        start,
        method,
        target,
        version,
    };
    HeadRead::Done((line.request(&seen, flags), seen, head.len(), truncated))
}

/// The lax reader for replies (see [`lax_request`]).
fn lax_reply(head: &[u8], truncated: bool, flags: Flags) -> HeadRead<'_, Reply<'_>> {
    let start = empty_lines(head);
    let body = head.get(start..).unwrap_or(&[]);
    let (line, rest, complete) = split_line(body);
    let Some((version, after)) = line.split_at_checked(8).filter(|_| !line.contains(&b'\r')) else {
        return HeadRead::NotHttp;
    };
    let code = trim_start(after)
        .get(..3)
        .filter(|c| c.iter().all(u8::is_ascii_digit));
    let (Some(version), Some(code)) = (http1_version(version), code) else {
        return HeadRead::NotHttp;
    };
    let status = code.iter().fold(0u16, |n, &d| n * 10 + u16::from(d - b'0'));
    let mut seen = Seen::default();
    if complete {
        lax_headers(rest, &mut seen);
    }
    let flags = if truncated {
        flags.with(Flags::TRUNCATED)
    } else {
        flags
    };
    let reply = make_reply(start, status, Some(version), &seen, flags);
    HeadRead::Done((reply, seen, head.len(), truncated))
}

/// Header lines up to the empty line or the end of `rest`; an unterminated last
/// line's value is cut to a UTF-8 boundary.
fn lax_headers<'a>(mut rest: &'a [u8], seen: &mut Seen<'a>) {
    while !rest.is_empty() {
        let (line, next, complete) = split_line(rest);
        if line.is_empty() && complete {
            return;
        }
        let folded = line.first().is_some_and(|&b| b == b' ' || b == b'\t');
        if let (false, Some(colon)) = (folded, line.iter().position(|&b| b == b':')) {
            let (name, value) = line.split_at(colon);
            let value = value.get(1..).unwrap_or(&[]);
            let value = if complete { value } else { utf8_prefix(value) };
            seen.header(trim(name), value);
        }
        rest = next;
    }
}

/// `HTTP/1.0` → 0, `HTTP/1.1` → 1.
fn http1_version(v: &[u8]) -> Option<u8> {
    match v {
        b"HTTP/1.0" => Some(0),
        b"HTTP/1.1" => Some(1),
        _ => None,
    }
}

/// Length of the head at the start of `window` up to and including the empty
/// line that ends it (LF LF or LF CR LF), leading empty lines included.
fn head_end(window: &[u8]) -> Option<usize> {
    let start = empty_lines(window);
    let body = window.get(start..)?;
    body.iter().enumerate().find_map(|(i, &b)| {
        if b != b'\n' {
            return None;
        }
        match (body.get(i + 1), body.get(i + 2)) {
            (Some(b'\n'), _) => Some(start + i + 2),
            (Some(b'\r'), Some(b'\n')) => Some(start + i + 3),
            _ => None,
        }
    })
}

/// Octets of the empty lines (CRLF or LF) before a message, as httparse skips them.
fn empty_lines(b: &[u8]) -> usize {
    let mut i = 0;
    loop {
        match b.get(i..) {
            Some([b'\r', b'\n', ..]) => i += 2,
            Some([b'\n', ..]) => i += 1,
            _ => return i,
        }
    }
}

/// The first line of `b` without its CR LF (or LF), the rest, and whether the
/// line was terminated.
fn split_line(b: &[u8]) -> (&[u8], &[u8], bool) {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => {
            let (line, rest) = b.split_at(i);
            (strip_cr(line), rest.get(1..).unwrap_or(&[]), true)
        }
        None => (strip_cr(b), &[], false),
    }
}

pub(super) fn strip_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

fn trim_start(b: &[u8]) -> &[u8] {
    let i = b
        .iter()
        .position(|&c| c != b' ' && c != b'\t')
        .unwrap_or(b.len());
    b.get(i..).unwrap_or(&[])
}

/// Without leading and trailing optional whitespace (SP, HTAB).
fn trim(b: &[u8]) -> &[u8] {
    let b = trim_start(b);
    let end = b
        .iter()
        .rposition(|&c| c != b' ' && c != b'\t')
        .map_or(0, |i| i + 1);
    b.get(..end).unwrap_or(&[])
}

/// `b` without a UTF-8 sequence cut at its end (a lead octet whose
/// continuation octets are missing). Other bytes are left as they are: values
/// need not be UTF-8 (the exporter sanitises them).
pub fn utf8_prefix(b: &[u8]) -> &[u8] {
    for back in 1..=b.len().min(4) {
        let i = b.len() - back;
        let Some(&c) = b.get(i) else {
            break;
        };
        if c & 0xC0 == 0x80 {
            continue; // a continuation octet: look further back for its lead
        }
        let need = match c {
            0xF0..=0xF7 => 4,
            0xE0..=0xEF => 3,
            0xC0..=0xDF => 2,
            _ => 1,
        };
        return if need > back {
            b.get(..i).unwrap_or(&[])
        } else {
            b
        };
    }
    b
}

/// RFC 9110 §5.6.2 token characters.
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}
