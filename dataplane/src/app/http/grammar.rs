//! HTTP/1.x (RFC 9112) over the two byte streams of a TCP connection: the
//! fields of the clickstream request record (spec §4) and of the HTTP reply
//! record (spec §5), and the message framing that finds every message of a
//! keep-alive or pipelined connection.
//!
//! # Contract
//!
//! * One [`HttpState`] per flow (40 octets, `Copy`, lives in the flow table)
//!   holds a small state machine per direction and the methods of the requests
//!   still waiting for their reply (at most [`PENDING_CAP`]).
//! * [`HttpState::requests`] / [`HttpState::replies`] take the **contiguous,
//!   in-order bytes of one direction starting at the parser's position** (the
//!   first octet it has not consumed yet) and answer a [`Step`]: how many of
//!   them were consumed (the caller drops them and starts the next call after
//!   them) and a [`Status`]: `Done` with one message (call again with the rest:
//!   more messages may follow), `Incomplete` (more bytes are needed; the
//!   unconsumed bytes — a partial message head — must be given again with
//!   what follows), `Malformed` (not HTTP, or broken framing) or `NotThis` (a
//!   tunnel: the direction is over; every later call answers the same with
//!   nothing consumed).
//! * Only a message **head** (request or status line and headers) has to be
//!   contiguous; it is parsed by `httparse` in one piece and its fields are
//!   borrowed from the given bytes (no copy, no allocation). Everything else —
//!   bodies by Content-Length, chunked framing (sizes, extensions, trailers),
//!   bodies up to connection close, the rest of an over-long head — is consumed
//!   as it is given, whatever the pieces, so it never needs buffering. The
//!   caller asks [`HttpState::want`] what comes next: a body of `n` octets
//!   ([`Want::Skip`]) can be skipped **by count** without showing the bytes
//!   ([`HttpState::skipped`]), e.g. by moving the expected sequence number of
//!   the direction and dropping every segment before it.
//! * `cap` is the most octets the caller can ever present from the first given
//!   byte (its reassembly buffer). A head that does not end within `cap` is
//!   returned with what was read, flagged [`Flags::TRUNCATED`], the value cut by
//!   the end shortened to a UTF-8 boundary; the rest of the head is then
//!   skipped as it arrives.
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! request  = method SP request-target SP "HTTP/1." DIGIT CRLF      (RFC 9112 §3)
//! reply    = "HTTP/1." DIGIT SP 3DIGIT SP [ reason ] CRLF          (RFC 9112 §4)
//!            *( field-name ":" OWS field-value OWS CRLF ) CRLF [ body ]
//! body length (RFC 9112 §6.3): HEAD request, 1xx, 204, 304: none;
//!   CONNECT + 2xx: tunnel; Transfer-Encoding ending in chunked: chunked;
//!   Content-Length: that many octets; else a request has none and a reply
//!   runs to the end of the connection.
//! chunked-body = *( chunk-size [ ";" ext ] CRLF chunk-data CRLF )
//!                "0" [ ";" ext ] CRLF *( trailer-field CRLF ) CRLF
//! ```

use core::convert::Infallible;
use core::mem::MaybeUninit;

use crate::app::Outcome;
use crate::app::text::{Prefix, literal};

/// Header lines `httparse` reads into its stack array; a head with more is read
/// by the lax line walker instead ([`Flags::LAX`]).
pub const MAX_HEADERS: usize = 64;
/// Requests remembered while their replies are awaited (pipelining): their
/// methods decide whether the reply has a body (HEAD, CONNECT).
pub const PENDING_CAP: usize = 8;
/// Cookie header lines kept per request. RFC 6265 §5.4 sends one, but some
/// clients and proxies send several; more than this is flagged
/// [`Flags::TRUNCATED`].
pub const COOKIE_LINES: usize = 4;

/// Request methods the parser tells apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Method {
    /// Any other method (WebDAV, OPTIONS, PATCH, …).
    Other = 0,
    Get = 1,
    Post = 2,
    Put = 3,
    Delete = 4,
    Head = 5,
    Connect = 6,
}

