//! IMAP (RFC 9051, RFC 3501; RFC 7888 LITERAL+): each message or message
//! header a FETCH returns in a literal (BODY[], BODY[HEADER…], RFC822,
//! RFC822.HEADER, BINARY[]), and each message APPEND sends.

use metaprobe_ipfix::codec::Reader;

use super::message::{Counted, Message, counted_line};
use super::{Event, Reason, word};
use crate::app::Outcome;
use crate::app::text::{FixedText, Step, decimal, trim};
use crate::app::text::{Lines, TooLong, next_line};

/// RESULT_CODE: a fetched message (the server sent it), and the tagged
/// status of an APPEND (0 when the connection ended before it).
pub const RESULT_OK: u32 = 1;
pub const RESULT_NO: u32 = 2;
pub const RESULT_BAD: u32 = 3;

/// Tags are short (`a001`, `C00005`); a longer one is not followed.
const TAG_CAP: usize = 32;

/// A literal being read on one direction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Literal {
    left: u64,
    /// Its octets are a message (or a message header).
    message: bool,
}

/// The state of one IMAP connection (both directions); same calling
/// contract as [`super::smtp::Smtp`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Imap {
    client_lines: Lines,
    server_lines: Lines,
    client_literal: Literal,
    server_literal: Literal,
    /// The APPEND whose message was read and awaits its tagged status.
    append: Option<FixedText<TAG_CAP>>,
    /// The tag of an APPEND whose literal is being read.
    appending: Option<FixedText<TAG_CAP>>,
    starttls: Option<FixedText<TAG_CAP>>,
    tls: bool,
}

impl Imap {
    /// An APPEND sent and not answered when the connection ended.
    pub fn unanswered(&self) -> bool {
        self.append.is_some() && !self.tls
    }

    pub fn client(&mut self, msg: &mut Message, bytes: &[u8], cap: usize) -> Step<Event, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            if self.client_literal.left > 0 {
                let message = self.client_literal.message;
                let m = message.then_some(&mut *msg);
                match counted_line(m, &mut self.client_literal.left, &mut r, cap) {
                    Counted::Line => continue,
                    Counted::Ended if message => {
                        msg.finish();
                        self.append = self.appending.take();
                        continue;
                    }
                    Counted::Ended => continue,
                    Counted::More => return Step::new(r.offset(), Outcome::Incomplete),
                    Counted::TooLong => {
                        return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong));
                    }
                }
            }
            if self.append.is_some() {
                // The next commands wait until the APPEND has its status.
                return Step::new(r.offset(), Outcome::Incomplete);
            }
            let line = match next_line(&mut r, &mut self.client_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong)),
            };
            let (tag, rest) = word(line);
            let (command, _) = word(rest);
            let literal = literal_size(line);
            if command.eq_ignore_ascii_case(b"APPEND") && literal.is_some() {
                msg.restart(false);
                self.appending = tag_copy(tag);
            } else if command.eq_ignore_ascii_case(b"STARTTLS") {
                self.starttls = tag_copy(tag);
            }
            if let Some(n) = literal {
                self.client_literal = Literal {
                    left: n,
                    message: self.appending.is_some(),
                };
            }
            return Step::new(r.offset(), Outcome::Done(Event::Line));
        }
    }

    pub fn server(&mut self, msg: &mut Message, bytes: &[u8], cap: usize) -> Step<Event, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            if self.server_literal.left > 0 {
                let message = self.server_literal.message;
                let m = message.then_some(&mut *msg);
                let outcome = match counted_line(m, &mut self.server_literal.left, &mut r, cap) {
                    Counted::Line => continue,
                    Counted::Ended if message => {
                        msg.finish();
                        Outcome::Done(Event::Received(RESULT_OK))
                    }
                    Counted::Ended => continue,
                    Counted::More => Outcome::Incomplete,
                    Counted::TooLong => Outcome::Malformed(Reason::TooLong),
                };
                return Step::new(r.offset(), outcome);
            }
            let before = r.offset();
            let line = match next_line(&mut r, &mut self.server_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong)),
            };
            if let Some(n) = literal_size(line) {
                let message = fetches_message(line);
                if message && self.append.is_some() {
                    // The reader is the APPEND's until its status: report it
                    // now, and read this line on the next call.
                    self.append = None;
                    return Step::new(before, Outcome::Done(Event::Sent(0)));
                }
                if message {
                    msg.restart(false);
                }
                self.server_literal = Literal { left: n, message };
                continue;
            }
            let (tag, rest) = word(line);
            let (status, _) = word(rest);
            let code = match status {
                s if s.eq_ignore_ascii_case(b"OK") => RESULT_OK,
                s if s.eq_ignore_ascii_case(b"NO") => RESULT_NO,
                s if s.eq_ignore_ascii_case(b"BAD") => RESULT_BAD,
                _ => return Step::new(r.offset(), Outcome::Done(Event::Line)),
            };
            let is = |t: &Option<FixedText<TAG_CAP>>| t.is_some_and(|t| t.as_bytes() == tag);
            let event = if is(&self.append) {
                self.append = None;
                Event::Sent(code)
            } else if is(&self.starttls) && code == RESULT_OK {
                self.tls = true;
                Event::Tls
            } else {
                Event::Line
            };
            return Step::new(r.offset(), Outcome::Done(event));
        }
    }
}

