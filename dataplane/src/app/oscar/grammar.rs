//! The OSCAR grammar: FLAP framing, SNAC headers, TLVs, and the few SNACs
//! that name a user.

use metaprobe_ipfix::codec::Reader;

use crate::app::text::Step;
use crate::app::{Outcome, Signature};

/// FLAP header: `*` (0x2a), channel, sequence number, data length.
pub const FLAP_HEADER: usize = 6;
/// The FLAP channels (1 sign-on, 2 SNAC data, 3 error, 4 sign-off, 5 keep-alive).
const CHANNELS: core::ops::RangeInclusive<u8> = 1..=5;
pub const CHANNEL_SIGNON: u8 = 1;
pub const CHANNEL_SNAC: u8 = 2;
pub const CHANNEL_SIGNOFF: u8 = 4;
/// Data octets of a frame read (the rest is skipped by count): every field
/// the records need lies in the first ones.
pub const PEEK: usize = 512;

/// One FLAP frame: its channel and its first data octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame<'a> {
    pub channel: u8,
    /// The first `min(length, PEEK)` data octets.
    pub data: &'a [u8],
    /// The frame's data length.
    pub len: u16,
}

/// Why a direction's framing was given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A frame does not start with `*` and a known channel.
    NotFlap,
}

/// The signature: a FLAP frame at the start of a direction. `any_frame`
/// (the OSCAR port) takes any channel; elsewhere only the sign-on frame
/// both ends start with (channel 1, data `00 00 00 01`: the FLAP version)
/// is OSCAR. `Incomplete` for every prefix of one.
pub fn looks_like_flap(first: &[u8], any_frame: bool) -> Signature<()> {
    const SIGNON_MIN: usize = FLAP_HEADER + 4;
    let want = if any_frame { FLAP_HEADER } else { SIGNON_MIN };
    for (i, &c) in first.iter().take(want).enumerate() {
        let ok = match i {
            0 => c == 0x2a,
            1 if any_frame => CHANNELS.contains(&c),
            1 => c == CHANNEL_SIGNON,
            6..=8 => c == 0,
            9 => c == 1,
            _ => true,
        };
        if !ok {
            return Outcome::NotThis;
        }
    }
    if first.len() < want {
        return Outcome::Incomplete;
    }
    match first.get(4..6) {
        Some(&[hi, lo]) if any_frame || u16::from_be_bytes([hi, lo]) >= 4 => Outcome::Done(()),
        _ => Outcome::NotThis,
    }
}

/// One direction of FLAP frames: where the next one starts.
///
/// [`FlapStream::next`] takes the **contiguous, in-order octets of the
/// direction starting at the state's position** and answers:
///
/// * `Done(frame)`: a header and the first [`PEEK`] data octets (consumed);
///   the rest of the frame is [`FlapStream::pending`], to be skipped by
///   count ([`FlapStream::skipped`]) — then call again;
/// * `Incomplete`: the header or the peeked part is not whole yet; the
///   unconsumed octets must be given again with what follows;
/// * `Malformed(NotFlap)`: the direction is not FLAP (everything consumed);
///   this and every later call consume everything, `NotThis`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlapStream {
    /// Data octets of the last frame not consumed yet.
    left: u32,
    over: bool,
}

impl FlapStream {
    pub const fn new() -> Self {
        FlapStream {
            left: 0,
            over: false,
        }
    }

    pub fn pending(&self) -> u32 {
        self.left
    }

    /// The caller dropped `n` octets of data unseen.
    pub fn skipped(&mut self, n: u32) {
        self.left = self.left.saturating_sub(n);
    }

    pub fn next<'a>(&mut self, bytes: &'a [u8]) -> Step<Frame<'a>, Reason> {
        if self.over {
            return Step::new(bytes.len(), Outcome::NotThis);
        }
        let pos = bytes.len().min(self.left as usize);
        self.left -= pos as u32; // pos ≤ left
        if self.left > 0 {
            return Step::new(pos, Outcome::Incomplete);
        }
        let rest = bytes.get(pos..).unwrap_or(&[]);
        // Known as not FLAP from its first two octets, however cut.
        let start = match *rest {
            [] => true,
            [star] => star == 0x2a,
            [star, channel, ..] => star == 0x2a && CHANNELS.contains(&channel),
        };
        if !start {
            self.over = true;
            return Step::new(bytes.len(), Outcome::Malformed(Reason::NotFlap));
        }
        let mut r = Reader::new(rest);
        let Some(&[_, channel, _, _, hi, lo]) = r.take_array::<FLAP_HEADER>() else {
            return Step::new(pos, Outcome::Incomplete);
        };
        let len = u16::from_be_bytes([hi, lo]);
        let peek = usize::from(len).min(PEEK);
        let Some(data) = r.take(peek) else {
            return Step::new(pos, Outcome::Incomplete);
        };
        self.left = u32::from(len) - peek as u32; // peek ≤ len
        Step::new(
            pos + FLAP_HEADER + peek,
            Outcome::Done(Frame { channel, data, len }),
        )
    }
}