impl Method {
    /// Methods are case-sensitive (RFC 9110 §9.1).
    pub fn from_token(token: &[u8]) -> Method {
        match token {
            b"GET" => Method::Get,
            b"POST" => Method::Post,
            b"PUT" => Method::Put,
            b"DELETE" => Method::Delete,
            b"HEAD" => Method::Head,
            b"CONNECT" => Method::Connect,
            _ => Method::Other,
        }
    }

    /// METHOD of the clickstream record (spec §4): 1 GET, 2 POST, 3 PUT,
    /// 4 DELETE, 0 otherwise.
    pub const fn code(self) -> u8 {
        match self {
            Method::Get => 1,
            Method::Post => 2,
            Method::Put => 3,
            Method::Delete => 4,
            _ => 0,
        }
    }

    const fn from_nibble(n: u32) -> Method {
        match n {
            1 => Method::Get,
            2 => Method::Post,
            3 => Method::Put,
            4 => Method::Delete,
            5 => Method::Head,
            6 => Method::Connect,
            _ => Method::Other,
        }
    }
}

/// What the caller should count about a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// The head did not end within the caller's cap: the fields are what was
    /// read, the one cut by the cap shortened to a UTF-8 boundary.
    pub const TRUNCATED: Flags = Flags(1);
    /// `httparse` refused the head (more than [`MAX_HEADERS`] headers, a header
    /// line it rejects, a target that is not UTF-8); the lax line walker read it.
    pub const LAX: Flags = Flags(2);
    /// The body length cannot be known (a bad Content-Length, a
    /// Transfer-Encoding other than chunked): the request direction ends after
    /// this message; a reply's body runs to the end of the connection.
    pub const BAD_FRAMING: Flags = Flags(4);
    /// More than [`PENDING_CAP`] requests await replies: this request's method
    /// is not remembered (its reply is read as the reply to a GET).
    pub const PENDING_FULL: Flags = Flags(8);

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// An HTTP request: the fields of the clickstream record. Every slice borrows
/// the bytes given to [`HttpState::requests`]; absent headers are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    /// Offset of the request line in the given bytes (after the body of the
    /// previous message and any empty lines).
    pub start: usize,
    pub method: Method,
    /// The method as sent.
    pub method_token: &'a [u8],
    /// The request target as sent (origin, absolute, authority or asterisk form).
    pub target: &'a [u8],
    /// HOSTNAME: the authority of an absolute-form target (userinfo removed),
    /// else the Host header (for CONNECT without Host: the target).
    pub host: &'a [u8],
    /// PATH: the target, query included; of an absolute-form target, its path
    /// and query (`/` when empty).
    pub path: &'a [u8],
    pub referer: &'a [u8],
    pub user_agent: &'a [u8],
    /// The Cookie header lines, in order; see [`Request::cookies`].
    pub cookie: Cookies<'a>,
    /// Minor version (`HTTP/1.1` → 1); `None` when the head was cut before it.
    pub version: Option<u8>,
    pub flags: Flags,
}

impl Request<'_> {
    /// METHOD of the clickstream record.
    pub const fn method_code(&self) -> u8 {
        self.method.code()
    }
}

/// The values of a request's Cookie header lines (at most [`COOKIE_LINES`]).
/// COOKIE of the record is their concatenation with `"; "` (RFC 9113
/// §8.2.3), written from the parts by the encoder: no copy here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cookies<'a> {
    lines: [&'a [u8]; COOKIE_LINES],
    len: u8,
}

impl<'a> Cookies<'a> {
    /// The values, in order.
    pub fn lines(&self) -> &[&'a [u8]] {
        self.lines.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The first value (empty when there is none): the whole COOKIE in the
    /// usual case of one line.
    pub fn first(&self) -> &'a [u8] {
        self.lines().first().copied().unwrap_or(&[])
    }

    /// Octets of the joined value (`"; "` between lines).
    pub fn joined_len(&self) -> usize {
        let parts = self.lines();
        parts.iter().map(|l| l.len()).sum::<usize>() + 2 * parts.len().saturating_sub(1)
    }

    /// False when a line had to be left out.
    fn push(&mut self, value: &'a [u8]) -> bool {
        match self.lines.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = value;
                self.len += 1;
                true
            }
            None => false,
        }
    }
}

