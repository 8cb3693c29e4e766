//! The SIP and FTP grammar fed arbitrary and mutated bytes: no panic, every
//! slice it returns lies inside its input, every length it reports is
//! within what it was given, and the streaming calls give the same answers
//! however the bytes are cut.
//!
//! `sip_campaign` and `ftp_campaign` are the long deterministic runs (ignored
//! in the normal suite; 10 million inputs each by default):
//! `MUTATIONS=10000000 cargo test --release -p metaprobe-dataplane --test sip_ftp_fuzz -- --ignored --nocapture`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;
mod mutate;
mod sip_ftp_common;

use std::sync::OnceLock;
use std::time::Instant;

use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::ftp::{self, Event, FtpState};
use metaprobe_dataplane::app::sip::{
    self, FixedText, Framing, Message, SipStream, join_hosts, looks_like_sip, name_addr_uri,
};
use mutate::{Rng, mutate, mutate_dialog};
use proptest::prelude::*;
use sip_ftp_common::{Dialog, FTP_CAPTURES, ftp_dialogs, sip_datagrams};

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Every SIP datagram of the fixtures.
fn sip_seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds = sip_datagrams();
        assert!(
            seeds.len() > 200,
            "SIP seeds in the fixtures: {}",
            seeds.len()
        );
        seeds
    })
}

/// Every FTP control connection of the fixtures.
fn ftp_seeds() -> &'static [Dialog] {
    static SEEDS: OnceLock<Vec<Dialog>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let seeds: Vec<Dialog> = FTP_CAPTURES.iter().flat_map(|c| ftp_dialogs(c)).collect();
        assert!(seeds.len() > 30, "FTP seeds in the fixtures");
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

fn check_message(m: &Message<'_>, buf: &[u8]) {
    assert!(m.start <= m.head_len && m.head_len <= buf.len());
    for part in [
        m.msg_code(),
        m.uri(),
        m.from.raw,
        m.to.raw,
        m.call_id.raw,
        m.user_agent.raw,
        m.content_type.raw,
        name_addr_uri(m.from.raw),
    ] {
        assert!(inside(part, buf));
    }
    for host in m.via_hosts() {
        assert!(!host.is_empty() && inside(host, buf));
        assert!(!host.iter().any(|&b| b == b',' || b == b';' || b == b' '));
    }
    let mut gateways = FixedText::<64>::new();
    let all = join_hosts(m.via_hosts(), &mut gateways);
    assert!(gateways.as_bytes().len() <= 64);
    assert_eq!(all, !gateways.is_truncated());
    let mut out = [0u8; 16];
    let (unfolded, _) = m.from.unfold(&mut out);
    assert!(unfolded.len() <= m.from.raw.len().max(16));
}

/// Every SIP entry point over `b`; the messages found.
fn exercise_sip(b: &[u8], cut: usize) -> usize {
    let _ = looks_like_sip(b);
    let mut found = 0;
    if let Outcome::Done(m) = sip::parse(b, Framing::Datagram) {
        check_message(&m, b);
        assert!(m.total_len() <= b.len() as u64);
        found += 1;
    }
    let cap = 1 + cut % 2048;
    if let Outcome::Done(m) = sip::parse(b, Framing::Stream { cap }) {
        check_message(&m, b);
        assert!(m.head_len < cap.max(b.len() + 1));
    }
    // As a TCP stream in two pieces, the window kept as a driver keeps it.
    let cut = cut % (b.len() + 1);
    let mut st = SipStream::new();
    let mut window = b[..cut].to_vec();
    for more in [&b[cut..], &b""[..]] {
        loop {
            let step = st.next(&window, 4096);
            assert!(step.consumed <= window.len());
            let again = matches!(step.outcome, Outcome::Done(_));
            if let Outcome::Done(m) = step.outcome {
                check_message(&m, &window);
            }
            let consumed = step.consumed;
            window.drain(..consumed);
            if !again {
                break;
            }
        }
        window.extend_from_slice(more);
    }
    found
}

