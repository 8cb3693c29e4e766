//! H.323 call signalling (H.225.0 / Q.931 over TCP, ITU-T H.225.0 §7.2):
//! flows are recognised for their raw metadata records (META_PROTO 12,
//! `h323` in `ipfix_meta_raw`); nothing else is parsed.
//!
//! Signature: port 1720 on the server side and a TPKT header (RFC 1006 §6:
//! version 3, a reserved octet 0, a 16-bit length of at least the header and
//! a Q.931 message's 3 octets) at the start of the direction. Per flow and per
//! worker: nothing.

use super::raw::{DpiProto, MetaProto, Raw};
use super::{AppConfig, L4, Outcome, Seen, Signature};

pub use super::raw::only::{State, Worker};
pub(super) use super::raw::only::{on_close, on_end, on_payload};

/// The H.225.0 call signalling port.
const H323_PORT: u16 = 1720;
/// TPKT header (4) and the shortest Q.931 message: protocol discriminator,
/// call reference length, message type.
const TPKT_MIN: u16 = 4 + 3;

pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) || seen.server_port() != H323_PORT {
        return Outcome::NotThis;
    }
    tpkt(first).map(|()| State)
}

/// `03 00 LL LL`, LL at least [`TPKT_MIN`] (cut before the length: `Incomplete`).
fn tpkt(first: &[u8]) -> Signature<()> {
    match first {
        [] | [3] | [3, 0] | [3, 0, _] => Outcome::Incomplete,
        [3, 0, hi, lo, ..] if u16::from_be_bytes([*hi, *lo]) >= TPKT_MIN => Outcome::Done(()),
        _ => Outcome::NotThis,
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.wants_raw(MetaProto::H323)
}

pub(super) fn raw(_: &State) -> Option<Raw> {
    Some(Raw::new(MetaProto::H323, DpiProto::H323))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tpkt_headers() {
        // A Q.931 SETUP in TPKT (length 0x00f2).
        let setup = [3, 0, 0, 0xf2, 0x08, 0x02, 0x00, 0x01, 0x05];
        assert_eq!(tpkt(&setup), Outcome::Done(()));
        for k in 0..4 {
            assert_eq!(tpkt(&setup[..k]), Outcome::Incomplete, "cut at {k}");
        }
        for not in [
            &[3, 0, 0, 6][..],
            &[3, 1, 0, 0xf2],
            &[4, 0, 0, 0xf2],
            b"GET /",
        ] {
            assert_eq!(tpkt(not), Outcome::NotThis, "{not:?}");
        }
    }
}