/// An HTTP reply: the fields of the HTTP reply record. Slices borrow the bytes
/// given to [`HttpState::replies`]; absent headers are empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// Offset of the status line in the given bytes.
    pub start: usize,
    pub status: u16,
    /// Minor version; `None` when the head was cut before it (cannot happen
    /// with a cap of at least 12 octets).
    pub version: Option<u8>,
    /// Content-Length; 0 when absent or invalid (spec §5).
    pub content_length: u64,
    pub content_type: &'a [u8],
    pub location: &'a [u8],
    /// Method of the request this reply answers (for a 1xx: of the request it
    /// is an interim answer to); `None` when no request is pending.
    pub request: Option<Method>,
    pub flags: Flags,
}

impl Reply<'_> {
    /// 1xx: an interim reply; the final one follows.
    pub const fn is_informational(&self) -> bool {
        self.status >= 100 && self.status < 200
    }
}

/// Which stream of the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client to server.
    Requests,
    /// Server to client.
    Replies,
}

/// What a direction expects next ([`HttpState::want`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// A message head: give the bytes from the parser's position and keep the
    /// unconsumed ones (a partial head) contiguous with what follows.
    Head,
    /// Framing octets (chunk-size lines, trailers, the rest of a truncated
    /// head): give them in order; they are consumed as given, nothing to keep.
    Framing,
    /// The next `n` octets are body: skip them by count with
    /// [`HttpState::skipped`] (or give them: they are consumed as given).
    /// `u64::MAX`: the rest of the stream is body.
    Skip(u64),
    /// A CONNECT awaits its reply: keep the bytes, the reply decides whether
    /// they are HTTP or a tunnel.
    Hold,
    /// Nothing more: the direction is not HTTP (any more) or became a tunnel.
    Nothing,
    /// The direction's place in its messages is unknown: skip segments until
    /// one starts a message head, then [`HttpState::found_place`].
    Resync,
}

/// What one call made of the bytes it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<T> {
    /// Octets at the start of the given bytes that are done with: the caller's
    /// position moves past them, whatever the status.
    pub consumed: usize,
    pub status: Status<T>,
}

/// The outcome of a call: `Done` with one message head (its body, if any, is
/// consumed by the next calls); `Incomplete` when everything usable was
/// consumed and more bytes are needed; `Malformed` when the bytes at a message
/// start are not an HTTP/1.x head or the body framing is broken ([`Malformed`]
/// says what and where); `NotThis` when the connection switched protocols
/// (101, or a CONNECT tunnel): the rest is not HTTP.
pub type Status<T> = Outcome<T, Malformed>;

/// Why a direction stopped being HTTP, and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub reason: Reason,
    /// Offset in the given bytes of the offending octet.
    pub offset: usize,
}

/// Why a direction stopped being HTTP (an index for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// The bytes at a message start are not an HTTP/1.x message head.
    NotHttp,
    /// A chunk-size line does not start with a hex digit, holds another
    /// character, or overflows 64 bits.
    ChunkSize,
    /// Chunk data is not followed by CRLF, or a size line's CR by LF.
    ChunkDelimiter,
    /// The empty line ending the trailers is a CR without LF.
    TrailerDelimiter,
}

impl Reason {
    pub const COUNT: usize = 4;

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::NotHttp => "not an HTTP/1.x message head",
            Reason::ChunkSize => "bad chunk size",
            Reason::ChunkDelimiter => "chunk not followed by CRLF",
            Reason::TrailerDelimiter => "bad end of trailers",
        }
    }
}

/// Per-flow HTTP state: both directions' machines and the pending methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HttpState {
    request: Phase,
    reply: Phase,
    pending: Pending,
}

const _: () = assert!(core::mem::size_of::<HttpState>() <= 40);

impl Default for HttpState {
    fn default() -> Self {
        HttpState::new()
    }
}

impl HttpState {
    /// Both directions expect a message head.
    pub const fn new() -> HttpState {
        HttpState {
            request: Phase::Head,
            reply: Phase::Head,
            pending: Pending { methods: 0, len: 0 },
        }
    }

