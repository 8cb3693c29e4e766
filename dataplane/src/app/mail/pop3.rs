//! POP3 (RFC 1939, RFC 2449 CAPA, RFC 2595 STLS, RFC 5034 AUTH): each
//! message a RETR or TOP retrieves.

use metaprobe_ipfix::codec::Reader;

use super::message::{Message, unstuff};
use super::{Event, Pending, Reason, word};
use crate::app::Outcome;
use crate::app::text::Step;
use crate::app::text::{Lines, TooLong, next_line};

/// RESULT_CODE of a retrieved message: the server's `+OK`.
pub const RESULT_OK: u32 = 1;

/// The commands whose replies matter, in the order they await them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Verb {
    #[default]
    Other,
    /// A command whose `+OK` starts a multi-line response that is no
    /// message (LIST and UIDL without argument, CAPA, AUTH without one).
    List,
    /// RETR or TOP: the multi-line response is a message.
    Retrieve,
    Stls,
}

/// What the server's lines are.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Body {
    /// Status lines.
    #[default]
    Status,
    /// A multi-line response that is no message, up to its dot.
    List,
    /// A retrieved message, up to its dot.
    Message,
}

/// The state of one POP3 connection (both directions); same calling
/// contract as [`super::smtp::Smtp`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pop3 {
    pending: Pending<Verb>,
    client_lines: Lines,
    server_lines: Lines,
    body: Body,
    greeted: bool,
    /// The server sent a SASL challenge (`+ …`): the client's next line
    /// answers it and is no command.
    sasl: bool,
    tls: bool,
}

