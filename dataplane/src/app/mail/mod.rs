//! Mail (SMTP, POP3, IMAP): the mail record of spec §7, one per message sent
//! (SMTP DATA or BDAT, IMAP APPEND: EVENT 1) or retrieved (POP3 RETR/TOP,
//! an IMAP FETCH literal holding a message or its header: EVENT 2), over
//! cleartext sessions; a session that upgrades with STARTTLS/STLS ends its
//! mail metadata there and its ClientHello binds the flow to TLS.
//!
//! # Driver
//!
//! Signature: ports 25 and 587 (SMTP), 110 (POP3), 143 (IMAP), or the
//! server's first line on any port: a 220 greeting naming SMTP, `+OK`, or
//! `* OK`/`* PREAUTH` (`Incomplete` while the octets are a prefix of one).
//! Per flow: a [`State`] (at most 16 octets): the protocol and the index of
//! the connection's slot in the worker's pool of [`Session`]s and
//! [`Message`]s (about 4 KiB each: too big for the flow table). An end holds
//! a reassembly slot only while a line is incomplete: the two directions are
//! read line by line in the order their segments arrive, which pairs each
//! command with its reply. A client's commands pipelined after a message
//! wait in its slot until the message is answered ([`Session::blocked`]);
//! the driver reads them after that reply. A connection picked up
//! mid-stream (its handshake not seen) is left unparsed (counted): its lines
//! could be inside a message, and taken for commands they would put the
//! pairing off; its raw records are still made.
//!
//! A record's addresses, ports and L2 fields are those of the packet that
//! carried the message: the client's for SMTP and APPEND (its last segment,
//! kept in the pool slot; the record goes out with the server's final reply
//! or tagged status, dated by it), the server's for POP3 and FETCH.
//!
//! # Contract of the grammar
//!
//! * [`Message`] reads one message a line at a time in bounded memory:
//!   the header fields (folded ones unfolded), From/To/Cc as addresses
//!   without display names ([`header::addresses`]), Subject with its
//!   RFC 2047 encoded-words decoded to UTF-8 ([`header::decode_words`]), and
//!   MIME parts for boundaries and attachments only. Values are **copied**
//!   (at most [`message::SENDER_CAP`], [`message::RECEIVERS_CAP`],
//!   [`message::CC_CAP`], [`message::SUBJECT_CAP`] octets, whole addresses
//!   only, cut flagged): a message spans many segments and its header many
//!   reassembly windows.
//! * [`Smtp`], [`Pop3`] and [`Imap`] are per-connection state machines over lines:
//!   `client`/`server` take the contiguous octets of one direction from its
//!   position and answer a [`Step`] (consumed octets, and `Done(Event)`,
//!   `Incomplete` when every whole line was read, `Malformed(Reason)` for a
//!   line given up, `NotThis` once the session went TLS). A line longer
//!   than the caller's cap is skipped to its end.
//! * SMTP: MAIL FROM → MAIL_SENDER, every RCPT TO → MAIL_RECEIVER (`,`
//!   between them), the header's Cc and Subject, MAIL_SERVERS the EHLO/HELO
//!   name and the greeting's host (`,` between them), MAIL_REPLY and
//!   RESULT_CODE the server's final reply to the message. The end of DATA is
//!   the line `.` (dot-stuffing undone), found across segments like any line.
//!   A BDAT chunk that ends inside a line gives that piece as a line.
//! * POP3: the retrieved message's From, To, Cc, Subject; RESULT_CODE 1
//!   (`+OK`; a `-ERR` retrieves nothing and gives no record).
//! * IMAP: literals (`{n}`, `{n+}`) are read by count, across segments. A
//!   FETCH literal of `BODY[]`, `BODY[HEADER…]`, `BINARY[]`, `RFC822` or
//!   `RFC822.HEADER` is a message (RESULT_CODE 1); other literals are
//!   skipped. An APPEND's literal is the message sent; RESULT_CODE is its
//!   tagged status: 1 OK, 2 NO, 3 BAD (0: none came).
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! smtp:  220 greeting · EHLO name · MAIL FROM:<a> · RCPT TO:<b>… · DATA → 354 · lines · "." → 250
//!        BDAT n [LAST] + n octets → 250 · STARTTLS → 220 (TLS)
//! pop3:  +OK greeting · RETR n / TOP n m → +OK + lines + "." · STLS → +OK (TLS)
//!        LIST, UIDL (no argument), CAPA: +OK + lines + "." · AUTH: "+ …" challenges
//! imap:  * OK greeting · tag UID FETCH … → * n FETCH (… BODY[] {size} CRLF octets …) · tag OK
//!        tag APPEND box {size} CRLF octets CRLF → tag OK/NO/BAD · tag STARTTLS → tag OK (TLS)
//! ```

