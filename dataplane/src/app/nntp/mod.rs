//! NNTP (RFC 3977): flows are recognised for their raw metadata records
//! (META_PROTO 11, `nntp` in `ipfix_meta_raw`); nothing else is parsed.
//!
//! Signature: port 119 on the server side and the server's first line a 200 or
//! 201 greeting ("service available, posting allowed / prohibited", RFC 3977
//! §5.1.1); on a connection picked up mid-stream, port 119 alone. Per flow
//! and per worker: nothing.

use super::raw::{DpiProto, MetaProto, Raw};
use super::text::{Prefix, literal};
use super::{AppConfig, L4, Outcome, Seen, Signature};

pub use super::raw::only::{State, Worker};
pub(super) use super::raw::only::{on_close, on_end, on_payload};

/// The NNTP port (RFC 3977 §3.1).
const NNTP_PORT: u16 = 119;

pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) || seen.server_port() != NNTP_PORT {
        return Outcome::NotThis;
    }
    if seen.midstream {
        return Outcome::Done(State);
    }
    if seen.from_client {
        return Outcome::NotThis;
    }
    greeting(first).map(|()| State)
}

/// `200` or `201`, then SP or the line's end.
fn greeting(first: &[u8]) -> Signature<()> {
    for code in [&b"200"[..], b"201"] {
        match literal(first, code) {
            Prefix::Matched(rest) => {
                return match rest.first() {
                    None => Outcome::Incomplete,
                    Some(b' ' | b'\r' | b'\n') => Outcome::Done(()),
                    Some(_) => Outcome::NotThis,
                };
            }
            Prefix::Partial => return Outcome::Incomplete,
            Prefix::Differs => {}
        }
    }
    Outcome::NotThis
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.wants_raw(MetaProto::Nntp)
}

pub(super) fn raw(_: &State) -> Option<Raw> {
    Some(Raw::new(MetaProto::Nntp, DpiProto::Nntp))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greetings_of_rfc_3977() {
        for g in [
            &b"200 NNTP Service Ready, posting permitted\r\n"[..],
            b"201 news.example.com InterNetNews NNRP server INN 2.6 ready (no posting)\r\n",
            b"200\r\n",
        ] {
            assert_eq!(greeting(g), Outcome::Done(()), "{g:?}");
            for k in 0..4.min(g.len()) {
                assert_eq!(greeting(&g[..k]), Outcome::Incomplete, "{g:?} cut at {k}");
            }
        }
        for not in [
            &b"220 ftp ready\r\n"[..],
            b"2000 x",
            b"205 closing",
            b"+OK POP3",
        ] {
            assert_eq!(greeting(not), Outcome::NotThis, "{not:?}");
        }
    }
}
