//! Application-layer parsers: pure functions over payload bytes and bounded per-flow state.
//!
//! Every grammar reads its input through the one cursor,
//! [`metaprobe_ipfix::codec::Reader`], and every streaming parser answers with
//! the one [`Outcome`].

pub mod dns;
pub mod http;
pub mod quic;
pub mod tls;

/// What a streaming parser made of the octets it was given so far.
///
/// `Incomplete` and `Malformed` differ the way rustls' deframer separates
/// "need more" from "invalid": the first waits for the next segment, the
/// second gives the message (or the stream) up and counts why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<T, R> {
    /// A whole message was read: what it says.
    Done(T),
    /// The message goes on past the end of the input: call again with more.
    Incomplete,
    /// These octets are not this protocol.
    NotThis,
    /// This protocol, but broken: why.
    Malformed(R),
}

impl<T, R> Outcome<T, R> {
    /// The message, when one was read.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(t) => Some(t),
            Outcome::Incomplete | Outcome::NotThis | Outcome::Malformed(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U, R> {
        match self {
            Outcome::Done(t) => Outcome::Done(f(t)),
            Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(r) => Outcome::Malformed(r),
        }
    }

    pub fn map_reason<S>(self, f: impl FnOnce(R) -> S) -> Outcome<T, S> {
        match self {
            Outcome::Done(t) => Outcome::Done(t),
            Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(r) => Outcome::Malformed(f(r)),
        }
    }
}