mod charsets;
pub mod header;
pub mod imap;
pub mod message;
pub mod pop3;
pub mod smtp;

pub use imap::Imap;
pub use message::Message;
pub use pop3::Pop3;
pub use smtp::Smtp;

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Mail;

use super::pool::{ConnSlot, SlotPool};
use super::raw::{DpiProto, MetaProto, Raw};
use super::text::{FixedText, Prefix, Step, contains_ignore_case, decimal, find_lf, literal, trim};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Seen, Signature};
use crate::counters::AppCount;
use crate::reasm::StreamRef;

/// SMTP and submission (RFC 5321, RFC 6409), POP3 (RFC 1939).
const SMTP_PORTS: [u16; 2] = [25, 587];
const POP3_PORT: u16 = 110;
const IMAP_PORT: u16 = 143;
/// Longest greeting line the signature waits for.
pub const GREETING_LINE_MAX: usize = 512;

/// EVENT (spec §7).
pub const EVENT_SEND: u8 = 1;
pub const EVENT_RECEIVE: u8 = 2;

/// The mail protocol of a flow; MAIL_PROTOCOL is its number (spec §7).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    #[default]
    Smtp = 0,
    Pop3 = 1,
    Imap = 2,
}

impl Kind {
    const fn raw(self) -> Raw {
        match self {
            Kind::Smtp => Raw::new(MetaProto::Smtp, DpiProto::Smtp),
            Kind::Pop3 => Raw::new(MetaProto::Pop3, DpiProto::Pop3),
            Kind::Imap => Raw::new(MetaProto::Imap, DpiProto::Imap),
        }
    }
}

/// What a state machine made of a line (or of the lines up to one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A command or reply was read.
    Line,
    /// A message was sent (answered with this RESULT_CODE)…
    Sent(u32),
    /// …or retrieved.
    Received(u32),
    /// The session goes on in TLS: nothing more can be read.
    Tls,
}

/// Why a line was given up (the direction goes on after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// No line break within the caller's cap.
    TooLong,
    /// A server line that is no reply where one was due.
    NotAReply,
}

/// Commands whose kinds are kept while they await their replies (SMTP
/// pipelining, RFC 2920); more keep their place in the order but not their kind.
pub const PENDING_CAP: usize = 16;

/// The commands of one SMTP or POP3 connection awaiting their replies.
type Pending<V> = super::pending::Pending<V, PENDING_CAP>;

/// The first word of `line` and what follows the space after it.
fn word(line: &[u8]) -> (&[u8], &[u8]) {
    let line = trim(line);
    match line.iter().position(|&b| b == b' ') {
        Some(i) => (
            line.get(..i).unwrap_or(&[]),
            trim(line.get(i + 1..).unwrap_or(&[])),
        ),
        None => (line, &[]),
    }
}

/// An SMTP reply line (RFC 5321 §4.2): code, whether more lines follow
/// (`NNN-`), text.
fn reply_code(line: &[u8]) -> Option<(u16, bool, &[u8])> {
    let (digits, rest) = line.split_at_checked(3)?;
    if !matches!(digits.first(), Some(b'2'..=b'5')) {
        return None;
    }
    let code = u16::try_from(decimal(digits)?).ok()?;
    match rest.split_first() {
        None => Some((code, false, rest)),
        Some((b' ', text)) => Some((code, false, text)),
        Some((b'-', text)) => Some((code, true, text)),
        Some(_) => None,
    }
}

/// The protocol state of one connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "sessions live in a fixed pool slot sized for the largest; boxing would allocate per connection"
)]
pub enum Session {
    Smtp(Smtp),
    Pop3(Pop3),
    Imap(Imap),
}

impl Session {
    pub fn new(kind: Kind) -> Session {
        match kind {
            Kind::Smtp => Session::Smtp(Smtp::default()),
            Kind::Pop3 => Session::Pop3(Pop3::default()),
            Kind::Imap => Session::Imap(Imap::default()),
        }
    }

