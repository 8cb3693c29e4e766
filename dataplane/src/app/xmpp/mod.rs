//! XMPP client-to-server connections (RFC 6120): the IM record of spec §7
//! (IM_PROTOCOL 7) — one when the SASL authentication succeeds (with the
//! JID the server binds) or fails, one per message stanza the client sends.
//!
//! # Driver
//!
//! Signature: port 5222 on the server side, or an XMPP stream header (an
//! optional XML declaration, then `<stream:stream`) at the start of a
//! direction, on any port (cut anywhere: the registry waits while it is a
//! prefix of one). Per flow: a [`State`] of 8 octets — the index of the
//! connection's slot in the worker's pool of [`XmppState`]s (under 1 KiB
//! each: too big for the flow table). An end holds a reassembly slot only
//! while a tag is incomplete; text is read in pieces as it arrives.
//!
//! A login record is the client's: its addresses, ports and L2 fields are
//! those of the client packet that carried the last SASL message (kept in
//! the pool slot), its time the server's answer's. A message record is the
//! client packet that starts the stanza.
//!
//! A segment that lands past a hole in the stream (a segment the probe
//! never saw) and starts with `<` starts the stream over there (counted):
//! XMPP clients write stanzas whole, so the next stanza is most likely
//! where the segment starts, and the records after a loss are not lost
//! with it. A connection picked up mid-stream is read from the first
//! segment of each end that starts with `<`.
//!
//! `<proceed/>` (STARTTLS accepted) ends the cleartext: the parser stops
//! and the ClientHello that follows binds the flow to TLS.
//!
//! # Contract of the grammar
//!
//! * [`looks_like_stream`] is the signature: `Incomplete` for every prefix
//!   of a stream header up to [`HEADER_MAX`] octets, `NotThis` for anything
//!   else.
//! * [`token`] reads one token from the front of a buffer — a start,
//!   empty-element or end tag (name and raw attributes, borrowed), a piece
//!   of character data, or other markup (declarations, comments, CDATA) —
//!   and says `Incomplete` for a cut tag; [`attr`] and [`local`] read a
//!   tag's attribute and name. No tree is built: [`XmppState`] keeps the
//!   depth of each direction and what it is reading.
//! * [`credentials`] reads the SASL messages that name the user, in
//!   `<auth>` or (after an empty initial response) in a `<response>`:
//!   PLAIN's and X-OAUTH2's (`authzid NUL authcid NUL passwd`, RFC 4616),
//!   SCRAM's client-first message (`n=`, RFC 5802), DIGEST-MD5's first
//!   response (`username="…"`, RFC 2831), from base64.
//! * [`XmppState`] is the per-connection state (`Copy`, under 1 KiB): the
//!   login, password and JID a record needs long after their segment was
//!   consumed are **copied**, at most [`NAME_CAP`] / [`JID_CAP`] octets
//!   (cut on a UTF-8 boundary, flagged [`Login::truncated`]).
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! stream   = [ XMLDecl ] "<stream:stream" attrs ">" *( top-level ) [ "</stream:stream>" ]
//! login    = C: <auth mechanism='M'>[base64]</auth>  [ S: <challenge/> C: <response>base64</response> ]…
//!            S: <success/>  → (new stream) C: <iq type='set'><bind/></iq>
//!            S: <iq type='result'><bind><jid>JID</jid></bind></iq>      → record, RESULT_CODE 0
//!            S: <failure><condition/>…</failure>                        → record, RESULT_CODE 1–12
//! message  = C: <message to='JID' …>…</message>                         → record, IM_RECEIVERS = to
//! tls      = C: <starttls/>  S: <proceed/>                              → the cleartext ends
//! ```

mod grammar;
mod state;

pub use grammar::{
    HEADER_MAX, Mechanism, Reason, SASL_MAX, Token, attr, credentials, local, looks_like_stream,
    token,
};
pub use state::{AuthResult, Event, JID_CAP, Login, Message, NAME_CAP, XmppState};

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Im;

use super::pool::{ConnSlot, SlotPool};
use super::raw::{DpiProto, MetaProto, Raw};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Output, Seen, Signature};
use crate::counters::{AppCount, AppCounters};

/// The client-to-server port (RFC 6120 §14.7).
const XMPP_PORT: u16 = 5222;
/// IM_PROTOCOL of XMPP records (spec §7).
pub const IM_XMPP: u8 = 7;

/// Per flow: where the connection is parsed.
pub type State = ConnSlot;

const _: () = assert!(core::mem::size_of::<State>() <= 8);

/// One connection being parsed.
#[derive(Clone, Copy, Debug)]
struct Conn {
    xmpp: XmppState,
    /// The common fields of the client packet that carried the last SASL
    /// message, held without the login (the flow's is put back when the
    /// record goes out).
    client: Option<Common<'static>>,
    /// Each end ([`crate::flow::Endpoint::index`]) is at a token boundary:
    /// from its first octet, or (mid-stream, after a hole) from a segment
    /// that starts with `<`.
    synced: [bool; 2],
}

const _: () = assert!(core::mem::size_of::<Conn>() <= 1024);

impl Conn {
    const IDLE: Conn = Conn {
        xmpp: XmppState::new(),
        client: None,
        synced: [true; 2],
    };
}

/// The pool of connection states: fixed at start.
pub struct Worker {
    conns: SlotPool<Conn>,
}

