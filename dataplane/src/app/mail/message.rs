//! One mail message (RFC 5322 header, RFC 2045/2046 MIME body) read a line
//! at a time in bounded memory: the header fields a record carries, and
//! whether a MIME part is an attachment. Bodies are scanned for boundary
//! lines only.
//!
//! ```text
//! message   = header CRLF body          header = *( field CRLF *( WSP text CRLF ) )
//! multipart = *( line ) "--" boundary CRLF part-header CRLF part-body ... "--" boundary "--"
//! ```

use metaprobe_ipfix::codec::Reader;

use super::header::{addresses, decode_words, media_type, param};
use crate::app::text::{FixedText, find_lf, is_wsp, strip_cr, trim};

/// Capacities of the copied values (longer ones are cut and flagged).
pub const SENDER_CAP: usize = 256;
pub const RECEIVERS_CAP: usize = 1024;
pub const CC_CAP: usize = 512;
pub const SUBJECT_CAP: usize = 512;
/// The unfolded value of the header field being read.
const VALUE_CAP: usize = 1024;
/// RFC 2046 §5.1.1: a boundary is 1 to 70 characters.
const BOUNDARY_CAP: usize = 70;
/// Nested multiparts whose boundaries are recognised.
const BOUNDARIES: usize = 4;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Phase {
    /// The message's own header.
    #[default]
    Header,
    /// A MIME part's header (after a boundary line).
    PartHeader,
    Body,
}

/// The header field whose value is being gathered.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Field {
    /// None, or one the record does not need.
    #[default]
    Other,
    From,
    To,
    Cc,
    Subject,
    ContentType,
    ContentDisposition,
}

/// The reader of one message and what it found: the message's From, To, Cc
/// (addresses only, `,` between them), Subject (encoded-words decoded to
/// UTF-8) and whether a part is an attachment.
///
/// [`Message::line`] takes each line of the message in order, without its
/// line break (and, where the transport dot-stuffs, unstuffed);
/// [`Message::finish`] ends it. With `envelope` set (SMTP), From and To are
/// the caller's (MAIL FROM, RCPT TO) and the header's are not read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message {
    phase: Phase,
    field: Field,
    value: FixedText<VALUE_CAP>,
    boundaries: [FixedText<BOUNDARY_CAP>; BOUNDARIES],
    boundary_count: u8,
    envelope: bool,
    pub from: FixedText<SENDER_CAP>,
    pub to: FixedText<RECEIVERS_CAP>,
    pub cc: FixedText<CC_CAP>,
    pub subject: FixedText<SUBJECT_CAP>,
    /// A part (or the message itself) is an attachment.
    pub attachment: bool,
    /// A value was cut, or a boundary left out.
    pub cut: bool,
}

impl Message {
    pub const fn new(envelope: bool) -> Self {
        Message {
            phase: Phase::Header,
            field: Field::Other,
            value: FixedText::new(),
            boundaries: [const { FixedText::new() }; BOUNDARIES],
            boundary_count: 0,
            envelope,
            from: FixedText::new(),
            to: FixedText::new(),
            cc: FixedText::new(),
            subject: FixedText::new(),
            attachment: false,
            cut: false,
        }
    }

    /// The header was read to its end (its empty line, or the message's).
    pub fn header_done(&self) -> bool {
        self.phase != Phase::Header
    }

    /// Starts the next message, keeping the envelope when `keep_envelope`.
    pub fn restart(&mut self, keep_envelope: bool) {
        let (from, to) = (self.from, self.to);
        *self = Message::new(self.envelope);
        if keep_envelope {
            (self.from, self.to) = (from, to);
        }
    }

    /// The next line of the message.
    pub fn line(&mut self, line: &[u8]) {
        match self.phase {
            Phase::Header | Phase::PartHeader => self.header_line(line),
            Phase::Body => {
                if let Some(b) = line.strip_prefix(b"--")
                    && self.is_boundary(b)
                {
                    self.phase = Phase::PartHeader;
                    self.field = Field::Other;
                }
            }
        }
    }

    /// The message ended (a header without body included).
    pub fn finish(&mut self) {
        self.end_field();
        self.phase = Phase::Body;
        self.cut |= self.from.is_truncated()
            || self.to.is_truncated()
            || self.cc.is_truncated()
            || self.subject.is_truncated();
    }