    /// The client's lines wait for a reply: a message sent awaits its
    /// reply (SMTP) or tagged status (APPEND), and the client's next
    /// commands (pipelined) would start another in the same reader.
    pub fn blocked(&self) -> bool {
        match self {
            Session::Smtp(s) => s.unanswered(),
            Session::Imap(i) => i.unanswered(),
            Session::Pop3(_) => false,
        }
    }

    /// Octets of one direction: see the module contract.
    pub fn read(
        &mut self,
        msg: &mut Message,
        from_client: bool,
        bytes: &[u8],
        cap: usize,
    ) -> Step<Event, Reason> {
        match (self, from_client) {
            (Session::Smtp(s), true) => s.client(msg, bytes, cap),
            (Session::Smtp(s), false) => s.server(msg, bytes, cap),
            (Session::Pop3(p), true) => p.client(bytes, cap),
            (Session::Pop3(p), false) => p.server(msg, bytes, cap),
            (Session::Imap(i), true) => i.client(msg, bytes, cap),
            (Session::Imap(i), false) => i.server(msg, bytes, cap),
        }
    }
}

/// Per flow: the protocol, and where its connection is parsed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    kind: Kind,
    conn: ConnSlot,
}

const _: () = assert!(core::mem::size_of::<State>() <= 16);

/// One connection being parsed.
#[derive(Clone, Copy, Debug)]
struct Parsed {
    session: Session,
    msg: Message,
    /// The common fields of the client's last segment (an SMTP message's
    /// record is the client's), held without the login.
    client: Option<Common<'static>>,
}

impl Parsed {
    fn new(kind: Kind) -> Parsed {
        Parsed {
            session: Session::new(kind),
            msg: Message::new(kind == Kind::Smtp),
            client: None,
        }
    }
}

// "About 4 KiB" per connection, as the documentation says.
const _: () = assert!(core::mem::size_of::<Parsed>() <= 4608);

/// The pool of connection states (fixed at start) and the buffer
/// MAIL_SERVERS is joined in.
pub struct Worker {
    conns: SlotPool<Parsed>,
    servers: Servers,
}

/// MAIL_SERVERS being joined: two names and a comma.
type Servers = FixedText<{ 2 * smtp::NAME_CAP + 1 }>;

impl Worker {
    pub fn new(cfg: &AppConfig) -> Worker {
        let n = if cfg.meta { cfg.mail_slots } else { 0 };
        Worker {
            conns: SlotPool::new(n, Parsed::new(Kind::Smtp)),
            servers: FixedText::new(),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        self.conns.memory_bytes()
    }
}

/// The mail ports, or the server's first line (`Incomplete` while the
/// octets are a prefix of a greeting).
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    let server = seen.server_port();
    let on = |p: u16| server == p;
    let kind = if SMTP_PORTS.iter().any(|&p| on(p)) {
        Some(Kind::Smtp)
    } else if on(POP3_PORT) {
        Some(Kind::Pop3)
    } else if on(IMAP_PORT) {
        Some(Kind::Imap)
    } else {
        None
    };
    if let Some(kind) = kind {
        return Outcome::Done(State {
            kind,
            conn: ConnSlot::Fresh,
        });
    }
    if seen.from_client {
        return Outcome::NotThis;
    }
    greeting(first).map(|kind| State {
        kind,
        conn: ConnSlot::Fresh,
    })
}

