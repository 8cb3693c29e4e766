//! The per-connection XMPP state machine: both directions' XML read token by
//! token, the SASL exchange, the resource binding and the client's messages.

use super::grammar::{Mechanism, Reason, SASL_MAX, Token, attr, credentials, local, token};
use crate::app::Outcome;
use crate::app::text::{FixedText, Step};

/// Capacity of the copied login and password (longer ones are cut, on a
/// UTF-8 boundary, and the record says so).
pub const NAME_CAP: usize = 64;
/// Capacity of the copied JID (RFC 7622 allows 3071 octets; real ones are
/// far shorter).
pub const JID_CAP: usize = 128;
/// Base64 octets of one SASL message kept: what decodes to [`SASL_MAX`].
const SASL_TEXT: usize = SASL_MAX / 3 * 4;

/// RESULT_CODE of a login record: 0 when the server said `<success/>`, the
/// RFC 6120 §6.5 condition of its `<failure/>` (1–11, in the RFC's order)
/// or 12 for one it did not name, and 13 when the connection ended before
/// any answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum AuthResult {
    Success = 0,
    Aborted = 1,
    AccountDisabled = 2,
    CredentialsExpired = 3,
    EncryptionRequired = 4,
    IncorrectEncoding = 5,
    InvalidAuthzid = 6,
    InvalidMechanism = 7,
    MalformedRequest = 8,
    MechanismTooWeak = 9,
    NotAuthorized = 10,
    TemporaryAuthFailure = 11,
    /// `<failure/>` without a condition the RFC defines.
    Failure = 12,
    /// No answer seen: the connection ended first.
    Unanswered = 13,
}

impl AuthResult {
    pub const fn code(self) -> u8 {
        self as u8
    }

    /// The failure a defined condition element names (not `<text>`).
    fn condition(name: &[u8]) -> Option<AuthResult> {
        Some(match name {
            b"aborted" => AuthResult::Aborted,
            b"account-disabled" => AuthResult::AccountDisabled,
            b"credentials-expired" => AuthResult::CredentialsExpired,
            b"encryption-required" => AuthResult::EncryptionRequired,
            b"incorrect-encoding" => AuthResult::IncorrectEncoding,
            b"invalid-authzid" => AuthResult::InvalidAuthzid,
            b"invalid-mechanism" => AuthResult::InvalidMechanism,
            b"malformed-request" => AuthResult::MalformedRequest,
            b"mechanism-too-weak" => AuthResult::MechanismTooWeak,
            b"not-authorized" => AuthResult::NotAuthorized,
            b"temporary-auth-failure" => AuthResult::TemporaryAuthFailure,
            _ => return None,
        })
    }
}

/// A login record: the authentication's outcome and who it was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'s> {
    /// IM_LOGIN: PLAIN's authcid, DIGEST-MD5's `username`, SCRAM's `n=`.
    pub login: &'s [u8],
    /// IM_PASSW: PLAIN's password (empty for the other mechanisms).
    pub password: &'s [u8],
    /// IM_SCREEN_NAME: the JID the server bound (empty when none was seen).
    pub screen_name: &'s [u8],
    pub result: AuthResult,
    /// A name was longer than its copy and is cut.
    pub truncated: bool,
}

/// A message the client sent: to whom, and who the session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// IM_RECEIVERS: the stanza's `to` (empty without one: to the account).
    pub receivers: &'a [u8],
    /// The session's login and JID, as far as they are known.
    pub login: &'a [u8],
    pub screen_name: &'a [u8],
}

/// What one call made of the octets it was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event<'a> {
    /// A top-level element (stanza, SASL or TLS negotiation) started, and
    /// gave no record.
    Stanza,
    Login(Login<'a>),
    Message(Message<'a>),
    /// The server answered STARTTLS with `<proceed/>`: TLS from the next
    /// octet on, nothing more can be read (every later call consumes
    /// everything, `NotThis`).
    Tls,
}

/// Where the authentication is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Auth {
    /// No `<auth>` since the last record (or ever).
    #[default]
    Idle,
    /// `<auth>` sent, no answer yet.
    Pending,
    /// `<success/>`: the record waits for the bound JID.
    Succeeded,
}

/// Whose text the direction is reading.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Collect {
    #[default]
    Nothing,
    /// The data of an `<auth>` (the initial response) or a `<response>`.
    Sasl,
    /// The `<jid>` of a bind result.
    Jid,
}

