//! One SIP message: start line, the headers the record needs, framing.

use metaprobe_ipfix::codec::Reader;

use super::detect::is_token;
use super::via::ViaHosts;
use crate::app::Outcome;
use crate::app::text::{Fields, Value, decimal, take_line, trim};

/// How the message was carried, which decides where its body ends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// A UDP datagram (reassembled when it was fragmented): the buffer is the
    /// whole message. The body is Content-Length octets, or the rest of the
    /// datagram when there is no Content-Length (RFC 3261 §18.3); a head
    /// that is not closed by an empty line ends with the datagram.
    Datagram,
    /// A stream (TCP) window starting at a message: the body is
    /// Content-Length octets (none when the header is absent, flagged). The
    /// head must end within `cap` octets of the buffer's start — the most the
    /// caller can ever hold — or the message is [`Reason::HeadTooLong`].
    Stream { cap: usize },
}

/// The first line of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StartLine<'a> {
    Request {
        method: &'a [u8],
        uri: &'a [u8],
    },
    Response {
        code: u16,
        /// The reason phrase (may be empty).
        reason: &'a [u8],
        /// The code, SP and the reason as on the line (`200 OK`): MSG_CODE.
        code_reason: &'a [u8],
    },
}

/// What the caller should count about a message.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Flags(pub u8);

impl Flags {
    pub const NONE: Flags = Flags(0);
    /// A datagram whose head is not closed by an empty line: the head ends
    /// with the datagram.
    pub const UNCLOSED_HEAD: Flags = Flags(1);
    /// A stream message without Content-Length (RFC 3261 §18.3 requires it on
    /// streams): read as having no body.
    pub const NO_LENGTH: Flags = Flags(2);
    /// A datagram with an invalid Content-Length, or two that differ: the
    /// body is the rest of the datagram.
    pub const BAD_LENGTH: Flags = Flags(4);
    /// A datagram shorter than its Content-Length says: the body is what is there.
    pub const BODY_CUT: Flags = Flags(8);
    /// Octets after a datagram's Content-Length body, which are not part of
    /// the message (RFC 3261 §18.3: discarded).
    pub const TRAILING: Flags = Flags(16);
    /// Header lines that were not fields were skipped.
    pub const BROKEN_LINES: Flags = Flags(32);

    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }
}

/// A message that cannot be framed or has a broken start line: why and where.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Malformed {
    pub reason: Reason,
    /// Offset of the offending line in the given buffer.
    pub offset: usize,
}

/// Why a message is broken (an index for counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// `SIP/2.0` and then no status code of 100 to 699.
    StatusCode,
    /// A request line with an empty method or URI.
    RequestLine,
    /// A stream message whose Content-Length is invalid or given twice with
    /// different values: where the next message starts is unknown.
    ContentLength,
    /// A stream message whose head does not end within the caller's cap.
    HeadTooLong,
}

impl Reason {
    pub const COUNT: usize = 4;

    pub const fn as_str(self) -> &'static str {
        match self {
            Reason::StatusCode => "bad status code",
            Reason::RequestLine => "bad request line",
            Reason::ContentLength => "bad Content-Length",
            Reason::HeadTooLong => "head too long",
        }
    }
}

/// One SIP message. Every slice borrows the buffer given to [`parse`]; an
/// absent header is [`Value::EMPTY`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// Offset of the start line (after empty lines before it).
    pub start: usize,
    /// Octets from the buffer's start through the empty line after the
    /// headers (for [`Flags::UNCLOSED_HEAD`]: the whole datagram).
    pub head_len: usize,
    /// Octets of body after the head: with [`Framing::Stream`] the caller
    /// may not hold them all (skip them by count).
    pub body_len: u64,
    pub line: StartLine<'a>,
    pub from: Value<'a>,
    pub to: Value<'a>,
    pub call_id: Value<'a>,
    pub user_agent: Value<'a>,
    pub content_type: Value<'a>,
    /// The Content-Length header, when present and valid.
    pub content_length: Option<u64>,
    pub flags: Flags,
    /// For the Via walk: the first Via's value, and the header lines after
    /// its field through the last Via field.
    vias: Option<(&'a [u8], &'a [u8])>,
}