impl Worker {
    pub fn new(cfg: &AppConfig) -> Worker {
        let n = if cfg.meta { cfg.xmpp_slots } else { 0 };
        Worker {
            conns: SlotPool::new(n, Conn::IDLE),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.conns.memory_bytes()
    }
}

/// Port 5222, or a stream header at the start of the packet's direction
/// (`Incomplete` while the octets are a prefix of one).
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    if seen.server_port() == XMPP_PORT {
        return Outcome::Done(ConnSlot::Fresh);
    }
    looks_like_stream(first).map(|()| ConnSlot::Fresh)
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.meta
}

pub(super) fn raw(_: &State) -> Option<Raw> {
    Some(Raw::new(MetaProto::Xmpp, DpiProto::Xmpp))
}

/// Both directions, token by token, in the order the segments arrive.
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let fresh = || Conn {
        synced: [!seen.midstream; 2],
        ..Conn::IDLE
    };
    let Some(slot) = w.conns.slot(st, fresh, cx, AppCount::XmppExhausted) else {
        return;
    };
    let (Some(seq), Some(common)) = (seen.tcp_seq(), seen.common()) else {
        return;
    };
    let Some(conn) = w.conns.get_mut(slot) else {
        return;
    };
    if seen.from_client {
        conn.client = Some(common.with_login(&[]));
    }
    let end = seen.obs.sender.index();
    let Some(synced) = conn.synced.get_mut(end) else {
        return;
    };
    let starts = seen.payload.first() == Some(&b'<');
    let at = (end, seq, seen.payload);
    let Some(r) = cx.stream_from_starts(ends, at, starts, synced, AppCount::XmppGaps) else {
        return;
    };
    let cap = cx.streams.slot_size() as usize;
    let mut stop = None;
    // Each round consumes a token or stops.
    for _ in 0..=cap {
        let window = cx.streams.contiguous(r);
        if window.is_empty() {
            break;
        }
        let step = if seen.from_client {
            conn.xmpp.client(window, cap)
        } else {
            conn.xmpp.server(window, cap)
        };
        let more = match step.outcome {
            Outcome::Done(Event::Stanza) => {
                cx.count(AppCount::XmppStanzas);
                true
            }
            Outcome::Done(Event::Login(login)) => {
                let client = match conn.client {
                    Some(c) => c.with_login(cx.login),
                    None if seen.from_client => common,
                    None => common.reversed([common.dst_mac, common.src_mac]),
                };
                emit_login(&login, &client, common.time_stamp, cx.out, cx.counters);
                true
            }
            Outcome::Done(Event::Message(m)) => {
                cx.count(AppCount::XmppStanzas);
                let record = Im {
                    im_login: Text::new(m.login),
                    im_screen_name: Text::new(m.screen_name),
                    im_protocol: IM_XMPP,
                    im_receivers: Text::new(m.receivers),
                    ..common.im()
                };
                emit(&record, cx.out, cx.counters);
                true
            }
            Outcome::Done(Event::Tls) | Outcome::NotThis => {
                stop = Some(Stop::Tls);
                false
            }
            Outcome::Malformed(reason) => {
                stop = Some(Stop::Given(reason));
                false
            }
            Outcome::Incomplete => false,
        };
        cx.streams.consume(r, step.consumed as u32);
        if !more {
            break;
        }
    }
    match stop {
        Some(Stop::Tls) => {
            // STARTTLS accepted: nothing more is readable here; the
            // ClientHello that follows binds the flow to TLS.
            give_back(slot, w, cx);
            *st = ConnSlot::Unparsed;
            ends.expect_tls();
            for e in 0..2 {
                cx.finish_stream(ends, e);
            }
        }
        Some(Stop::Given(reason)) => {
            cx.count(match reason {
                Reason::TagTooLong => AppCount::XmppTooLong,
                Reason::NotXml => AppCount::XmppMalformed,
            });
            cx.finish_stream(ends, end);
        }
        None => cx.release_if_empty(ends, end, r),
    }
}

/// Why the reading of an end stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stop {
    Tls,
    Given(Reason),
}

pub(super) fn on_close(st: &mut State, w: &mut Worker, _: &mut Ends, cx: &mut Cx<'_>, how: Close) {
    if let Some(slot) = w.conns.closed(st, how) {
        give_back(slot, w, cx);
    }
}

pub(super) fn on_end(st: &State, w: &mut Worker, _: &Ends, cx: &mut Cx<'_>) {
    if let ConnSlot::Held(slot) = *st {
        give_back(slot, w, cx);
    }
}

/// The connection is over: an authentication unanswered, or answered
/// without a bind seen, gives its record; the slot goes back.
fn give_back(slot: u32, w: &mut Worker, cx: &mut Cx<'_>) {
    if let Some(conn) = w.conns.get(slot)
        && let (Some(login), Some(client)) = (conn.xmpp.finish(), conn.client)
    {
        let client = client.with_login(cx.login);
        emit_login(&login, &client, client.time_stamp, cx.out, cx.counters);
    }
    w.conns.give_back(slot);
}

/// The login record of `login`, as `client`'s, dated `time`.
fn emit_login(
    login: &Login<'_>,
    client: &Common<'_>,
    time: u32,
    out: &mut Output,
    c: &AppCounters,
) {
    if login.truncated {
        c.add(AppCount::XmppNamesCut, 1);
    }
    let record = Im {
        time_stamp: time,
        im_login: Text::new(login.login),
        im_passw: Text::new(login.password),
        im_screen_name: Text::new(login.screen_name),
        im_protocol: IM_XMPP,
        result_code: u32::from(login.result.code()),
        ..client.im()
    };
    emit(&record, out, c);
}

fn emit(record: &Im<'_>, out: &mut Output, c: &AppCounters) {
    if out.emit(record, c) {
        c.add(AppCount::XmppRecords, 1);
    }
}