/// One direction's place in the XML tree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Dir {
    /// Elements open, the stream's included: top-level elements open at 1.
    /// A connection picked up mid-stream starts at 1 too.
    depth: u8,
    collect: Collect,
    /// Inside a `<bind>` (server) or a SASL `<failure>` (server).
    in_bind: bool,
    in_failure: bool,
}

impl Dir {
    const START: Dir = Dir {
        depth: 1,
        collect: Collect::Nothing,
        in_bind: false,
        in_failure: false,
    };
}

/// What a token asks of the caller.
enum Fire<'a> {
    Nothing,
    Stanza,
    Login(AuthResult),
    Message(&'a [u8]),
    Tls,
}

/// The state of one XMPP client-to-server connection (both directions):
/// the XML depth of each, the authentication, and copies of the login,
/// password and JID. `Copy`, fixed size (under 1 KiB: it lives in a
/// worker's pool, not in the flow table).
///
/// # Calls
///
/// [`XmppState::client`] and [`XmppState::server`] take the **contiguous,
/// in-order octets of one direction starting at its position** and read
/// tokens until one gives an [`Event`]; the caller feeds both directions in
/// the order the segments arrived (which puts a `<success/>` after its
/// `<auth>`) and loops:
///
/// * `Done(event)`: call again with the octets after `consumed`;
/// * `Incomplete`: every whole token was consumed; keep the rest (a cut
///   tag) and give it again with what follows;
/// * `Malformed(reason)`: the direction is not XML or holds a tag longer
///   than `cap`; everything was consumed, stop reading it;
/// * `NotThis`: the connection became TLS ([`Event::Tls`]); stop.
///
/// Character data is read in pieces (a text cut by a segment needs nothing
/// held), so only a cut tag waits in the caller's window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct XmppState {
    client: Dir,
    server: Dir,
    mech: Mechanism,
    auth: Auth,
    /// The condition of the `<failure>` being read.
    failure: AuthResult,
    login: FixedText<NAME_CAP>,
    password: FixedText<NAME_CAP>,
    jid: FixedText<JID_CAP>,
    /// The JID came from a bind result (not from a stanza's `to`).
    bound: bool,
    /// The base64 text of the SASL message being read.
    sasl: FixedText<SASL_TEXT>,
    tls: bool,
}

const _: () = assert!(core::mem::size_of::<XmppState>() <= 1024);

impl Default for XmppState {
    fn default() -> Self {
        XmppState::new()
    }
}

impl XmppState {
    pub const fn new() -> Self {
        XmppState {
            client: Dir::START,
            server: Dir::START,
            mech: Mechanism::Other,
            auth: Auth::Idle,
            failure: AuthResult::Failure,
            login: FixedText::new(),
            password: FixedText::new(),
            jid: FixedText::new(),
            bound: false,
            sasl: FixedText::new(),
            tls: false,
        }
    }

