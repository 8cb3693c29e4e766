//! The XMPP and OSCAR grammar fed arbitrary and mutated bytes: no panic,
//! every slice it returns lies inside its input, every name within its cap,
//! and the streaming calls give the same answers however the bytes are cut.
//!
//! `xmpp_campaign` and `oscar_campaign` are the long deterministic runs
//! (ignored in the normal suite; 10 million inputs each by default — an
//! input is a mutated run of up to 6 consecutive segments of a corpus
//! connection, fed in random pieces):
//! `MUTATIONS=10000000 cargo test --release -p metaprobe-dataplane --test im_fuzz -- --ignored --nocapture`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;
mod mutate;

use std::sync::OnceLock;
use std::time::Instant;

use common::{Dialog, tcp_dialogs};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::oscar::{
    self, FlapStream, icbm_receiver, login_reply, looks_like_flap, self_info, snac,
};
use metaprobe_dataplane::app::xmpp::{
    self, Event, Mechanism, SASL_MAX, XmppState, attr, credentials, looks_like_stream, token,
};
use mutate::{Rng, mutate_dialog};
use proptest::prelude::*;

/// The reassembly slot the drivers have by default.
const CAP: usize = 4096;
/// Segments of a connection one input holds.
const RUN: usize = 6;

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Runs of up to [`RUN`] consecutive segments of every connection, from
/// each segment on.
fn runs(dialogs: Vec<Dialog>) -> Vec<Dialog> {
    dialogs
        .iter()
        .flat_map(|d| (0..d.len()).map(|i| d[i..(i + RUN).min(d.len())].to_vec()))
        .collect()
}

fn xmpp_seeds() -> &'static [Dialog] {
    static SEEDS: OnceLock<Vec<Dialog>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds = runs(tcp_dialogs("xmpp_c2s_sasl_sessions.pcapng", 5222));
        assert!(seeds.len() > 50, "XMPP seeds: {}", seeds.len());
        seeds
    })
}

fn oscar_seeds() -> &'static [Dialog] {
    static SEEDS: OnceLock<Vec<Dialog>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds = runs(tcp_dialogs("oscar_aim_icq_flap_port443.pcapng", 443));
        assert!(seeds.len() > 30, "OSCAR seeds: {}", seeds.len());
        seeds
    })
}

// ---------------------------------------------------------------------------
// What every call must hold to
// ---------------------------------------------------------------------------