    fn header_line(&mut self, line: &[u8]) {
        if line.first().copied().is_some_and(is_wsp) {
            // A continuation: unfolding drops the line break only (RFC 5322 §2.2.3).
            if self.field != Field::Other {
                self.value.push(line);
            }
            return;
        }
        self.end_field();
        if line.is_empty() {
            self.phase = Phase::Body;
            return;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return;
        };
        let name = trim(line.get(..colon).unwrap_or(&[]));
        let part = self.phase == Phase::PartHeader;
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        self.field = match () {
            () if is(b"content-type") => Field::ContentType,
            () if is(b"content-disposition") => Field::ContentDisposition,
            () if part => Field::Other,
            () if is(b"from") && !self.envelope => Field::From,
            () if is(b"to") && !self.envelope => Field::To,
            () if is(b"cc") => Field::Cc,
            () if is(b"subject") => Field::Subject,
            () => Field::Other,
        };
        if self.field != Field::Other {
            let value = line.get(colon + 1..).unwrap_or(&[]);
            let ws = value.iter().take_while(|&&b| is_wsp(b)).count();
            self.value.set(value.get(ws..).unwrap_or(&[]));
        }
    }

    /// The field gathered so far is whole: what it says goes where it belongs.
    fn end_field(&mut self) {
        let field = core::mem::take(&mut self.field);
        let v = self.value.as_bytes();
        self.cut |= self.value.is_truncated();
        match field {
            Field::Other => {}
            Field::From if self.from.is_empty() => {
                addresses(v, &mut self.from);
            }
            Field::To => {
                addresses(v, &mut self.to);
            }
            Field::Cc => {
                addresses(v, &mut self.cc);
            }
            Field::Subject if self.subject.is_empty() => {
                decode_words(v, &mut self.subject);
            }
            Field::From | Field::Subject => {}
            Field::ContentType => {
                let multipart = media_type(v)
                    .get(..10)
                    .is_some_and(|t| t.eq_ignore_ascii_case(b"multipart/"));
                if multipart && let Some(b) = param(v, b"boundary") {
                    let copy = (b.len() <= BOUNDARY_CAP).then(|| {
                        let mut t = FixedText::new();
                        t.set(b);
                        t
                    });
                    let n = usize::from(self.boundary_count);
                    match (self.boundaries.get_mut(n), copy) {
                        (Some(slot), Some(b)) if !b.is_empty() => {
                            *slot = b;
                            self.boundary_count += 1;
                        }
                        // Too long for RFC 2046, or nested too deep: left out.
                        _ => self.cut = true,
                    }
                }
                self.attachment |= param(v, b"name").is_some();
            }
            Field::ContentDisposition => {
                self.attachment |= media_type(v).eq_ignore_ascii_case(b"attachment")
                    || param(v, b"filename").is_some();
            }
        }
        self.value.clear();
    }

    /// `rest` (a body line after its `--`) is a delimiter of a known
    /// boundary, the closing one (`--` after it) included; trailing white
    /// space is allowed (RFC 2046 §5.1.1).
    fn is_boundary(&self, rest: &[u8]) -> bool {
        let n = usize::from(self.boundary_count);
        self.boundaries.iter().take(n).any(|b| {
            rest.strip_prefix(b.as_bytes()).is_some_and(|after| {
                let after = after.strip_prefix(b"--").unwrap_or(after);
                after.iter().all(|&c| is_wsp(c))
            })
        })
    }
}

/// A line of a dot-stuffed transfer (SMTP DATA, RFC 5321 §4.5.2; POP3
/// multi-line responses, RFC 1939 §3): `None` for the terminating `.`, else
/// the line without the leading dot that protects it.
pub fn unstuff(line: &[u8]) -> Option<&[u8]> {
    match line.strip_prefix(b".") {
        Some([]) => None,
        Some(rest) => Some(rest),
        None => Some(line),
    }
}

/// What one read of a counted transfer (a BDAT chunk, an IMAP literal) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Counted {
    /// A line of it was read; more of it follows.
    Line,
    /// Its last octets were read.
    Ended,
    /// No whole line is there yet (nothing consumed).
    More,
    /// A line longer than the cap: what was there is dropped.
    TooLong,
}

