//! SMTP (RFC 5321, RFC 3030 CHUNKING, RFC 3207 STARTTLS): the envelope,
//! the message sent with DATA or BDAT, and the server's final reply to it.

use metaprobe_ipfix::codec::Reader;

use super::message::{Counted, Message, counted_line, unstuff};
use super::{Event, Pending, Reason, reply_code, word};
use crate::app::Outcome;
use crate::app::text::{FixedText, Step, decimal, trim};
use crate::app::text::{Lines, TooLong, next_line};

/// Capacities of the client's HELO name, the greeting's host and the reply text.
pub const NAME_CAP: usize = 128;
pub const REPLY_CAP: usize = 256;

/// The commands whose replies matter, in the order they await them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Verb {
    #[default]
    Other,
    /// DATA: 354 lets the message follow.
    Data,
    /// The message's terminating dot (DATA) or the last BDAT chunk: the
    /// reply is the message's.
    End,
    StartTls,
}

/// The state of one SMTP connection (both directions).
///
/// [`Smtp::client`] and [`Smtp::server`] follow the calling contract of the
/// mail sessions ([`super::Session`]): the contiguous octets of one
/// direction from its position; `Done` per command or reply, `Incomplete`
/// when every whole line was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Smtp {
    pending: Pending<Verb>,
    client_lines: Lines,
    server_lines: Lines,
    /// Between DATA and its dot: the lines are the message's.
    data: bool,
    /// Octets of the current BDAT chunk still to come, and whether it is the last.
    chunk_left: u64,
    chunk_last: bool,
    /// A BDAT message is under way (its first chunk was read).
    chunking: bool,
    greeted: bool,
    /// The first line of a reply was read (its later lines are its text).
    in_reply: bool,
    /// A message ended and awaits its reply.
    awaiting: bool,
    tls: bool,
    /// MAIL_SERVERS: the client's HELO/EHLO name and the greeting's host.
    pub helo: FixedText<NAME_CAP>,
    pub host: FixedText<NAME_CAP>,
    /// MAIL_REPLY: the text of the reply to the last message.
    pub reply: FixedText<REPLY_CAP>,
}

impl Smtp {
    pub fn new() -> Self {
        Smtp {
            pending: Pending::default(),
            client_lines: Lines::Start,
            server_lines: Lines::Start,
            data: false,
            chunk_left: 0,
            chunk_last: false,
            chunking: false,
            greeted: false,
            in_reply: false,
            awaiting: false,
            tls: false,
            helo: FixedText::new(),
            host: FixedText::new(),
            reply: FixedText::new(),
        }
    }

    /// A message sent and not answered when the connection ended.
    pub fn unanswered(&self) -> bool {
        self.awaiting && !self.tls
    }