/// Every FTP entry point over a dialog; each segment is given in chunks of
/// the sizes `chunks` says, as a driver would get it. The records, owned.
fn exercise_ftp(dialog: &[(bool, Vec<u8>)], chunks: &mut impl FnMut() -> usize) -> Vec<String> {
    for (_, seg) in dialog {
        for line in seg.split(|&b| b == b'\n') {
            let _ = ftp::looks_like_greeting(line);
            if let Some(c) = ftp::command(line) {
                assert!(inside(c.arg, line) && inside(c.name, line));
                let _ = (ftp::port_argument(c.arg), ftp::eprt_argument(c.arg));
            }
            if let Some(r) = ftp::reply_line(line) {
                assert!(inside(r.text, line) && (100..700).contains(&r.code));
                let _ = (ftp::pasv_reply(r.text), ftp::epsv_reply(r.text));
            }
            if let Some(h) = ftp::greeting_host(line) {
                assert!(inside(h, line) && h.contains(&b'.'));
            }
        }
    }
    let mut st = FtpState::new();
    let mut records = Vec::new();
    let mut windows = [Vec::new(), Vec::new()];
    for (client, seg) in dialog {
        let d = usize::from(*client);
        let mut at = 0;
        while at < seg.len() {
            let n = chunks().clamp(1, seg.len() - at);
            windows[d].extend_from_slice(&seg[at..at + n]);
            at += n;
            loop {
                let w = &windows[d];
                let step = if *client {
                    st.client(w, 512)
                } else {
                    st.server(w, 512)
                };
                assert!(step.consumed <= w.len());
                let again = match step.outcome {
                    Outcome::Done(Event::Record(r)) => {
                        for part in [r.user, r.password, r.server_name] {
                            assert!(part.len() <= ftp::NAME_CAP);
                        }
                        records.push(format!("{r:?}"));
                        true
                    }
                    Outcome::Done(Event::Tls) | Outcome::NotThis | Outcome::Incomplete => false,
                    Outcome::Done(_) | Outcome::Malformed(_) => true,
                };
                let consumed = step.consumed;
                windows[d].drain(..consumed);
                if !again {
                    break;
                }
            }
        }
    }
    if let Some(r) = st.finish() {
        records.push(format!("{r:?}"));
    }
    records
}

// ---------------------------------------------------------------------------
// Mutations (deterministic, no dependencies)
// ---------------------------------------------------------------------------

/// Octets and tokens the text grammars branch on.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b":",
    b",",
    b";",
    b"\"",
    b"\\",
    b"[",
    b"]",
    b"<",
    b">",
    b"|",
    b"(",
    b")",
    b"/",
    b"-",
    b"0",
    b"9",
    b"\r\n ",
    b"\r\n\r\n",
    b"SIP/2.0",
    b"SIP/2.0 200 ",
    b"Via: SIP/2.0/UDP ",
    b"v: ",
    b"l: ",
    b"Content-Length: 99999999999999999999",
    b"220 ",
    b"227 (1,2,3,4,5,6)",
    b"229 (|||1|)",
    b"USER ",
    b"PASS ",
    b"EPRT |2|::1|1|",
    b"211-",
    b"\xff",
    b"\xc3",
];

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

/// Text made of the tokens the grammars branch on (reaches deeper than
/// uniform bytes).
fn tokens() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(0..TOKENS.len() + 26, 0..80).prop_map(|picks| {
        picks
            .into_iter()
            .flat_map(|i| {
                TOKENS
                    .get(i)
                    .map_or_else(|| vec![b'a' + (i - TOKENS.len()) as u8], |t| t.to_vec())
            })
            .collect()
    })
}