    /// What the direction expects next.
    pub fn want(&self, dir: Direction) -> Want {
        match self.phase(dir) {
            Phase::Head => Want::Head,
            Phase::Length(n) | Phase::Chunked(Chunk::Data, n) => Want::Skip(n),
            Phase::Chunked(..) | Phase::HeadTail(..) => Want::Framing,
            Phase::UntilClose => Want::Skip(u64::MAX),
            Phase::Hold => Want::Hold,
            Phase::Tunnel | Phase::Off => Want::Nothing,
            Phase::Resync => Want::Resync,
        }
    }

    /// A connection picked up mid-stream: `synced` starts a message at the
    /// segment that was seen; the other direction waits for the next segment
    /// that starts a message ([`Want::Resync`]).
    pub const fn picked_up(synced: Direction) -> HttpState {
        let mut st = HttpState::new();
        match synced {
            Direction::Requests => st.reply = Phase::Resync,
            Direction::Replies => st.request = Phase::Resync,
        }
        st
    }

    /// The direction lost its place (octets it needed are gone).
    pub fn lose_place(&mut self, dir: Direction) {
        *self.phase_mut(dir) = Phase::Resync;
    }

    /// A segment of a direction that lost its place starts a message head.
    pub fn found_place(&mut self, dir: Direction) {
        let phase = self.phase_mut(dir);
        if *phase == Phase::Resync {
            *phase = Phase::Head;
        }
    }

    /// The caller dropped the next `n` octets of the direction unseen; `n` is
    /// at most what [`Want::Skip`] said (more is clamped to it).
    pub fn skipped(&mut self, dir: Direction, n: u64) {
        let phase = self.phase_mut(dir);
        *phase = match *phase {
            Phase::Length(left) if n >= left => Phase::Head,
            Phase::Length(left) => Phase::Length(left - n),
            Phase::Chunked(Chunk::Data, left) if n >= left => Phase::Chunked(Chunk::DataCr, 0),
            Phase::Chunked(Chunk::Data, left) => Phase::Chunked(Chunk::Data, left - n),
            other => other,
        };
    }