/// A SNAC (the data of a channel-2 frame): family, subtype, and the data
/// after its header (and after the TLV block flag 0x8000 announces).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Snac<'a> {
    pub family: u16,
    pub subtype: u16,
    pub data: &'a [u8],
}

impl Snac<'_> {
    pub fn kind(&self) -> (u16, u16) {
        (self.family, self.subtype)
    }
}

/// SNACs the records come from.
pub const AUTH_LOGIN: (u16, u16) = (0x0017, 0x0003);
pub const SELF_INFO: (u16, u16) = (0x0001, 0x000f);
pub const ICBM_SEND: (u16, u16) = (0x0004, 0x0006);

pub fn snac(data: &[u8]) -> Option<Snac<'_>> {
    let mut r = Reader::new(data);
    let family = r.u16()?;
    let subtype = r.u16()?;
    let flags = r.u16()?;
    let _request = r.u32()?;
    if flags & 0x8000 != 0 {
        let n = r.u16()?;
        r.skip(usize::from(n))?;
    }
    Some(Snac {
        family,
        subtype,
        data: r.rest(),
    })
}

/// The value of the first TLV of type `t` in a TLV list (type, length,
/// value; a cut list ends the search).
pub fn tlv(list: &[u8], t: u16) -> Option<&[u8]> {
    let mut r = Reader::new(list);
    loop {
        let ty = r.u16()?;
        let len = r.u16()?;
        let value = r.take(usize::from(len))?;
        if ty == t {
            return Some(value);
        }
    }
}

/// The user an authorization reply (SNAC 17/03, or a sign-off frame on the
/// authorizer) is about — TLV 1 — and its outcome: TLV 8's error code, 0
/// when there is none.
pub fn login_reply(tlvs: &[u8]) -> Option<(&[u8], u16)> {
    let user = tlv(tlvs, 0x0001).filter(|u| !u.is_empty())?;
    let code = match tlv(tlvs, 0x0008) {
        Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
        Some(_) | None => 0,
    };
    Some((user, code))
}

/// The screen name a user info block starts with (SNAC 01/0F, the user's
/// own after sign-on).
pub fn self_info(data: &[u8]) -> Option<&[u8]> {
    screen_name(&mut Reader::new(data))
}

/// The receiver of an outgoing message (SNAC 04/06): after the 8-octet
/// cookie and the 2-octet ICBM channel.
pub fn icbm_receiver(data: &[u8]) -> Option<&[u8]> {
    let mut r = Reader::new(data);
    r.skip(8 + 2)?;
    screen_name(&mut r)
}

/// A screen name preceded by its length octet, as user info blocks and
/// ICBM headers carry it.
fn screen_name<'a>(r: &mut Reader<'a>) -> Option<&'a [u8]> {
    let n = r.u8()?;
    r.take(usize::from(n)).filter(|s| !s.is_empty())
}

