//! The analysis of a worker (decode → flow → parsers → encoder) over capture
//! files, for counting instructions per packet under callgrind: a run with the
//! frames minus a run with none is the frames' cost alone (start-up excluded),
//! the same whatever the machine's load. `bench/instructions.sh` runs it.
//!
//! `analysis_cost [--logins] [--no-raw] [--both-ports] [--frames] [--passes N] FILE…`:
//! `--logins` gives every address a login (a subscriber map of 0.0.0.0/0 and
//! ::/0, RADIUS snooping on); `--no-raw` exports no raw metadata (otherwise
//! every protocol's; the throughput bench leaves `ipfix_meta_raw` at its
//! default, none); `--both-ports` hands every burst to the subscriber port and
//! then to the internet port, as the throughput bench's two ports, each
//! replaying the whole capture, deliver it (otherwise the subscriber port
//! alone, as the end-to-end tests feed captures); without `--frames` no frame
//! is analysed (the start-up run); `--passes N` replays the frames N times, as
//! the bench's looping ports do: the cost of N passes minus that of one is the
//! steady state, where the flows already exist. The last line counts the
//! packets analysed (`analysed`), both ports' with `--both-ports`.

use std::path::Path;
use std::sync::Arc;

use metaprobe_dataplane::analyze::{Analyzer, AnalyzerConfig};
use metaprobe_dataplane::app::AppConfig;
use metaprobe_dataplane::app::raw::{MetaProto, RawSet};
use metaprobe_dataplane::counters::{AppCount, WorkerCounters};
use metaprobe_dataplane::forward::{BURST_SIZE, Inspect};
use metaprobe_dataplane::subscribers::{self, SubscriberMap};
use metaprobe_ipfix::encoder::record_limit_for_mtu;
use metaprobe_ipfix::ring::{RingConfig, ring};
use metaprobe_test_support::capture::read_frames;

const HZ: u64 = 1_000_000_000;

fn frames_of(path: &str) -> Vec<Vec<u8>> {
    read_frames(Path::new(path))
        .into_iter()
        .map(|f| f.data)
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let logins = args.iter().any(|a| a == "--logins");
    let analyse = args.iter().any(|a| a == "--frames");
    let raw = !args.iter().any(|a| a == "--no-raw");
    let ports: &[u16] = if args.iter().any(|a| a == "--both-ports") {
        &[0, 1]
    } else {
        &[0]
    };
    let passes: usize = match args.iter().position(|a| a == "--passes") {
        Some(i) => args
            .get(i + 1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("--passes needs a count")),
        None => 1,
    };
    let frames: Vec<Vec<u8>> = args
        .iter()
        .enumerate()
        .filter(|&(i, a)| {
            !a.starts_with("--")
                && i.checked_sub(1)
                    .and_then(|j| args.get(j))
                    .is_none_or(|prev| prev != "--passes")
        })
        .map(|(_, a)| a)
        .flat_map(|p| frames_of(p))
        .collect();
    let (sender, receiver) = ring(RingConfig {
        ring_chunks: 64,
        chunk_bytes: 64 * 1024,
        record_limit: record_limit_for_mtu(1500),
    });
    let map = SubscriberMap::parse("0.0.0.0/0 subscriber\n::/0 subscriber6\n", 1)
        .unwrap_or_else(|e| panic!("{e}"));
    let cfg = AnalyzerConfig {
        bridges: vec![(0, 1)],
        flow_table_size: 65_536,
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
            stream_slots: 4096,
            stream_slot_size: 4096,
            quic_slots: 1024,
            meta: true,
            raw: if raw {
                MetaProto::ALL
                    .into_iter()
                    .fold(RawSet::NONE, |set, p| set.with(p))
            } else {
                RawSet::NONE
            },
            raw_max_bytes: 1400,
            ftp_slots: 1024,
            ftp_expected: 256,
            xmpp_slots: 1024,
            mail_slots: 256,
            block: false,
        },
        ip_fragment_slots: 1024,
        ip_fragment_slot_size: 9216,
        subscribers: logins.then(|| subscribers::handle(map)),
        channels: Default::default(),
        radius: logins.then(subscribers::radius_queue),
        // The cost of a run without a block list: every packet forwarded.
        block: None,
        block_redirect_url: None,
    };
    let counters = Arc::new(WorkerCounters::default());
    let mut a = Analyzer::new(&cfg, Arc::clone(&counters), Some(sender));
    let mut now = 0u64;
    let mut n = 0usize;
    if analyse {
        // One buffer of views for every burst: the harness allocates nothing per burst.
        let mut views: Vec<&[u8]> = Vec::with_capacity(BURST_SIZE);
        for burst in std::iter::repeat_n(&frames, passes).flat_map(|f| f.chunks(BURST_SIZE)) {
            views.clear();
            views.extend(burst.iter().map(Vec::as_slice));
            for &port in ports {
                a.inspect_burst(port, &views, now);
                now += HZ / 100_000;
                a.tick(now);
                n += burst.len();
                while let Some(chunk) = receiver.pop() {
                    receiver.recycle(chunk);
                }
            }
        }
    }
    a.finish(now);
    // What the analysis did, for reading a profile: the non-zero counters.
    let did: Vec<String> = AppCount::ALL
        .iter()
        .filter_map(|&c| {
            let v = counters.app.get(c);
            (v != 0).then(|| format!("{} {v}", c.name()))
        })
        .collect();
    println!(
        "frames {} analysed {n} records {} ({})",
        frames.len(),
        counters.app.get(AppCount::Records),
        did.join(" ")
    );
}
