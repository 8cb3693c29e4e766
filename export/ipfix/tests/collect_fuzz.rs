//! The collector-side decoder fed mutated real messages — every template
//! round (templates, options templates, RFC 5610 type records), data
//! messages of every template in both address families and statistics
//! reports (reliability and counter records, one a name cut to fit), from
//! the encoder's own sessions: no panic, and bounded memory
//! (the session's template cache stays within its limits, a message never
//! decodes to more values than it has octets).
//!
//! Template caches live across messages, as a collector's sessions do, so
//! that mutated templates accumulate where the bounds matter.
//!
//! `campaign` is the long run (ignored in the normal suite):
//! `MUTATIONS=10000000 cargo test --release -p metaprobe-ipfix --test collect_fuzz -- --ignored --nocapture`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use metaprobe_ipfix::collect::{CacheLimits, DecodeError, TemplateCache, decode_message};
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::SessionConfig;
use metaprobe_ipfix::template::Stream;

const T0: u32 = 1_700_000_000;

/// Every message a session of each stream sends: its template round, data
/// messages with a record of each of its templates (both families), a
/// statistics report.
fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for stream in Stream::ALL {
        for mtu in [1500, 9000] {
            let cfg = SessionConfig::udp(stream, mtu, false, 20);
            out.extend(samples::session_messages(cfg, T0, 3).0);
        }
    }
    out.extend(hostile());
    out
}

/// Messages no encoder of ours writes: issue 18's 40-octet datagram (a
/// template of one zero-length field, and data for it), and a template of
/// one real field beside 600 of length 0 with a data set of 1000 octets.
fn hostile() -> Vec<Vec<u8>> {
    let message = |sets: &[u8]| {
        let mut m = vec![0, 10];
        m.extend_from_slice(&((16 + sets.len()) as u16).to_be_bytes());
        m.extend_from_slice(&T0.to_be_bytes());
        m.extend_from_slice(&[0; 8]);
        m.extend_from_slice(sets);
        m
    };
    let set = |id: u16, body: &[u8]| {
        let mut s = id.to_be_bytes().to_vec();
        s.extend_from_slice(&((4 + body.len()) as u16).to_be_bytes());
        s.extend_from_slice(body);
        s
    };
    let template = |id: u16, fields: &[(u16, u16)]| {
        let mut t = id.to_be_bytes().to_vec();
        t.extend_from_slice(&(fields.len() as u16).to_be_bytes());
        for (e, l) in fields {
            t.extend_from_slice(&e.to_be_bytes());
            t.extend_from_slice(&l.to_be_bytes());
        }
        set(2, &t)
    };
    let mut forty = template(300, &[(1, 0)]);
    forty.extend_from_slice(&set(300, &[0; 8]));
    let mut wide = vec![(1u16, 1u16)];
    wide.extend(std::iter::repeat_n((2u16, 0u16), 600));
    vec![
        message(&forty),
        message(&template(301, &wide)),
        message(&set(301, &[7; 1000])),
    ]
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % (n.max(1) as u64)) as usize
    }
}

/// 16-bit values that lengths and counts are made of, and break at.
const EDGES: [u16; 12] = [0, 1, 2, 3, 4, 5, 255, 256, 0x7fff, 0x8000, 0xfffe, 0xffff];

/// A copy of `seed` with a few mutations: octets changed, 16-bit words set
/// to edge values (lengths, counts, ids), octets inserted or removed, sets
/// of `other` spliced in, a cut; the header's length usually patched to the
/// result so the decoder goes past its first check.
fn mutate(seed: &[u8], other: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut m = seed.to_vec();
    for _ in 0..=rng.below(4) {
        let r = rng.next();
        let at = rng.below(m.len());
        match r % 8 {
            0 | 1 => {
                if let Some(b) = m.get_mut(at) {
                    *b = (r >> 8) as u8;
                }
            }
            2 | 3 => {
                // Word-aligned edges hit the set and field headers.
                let at = at & !1;
                if at + 2 <= m.len() {
                    let v = EDGES[rng.below(EDGES.len())];
                    m[at..at + 2].copy_from_slice(&v.to_be_bytes());
                }
            }
            4 => {
                let n = 1 + rng.below(8);
                for _ in 0..n {
                    m.insert(at.min(m.len()), (rng.next() >> 16) as u8);
                }
            }
            5 => {
                let n = (1 + rng.below(8)).min(m.len() - at.min(m.len()));
                m.drain(at..at + n);
            }
            6 => {
                // Sets of another message after ours.
                if other.len() > 16 {
                    m.extend_from_slice(&other[16..]);
                }
            }
            _ => {
                let keep = rng.below(m.len() + 1);
                m.truncate(keep);
            }
        }
    }
    if !rng.next().is_multiple_of(8) && m.len() >= 4 {
        let n = m.len().min(usize::from(u16::MAX)) as u16;
        m.truncate(usize::from(n));
        m[2..4].copy_from_slice(&n.to_be_bytes());
    }
    m
}