impl<'a> Message<'a> {
    /// Octets of the whole message from the buffer's start: where the next
    /// message of a stream starts.
    pub fn total_len(&self) -> u64 {
        u64::try_from(self.head_len)
            .unwrap_or(u64::MAX)
            .saturating_add(self.body_len)
    }

    pub fn is_request(&self) -> bool {
        matches!(self.line, StartLine::Request { .. })
    }

    /// MSG_CODE: the method of a request, the code and reason of a response.
    pub fn msg_code(&self) -> &'a [u8] {
        match self.line {
            StartLine::Request { method, .. } => method,
            StartLine::Response { code_reason, .. } => code_reason,
        }
    }

    /// STATUS_CODE: the status code of a response, 0 for a request.
    pub fn status_code(&self) -> u16 {
        match self.line {
            StartLine::Request { .. } => 0,
            StartLine::Response { code, .. } => code,
        }
    }

    /// URI: the Request-URI of a request, empty for a response.
    pub fn uri(&self) -> &'a [u8] {
        match self.line {
            StartLine::Request { uri, .. } => uri,
            StartLine::Response { .. } => b"",
        }
    }

    /// The sent-by host of every Via, top first (GATEWAYS).
    pub fn via_hosts(&self) -> ViaHosts<'a> {
        let (first, after) = self.vias.unwrap_or((b"", b""));
        ViaHosts::new(first, after)
    }
}

/// The headers [`parse`] reads, by full and compact name (RFC 3261 §7.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Known {
    From,
    To,
    CallId,
    UserAgent,
    ContentType,
    ContentLength,
    Via,
}

impl Known {
    pub(super) fn of(name: &[u8]) -> Option<Known> {
        let is = |full: &[u8]| name.eq_ignore_ascii_case(full);
        match name.len() {
            1 => match name.first()?.to_ascii_lowercase() {
                b'f' => Some(Known::From),
                b't' => Some(Known::To),
                b'i' => Some(Known::CallId),
                b'c' => Some(Known::ContentType),
                b'l' => Some(Known::ContentLength),
                b'v' => Some(Known::Via),
                _ => None,
            },
            2 if is(b"To") => Some(Known::To),
            3 if is(b"Via") => Some(Known::Via),
            4 if is(b"From") => Some(Known::From),
            7 if is(b"Call-ID") => Some(Known::CallId),
            10 if is(b"User-Agent") => Some(Known::UserAgent),
            12 if is(b"Content-Type") => Some(Known::ContentType),
            14 if is(b"Content-Length") => Some(Known::ContentLength),
            _ => None,
        }
    }
}