/// `part` is a sub-slice of `whole` (or empty).
fn inside(part: &[u8], whole: &[u8]) -> bool {
    part.is_empty()
        || whole.as_ptr_range().start <= part.as_ptr()
            && part.as_ptr_range().end <= whole.as_ptr_range().end
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The stateless XMPP pieces on one segment.
fn xmpp_pieces(seg: &[u8]) {
    let _ = looks_like_stream(seg);
    let step = token(seg, CAP);
    assert!(step.consumed <= seg.len());
    if let Outcome::Done(xmpp::Token::Open { name, attrs, .. }) = step.outcome {
        assert!(inside(name, seg) && inside(attrs, seg));
        for a in [&b"to"[..], b"mechanism", b"xmlns"] {
            assert!(attr(attrs, a).is_none_or(|v| inside(v, attrs)));
        }
    }
    let mut scratch = [0u8; SASL_MAX];
    for mech in [Mechanism::Plain, Mechanism::Scram, Mechanism::DigestMd5] {
        if let Some((user, pw)) = credentials(mech, seg, &mut scratch) {
            assert!(user.len() + pw.len() <= SASL_MAX);
        }
    }
}

/// A connection fed to one `XmppState` in pieces of `chunks()` octets, the
/// unconsumed rest of each direction kept (as the driver's window); the
/// records, as text.
fn exercise_xmpp(dialog: &[(bool, Vec<u8>)], chunks: &mut impl FnMut() -> usize) -> Vec<String> {
    let mut st = XmppState::new();
    let mut records = Vec::new();
    let mut windows = [Vec::new(), Vec::new()];
    for (client, seg) in dialog {
        xmpp_pieces(seg);
        let d = usize::from(*client);
        let mut at = 0;
        while at < seg.len() {
            let n = chunks().clamp(1, seg.len() - at);
            windows[d].extend_from_slice(&seg[at..at + n]);
            at += n;
            loop {
                let w = &windows[d];
                let step = if *client {
                    st.client(w, CAP)
                } else {
                    st.server(w, CAP)
                };
                assert!(step.consumed <= w.len());
                let again = match step.outcome {
                    Outcome::Done(Event::Login(l)) => {
                        assert!(l.login.len() <= xmpp::NAME_CAP);
                        assert!(l.password.len() <= xmpp::NAME_CAP);
                        assert!(l.screen_name.len() <= xmpp::JID_CAP);
                        records.push(format!(
                            "login {} {} {} {:?}",
                            text(l.login),
                            text(l.password),
                            text(l.screen_name),
                            l.result
                        ));
                        true
                    }
                    Outcome::Done(Event::Message(m)) => {
                        assert!(inside(m.receivers, w));
                        records.push(format!(
                            "message {} {} {}",
                            text(m.receivers),
                            text(m.login),
                            text(m.screen_name)
                        ));
                        true
                    }
                    Outcome::Done(Event::Stanza) => true,
                    Outcome::Done(Event::Tls) | Outcome::NotThis | Outcome::Incomplete => false,
                    Outcome::Malformed(_) => {
                        assert_eq!(step.consumed, w.len());
                        false
                    }
                };
                let consumed = step.consumed;
                windows[d].drain(..consumed);
                if !again {
                    break;
                }
            }
        }
    }
    if let Some(l) = st.finish() {
        records.push(format!("end {} {:?}", text(l.login), l.result));
    }
    records
}

/// A connection's two directions framed by `FlapStream`s in pieces, the rest
/// of long frames skipped by count as the driver does; what the frames
/// name, as text.
fn exercise_oscar(dialog: &[(bool, Vec<u8>)], chunks: &mut impl FnMut() -> usize) -> Vec<String> {
    let mut flaps = [FlapStream::new(), FlapStream::new()];
    let mut windows = [Vec::new(), Vec::new()];
    let mut named = Vec::new();
    for (client, seg) in dialog {
        let _ = (looks_like_flap(seg, true), looks_like_flap(seg, false));
        let d = usize::from(*client);
        let mut at = 0;
        while at < seg.len() {
            let n = chunks().clamp(1, seg.len() - at);
            windows[d].extend_from_slice(&seg[at..at + n]);
            at += n;
            loop {
                let w = &windows[d];
                let step = flaps[d].next(w);
                assert!(step.consumed <= w.len());
                let again = match step.outcome {
                    Outcome::Done(frame) => {
                        assert!(inside(frame.data, w) && frame.data.len() <= oscar::PEEK);
                        if let Some(s) = snac(frame.data) {
                            assert!(inside(s.data, frame.data));
                            for name in [self_info(s.data), icbm_receiver(s.data)]
                                .into_iter()
                                .flatten()
                                .chain(login_reply(s.data).map(|(u, _)| u))
                            {
                                assert!(inside(name, s.data) && !name.is_empty());
                                named.push(format!("{d} {:?} {}", s.kind(), text(name)));
                            }
                        }
                        true
                    }
                    Outcome::Incomplete => false,
                    Outcome::NotThis | Outcome::Malformed(_) => {
                        assert_eq!(step.consumed, w.len());
                        false
                    }
                };
                let consumed = step.consumed;
                windows[d].drain(..consumed);
                let left = (flaps[d].pending() as usize).min(windows[d].len());
                windows[d].drain(..left);
                flaps[d].skipped(left as u32);
                if !again {
                    break;
                }
            }
        }
    }
    named
}

const TOKENS: &[&[u8]] = &[
    b"<",
    b">",
    b"/>",
    b"</",
    b"'",
    b"\"",
    b"=",
    b" ",
    b"<?xml version='1.0'?>",
    b"<stream:stream>",
    b"</stream:stream>",
    b"<!--",
    b"-->",
    b"<![CDATA[",
    b"]]>",
    b"<auth mechanism='PLAIN'>",
    b"<auth mechanism='SCRAM-SHA-1'>",
    b"<auth mechanism='DIGEST-MD5'/>",
    b"</auth>",
    b"<response>",
    b"</response>",
    b"<success/>",
    b"<failure>",
    b"<not-authorized/>",
    b"</failure>",
    b"<proceed/>",
    b"<bind><jid>",
    b"</jid></bind>",
    b"<message to='a@b'>",
    b"AGp1bGlldAByMG0zMG15cjBtMzA=",
    b"dXNlcm5hbWU9InRvbSIs",
    b"*\x02\x00\x01\x00\x20",
    b"*\x01\x00\x01\xff\xff",
    b"\x00\x04\x00\x06\x00\x00\x00\x00\x00\x01",
    b"\x00\x01\x00\x0f\x80\x00\x00\x00\x00\x01",
    b"\x00\x17\x00\x03\x00\x00\x00\x00\x00\x01",
    b"\x00\x01\x00\x09",
    b"\x00\x08\x00\x02\x00\x05",
    b"\x09461758769",
    b"\xff",
    b"\xc3",
];

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1500), cut in any::<usize>()) {
        let mid = cut % (b.len() + 1);
        let dialog = vec![(true, b[..mid].to_vec()), (false, b[mid..].to_vec()), (true, b.clone())];
        let mut sizes = [1usize, 7, 300].into_iter().cycle();
        exercise_xmpp(&dialog, &mut || sizes.next().unwrap());
        exercise_oscar(&dialog, &mut || sizes.next().unwrap());
    }

    #[test]
    fn xmpp_records_do_not_depend_on_segmentation(which in any::<usize>(), sizes in proptest::collection::vec(1usize..200, 1..16)) {
        let seeds = xmpp_seeds();
        let dialog = &seeds[which % seeds.len()];
        let whole = exercise_xmpp(dialog, &mut || usize::MAX);
        let mut it = sizes.into_iter().cycle();
        prop_assert_eq!(exercise_xmpp(dialog, &mut || it.next().unwrap()), whole);
    }

    #[test]
    fn oscar_frames_do_not_depend_on_segmentation(which in any::<usize>(), sizes in proptest::collection::vec(1usize..100, 1..16)) {
        let seeds = oscar_seeds();
        let dialog = &seeds[which % seeds.len()];
        let whole = exercise_oscar(dialog, &mut || usize::MAX);
        let mut it = sizes.into_iter().cycle();
        prop_assert_eq!(exercise_oscar(dialog, &mut || it.next().unwrap()), whole);
    }

    #[test]
    fn mutated_connections_never_panic(which in any::<usize>(), seed in any::<u64>(), sizes in proptest::collection::vec(1usize..100, 1..8)) {
        let mut rng = Rng(seed | 1);
        let mut it = sizes.into_iter().cycle();
        let x = xmpp_seeds();
        exercise_xmpp(&mutate_dialog(&x[which % x.len()], &mut rng, TOKENS), &mut || it.next().unwrap());
        let o = oscar_seeds();
        exercise_oscar(&mutate_dialog(&o[which % o.len()], &mut rng, TOKENS), &mut || it.next().unwrap());
    }
}

