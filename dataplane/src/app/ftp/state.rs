//! The per-connection FTP state machine: commands paired with their replies.

use metaprobe_ipfix::codec::Reader;

use super::grammar::{
    Endpoint, Verb, command, eprt_argument, epsv_reply, greeting_host, pasv_reply, port_argument,
    reply_line,
};
use crate::app::Outcome;
use crate::app::text::{FixedText, Lines, Step, TooLong, next_line};

/// Capacity of each copied name: USER, PASS, the server name. Longer values
/// are cut (on a UTF-8 boundary) and the record says so.
pub const NAME_CAP: usize = 64;
/// Commands whose kind is remembered while they await their replies. More
/// pipelined commands keep their place in the order but not their kind.
pub const PENDING_CAP: usize = 8;

/// The data-connection mode (MODE of the record).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Mode {
    /// The server connects to the client (PORT, EPRT; RFC 959's default).
    #[default]
    Active = 0,
    /// The client connects to the server (PASV, EPSV).
    Passive = 1,
}

impl Mode {
    /// MODE of the record: 0 active, 1 passive.
    pub const fn code(self) -> u8 {
        self as u8
    }
}

/// What an FTP record stands for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RecordKind {
    /// A login attempt (USER, and PASS if it came) with the server's answer.
    Login,
    /// A data-connection mode setting (PORT/EPRT/PASV/EPSV) with its answer.
    Mode,
}

/// One FTP record (spec §7): the fields of the `Ftp` template, borrowed from
/// the state's copies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtpRecord<'s> {
    pub kind: RecordKind,
    /// SERVER_NAME: the HOST command's argument, else the first domain name
    /// of the 220 greeting, else empty.
    pub server_name: &'s [u8],
    /// USER: the attempt's user (login), the session's last user (mode).
    pub user: &'s [u8],
    /// PASSWORD: the attempt's PASS argument (login); empty in a mode record.
    pub password: &'s [u8],
    /// MODE: the mode set (mode record) or in force (login record: active
    /// until a PASV/EPSV succeeded, RFC 959 §3.2's default).
    pub mode: Mode,
    /// RESULT_CODE: the server's reply; for an attempt the connection left
    /// unanswered ([`FtpState::finish`]) or abandoned for a new USER, the
    /// last reply it had (331) or 0.
    pub result_code: u16,
    /// A mode record answered 2xx: where the data connection goes (for
    /// PORT/EPRT the client's endpoint, for PASV/EPSV the server's).
    pub data: Option<Endpoint>,
    /// A name was longer than [`NAME_CAP`] and is cut.
    pub truncated: bool,
}

/// What one call made of the octets it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'s> {
    /// A client command line was read (and acted on).
    Command(Verb),
    /// A whole server reply (every line of a multi-line one) was read, and
    /// gave no record.
    Reply(u16),
    /// A record: from the reply that completed it, or (client direction) for
    /// the login attempt a new USER abandons.
    Record(FtpRecord<'s>),
    /// AUTH was answered 234: the connection is TLS from here on, nothing more
    /// can be read (every later call consumes everything, `NotThis`).
    Tls,
}

/// Why a line was given up (an index for counters); the direction goes on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// No line break within the caller's cap: the line is skipped up to its end.
    LineTooLong,
    /// A server line that is not a reply line outside a multi-line reply.
    NotAReply,
}

impl Reason {
    pub const COUNT: usize = 2;

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::LineTooLong => "line too long",
            Reason::NotAReply => "not a reply line",
        }
    }
}

/// Where SERVER_NAME came from; the client's word wins.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum NameFrom {
    #[default]
    Nothing,
    Greeting,
    Host,
}

/// The server's first reply.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Greeting {
    /// Not seen yet.
    #[default]
    Awaited,
    /// Reading the 220 greeting's lines.
    Reading,
    Done,
}

/// The commands awaiting replies, [`PENDING_CAP`] of their kinds kept.
type Pending = crate::app::pending::Pending<Verb, PENDING_CAP>;