/// A server's first line: `220 … SMTP …`, `+OK …` or `* OK …`/`* PREAUTH …`.
pub fn greeting(first: &[u8]) -> Signature<Kind> {
    let mut partial = false;
    for (lit, kind) in [
        (&b"+OK"[..], Kind::Pop3),
        (b"* OK", Kind::Imap),
        (b"* PREAUTH", Kind::Imap),
    ] {
        match literal(first, lit) {
            Prefix::Matched(_) => return Outcome::Done(kind),
            Prefix::Partial => partial = true,
            Prefix::Differs => {}
        }
    }
    if partial {
        return Outcome::Incomplete;
    }
    match literal(first, b"220") {
        Prefix::Matched(rest) => match find_lf(rest) {
            Some(lf) if contains_ignore_case(rest.get(..lf).unwrap_or(&[]), b"SMTP") => {
                Outcome::Done(Kind::Smtp)
            }
            Some(_) => Outcome::NotThis,
            None if first.len() < GREETING_LINE_MAX => Outcome::Incomplete,
            None => Outcome::NotThis,
        },
        Prefix::Partial => Outcome::Incomplete,
        Prefix::Differs => Outcome::NotThis,
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.meta
}

pub(super) fn raw(st: &State) -> Option<Raw> {
    Some(st.kind.raw())
}

/// Both directions, line by line, in the order the segments arrive.
pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    if st.conn == ConnSlot::Fresh && seen.midstream {
        // Lines read from inside a message would be taken for commands and
        // put the pairing of commands and replies off for the session.
        cx.count(AppCount::MailMidstream);
        st.conn = ConnSlot::Unparsed;
        return;
    }
    let kind = st.kind;
    let fresh = || Parsed::new(kind);
    let Some(slot) = w
        .conns
        .slot(&mut st.conn, fresh, cx, AppCount::MailExhausted)
    else {
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
    let Worker { conns, servers } = w;
    let Some(conn) = conns.get_mut(slot) else {
        return;
    };
    if seen.from_client {
        conn.client = Some(common.with_login(&[]));
    }
    let blocked = conn.session.blocked();
    let mut tls = read(conn, servers, cx, r, seen.from_client, &common);
    let other = 1 - end.min(1);
    if !tls
        && !seen.from_client
        && blocked
        && !conn.session.blocked()
        && let Some(&Some(cr)) = ends.streams.get(other)
        && cx.streams.is_live(cr)
    {
        // The reply the client's pipelined lines waited for came: read them now,
        // before the replies to them.
        tls = read(conn, servers, cx, cr, true, &common);
        if !tls {
            cx.release_if_empty(ends, other, cr);
        }
    }
    if tls {
        // STARTTLS/STLS accepted: the ClientHello that follows binds the flow to TLS.
        cx.count(AppCount::MailTls);
        conns.give_back(slot);
        st.conn = ConnSlot::Unparsed;
        ends.expect_tls();
        for e in 0..2 {
            cx.finish_stream(ends, e);
        }
    } else {
        cx.release_if_empty(ends, end, r);
    }
}

/// Reads the lines of one direction's window `r` (the client's when
/// `from_client`), handing out the records they complete; whether the
/// session went TLS. `common`: the packet being handled.
fn read(
    conn: &mut Parsed,
    servers: &mut Servers,
    cx: &mut Cx<'_>,
    r: StreamRef,
    from_client: bool,
    common: &Common<'_>,
) -> bool {
    let cap = cx.streams.slot_size() as usize;
    // Each round consumes a line or stops.
    for _ in 0..=cap {
        let window = cx.streams.contiguous(r);
        if window.is_empty() {
            break;
        }
        let step = conn.session.read(&mut conn.msg, from_client, window, cap);
        let more = match step.outcome {
            Outcome::Done(Event::Line) => true,
            Outcome::Done(Event::Sent(code)) => {
                cx.count(AppCount::MailMessages);
                // The client's packet; without one, this one the other way round.
                let on = match conn.client {
                    Some(c) => c.with_login(cx.login),
                    None if from_client => *common,
                    None => common.reversed([common.dst_mac, common.src_mac]),
                };
                emit(conn, servers, &on, common.time_stamp, EVENT_SEND, code, cx);
                true
            }
            Outcome::Done(Event::Received(code)) => {
                cx.count(AppCount::MailMessages);
                let t = common.time_stamp;
                emit(conn, servers, common, t, EVENT_RECEIVE, code, cx);
                true
            }
            Outcome::Done(Event::Tls) | Outcome::NotThis => return true,
            Outcome::Malformed(Reason::TooLong) => {
                cx.count(AppCount::MailTooLong);
                true
            }
            Outcome::Malformed(Reason::NotAReply) => {
                cx.count(AppCount::MailMalformed);
                true
            }
            Outcome::Incomplete => step.consumed > 0,
        };
        cx.streams.consume(r, step.consumed as u32);
        if !more {
            break;
        }
    }
    false
}

pub(super) fn on_close(st: &mut State, w: &mut Worker, _: &mut Ends, cx: &mut Cx<'_>, how: Close) {
    if let Some(slot) = w.conns.closed(&mut st.conn, how) {
        give_back(slot, w, cx);
    }
}

pub(super) fn on_end(st: &State, w: &mut Worker, _: &Ends, cx: &mut Cx<'_>) {
    if let ConnSlot::Held(slot) = st.conn {
        give_back(slot, w, cx);
    }
}

/// The connection is over: an SMTP message sent and not answered gives its
/// record (RESULT_CODE 0, no reply), and the slot goes back.
fn give_back(slot: u32, w: &mut Worker, cx: &mut Cx<'_>) {
    let Worker { conns, servers } = w;
    if let Some(conn) = conns.get_mut(slot)
        && let Some(client) = conn.client
        && match &mut conn.session {
            Session::Smtp(s) if s.unanswered() => {
                s.reply.clear();
                true
            }
            Session::Imap(i) => i.unanswered(),
            Session::Smtp(_) | Session::Pop3(_) => false,
        }
    {
        cx.count(AppCount::MailMessages);
        let client = client.with_login(cx.login);
        emit(conn, servers, &client, client.time_stamp, EVENT_SEND, 0, cx);
    }
    conns.give_back(slot);
}

/// The mail record of the message `conn` read, on the packet `on`, dated `time`.
fn emit(
    conn: &Parsed,
    servers: &mut Servers,
    on: &Common<'_>,
    time: u32,
    event: u8,
    code: u32,
    cx: &mut Cx<'_>,
) {
    let m = &conn.msg;
    servers.clear();
    let (protocol, reply) = match &conn.session {
        Session::Smtp(s) => {
            servers.push(s.helo.as_bytes());
            if !s.helo.is_empty() && !s.host.is_empty() {
                servers.push(b",");
            }
            servers.push(s.host.as_bytes());
            (Kind::Smtp, s.reply.as_bytes())
        }
        Session::Pop3(_) => (Kind::Pop3, &b""[..]),
        Session::Imap(_) => (Kind::Imap, &b""[..]),
    };
    if m.cut {
        cx.count(AppCount::MailCut);
    }
    let record = Mail {
        time_stamp: time,
        mail_sender: Text::new(m.from.as_bytes()),
        mail_receiver: Text::new(m.to.as_bytes()),
        mail_cc: Text::new(m.cc.as_bytes()),
        mail_subject: Text::new(m.subject.as_bytes()),
        mail_servers: Text::new(servers.as_bytes()),
        mail_reply: Text::new(reply),
        event,
        attachment: u8::from(m.attachment),
        mail_protocol: protocol as u8,
        result_code: code,
        ..on.mail()
    };
    if cx.emit(&record) {
        cx.count(AppCount::MailRecords);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_are_recognised_when_cut_anywhere() {
        let smtp = b"220 mx.example.org ESMTP Postfix\r\n";
        for cut in 0..smtp.len() - 1 {
            assert_eq!(greeting(&smtp[..cut]), Outcome::Incomplete, "cut {cut}");
        }
        assert_eq!(greeting(smtp), Outcome::Done(Kind::Smtp));
        assert_eq!(greeting(b"220 ftp.example.org ready\r\n"), Outcome::NotThis);
        assert_eq!(greeting(b"+O"), Outcome::Incomplete);
        assert_eq!(greeting(b"+OK POP3 ready"), Outcome::Done(Kind::Pop3));
        assert_eq!(greeting(b"* OK IMAP4rev1"), Outcome::Done(Kind::Imap));
        assert_eq!(greeting(b"* "), Outcome::Incomplete);
        assert_eq!(greeting(b"* BYE"), Outcome::NotThis);
    }

    #[test]
    fn reply_lines_and_words() {
        assert_eq!(
            reply_code(b"250-PIPELINING"),
            Some((250, true, &b"PIPELINING"[..]))
        );
        assert_eq!(reply_code(b"354 go"), Some((354, false, &b"go"[..])));
        assert_eq!(reply_code(b"250"), Some((250, false, &b""[..])));
        assert_eq!(reply_code(b"25x ok"), None);
        assert_eq!(reply_code(b"150 ok"), None);
        assert_eq!(word(b"  RETR 1 "), (&b"RETR"[..], &b"1"[..]));
        assert_eq!(word(b"QUIT"), (&b"QUIT"[..], &b""[..]));
    }
}
