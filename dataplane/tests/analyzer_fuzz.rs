//! The whole per-packet analysis — decode, flow table, application registry,
//! reassembly, DNS/TLS/QUIC/HTTP/SIP/FTP/mail parsers, raw metadata, record
//! encoding — fed mutated real frames:
//! no panic, bounded state, and the work is counted.
//!
//! `mutation_campaign` is the long run (ignored in the normal suite):
//! `MUTATIONS=10000000 cargo test --release -p metaprobe-dataplane --test analyzer_fuzz -- --ignored`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::sync::Arc;

use metaprobe_dataplane::analyze::{Analyzer, AnalyzerConfig};
use metaprobe_dataplane::app::AppConfig;
use metaprobe_dataplane::app::dns::DnsError;
use metaprobe_dataplane::app::raw::{MetaProto, RawSet};
use metaprobe_dataplane::block::BlockList;
use metaprobe_dataplane::counters::AppCount;
use metaprobe_dataplane::counters::WorkerCounters;
use metaprobe_dataplane::forward::Inspect;
use metaprobe_dataplane::table::{self, Table};
use metaprobe_ipfix::encoder::record_limit_for_mtu;
use metaprobe_ipfix::ring::{RecordReceiver, RingConfig, ring};

const HZ: u64 = 1_000_000;

/// An analyzer whose records go to a small ring that the test drains, with
/// small pools and a small flow table so that exhaustion and eviction happen.
fn analyzer() -> (Analyzer, RecordReceiver, Arc<WorkerCounters>) {
    let (sender, receiver) = ring(RingConfig {
        ring_chunks: 4,
        chunk_bytes: 16 * 1024,
        record_limit: record_limit_for_mtu(1500),
    });
    let counters = Arc::new(WorkerCounters::default());
    let cfg = AnalyzerConfig {
        bridges: vec![(0, 1)],
        flow_table_size: 1024,
        timeouts_secs: [300, 5, 60, 30],
        tsc_hz: HZ,
        worker: 0,
        start_unix_100ns: 0,
        start_tsc: 0,
        clock: || 0,
        apps: AppConfig {
            clickstream: true,
            dns: true,
            tls_replies: true,
            http_replies: true,
            stream_slots: 8,
            stream_slot_size: 2048,
            quic_slots: 2,
            meta: true,
            raw: MetaProto::ALL
                .into_iter()
                .fold(RawSet::NONE, |set, p| set.with(p)),
            raw_max_bytes: 200,
            ftp_slots: 2,
            ftp_expected: 4,
            xmpp_slots: 2,
            mail_slots: 2,
            block: true,
        },
        ip_fragment_slots: 4,
        ip_fragment_slot_size: 9216,
        subscribers: None,
        channels: Default::default(),
        radius: Some(metaprobe_dataplane::subscribers::radius_queue()),
        // Blocking acts on whatever the fuzzer makes of these names.
        block: Some(table::handle(
            BlockList::parse("example.com\n*.b.example\nx.example/p\n", 1).unwrap(),
        )),
        block_redirect_url: Some("http://stop.example/".into()),
    };
    let a = Analyzer::new(&cfg, Arc::clone(&counters), Some(sender));
    (a, receiver, counters)
}

/// What the export lcore would do with the chunks, minus the sockets.
fn drain(rx: &RecordReceiver) {
    while let Some(chunk) = rx.pop() {
        rx.recycle(chunk);
    }
}

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// A copy of `seed` with up to 4 bytes changed anywhere (headers or payload)
/// and possibly cut short.
fn mutate(seed: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut f = seed.to_vec();
    let r = rng.next();
    for _ in 0..(r % 5) {
        let e = rng.next();
        if !f.is_empty() {
            let at = (e as usize) % f.len();
            f[at] = (e >> 40) as u8;
        }
    }
    if (r >> 8).is_multiple_of(4) {
        let keep = ((r >> 16) as usize) % (f.len() + 1);
        f.truncate(keep);
    }
    f
}