/// Reads one SIP message from the front of `buf` (after any empty lines).
///
/// `Incomplete`: the head is not whole yet ([`Framing::Stream`]; a datagram
/// is never incomplete). `NotThis`: the first line is not a SIP start line
/// (no `SIP/2.0` where it belongs). `Malformed`: see [`Reason`].
pub fn parse(buf: &[u8], framing: Framing) -> Outcome<Message<'_>, Malformed> {
    let start = buf
        .iter()
        .take_while(|&&b| b == b'\r' || b == b'\n')
        .count();
    let msg = buf.get(start..).unwrap_or(&[]);
    let mut r = Reader::new(msg);
    let (first, line_end) = match (take_line(&mut r), framing) {
        (Some(line), _) => (line, r.offset()),
        (None, Framing::Datagram) if !msg.is_empty() => (msg, msg.len()),
        (None, Framing::Datagram) => return Outcome::NotThis,
        (None, Framing::Stream { cap }) => return incomplete(buf, cap, start),
    };
    let line = match start_line(first) {
        Ok(line) => line,
        Err(Some(reason)) => {
            return Outcome::Malformed(Malformed {
                reason,
                offset: start,
            });
        }
        Err(None) => return Outcome::NotThis,
    };
    let after_line = msg.get(line_end..).unwrap_or(&[]);
    // One walk over the header lines: it finds the fields and the empty line.
    let mut m = Message {
        start,
        head_len: 0,
        body_len: 0,
        line,
        from: Value::EMPTY,
        to: Value::EMPTY,
        call_id: Value::EMPTY,
        user_agent: Value::EMPTY,
        content_type: Value::EMPTY,
        content_length: None,
        flags: Flags::NONE,
        vias: None,
    };
    let mut length = Length::Absent;
    // The first Via's value, where its field ends and where the last Via's does.
    let mut vias: Option<(&[u8], usize, usize)> = None;
    let mut fields = Fields::new(after_line);
    while let Some(f) = fields.next() {
        let slot = match Known::of(f.name) {
            Some(Known::From) => &mut m.from,
            Some(Known::To) => &mut m.to,
            Some(Known::CallId) => &mut m.call_id,
            Some(Known::UserAgent) => &mut m.user_agent,
            Some(Known::ContentType) => &mut m.content_type,
            Some(Known::ContentLength) => {
                length = length.and(f.value.raw);
                continue;
            }
            Some(Known::Via) => {
                // The Via walk reads the first Via's value, then the lines
                // after it up to the end of the last Via.
                let end = fields.offset();
                match &mut vias {
                    None => vias = Some((f.value.raw, end, end)),
                    Some((_, _, last)) => *last = end,
                }
                continue;
            }
            None => continue,
        };
        // The first of a repeated single-valued header counts.
        if slot.raw.is_empty() {
            *slot = f.value;
        }
    }
    if fields.broken() > 0 {
        m.flags = m.flags.with(Flags::BROKEN_LINES);
    }
    if let Some((first, after, last)) = vias {
        m.vias = Some((first, after_line.get(after..last).unwrap_or(&[])));
    }
    if !fields.is_closed() {
        match framing {
            Framing::Datagram => m.flags = m.flags.with(Flags::UNCLOSED_HEAD),
            Framing::Stream { cap } => return incomplete(buf, cap, start),
        }
    }
    let head_len = start + line_end + fields.offset();
    m.head_len = head_len;
    let after_head = buf.get(head_len..).unwrap_or(&[]);
    let there = u64::try_from(after_head.len()).unwrap_or(u64::MAX);
    match (length, framing) {
        (Length::Valid(n), Framing::Datagram) => {
            m.content_length = Some(n);
            m.body_len = n.min(there);
            if n > there {
                m.flags = m.flags.with(Flags::BODY_CUT);
            } else if n < there {
                m.flags = m.flags.with(Flags::TRAILING);
            }
        }
        (Length::Valid(n), Framing::Stream { .. }) => {
            m.content_length = Some(n);
            m.body_len = n;
        }
        (Length::Absent, Framing::Datagram) => m.body_len = there,
        (Length::Absent, Framing::Stream { .. }) => {
            m.flags = m.flags.with(Flags::NO_LENGTH);
        }
        (Length::Invalid, Framing::Datagram) => {
            m.flags = m.flags.with(Flags::BAD_LENGTH);
            m.body_len = there;
        }
        (Length::Invalid, Framing::Stream { .. }) => {
            return Outcome::Malformed(Malformed {
                reason: Reason::ContentLength,
                offset: start,
            });
        }
    }
    Outcome::Done(m)
}

/// A stream head that has not ended: more octets, unless the caller cannot
/// hold more.
fn incomplete<T>(buf: &[u8], cap: usize, start: usize) -> Outcome<T, Malformed> {
    if buf.len() >= cap {
        Outcome::Malformed(Malformed {
            reason: Reason::HeadTooLong,
            offset: start,
        })
    } else {
        Outcome::Incomplete
    }
}

/// Content-Length headers seen so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Length {
    Absent,
    Valid(u64),
    Invalid,
}

