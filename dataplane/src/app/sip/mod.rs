//! SIP (RFC 3261): the fields of the SIP record (spec §7) from every message,
//! over UDP (one message a datagram) and TCP (messages framed by
//! Content-Length, several to a segment or one over several).
//!
//! # Contract
//!
//! * [`looks_like_sip`] is the signature: it reads the first octets of a
//!   direction (accumulated across segments by the caller) and answers `Done`
//!   for a SIP request or status line, `NotThis` for anything else, and
//!   `Incomplete` — never `NotThis` — for every prefix of a valid start line
//!   up to [`START_LINE_MAX`] octets, so a start line cut at any octet is
//!   recognised once the rest arrives.
//! * [`parse`] reads one message from the front of a buffer and returns a
//!   [`Message`] whose fields borrow the buffer (no copy, no allocation):
//!   the start line, From, To, Call-ID, User-Agent, Content-Type (full values,
//!   compact forms and any case of the names accepted), Content-Length, and
//!   the Via hosts through [`Message::via_hosts`] (every Via header and every
//!   comma-joined value, top first). [`Framing`] says where the body ends: a
//!   datagram's body is bounded by Content-Length or the datagram; a stream's
//!   by Content-Length (RFC 3261 §18.3), so `head_len + body_len` is where the
//!   next message starts. `Incomplete` means the head is not whole yet.
//! * [`SipStream`] is the per-direction state of SIP over TCP (16 octets):
//!   it skips the body of the message before (by count, also without seeing
//!   it: [`SipStream::skipped`]) and CRLF keep-alives (RFC 5626 §3.5.1), and
//!   hands each whole head to [`parse`].
//! * Folded header values (continuation lines, RFC 3261 §7.3.1) are returned
//!   raw, line breaks included, with [`Value::folded`] set — that is what
//!   tshark reports and what the record carries; [`Value::unfold`] writes the
//!   unfolded form into a caller's buffer for whoever prefers it.
//! * GATEWAYS is one string, and the parser does not allocate: the caller
//!   joins [`Message::via_hosts`] into a fixed buffer with [`join_hosts`]
//!   (`,` between hosts; whole hosts only, a truncation flag).
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! SIP-message  = start-line *message-header CRLF [ message-body ]
//! Request-Line = Method SP Request-URI SP SIP-Version CRLF
//! Status-Line  = SIP-Version SP Status-Code SP Reason-Phrase CRLF
//! message-header = header-name HCOLON header-value *(COMMA header-value) CRLF
//!                  (continuation lines start with SP or HTAB)
//! Via          = ( "Via" / "v" ) HCOLON via-parm *(COMMA via-parm)
//! via-parm     = sent-protocol LWS sent-by *( SEMI via-params )
//! sent-by      = host [ COLON port ]      host = hostname / IPv4address / "[" IPv6address "]"
//! compact forms (§7.3.3): f From, t To, i Call-ID, v Via, c Content-Type,
//!                         l Content-Length, m Contact
//! ```

mod detect;
mod message;
mod stream;
mod via;

pub use super::text::{FixedText, Step, Value};
pub use detect::{START_LINE_MAX, looks_like_sip};
pub use message::{Flags, Framing, Malformed, Message, Reason, StartLine, name_addr_uri, parse};
pub use stream::SipStream;
pub use via::{ViaHosts, join_hosts};
