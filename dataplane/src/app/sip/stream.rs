//! SIP over a stream (TCP): the per-direction framing state.

use super::message::{Framing, Malformed, Message, parse};
use crate::app::Outcome;
use crate::app::text::Step;

/// One direction of a SIP-over-TCP connection: where the next message starts.
///
/// [`SipStream::next`] takes the **contiguous, in-order octets of the
/// direction starting at the state's position** (the first octet not consumed
/// yet) and answers a [`Step`]: the octets consumed (the caller drops them)
/// and
///
/// * `Done(message)`: one message head, and as much of its body as was given
///   (consumed; the rest is [`SipStream::pending_body`]) — call again with the
///   rest, more messages may follow;
/// * `Incomplete`: a head is not whole yet; the unconsumed octets (its start)
///   must be given again with what follows;
/// * `NotThis` / `Malformed`: the direction is over (the octets are not SIP,
///   or cannot be framed); this and every later call consume everything.
///
/// A body the caller does not hold can be skipped by count: drop up to
/// [`SipStream::pending_body`] octets unseen and call [`SipStream::skipped`].
/// The offsets inside a returned [`Message`] (`start`, `head_len`) count from
/// the first octet after the body and keep-alives skipped before it; move on
/// by [`Step::consumed`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SipStream {
    /// Body octets of the last message not consumed yet.
    body_left: u64,
    over: bool,
}

const _: () = assert!(core::mem::size_of::<SipStream>() <= 16);

impl SipStream {
    pub const fn new() -> Self {
        SipStream {
            body_left: 0,
            over: false,
        }
    }

    /// Body octets the next calls will consume before a message can start.
    pub fn pending_body(&self) -> u64 {
        self.body_left
    }

    /// The direction gave up (not SIP, or a message could not be framed).
    pub fn is_over(&self) -> bool {
        self.over
    }

    /// The caller dropped `n` octets of body unseen; more than
    /// [`SipStream::pending_body`] is clamped to it.
    pub fn skipped(&mut self, n: u64) {
        self.body_left = self.body_left.saturating_sub(n);
    }