#[derive(Debug, Default)]
struct Outcome {
    messages: u64,
    ok: u64,
    records: u64,
    values: u64,
    templates: u64,
    refused: u64,
    errors: [u64; 7],
    most_templates: usize,
    most_fields: usize,
}

/// Decodes `n` mutated messages with caches of `limits`, a new session
/// (cache) every `session_len` messages.
fn run(n: u64, seed: u64, limits: CacheLimits, session_len: u64) -> Outcome {
    let corpus = corpus();
    assert!(
        corpus.len() > 20,
        "the corpus has the template rounds and data"
    );
    let mut rng = Rng(seed);
    let mut cache = TemplateCache::with_limits(limits);
    let mut o = Outcome::default();
    // Start every session with a real template round so data sets decode.
    let rounds: Vec<&Vec<u8>> = corpus
        .iter()
        .filter(|m| {
            let mut c = TemplateCache::new();
            decode_message(&mut c, m).is_ok_and(|d| d.templates > 0)
        })
        .collect();
    assert!(rounds.len() >= 3, "template rounds of the three streams");
    for i in 0..n {
        if i % session_len == 0 {
            o.refused += cache.refused();
            cache = TemplateCache::with_limits(limits);
            for r in &rounds {
                decode_message(&mut cache, r).unwrap();
            }
        }
        let seed_msg = &corpus[rng.below(corpus.len())];
        let other = &corpus[rng.below(corpus.len())];
        let m = if rng.next().is_multiple_of(16) {
            seed_msg.clone()
        } else {
            mutate(seed_msg, other, &mut rng)
        };
        o.messages += 1;
        match decode_message(&mut cache, &m) {
            Ok(d) => {
                o.ok += 1;
                o.templates += u64::from(d.templates);
                let values: usize = d.records.iter().map(|r| r.fields.len()).sum();
                assert!(values <= m.len(), "{values} values from {} octets", m.len());
                o.records += d.records.len() as u64;
                o.values += values as u64;
            }
            Err(e) => {
                let k = match e {
                    DecodeError::Short { .. } => 0,
                    DecodeError::Version(_) => 1,
                    DecodeError::Length { .. } => 2,
                    DecodeError::SetLength { .. } => 3,
                    DecodeError::BadTemplate { .. } => 4,
                    DecodeError::RecordOverrun { .. } => 5,
                    DecodeError::TooManyValues { .. } => 6,
                };
                o.errors[k] += 1;
            }
        }
        assert!(cache.len() <= limits.templates);
        assert!(cache.fields() <= limits.fields);
        o.most_templates = o.most_templates.max(cache.len());
        o.most_fields = o.most_fields.max(cache.fields());
    }
    o.refused += cache.refused();
    o
}

/// The corpus holds every options kind of ours, unmutated.
#[test]
fn the_corpus_has_every_options_kind() {
    let mut cache = TemplateCache::new();
    let kinds: Vec<String> = corpus()
        .iter()
        .filter_map(|m| decode_message(&mut cache, m).ok())
        .flat_map(|d| d.records)
        .filter(|r| r.options)
        .filter_map(|r| r.kind)
        .collect();
    for kind in ["ie_type", "reliability", "counter"] {
        assert!(kinds.iter().any(|k| k == kind), "{kind}");
    }
}

#[test]
fn mutated_messages_through_the_decoder() {
    // Small caches and long sessions, so that the limits are reached.
    let limits = CacheLimits {
        templates: 64,
        fields: 1500,
    };
    let o = run(30_000, 0x5eed_c011, limits, 10_000);
    assert!(o.records > 10_000, "mutations still decode: {o:?}");
    assert!(o.errors.iter().all(|&e| e > 0), "every error path: {o:?}");
    assert!(o.refused > 0, "the cache filled: {o:?}");
}

/// Peak resident memory of this process, KiB (Linux).
fn peak_rss_kib() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn campaign() {
    let n: u64 = std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let limits = CacheLimits::default();
    let start = std::time::Instant::now();
    let o = run(n, 0x9e37_79b9_7f4a_7c15, limits, 1_000_000);
    let took = start.elapsed();
    println!(
        "collector campaign: {} messages in {:.1} s: {} decoded ({} records, {} values, {} templates learned, {} refused), errors: short {}, version {}, length {}, set length {}, bad template {}, record overrun {}, too many values {}; cache at most {} templates / {} fields (limits {} / {}); peak RSS {} KiB",
        o.messages,
        took.as_secs_f64(),
        o.ok,
        o.records,
        o.values,
        o.templates,
        o.refused,
        o.errors[0],
        o.errors[1],
        o.errors[2],
        o.errors[3],
        o.errors[4],
        o.errors[5],
        o.errors[6],
        o.most_templates,
        o.most_fields,
        limits.templates,
        limits.fields,
        peak_rss_kib().unwrap_or(0),
    );
    assert_eq!(o.messages, n);
    assert!(o.records > 0);
}