/// The state of one FTP control connection (both directions): the line
/// readers, the commands awaiting replies, the login attempt and copies of
/// the names the records need. `Copy`, fixed size (at most 256 octets); it
/// holds copies because a reply to PASS can come long after the window that
/// held USER moved on.
///
/// # Calls
///
/// [`FtpState::client`] and [`FtpState::server`] take the **contiguous,
/// in-order octets of one direction starting at its position** (the first
/// octet not consumed yet) and read lines from them until one gives an
/// [`Event`]. The caller feeds the two directions in the order the segments
/// arrived (that is what pairs a command with its reply) and loops:
///
/// * `Done(event)`: call again with the octets after `consumed`;
/// * `Incomplete`: every whole line was consumed; keep the rest (a partial
///   line) and give it again with what follows;
/// * `Malformed(reason)`: one line was given up (consumed); call again;
/// * `NotThis`: the connection became TLS ([`Event::Tls`]); stop.
///
/// `cap` is the most octets the caller can hold from the first given one; a
/// line that does not end within it is skipped up to its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FtpState {
    user: FixedText<NAME_CAP>,
    password: FixedText<NAME_CAP>,
    server_name: FixedText<NAME_CAP>,
    pending: Pending,
    /// The endpoint of the last PORT/EPRT, for its reply.
    active: Option<Endpoint>,
    /// A login attempt is open (USER or PASS sent, no final answer yet).
    attempt: bool,
    /// The last reply the open attempt had (331 to USER), 0 before any.
    attempt_code: u16,
    mode: Mode,
    name_from: NameFrom,
    greeting: Greeting,
    client_lines: Lines,
    server_lines: Lines,
    /// Inside a multi-line reply with this code.
    multi: Option<u16>,
    tls: bool,
}

const _: () = assert!(core::mem::size_of::<FtpState>() <= 256);

impl Default for FtpState {
    fn default() -> Self {
        FtpState::new()
    }
}

impl FtpState {
    pub fn new() -> Self {
        FtpState {
            user: FixedText::new(),
            password: FixedText::new(),
            server_name: FixedText::new(),
            pending: Pending::default(),
            active: None,
            attempt: false,
            attempt_code: 0,
            mode: Mode::Active,
            name_from: NameFrom::Nothing,
            greeting: Greeting::Awaited,
            client_lines: Lines::Start,
            server_lines: Lines::Start,
            multi: None,
            tls: false,
        }
    }

    /// The data-connection mode in force.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// SERVER_NAME as known so far.
    pub fn server_name(&self) -> &[u8] {
        self.server_name.as_bytes()
    }