    /// See the type's contract. `cap` is the most octets the caller can ever
    /// present from the first given one (its reassembly buffer).
    pub fn next<'a>(&mut self, bytes: &'a [u8], cap: usize) -> Step<Message<'a>, Malformed> {
        if self.over {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let mut pos = self.consume_body(bytes, 0);
        if self.body_left > 0 {
            return Step::new(pos, Outcome::Incomplete);
        }
        // CRLF keep-alives (RFC 5626 §3.5.1) between messages.
        let rest = bytes.get(pos..).unwrap_or(&[]);
        pos += rest
            .iter()
            .take_while(|&&b| b == b'\r' || b == b'\n')
            .count();
        let rest = bytes.get(pos..).unwrap_or(&[]);
        if rest.is_empty() {
            return Step::new(pos, Outcome::Incomplete);
        }
        match parse(rest, Framing::Stream { cap }) {
            Outcome::Done(m) => {
                self.body_left = m.body_len;
                let end = self.consume_body(bytes, pos + m.head_len);
                Step::new(end, Outcome::Done(m))
            }
            Outcome::Incomplete => Step::new(pos, Outcome::Incomplete),
            other => {
                self.over = true;
                Step::new(bytes.len(), other)
            }
        }
    }

    /// Consumes pending body octets from `bytes[at..]`; where they end.
    fn consume_body(&mut self, bytes: &[u8], at: usize) -> usize {
        let there = bytes.len().saturating_sub(at);
        // A body longer than the address space is longer than any window.
        let take = usize::try_from(self.body_left).map_or(there, |left| left.min(there));
        self.body_left -= take as u64; // usize is at most 64 bits
        at + take
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::sip::message::tests::{COMPACT, INVITE_SDP, OK_SDP, REGISTER};

    const CAP: usize = 4096;

    /// Feeds `segments` the way a driver does: the unconsumed octets are kept
    /// and given again with the next segment. Every message's Call-ID and
    /// where in the stream (octets before) it was done.
    fn drive(segments: &[&[u8]]) -> (Vec<(Vec<u8>, usize)>, SipStream) {
        let mut st = SipStream::new();
        let mut window = Vec::new();
        let mut dropped = 0;
        let mut out = Vec::new();
        for seg in segments {
            window.extend_from_slice(seg);
            loop {
                let step = st.next(&window, CAP);
                let done = match step.outcome {
                    Outcome::Done(m) => Some(m.call_id.raw.to_vec()),
                    Outcome::Incomplete => None,
                    other => panic!("{other:?}"),
                };
                let consumed = step.consumed;
                window.drain(..consumed);
                dropped += consumed;
                match done {
                    Some(id) => out.push((id, dropped)),
                    None => break,
                }
            }
        }
        assert!(window.is_empty() || st.pending_body() == 0);
        (out, st)
    }

    fn stream_of(messages: &[&[u8]]) -> Vec<u8> {
        messages.concat()
    }

    #[test]
    fn several_messages_in_one_segment() {
        let all = stream_of(&[REGISTER, b"\r\n\r\n", INVITE_SDP, OK_SDP]);
        let (got, st) = drive(&[&all]);
        let ids: Vec<&[u8]> = got.iter().map(|(id, _)| id.as_slice()).collect();
        assert_eq!(
            ids,
            [
                &b"578222729-4665d775@578222732-4665d772"[..],
                b"105090259-446faf7a@192.168.1.2",
                b"SD4909701-9ff11bf72eb4a347c92974d8fbbc2668-ao8o3i1"
            ]
        );
        // Each message (and the keep-alive before the INVITE) is consumed whole.
        let ends: Vec<usize> = got.iter().map(|&(_, at)| at).collect();
        assert_eq!(
            ends,
            [
                REGISTER.len(),
                REGISTER.len() + 4 + INVITE_SDP.len(),
                all.len()
            ]
        );
        assert_eq!(st.pending_body(), 0);
    }

    #[test]
    fn one_message_in_three_pieces() {
        let (a, rest) = INVITE_SDP.split_at(30);
        let (b, c) = rest.split_at(400);
        let mut st = SipStream::new();
        assert_eq!(st.next(a, CAP), Step::new(0, Outcome::Incomplete));
        let ab = [a, b].concat();
        assert_eq!(st.next(&ab, CAP), Step::new(0, Outcome::Incomplete));
        let abc = [a, b, c].concat();
        let step = st.next(&abc, CAP);
        let Outcome::Done(m) = step.outcome else {
            panic!("{step:?}");
        };
        assert_eq!(m.call_id.raw, b"105090259-446faf7a@192.168.1.2");
        assert_eq!(step.consumed, INVITE_SDP.len());
    }

    #[test]
    fn every_split_of_a_stream_gives_the_same_messages() {
        let all = stream_of(&[COMPACT, INVITE_SDP, b"\r\n", REGISTER]);
        let (whole, _) = drive(&[&all]);
        assert_eq!(whole.len(), 3);
        for cut in 0..=all.len() {
            let (got, _) = drive(&[&all[..cut], &all[cut..]]);
            let ids: Vec<&Vec<u8>> = got.iter().map(|(id, _)| id).collect();
            let want: Vec<&Vec<u8>> = whole.iter().map(|(id, _)| id).collect();
            assert_eq!(ids, want, "cut at {cut}");
        }
    }

    #[test]
    fn a_body_the_caller_does_not_hold_is_skipped_by_count() {
        let head = b"MESSAGE sip:a@b SIP/2.0\r\nCall-ID: big\r\nContent-Length: 100000\r\n\r\n0123";
        let mut st = SipStream::new();
        let step = st.next(head, CAP);
        assert!(matches!(step.outcome, Outcome::Done(_)));
        assert_eq!((step.consumed, st.pending_body()), (head.len(), 99_996));
        st.skipped(99_990);
        // The last 6 body octets arrive with the next message.
        let next = [&b"456789"[..], REGISTER].concat();
        let step = st.next(&next, CAP);
        let Outcome::Done(m) = step.outcome else {
            panic!("{step:?}");
        };
        assert_eq!(m.call_id.raw, b"578222729-4665d775@578222732-4665d772");
        assert_eq!(step.consumed, next.len());
        st.skipped(10);
        assert_eq!(st.pending_body(), 0);
    }

    #[test]
    fn keep_alives_alone_are_consumed() {
        let mut st = SipStream::new();
        assert_eq!(st.next(b"\r\n\r\n", CAP), Step::new(4, Outcome::Incomplete));
        assert_eq!(st.next(b"", CAP), Step::new(0, Outcome::Incomplete));
    }

    #[test]
    fn a_direction_that_is_not_sip_is_over() {
        let mut st = SipStream::new();
        let junk = b"GET / HTTP/1.1\r\n\r\n";
        assert_eq!(st.next(junk, CAP), Step::new(junk.len(), Outcome::NotThis));
        assert!(st.is_over());
        assert_eq!(
            st.next(REGISTER, CAP),
            Step::new(REGISTER.len(), Outcome::NotThis)
        );
        let mut st = SipStream::new();
        let step = st.next(&REGISTER[..100], 100);
        assert!(matches!(step.outcome, Outcome::Malformed(_)));
        assert_eq!(step.consumed, 100);
        assert!(st.is_over());
    }
}
