//! HTTP/1.x: every request of a connection → clickstream (HOST_TYPE 1), and
//! with `http_parse_reply` every reply → HTTP reply (spec §5).
//!
//! Signature: a request line start in the client's first payload. Per flow:
//! [`HttpState`], both directions' framing machines and the methods awaiting
//! replies. An end holds a reassembly slot only while a message head is
//! incomplete; bodies are skipped by count, never buffered. Grammar:
//! [`grammar`] (heads on httparse, body framing, the lax walker).

mod grammar;

pub use grammar::*;

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Clickstream;

use super::raw::Raw;
use super::record::HOST_HTTP;
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Seen, Segment, Signature};
use crate::counters::AppCount;
use crate::flow::{Endpoint, ShortPath};

/// Per flow: the grammar's state machine.
pub type State = HttpState;

/// COOKIE octets a record carries (several Cookie lines joined).
const COOKIE_CAP: usize = 4096;

/// Bodies longer than this are not skipped by count (the reassembly window
/// moves by at most this much); the end is left unparsed instead.
const SKIP_MAX: u64 = 1 << 30;

/// The COOKIE field being joined (one per worker, not zeroed per request).
pub struct Worker {
    cookie: Box<[u8; COOKIE_CAP]>,
}

impl Worker {
    pub fn new(_: &AppConfig) -> Worker {
        Worker {
            cookie: Box::new([0; COOKIE_CAP]),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        COOKIE_CAP
    }
}

/// A request line at the start of the client's stream (cut anywhere:
/// `Incomplete` until it can tell); on a connection picked up mid-stream
/// also a status line at a segment start of the server's.
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    match request_start(first) {
        Outcome::NotThis if seen.midstream && !seen.from_client => {
            status_start(first).map(|()| HttpState::picked_up(Direction::Replies))
        }
        Outcome::Done(()) if seen.midstream => {
            Outcome::Done(HttpState::picked_up(Direction::Requests))
        }
        other => other.map(|()| HttpState::new()),
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.clickstream || cfg.block
}

/// Which segments of the connection need the parser ([`ShortPath`]): every
/// one with payload, FIN or RST, but those wholly before where an end's
/// stream goes on — a body skipped by count, a retransmission: the stream
/// would give nothing of them — unless that end is finding its place again
/// (then every segment is looked at for a message start). The server's end
/// first (downloads), else the client's (uploads). Out of line: inlined into
/// `Apps::short_path`, it kept that out of line for every protocol's packets.
#[inline(never)]
pub(super) fn short_path(st: &State, ends: &Ends, client: Endpoint) -> ShortPath {
    let server = client.other();
    let ahead = |end, dir| ends.ahead(end).filter(|_| st.want(dir) != Want::Resync);
    if let Some(next) = ahead(server, Direction::Replies) {
        ShortPath::PAYLOAD.skipping_before(server, next)
    } else if let Some(next) = ahead(client, Direction::Requests) {
        ShortPath::PAYLOAD.skipping_before(client, next)
    } else {
        ShortPath::PAYLOAD
    }
}

/// No raw metadata records (spec §7 names no such protocol).
pub(super) fn raw(_: &State) -> Option<Raw> {
    None
}

/// Every request (and, with `http_parse_reply`, every reply) of the connection.
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let Some(seq) = seen.tcp_seq() else {
        return;
    };
    let end = seen.obs.sender.index();
    let dir = if seen.from_client {
        Direction::Requests
    } else {
        Direction::Replies
    };
    if dir == Direction::Replies && !cx.cfg.http_replies {
        return;
    }
    if st.want(dir) == Want::Resync {
        let starts = match dir {
            Direction::Requests => request_start(seen.payload) != Outcome::NotThis,
            Direction::Replies => status_start(seen.payload) != Outcome::NotThis,
        };
        if !starts {
            return; // inside a message whose start was not seen
        }
        cx.restart_stream(ends, end, seq);
        st.found_place(dir);
    }
    let r = match cx.stream(ends, end, seq, seen.payload) {
        Segment::Grew(r) => r,
        Segment::Nothing => return,
        // The head in progress went with the reclaimed slot: find the next one.
        Segment::Lost(_) => {
            st.lose_place(dir);
            return on_payload(st, w, ends, cx, seen);
        }
    };
    let Some(common) = seen.common() else {
        return;
    };
    let cap = cx.streams.slot_size() as usize;
    let mut finished = false;
    // Each round consumes at least one octet or stops.
    for _ in 0..cap {
        let window = cx.streams.contiguous(r);
        let Some(base) = cx.streams.base(r) else {
            break;
        };
        let step = match (st.want(dir), window.is_empty()) {
            (Want::Nothing, _) | (Want::Skip(u64::MAX), true) => {
                finished = true;
                break;
            }
            (Want::Skip(n), true) if n < SKIP_MAX => {
                cx.streams.consume(r, n as u32);
                st.skipped(dir, n);
                break;
            }
            (Want::Skip(_), true) => {
                finished = true; // a body too long to count through: the end goes unparsed
                break;
            }
            (_, true) => break,
            (_, false) => match dir {
                Direction::Requests => {
                    let step = st.requests(window, cap);
                    if let Outcome::Done(req) = step.status {
                        // TCP Sequence of the segment holding the request line:
                        // this one when the line starts in it, else the earlier
                        // segment the line started (its first octet).
                        let line = base.wrapping_add(req.start as u32);
                        let in_this = line.wrapping_sub(seq) < seen.payload.len() as u32;
                        let seq = if in_this { seq } else { line };
                        if req.flags.contains(Flags::TRUNCATED) {
                            cx.counters.add(AppCount::HttpTruncated, 1);
                        }
                        let locked =
                            Cx::lock(&mut cx.locked, cx.policy, |p| p.http(req.host, req.path));
                        let record = Clickstream {
                            locked,
                            ..request_record(&req, seq, &common, &mut w.cookie)
                        };
                        cx.out.emit(&record, cx.counters);
                    }
                    step.erased()
                }
                Direction::Replies => {
                    let step = st.replies(window, cap);
                    if let Outcome::Done(reply) = step.status {
                        let record = metaprobe_ipfix::template::HttpReply {
                            result_code: u32::from(reply.status),
                            content_length: reply.content_length,
                            content_type: Text::new(reply.content_type),
                            location: Text::new(reply.location),
                            ..common.http_reply()
                        };
                        cx.out.emit(&record, cx.counters);
                    }
                    step.erased()
                }
            },
        };
        cx.streams.consume(r, step.consumed as u32);
        match step.status {
            Outcome::Done(()) => {}
            Outcome::Incomplete => {
                if step.consumed == 0 {
                    break;
                }
            }
            Outcome::Malformed(_) => {
                cx.count(AppCount::HttpMalformed);
                finished = true;
                break;
            }
            Outcome::NotThis => {
                finished = true; // a tunnel
                break;
            }
        }
    }
    if finished {
        cx.finish_stream(ends, end);
    } else {
        cx.release_if_empty(ends, end, r);
    }
}

