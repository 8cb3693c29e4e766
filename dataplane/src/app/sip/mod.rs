//! SIP (RFC 3261): the fields of the SIP record (spec §7) from every message,
//! over UDP (one message a datagram) and TCP (messages framed by
//! Content-Length, several to a segment or one over several).
//!
//! # Driver
//!
//! Signature: port 5060 on the server side, or a SIP start line at the start of
//! a direction (on TCP cut anywhere: the registry waits while it is a
//! prefix of one). Per flow: each TCP end's framing ([`SipStream`]) and, for
//! a connection picked up mid-stream, whether the end has found a message
//! start yet. A UDP datagram (reassembled when fragmented) is one message; a
//! TCP end holds a reassembly slot only while a head is incomplete and skips
//! bodies by count. Per worker: the buffer GATEWAYS is joined in.
//!
//! # Contract of the grammar
//!
//! * [`looks_like_sip`] is the signature: it reads the first octets of a
//!   direction (accumulated across segments by the caller) and answers `Done`
//!   for a SIP request or status line, `NotThis` for anything else, and
//!   `Incomplete` — never `NotThis` — for every prefix of a valid start line
//!   up to [`START_LINE_MAX`] octets, so a start line cut at any octet is
//!   recognised once the rest arrives.
//! * [`parse`] reads one message from the front of a buffer and returns a
//!   [`Message`] whose fields borrow the buffer (no copy, no allocation):
//!   the start line, From, To, Call-ID, User-Agent, Content-Type (full values,
//!   compact forms and any case of the names accepted), Content-Length, and
//!   the Via hosts through [`Message::via_hosts`] (every Via header and every
//!   comma-joined value, top first). [`Framing`] says where the body ends: a
//!   datagram's body is bounded by Content-Length or the datagram; a stream's
//!   by Content-Length (RFC 3261 §18.3), so `head_len + body_len` is where the
//!   next message starts. `Incomplete` means the head is not whole yet.
//! * [`SipStream`] is the per-direction state of SIP over TCP (16 octets):
//!   it skips the body of the message before (by count, also without seeing
//!   it: [`SipStream::skipped`]) and CRLF keep-alives (RFC 5626 §3.5.1), and
//!   hands each whole head to [`parse`].
//! * Folded header values (continuation lines, RFC 3261 §7.3.1) are returned
//!   raw, line breaks included, with [`Value::folded`] set — that is what
//!   tshark reports and what the record carries; [`Value::unfold`] writes the
//!   unfolded form into a caller's buffer for whoever prefers it.
//! * GATEWAYS is one string, and the parser does not allocate: the caller
//!   joins [`Message::via_hosts`] into a fixed buffer with [`join_hosts`]
//!   (`,` between hosts; whole hosts only, a truncation flag).
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! SIP-message  = start-line *message-header CRLF [ message-body ]
//! Request-Line = Method SP Request-URI SP SIP-Version CRLF
//! Status-Line  = SIP-Version SP Status-Code SP Reason-Phrase CRLF
//! message-header = header-name HCOLON header-value *(COMMA header-value) CRLF
//!                  (continuation lines start with SP or HTAB)
//! Via          = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
//! via-parm     = sent-protocol LWS sent-by *( SEMI via-params )
//! sent-by      = host [ COLON port ]      host = hostname / IPv4address / "[" IPv6address "]"
//! compact forms (§7.3.3): f From, t To, i Call-ID, v Via, c Content-Type,
//!                         l Content-Length, m Contact
//! ```

mod detect;
mod message;
mod stream;
mod via;

pub use super::text::{FixedText, Step, Value};
pub use detect::{START_LINE_MAX, looks_like_sip};
pub use message::{Flags, Framing, Malformed, Message, Reason, StartLine, name_addr_uri, parse};
pub use stream::SipStream;
pub use via::{ViaHosts, join_hosts};

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Sip;

use super::raw::{DpiProto, MetaProto, Raw};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Output, Seen, Segment, Signature};
use crate::counters::{AppCount, AppCounters};

/// The registered SIP port (RFC 3261 §19.1.1), UDP and TCP.
const SIP_PORT: u16 = 5060;

/// GATEWAYS octets a record carries (whole hosts, `,` between them).
const GATEWAYS_CAP: usize = 1024;

/// Bodies longer than this are not skipped by count (the reassembly window
/// moves by at most this much); the end is left unparsed instead.
const SKIP_MAX: u64 = 1 << 30;

/// Per flow: each TCP end's framing, by [`crate::flow::Endpoint::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    streams: [SipStream; 2],
    /// The end's stream is at a message boundary: from its first octet, or
    /// (picked up mid-stream) from a segment that started a message.
    synced: [bool; 2],
}

// No bigger than HTTP's: the flow table entry does not grow for SIP.
const _: () = assert!(core::mem::size_of::<State>() <= core::mem::size_of::<super::http::State>());

/// The GATEWAYS field being joined (one per worker).
pub struct Worker {
    gateways: Box<FixedText<GATEWAYS_CAP>>,
}