fn tag_copy(tag: &[u8]) -> Option<FixedText<TAG_CAP>> {
    (tag.len() <= TAG_CAP && !tag.is_empty() && tag != b"*").then(|| {
        let mut t = FixedText::new();
        t.set(tag);
        t
    })
}

/// The size of the literal a line announces at its end (`{n}`, or `{n+}`
/// for a non-synchronizing one, RFC 7888; `~{n}` for binary, RFC 3516).
fn literal_size(line: &[u8]) -> Option<u64> {
    let inner = trim(line).strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = inner.get(open + 1..)?;
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    decimal(digits).filter(|&n| n > 0)
}

/// Whether the data item whose literal ends `line` is a message or its
/// header: `BODY[]`, `BODY[HEADER…]` (with or without a `<origin>`),
/// `BINARY[]`, `RFC822`, `RFC822.HEADER`.
fn fetches_message(line: &[u8]) -> bool {
    let Some(open) = line.iter().rposition(|&b| b == b'{') else {
        return false;
    };
    let item = trim(line.get(..open).unwrap_or(&[]));
    let item = item.strip_suffix(b"~").unwrap_or(item);
    let upper_ends = |s: &[u8]| {
        item.len() >= s.len()
            && item
                .get(item.len() - s.len()..)
                .is_some_and(|t| t.eq_ignore_ascii_case(s))
    };
    if upper_ends(b" RFC822") || upper_ends(b"(RFC822") || upper_ends(b"RFC822.HEADER") {
        return true;
    }
    // A partial fetch's origin (`BODY[]<0>`) follows the section.
    let item = match item.strip_suffix(b">") {
        Some(i) => i
            .get(..i.iter().rposition(|&b| b == b'<').unwrap_or(0))
            .unwrap_or(&[]),
        None => item,
    };
    let Some(section) = item.strip_suffix(b"]") else {
        return false;
    };
    let Some(at) = section.iter().rposition(|&b| b == b'[') else {
        return false;
    };
    let name = section.get(..at).unwrap_or(&[]);
    let name_is = |n: &[u8]| {
        name.len() >= n.len()
            && name
                .get(name.len() - n.len()..)
                .is_some_and(|t| t.eq_ignore_ascii_case(n))
    };
    let part = section.get(at + 1..).unwrap_or(&[]);
    (name_is(b"BODY") || name_is(b"BINARY"))
        && (part.is_empty()
            || part
                .get(..6)
                .is_some_and(|p| p.eq_ignore_ascii_case(b"HEADER")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::mail::message::tests::MULTIPART;

    const CAP: usize = 4096;

    /// (send?, code, sender, subject) of every message event.
    type Rec = (bool, u32, String, String);

    fn drive(dialog: &[(bool, Vec<u8>)]) -> (Vec<Rec>, Imap) {
        let mut st = Imap::default();
        let mut msg = Message::new(false);
        let mut windows = [Vec::new(), Vec::new()];
        let mut out = Vec::new();
        for (client, seg) in dialog {
            let w = &mut windows[usize::from(!client)];
            w.extend_from_slice(seg);
            loop {
                let step = if *client {
                    st.client(&mut msg, w, CAP)
                } else {
                    st.server(&mut msg, w, CAP)
                };
                w.drain(..step.consumed);
                let rec = |send, code, msg: &Message| {
                    (
                        send,
                        code,
                        String::from_utf8_lossy(msg.from.as_bytes()).into_owned(),
                        String::from_utf8_lossy(msg.subject.as_bytes()).into_owned(),
                    )
                };
                match step.outcome {
                    Outcome::Done(Event::Sent(code)) => out.push(rec(true, code, &msg)),
                    Outcome::Done(Event::Received(code)) => out.push(rec(false, code, &msg)),
                    Outcome::Done(_) | Outcome::Malformed(_) => {}
                    Outcome::Incomplete | Outcome::NotThis => break,
                }
            }
        }
        (out, st)
    }

    fn fetch(item: &str, m: &[u8]) -> Vec<u8> {
        let mut v = format!(
            "* 1 FETCH (UID 10 FLAGS (\\Seen) {item} {{{}}}\r\n",
            m.len()
        )
        .into_bytes();
        v.extend_from_slice(m);
        v.extend_from_slice(b")\r\na2 OK FETCH completed\r\n");
        v
    }

    fn session(server: Vec<u8>) -> Vec<(bool, Vec<u8>)> {
        vec![
            (false, b"* OK IMAP4rev1 ready\r\n".to_vec()),
            (true, b"a1 LOGIN user {4}\r\n".to_vec()),
            (false, b"+ go\r\n".to_vec()),
            (true, b"pass\r\n".to_vec()),
            (false, b"a1 OK LOGIN done\r\n".to_vec()),
            (true, b"a2 UID FETCH 1:* (FLAGS BODY.PEEK[])\r\n".to_vec()),
            (false, server),
        ]
    }

    fn want() -> Vec<Rec> {
        vec![(
            false,
            RESULT_OK,
            "ivanov@example.ru".into(),
            "Привет мир".into(),
        )]
    }

    #[test]
    fn a_fetched_message_cut_at_every_offset_gives_the_same_record() {
        let server = fetch("BODY[]", MULTIPART);
        assert_eq!(drive(&session(server.clone())).0, want());
        for cut in 0..=server.len() {
            let mut d = session(server[..cut].to_vec());
            d.push((false, server[cut..].to_vec()));
            assert_eq!(drive(&d).0, want(), "cut at {cut}");
        }
    }

    #[test]
    fn header_items_are_messages_and_text_items_are_not() {
        for item in [
            "BODY[HEADER]",
            "RFC822.HEADER",
            "RFC822",
            "BODY[]<0>",
            "BINARY[]",
            "BODY[HEADER.FIELDS (FROM SUBJECT)]",
        ] {
            assert_eq!(drive(&session(fetch(item, MULTIPART))).0, want(), "{item}");
        }
        for item in ["BODY[TEXT]", "BODY[1]", "RFC822.TEXT", "BODY[1.MIME]"] {
            assert!(
                drive(&session(fetch(item, MULTIPART))).0.is_empty(),
                "{item}"
            );
        }
    }

    #[test]
    fn append_gives_a_sent_record_at_its_status() {
        let mut lit = format!("a3 APPEND Sent (\\Seen) {{{}+}}\r\n", MULTIPART.len()).into_bytes();
        lit.extend_from_slice(MULTIPART);
        lit.extend_from_slice(b"\r\n");
        let d = vec![
            (false, b"* OK ready\r\n".to_vec()),
            (true, lit),
            (false, b"a3 NO [OVERQUOTA] full\r\n".to_vec()),
        ];
        let (got, st) = drive(&d);
        assert_eq!(
            got,
            [(
                true,
                RESULT_NO,
                "ivanov@example.ru".into(),
                "Привет мир".into()
            )]
        );
        assert!(!st.unanswered());
    }

    #[test]
    fn starttls_ends_the_session() {
        let d = vec![
            (false, b"* OK ready\r\n".to_vec()),
            (true, b". STARTTLS\r\n".to_vec()),
            (false, b". OK Begin TLS negotiation now\r\n".to_vec()),
            (false, fetch("BODY[]", MULTIPART)),
        ];
        let (got, st) = drive(&d);
        assert!(got.is_empty() && st.tls);
    }

    #[test]
    fn literal_sizes() {
        assert_eq!(literal_size(b"* 1 FETCH (BODY[] {666}"), Some(666));
        assert_eq!(literal_size(b"a APPEND x {12+}"), Some(12));
        assert_eq!(literal_size(b"a APPEND x {}"), None);
        assert_eq!(literal_size(b"* OK {0}"), None);
        assert_eq!(literal_size(b"a NOOP"), None);
    }
}