/// Reads the next line of a transfer with `left` octets to come from `r`
/// into `msg` (when it is a message): lines are bounded by the count, so
/// a transfer that ends inside a line gives that piece as a line.
pub fn counted_line(
    msg: Option<&mut Message>,
    left: &mut u64,
    r: &mut Reader<'_>,
    cap: usize,
) -> Counted {
    let rest = r.peek_rest();
    let n = usize::try_from(*left).map_or(rest.len(), |l| l.min(rest.len()));
    let region = rest.get(..n).unwrap_or(&[]);
    let (take, line) = match find_lf(region) {
        Some(i) => (i + 1, region.get(..i)),
        None if n as u64 == *left => (n, Some(region)),
        None if n >= cap => (n, None),
        None => return Counted::More,
    };
    r.skip(take);
    *left -= take as u64;
    if let (Some(msg), Some(line)) = (msg, line) {
        msg.line(strip_cr(line));
    }
    match (*left, line) {
        (0, _) => Counted::Ended,
        (_, None) => Counted::TooLong,
        (_, Some(_)) => Counted::Line,
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::app::text::take_line;

    /// A multipart message with an encoded Subject, a folded Cc and an attachment.
    pub const MULTIPART: &[u8] = b"From: \"Ivanov, I.\" <ivanov@example.ru>\r\n\
To: a@example.com,\r\n b@example.com\r\n\
Cc: C <c@example.com>\r\n\
Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?=\r\n =?UTF-8?Q?_=D0=BC=D0=B8=D1=80?=\r\n\
MIME-Version: 1.0\r\n\
Content-Type: multipart/mixed;\r\n\tboundary=\"=_outer\"\r\n\
\r\n\
preamble\r\n\
--=_outer\r\n\
Content-Type: multipart/alternative; boundary=inner\r\n\
\r\n\
--inner\r\n\
Content-Type: text/plain\r\n\
\r\n\
-- \r\n\
signature\r\n\
--inner--\r\n\
--=_outer\r\n\
Content-Type: application/pdf\r\n\
Content-Disposition: attachment; filename=\"report.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\
\r\n\
JVBERi0xLjQK\r\n\
--=_outer--\r\n";

    fn read(text: &[u8], envelope: bool) -> Message {
        let mut m = Message::new(envelope);
        let mut r = Reader::new(text);
        while let Some(line) = take_line(&mut r) {
            m.line(line);
        }
        m.finish();
        m
    }

    fn s(t: &[u8]) -> &str {
        core::str::from_utf8(t).unwrap()
    }

    #[test]
    fn a_multipart_message_gives_its_fields_and_attachment() {
        let m = read(MULTIPART, false);
        assert_eq!(s(m.from.as_bytes()), "ivanov@example.ru");
        assert_eq!(s(m.to.as_bytes()), "a@example.com,b@example.com");
        assert_eq!(s(m.cc.as_bytes()), "c@example.com");
        assert_eq!(s(m.subject.as_bytes()), "Привет мир");
        assert!(m.attachment && !m.cut);
    }

    #[test]
    fn an_envelope_keeps_from_and_to() {
        let mut m = Message::new(true);
        m.from.set(b"env@x");
        let mut r = Reader::new(MULTIPART);
        while let Some(line) = take_line(&mut r) {
            m.line(line);
        }
        m.finish();
        assert_eq!(
            (m.from.as_bytes(), m.to.as_bytes()),
            (&b"env@x"[..], &b""[..])
        );
        assert_eq!(m.cc.as_bytes(), b"c@example.com");
    }

    #[test]
    fn no_attachment_without_one() {
        let plain = b"From: a@b\r\nSubject: hi\r\nContent-Type: multipart/alternative; boundary=x\r\n\r\n--x\r\nContent-Type: text/plain\r\n\r\nhello\r\n--x--\r\n";
        let m = read(plain, false);
        assert!(!m.attachment);
        assert_eq!(m.subject.as_bytes(), b"hi");
        // A header line naming the field in a part is not the message's.
        let part = b"Subject: top\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nSubject: inner\r\nContent-Type: text/plain; name=\"a.txt\"\r\n\r\nx\r\n";
        let m = read(part, false);
        assert_eq!(m.subject.as_bytes(), b"top");
        assert!(m.attachment);
    }

    #[test]
    fn a_header_without_body_ends_with_the_message() {
        let m = read(b"From: x@y\r\nSubject: only\r\n", false);
        assert_eq!(
            (m.from.as_bytes(), m.subject.as_bytes()),
            (&b"x@y"[..], &b"only"[..])
        );
    }

    #[test]
    fn dot_stuffing_is_undone_and_the_terminator_found() {
        assert_eq!(unstuff(b"."), None);
        assert_eq!(unstuff(b".."), Some(&b"."[..]));
        assert_eq!(unstuff(b"..x"), Some(&b".x"[..]));
        assert_eq!(unstuff(b"x."), Some(&b"x."[..]));
        assert_eq!(unstuff(b""), Some(&b""[..]));
    }
}
