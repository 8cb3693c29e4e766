//! FTP control connections (RFC 959, RFC 2428, RFC 7151): the FTP record of
//! spec §7 — one per login attempt, one per data-connection mode setting —
//! and the data endpoints PORT/EPRT/PASV/EPSV announce, so the driver can
//! bind the data connections to the control session.
//!
//! # Contract
//!
//! * [`looks_like_greeting`] is the signature (any port): the server's first
//!   line is a 220 greeting that does not name SMTP. `Incomplete` for every
//!   prefix of one.
//! * The grammar is a set of pure functions over one line (without its line
//!   break): [`command`], [`reply_line`], [`port_argument`],
//!   [`eprt_argument`], [`pasv_reply`], [`epsv_reply`], [`greeting_host`].
//! * [`FtpState`] is the per-connection state (`Copy`, at most 256 octets):
//!   it reads both directions line by line ([`FtpState::client`],
//!   [`FtpState::server`]), pairs every command with its final reply (in
//!   order, RFC 959 §4.2; preliminary 1yz replies and the lines of
//!   multi-line replies are passed over), and gives an [`FtpRecord`] when
//!   a login attempt or a mode setting is answered. Only one line at a time
//!   has to be contiguous.
//! * The values a record needs long after their line was consumed (USER,
//!   PASS, the server name) are **copied** into the state, at most
//!   [`NAME_CAP`] octets each (cut on a UTF-8 boundary, flagged
//!   [`FtpRecord::truncated`]). Keeping them in the reassembly window
//!   instead would pin the client direction's window from USER until the
//!   reply to PASS, which comes in the other direction, possibly many
//!   segments later; 3 × 64 octets per FTP connection is cheaper and
//!   bounded.
//! * SERVER_NAME: the argument of the client's HOST command (RFC 7151, the
//!   server's name as the client named it), else the first word of the 220
//!   greeting that looks like a domain name ([`greeting_host`]), else empty.
//! * No allocation, no panic, no read past the input, whatever the bytes.
//!
//! ```text
//! command  = verb [ SP argument ] CRLF          verb: case-insensitive
//! reply    = 3DIGIT SP text CRLF
//!          / 3DIGIT "-" text CRLF *( line CRLF ) 3DIGIT SP text CRLF   (same code)
//! PORT h1,h2,h3,h4,p1,p2                 227 ... (h1,h2,h3,h4,p1,p2)
//! EPRT |1|132.235.1.2|6275|              229 ... (|||6446|)
//! EPRT |2|1080::8:800:200C:417A|5282|
//! login:  USER → 331 → PASS → 230 / 530     or  USER → 230 / 530
//! mode:   PORT / EPRT → 200 (MODE 0)        PASV → 227, EPSV → 229 (MODE 1)
//! ```

mod grammar;
mod state;

pub use grammar::{
    Command, Endpoint, GREETING_LINE_MAX, ReplyLine, Verb, command, eprt_argument, epsv_reply,
    greeting_host, looks_like_greeting, pasv_reply, port_argument, reply_line,
};
pub use state::{Event, FtpRecord, FtpState, Mode, NAME_CAP, PENDING_CAP, Reason, RecordKind};