impl Worker {
    pub fn new(_: &AppConfig) -> Worker {
        Worker {
            gateways: Box::new(FixedText::new()),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<FixedText<GATEWAYS_CAP>>()
    }
}

/// Port 5060, or a SIP start line at the start of the packet's direction
/// (`Incomplete` while the octets are a prefix of one).
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport().is_none() {
        return Outcome::NotThis;
    }
    let on_port = seen.server_port() == SIP_PORT;
    let mut st = State {
        synced: [!seen.midstream; 2],
        ..State::default()
    };
    match looks_like_sip(first) {
        Outcome::Done(()) => {
            if let Some(synced) = st.synced.get_mut(seen.obs.sender.index()) {
                *synced = true;
            }
            Outcome::Done(st)
        }
        _ if on_port => Outcome::Done(st),
        other => other.map(|()| st),
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.meta
}

pub(super) fn raw(_: &State) -> Option<Raw> {
    Some(Raw::new(MetaProto::Sip, DpiProto::Sip))
}

/// One record per message: a UDP datagram's, or each one framed on a TCP end.
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    match seen.transport() {
        Some(L4::Udp) => on_datagram(w, cx, seen),
        Some(L4::Tcp) => on_segment(st, w, ends, cx, seen),
        None => {}
    }
}

pub(super) fn on_close(_: &mut State, _: &mut Worker, _: &mut Ends, _: &mut Cx<'_>, _: Close) {}

pub(super) fn on_end(_: &State, _: &mut Worker, _: &Ends, _: &mut Cx<'_>) {}

fn on_datagram(w: &mut Worker, cx: &mut Cx<'_>, seen: &Seen<'_>) {
    match parse(seen.payload, Framing::Datagram) {
        Outcome::Done(m) => {
            let Some(common) = seen.common() else {
                return;
            };
            emit(&m, &common, w, cx.out, cx.counters);
        }
        Outcome::Malformed(_) => cx.count(AppCount::SipMalformed),
        // A keep-alive (CRLF, RFC 5626 §4.4.1), or not SIP.
        Outcome::NotThis | Outcome::Incomplete => {}
    }
}

fn on_segment(st: &mut State, w: &mut Worker, ends: &mut Ends, cx: &mut Cx<'_>, seen: &Seen<'_>) {
    let Some(seq) = seen.tcp_seq() else {
        return;
    };
    let end = seen.obs.sender.index();
    let (Some(sip), Some(synced)) = (st.streams.get_mut(end), st.synced.get_mut(end)) else {
        return;
    };
    if !*synced {
        if looks_like_sip(seen.payload) == Outcome::NotThis {
            return; // inside a message whose start was not seen
        }
        cx.restart_stream(ends, end, seq);
        *sip = SipStream::new();
        *synced = true;
    }
    let r = match cx.stream(ends, end, seq, seen.payload) {
        Segment::Grew(r) => r,
        Segment::Nothing => return,
        // The head in progress went with the reclaimed slot: find the next one.
        Segment::Lost(_) => {
            *synced = false;
            return on_segment(st, w, ends, cx, seen);
        }
    };
    let Some(common) = seen.common() else {
        return;
    };
    let cap = cx.streams.slot_size() as usize;
    let mut finished = false;
    // Each round consumes at least one octet or stops.
    for _ in 0..=cap {
        let step = sip.next(cx.streams.contiguous(r), cap);
        let more = match step.outcome {
            Outcome::Done(m) => {
                emit(&m, &common, w, cx.out, cx.counters);
                true
            }
            Outcome::Incomplete => step.consumed > 0,
            Outcome::Malformed(e) => {
                cx.count(if e.reason == Reason::HeadTooLong {
                    AppCount::SipTooLong
                } else {
                    AppCount::SipMalformed
                });
                finished = true;
                false
            }
            Outcome::NotThis => {
                finished = true;
                false
            }
        };
        cx.streams.consume(r, step.consumed as u32);
        // A body the slot does not hold: skipped by count, dropped on arrival.
        match sip.pending_body() {
            0 => {}
            n if n < SKIP_MAX => {
                cx.streams.consume(r, n as u32);
                sip.skipped(n);
            }
            _ => {
                cx.count(AppCount::SipTooLong);
                finished = true;
                break;
            }
        }
        if !more {
            break;
        }
    }
    if finished {
        cx.finish_stream(ends, end);
    } else {
        cx.release_if_empty(ends, end, r);
    }
}

/// The SIP record of a message (spec §7), handed to the export side.
fn emit(m: &Message<'_>, common: &Common, w: &mut Worker, out: &mut Output, c: &AppCounters) {
    c.add(AppCount::SipMessages, 1);
    let gateways = &mut *w.gateways;
    gateways.clear();
    if !join_hosts(m.via_hosts(), gateways) {
        c.add(AppCount::SipGatewaysCut, 1);
    }
    let record = Sip {
        msg_code: Text::new(m.msg_code()),
        status_code: m.status_code(),
        uri: Text::new(m.uri()),
        from: Text::new(m.from.raw),
        to: Text::new(m.to.raw),
        callid: Text::new(m.call_id.raw),
        uagent: Text::new(m.user_agent.raw),
        ctype: Text::new(m.content_type.raw),
        gateways: Text::new(gateways.as_bytes()),
        ..common.sip()
    };
    if out.emit(&record, c) {
        c.add(AppCount::SipRecords, 1);
    }
}
