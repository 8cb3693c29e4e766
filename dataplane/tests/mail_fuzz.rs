//! The mail grammar (SMTP, POP3, IMAP sessions, the message reader, the
//! header value functions) fed arbitrary and mutated bytes: no panic, no
//! octet consumed past the input, every value within its capacity, and the
//! fixtures' records the same however their segments are cut.
//!
//! `smtp_campaign`, `pop3_campaign`, `imap_campaign` and `header_campaign`
//! are the long deterministic runs (ignored in the normal suite; 10 million
//! inputs each by default):
//! `MUTATIONS=10000000 cargo test --release -p metaprobe-dataplane --test mail_fuzz -- --ignored --nocapture`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;
mod mail_common;
mod mutate;

use std::sync::OnceLock;
use std::time::Instant;

use mail_common::{Dialog, MAIL_CAPTURES, STARTTLS_CAPTURES, Seen, drive, mail_conns};
use metaprobe_dataplane::app::mail::header::{addresses, decode_words, mailbox, param};
use metaprobe_dataplane::app::mail::message::{CC_CAP, RECEIVERS_CAP, SENDER_CAP, SUBJECT_CAP};
use metaprobe_dataplane::app::mail::{Kind, greeting};
use metaprobe_dataplane::app::text::FixedText;
use mutate::{Rng, mutate, mutate_dialog};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Seeds
// ---------------------------------------------------------------------------

/// Every mail connection of the fixtures, by protocol.
fn seeds(kind: Kind) -> &'static [Dialog] {
    static SEEDS: OnceLock<[Vec<Dialog>; 3]> = OnceLock::new();
    let all = SEEDS.get_or_init(|| {
        let mut by = [Vec::new(), Vec::new(), Vec::new()];
        for name in MAIL_CAPTURES.iter().chain(STARTTLS_CAPTURES) {
            for c in mail_conns(name) {
                by[c.kind as usize].push(c.dialog);
            }
        }
        by
    });
    &all[kind as usize]
}

fn seed_count(kind: Kind) -> usize {
    seeds(kind).len()
}

// ---------------------------------------------------------------------------
// What every run must hold to
// ---------------------------------------------------------------------------

/// Drives `dialog` (the driver's checks included: nothing consumed past the
/// input) and checks every record's values against their capacities.
fn exercise(kind: Kind, dialog: &[(bool, Vec<u8>)], chunks: &mut impl FnMut() -> usize) -> Seen {
    let seen = drive(kind, dialog, chunks);
    for r in &seen.records {
        assert!(r.from.len() <= SENDER_CAP && r.to.len() <= RECEIVERS_CAP);
        assert!(r.cc.len() <= CC_CAP && r.subject.len() <= SUBJECT_CAP);
        assert!(r.code <= 599);
    }
    seen
}

/// The header value functions on `v`: no panic, outputs within capacity,
/// the addr-spec a sub-slice of its input.
fn exercise_header(v: &[u8]) -> usize {
    let mut list = FixedText::<256>::new();
    addresses(v, &mut list);
    let mut subject = FixedText::<256>::new();
    decode_words(v, &mut subject);
    let m = mailbox(v);
    assert!(m.is_empty() || v.as_ptr_range().contains(&m.as_ptr()));
    for name in [&b"boundary"[..], b"name", b"filename"] {
        if let Some(p) = param(v, name) {
            assert!(p.is_empty() || v.as_ptr_range().contains(&p.as_ptr()));
        }
    }
    list.as_bytes().len() + subject.as_bytes().len()
}

// ---------------------------------------------------------------------------
// Mutations
// ---------------------------------------------------------------------------

/// Octets and tokens the mail grammar branches on.
const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r",
    b" ",
    b"\t",
    b"\r\n ",
    b"\r\n\r\n",
    b"\r\n.\r\n",
    b".\r\n",
    b"..",
    b":",
    b",",
    b";",
    b"\"",
    b"\\",
    b"(",
    b")",
    b"<",
    b">",
    b"{",
    b"}",
    b"{99999999999999999999}",
    b"{5}\r\n",
    b"{0}",
    b"[",
    b"]",
    b"=?",
    b"?=",
    b"=?utf-8?B?",
    b"=?koi8-r?Q?=F0",
    b"=?windows-1251?b?",
    b"220 ",
    b"250-",
    b"354 ",
    b"+OK ",
    b"-ERR ",
    b"+ ",
    b"* OK ",
    b"a1 OK ",
    b"DATA\r\n",
    b"BDAT 10 LAST\r\n",
    b"BDAT 99999999999\r\n",
    b"STARTTLS\r\n",
    b"RETR 1\r\n",
    b"a2 APPEND x {10}\r\n",
    b"BODY[] ",
    b"BODY[HEADER] ",
    b"Content-Type: multipart/mixed; boundary=x\r\n",
    b"--x\r\n",
    b"--x--\r\n",
    b"Content-Disposition: attachment\r\n",
    b"From: ",
    b"Subject: ",
    b"\xff",
    b"\xc3",
];