fn run(n: u64, seed: u64) -> Arc<WorkerCounters> {
    let frames = common::ethernet_frames();
    assert!(frames.len() > 100, "the fixtures give the seeds");
    let (mut a, rx, counters) = analyzer();
    let mut rng = Rng(seed);
    let mut now = 0u64;
    for i in 0..n {
        let r = rng.next();
        let seed_frame = &frames[(r as usize) % frames.len()];
        // Unmutated frames now and then, so that flows get far enough to parse.
        let f = if (r >> 60) < 4 {
            seed_frame.clone()
        } else {
            mutate(seed_frame, &mut rng)
        };
        now += (r >> 20) % 2000;
        a.inspect(((r >> 4) & 1) as u16, &f, now);
        if i % 64 == 0 {
            a.tick(now);
        }
        if i % 4096 == 0 {
            drain(&rx);
        }
    }
    a.finish(now);
    drain(&rx);
    counters
}

#[test]
fn mutated_frames_through_the_analysis() {
    let c = run(200_000, 0x5eed_0001);
    // The run reached the parsers and the export side, and stayed bounded.
    assert!(c.app.get(AppCount::Records) > 0, "no record was produced");
    for reached in [AppCount::SipRecords, AppCount::RawRecords, AppCount::RawCut] {
        assert!(c.app.get(reached) > 0, "{}", reached.name());
    }
    assert!(
        c.flows.created.get() > 1024,
        "the flow table was exercised past its capacity"
    );
    assert!(c.flows.evicted_full.get() > 0);
    use metaprobe_dataplane::counters::SubscriberCount;
    let radius: u64 = [
        SubscriberCount::RadiusInterim,
        SubscriberCount::RadiusMalformed,
    ]
    .iter()
    .map(|&k| c.subscribers.get(k))
    .sum();
    assert!(radius > 0, "RADIUS accounting reached the snooper");
    assert!(c.flows.active.get() <= 1024);
    let stops: u64 = c.decode_stops.iter().map(|s| s.get()).sum();
    assert!(stops > 0, "mutations reached the decoder's error paths");
}

#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn mutation_campaign() {
    let n: u64 = std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let c = run(n, 0x9e37_79b9_7f4a_7c15);
    let dns_errors: u64 = DnsError::ALL.iter().map(|&e| c.app.dns_error(e)).sum();
    let counts: Vec<String> = AppCount::ALL
        .iter()
        .map(|&a| format!("{} {}", a.name(), c.app.get(a)))
        .collect();
    println!(
        "analysis campaign: {n} inputs, {} flows, {}, dns errors {dns_errors}",
        c.flows.created.get(),
        counts.join(" ")
    );
    assert!(c.app.get(AppCount::Records) > 0);
}

/// The DNS parser alone, fed mutated DNS messages of the fixtures (UDP payloads
/// of port-53 frames): no panic, names and RDATA within their bounds.
/// `MUTATIONS=10000000 cargo test --release -p metaprobe-dataplane --test analyzer_fuzz -- --ignored dns_campaign`.
#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn dns_campaign() {
    use metaprobe_dataplane::app::dns::{Answers, RecordBuf};
    use metaprobe_dataplane::wire::decode;
    let n: u64 = std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let messages: Vec<Vec<u8>> = common::ethernet_frames()
        .iter()
        .filter_map(|f| {
            let p = decode(f);
            let (s, d) = p.ports()?;
            (p.udp().is_some() && (s == 53 || d == 53)).then(|| p.payload(f).to_vec())
        })
        .filter(|m| !m.is_empty())
        .collect();
    assert!(messages.len() > 50, "DNS seeds in the fixtures");
    let mut rng = Rng(0x5eed_d0d5);
    let mut buf = RecordBuf::new();
    let (mut records, mut errors) = (0u64, 0u64);
    for _ in 0..n {
        let r = rng.next();
        let m = mutate(&messages[(r as usize) % messages.len()], &mut rng);
        let mut answers = Answers::new(&m);
        while let Some(item) = answers.next(&mut buf) {
            match item {
                Ok(rec) => {
                    assert!(rec.name.len() <= 255);
                    records += 1;
                }
                Err(_) => errors += 1,
            }
        }
    }
    println!("dns campaign: {n} messages, {records} records, {errors} errors counted");
    assert!(records > 0 && errors > 0);
}