impl Length {
    fn and(self, value: &[u8]) -> Length {
        match (self, decimal(value)) {
            (_, None) | (Length::Invalid, _) => Length::Invalid,
            (Length::Absent, Some(n)) => Length::Valid(n),
            (Length::Valid(a), Some(b)) if a == b => Length::Valid(a),
            (Length::Valid(_), Some(_)) => Length::Invalid,
        }
    }
}

/// The start line: `Err(None)` when it is not SIP, `Err(Some(reason))` when
/// it is SIP but broken.
fn start_line(line: &[u8]) -> Result<StartLine<'_>, Option<Reason>> {
    let is_version = |v: &[u8]| v.eq_ignore_ascii_case(b"SIP/2.0");
    if let Some((version, rest)) = line.split_at_checked(7)
        && is_version(version)
    {
        // Status-Line = SIP-Version SP Status-Code SP Reason-Phrase
        let rest = rest.strip_prefix(b" ").ok_or(None)?;
        let code_reason = trim(rest);
        let (digits, after) = code_reason
            .split_at_checked(3)
            .ok_or(Some(Reason::StatusCode))?;
        let code = decimal(digits)
            .and_then(|c| u16::try_from(c).ok())
            .filter(|c| (100..=699).contains(c))
            .ok_or(Some(Reason::StatusCode))?;
        if !after.is_empty() && !after.starts_with(b" ") {
            return Err(Some(Reason::StatusCode));
        }
        return Ok(StartLine::Response {
            code,
            reason: trim(after),
            code_reason,
        });
    }
    // Request-Line = Method SP Request-URI SP SIP-Version
    let sp = line.iter().rposition(|&b| b == b' ').ok_or(None)?;
    let (head, version) = (line.get(..sp).ok_or(None)?, line.get(sp + 1..).ok_or(None)?);
    if !is_version(version) {
        return Err(None);
    }
    let (method, uri) = match head.iter().position(|&b| b == b' ') {
        Some(i) => (
            head.get(..i).unwrap_or(&[]),
            head.get(i + 1..).unwrap_or(&[]),
        ),
        None => (head, &[][..]),
    };
    let method_ok = !method.is_empty() && method.iter().all(|&b| is_token(b));
    let uri_ok = !uri.is_empty() && uri.iter().all(u8::is_ascii_graphic);
    if !(method_ok && uri_ok) {
        return Err(Some(Reason::RequestLine));
    }
    Ok(StartLine::Request { method, uri })
}