const KINDS: [Kind; 3] = [Kind::Smtp, Kind::Pop3, Kind::Imap];

// ---------------------------------------------------------------------------
// Property tests
// ---------------------------------------------------------------------------

/// Text made of the tokens the grammar branches on.
fn tokens() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        prop_oneof![
            (0..TOKENS.len()).prop_map(|i| TOKENS[i].to_vec()),
            proptest::collection::vec(any::<u8>(), 1..8),
        ],
        0..80,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn arbitrary_sessions_never_panic(
        kind in 0usize..3,
        segs in proptest::collection::vec((any::<bool>(), proptest::collection::vec(any::<u8>(), 0..600)), 0..8),
        size in 1usize..700,
    ) {
        exercise(KINDS[kind], &segs, &mut || size);
    }

    #[test]
    fn protocol_shaped_sessions_never_panic(
        kind in 0usize..3,
        segs in proptest::collection::vec((any::<bool>(), tokens()), 0..8),
        size in 1usize..300,
    ) {
        exercise(KINDS[kind], &segs, &mut || size);
    }

    #[test]
    fn header_values_never_panic(v in tokens()) {
        exercise_header(&v);
        greeting(&v);
    }

    #[test]
    fn fixture_records_do_not_depend_on_segmentation(
        kind in 0usize..3,
        which in any::<usize>(),
        sizes in proptest::collection::vec(1usize..400, 1..16),
    ) {
        let kind = KINDS[kind];
        let dialog = &seeds(kind)[which % seed_count(kind)];
        let whole = exercise(kind, dialog, &mut || usize::MAX).records;
        let mut i = 0;
        let got = exercise(kind, dialog, &mut || { i += 1; sizes[i % sizes.len()] }).records;
        prop_assert_eq!(got, whole);
    }

    #[test]
    fn mutated_sessions_never_panic(
        kind in 0usize..3,
        which in any::<usize>(),
        seed in any::<u64>(),
        size in 1usize..600,
    ) {
        let kind = KINDS[kind];
        let mut rng = Rng(seed | 1);
        let d = mutate_dialog(&seeds(kind)[which % seed_count(kind)], &mut rng, TOKENS);
        exercise(kind, &d, &mut || size);
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

fn campaign(kind: Kind, seed: u64) {
    let n = inputs();
    let seeds = seeds(kind);
    let mut rng = Rng(seed);
    let started = Instant::now();
    let (mut records, mut octets, mut tls) = (0u64, 0u64, 0u64);
    for _ in 0..n {
        let r = rng.next();
        let dialog = mutate_dialog(&seeds[(r as usize) % seeds.len()], &mut rng, TOKENS);
        octets += dialog.iter().map(|(_, s)| s.len() as u64).sum::<u64>();
        let mut chunk = Rng(r | 1);
        let seen = exercise(kind, &dialog, &mut || 1 + chunk.below(1500));
        records += seen.records.len() as u64;
        tls += u64::from(seen.tls);
    }
    println!(
        "{kind:?} campaign: {n} mutated connections ({} MB) in {:.1} s, {records} records, {tls} went TLS",
        octets / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    assert!(records > 0);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn smtp_campaign() {
    campaign(Kind::Smtp, 0x5eed_5a7b);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn pop3_campaign() {
    campaign(Kind::Pop3, 0x5eed_0903);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn imap_campaign() {
    campaign(Kind::Imap, 0x5eed_1a4a);
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn header_campaign() {
    let n = inputs();
    // The header lines of the fixtures' messages.
    let mut lines: Vec<Vec<u8>> = KINDS
        .iter()
        .flat_map(|&k| seeds(k).iter())
        .flat_map(|d| d.iter())
        .flat_map(|(_, s)| {
            s.split(|&b| b == b'\n')
                .map(<[u8]>::to_vec)
                .collect::<Vec<_>>()
        })
        .filter(|l| l.contains(&b':'))
        .collect();
    lines.push(b"=?UTF-8?B?0J/RgNC40LLQtdGC?= =?koi8-r?Q?=F0=D2?=".to_vec());
    lines.push(b"multipart/mixed; boundary=\"a;b\"; name*0=x".to_vec());
    let mut rng = Rng(0x5eed_4ead);
    let started = Instant::now();
    let mut out = 0u64;
    for _ in 0..n {
        let r = rng.next();
        let v = mutate(&lines[(r as usize) % lines.len()], &mut rng, TOKENS);
        out += exercise_header(&v) as u64;
        greeting(&v);
    }
    println!(
        "header campaign: {n} mutated values ({} seeds) in {:.1} s, {out} octets out",
        lines.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(out > 0);
}
