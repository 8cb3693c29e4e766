//! ICQ/AIM over OSCAR (FLAP framing, SNACs): the IM record of spec §7
//! (IM_PROTOCOL 0) — one for the account a connection signs on with, one
//! per message the client sends.
//!
//! # Driver
//!
//! Signature: a FLAP sign-on frame (`*`, channel 1, data starting with the
//! FLAP version `00 00 00 01`) at the start of a direction on any port —
//! 443 and 5190 included — or, on the OSCAR port 5190, any FLAP frame (a
//! connection picked up mid-stream). TLS comes first in the registry, so a
//! real TLS connection on 443 is TLS's. Per flow (in the flow table): each
//! end's FLAP framing ([`FlapStream`]), whether it is at a frame boundary,
//! and whether the account was recorded. An end holds a reassembly slot only
//! while a frame's header and first [`PEEK`] data octets are incomplete; the
//! rest of a frame is skipped by count.
//!
//! Records (IM_UIN for a numeric ICQ account, else IM_SCREEN_NAME):
//!
//! * the account: from the authorizer's reply (SNAC 17/03, or a channel-4
//!   frame on the old FLAP login) — TLV 1, RESULT_CODE its TLV 8 error
//!   code, 0 without one — or, on the connection to the BOS server, from
//!   the user's own info (SNAC 01/0F) after sign-on, RESULT_CODE 0; once
//!   per connection. The client's: its addresses (the server's packet the
//!   other way round);
//! * a message: SNAC 04/06 from the client, IM_RECEIVERS the screen name
//!   or UIN it is sent to.
//!
//! Clients write frames at segment starts: a segment past a hole that
//! starts with `*` starts the end over there (counted), as XMPP's does.
//!
//! # Contract of the grammar
//!
//! * [`looks_like_flap`] is the signature; `Incomplete` for every prefix.
//! * [`FlapStream`] frames one direction: a header and the first [`PEEK`]
//!   data octets at a time, the rest skipped by count, also unseen.
//! * [`snac`], [`tlv`], [`login_reply`], [`self_info`], [`icbm_receiver`]
//!   are pure functions over a frame's data: `None` for anything cut or
//!   malformed. No allocation, no panic, no read past the input.
//!
//! ```text
//! FLAP  = 0x2a channel:u8 sequence:u16 length:u16 data[length]
//! SNAC  = family:u16 subtype:u16 flags:u16 request:u32 [ (flags & 0x8000) len:u16 tlvs[len] ] data
//! TLV   = type:u16 length:u16 value[length]
//! 01/0F = screen-name-length:u8 screen-name …          (own user info)
//! 04/06 = cookie[8] channel:u16 screen-name-length:u8 screen-name …   (message to)
//! 17/03 = TLV 1 screen name, TLV 8 error code | TLV 5 BOS address, TLV 6 cookie
//! ```

mod grammar;

pub use grammar::{
    AUTH_LOGIN, CHANNEL_SIGNOFF, CHANNEL_SNAC, FLAP_HEADER, FlapStream, Frame, ICBM_SEND, PEEK,
    Reason, SELF_INFO, Snac, icbm_receiver, is_uin, login_reply, looks_like_flap, self_info, snac,
    tlv,
};

pub use super::raw::only::Worker;

use metaprobe_ipfix::field::Text;
use metaprobe_ipfix::template::Im;

use super::raw::{DpiProto, MetaProto, Raw};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Output, Seen, Signature};
use crate::counters::{AppCount, AppCounters};

/// The OSCAR port (AIM and ICQ's login.oscar.aol.com, 5190).
const OSCAR_PORT: u16 = 5190;
/// IM_PROTOCOL of OSCAR records (spec §7: 0 ICQ).
pub const IM_ICQ: u8 = 0;

/// Per flow: each end's framing, by [`crate::flow::Endpoint::index`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    flaps: [FlapStream; 2],
    /// The end's stream is at a frame boundary.
    synced: [bool; 2],
    /// The account's record went out.
    signed_on: bool,
}

// No bigger than HTTP's: the flow table entry does not grow for OSCAR.
const _: () = assert!(core::mem::size_of::<State>() <= core::mem::size_of::<super::http::State>());

pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    let any_frame = seen.server_port() == OSCAR_PORT;
    looks_like_flap(first, any_frame).map(|()| {
        let mut st = State {
            synced: [!seen.midstream; 2],
            ..State::default()
        };
        if let Some(s) = st.synced.get_mut(seen.obs.sender.index()) {
            *s = true;
        }
        st
    })
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.meta
}

pub(super) fn raw(_: &State) -> Option<Raw> {
    Some(Raw::new(MetaProto::Icq, DpiProto::Oscar))
}