/// The URI of a name-addr or addr-spec value (From, To, Contact):
/// `"Alice" <sip:alice@atlanta.com>;tag=1` → `sip:alice@atlanta.com`,
/// `sip:alice@atlanta.com;tag=1` → `sip:alice@atlanta.com` (RFC 3261 §20.10:
/// without angle brackets, parameters belong to the header, not the URI).
/// tshark's `sip.from.addr`.
pub fn name_addr_uri(value: &[u8]) -> &[u8] {
    if let Some(open) = value.iter().position(|&b| b == b'<') {
        let inner = value.get(open + 1..).unwrap_or(&[]);
        let close = inner.iter().position(|&b| b == b'>').unwrap_or(inner.len());
        return trim(inner.get(..close).unwrap_or(&[]));
    }
    let end = value
        .iter()
        .position(|&b| b == b';' || b == b',' || b == b' ')
        .unwrap_or(value.len());
    value.get(..end).unwrap_or(&[])
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// sip_register_invite_cancel_auth.pcap frame 1.
    pub(in crate::app::sip) const REGISTER: &[u8] = b"\
REGISTER sip:sip.cybercity.dk SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.2;branch=z9hG4bKnp151248737-46ea715e192.168.1.2;rport\r\n\
From: <sip:voi18063@sip.cybercity.dk>;tag=903df0a\r\n\
To: <sip:voi18063@sip.cybercity.dk>\r\n\
Call-ID: 578222729-4665d775@578222732-4665d772\r\n\
Contact:  <sip:voi18063@192.168.1.2:5060;line=9c7d2dbd8822013c>;expires=1200;q=0.500\r\n\
Expires: 1200\r\n\
CSeq: 68 REGISTER\r\n\
Content-Length: 0\r\n\
Max-Forwards: 70\r\n\
User-Agent: Nero SIPPS IP Phone Version 2.0.51.16\r\n\
\r\n\
";
    /// sip_register_invite_cancel_auth.pcap frame 22.
    pub(in crate::app::sip) const INVITE_SDP: &[u8] = b"\
INVITE sip:97239287044@voip.brujula.net SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.168.1.2:5060;branch=z9hG4bKnp104984053-44ce4a41192.168.1.2;rport\r\n\
From: \"arik\" <sip:816666@voip.brurjula.net>;tag=6433ef9\r\n\
To: <sip:97239287044@voip.brujula.net>\r\n\
Call-ID: 105090259-446faf7a@192.168.1.2\r\n\
CSeq: 1 INVITE\r\n\
User-Agent: Nero SIPPS IP Phone Version 2.0.51.16\r\n\
Expires: 120\r\n\
Accept: application/sdp\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 272\r\n\
Contact: <sip:816666@192.168.1.2>\r\n\
Max-Forwards: 70\r\n\
Allow: INVITE, ACK, CANCEL, BYE, REFER, OPTIONS, NOTIFY, INFO\r\n\
\r\n\
v=0\r\n\
o=SIPPS 105015165 105015162 IN IP4 192.168.1.2\r\n\
s=SIP call\r\n\
c=IN IP4 192.168.1.2\r\n\
t=0 0\r\n\
m=audio 30000 RTP/AVP 0 8 97 2 3\r\n\
a=rtpmap:0 pcmu/8000\r\n\
a=rtpmap:8 pcma/8000\r\n\
a=rtpmap:97 iLBC/8000\r\n\
a=rtpmap:2 G726-32/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=fmtp:97 mode=20\r\n\
a=sendrecv\r\n\
";
    /// sip_invite_200_ack_bye_t38_fax.pcap frame 48.
    pub(in crate::app::sip) const OK_SDP: &[u8] = b"\
SIP/2.0 200 OK\r\n\
Allow: INVITE,ACK,OPTIONS,BYE,CANCEL,INFO,REFER,NOTIFY,UPDATE\r\n\
Call-ID: SD4909701-9ff11bf72eb4a347c92974d8fbbc2668-ao8o3i1\r\n\
Contact: <sip:061963177@192.168.100.219:5060>\r\n\
Content-Length: 212\r\n\
Content-Type: application/sdp\r\n\
CSeq: 1 INVITE\r\n\
From: <sip:unavailable@hostportion>;tag=SD4909701-00e9d478\r\n\
Min-SE: 90\r\n\
Server: Arcor/Arcor-1.02.005t2\r\n\
Supported: replaces,timer\r\n\
To: <sip:061963177@italtel.it;user=phone>;tag=617263616479616E-331715520-5336f785-187410205\r\n\
Via: SIP/2.0/UDP 138.132.169.101:5060;branch=z9hG4bKfv2f4010787h3a8q1280.1\r\n\
\r\n\
v=0\r\n\
o=- 754580423 1 IN IP4 192.168.100.219\r\n\
s=-\r\n\
c=IN IP4 192.168.100.219\r\n\
t=0 0\r\n\
m=audio 5002 RTP/AVP 8 102\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:102 telephone-event/8000\r\n\
a=fmtp:102 0-15,32\r\n\
a=ptime:20\r\n\
a=sendrecv\r\n\
";

    /// Compact forms, any case, folded values, several Vias (RFC 3261 §7.3.3).
    pub(in crate::app::sip) const COMPACT: &[u8] = b"\
INVITE sip:bob@example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP a.example:5060;branch=z9hG4bK1,\r\n  SIP/2.0/TCP [2001:db8::1]:5061;branch=z9hG4bK2\r\n\
v: SIP/2.0/UDP 192.0.2.7\r\n\
F: \"Alice\"\r\n <sip:alice@example.com>\r\n\t;tag=1\r\n\
t: <sip:bob@example.com>\r\n\
i: abc@x\r\n\
user-AGENT: Foo\r\n  Bar/1.0\r\n\
c: application/sdp\r\n\
L: 4\r\n\
m: <sip:alice@192.0.2.7>\r\n\
\r\n\
v=0\n";

    fn done(m: &[u8], framing: Framing) -> Message<'_> {
        match parse(m, framing) {
            Outcome::Done(msg) => msg,
            other => panic!("{other:?}"),
        }
    }

    fn via(m: &Message<'_>) -> Vec<String> {
        m.via_hosts()
            .map(|h| String::from_utf8_lossy(h).into_owned())
            .collect()
    }

    const TCP: Framing = Framing::Stream { cap: 4096 };

    #[test]
    fn a_corpus_register() {
        let m = done(REGISTER, Framing::Datagram);
        assert_eq!(
            m.line,
            StartLine::Request {
                method: b"REGISTER",
                uri: b"sip:sip.cybercity.dk"
            }
        );
        assert_eq!((m.msg_code(), m.status_code()), (&b"REGISTER"[..], 0));
        assert_eq!(m.uri(), b"sip:sip.cybercity.dk");
        assert_eq!(m.from.raw, b"<sip:voi18063@sip.cybercity.dk>;tag=903df0a");
        assert_eq!(m.to.raw, b"<sip:voi18063@sip.cybercity.dk>");
        assert_eq!(m.call_id.raw, b"578222729-4665d775@578222732-4665d772");
        assert_eq!(m.user_agent.raw, b"Nero SIPPS IP Phone Version 2.0.51.16");
        assert_eq!(m.content_type, Value::EMPTY);
        assert_eq!((m.content_length, m.body_len), (Some(0), 0));
        assert_eq!((m.start, m.head_len), (0, REGISTER.len()));
        assert_eq!(m.flags, Flags::NONE);
        assert_eq!(via(&m), ["192.168.1.2"]);
        assert!(m.is_request());
        // Over a stream the same message frames the same way.
        assert_eq!(done(REGISTER, TCP), m);
    }

    #[test]
    fn a_corpus_invite_with_its_sdp_body() {
        let m = done(INVITE_SDP, Framing::Datagram);
        assert_eq!(m.msg_code(), b"INVITE");
        assert_eq!(m.uri(), b"sip:97239287044@voip.brujula.net");
        assert_eq!(
            m.from.raw,
            b"\"arik\" <sip:816666@voip.brurjula.net>;tag=6433ef9"
        );
        assert_eq!(name_addr_uri(m.from.raw), b"sip:816666@voip.brurjula.net");
        assert_eq!(m.content_type.raw, b"application/sdp");
        assert_eq!((m.content_length, m.body_len), (Some(272), 272));
        assert_eq!(m.total_len(), INVITE_SDP.len() as u64);
        assert!(INVITE_SDP[m.head_len..].starts_with(b"v=0\r\n"));
        assert_eq!(via(&m), ["192.168.1.2"]);
        assert_eq!(m.flags, Flags::NONE);
    }

    #[test]
    fn a_corpus_response() {
        let m = done(OK_SDP, Framing::Datagram);
        assert_eq!(
            m.line,
            StartLine::Response {
                code: 200,
                reason: b"OK",
                code_reason: b"200 OK"
            }
        );
        assert_eq!(
            (m.msg_code(), m.status_code(), m.uri()),
            (&b"200 OK"[..], 200, &b""[..])
        );
        assert_eq!(m.user_agent, Value::EMPTY, "Server is not User-Agent");
        assert_eq!(
            m.to.raw,
            &b"<sip:061963177@italtel.it;user=phone>;tag=617263616479616E-331715520-5336f785-187410205"[..]
        );
        assert_eq!(via(&m), ["138.132.169.101"]);
        assert_eq!((m.body_len, m.total_len()), (212, OK_SDP.len() as u64));
        assert!(!m.is_request());
    }

    #[test]
    fn compact_forms_any_case_folding_and_several_vias() {
        let m = done(COMPACT, Framing::Datagram);
        assert_eq!(
            m.from,
            Value {
                raw: b"\"Alice\"\r\n <sip:alice@example.com>\r\n\t;tag=1",
                folded: true
            }
        );
        let mut buf = [0u8; 128];
        assert_eq!(
            m.from.unfold(&mut buf).0,
            b"\"Alice\" <sip:alice@example.com> ;tag=1"
        );
        assert_eq!(name_addr_uri(m.from.raw), b"sip:alice@example.com");
        assert_eq!(m.to.raw, b"<sip:bob@example.com>");
        assert_eq!(m.call_id.raw, b"abc@x");
        assert_eq!(m.user_agent.raw, b"Foo\r\n  Bar/1.0");
        assert_eq!(m.content_type.raw, b"application/sdp");
        assert_eq!((m.content_length, m.body_len), (Some(4), 4));
        assert_eq!(via(&m), ["a.example", "2001:db8::1", "192.0.2.7"]);
        let mut gateways = FixedTextFor::new();
        assert!(crate::app::sip::join_hosts(m.via_hosts(), &mut gateways));
        assert_eq!(gateways.as_bytes(), b"a.example,2001:db8::1,192.0.2.7");
    }

    type FixedTextFor = crate::app::text::FixedText<256>;

    #[test]
    fn datagram_framing_flags() {
        let m = done(
            b"SIP/2.0 100 Trying\r\nCall-ID: 1\r\n\r\nbody",
            Framing::Datagram,
        );
        assert_eq!(
            (m.body_len, m.content_length, m.flags),
            (4, None, Flags::NONE)
        );
        let m = done(
            b"SIP/2.0 100 Trying\r\nl: 10\r\n\r\nbody",
            Framing::Datagram,
        );
        assert_eq!((m.body_len, m.flags), (4, Flags::BODY_CUT));
        let m = done(b"SIP/2.0 100 Trying\r\nl: 2\r\n\r\nbody", Framing::Datagram);
        assert_eq!((m.body_len, m.flags), (2, Flags::TRAILING));
        let m = done(b"SIP/2.0 100 Trying\r\nl: x\r\n\r\nbody", Framing::Datagram);
        assert_eq!(
            (m.body_len, m.content_length, m.flags),
            (4, None, Flags::BAD_LENGTH)
        );
        let m = done(
            b"SIP/2.0 100 Trying\r\nl: 1\r\nContent-Length: 2\r\n\r\nbody",
            Framing::Datagram,
        );
        assert_eq!(m.flags, Flags::BAD_LENGTH);
        let m = done(
            b"SIP/2.0 100 Trying\r\ni: 1\r\nno colon\r\n",
            Framing::Datagram,
        );
        assert_eq!(m.flags, Flags::UNCLOSED_HEAD.with(Flags::BROKEN_LINES));
        assert_eq!(m.call_id.raw, b"1");
        let m = done(b"\r\n\r\nOPTIONS sip:a@b SIP/2.0", Framing::Datagram);
        assert_eq!(
            (m.start, m.head_len, m.flags),
            (4, 27, Flags::UNCLOSED_HEAD)
        );
        // A head without headers.
        let m = done(b"ACK sip:a@b SIP/2.0\r\n\r\n", TCP);
        assert_eq!((m.head_len, m.flags), (23, Flags::NO_LENGTH));
    }

    #[test]
    fn stream_framing() {
        // Equal repeated lengths are one length; different ones lose the framing.
        let m = done(b"SIP/2.0 200 OK\r\nl: 3\r\nl: 3\r\n\r\nabc", TCP);
        assert_eq!(m.body_len, 3);
        for bad in [
            &b"SIP/2.0 200 OK\r\nl: 3\r\nl: 4\r\n\r\nabc"[..],
            b"SIP/2.0 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"SIP/2.0 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
        ] {
            assert_eq!(
                parse(bad, TCP),
                Outcome::Malformed(Malformed {
                    reason: Reason::ContentLength,
                    offset: 0
                })
            );
        }
        // A stream body can be longer than what is there: the caller skips it.
        let m = done(b"SIP/2.0 200 OK\r\nContent-Length: 100000\r\n\r\nab", TCP);
        assert_eq!((m.body_len, m.flags), (100_000, Flags::NONE));
    }

    #[test]
    fn a_head_cut_anywhere_is_incomplete_until_whole() {
        let whole = done(INVITE_SDP, TCP);
        for k in 0..whole.head_len {
            assert_eq!(
                parse(&INVITE_SDP[..k], TCP),
                Outcome::Incomplete,
                "cut at {k}"
            );
        }
        for k in whole.head_len..=INVITE_SDP.len() {
            let m = done(&INVITE_SDP[..k], TCP);
            assert_eq!(
                (m.head_len, m.body_len, m.from, m.via_hosts().count()),
                (whole.head_len, 272, whole.from, 1)
            );
        }
    }

    #[test]
    fn a_head_longer_than_the_cap_is_too_long() {
        let cap = 100;
        assert_eq!(
            parse(&INVITE_SDP[..cap - 1], Framing::Stream { cap }),
            Outcome::Incomplete
        );
        assert_eq!(
            parse(&INVITE_SDP[..cap], Framing::Stream { cap }),
            Outcome::Malformed(Malformed {
                reason: Reason::HeadTooLong,
                offset: 0
            })
        );
    }

    #[test]
    fn broken_start_lines() {
        let bad = |m: &[u8], reason| {
            assert_eq!(
                parse(m, Framing::Datagram),
                Outcome::Malformed(Malformed { reason, offset: 0 }),
                "{m:?}"
            );
        };
        bad(b"SIP/2.0 099 Low\r\n\r\n", Reason::StatusCode);
        bad(b"SIP/2.0 700 High\r\n\r\n", Reason::StatusCode);
        bad(b"SIP/2.0 2x0 OK\r\n\r\n", Reason::StatusCode);
        bad(b"SIP/2.0 200OK\r\n\r\n", Reason::StatusCode);
        bad(b"SIP/2.0 20\r\n\r\n", Reason::StatusCode);
        bad(b"INVITE SIP/2.0\r\n\r\n", Reason::RequestLine);
        bad(b" sip:a@b SIP/2.0\r\n\r\n", Reason::RequestLine);
        bad(b"IN(VITE sip:a@b SIP/2.0\r\n\r\n", Reason::RequestLine);
        for not_sip in [
            &b"GET / HTTP/1.1\r\n\r\n"[..],
            b"HTTP/1.1 200 OK\r\n\r\n",
            b"     ",
            b"",
            b"\r\n\r\n",
            b"SIP/2.0200 OK\r\n\r\n",
            b"INVITE sip:a@b SIP/3.0\r\n\r\n",
        ] {
            assert_eq!(
                parse(not_sip, Framing::Datagram),
                Outcome::NotThis,
                "{not_sip:?}"
            );
        }
        // A response without a reason phrase.
        let m = done(b"SIP/2.0 486\r\n\r\n", Framing::Datagram);
        assert_eq!((m.msg_code(), m.status_code()), (&b"486"[..], 486));
    }

    #[test]
    fn the_first_of_a_repeated_header_counts() {
        let m = done(
            b"SIP/2.0 200 OK\r\nFROM: <sip:a@b>\r\nfrom: <sip:c@d>\r\nCALL-ID: x\r\ni: y\r\n\r\n",
            Framing::Datagram,
        );
        assert_eq!((m.from.raw, m.call_id.raw), (&b"<sip:a@b>"[..], &b"x"[..]));
    }

    #[test]
    fn name_addr_uris() {
        assert_eq!(
            name_addr_uri(b"\"A\" <sip:a@b;user=phone>;tag=1"),
            b"sip:a@b;user=phone"
        );
        assert_eq!(name_addr_uri(b"sip:a@b;tag=1"), b"sip:a@b");
        assert_eq!(name_addr_uri(b"<sip:a@b"), b"sip:a@b");
        assert_eq!(name_addr_uri(b""), b"");
    }
}