    /// Consumes the body (or framing) in front of the next message head of
    /// `dir`; `Ok((pos, rest))` when a head may start at `pos`, else the step
    /// to return (`Incomplete` when more octets are needed).
    fn before_head<'a>(
        &mut self,
        dir: Direction,
        bytes: &'a [u8],
    ) -> Result<(usize, &'a [u8]), Step<()>> {
        let (pos, ended) = self.body(dir, bytes)?;
        let rest = bytes.get(pos..).unwrap_or(&[]);
        if !ended || rest.is_empty() {
            return Err(Step::new(pos, Outcome::Incomplete));
        }
        Ok((pos, rest))
    }

    /// Client-to-server bytes from the parser's position; `cap`: the most
    /// octets the caller can ever give from `bytes[0]` (more are ignored).
    pub fn requests<'a>(&mut self, bytes: &'a [u8], cap: usize) -> Step<Request<'a>> {
        let bytes = bytes.get(..cap).unwrap_or(bytes);
        let (pos, rest) = match self.before_head(Direction::Requests, bytes) {
            Ok(v) => v,
            Err(step) => return step.map(),
        };
        let (mut req, seen, len, truncated) = match read_request(rest, bytes.len() >= cap) {
            HeadRead::Done(h) => h,
            HeadRead::Incomplete => return Step::new(pos, Outcome::Incomplete),
            HeadRead::NotHttp => {
                self.request = Phase::Off;
                return Step::new(pos, not_http(pos));
            }
        };
        req.start = req.start.saturating_add(pos);
        let mut next = match (seen.coding, seen.length) {
            (Coding::Chunked, _) => Next::Chunked,
            (Coding::Absent, Length::Absent | Length::Value(0)) => Next::Head,
            (Coding::Absent, Length::Value(_)) => Next::Length,
            (Coding::Other, _) | (Coding::Absent, Length::Invalid) => {
                req.flags = req.flags.with(Flags::BAD_FRAMING);
                Next::Off
            }
        };
        if self.pending.push(req.method) {
            if req.method == Method::Connect && next != Next::Off {
                next = Next::Hold;
            }
        } else {
            req.flags = req.flags.with(Flags::PENDING_FULL);
        }
        let n = seen.length.value();
        self.request = after_head(rest, len, truncated, next, n);
        Step::new(pos.saturating_add(len), Outcome::Done(req))
    }

    /// Server-to-client bytes from the parser's position; `cap` as for
    /// [`HttpState::requests`].
    pub fn replies<'a>(&mut self, bytes: &'a [u8], cap: usize) -> Step<Reply<'a>> {
        let bytes = bytes.get(..cap).unwrap_or(bytes);
        let (pos, rest) = match self.before_head(Direction::Replies, bytes) {
            Ok(v) => v,
            Err(step) => return step.map(),
        };
        let (mut reply, seen, len, truncated) = match read_reply(rest, bytes.len() >= cap) {
            HeadRead::Done(h) => h,
            HeadRead::Incomplete => return Step::new(pos, Outcome::Incomplete),
            HeadRead::NotHttp => {
                self.reply = Phase::Off;
                return Step::new(pos, not_http(pos));
            }
        };
        reply.start = reply.start.saturating_add(pos);
        let status = reply.status;
        let next = if (100..200).contains(&status) {
            reply.request = self.pending.peek();
            if status == 101 {
                self.request = Phase::Tunnel;
                Next::Tunnel
            } else {
                Next::Head
            }
        } else {
            let method = self.pending.pop();
            reply.request = method;
            let success = (200..300).contains(&status);
            if method == Some(Method::Connect) && self.request == Phase::Hold {
                self.request = if success { Phase::Tunnel } else { Phase::Head };
            }
            if method == Some(Method::Connect) && success {
                Next::Tunnel
            } else if method == Some(Method::Head) || status == 204 || status == 304 {
                Next::Head
            } else {
                match (seen.coding, seen.length) {
                    (Coding::Chunked, _) => Next::Chunked,
                    (Coding::Other, _) | (Coding::Absent, Length::Absent) => Next::UntilClose,
                    (Coding::Absent, Length::Value(0)) => Next::Head,
                    (Coding::Absent, Length::Value(_)) => Next::Length,
                    (Coding::Absent, Length::Invalid) => {
                        reply.flags = reply.flags.with(Flags::BAD_FRAMING);
                        Next::UntilClose
                    }
                }
            }
        };
        self.reply = after_head(rest, len, truncated, next, seen.length.value());
        Step::new(pos.saturating_add(len), Outcome::Done(reply))
    }

    fn phase(&self, dir: Direction) -> Phase {
        match dir {
            Direction::Requests => self.request,
            Direction::Replies => self.reply,
        }
    }

    fn phase_mut(&mut self, dir: Direction) -> &mut Phase {
        match dir {
            Direction::Requests => &mut self.request,
            Direction::Replies => &mut self.reply,
        }
    }

    /// Consumes body and framing octets from the start of `bytes`: `Ok((used,
    /// true))` when a head is next, `Ok((used, false))` when more bytes (or the
    /// reply to a CONNECT) are needed, `Err` for an ended direction.
    fn body(&mut self, dir: Direction, bytes: &[u8]) -> Result<(usize, bool), Step<()>> {
        let phase = self.phase_mut(dir);
        match *phase {
            Phase::Head => return Ok((0, true)),
            Phase::Hold | Phase::Resync => return Ok((0, false)),
            Phase::Tunnel => return Err(Step::new(0, Outcome::NotThis)),
            Phase::Off => return Err(Step::new(0, not_http(0))),
            _ => {}
        }
        match skip_body(phase, bytes) {
            Ok(used) => Ok((used, *phase == Phase::Head)),
            Err((reason, offset)) => {
                *phase = Phase::Off;
                Err(Step::new(
                    offset,
                    Outcome::Malformed(Malformed { reason, offset }),
                ))
            }
        }
    }
}

impl<T> Step<T> {
    const fn new(consumed: usize, status: Status<T>) -> Step<T> {
        Step { consumed, status }
    }

    /// The step without its message, for a caller that has handled it.
    pub fn erased(&self) -> Step<()> {
        let status = match self.status {
            Outcome::Done(_) => Outcome::Done(()),
            Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(m) => Outcome::Malformed(m),
        };
        Step::new(self.consumed, status)
    }
}