    /// The login attempt still open when the connection ends (USER sent, no
    /// final answer), as a record; `None` when there is none.
    pub fn finish(&self) -> Option<FtpRecord<'_>> {
        (self.attempt && !self.tls).then(|| self.login(self.attempt_code))
    }

    /// Client → server octets: see the type's contract.
    pub fn client(&mut self, bytes: &[u8], cap: usize) -> Step<Event<'_>, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            let before = r.offset();
            let line = match next_line(&mut r, &mut self.client_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => {
                    return Step::new(r.offset(), Outcome::Malformed(Reason::LineTooLong));
                }
            };
            let Some(cmd) = command(line) else {
                continue;
            };
            if cmd.verb == Verb::User && self.attempt {
                // A new USER abandons the open attempt: report it first, and
                // read the USER line on the next call.
                self.attempt = false;
                return Step::new(
                    before,
                    Outcome::Done(Event::Record(self.login(self.attempt_code))),
                );
            }
            self.pending.push(cmd.verb);
            match cmd.verb {
                Verb::User => {
                    self.user.set(cmd.arg);
                    self.password.clear();
                    self.attempt = true;
                    self.attempt_code = 0;
                }
                Verb::Pass => {
                    self.password.set(cmd.arg);
                    if !self.attempt {
                        self.attempt = true;
                        self.attempt_code = 0;
                    }
                }
                Verb::Host => {
                    self.server_name.set(cmd.arg);
                    self.name_from = NameFrom::Host;
                }
                Verb::Port => self.active = port_argument(cmd.arg),
                Verb::Eprt => self.active = eprt_argument(cmd.arg),
                Verb::Pasv | Verb::Epsv | Verb::Auth | Verb::Rein | Verb::Other => {}
            }
            return Step::new(r.offset(), Outcome::Done(Event::Command(cmd.verb)));
        }
    }

    /// Server → client octets: see the type's contract.
    pub fn server(&mut self, bytes: &[u8], cap: usize) -> Step<Event<'_>, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            let line = match next_line(&mut r, &mut self.server_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => {
                    return Step::new(r.offset(), Outcome::Malformed(Reason::LineTooLong));
                }
            };
            let reply = reply_line(line);
            if let Some(code) = self.multi {
                // RFC 959 §4.2: the reply ends at a line that starts with the
                // same code and a space; every other line is its text.
                match reply {
                    Some(last) if last.code == code && !last.more => {
                        self.multi = None;
                        self.read_greeting_name(last.text);
                        let event = self.answer(code, last.text);
                        return Step::new(r.offset(), Outcome::Done(event));
                    }
                    other => {
                        self.read_greeting_name(other.map_or(line, |l| l.text));
                        continue;
                    }
                }
            }
            let Some(reply) = reply else {
                return Step::new(r.offset(), Outcome::Malformed(Reason::NotAReply));
            };
            if self.greeting == Greeting::Awaited && reply.code == 220 {
                self.greeting = Greeting::Reading;
            }
            self.read_greeting_name(reply.text);
            if reply.more {
                self.multi = Some(reply.code);
                continue;
            }
            let event = self.answer(reply.code, reply.text);
            return Step::new(r.offset(), Outcome::Done(event));
        }
    }

    /// A greeting line's text: the server name, unless one is known.
    fn read_greeting_name(&mut self, text: &[u8]) {
        if self.greeting == Greeting::Reading
            && self.name_from == NameFrom::Nothing
            && let Some(host) = greeting_host(text)
        {
            self.server_name.set(host);
            self.name_from = NameFrom::Greeting;
        }
    }

    /// A whole reply with this code (and last line's text) was read.
    fn answer(&mut self, code: u16, text: &[u8]) -> Event<'_> {
        if code < 200 {
            // Preliminary (RFC 959 §4.2: 1yz): the final reply follows.
            return Event::Reply(code);
        }
        if self.greeting != Greeting::Done {
            let was = self.greeting;
            self.greeting = Greeting::Done;
            if was == Greeting::Reading {
                // The greeting answers no command.
                return Event::Reply(code);
            }
        }
        let verb = self.pending.pop();
        let positive = (200..300).contains(&code);
        match (verb, code) {
            // 227 and 229 answer nothing but PASV and EPSV: trust the code
            // where the order of replies was lost.
            (Verb::Pasv, _) | (_, 227) => {
                let data = if code == 227 { pasv_reply(text) } else { None };
                self.mode_set(Mode::Passive, code, positive, data)
            }
            (Verb::Epsv, _) | (_, 229) => {
                let data = if code == 229 { epsv_reply(text) } else { None };
                self.mode_set(Mode::Passive, code, positive, data)
            }
            (Verb::Port | Verb::Eprt, _) => {
                let data = self.active.take().filter(|_| positive);
                self.mode_set(Mode::Active, code, positive, data)
            }
            (Verb::User, 331 | 332) if self.attempt => {
                self.attempt_code = code;
                Event::Reply(code)
            }
            (Verb::User | Verb::Pass, _) if self.attempt => {
                self.attempt = false;
                Event::Record(self.login(code))
            }
            (Verb::Auth, 234) => {
                self.tls = true;
                Event::Tls
            }
            (Verb::Rein, 220) => {
                self.user.clear();
                self.password.clear();
                self.attempt = false;
                self.mode = Mode::Active;
                Event::Reply(code)
            }
            _ => Event::Reply(code),
        }
    }

    fn mode_set(
        &mut self,
        mode: Mode,
        code: u16,
        positive: bool,
        data: Option<Endpoint>,
    ) -> Event<'_> {
        if positive {
            self.mode = mode;
        }
        Event::Record(FtpRecord {
            kind: RecordKind::Mode,
            server_name: self.server_name.as_bytes(),
            user: self.user.as_bytes(),
            password: b"",
            mode,
            result_code: code,
            data,
            truncated: self.server_name.is_truncated() || self.user.is_truncated(),
        })
    }

    fn login(&self, code: u16) -> FtpRecord<'_> {
        FtpRecord {
            kind: RecordKind::Login,
            server_name: self.server_name.as_bytes(),
            user: self.user.as_bytes(),
            password: self.password.as_bytes(),
            mode: self.mode,
            result_code: code,
            data: None,
            truncated: self.server_name.is_truncated()
                || self.user.is_truncated()
                || self.password.is_truncated(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    const CAP: usize = 2048;

    /// (client?, segment) in the order they were seen.
    type Dialog<'a> = &'a [(bool, &'a [u8])];

    /// What the record says, owned.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Rec {
        kind: RecordKind,
        server_name: String,
        user: String,
        password: String,
        mode: Mode,
        code: u16,
        data: Option<Endpoint>,
        truncated: bool,
    }

    impl From<FtpRecord<'_>> for Rec {
        fn from(r: FtpRecord<'_>) -> Rec {
            let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            Rec {
                kind: r.kind,
                server_name: s(r.server_name),
                user: s(r.user),
                password: s(r.password),
                mode: r.mode,
                code: r.result_code,
                data: r.data,
                truncated: r.truncated,
            }
        }
    }

    fn login(server: &str, user: &str, pass: &str, code: u16) -> Rec {
        Rec {
            kind: RecordKind::Login,
            server_name: server.into(),
            user: user.into(),
            password: pass.into(),
            mode: Mode::Active,
            code,
            data: None,
            truncated: false,
        }
    }

    fn mode(user: &str, mode: Mode, code: u16, data: Option<Endpoint>) -> Rec {
        Rec {
            kind: RecordKind::Mode,
            server_name: String::new(),
            user: user.into(),
            password: String::new(),
            mode,
            code,
            data,
            truncated: false,
        }
    }

    fn v4(a: [u8; 4], port: u16) -> Option<Endpoint> {
        Some(Endpoint {
            addr: Some(IpAddr::V4(Ipv4Addr::from(a))),
            port,
        })
    }

    /// Plays a driver: per direction a window of unconsumed octets; each
    /// segment is appended and the state called until it is incomplete.
    fn run(st: &mut FtpState, dialog: Dialog<'_>) -> (Vec<Rec>, Vec<Reason>, usize) {
        let mut windows = [Vec::new(), Vec::new()];
        let (mut recs, mut errs, mut events) = (Vec::new(), Vec::new(), 0);
        for &(client, seg) in dialog {
            let w = &mut windows[usize::from(client)];
            w.extend_from_slice(seg);
            loop {
                let step = if client {
                    st.client(w, CAP)
                } else {
                    st.server(w, CAP)
                };
                let (consumed, more) = match step.outcome {
                    Outcome::Done(e) => {
                        events += 1;
                        if let Event::Record(r) = e {
                            recs.push(Rec::from(r));
                        }
                        (step.consumed, e != Event::Tls)
                    }
                    Outcome::Malformed(r) => {
                        errs.push(r);
                        (step.consumed, true)
                    }
                    Outcome::Incomplete | Outcome::NotThis => (step.consumed, false),
                };
                w.drain(..consumed);
                if !more {
                    break;
                }
            }
        }
        (recs, errs, events)
    }

    /// The control connection of `ftp_passive_pasv_list_retr.pcap`, segment
    /// by segment (vsFTPd 3.0.3; FEAT and HELP have multi-line replies).
    const PASSIVE: Dialog<'static> = &[
        (false, b"220 (vsFTPd 3.0.3)\r\n"),
        (true, b"USER anonymous\r\n"),
        (false, b"331 Please specify the password.\r\n"),
        (true, b"PASS NcFTP@\r\n"),
        (false, b"230 Login successful.\r\n"),
        (true, b"PWD\r\n"),
        (false, b"257 \"/\" is the current directory\r\n"),
        (true, b"FEAT\r\n"),
        (false, b"211-Features:\r\n"),
        (false, b" EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n"),
        (true, b"HELP SITE\r\n"),
        (false, b"214-The following commands are recognized.\r\n"),
        (false, b" ABOR ACCT ALLO APPE CDUP CWD  DELE EPRT EPSV FEAT HELP LIST MDTM MKD\r\n MODE NLST NOOP OPTS PASS PASV PORT PWD  QUIT REIN REST RETR RMD  RNFR\r\n RNTO SITE SIZE SMNT STAT STOR STOU STRU SYST TYPE USER XCUP XCWD XMKD\r\n XPWD XRMD\r\n214 Help OK.\r\n"),
        (true, b"CLNT NcFTP 3.2.6 macosx10.13\r\n"),
        (false, b"500 Unknown command.\r\n"),
        (true, b"PASV\r\n"),
        (false, b"227 Entering Passive Mode (90,130,70,73,100,85).\r\n"),
        (true, b"LIST\r\n"),
        (false, b"150 Here comes the directory listing.\r\n"),
        (false, b"226 Directory send OK.\r\n"),
        (true, b"TYPE I\r\n"),
        (false, b"200 Switching to Binary mode.\r\n"),
        (true, b"PASV\r\n"),
        (false, b"227 Entering Passive Mode (90,130,70,73,95,203).\r\n"),
        (true, b"RETR 1MB.zip\r\n"),
        (false, b"150 Opening BINARY mode data connection for 1MB.zip (1048576 bytes).\r\n"),
        (false, b"226 Transfer complete.\r\n"),
        (true, b"QUIT\r\n"),
        (false, b"221 Goodbye.\r\n"),
    ];

    #[test]
    fn the_passive_corpus_session() {
        let mut st = FtpState::new();
        let (recs, errs, events) = run(&mut st, PASSIVE);
        let passive = |port| mode("anonymous", Mode::Passive, 227, v4([90, 130, 70, 73], port));
        assert_eq!(
            recs,
            [
                login("", "anonymous", "NcFTP@", 230),
                passive(25685),
                passive(24523),
            ]
        );
        assert!(errs.is_empty());
        // 12 commands, 15 replies (3 of them gave the records).
        assert_eq!(events, 12 + 15);
        assert_eq!(st.mode(), Mode::Passive);
        assert_eq!(st.finish(), None);
    }

    #[test]
    fn every_split_of_the_dialog_gives_the_same_records() {
        let (whole, _, _) = run(&mut FtpState::new(), PASSIVE);
        // Each segment cut in two at every offset, and every octet alone.
        for (i, &(client, seg)) in PASSIVE.iter().enumerate() {
            for cut in 0..=seg.len() {
                let mut d: Vec<(bool, &[u8])> = PASSIVE[..i].to_vec();
                d.push((client, &seg[..cut]));
                d.push((client, &seg[cut..]));
                d.extend_from_slice(&PASSIVE[i + 1..]);
                assert_eq!(
                    run(&mut FtpState::new(), &d).0,
                    whole,
                    "segment {i} cut at {cut}"
                );
            }
        }
        let octets: Vec<(bool, &[u8])> = PASSIVE
            .iter()
            .flat_map(|&(c, seg)| seg.chunks(1).map(move |o| (c, o)))
            .collect();
        assert_eq!(run(&mut FtpState::new(), &octets).0, whole);
    }

    #[test]
    fn active_and_ipv6_sessions_with_host_and_greeting_names() {
        let v6: Ipv6Addr = "fd00:10:16:1::3".parse().unwrap();
        let dialog: Dialog<'_> = &[
            (
                false,
                b"220-Welcome\r\n220-to ftp.example.org.\r\n220 Ready\r\n",
            ),
            (true, b"USER bob\r\nPASS password\r\n"),
            (
                false,
                b"331 Please specify the password.\r\n230 Login successful.\r\n",
            ),
            (true, b"PORT 172,23,0,3,174,127\r\n"),
            (
                false,
                b"200 PORT command successful. Consider using PASV.\r\n",
            ),
            (true, b"EPRT |2|fd00:10:16:1::3|40467|\r\n"),
            (false, b"200 Active data connection established.\r\n"),
            (true, b"EPRT |2|fd00:10:16:1::3|40468|\r\nEPSV\r\n"),
            (
                false,
                b"500 Illegal EPRT command.\r\n229 Entering extended passive mode (|||21008|).\r\n",
            ),
            (true, b"HOST files.example.net\r\n"),
            (false, b"220 Host accepted\r\n"),
            (true, b"PORT 1,2,3\r\n"),
            (false, b"501 Syntax error\r\n"),
        ];
        let mut st = FtpState::new();
        let (recs, errs, _) = run(&mut st, dialog);
        assert!(errs.is_empty());
        let greet = |mut r: Rec| {
            r.server_name = "ftp.example.org".into();
            r
        };
        let mut after_host = mode("bob", Mode::Active, 501, None);
        after_host.server_name = "files.example.net".into();
        assert_eq!(
            recs,
            [
                greet(login("", "bob", "password", 230)),
                greet(mode("bob", Mode::Active, 200, v4([172, 23, 0, 3], 44671))),
                greet(mode(
                    "bob",
                    Mode::Active,
                    200,
                    Some(Endpoint {
                        addr: Some(IpAddr::V6(v6)),
                        port: 40467
                    })
                )),
                greet(mode("bob", Mode::Active, 500, None)),
                greet(mode(
                    "bob",
                    Mode::Passive,
                    229,
                    Some(Endpoint {
                        addr: None,
                        port: 21008
                    })
                )),
                after_host,
            ]
        );
        // A failed PORT does not change the mode in force.
        assert_eq!(st.mode(), Mode::Passive);
        assert_eq!(st.server_name(), b"files.example.net");
    }

    #[test]
    fn every_login_attempt_gives_one_record() {
        let dialog: Dialog<'_> = &[
            (false, b"220 ftp.example.com ready\r\n"),
            // Refused user: the reply to USER ends the attempt.
            (true, b"USER root\r\n"),
            (false, b"530 Permission denied.\r\n"),
            // Wrong password.
            (true, b"USER alice\r\n"),
            (false, b"331 Password required\r\n"),
            (true, b"PASS wrong\r\n"),
            (false, b"530 Login incorrect.\r\n"),
            // Abandoned after 331 for another USER.
            (true, b"USER typo\r\n"),
            (false, b"331 Password required\r\n"),
            (true, b"user alice\r\n"),
            (false, b"331 Password required\r\n"),
            (true, b"pass secret\r\n"),
            (false, b"230-Welcome\r\n230-Be nice.\r\n230 Logged in.\r\n"),
            // No password needed.
            (true, b"USER anonymous\r\n"),
            (false, b"230 Anonymous access granted\r\n"),
            // Unanswered when the connection ends.
            (true, b"USER last\r\nPASS x\r\n"),
        ];
        let mut st = FtpState::new();
        let (recs, _, _) = run(&mut st, dialog);
        let named = |user: &str, pass: &str, code| login("ftp.example.com", user, pass, code);
        assert_eq!(
            recs,
            [
                named("root", "", 530),
                named("alice", "wrong", 530),
                named("typo", "", 331),
                named("alice", "secret", 230),
                named("anonymous", "", 230),
            ]
        );
        assert_eq!(st.finish().map(Rec::from), Some(named("last", "x", 0)));
    }

    #[test]
    fn auth_tls_ends_the_readable_part() {
        let dialog: Dialog<'_> = &[
            (false, b"220 Ready\r\n"),
            (true, b"AUTH TLS\r\n"),
            (false, b"234 Proceed with negotiation.\r\n"),
            (true, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfcUSER x\r\n"),
        ];
        let mut st = FtpState::new();
        let (recs, _, _) = run(&mut st, dialog);
        assert!(recs.is_empty());
        assert_eq!(
            st.client(b"USER y\r\n", CAP),
            Step::new(8, Outcome::NotThis)
        );
        assert_eq!(st.server(b"331 x\r\n", CAP), Step::new(7, Outcome::NotThis));
        assert_eq!(st.finish(), None);
        // A refused AUTH changes nothing.
        let mut st = FtpState::new();
        let dialog: Dialog<'_> = &[
            (true, b"AUTH TLS\r\nUSER a\r\nPASS b\r\n"),
            (
                false,
                b"220 Ready\r\n504 Not supported\r\n331 ok\r\n230 ok\r\n",
            ),
        ];
        assert_eq!(run(&mut st, dialog).0, [login("", "a", "b", 230)]);
    }

    #[test]
    fn long_lines_are_skipped_and_names_cut() {
        let long_user = format!("USER {}\r\n", "u".repeat(100));
        let mut long_line = b"PASS ".to_vec();
        long_line.resize(CAP + 10, b'p');
        long_line.extend_from_slice(b"\r\n");
        let dialog: Dialog<'_> = &[
            (true, long_user.as_bytes()),
            (true, &long_line[..CAP]),
            (true, &long_line[CAP..]),
            (true, b"PASS short\r\n"),
            (false, b"331 ok\r\nnot a reply\r\n230 ok\r\n"),
        ];
        let (recs, errs, _) = run(&mut FtpState::new(), dialog);
        assert_eq!(errs, [Reason::LineTooLong, Reason::NotAReply]);
        // The too-long PASS was never read: the pairing holds.
        let mut cut = login("", &"u".repeat(NAME_CAP), "short", 230);
        cut.truncated = true;
        assert_eq!(recs, [cut]);
    }

    #[test]
    fn pipelined_commands_past_the_queue_keep_the_reply_order() {
        let mut client = Vec::new();
        for _ in 0..PENDING_CAP + 3 {
            client.extend_from_slice(b"NOOP\r\n");
        }
        client.extend_from_slice(b"PASV\r\n");
        let mut server = Vec::new();
        for _ in 0..PENDING_CAP + 3 {
            server.extend_from_slice(b"200 NOOP ok\r\n");
        }
        server.extend_from_slice(b"500 no passive\r\n");
        let dialog: Dialog<'_> = &[(false, b"220 hi\r\n"), (true, &client), (false, &server)];
        let (recs, _, _) = run(&mut FtpState::new(), dialog);
        // PASV's kind was not kept (the queue was full), but its reply is the
        // last one and pairs with nothing else: no record is invented.
        assert!(recs.is_empty());
        // Within the queue's capacity the pairing is exact.
        let dialog: Dialog<'_> = &[
            (false, b"220 hi\r\n"),
            (true, b"TYPE I\r\nPASV\r\nNOOP\r\n"),
            (false, b"200 ok\r\n500 no\r\n200 ok\r\n"),
        ];
        let (recs, _, _) = run(&mut FtpState::new(), dialog);
        assert_eq!(recs, [mode("", Mode::Passive, 500, None)]);
    }

    #[test]
    fn a_session_seen_from_the_middle() {
        // No greeting: the first reply answers the first command.
        let dialog: Dialog<'_> = &[(true, b"PASS pw\r\n"), (false, b"230 ok\r\n")];
        assert_eq!(
            run(&mut FtpState::new(), dialog).0,
            [login("", "", "pw", 230)]
        );
        let dialog: Dialog<'_> = &[(false, b"227 Entering Passive Mode (10,0,0,1,4,0)\r\n")];
        assert_eq!(
            run(&mut FtpState::new(), dialog).0,
            [mode("", Mode::Passive, 227, v4([10, 0, 0, 1], 1024))]
        );
    }

    #[test]
    fn the_state_is_small() {
        assert!(core::mem::size_of::<FtpState>() <= 256);
    }
}
