//! FTP control connections (RFC 959, RFC 2428, RFC 7151): the FTP record of
//! spec §7 — one per login attempt, one per data-connection mode setting —
//! and the data endpoints PORT/EPRT/PASV/EPSV announce, so the driver can
//! bind the data connections to the control session.
//!
//! # Driver
//!
//! Signature: port 21 on the server side, or a 220 greeting (not SMTP's) as the
//! server's first octets. Per flow: a [`State`] of 16 octets — the index of
//! the connection's slot in the worker's pool of [`FtpState`]s (250 octets
//! each: too big for the flow table), or, for a data connection, the
//! SESSION_ID of its control connection. An end holds a reassembly slot only
//! while a line is incomplete. A record is the client's request answered by
//! the server: its addresses, ports and L2 fields are those of the client
//! packet of the command (kept in the pool slot), its time the reply's.
//!
//! Data connections: a 2xx reply to PORT/EPRT/PASV/EPSV puts the endpoint
//! into the worker's table of [`data::Expectations`]; a new flow whose first
//! payload finds itself there is bound to the control connection
//! ([`State::Data`]) before any signature is tried — a file that starts
//! like an HTTP request or a TLS record is not taken for one — and its raw
//! records (with `ftp` in `ipfix_meta_raw`) carry the control connection's
//! SESSION_ID. They give no other record.
//!
//! # Contract of the grammar
//!
//! * [`looks_like_greeting`] is the signature (any port): the server's first
//!   line is a 220 greeting that does not name SMTP. `Incomplete` for every
//!   prefix of one.
//! * The grammar is a set of pure functions over one line (without its line
//!   break): [`command`], [`reply_line`], [`port_argument`],
//!   [`eprt_argument`], [`pasv_reply`], [`epsv_reply`], [`greeting_host`].
//! * [`FtpState`] is the per-connection state (`Copy`, at most 256 octets):
//!   it reads both directions line by line ([`FtpState::client`],
//!   [`FtpState::server`]), pairs every command with its final reply (in
//!   order, RFC 959 §4.2; preliminary 1yz replies and the lines of
//!   multi-line replies are passed over), and gives an [`FtpRecord`] when
//!   a login attempt or a mode setting is answered. Only one line at a time
//!   has to be contiguous.
//! * The values a record needs long after their line was consumed (USER,
//!   PASS, the server name) are **copied** into the state, at most
//!   [`NAME_CAP`] octets each (cut on a UTF-8 boundary, flagged
//!   [`FtpRecord::truncated`]). Keeping them in the reassembly window
//!   instead would pin the client direction's window from USER until the
//!   reply to PASS, which comes in the other direction, possibly many
//!   segments later; 3 × 64 octets per FTP connection is cheaper and
//!   bounded.
//! * SERVER_NAME: the argument of the client's HOST command (RFC 7151, the
//!   server's name as the client named it), else the first word of the 220
//!   greeting that looks like a domain name ([`greeting_host`]), else empty.
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! command  = verb [ SP argument ] CRLF          verb: case-insensitive
//! reply    = 3DIGIT SP text CRLF
//!          / 3DIGIT "-" text CRLF *( line CRLF ) 3DIGIT SP text CRLF   (same code)
//! PORT h1,h2,h3,h4,p1,p2                 227 ... (h1,h2,h3,h4,p1,p2)
//! EPRT |1|132.235.1.2|6275|              229 ... (|||6446|)
//! EPRT |2|1080::8:800:200C:417A|5282|
//! login:  USER → 331 → PASS → 230 / 530     or  USER → 230 / 530
//! mode:   PORT / EPRT → 200 (MODE 0)        PASV → 227, EPSV → 229 (MODE 1)
//! ```

pub mod data;
mod grammar;
mod state;

pub use grammar::{
    Command, Endpoint, GREETING_LINE_MAX, ReplyLine, Verb, command, eprt_argument, epsv_reply,
    greeting_host, looks_like_greeting, pasv_reply, port_argument, reply_line,
};
pub use state::{Event, FtpRecord, FtpState, Mode, NAME_CAP, PENDING_CAP, Reason, RecordKind};

use core::net::IpAddr;

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Ftp;

use super::pool::{ConnSlot, SlotPool};
use super::raw::{DpiProto, MetaProto, Raw};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Seen, Signature};
use crate::counters::AppCount;
use data::{EXPECT_SECS, Expectations, Expected};