/// An ICQ account is a UIN, a number; an AIM one a screen name.
pub fn is_uin(name: &[u8]) -> bool {
    !name.is_empty() && name.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// The corpus capture's message to ICQ UIN 461758769 (frame 36): a FLAP
    /// frame of channel 2 holding SNAC 04/06.
    const MESSAGE: &str = "2a020049006a0004000600000000005636343439323631000001093436313735383736390002004405010001010101003b000000003c48544d4c3e3c424f44593e3c48544d4c3e3c464f4e543e4849213c2f464f4e543e3c2f48544d4c3e3c2f424f44593e3c2f48544d4c3e00030000";
    /// The start of the server's own-info reply (frame 19): SNAC 01/0F for UIN 157901844.
    const SELF_INFO_SNAC: &str = "0001000f0000000000040931353739303138343400000000";

    #[test]
    fn sign_on_frames_and_their_prefixes() {
        let signon = hex("2a01000101350000000100060100");
        assert_eq!(looks_like_flap(&signon, false), Outcome::Done(()));
        for k in 0..10 {
            assert_eq!(
                looks_like_flap(&signon[..k], false),
                Outcome::Incomplete,
                "{k}"
            );
        }
        let server = hex("2a01198a000400000001");
        assert_eq!(looks_like_flap(&server, false), Outcome::Done(()));
        let snac_frame = hex(MESSAGE);
        assert_eq!(looks_like_flap(&snac_frame, false), Outcome::NotThis);
        assert_eq!(looks_like_flap(&snac_frame, true), Outcome::Done(()));
        for not in [
            &b"*\x06\0\0\0\0"[..],
            b"GET / HTTP/1.1",
            b"\x16\x03\x01\x02\x00\x01",
        ] {
            assert_eq!(looks_like_flap(not, true), Outcome::NotThis, "{not:?}");
        }
        // A sign-on too short for the FLAP version.
        assert_eq!(
            looks_like_flap(&hex("2a0100010002000000010000"), false),
            Outcome::NotThis
        );
    }

    #[test]
    fn a_message_names_its_receiver() {
        let bytes = hex(MESSAGE);
        let mut f = FlapStream::new();
        let step = f.next(&bytes);
        let Outcome::Done(frame) = step.outcome else {
            panic!("{step:?}");
        };
        assert_eq!(
            (frame.channel, frame.len, step.consumed),
            (2, 0x6a, bytes.len())
        );
        let s = snac(frame.data).unwrap();
        assert_eq!(s.kind(), ICBM_SEND);
        assert_eq!(icbm_receiver(s.data), Some(&b"461758769"[..]));
        assert!(is_uin(b"461758769") && !is_uin(b"aimuser") && !is_uin(b""));
        let info = hex(SELF_INFO_SNAC);
        let info = snac(&info).unwrap();
        assert_eq!(info.kind(), SELF_INFO);
        assert_eq!(self_info(info.data), Some(&b"157901844"[..]));
    }

    #[test]
    fn frames_cut_anywhere_and_long_ones_skipped_by_count() {
        let one = hex(MESSAGE);
        let two = [one.as_slice(), one.as_slice()].concat();
        let mut f = FlapStream::new();
        for cut in 0..one.len() {
            assert_eq!(
                f.next(&two[..cut]),
                Step::new(0, Outcome::Incomplete),
                "{cut}"
            );
        }
        let step = f.next(&two);
        assert_eq!(step.consumed, one.len());
        // A frame longer than PEEK: its rest is pending, skipped unseen.
        let mut long = vec![0x2a, 2, 0, 1, 0x10, 0x00];
        long.extend(std::iter::repeat_n(0u8, PEEK));
        let step = f.next(&long);
        assert!(matches!(
            step.outcome,
            Outcome::Done(Frame { len: 0x1000, .. })
        ));
        assert_eq!(f.pending(), 0x1000 - PEEK as u32);
        assert_eq!(f.next(b"abc"), Step::new(3, Outcome::Incomplete));
        f.skipped(f.pending());
        let step = f.next(b"HTTP");
        assert_eq!(step, Step::new(4, Outcome::Malformed(Reason::NotFlap)));
        assert_eq!(f.next(&one), Step::new(one.len(), Outcome::NotThis));
    }

    #[test]
    fn authorizer_replies_give_the_account_and_its_error() {
        // TLV 1 "jdoe", TLV 8 error 0x0005 (incorrect password).
        let fail = hex("000100046a646f6500080002000500040003414243");
        assert_eq!(login_reply(&fail), Some((&b"jdoe"[..], 5)));
        let ok = hex("00010009313537393031383434000500023132");
        assert_eq!(login_reply(&ok), Some((&b"157901844"[..], 0)));
        assert_eq!(login_reply(&hex("0009000200010001")), None);
        assert_eq!(tlv(&hex("000100ff61"), 1), None);
        // SNAC flags 0x8000: a TLV block precedes the data.
        let flagged = hex("0001000f80000000000400020000aa");
        assert_eq!(snac(&flagged).map(|s| s.data), Some(&[0xaa][..]));
    }
}