/// Each end frame by frame; a record from the frames that name a user.
pub(super) fn on_payload(
    st: &mut State,
    _: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let (Some(seq), Some(common)) = (seen.tcp_seq(), seen.common()) else {
        return;
    };
    let end = seen.obs.sender.index();
    let State {
        flaps,
        synced,
        signed_on,
    } = st;
    let (Some(flap), Some(synced)) = (flaps.get_mut(end), synced.get_mut(end)) else {
        return;
    };
    let starts = seen.payload.first() == Some(&0x2a);
    let at = (end, seq, seen.payload);
    let Some(r) = cx.stream_from_starts(ends, at, starts, synced, AppCount::OscarGaps) else {
        return;
    };
    let mut finished = false;
    // Each round consumes a frame or stops.
    for _ in 0..=cx.streams.slot_size() {
        let step = flap.next(cx.streams.contiguous(r));
        let more = match step.outcome {
            Outcome::Done(frame) => {
                cx.count(AppCount::OscarFrames);
                let client = if seen.from_client {
                    common
                } else {
                    common.reversed([common.dst_mac, common.src_mac])
                };
                if let Some(rec) = record(&frame, seen.from_client, signed_on) {
                    emit(&rec, &client, cx.out, cx.counters);
                }
                true
            }
            Outcome::Incomplete => step.consumed > 0,
            Outcome::Malformed(Reason::NotFlap) => {
                cx.count(AppCount::OscarMalformed);
                finished = true;
                false
            }
            Outcome::NotThis => {
                finished = true;
                false
            }
        };
        cx.streams.consume(r, step.consumed as u32);
        // The rest of a frame the slot does not hold: dropped on arrival.
        let left = flap.pending();
        if left > 0 {
            cx.streams.consume(r, left);
            flap.skipped(left);
        }
        if !more {
            break;
        }
    }
    if finished {
        cx.finish_stream(ends, end);
    } else {
        cx.release_if_empty(ends, end, r);
    }
}

pub(super) fn on_close(_: &mut State, _: &mut Worker, _: &mut Ends, _: &mut Cx<'_>, _: Close) {}

pub(super) fn on_end(_: &State, _: &mut Worker, _: &Ends, _: &mut Cx<'_>) {}

/// What an IM record of OSCAR says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rec<'a> {
    /// The account signed on with, and the authorizer's error code (0: none).
    Account(&'a [u8], u16),
    /// A message sent to this screen name or UIN.
    Message(&'a [u8]),
}

/// The record a frame gives, if any; the account once per connection.
fn record<'a>(frame: &Frame<'a>, from_client: bool, signed_on: &mut bool) -> Option<Rec<'a>> {
    let rec = match frame.channel {
        CHANNEL_SNAC => {
            let s = snac(frame.data)?;
            match (from_client, s.kind()) {
                (true, ICBM_SEND) => return icbm_receiver(s.data).map(Rec::Message),
                (false, AUTH_LOGIN) => login_reply(s.data).map(|(u, code)| Rec::Account(u, code)),
                (false, SELF_INFO) => self_info(s.data).map(|u| Rec::Account(u, 0)),
                _ => None,
            }
        }
        CHANNEL_SIGNOFF if !from_client => {
            login_reply(frame.data).map(|(u, code)| Rec::Account(u, code))
        }
        _ => None,
    }?;
    if *signed_on {
        return None;
    }
    *signed_on = true;
    Some(rec)
}

/// The IM record of `rec`, as `client`'s.
fn emit(rec: &Rec<'_>, client: &Common<'_>, out: &mut Output, c: &AppCounters) {
    let (account, receivers, code) = match *rec {
        Rec::Account(user, code) => (user, &[][..], code),
        Rec::Message(to) => (&[][..], to, 0),
    };
    let (uin, screen_name) = if is_uin(account) {
        (account, &[][..])
    } else {
        (&[][..], account)
    };
    let record = Im {
        im_screen_name: Text::new(screen_name),
        im_uin: Text::new(uin),
        im_protocol: IM_ICQ,
        im_receivers: Text::new(receivers),
        result_code: u32::from(code),
        ..client.im()
    };
    if out.emit(&record, c) {
        c.add(AppCount::OscarRecords, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(channel: u8, data: &[u8]) -> Frame<'_> {
        Frame {
            channel,
            data,
            len: data.len() as u16,
        }
    }

    /// A SNAC of `family`/`subtype` with `data`.
    fn snac_of(family: u16, subtype: u16, data: &[u8]) -> Vec<u8> {
        let mut s = [family.to_be_bytes(), subtype.to_be_bytes(), [0, 0]].concat();
        s.extend_from_slice(&[0, 0, 0, 1]);
        s.extend_from_slice(data);
        s
    }

    #[test]
    fn the_account_once_per_connection_and_every_message() {
        // The authorizer refuses "jdoe": TLV 1, TLV 8 = 5 (incorrect password).
        let refused = snac_of(0x17, 0x03, b"\x00\x01\x00\x04jdoe\x00\x08\x00\x02\x00\x05");
        let info = snac_of(0x01, 0x0f, b"\x09157901844\x00\x00");
        let mut signed_on = false;
        assert_eq!(
            record(&frame(CHANNEL_SNAC, &refused), false, &mut signed_on),
            Some(Rec::Account(b"jdoe", 5))
        );
        assert_eq!(
            record(&frame(CHANNEL_SNAC, &info), false, &mut signed_on),
            None
        );
        // Sent by the client, the same SNACs name nobody.
        let mut fresh = false;
        assert_eq!(record(&frame(CHANNEL_SNAC, &info), true, &mut fresh), None);
        // The old FLAP login's sign-off frame: the TLVs are the frame's data.
        let signoff = b"\x00\x01\x00\x09461758769\x00\x05\x00\x02ab";
        assert_eq!(
            record(&frame(CHANNEL_SIGNOFF, signoff), false, &mut fresh),
            Some(Rec::Account(b"461758769", 0))
        );
        let msg = snac_of(0x04, 0x06, b"12345678\x00\x01\x08aimbuddy");
        for _ in 0..2 {
            assert_eq!(
                record(&frame(CHANNEL_SNAC, &msg), true, &mut fresh),
                Some(Rec::Message(b"aimbuddy"))
            );
        }
        assert_eq!(record(&frame(CHANNEL_SNAC, &msg), false, &mut fresh), None);
    }
}