    /// The authentication still unanswered, or answered `<success/>` with no
    /// bind result seen, when the connection ends: its record.
    pub fn finish(&self) -> Option<Login<'_>> {
        match self.auth {
            Auth::Idle => None,
            Auth::Pending => Some(self.login_record(AuthResult::Unanswered)),
            Auth::Succeeded => Some(self.login_record(AuthResult::Success)),
        }
    }

    /// Client → server octets: see the type's contract.
    pub fn client<'a>(&'a mut self, bytes: &'a [u8], cap: usize) -> Step<Event<'a>, Reason> {
        self.read(bytes, cap, XmppState::on_client)
    }

    /// Server → client octets: see the type's contract.
    pub fn server<'a>(&'a mut self, bytes: &'a [u8], cap: usize) -> Step<Event<'a>, Reason> {
        self.read(bytes, cap, XmppState::on_server)
    }

    fn read<'a>(
        &'a mut self,
        bytes: &'a [u8],
        cap: usize,
        on: for<'t> fn(&mut XmppState, Token<'t>) -> Fire<'t>,
    ) -> Step<Event<'a>, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut at = 0;
        let fire = loop {
            let rest = bytes.get(at..).unwrap_or(&[]);
            let step = token(rest, cap);
            at += step.consumed;
            match step.outcome {
                Outcome::Done(tok) => match on(self, tok) {
                    Fire::Nothing => {}
                    fire => break fire,
                },
                Outcome::Incomplete | Outcome::NotThis => {
                    return Step::new(at, Outcome::Incomplete);
                }
                Outcome::Malformed(r) => return Step::new(at, Outcome::Malformed(r)),
            }
        };
        let event = match fire {
            Fire::Nothing | Fire::Stanza => Event::Stanza,
            Fire::Login(result) => Event::Login(self.login_record(result)),
            Fire::Message(to) => Event::Message(Message {
                receivers: to,
                login: self.login.as_bytes(),
                screen_name: self.jid.as_bytes(),
            }),
            Fire::Tls => Event::Tls,
        };
        Step::new(at, Outcome::Done(event))
    }

    fn login_record(&self, result: AuthResult) -> Login<'_> {
        Login {
            login: self.login.as_bytes(),
            password: self.password.as_bytes(),
            screen_name: self.jid.as_bytes(),
            result,
            truncated: self.login.is_truncated()
                || self.password.is_truncated()
                || self.jid.is_truncated(),
        }
    }

    fn on_client<'t>(&mut self, tok: Token<'t>) -> Fire<'t> {
        match tok {
            Token::Open { name, attrs, empty } => {
                let top = self.client.depth <= 1;
                let name = local(name);
                if name == b"stream" {
                    // A new stream (after SASL success or at the start).
                    self.client = Dir::START;
                    return Fire::Nothing;
                }
                if !empty {
                    self.client.depth = self.client.depth.saturating_add(1);
                }
                if !top {
                    return Fire::Nothing;
                }
                match name {
                    b"auth" => {
                        self.mech = Mechanism::of(attr(attrs, b"mechanism").unwrap_or(b""));
                        self.login.clear();
                        self.password.clear();
                        self.auth = Auth::Pending;
                        self.start_sasl(empty);
                    }
                    b"response" => self.start_sasl(empty),
                    b"message" => return Fire::Message(attr(attrs, b"to").unwrap_or(b"")),
                    _ => {}
                }
                Fire::Stanza
            }
            Token::Close { name } => {
                if local(name) == b"stream" {
                    self.client.depth = 0;
                    return Fire::Nothing;
                }
                self.client.depth = self.client.depth.saturating_sub(1).max(1);
                if self.client.depth == 1 {
                    self.end_sasl();
                }
                Fire::Nothing
            }
            Token::Text(t) => {
                if self.client.collect != Collect::Nothing {
                    self.sasl.push(t);
                }
                Fire::Nothing
            }
            Token::Other => Fire::Nothing,
        }
    }

    fn start_sasl(&mut self, empty: bool) {
        self.sasl.clear();
        self.client.collect = Collect::Sasl;
        if empty {
            self.end_sasl();
        }
    }

    /// The SASL message read: the names it carries.
    fn end_sasl(&mut self) {
        if std::mem::take(&mut self.client.collect) == Collect::Nothing {
            return;
        }
        let mut scratch = [0u8; SASL_MAX];
        if let Some((user, pw)) = credentials(self.mech, self.sasl.as_bytes(), &mut scratch) {
            self.login.set(user);
            self.password.set(pw);
        }
    }

    fn on_server<'t>(&mut self, tok: Token<'t>) -> Fire<'t> {
        match tok {
            Token::Open { name, attrs, empty } => {
                let depth = self.server.depth;
                let name = local(name);
                if name == b"stream" {
                    self.server = Dir::START;
                    return Fire::Nothing;
                }
                if !empty {
                    self.server.depth = depth.saturating_add(1);
                }
                if depth > 1 {
                    self.inside(name, depth);
                    return Fire::Nothing;
                }
                match name {
                    b"success" => self.auth = Auth::Succeeded,
                    b"failure"
                        if attr(attrs, b"xmlns") != Some(b"urn:ietf:params:xml:ns:xmpp-tls") =>
                    {
                        self.failure = AuthResult::Failure;
                        if empty {
                            return self.failed();
                        }
                        self.server.in_failure = true;
                    }
                    b"proceed" => {
                        self.tls = true;
                        return Fire::Tls;
                    }
                    b"iq" | b"message" | b"presence" if !self.bound => {
                        // Mid-stream: what the server delivers is addressed
                        // to the client (RFC 6120 §8.1.1.1).
                        if let Some(to) = attr(attrs, b"to") {
                            self.jid.set(to);
                        }
                    }
                    _ => {}
                }
                Fire::Stanza
            }
            Token::Close { name } => {
                let name = local(name);
                if name == b"stream" {
                    self.server.depth = 0;
                    return Fire::Nothing;
                }
                self.server.depth = self.server.depth.saturating_sub(1).max(1);
                match name {
                    b"failure" if self.server.in_failure && self.server.depth == 1 => {
                        self.server.in_failure = false;
                        self.failed()
                    }
                    b"jid" if self.server.collect == Collect::Jid => {
                        self.server.collect = Collect::Nothing;
                        self.bound = true;
                        self.auth = Auth::Idle;
                        Fire::Login(AuthResult::Success)
                    }
                    b"bind" => {
                        self.server.in_bind = false;
                        Fire::Nothing
                    }
                    _ => Fire::Nothing,
                }
            }
            Token::Text(t) => {
                if self.server.collect == Collect::Jid {
                    self.jid.push(t);
                }
                Fire::Nothing
            }
            Token::Other => Fire::Nothing,
        }
    }

    /// A server element below the top level, at `depth`.
    fn inside(&mut self, name: &[u8], depth: u8) {
        if self.server.in_failure
            && depth == 2
            && let Some(condition) = AuthResult::condition(name)
        {
            self.failure = condition;
        }
        match name {
            b"bind" => self.server.in_bind = true,
            b"jid" if self.server.in_bind => {
                self.server.collect = Collect::Jid;
                self.jid.clear();
            }
            _ => {}
        }
    }

    fn failed<'t>(&mut self) -> Fire<'t> {
        self.auth = Auth::Idle;
        Fire::Login(self.failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAP: usize = 4096;

    /// Who sent a piece of the conversation.
    #[derive(Clone, Copy)]
    enum From {
        C,
        S,
    }

    /// What the records of a conversation say, owned.
    #[derive(Debug, PartialEq, Eq)]
    enum Rec {
        Login(String, String, String, u8),
        Message(String, String),
        Tls,
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Feeds the pieces in order, each direction with its unconsumed rest
    /// kept, then the end of the connection.
    fn drive(pieces: &[(From, &[u8])]) -> Vec<Rec> {
        let mut st = XmppState::new();
        let mut windows = [Vec::new(), Vec::new()];
        let mut out = Vec::new();
        for &(from, piece) in pieces {
            let w = &mut windows[from as usize];
            w.extend_from_slice(piece);
            loop {
                let step = match from {
                    From::C => st.client(w, CAP),
                    From::S => st.server(w, CAP),
                };
                let (consumed, more) = match step.outcome {
                    Outcome::Done(e) => {
                        match e {
                            Event::Login(l) => out.push(Rec::Login(
                                s(l.login),
                                s(l.password),
                                s(l.screen_name),
                                l.result.code(),
                            )),
                            Event::Message(m) => {
                                out.push(Rec::Message(s(m.receivers), s(m.screen_name)))
                            }
                            Event::Tls => out.push(Rec::Tls),
                            Event::Stanza => {}
                        }
                        (step.consumed, true)
                    }
                    Outcome::Incomplete => (step.consumed, false),
                    Outcome::NotThis => (step.consumed, false),
                    Outcome::Malformed(r) => panic!("{r:?}"),
                };
                w.drain(..consumed);
                if !more {
                    break;
                }
            }
        }
        if let Some(l) = st.finish() {
            out.push(Rec::Login(
                s(l.login),
                s(l.password),
                s(l.screen_name),
                l.result.code(),
            ));
        }
        out
    }

    const HEADER_C: &[u8] = b"<?xml version='1.0' ?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    const HEADER_S: &[u8] = b"<?xml version='1.0'?><stream:stream id='1' from='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    /// PLAIN for juliet / r0m30myr0m30 (RFC 6120 §9.2's names).
    const AUTH_PLAIN: &[u8] = b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>";
    const BIND_RESULT: &[u8] = b"<iq type='result' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>";

    fn session() -> Vec<(From, &'static [u8])> {
        vec![
            (From::C, HEADER_C),
            (From::S, HEADER_S),
            (From::S, b"<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>"),
            (From::C, AUTH_PLAIN),
            (From::S, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
            (From::C, HEADER_C),
            (From::S, HEADER_S),
            (From::C, b"<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>balcony</resource></bind></iq>"),
            (From::S, BIND_RESULT),
            (From::C, b"<message to='romeo@example.net' type='chat'><body>Art thou not Romeo, and a <b>Montague</b>?</body></message><presence/>"),
            (From::S, b"<message to='juliet@example.com/balcony' from='romeo@example.net/orchard'><body>Neither</body></message>"),
            (From::C, b"<message to='nurse@example.com'><body>x</body></message></stream:stream>"),
        ]
    }

    fn session_records() -> Vec<Rec> {
        let jid = "juliet@example.com/balcony".to_string();
        vec![
            Rec::Login("juliet".into(), "r0m30myr0m30".into(), jid.clone(), 0),
            Rec::Message("romeo@example.net".into(), jid.clone()),
            Rec::Message("nurse@example.com".into(), jid),
        ]
    }

    #[test]
    fn a_plain_login_is_recorded_with_its_bound_jid_and_each_message() {
        assert_eq!(drive(&session()), session_records());
    }

    #[test]
    fn every_cut_of_every_piece_gives_the_same_records() {
        let whole = session();
        for (i, &(from, piece)) in whole.iter().enumerate() {
            for cut in 1..piece.len() {
                let mut pieces = whole.clone();
                pieces.splice(i..=i, [(from, &piece[..cut]), (from, &piece[cut..])]);
                assert_eq!(drive(&pieces), session_records(), "piece {i} cut at {cut}");
            }
        }
    }

    #[test]
    fn a_failure_names_its_condition_and_a_retry_is_a_new_record() {
        let records = drive(&[
            (From::C, HEADER_C),
            (From::C, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='DIGEST-MD5'/>"),
            (From::S, b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>bm9uY2U9IjEi</challenge>"),
            // username="tom",realm="cs-xmpp.lan"
            (From::C, b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>dXNlcm5hbWU9InRvbSIscmVhbG09ImNzLXhtcHAubGFuIg==</response>"),
            (From::S, b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><not-authorized/><text xml:lang='en'>Invalid username or password</text></failure>"),
            (From::C, AUTH_PLAIN),
            (From::S, b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
            (From::C, AUTH_PLAIN),
        ]);
        assert_eq!(
            records,
            [
                Rec::Login("tom".into(), "".into(), "".into(), 10),
                Rec::Login("juliet".into(), "r0m30myr0m30".into(), "".into(), 12),
                // The last attempt had no answer when the connection ended.
                Rec::Login("juliet".into(), "r0m30myr0m30".into(), "".into(), 13),
            ]
        );
    }

    #[test]
    fn plain_after_an_empty_initial_response_is_read_from_the_response() {
        let records = drive(&[
            (From::C, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>=</auth>"),
            (From::S, b"<challenge xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
            (From::C, b"<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>AGp1bGlldAByMG0zMG15cjBtMzA=</response>"),
            (From::S, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"),
        ]);
        // No bind before the end: the success is recorded then, without a JID.
        assert_eq!(
            records,
            [Rec::Login(
                "juliet".into(),
                "r0m30myr0m30".into(),
                "".into(),
                0
            )]
        );
    }

    #[test]
    fn starttls_ends_the_cleartext() {
        let records = drive(&[
            (From::C, HEADER_C),
            (From::S, HEADER_S),
            (
                From::C,
                b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
            ),
            (
                From::S,
                b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>",
            ),
            (From::C, b"\x16\x03\x01\x02\x00<message to='a@b'>"),
            (From::S, b"<success/>"),
        ]);
        assert_eq!(records, [Rec::Tls]);
    }

    #[test]
    fn picked_up_mid_stream_the_jid_is_whom_the_server_addresses() {
        let records = drive(&[
            (From::S, b"<presence to='tom@cs-xmpp.lan/darkstar' from='chatback@cs-xmpp.lan'/>"),
            (From::C, b"<message type='chat' id='m1' to='chatback@cs-xmpp.lan'><body>hey</body></message>"),
            (From::C, b"<message type='chat' id='m2'><active/></message>"),
        ]);
        let jid = "tom@cs-xmpp.lan/darkstar".to_string();
        assert_eq!(
            records,
            [
                Rec::Message("chatback@cs-xmpp.lan".into(), jid.clone()),
                Rec::Message("".into(), jid),
            ]
        );
    }

    #[test]
    fn nested_messages_and_long_names_are_not_taken_for_more() {
        let long = [b'a'; 200];
        let mut bind = b"<iq type='result'><bind><jid>".to_vec();
        bind.extend_from_slice(&long);
        bind.extend_from_slice(b"</jid></bind></iq>");
        let mut st = XmppState::new();
        let step = st.server(&bind, CAP);
        assert_eq!(step.outcome, Outcome::Done(Event::Stanza));
        let at = step.consumed;
        let step = st.server(&bind[at..], CAP);
        let Outcome::Done(Event::Login(l)) = step.outcome else {
            panic!("{step:?}");
        };
        assert_eq!((l.screen_name.len(), l.truncated), (JID_CAP, true));
        // A forwarded message (XEP-0280 carbons) is not the client's own.
        let carbon = b"<iq type='set'><forwarded><message to='x@y'/></forwarded></iq>";
        let step = st.client(carbon, CAP);
        assert_eq!(step.outcome, Outcome::Done(Event::Stanza));
        let at = step.consumed;
        assert_eq!(
            st.client(&carbon[at..], CAP),
            Step::new(carbon.len() - at, Outcome::Incomplete)
        );
    }
}
