//! Mail inputs from the capture fixtures and the driver loop over them,
//! shared by the corpus test, the fuzz test and the bench (which include
//! this next to `common`).
#![allow(dead_code, clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::mail::{Event, Kind, Message, Session};
use metaprobe_dataplane::wire::{TcpFlags, decode};

use super::common::{fixtures, read_capture};

/// The fixtures with cleartext mail messages (`<capture>.mail_records.tsv` beside each).
pub const MAIL_CAPTURES: &[&str] = &[
    "smtp_helo_mail_30rcpt_data.pcap",
    "smtp_pipelined_mail_rcpt_data.pcap",
    "pop3_auth_retr_sessions.pcapng",
    "imap_login_select_fetch.pcap",
    "mkpcap_smtp_encaps.pcap",
];
/// The mail sessions that upgrade to TLS.
pub const STARTTLS_CAPTURES: &[&str] =
    &["smtp_starttls.pcap", "pop3_stls.pcap", "imap_starttls.pcap"];

/// The reassembly slot size the driver has by default (the line cap).
pub const CAP: usize = 4096;

/// A connection's segments in the order they were sent: (from the client, payload).
pub type Dialog = Vec<(bool, Vec<u8>)>;

/// A mail connection of a capture: its protocol, client address and segments.
pub struct Conn {
    pub kind: Kind,
    pub client: IpAddr,
    pub dialog: Dialog,
}

fn kind_of(port: u16) -> Option<Kind> {
    match port {
        25 | 587 => Some(Kind::Smtp),
        110 => Some(Kind::Pop3),
        143 => Some(Kind::Imap),
        _ => None,
    }
}

/// The mail connections (by server port) of a capture, in the order of their
/// first segment; retransmissions left out.
pub fn mail_conns(name: &str) -> Vec<Conn> {
    let mut conns: BTreeMap<(usize, IpAddr, u16), Conn> = BTreeMap::new();
    let mut first: BTreeMap<(IpAddr, u16), usize> = BTreeMap::new();
    let mut next: BTreeMap<(IpAddr, u16), u32> = BTreeMap::new();
    for (i, (_, f)) in read_capture(&fixtures().join(name)).into_iter().enumerate() {
        let p = decode(&f);
        let (Some(tcp), Some((sp, dp))) = (p.tcp().copied(), p.ports()) else {
            continue;
        };
        let payload = p.payload(&f);
        let (src, dst) = (p.src_addr().unwrap(), p.dst_addr().unwrap());
        if tcp.flags.contains(TcpFlags::SYN) {
            next.insert((src, sp), tcp.seq.wrapping_add(1));
        }
        let (kind, from_client) = match (kind_of(dp), kind_of(sp)) {
            (Some(k), _) => (k, true),
            (None, Some(k)) => (k, false),
            (None, None) => continue,
        };
        if payload.is_empty() {
            continue;
        }
        let expect = next.entry((src, sp)).or_insert(tcp.seq);
        if tcp.seq != *expect {
            continue;
        }
        *expect = tcp.seq.wrapping_add(payload.len() as u32);
        let client = if from_client { (src, sp) } else { (dst, dp) };
        let order = *first.entry(client).or_insert(i);
        conns
            .entry((order, client.0, client.1))
            .or_insert(Conn {
                kind,
                client: client.0,
                dialog: Vec::new(),
            })
            .dialog
            .push((from_client, payload.to_vec()));
    }
    conns.into_values().collect()
}

/// What a message event said, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rec {
    pub sent: bool,
    pub code: u32,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub subject: String,
    pub attachment: bool,
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// What a session answered, for the checks of the fuzz test.
#[derive(Default)]
pub struct Seen {
    pub records: Vec<Rec>,
    pub tls: bool,
    pub given_up: usize,
}

/// Feeds a dialog the way the driver does: each direction's unconsumed octets
/// are kept (at most `CAP`) and given again with its next piece; each segment
/// is cut into pieces of `chunks()` octets.
pub fn drive(kind: Kind, dialog: &[(bool, Vec<u8>)], chunks: &mut impl FnMut() -> usize) -> Seen {
    let mut session = Session::new(kind);
    let mut msg = Message::new(kind == Kind::Smtp);
    let mut windows: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    let mut seen = Seen::default();
    for (client, seg) in dialog {
        let mut rest = &seg[..];
        while !rest.is_empty() {
            let n = chunks().clamp(1, rest.len());
            let (piece, after) = rest.split_at(n);
            rest = after;
            let w = &mut windows[usize::from(!client)];
            w.extend_from_slice(piece);
            // The reassembly slot holds at most CAP octets: the rest is cut.
            w.truncate(CAP);
            let blocked = session.blocked();
            read(&mut session, &mut msg, *client, w, &mut seen);
            if !client && blocked && !session.blocked() {
                // The driver reads the client's waiting lines after the reply.
                read(&mut session, &mut msg, true, &mut windows[0], &mut seen);
            }
        }
    }
    seen
}

/// One direction's window read as far as it goes (see [`drive`]).
fn read(session: &mut Session, msg: &mut Message, client: bool, w: &mut Vec<u8>, seen: &mut Seen) {
    for _ in 0..=CAP {
        if w.is_empty() || seen.tls {
            break;
        }
        let step = session.read(msg, client, w, CAP);
        assert!(step.consumed <= w.len(), "consumed past the input");
        let progressed = step.consumed > 0;
        w.drain(..step.consumed);
        let rec = |sent, code, m: &Message| Rec {
            sent,
            code,
            from: text(m.from.as_bytes()),
            to: text(m.to.as_bytes()),
            cc: text(m.cc.as_bytes()),
            subject: text(m.subject.as_bytes()),
            attachment: m.attachment,
        };
        match step.outcome {
            Outcome::Done(Event::Sent(code)) => seen.records.push(rec(true, code, msg)),
            Outcome::Done(Event::Received(code)) => seen.records.push(rec(false, code, msg)),
            Outcome::Done(Event::Tls) | Outcome::NotThis => {
                seen.tls = true;
                w.clear();
            }
            Outcome::Done(Event::Line) => {}
            Outcome::Malformed(_) => seen.given_up += 1,
            Outcome::Incomplete if !progressed => break,
            Outcome::Incomplete => {}
        }
    }
}
