//! QUIC v1/v2: the client Initials' ClientHello → clickstream (HOST_TYPE 4)
//! and, with `ssl_parse_reply`, the server Initials' ServerHello → TLS reply.
//!
//! Signature: a UDP datagram starting with a v1/v2 long-header Initial. Per
//! flow: a connection-state slot while the ClientHello is incomplete (and
//! until the ServerHello when replies are wanted) and fingerprints of the
//! connection ids already reported. Per worker: the pool of those slots.
//! Grammar: [`grammar`] (Initial keys, header protection, decryption, CRYPTO
//! frames in any order, the TLS hellos inside).

mod grammar;

pub use grammar::*;

use metaprobe_ipfix::field::Octets;
use metaprobe_ipfix::template::Clickstream;

use super::raw::Raw;
use super::record::HOST_QUIC;
use super::{AppConfig, Close, Cx, Ends, L4, Outcome, Seen, Signature, Wake};
use crate::counters::AppCount;

/// Per flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The connection state slot while its ClientHello is incomplete and,
    /// with `ssl_parse_reply`, until the server's ServerHello is parsed.
    slot: Option<u32>,
    /// Hash of the first DCID of the connection already reported.
    reported: Option<u64>,
    /// Hash of the server's connection id of that connection (the DCID of
    /// the client's Initials after the server's first).
    server_cid: Option<u64>,
}

/// The connection states of a worker: fixed at start, handed out per flow.
pub struct Worker {
    slots: Box<[QuicInitialState]>,
    free: Vec<u32>,
}

impl Worker {
    pub fn new(cfg: &AppConfig) -> Worker {
        let n = if cfg.clickstream { cfg.quic_slots } else { 0 };
        Worker {
            slots: (0..n).map(|_| QuicInitialState::new()).collect(),
            free: (0..n).rev().collect(),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }
}

/// A QUIC long-header Initial of version 1 or 2 (a datagram is whole).
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() == Some(L4::Udp) && initial_dcid(first).is_some() {
        Outcome::Done(State::default())
    } else {
        Outcome::NotThis
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.clickstream || cfg.block
}

/// No raw metadata records (spec §7 names no such protocol).
pub(super) fn raw(_: &State) -> Option<Raw> {
    None
}

/// A long header (Initial, 0-RTT, Handshake, Retry): what a connection's
/// start is made of; after it, short headers only.
const LONG_HEADER: Wake = Wake {
    mask: 0x80,
    value: 0x80,
};

/// Client Initials: the ClientHello. With `ssl_parse_reply`, the connection's
/// slot is kept after it for the server's Initials: their ServerHello, then
/// the slot goes back. Without a slot the flow rests until a long header
/// comes (a new connection's Initial): its 1-RTT packets need no parser.
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    on_datagram(st, w, cx, seen);
    ends.rest_until(st.slot.is_none().then_some(LONG_HEADER));
}

fn on_datagram(st: &mut State, w: &mut Worker, cx: &mut Cx<'_>, seen: &Seen<'_>) {
    if let Some(slot) = st.slot
        && seen
            .payload
            .first()
            .is_some_and(|b| b & LONG_HEADER.mask == 0)
    {
        // 1-RTT: the connection's Initials are over, what was missing of
        // them (the server's, or the rest of the client's) will not come.
        cx.count(AppCount::QuicInitialsUnfinished);
        st.slot = None;
        w.free.push(slot);
        return;
    }
    if !seen.from_client {
        if let Some(slot) = st.slot {
            on_server_datagram(st, w, slot, cx, seen);
        }
        return;
    }
    let Some(dcid) = initial_dcid(seen.payload) else {
        return;
    };
    if st.slot.is_none() {
        let h = fingerprint(dcid);
        if st.reported == Some(h) || st.server_cid == Some(h) {
            return; // a later Initial of the connection already reported
        }
    }
    let slot = match st.slot {
        Some(s) => s,
        None => {
            let Some(s) = w.free.pop() else {
                cx.count(AppCount::QuicExhausted);
                return;
            };
            if let Some(state) = w.slots.get_mut(s as usize) {
                state.reset();
            }
            st.slot = Some(s);
            s
        }
    };
    let Some(state) = w.slots.get_mut(slot as usize) else {
        return;
    };
    let status = state.on_client_datagram(seen.payload);
    let started = state.connections() > 0;
    match status {
        Outcome::Done(hello) => {
            // The server's ServerHello follows: keep the slot for it.
            let keep = cx.cfg.tls_replies;
            *st = State {
                slot: keep.then_some(slot),
                reported: Some(fingerprint(state.original_dcid())),
                server_cid: None,
            };
            if !keep {
                w.free.push(slot);
            }
            if let Some(sni) = hello.server_name.as_ref().filter(|n| !n.is_empty())
                && let Some(common) = seen.common()
            {
                let record = Clickstream {
                    cipher_suites_len: hello.cipher_suites_len,
                    cipher_suites: Octets(hello.cipher_suites_raw()),
                    locked: cx.lock_server_name(sni.as_bytes()),
                    ..common.clickstream(sni.as_bytes(), HOST_QUIC, 0)
                };
                cx.emit(&record);
            }
            return;
        }
        Outcome::Malformed(_) => cx.count(AppCount::QuicMalformed),
        Outcome::Incomplete | Outcome::NotThis => {}
    }
    if !started {
        // Nothing of a connection in the slot (no Initial decrypted): give it back.
        st.slot = None;
        w.free.push(slot);
    }
}

pub(super) fn on_close(_: &mut State, _: &mut Worker, _: &mut Ends, _: &mut Cx<'_>, _: Close) {}

pub(super) fn on_end(st: &State, w: &mut Worker, _: &Ends, _: &mut Cx<'_>) {
    if let Some(slot) = st.slot {
        w.free.push(slot);
    }
}

/// A server datagram of a connection whose slot waits for the ServerHello.
fn on_server_datagram(st: &mut State, w: &mut Worker, slot: u32, cx: &mut Cx<'_>, seen: &Seen<'_>) {
    let Some(state) = w.slots.get_mut(slot as usize) else {
        return;
    };
    let status = state.on_server_datagram(seen.payload);
    if state.server_finished() {
        let server_cid =
            Some(fingerprint(state.server_cid())).filter(|_| !state.server_cid().is_empty());
        *st = State {
            slot: None,
            reported: Some(fingerprint(state.original_dcid())),
            server_cid,
        };
        w.free.push(slot);
    }
    match status {
        // TLS 1.3: the certificate is encrypted (HOST_TYPE 0, no cname).
        Outcome::Done(hello) => {
            if let Some(common) = seen.common() {
                let record = super::tls::reply_record(&common, &hello, None);
                cx.emit(&record);
            }
        }
        Outcome::Malformed(_) => cx.count(AppCount::QuicMalformed),
        Outcome::Incomplete | Outcome::NotThis => {}
    }
}

/// FNV-1a: a connection id's fingerprint (not security relevant).
fn fingerprint(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