/// The unmutated seeds give what the corpus holds: the login with its JID,
/// the messages, the ICQ account and its message's receiver.
#[test]
fn the_seeds_give_the_corpus_records() {
    let all = |seeds: &[Dialog], f: &dyn Fn(&Dialog) -> Vec<String>| -> Vec<String> {
        seeds.iter().flat_map(f).collect()
    };
    let xmpp = all(xmpp_seeds(), &|d| exercise_xmpp(d, &mut || usize::MAX));
    assert!(
        xmpp.iter()
            .any(|r| r.contains("tom@cs-xmpp.lan/darkstar") && r.contains("Success"))
    );
    assert!(xmpp.iter().any(|r| r.contains("chatback@cs-xmpp.lan")));
    let oscar = all(oscar_seeds(), &|d| exercise_oscar(d, &mut || usize::MAX));
    assert!(oscar.iter().any(|r| r.contains("157901844")));
    assert!(oscar.iter().any(|r| r.contains("461758769")));
}

// ---------------------------------------------------------------------------
// Campaigns
// ---------------------------------------------------------------------------

fn inputs() -> u64 {
    std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

/// A connection through a parser, in pieces of the sizes the closure gives.
type Exercise = fn(&[(bool, Vec<u8>)], &mut dyn FnMut() -> usize) -> Vec<String>;

/// `n` mutated runs of `seeds` through `exercise`; the records they gave.
fn campaign(what: &str, seeds: &[Dialog], salt: u64, exercise: Exercise) -> u64 {
    let n = inputs();
    let mut rng = Rng(salt);
    let started = Instant::now();
    let (mut records, mut octets) = (0u64, 0u64);
    for _ in 0..n {
        let r = rng.next();
        let dialog = mutate_dialog(&seeds[(r as usize) % seeds.len()], &mut rng, TOKENS);
        octets += dialog.iter().map(|(_, s)| s.len() as u64).sum::<u64>();
        let mut chunk = Rng(r | 1);
        records += exercise(&dialog, &mut || 1 + chunk.below(600)).len() as u64;
    }
    println!(
        "{what} campaign: {n} mutated connection runs ({} MB) in {:.1} s, {records} records",
        octets / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    records
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn xmpp_campaign() {
    let records = campaign("xmpp", xmpp_seeds(), 0x5eed_a1b2, |d, c| {
        exercise_xmpp(d, &mut || c())
    });
    assert!(records > 0);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn oscar_campaign() {
    let records = campaign("oscar", oscar_seeds(), 0x5eed_0ca7, |d, c| {
        exercise_oscar(d, &mut || c())
    });
    assert!(records > 0);
}