    pub fn client(&mut self, msg: &mut Message, bytes: &[u8], cap: usize) -> Step<Event, Reason> {
        if self.tls {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut r = Reader::new(bytes);
        loop {
            if self.chunk_left > 0 {
                match self.chunk(msg, &mut r, cap) {
                    Some(step) => return step,
                    None => continue,
                }
            }
            if self.awaiting {
                // The next commands wait until the message is answered.
                return Step::new(r.offset(), Outcome::Incomplete);
            }
            let line = match next_line(&mut r, &mut self.client_lines, cap) {
                Ok(Some(line)) => line,
                Ok(None) => return Step::new(r.offset(), Outcome::Incomplete),
                Err(TooLong) => return Step::new(r.offset(), Outcome::Malformed(Reason::TooLong)),
            };
            if self.data {
                match unstuff(line) {
                    Some(l) => msg.line(l),
                    None => {
                        self.data = false;
                        return Step::new(r.offset(), Outcome::Done(self.end(msg)));
                    }
                }
                continue;
            }
            self.command(msg, line);
            return Step::new(r.offset(), Outcome::Done(Event::Line));
        }
    }

    fn command(&mut self, msg: &mut Message, line: &[u8]) {
        let (name, arg) = word(line);
        let is = |n: &[u8]| name.eq_ignore_ascii_case(n);
        let verb = if is(b"HELO") || is(b"EHLO") {
            self.helo.set(word(arg).0);
            Verb::Other
        } else if is(b"MAIL") {
            msg.restart(false);
            msg.from.set(path(arg));
            Verb::Other
        } else if is(b"RCPT") {
            let a = path(arg);
            if !a.is_empty() {
                let sep = !msg.to.is_empty();
                if msg.to.room() >= a.len() + usize::from(sep) {
                    if sep {
                        msg.to.push(b",");
                    }
                    msg.to.push(a);
                } else {
                    msg.to.mark_truncated();
                }
            }
            Verb::Other
        } else if is(b"DATA") {
            msg.restart(true);
            self.data = true;
            Verb::Data
        } else if is(b"BDAT") {
            // BDAT size [LAST] (RFC 3030 §2): the chunk follows at once.
            let (size, rest) = word(arg);
            if !self.chunking {
                msg.restart(true);
                self.chunking = true;
            }
            self.chunk_left = decimal(size).unwrap_or(0);
            self.chunk_last = word(rest).0.eq_ignore_ascii_case(b"LAST");
            if self.chunk_last {
                self.chunking = false;
                if self.chunk_left == 0 {
                    let end = self.end_verb(msg);
                    return self.pending.push(end);
                }
            }
            if self.chunk_last {
                Verb::End
            } else {
                Verb::Other
            }
        } else if is(b"RSET") {
            msg.restart(false);
            Verb::Other
        } else if is(b"STARTTLS") {
            Verb::StartTls
        } else {
            Verb::Other
        };
        self.pending.push(verb);
    }

    /// The message ended: it awaits its reply.
    fn end(&mut self, msg: &mut Message) -> Event {
        let end = self.end_verb(msg);
        self.pending.push(end);
        Event::Line
    }

    fn end_verb(&mut self, msg: &mut Message) -> Verb {
        msg.finish();
        self.awaiting = true;
        Verb::End
    }

    /// Reads octets of a BDAT chunk: `None` to go on reading (a line of it
    /// was read), else the step to return.
    fn chunk(
        &mut self,
        msg: &mut Message,
        r: &mut Reader<'_>,
        cap: usize,
    ) -> Option<Step<Event, Reason>> {
        let outcome = match counted_line(Some(msg), &mut self.chunk_left, r, cap) {
            Counted::Line => return None,
            Counted::Ended if self.chunk_last => {
                msg.finish();
                self.awaiting = true;
                Outcome::Done(Event::Line)
            }
            Counted::Ended => return None,
            Counted::More => Outcome::Incomplete,
            Counted::TooLong => Outcome::Malformed(Reason::TooLong),
        };
        Some(Step::new(r.offset(), outcome))
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
            let Some((code, more, text)) = reply_code(line) else {
                return Step::new(r.offset(), Outcome::Malformed(Reason::NotAReply));
            };
            if !self.greeted && !self.in_reply {
                // The greeting's first word is the server's name (RFC 5321 §4.3.1).
                self.host.set(word(text).0);
            }
            self.in_reply = more;
            if more {
                continue;
            }
            let event = self.reply(msg, code, text);
            return Step::new(r.offset(), Outcome::Done(event));
        }
    }

    fn reply(&mut self, msg: &mut Message, code: u16, text: &[u8]) -> Event {
        if !self.greeted {
            self.greeted = true;
            return Event::Line;
        }
        match self.pending.pop() {
            Verb::Data if code != 354 => {
                // Refused: no message follows.
                self.data = false;
                msg.restart(true);
                Event::Line
            }
            Verb::End => {
                self.awaiting = false;
                self.reply.set(trim(text));
                Event::Sent(u32::from(code))
            }
            Verb::StartTls if code == 220 => {
                self.tls = true;
                Event::Tls
            }
            Verb::Data | Verb::StartTls | Verb::Other => Event::Line,
        }
    }
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp::new()
    }
}

