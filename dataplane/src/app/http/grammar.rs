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

// ---------------------------------------------------------------------------
// Heads
// ---------------------------------------------------------------------------

/// A head read from the start of some bytes: the message, the headers that
/// frame its body, its length, whether it was cut at the cap.
enum HeadRead<'a, T> {
    Done((T, Seen<'a>, usize, bool)),
    Incomplete,
    NotHttp,
}

/// Content-Length as seen over every header that carries it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Length {
    #[default]
    Absent,
    Value(u64),
    /// Not a number, or two different numbers.
    Invalid,
}

impl Length {
    fn value(self) -> u64 {
        match self {
            Length::Value(n) => n,
            _ => 0,
        }
    }
}

/// The last transfer coding named.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Coding {
    #[default]
    Absent,
    Chunked,
    Other,
}

/// The headers either kind of message cares about (the first of each).
#[derive(Clone, Copy, Debug, Default)]
struct Seen<'a> {
    host: &'a [u8],
    referer: &'a [u8],
    user_agent: &'a [u8],
    cookie: Cookies<'a>,
    /// More Cookie lines than [`COOKIE_LINES`].
    cookies_cut: bool,
    content_type: &'a [u8],
    location: &'a [u8],
    length: Length,
    coding: Coding,
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
fn read_request(window: &[u8], at_cap: bool) -> HeadRead<'_, Request<'_>> {
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
fn read_reply(window: &[u8], at_cap: bool) -> HeadRead<'_, Reply<'_>> {
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

fn strip_cr(line: &[u8]) -> &[u8] {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used)]

    use super::*;

    /// A request's fields, owned.
    #[derive(Debug, PartialEq, Eq)]
    struct Req {
        method: u8,
        token: String,
        host: String,
        path: String,
        referer: String,
        user_agent: String,
        cookie: String,
        flags: Flags,
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    fn req(r: &Request) -> Req {
        Req {
            method: r.method_code(),
            token: s(r.method_token),
            host: s(r.host),
            path: s(r.path),
            referer: s(r.referer),
            user_agent: s(r.user_agent),
            cookie: s(r.cookie.first()),
            flags: r.flags,
        }
    }

    /// (status, content length, content type, location, flags)
    type Rep = (u16, u64, String, String, Flags);

    fn rep(r: &Reply) -> Rep {
        (
            r.status,
            r.content_length,
            s(r.content_type),
            s(r.location),
            r.flags,
        )
    }

    /// Plays the caller: a growing buffer of one direction, fed in `pieces`;
    /// consumed bytes are dropped. Returns the messages and the last status.
    fn drive<T>(
        pieces: &[&[u8]],
        cap: usize,
        mut call: impl FnMut(&[u8], usize) -> (usize, Status<T>),
    ) -> (Vec<T>, Status<()>) {
        let mut buf = Vec::new();
        let mut out = Vec::new();
        let mut last = Outcome::Incomplete;
        for piece in pieces {
            buf.extend_from_slice(piece);
            loop {
                let (consumed, status) = call(&buf, cap);
                assert!(consumed <= buf.len());
                buf.drain(..consumed);
                match status {
                    Outcome::Done(t) => out.push(t),
                    Outcome::Incomplete => {
                        last = Outcome::Incomplete;
                        break;
                    }
                    Outcome::NotThis => {
                        last = Outcome::NotThis;
                        break;
                    }
                    Outcome::Malformed(m) => {
                        last = Outcome::Malformed(m);
                        break;
                    }
                }
            }
        }
        (out, last)
    }

    fn requests(st: &mut HttpState, pieces: &[&[u8]], cap: usize) -> (Vec<Req>, Status<()>) {
        drive(pieces, cap, |b, cap| {
            let step = st.requests(b, cap);
            (step.consumed, step.status.map(|r| req(&r)))
        })
    }

    fn replies(st: &mut HttpState, pieces: &[&[u8]], cap: usize) -> (Vec<Rep>, Status<()>) {
        drive(pieces, cap, |b, cap| {
            let step = st.replies(b, cap);
            (step.consumed, step.status.map(|r| rep(&r)))
        })
    }

    /// Every split of `stream` into one-octet pieces.
    fn octets(stream: &[u8]) -> Vec<&[u8]> {
        stream.chunks(1).collect()
    }

    const GET: &[u8] = b"GET /a?b=1 HTTP/1.1\r\nHost: example.com\r\nUser-Agent: curl/8\r\n\
Referer: http://r.example/\r\nCookie: k=v; k2=v2\r\nAccept: */*\r\n\r\n";

    #[test]
    fn a_get_gives_every_field() {
        let mut st = HttpState::new();
        let step = st.requests(GET, 4096);
        assert_eq!(step.consumed, GET.len());
        let r = step.status.done().unwrap();
        assert_eq!(r.start, 0);
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.method_code(), 1);
        assert_eq!(r.target, b"/a?b=1");
        assert_eq!(r.path, b"/a?b=1");
        assert_eq!(r.host, b"example.com");
        assert_eq!(r.user_agent, b"curl/8");
        assert_eq!(r.referer, b"http://r.example/");
        assert_eq!(r.cookie.lines(), [&b"k=v; k2=v2"[..]]);
        assert_eq!(r.version, Some(1));
        assert_eq!(r.flags, Flags::NONE);
        assert_eq!(st.want(Direction::Requests), Want::Head);
        assert_eq!(st.requests(&[], 4096).status, Outcome::Incomplete);
    }

    #[test]
    fn methods_map_to_the_spec_codes() {
        for (m, code) in [
            ("GET", 1),
            ("POST", 2),
            ("PUT", 3),
            ("DELETE", 4),
            ("HEAD", 0),
            ("PROPFIND", 0),
            ("MKCOL", 0),
            ("get", 0),
        ] {
            let head = format!("{m} / HTTP/1.1\r\nHost: h\r\n\r\n");
            let r = HttpState::new()
                .requests(head.as_bytes(), 4096)
                .status
                .done();
            assert_eq!(r.unwrap().method_code(), code, "{m}");
        }
    }

    #[test]
    fn a_head_split_anywhere_gives_the_same_request() {
        let whole = requests(&mut HttpState::new(), &[GET], 4096).0;
        assert_eq!(whole.len(), 1);
        let (one_by_one, last) = requests(&mut HttpState::new(), &octets(GET), 4096);
        assert_eq!(one_by_one, whole);
        assert_eq!(last, Outcome::Incomplete);
        for cut in 1..GET.len() {
            let (a, b) = GET.split_at(cut);
            assert_eq!(requests(&mut HttpState::new(), &[a, b], 4096).0, whole);
        }
    }

    #[test]
    fn pipelined_requests_and_bodies_are_all_found() {
        let stream: &[u8] = b"GET /1 HTTP/1.1\r\nHost: a\r\n\r\n\
POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\nhello=world\
PUT /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
5;ext=1\r\nGET /\r\n0\r\nX-Trailer: GET /no HTTP/1.1\r\n\r\n\
\r\nDELETE /4 HTTP/1.0\r\nHost: b\r\n\r\n";
        let paths = |v: &[Req]| {
            v.iter()
                .map(|r| (r.method, r.path.clone()))
                .collect::<Vec<_>>()
        };
        let want = vec![
            (1, "/1".to_string()),
            (2, "/2".to_string()),
            (3, "/3".to_string()),
            (4, "/4".to_string()),
        ];
        let (all, last) = requests(&mut HttpState::new(), &[stream], 4096);
        assert_eq!(paths(&all), want);
        assert_eq!(last, Outcome::Incomplete);
        let (all, _) = requests(&mut HttpState::new(), &octets(stream), 4096);
        assert_eq!(paths(&all), want);
        // The start of each request in the bytes it was parsed from.
        let mut st = HttpState::new();
        let mut at = 0;
        let mut starts = vec![];
        loop {
            let step = st.requests(&stream[at..], 4096);
            if let Outcome::Done(r) = step.status {
                starts.push(at + r.start);
            } else {
                break;
            }
            at += step.consumed;
        }
        let found: Vec<usize> = [&b"GET /1"[..], b"POST", b"PUT", b"DELETE"]
            .iter()
            .map(|m| stream.windows(m.len()).position(|w| w == *m).unwrap())
            .collect();
        assert_eq!(starts, found);
    }

    #[test]
    fn bodies_can_be_skipped_by_count() {
        let mut st = HttpState::new();
        let head = b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 1000000\r\n\r\n";
        let step = st.requests(head, 4096);
        assert_eq!(step.consumed, head.len());
        assert_eq!(st.want(Direction::Requests), Want::Skip(1_000_000));
        st.skipped(Direction::Requests, 999_990);
        assert_eq!(st.want(Direction::Requests), Want::Skip(10));
        // The last 10 body octets arrive with the next request.
        let next = b"0123456789GET /n HTTP/1.1\r\n\r\n";
        let step = st.requests(next, 4096);
        assert_eq!(step.consumed, next.len());
        let r = step.status.done().unwrap();
        assert_eq!((r.start, r.path), (10, &b"/n"[..]));

        // Chunk data is skipped by count too; the size lines are framing.
        let mut st = HttpState::new();
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        st.replies(head, 4096);
        assert_eq!(st.want(Direction::Replies), Want::Framing);
        assert_eq!(st.replies(b"1F4000\r\n", 4096).consumed, 8);
        assert_eq!(st.want(Direction::Replies), Want::Skip(0x1F4000));
        st.skipped(Direction::Replies, u64::MAX);
        assert_eq!(st.want(Direction::Replies), Want::Framing);
        let tail = b"\r\n0\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n";
        let step = st.replies(tail, 4096);
        assert_eq!(step.consumed, tail.len());
        assert_eq!(step.status.done().unwrap().status, 204);
    }

    #[test]
    fn replies_follow_the_rfc_body_rules() {
        let mut st = HttpState::new();
        let reqs: &[u8] = b"GET /a HTTP/1.1\r\n\r\nHEAD /b HTTP/1.1\r\n\r\nGET /c HTTP/1.1\r\n\r\n\
GET /d HTTP/1.1\r\n\r\nPOST /e HTTP/1.1\r\nContent-Length: 0\r\nExpect: 100-continue\r\n\r\n\
GET /f HTTP/1.1\r\n\r\n";
        assert_eq!(requests(&mut st, &[reqs], 4096).0.len(), 6);
        let reps: &[u8] =
            b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Type: text/plain\r\n\r\nabc\
HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\n\
HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n\
HTTP/1.1 301 Moved\r\nLocation: http://x/\r\nTransfer-Encoding: chunked\r\n\r\n\
a\r\n0123456789\r\n0\r\n\r\n\
HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok\
HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n<html>HTTP/1.1 200 OK\r\n\r\n";
        let want: Vec<Rep> = vec![
            (200, 3, "text/plain".into(), "".into(), Flags::NONE),
            (200, 500, "".into(), "".into(), Flags::NONE), // HEAD: no body
            (304, 7, "".into(), "".into(), Flags::NONE),   // 304: no body
            (301, 0, "".into(), "http://x/".into(), Flags::NONE),
            (100, 0, "".into(), "".into(), Flags::NONE),
            (201, 2, "".into(), "".into(), Flags::NONE),
            (200, 0, "text/html".into(), "".into(), Flags::NONE), // to the end
        ];
        let mut whole = st;
        assert_eq!(replies(&mut whole, &[reps], 4096).0, want);
        assert_eq!(whole.want(Direction::Replies), Want::Skip(u64::MAX));
        let mut split = st;
        assert_eq!(replies(&mut split, &octets(reps), 4096).0, want);
    }

    #[test]
    fn the_reply_knows_its_request_method() {
        let mut st = HttpState::new();
        requests(
            &mut st,
            &[b"HEAD / HTTP/1.1\r\n\r\nPOST / HTTP/1.1\r\n\r\n"],
            4096,
        );
        let interim = st.replies(b"HTTP/1.1 100 Continue\r\n\r\n", 4096);
        assert_eq!(interim.status.done().unwrap().request, Some(Method::Head));
        let r = st.replies(b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n", 4096);
        let r = r.status.done().unwrap();
        assert!(!r.is_informational());
        assert_eq!((r.request, r.content_length), (Some(Method::Head), 9));
        let r = st.replies(b"HTTP/1.1 200 OK\r\n\r\n", 4096);
        assert_eq!(r.status.done().unwrap().request, Some(Method::Post));
        let r = HttpState::new().replies(b"HTTP/1.1 200 OK\r\n\r\n", 4096);
        assert_eq!(r.status.done().unwrap().request, None);
    }

    #[test]
    fn more_pipelined_requests_than_remembered_are_flagged() {
        let mut st = HttpState::new();
        let mut stream = Vec::new();
        for _ in 0..PENDING_CAP + 2 {
            stream.extend_from_slice(b"HEAD / HTTP/1.1\r\n\r\n");
        }
        let (all, _) = requests(&mut st, &[&stream], 4096);
        assert_eq!(all.len(), PENDING_CAP + 2);
        let full: Vec<bool> = all
            .iter()
            .map(|r| r.flags.contains(Flags::PENDING_FULL))
            .collect();
        assert!(full[..PENDING_CAP].iter().all(|f| !f));
        assert!(full[PENDING_CAP..].iter().all(|f| *f));
    }

    #[test]
    fn connect_holds_the_client_until_the_reply_decides() {
        let mut st = HttpState::new();
        let connect = b"CONNECT example.com:443 HTTP/1.1\r\n\r\n\x16\x03\x01";
        let step = st.requests(connect, 4096);
        let r = step.status.done().unwrap();
        assert_eq!((r.method_code(), r.host), (0, &b"example.com:443"[..]));
        assert_eq!(st.want(Direction::Requests), Want::Hold);
        let held = &connect[step.consumed..];
        assert_eq!(st.requests(held, 4096), Step::new(0, Outcome::Incomplete));
        // Refused: the client's next bytes are HTTP again.
        let mut refused = st;
        refused.replies(
            b"HTTP/1.1 407 Proxy Auth\r\nContent-Length: 0\r\n\r\n",
            4096,
        );
        assert_eq!(refused.want(Direction::Requests), Want::Head);
        // Accepted: both directions are a tunnel.
        st.replies(b"HTTP/1.1 200 Connection established\r\n\r\n", 4096);
        assert_eq!(st.want(Direction::Requests), Want::Nothing);
        assert_eq!(st.want(Direction::Replies), Want::Nothing);
        assert_eq!(st.requests(held, 4096).status, Outcome::NotThis);
        assert_eq!(st.replies(b"\x16\x03\x03", 4096).status, Outcome::NotThis);
    }

    #[test]
    fn switching_protocols_ends_both_directions() {
        let mut st = HttpState::new();
        st.requests(b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", 4096);
        let r = st.replies(b"HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05", 4096);
        assert_eq!(r.status.done().unwrap().status, 101);
        assert_eq!(st.want(Direction::Requests), Want::Nothing);
        assert_eq!(st.replies(b"\x81\x05", 4096).status, Outcome::NotThis);
    }

    #[test]
    fn several_cookie_lines_are_all_kept() {
        let head = b"GET / HTTP/1.1\r\nCookie: a=1\r\nHost: h\r\ncookie: b=2\r\nCookie:\r\n\r\n";
        let r = HttpState::new().requests(head, 4096).status.done().unwrap();
        assert_eq!(r.cookie.lines(), [&b"a=1"[..], b"b=2"]);
        assert_eq!(r.cookie.joined_len(), "a=1; b=2".len());
        assert_eq!(r.flags, Flags::NONE);
        let mut head = b"GET / HTTP/1.1\r\n".to_vec();
        for i in 0..=COOKIE_LINES {
            head.extend_from_slice(format!("Cookie: c{i}=1\r\n").as_bytes());
        }
        head.extend_from_slice(b"\r\n");
        let r = HttpState::new()
            .requests(&head, 4096)
            .status
            .done()
            .unwrap();
        assert_eq!(r.cookie.lines().len(), COOKIE_LINES);
        assert_eq!(r.flags, Flags::TRUNCATED);
    }

    #[test]
    fn an_absolute_form_target_gives_host_and_path() {
        let head = b"GET http://user@proxy.example:8080/p/q?x=1 HTTP/1.1\r\nHost: other\r\n\r\n";
        let r = HttpState::new().requests(head, 4096).status.done().unwrap();
        assert_eq!(r.host, b"proxy.example:8080");
        assert_eq!(r.path, b"/p/q?x=1");
        assert_eq!(r.target, b"http://user@proxy.example:8080/p/q?x=1");
        let r = HttpState::new()
            .requests(b"GET HTTP://h.example HTTP/1.1\r\n\r\n", 4096)
            .status
            .done()
            .unwrap();
        assert_eq!((r.host, r.path), (&b"h.example"[..], &b"/"[..]));
    }

    #[test]
    fn a_head_longer_than_the_cap_is_truncated_on_a_utf8_boundary() {
        // "é" is C3 A9: the cap falls between the two octets.
        let mut head =
            b"GET /x HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nCookie: ab\xc3\xa9".to_vec();
        let cap = head.len() - 1;
        head.extend_from_slice(b"cd\r\nUser-Agent: later\r\n\r\nbodyGET /next HTTP/1.1\r\n\r\n");
        let mut st = HttpState::new();
        let step = st.requests(&head, cap);
        assert_eq!(step.consumed, cap);
        let r = step.status.done().unwrap();
        assert!(r.flags.contains(Flags::TRUNCATED));
        assert_eq!(r.cookie.lines(), [&b"ab"[..]]);
        assert_eq!((r.host, r.user_agent), (&b"h"[..], &b""[..]));
        assert_eq!(st.want(Direction::Requests), Want::Framing);
        // The rest of the head is skipped, the body by its length, and the
        // next request is found.
        let step = st.requests(&head[cap..], 4096);
        let r = step.status.done().unwrap();
        assert_eq!(r.path, b"/next");
        assert_eq!(step.consumed, head.len() - cap);
    }

    #[test]
    fn a_request_line_longer_than_the_cap_keeps_the_path_it_has() {
        let mut head = b"GET /".to_vec();
        head.extend(std::iter::repeat_n(b'a', 100));
        head.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
        let (all, _) = requests(&mut HttpState::new(), &octets(&head), 50);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].path.len(), 46);
        assert!(all[0].flags.contains(Flags::TRUNCATED));
        assert_eq!(all[1].path, "/2");
    }

    #[test]
    fn heads_httparse_refuses_are_read_lax() {
        // More headers than the array holds.
        let mut head = b"GET /many HTTP/1.1\r\n".to_vec();
        for i in 0..MAX_HEADERS + 5 {
            head.extend_from_slice(format!("X-{i}: {i}\r\n").as_bytes());
        }
        head.extend_from_slice(b"Host: late.example\r\nCookie: c=1\r\n\r\nGET /2 HTTP/1.1\r\n\r\n");
        let (all, _) = requests(&mut HttpState::new(), &[&head], 8192);
        assert_eq!(all.len(), 2);
        assert_eq!(
            (all[0].host.as_str(), all[0].cookie.as_str()),
            ("late.example", "c=1")
        );
        assert!(all[0].flags.contains(Flags::LAX));
        // A Latin-1 target (not UTF-8).
        let head = b"GET /caf\xe9 HTTP/1.1\r\nHost: h\r\n\r\n";
        let r = HttpState::new().requests(head, 4096).status.done().unwrap();
        assert_eq!((r.path, r.flags), (&b"/caf\xe9"[..], Flags::LAX));
    }

    #[test]
    fn bad_framing_is_flagged() {
        let mut st = HttpState::new();
        let r = st.requests(b"POST / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 4096);
        assert!(r.status.done().unwrap().flags.contains(Flags::BAD_FRAMING));
        assert_eq!(st.want(Direction::Requests), Want::Nothing);
        let mut st = HttpState::new();
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n";
        let r = st.replies(head, 4096).status.done().unwrap();
        assert_eq!((r.content_length, r.flags), (0, Flags::BAD_FRAMING));
        assert_eq!(st.want(Direction::Replies), Want::Skip(u64::MAX));
        // Equal repeated values are one length.
        let head = b"HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\n";
        let r = HttpState::new().replies(head, 4096).status.done().unwrap();
        assert_eq!((r.content_length, r.flags), (5, Flags::NONE));
    }

    #[test]
    fn a_broken_chunk_is_malformed_where_it_breaks() {
        let mut st = HttpState::new();
        st.replies(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            4096,
        );
        let step = st.replies(b"3\r\nabcX", 4096);
        assert_eq!(
            step.status,
            Outcome::Malformed(Malformed {
                reason: Reason::ChunkDelimiter,
                offset: 6
            })
        );
        assert_eq!(st.want(Direction::Replies), Want::Nothing);
        let mut st = HttpState::new();
        st.replies(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            4096,
        );
        let step = st.replies(b"fffffffffffffffff\r\n", 4096);
        assert_eq!(
            step.status,
            Outcome::Malformed(Malformed {
                reason: Reason::ChunkSize,
                offset: 16
            })
        );
    }

    #[test]
    fn garbage_is_not_http() {
        for junk in [
            &b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"[..],
            b"SSH-2.0-OpenSSH_9.6\r\n",
            b"HELO mail.example\r\n",
            b"INVITE sip:bob@example.com SIP/2.0\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET / HTTP/1.1\rX",
            b"\x00\x00\x00\x00",
        ] {
            assert_eq!(request_start(junk), Outcome::NotThis, "{junk:?}");
            let (all, last) = requests(&mut HttpState::new(), &[junk], 4096);
            assert!(all.is_empty(), "{junk:?}");
            assert!(is_not_http(last), "{junk:?}");
        }
        let (all, last) = replies(&mut HttpState::new(), &[b"\x16\x03\x03\x00\x5a\x02"], 4096);
        assert!(all.is_empty());
        assert!(is_not_http(last));
        assert!(is_not_http(
            replies(&mut HttpState::new(), &[b"ICY 200 OK\r\n\r\n"], 4096).1
        ));
    }

    fn is_not_http(s: Status<()>) -> bool {
        matches!(
            s,
            Outcome::Malformed(Malformed {
                reason: Reason::NotHttp,
                ..
            })
        )
    }

    #[test]
    fn the_detector_accepts_request_lines() {
        let done = |b: &[u8]| request_start(b) == Outcome::Done(());
        assert!(done(b"GET / HTTP/1.1\r\nHost: a\r\n"));
        assert!(done(b"PROPFIND /webdav HTTP/1.1\r\n"));
        assert!(done(b"OPTIONS * HTTP/1.0\n"));
        assert!(done(b"GET http://a/ HTTP/1.1\r\n"));
        // A request line longer than the detector waits for.
        let mut long = b"GET /".to_vec();
        long.resize(LINE_DECIDE, b'a');
        assert!(done(&long));
        for refused in [
            &b"GET  / HTTP/1.1\r\n"[..],
            b"get / HTTP/1.1\r\n",
            b"DESCRIBE rtsp://a/ RTSP/1.0\r\n",
            b"GET / HTTP/1.1\rX",
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZ / HTTP/1.1\r\n",
        ] {
            assert_eq!(request_start(refused), Outcome::NotThis, "{refused:?}");
        }
    }

    #[test]
    fn the_detector_waits_on_every_prefix_of_a_request_line() {
        let line = b"DELETE /a/b?c=d HTTP/1.1\r\n";
        for cut in 1..line.len() {
            assert_eq!(
                request_start(&line[..cut]),
                Outcome::Incomplete,
                "cut {cut}"
            );
        }
        assert_eq!(request_start(line), Outcome::Done(()));
        // A prefix that can no longer be a request line is refused at once.
        assert_eq!(request_start(b"GE?"), Outcome::NotThis);
        assert_eq!(request_start(b"GET ?"), Outcome::NotThis);
    }

    #[test]
    fn utf8_prefix_cuts_only_incomplete_sequences() {
        assert_eq!(utf8_prefix(b"abc"), b"abc");
        assert_eq!(utf8_prefix(b"a\xc3\xa9"), b"a\xc3\xa9");
        assert_eq!(utf8_prefix(b"a\xc3"), b"a");
        assert_eq!(utf8_prefix(b"a\xe2\x82"), b"a");
        assert_eq!(utf8_prefix(b"a\xe2\x82\xac"), b"a\xe2\x82\xac");
        assert_eq!(utf8_prefix(b"a\xf0\x9f\x98"), b"a");
        assert_eq!(utf8_prefix(b"\x80\x80"), b"\x80\x80");
        assert_eq!(utf8_prefix(b""), b"");
    }

    #[test]
    fn the_state_is_small() {
        assert!(core::mem::size_of::<HttpState>() <= 40);
        assert_eq!(core::mem::size_of::<Phase>(), 16);
    }
}