impl Step<()> {
    /// The same step for another message type (never `Done`).
    fn map<T>(self) -> Step<T> {
        let status = match self.status {
            Outcome::Done(()) | Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(m) => Outcome::Malformed(m),
        };
        Step::new(self.consumed, status)
    }
}

/// A message start that is not an HTTP/1.x head, at `offset`.
fn not_http<T>(offset: usize) -> Status<T> {
    Outcome::Malformed(Malformed {
        reason: Reason::NotHttp,
        offset,
    })
}

/// The signature of an HTTP/1.x server stream: `HTTP/1.` a digit, a space,
/// three digits — `Incomplete` on a prefix of that.
pub fn status_start(first: &[u8]) -> Outcome<(), Infallible> {
    const SHAPE: &[u8; 12] = b"HTTP/1.d ddd";
    for (i, &want) in SHAPE.iter().enumerate() {
        let Some(&b) = first.get(i) else {
            return Outcome::Incomplete;
        };
        let ok = if want == b'd' {
            b.is_ascii_digit()
        } else {
            b == want
        };
        if !ok {
            return Outcome::NotThis;
        }
    }
    Outcome::Done(())
}

/// Longest method token a request may start with (WebDAV's are the longest in use).
const METHOD_MAX: usize = 24;
/// A request line not ended within this many octets is taken on its start.
const LINE_DECIDE: usize = 256;
/// Request targets of other protocols with HTTP's request-line shape: SIP's
/// URIs (RFC 3261 §19.1, RFC 3966), so that `INVITE sip:… SIP/2.0` is never
/// taken for HTTP, however long its line.
const NOT_HTTP_SCHEMES: [&[u8]; 3] = [b"sip:", b"sips:", b"tel:"];

/// The signature of an HTTP/1.x client stream, on its first octets however they
/// were cut: a method token (upper case, `-`, `_`, at most [`METHOD_MAX`]
/// octets), one space, a target that starts like one (`/`, `*` or a letter),
/// and ` HTTP/1.0` or ` HTTP/1.1` at the end of the line. `Incomplete` while
/// the octets are a prefix of such a line (`G`, `GET`, `GET `, a line before
/// its LF), so that a request cut at any octet is still recognised; a line
/// still open after [`LINE_DECIDE`] octets is taken on its start. SIP, RTSP
/// and the like (other versions) are refused.
pub fn request_start(first: &[u8]) -> Outcome<(), Infallible> {
    let line_end = first.iter().position(|&b| b == b'\n');
    let line = match line_end.and_then(|i| first.get(..i)) {
        Some(l) => strip_cr(l),
        None => first,
    };
    // What an octet missing from a cut line means: more may come, or it is over.
    let cut = if line_end.is_none() {
        Outcome::Incomplete
    } else {
        Outcome::NotThis
    };
    let method = line
        .iter()
        .take_while(|&&b| b.is_ascii_uppercase() || b == b'-' || b == b'_')
        .count();
    if method == 0 && !line.is_empty() || method > METHOD_MAX {
        return Outcome::NotThis;
    }
    match line.get(method) {
        None => return cut,
        Some(b' ') => {}
        Some(_) => return Outcome::NotThis,
    }
    match line.get(method + 1) {
        None => return cut,
        Some(&b) if b == b'/' || b == b'*' || b.is_ascii_alphabetic() => {}
        Some(_) => return Outcome::NotThis,
    }
    let target = line.get(method + 1..).unwrap_or_default();
    if NOT_HTTP_SCHEMES
        .iter()
        .any(|scheme| matches!(literal(target, scheme), Prefix::Matched(_)))
    {
        return Outcome::NotThis;
    }
    if line_end.is_some() {
        let version = line.ends_with(b" HTTP/1.1") || line.ends_with(b" HTTP/1.0");
        return if version && !line.contains(&b'\r') {
            Outcome::Done(())
        } else {
            Outcome::NotThis
        };
    }
    // A CR may end the octets so far: the LF that follows it ends the line.
    if line.strip_suffix(b"\r").unwrap_or(line).contains(&b'\r') {
        Outcome::NotThis
    } else if first.len() >= LINE_DECIDE {
        Outcome::Done(())
    } else {
        Outcome::Incomplete
    }
}

// ---------------------------------------------------------------------------
// Per-direction state
// ---------------------------------------------------------------------------