/// The address of a MAIL FROM / RCPT TO argument (`FROM:<a@b> SIZE=1`):
/// inside the angle brackets, else the first word after the colon.
fn path(arg: &[u8]) -> &[u8] {
    let after = arg
        .iter()
        .position(|&b| b == b':')
        .and_then(|i| arg.get(i + 1..))
        .unwrap_or(arg);
    let after = trim(after);
    match after.strip_prefix(b"<") {
        Some(inner) => {
            let end = inner.iter().position(|&b| b == b'>').unwrap_or(inner.len());
            inner.get(..end).unwrap_or(&[])
        }
        None => word(after).0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::mail::message::tests::MULTIPART;

    const CAP: usize = 4096;

    /// What a session's records said, owned.
    #[derive(Debug, PartialEq, Eq)]
    struct Rec {
        from: String,
        to: String,
        cc: String,
        subject: String,
        attachment: bool,
        code: u32,
        reply: String,
        servers: (String, String),
    }

    fn s(b: &[u8]) -> String {
        String::from_utf8_lossy(b).into_owned()
    }

    /// Feeds `(client?, segment)` in order the way the driver does (the
    /// unconsumed octets of each direction given again with its next segment).
    fn drive(dialog: &[(bool, Vec<u8>)]) -> (Vec<Rec>, Smtp) {
        let mut st = Smtp::new();
        let mut msg = Message::new(true);
        let mut windows = [Vec::new(), Vec::new()];
        let mut out = Vec::new();
        for (client, seg) in dialog {
            windows[usize::from(!client)].extend_from_slice(seg);
            let blocked = st.unanswered();
            let mut ends = vec![*client];
            if !client && blocked {
                // The driver reads the client's waiting lines after the reply.
                ends.push(true);
            }
            for c in ends {
                let w = &mut windows[usize::from(!c)];
                loop {
                    let step = if c {
                        st.client(&mut msg, w, CAP)
                    } else {
                        st.server(&mut msg, w, CAP)
                    };
                    w.drain(..step.consumed);
                    match step.outcome {
                        Outcome::Done(Event::Sent(code)) => out.push(Rec {
                            from: s(msg.from.as_bytes()),
                            to: s(msg.to.as_bytes()),
                            cc: s(msg.cc.as_bytes()),
                            subject: s(msg.subject.as_bytes()),
                            attachment: msg.attachment,
                            code,
                            reply: s(st.reply.as_bytes()),
                            servers: (s(st.helo.as_bytes()), s(st.host.as_bytes())),
                        }),
                        Outcome::Done(_) | Outcome::Malformed(_) => {}
                        Outcome::Incomplete | Outcome::NotThis => break,
                    }
                }
            }
        }
        (out, st)
    }

    fn dialog(message: &[u8]) -> Vec<(bool, Vec<u8>)> {
        let mut data = message.to_vec();
        data.extend_from_slice(b".\r\n");
        vec![
            (false, b"220 mx.example.org ESMTP\r\n".to_vec()),
            (true, b"EHLO client.example\r\n".to_vec()),
            (false, b"250-mx.example.org\r\n250 PIPELINING\r\n".to_vec()),
            (
                true,
                b"MAIL FROM:<s@example.ru> SIZE=100\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@y>\r\nDATA\r\n"
                    .to_vec(),
            ),
            (
                false,
                b"250 ok\r\n250 ok\r\n250 ok\r\n354 go ahead\r\n".to_vec(),
            ),
            (true, data),
            (false, b"250 2.0.0 Ok: queued as 1\r\n".to_vec()),
            (true, b"QUIT\r\n".to_vec()),
            (false, b"221 bye\r\n".to_vec()),
        ]
    }

    fn want() -> Rec {
        Rec {
            from: "s@example.ru".into(),
            to: "a@x,b@y".into(),
            cc: "c@example.com".into(),
            subject: "Привет мир".into(),
            attachment: true,
            code: 250,
            reply: "2.0.0 Ok: queued as 1".into(),
            servers: ("client.example".into(), "mx.example.org".into()),
        }
    }

    #[test]
    fn a_pipelined_session_gives_one_record() {
        assert_eq!(drive(&dialog(MULTIPART)).0, [want()]);
    }

    #[test]
    fn the_message_cut_at_every_offset_gives_the_same_record() {
        let mut stuffed = MULTIPART.to_vec();
        stuffed.extend_from_slice(b"..leading dot\r\n");
        let d = dialog(&stuffed);
        let data = &d[5].1;
        for cut in 0..=data.len() {
            let mut cut_d: Vec<(bool, Vec<u8>)> = d[..5].to_vec();
            cut_d.push((true, data[..cut].to_vec()));
            cut_d.push((true, data[cut..].to_vec()));
            cut_d.extend_from_slice(&d[6..]);
            assert_eq!(drive(&cut_d).0, [want()], "cut at {cut}");
        }
    }

    #[test]
    fn a_next_message_pipelined_after_the_dot_waits_for_the_reply() {
        let mut d = dialog(MULTIPART);
        d[5].1
            .extend_from_slice(b"MAIL FROM:<t@example.ru>\r\nRCPT TO:<c@z>\r\nDATA\r\n");
        d.insert(7, (false, b"250 ok\r\n250 ok\r\n354 go\r\n".to_vec()));
        d.insert(8, (true, b"Subject: second\r\n\r\n.\r\n".to_vec()));
        d.insert(9, (false, b"250 2.0.0 Ok: queued as 2\r\n".to_vec()));
        let second = Rec {
            from: "t@example.ru".into(),
            to: "c@z".into(),
            cc: "".into(),
            subject: "second".into(),
            attachment: false,
            reply: "2.0.0 Ok: queued as 2".into(),
            ..want()
        };
        assert_eq!(drive(&d).0, [want(), second]);
    }

    #[test]
    fn bdat_chunks_carry_the_message() {
        let (a, b) = MULTIPART.split_at(MULTIPART.len() / 2);
        let mut chunks = format!("BDAT {}\r\n", a.len()).into_bytes();
        chunks.extend_from_slice(a);
        chunks.extend_from_slice(format!("BDAT {} LAST\r\n", b.len()).as_bytes());
        chunks.extend_from_slice(b);
        let mut d = dialog(b"");
        d[3].1 = b"MAIL FROM:<s@example.ru>\r\nRCPT TO:<a@x>\r\nRCPT TO:<b@y>\r\n".to_vec();
        d[4].1 = b"250 ok\r\n250 ok\r\n250 ok\r\n".to_vec();
        d[5].1 = chunks;
        d.insert(6, (false, b"250 chunk ok\r\n".to_vec()));
        let (got, _) = drive(&d);
        assert_eq!(got, [want()]);
    }

    #[test]
    fn a_refused_data_sends_nothing_and_starttls_ends_the_session() {
        let d = vec![
            (false, b"220 mx ESMTP\r\n".to_vec()),
            (
                true,
                b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n".to_vec(),
            ),
            (
                false,
                b"250 ok\r\n250 ok\r\n554 no valid recipients\r\n".to_vec(),
            ),
            (true, b"STARTTLS\r\n".to_vec()),
            (false, b"220 2.0.0 Ready to start TLS\r\n".to_vec()),
            (true, b"\x16\x03\x01\x00\x05hello".to_vec()),
        ];
        let (got, st) = drive(&d);
        assert!(got.is_empty());
        assert!(st.tls && !st.unanswered());
    }

    #[test]
    fn a_message_without_reply_is_unanswered() {
        let mut d = dialog(b"Subject: x\r\n\r\nbody\r\n");
        d.truncate(6);
        let (got, st) = drive(&d);
        assert!(got.is_empty() && st.unanswered());
    }

    #[test]
    fn paths_are_the_bracketed_address() {
        assert_eq!(path(b"FROM:<a@b> SIZE=2"), b"a@b");
        assert_eq!(path(b"From: <a@b>"), b"a@b");
        assert_eq!(path(b"TO:c@d NOTIFY=NEVER"), b"c@d");
        assert_eq!(path(b"FROM:<>"), b"");
        assert_eq!(path(b""), b"");
    }
}