/// The FTP control port (RFC 959).
const FTP_PORT: u16 = 21;
/// SMTP and submission (RFC 5321, RFC 6409): their servers greet with 220
/// too, not always naming SMTP.
const SMTP_PORTS: [u16; 2] = [25, 587];

/// Per flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// A control connection, and where it is parsed.
    Control(ConnSlot),
    /// A data connection of the control connection with this SESSION_ID.
    Data { control: u64 },
}

impl Default for State {
    fn default() -> Self {
        State::Control(ConnSlot::Fresh)
    }
}

const _: () = assert!(core::mem::size_of::<State>() <= 16);

/// One control connection being parsed.
#[derive(Clone, Copy, Debug)]
struct Conn {
    ftp: FtpState,
    /// The common fields of the client packet that carried the last command:
    /// the record of its reply is the client's request. Held without the
    /// login (the flow's is put back when the record goes out).
    client: Option<Common<'static>>,
}

impl Conn {
    fn new() -> Conn {
        Conn {
            ftp: FtpState::new(),
            client: None,
        }
    }
}

/// The pool of control-connection states and the table of announced data
/// connections: fixed at start.
pub struct Worker {
    conns: SlotPool<Conn>,
    expected: Expectations,
}

impl Worker {
    pub fn new(cfg: &AppConfig) -> Worker {
        let (n, expected) = if cfg.meta {
            (cfg.ftp_slots, cfg.ftp_expected)
        } else {
            (0, 0)
        };
        Worker {
            conns: SlotPool::new(n, Conn::new()),
            expected: Expectations::new(expected),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.conns.memory_bytes() + self.expected.memory_bytes()
    }
}

/// Port 21, or the server's 220 greeting (`Incomplete` while the octets are
/// a prefix of one) on any port but SMTP's.
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    if seen.server_port() == FTP_PORT {
        return Outcome::Done(State::default());
    }
    let (sport, dport) = seen.ports();
    if seen.from_client || [sport, dport].iter().any(|p| SMTP_PORTS.contains(p)) {
        return Outcome::NotThis;
    }
    looks_like_greeting(first).map(|()| State::default())
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.meta
}

pub(super) fn raw(st: &State) -> Option<Raw> {
    Some(match *st {
        State::Data { control } => Raw {
            session_id: Some(control),
            ..Raw::new(MetaProto::Ftp, DpiProto::FtpData)
        },
        State::Control(_) => Raw::new(MetaProto::Ftp, DpiProto::FtpControl),
    })
}

/// A new flow's first payload: the data connection of a control connection
/// when one announced it (its entry leaves the table).
pub(super) fn claim(w: &mut Worker, seen: &Seen<'_>) -> Option<State> {
    if w.expected.is_empty() || seen.transport() != Some(L4::Tcp) {
        return None;
    }
    let p = seen.packet;
    let (sport, dport) = p.ports()?;
    let a = (p.src_addr()?, sport);
    let b = (p.dst_addr()?, dport);
    let control = w.expected.take(seen.bridge, a, b, seen.now_unix)?;
    Some(State::Data { control })
}