/// A valid SIP start line.
fn start_line() -> impl Strategy<Value = Vec<u8>> {
    let request = (
        "[A-Z][A-Za-z0-9.!%*_+`'~-]{0,20}",
        prop_oneof![Just("sip:"), Just("SIPS:"), Just("tel:")],
        "[!-~]{0,60}",
        prop_oneof![Just("\r\n"), Just("\n")],
    )
        .prop_map(|(m, s, u, e)| format!("{m} {s}{u} SIP/2.0{e}").into_bytes());
    let status =
        (100u16..700, "[ -~]{0,30}").prop_map(|(c, r)| format!("SIP/2.0 {c} {r}\r\n").into_bytes());
    prop_oneof![request, status]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..1500), cut in any::<usize>()) {
        exercise_sip(&b, cut);
        let mid = cut % (b.len() + 1);
        let dialog = vec![(false, b[..mid].to_vec()), (true, b[mid..].to_vec()), (false, b.clone())];
        let mut sizes = [1usize, 7, 300].into_iter().cycle();
        exercise_ftp(&dialog, &mut || sizes.next().unwrap());
    }

    #[test]
    fn protocol_shaped_text_never_panics(client in tokens(), server in tokens(), cut in any::<usize>()) {
        exercise_sip(&[&client[..], &server[..]].concat(), cut);
        let dialog = vec![(false, server.clone()), (true, client.clone()), (false, server), (true, client)];
        let mut sizes = [3usize, 1, 40].into_iter().cycle();
        exercise_ftp(&dialog, &mut || sizes.next().unwrap());
    }

    #[test]
    fn every_prefix_of_a_start_line_waits_then_is_sip(line in start_line()) {
        let mut done = false;
        for k in 0..=line.len() {
            match looks_like_sip(&line[..k]) {
                Outcome::Incomplete => prop_assert!(!done, "Incomplete after Done at {}", k),
                Outcome::Done(()) => done = true,
                other => prop_assert!(false, "{:?} at {} of {:?}", other, k, String::from_utf8_lossy(&line)),
            }
        }
        prop_assert!(done);
    }

    #[test]
    fn mutated_sip_never_panics(which in any::<usize>(), seed in any::<u64>(), cut in any::<usize>()) {
        let seeds = sip_seeds();
        let mut rng = Rng(seed | 1);
        let m = mutate(&seeds[which % seeds.len()], &mut rng, TOKENS);
        exercise_sip(&m, cut);
    }

    #[test]
    fn sip_over_tcp_gives_the_same_messages_however_cut(
        picks in proptest::collection::vec(any::<usize>(), 1..6),
        cuts in proptest::collection::vec(any::<usize>(), 0..8),
    ) {
        let seeds = sip_seeds();
        let stream: Vec<u8> = picks.iter().flat_map(|&i| seeds[i % seeds.len()].clone()).collect();
        let ids = |segments: &[&[u8]]| {
            let mut st = SipStream::new();
            let mut window = Vec::new();
            let mut out = Vec::new();
            for seg in segments {
                window.extend_from_slice(seg);
                loop {
                    let step = st.next(&window, 8192);
                    let done = match step.outcome {
                        Outcome::Done(m) => Some((m.call_id.raw.to_vec(), m.status_code(), m.body_len)),
                        _ => None,
                    };
                    let consumed = step.consumed;
                    window.drain(..consumed);
                    match done {
                        Some(d) => out.push(d),
                        None => break,
                    }
                }
            }
            out
        };
        let whole = ids(&[&stream]);
        prop_assert_eq!(whole.len(), picks.len());
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.sort_unstable();
        let mut segs = Vec::new();
        let mut last = 0;
        for p in points {
            segs.push(&stream[last..p]);
            last = p;
        }
        segs.push(&stream[last..]);
        prop_assert_eq!(ids(&segs), whole);
    }

    #[test]
    fn ftp_records_do_not_depend_on_segmentation(which in any::<usize>(), sizes in proptest::collection::vec(1usize..200, 1..16)) {
        let seeds = ftp_seeds();
        let dialog = &seeds[which % seeds.len()];
        let whole = exercise_ftp(dialog, &mut || usize::MAX);
        prop_assert!(whole.len() >= 2, "a login and a mode at least");
        let mut it = sizes.into_iter().cycle();
        prop_assert_eq!(exercise_ftp(dialog, &mut || it.next().unwrap()), whole);
    }

    #[test]
    fn mutated_ftp_never_panics(which in any::<usize>(), seed in any::<u64>(), sizes in proptest::collection::vec(1usize..100, 1..8)) {
        let seeds = ftp_seeds();
        let mut rng = Rng(seed | 1);
        let dialog = mutate_dialog(&seeds[which % seeds.len()], &mut rng, TOKENS);
        let mut it = sizes.into_iter().cycle();
        exercise_ftp(&dialog, &mut || it.next().unwrap());
    }
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

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn sip_campaign() {
    let n = inputs();
    let seeds = sip_seeds();
    let mut rng = Rng(0x5eed_5e1f);
    let started = Instant::now();
    let (mut parsed, mut octets) = (0u64, 0u64);
    for _ in 0..n {
        let r = rng.next();
        let m = mutate(&seeds[(r as usize) % seeds.len()], &mut rng, TOKENS);
        octets += m.len() as u64;
        parsed += exercise_sip(&m, (r >> 32) as usize) as u64;
    }
    println!(
        "sip campaign: {n} mutated messages ({} MB) in {:.1} s, {parsed} parsed as datagrams, {} refused or broken",
        octets / 1_000_000,
        started.elapsed().as_secs_f64(),
        n - parsed
    );
    assert!(parsed > 0 && parsed < n);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn ftp_campaign() {
    let n = inputs();
    let seeds = ftp_seeds();
    let mut rng = Rng(0x5eed_0f7b);
    let started = Instant::now();
    let (mut records, mut octets) = (0u64, 0u64);
    for _ in 0..n {
        let r = rng.next();
        let dialog = mutate_dialog(&seeds[(r as usize) % seeds.len()], &mut rng, TOKENS);
        octets += dialog.iter().map(|(_, s)| s.len() as u64).sum::<u64>();
        let mut chunk = Rng(r | 1);
        records += exercise_ftp(&dialog, &mut || 1 + chunk.below(600)).len() as u64;
    }
    println!(
        "ftp campaign: {n} mutated control connections ({} MB) in {:.1} s, {records} records",
        octets / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    assert!(records > 0);
}