/// Where a direction is. 16 octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// A message head is next.
    Head,
    /// Octets of a Content-Length body left.
    Length(u64),
    /// In a chunked body at this step; the number is the size being read or the
    /// chunk data left.
    Chunked(Chunk, u64),
    /// The body runs to the end of the connection.
    UntilClose,
    /// The rest of a head cut at the cap, then `Next` (with its length).
    HeadTail(TailLine, Next, u64),
    /// A CONNECT request awaits its reply.
    Hold,
    /// The connection switched protocols.
    Tunnel,
    /// Not HTTP, or the framing was lost.
    Off,
    /// The stream's position in its messages is unknown (picked up
    /// mid-stream, or octets were lost): the next head starts a segment.
    Resync,
}

/// Steps of the chunked-body machine (RFC 9112 §7.1), read octet by octet
/// except the data, which is skipped by count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Chunk {
    /// Start of a chunk-size line: a hex digit is due.
    Size0,
    /// In the size's digits.
    Size,
    /// In a chunk extension (or whitespace after the size), up to LF.
    Ext,
    /// After the size line's CR.
    SizeLf,
    /// In the chunk data.
    Data,
    /// After the data: CR (or a bare LF) is due.
    DataCr,
    /// After the data's CR.
    DataLf,
    /// After the last chunk's size line, or a trailer line: start of a line.
    LineStart,
    /// In a trailer field line, up to LF.
    Trailer,
    /// After the CR of the empty line that ends the trailers.
    TrailerLf,
}

/// Where the skipping of an over-long head's tail is: the head ends at an empty
/// line (LF at a line start, or CR LF there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum TailLine {
    Mid,
    LineStart,
    Cr,
}

/// What follows a head.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Next {
    Head,
    Length,
    Chunked,
    UntilClose,
    Hold,
    Tunnel,
    Off,
}

impl Next {
    fn phase(self, n: u64) -> Phase {
        match self {
            Next::Head => Phase::Head,
            Next::Length if n == 0 => Phase::Head,
            Next::Length => Phase::Length(n),
            Next::Chunked => Phase::Chunked(Chunk::Size0, 0),
            Next::UntilClose => Phase::UntilClose,
            Next::Hold => Phase::Hold,
            Next::Tunnel => Phase::Tunnel,
            Next::Off => Phase::Off,
        }
    }
}

/// The phase after a head of `len` octets at the start of `rest`.
fn after_head(rest: &[u8], len: usize, truncated: bool, next: Next, n: u64) -> Phase {
    if !truncated {
        return next.phase(n);
    }
    let head = rest.get(..len).unwrap_or(rest);
    let line = match head {
        [.., b'\n'] => TailLine::LineStart,
        [.., b'\n', b'\r'] => TailLine::Cr,
        _ => TailLine::Mid,
    };
    Phase::HeadTail(line, next, n)
}

/// Methods of the requests awaiting replies, oldest in the low nibble.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Pending {
    methods: u32,
    len: u8,
}

const _: () = assert!(PENDING_CAP * 4 <= 32);

impl Pending {
    /// False (nothing kept) when full.
    fn push(&mut self, m: Method) -> bool {
        if usize::from(self.len) >= PENDING_CAP {
            return false;
        }
        self.methods |= (m as u32) << (4 * u32::from(self.len));
        self.len += 1;
        true
    }

    fn peek(&self) -> Option<Method> {
        (self.len > 0).then(|| Method::from_nibble(self.methods & 0xf))
    }