/// Both directions of a control connection, line by line, in the order the
/// segments arrive (which pairs each command with its reply).
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let State::Control(held) = st else {
        return;
    };
    let Some(slot) = w.conns.slot(held, Conn::new, cx, AppCount::FtpExhausted) else {
        return;
    };
    let Some(seq) = seen.tcp_seq() else {
        return;
    };
    let end = seen.obs.sender.index();
    let Some(r) = cx.stream_of_lines(ends, end, seq, seen.payload) else {
        return;
    };
    let Some(common) = seen.common() else {
        return;
    };
    let Worker { conns, expected } = w;
    let Some(conn) = conns.get_mut(slot) else {
        return;
    };
    let cap = cx.streams.slot_size() as usize;
    let mut tls = false;
    // Each round consumes a line or stops.
    for _ in 0..=cap {
        let window = cx.streams.contiguous(r);
        if window.is_empty() {
            break;
        }
        let step = if seen.from_client {
            conn.ftp.client(window, cap)
        } else {
            conn.ftp.server(window, cap)
        };
        let more = match step.outcome {
            Outcome::Done(Event::Command(_)) => {
                cx.count(AppCount::FtpMessages);
                conn.client = Some(common.with_login(&[]));
                true
            }
            Outcome::Done(Event::Reply(_)) => {
                cx.count(AppCount::FtpMessages);
                true
            }
            Outcome::Done(Event::Record(rec)) => {
                if !seen.from_client {
                    cx.count(AppCount::FtpMessages);
                }
                // The client's packet; without one (its command not seen),
                // this reply the other way round.
                let client = match conn.client {
                    Some(c) => c.with_login(cx.login),
                    None if seen.from_client => common,
                    None => common.reversed([common.dst_mac, common.src_mac]),
                };
                if let Some(d) = rec.data
                    && expected.insert(announced(&client, rec.mode, d, seen), seen.now_unix)
                {
                    cx.count(AppCount::FtpDataTableFull);
                }
                emit(&rec, &client, common.time_stamp, cx);
                true
            }
            Outcome::Done(Event::Tls) => {
                cx.count(AppCount::FtpMessages);
                tls = true;
                false
            }
            Outcome::NotThis => {
                tls = true;
                false
            }
            Outcome::Malformed(Reason::LineTooLong) => {
                cx.count(AppCount::FtpTooLong);
                true
            }
            Outcome::Malformed(Reason::NotAReply) => {
                cx.count(AppCount::FtpMalformed);
                true
            }
            Outcome::Incomplete => step.consumed > 0,
        };
        cx.streams.consume(r, step.consumed as u32);
        if !more {
            break;
        }
    }
    if tls {
        // AUTH TLS accepted: nothing more is readable here; the ClientHello
        // that follows binds the flow to TLS.
        conns.give_back(slot);
        *held = ConnSlot::Unparsed;
        ends.expect_tls();
        for e in 0..2 {
            cx.finish_stream(ends, e);
        }
    } else {
        cx.release_if_empty(ends, end, r);
    }
}

pub(super) fn on_close(st: &mut State, w: &mut Worker, _: &mut Ends, cx: &mut Cx<'_>, how: Close) {
    if let State::Control(held) = st
        && let Some(slot) = w.conns.closed(held, how)
    {
        give_back(slot, w, cx);
    }
}

pub(super) fn on_end(st: &State, w: &mut Worker, _: &Ends, cx: &mut Cx<'_>) {
    if let State::Control(ConnSlot::Held(slot)) = *st {
        give_back(slot, w, cx);
    }
}

/// The connection is over: a login attempt still unanswered gives its
/// record (with the last reply it had), and the slot goes back.
fn give_back(slot: u32, w: &mut Worker, cx: &mut Cx<'_>) {
    if let Some(conn) = w.conns.get(slot)
        && let (Some(rec), Some(client)) = (conn.ftp.finish(), conn.client)
    {
        let client = client.with_login(cx.login);
        emit(&rec, &client, client.time_stamp, cx);
    }
    w.conns.give_back(slot);
}

/// The data connection a mode record's endpoint announces: PORT/EPRT, the
/// client listens; PASV/EPSV, the server (EPSV names no address: the
/// control connection's). `client` is the client's view of the control
/// connection.
fn announced(client: &Common<'_>, mode: Mode, data: Endpoint, seen: &Seen<'_>) -> Expected {
    let (listener, peer): (IpAddr, IpAddr) = match mode {
        Mode::Active => (client.addrs.src, client.addrs.dst),
        Mode::Passive => (client.addrs.dst, client.addrs.src),
    };
    Expected {
        listener: [data.addr.unwrap_or(listener), listener],
        port: data.port,
        peer,
        bridge: seen.bridge,
        control: seen.obs.session_id.0,
        until: seen.now_unix.saturating_add(EXPECT_SECS),
    }
}

/// The FTP record of `rec`, as `client`'s request, dated `time`.
fn emit(rec: &FtpRecord<'_>, client: &Common<'_>, time: u32, cx: &mut Cx<'_>) {
    if rec.truncated {
        cx.count(AppCount::FtpNamesCut);
    }
    let record = Ftp {
        time_stamp: time,
        server_name: Text::new(rec.server_name),
        user: Text::new(rec.user),
        password: Text::new(rec.password),
        mode: rec.mode.code(),
        result_code: u32::from(rec.result_code),
        ..client.ftp()
    };
    if cx.emit(&record) {
        cx.count(AppCount::FtpRecords);
    }
}