pub(super) fn on_close(_: &mut State, _: &mut Worker, _: &mut Ends, _: &mut Cx<'_>, _: Close) {}

pub(super) fn on_end(_: &State, _: &mut Worker, _: &Ends, _: &mut Cx<'_>) {}

/// The clickstream record of a request; COOKIE is its Cookie lines joined
/// with "; " in `cookie`.
fn request_record<'a>(
    req: &Request<'a>,
    seq: u32,
    common: &'a Common<'a>,
    cookie: &'a mut [u8; COOKIE_CAP],
) -> Clickstream<'a> {
    let mut len = 0;
    for (i, line) in req.cookie.lines().iter().enumerate() {
        let sep: &[u8] = if i == 0 { b"" } else { b"; " };
        for part in [sep, line] {
            let n = part.len().min(COOKIE_CAP - len);
            #[expect(
                clippy::indexing_slicing,
                reason = "n is cut to what is left of the buffer and to the part"
            )]
            cookie[len..len + n].copy_from_slice(&part[..n]);
            len += n;
        }
    }
    #[expect(clippy::indexing_slicing, reason = "len never exceeds COOKIE_CAP")]
    let joined: &'a [u8] = &cookie[..len];
    Clickstream {
        path: Text::new(req.path),
        refer: Text::new(req.referer),
        user_agent: Text::new(req.user_agent),
        cookie: Text::new(utf8_prefix(joined)),
        method: req.method_code(),
        ..common.clickstream(req.host, HOST_HTTP, seq)
    }
}