    fn pop(&mut self) -> Option<Method> {
        let m = self.peek()?;
        self.methods >>= 4;
        self.len -= 1;
        Some(m)
    }
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

/// Moves `phase` over the body and framing octets at the start of `bytes`;
/// stops when a head is next (phase `Head`, or `Hold`/`Tunnel`/`Off` after a
/// truncated head) or at the end of `bytes`. Returns the octets used, or the
/// broken framing and its offset.
fn skip_body(phase: &mut Phase, bytes: &[u8]) -> Result<usize, (Reason, usize)> {
    let mut at = 0usize;
    loop {
        let rest = bytes.get(at..).unwrap_or(&[]);
        match *phase {
            Phase::Length(n) => {
                let k = take(n, rest.len());
                at += k;
                *phase = Next::Length.phase(n - k as u64);
                if *phase != Phase::Head {
                    return Ok(at);
                }
            }
            Phase::Chunked(Chunk::Data, n) => {
                let k = take(n, rest.len());
                at += k;
                if n > k as u64 {
                    *phase = Phase::Chunked(Chunk::Data, n - k as u64);
                    return Ok(at);
                }
                *phase = Phase::Chunked(Chunk::DataCr, 0);
            }
            Phase::Chunked(step, n) => {
                let Some(&b) = rest.first() else {
                    return Ok(at);
                };
                *phase = chunk_octet(step, n, b).map_err(|r| (r, at))?;
                at += 1;
            }
            Phase::HeadTail(line, next, n) => {
                let Some(&b) = rest.first() else {
                    return Ok(at);
                };
                at += 1;
                *phase = match (line, b) {
                    (TailLine::LineStart | TailLine::Cr, b'\n') => next.phase(n),
                    (_, b'\n') => Phase::HeadTail(TailLine::LineStart, next, n),
                    (TailLine::LineStart, b'\r') => Phase::HeadTail(TailLine::Cr, next, n),
                    _ => Phase::HeadTail(TailLine::Mid, next, n),
                };
            }
            Phase::UntilClose => return Ok(bytes.len()),
            Phase::Head | Phase::Hold | Phase::Tunnel | Phase::Off | Phase::Resync => {
                return Ok(at);
            }
        }
    }
}

/// `min(n, available)`.
fn take(n: u64, available: usize) -> usize {
    usize::try_from(n).map_or(available, |n| n.min(available))
}

/// One framing octet of a chunked body.
fn chunk_octet(step: Chunk, n: u64, b: u8) -> Result<Phase, Reason> {
    let at = |s: Chunk, n: u64| Ok(Phase::Chunked(s, n));
    let size_done = |n: u64| {
        if n == 0 {
            at(Chunk::LineStart, 0)
        } else {
            at(Chunk::Data, n)
        }
    };
    match step {
        Chunk::Size0 => match hex(b) {
            Some(d) => at(Chunk::Size, d),
            None => Err(Reason::ChunkSize),
        },
        Chunk::Size => match (hex(b), b) {
            (Some(d), _) => {
                let n = n
                    .checked_mul(16)
                    .and_then(|n| n.checked_add(d))
                    .ok_or(Reason::ChunkSize)?;
                at(Chunk::Size, n)
            }
            (None, b';' | b' ' | b'\t') => at(Chunk::Ext, n),
            (None, b'\r') => at(Chunk::SizeLf, n),
            (None, b'\n') => size_done(n),
            (None, _) => Err(Reason::ChunkSize),
        },
        Chunk::Ext => match b {
            b'\n' => size_done(n),
            _ => at(Chunk::Ext, n),
        },
        Chunk::SizeLf => match b {
            b'\n' => size_done(n),
            _ => Err(Reason::ChunkDelimiter),
        },
        Chunk::Data => at(Chunk::Data, n),
        Chunk::DataCr => match b {
            b'\r' => at(Chunk::DataLf, 0),
            b'\n' => at(Chunk::Size0, 0),
            _ => Err(Reason::ChunkDelimiter),
        },
        Chunk::DataLf => match b {
            b'\n' => at(Chunk::Size0, 0),
            _ => Err(Reason::ChunkDelimiter),
        },
        Chunk::LineStart => match b {
            b'\r' => at(Chunk::TrailerLf, 0),
            b'\n' => Ok(Phase::Head),
            _ => at(Chunk::Trailer, 0),
        },
        Chunk::Trailer => match b {
            b'\n' => at(Chunk::LineStart, 0),
            _ => at(Chunk::Trailer, 0),
        },
        Chunk::TrailerLf => match b {
            b'\n' => Ok(Phase::Head),
            _ => Err(Reason::TrailerDelimiter),
        },
    }
}

fn hex(b: u8) -> Option<u64> {
    char::from(b).to_digit(16).map(u64::from)
}

mod head;

pub use head::utf8_prefix;
use head::{Coding, HeadRead, Length, read_reply, read_request, strip_cr};

#[cfg(test)]
mod tests;