impl Pop3 {
    pub fn client(&mut self, bytes: &[u8], cap: usize) -> Step<Event, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        let line = match next_line(&mut r, &mut self.client_lines, cap) {
            Ok(Some(line)) => line,
            Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
            Err(TooLong) => return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong)),
        };
        if core::mem::take(&mut self.sasl) {
            return Step::new(r.offset(), Outcome::Done(Event::Line));
        }
        let (name, arg) = word(line);
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let verb = if is(b"RETR") || is(b"TOP") {
            Verb::Retrieve
        } else if is(b"CAPA") || ((is(b"LIST") || is(b"UIDL") || is(b"AUTH")) && arg.is_empty()) {
            Verb::List
        } else if is(b"STLS") {
            Verb::Stls
        } else {
            Verb::Other
        };
        self.pending.push(verb);
        Step::new(r.offset(), Outcome::Done(Event::Line))
    }

    pub fn server(&mut self, msg: &mut Message, bytes: &[u8], cap: usize) -> Step<Event, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            let line = match next_line(&mut r, &mut self.server_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong)),
            };
            match (self.body, unstuff(line)) {
                (Body::Message, Some(l)) => msg.line(l),
                (Body::List, Some(_)) => {}
                (Body::Message, None) => {
                    self.body = Body::Status;
                    msg.finish();
                    return Step::new(r.offset(), Outcome::Done(Event::Received(RESULT_OK)));
                }
                (Body::List, None) => self.body = Body::Status,
                (Body::Status, _) => {
                    let event = self.status(msg, line);
                    return Step::new(r.offset(), event);
                }
            }
        }
    }

    fn status(&mut self, msg: &mut Message, line: &[u8]) -> Outcome<Event, Reason> {
        let (indicator, _) = word(line);
        let ok = match indicator {
            b"+OK" => true,
            b"-ERR" => false,
            b"+" => {
                self.sasl = true;
                return Outcome::Done(Event::Line);
            }
            _ => return Outcome::Malformed(Reason::NotAReply),
        };
        if !self.greeted {
            self.greeted = true;
            return Outcome::Done(Event::Line);
        }
        match self.pending.pop() {
            Verb::Retrieve if ok => {
                msg.restart(false);
                self.body = Body::Message;
            }
            Verb::List if ok => self.body = Body::List,
            Verb::Stls if ok => {
                self.tls = true;
                return Outcome::Done(Event::Tls);
            }
            Verb::Retrieve | Verb::List | Verb::Stls | Verb::Other => {}
        }
        Outcome::Done(Event::Line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::mail::message::tests::MULTIPART;

    const CAP: usize = 4096;

    /// Feeds `(client?, segment)` in order; the senders and subjects of the
    /// messages retrieved.
    fn drive(dialog: &[(bool, Vec<u8>)]) -> (Vec<(String, String, bool)>, Pop3) {
        let mut st = Pop3::default();
        let mut msg = Message::new(false);
        let mut windows = [Vec::new(), Vec::new()];
        let mut out = Vec::new();
        for (client, seg) in dialog {
            let w = &mut windows[usize::from(!client)];
            w.extend_from_slice(seg);
            loop {
                let step = if *client {
                    st.client(w, CAP)
                } else {
                    st.server(&mut msg, w, CAP)
                };
                w.drain(..step.consumed);
                match step.outcome {
                    Outcome::Done(Event::Received(code)) => {
                        assert_eq!(code, RESULT_OK);
                        out.push((
                            String::from_utf8_lossy(msg.from.as_bytes()).into_owned(),
                            String::from_utf8_lossy(msg.subject.as_bytes()).into_owned(),
                            msg.attachment,
                        ));
                    }
                    Outcome::Done(_) | Outcome::Malformed(_) => {}
                    Outcome::Incomplete | Outcome::NotThis => break,
                }
            }
        }
        (out, st)
    }

    fn stuffed(m: &[u8]) -> Vec<u8> {
        let mut v = b"+OK message follows\r\n".to_vec();
        for line in m.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                v.push(b'.');
            }
            v.extend_from_slice(line);
        }
        v.extend_from_slice(b".\r\n");
        v
    }

    fn session(retr: Vec<u8>) -> Vec<(bool, Vec<u8>)> {
        vec![
            (false, b"+OK POP3 ready\r\n".to_vec()),
            (true, b"AUTH PLAIN\r\n".to_vec()),
            (false, b"+ \r\n".to_vec()),
            (true, b"AGFAYg==\r\n".to_vec()),
            (false, b"+OK logged in\r\n".to_vec()),
            (true, b"LIST\r\nRETR 9\r\nRETR 1\r\n".to_vec()),
            (
                false,
                b"+OK 1 messages\r\n1 120\r\n.\r\n-ERR no such message\r\n".to_vec(),
            ),
            (false, retr),
            (true, b"QUIT\r\n".to_vec()),
            (false, b"+OK bye\r\n".to_vec()),
        ]
    }

    #[test]
    fn each_retrieved_message_gives_its_fields() {
        let (got, _) = drive(&session(stuffed(MULTIPART)));
        assert_eq!(
            got,
            [("ivanov@example.ru".into(), "Привет мир".into(), true)]
        );
    }

    #[test]
    fn a_response_cut_at_every_offset_gives_the_same_record() {
        let mut m = MULTIPART.to_vec();
        m.extend_from_slice(b".dot line\r\n");
        let retr = stuffed(&m);
        let whole = drive(&session(retr.clone())).0;
        assert_eq!(whole.len(), 1);
        for cut in 0..=retr.len() {
            let mut d = session(retr[..cut].to_vec());
            d.insert(8, (false, retr[cut..].to_vec()));
            assert_eq!(drive(&d).0, whole, "cut at {cut}");
        }
    }

    #[test]
    fn stls_ends_the_session() {
        let d = vec![
            (false, b"+OK ready\r\n".to_vec()),
            (true, b"CAPA\r\n".to_vec()),
            (false, b"+OK\r\nSTLS\r\n.\r\n".to_vec()),
            (true, b"STLS\r\n".to_vec()),
            (false, b"+OK Begin TLS\r\n".to_vec()),
            (false, stuffed(MULTIPART)),
        ];
        let (got, st) = drive(&d);
        assert!(got.is_empty() && st.tls);
    }
}
