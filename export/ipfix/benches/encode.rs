//! Records/s encoded, for clickstream and DNS records:
//! - `worker/*`: a typed record encoded into a recycled chunk (the worker's cost);
//! - `export/*`: an encoded record copied into a session's message, messages
//!   handed out (the export lcore's cost per record and collector);
//! - `direct/*`: a typed record encoded straight into a session's message.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_ipfix::encoder::{Chunk, record_limit_for_mtu};
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::{Session, SessionConfig};
use metaprobe_ipfix::template::{Record, Stream};
use std::hint::black_box;

const T0: u32 = 1_700_000_000;
const BATCH: u64 = 64;

fn worker<R: Record>(c: &mut Criterion, name: &str, r: &R) {
    let limit = record_limit_for_mtu(1500);
    let mut chunk = Chunk::with_capacity(64 * 1024);
    let mut g = c.benchmark_group("worker");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function(name, |b| {
        b.iter(|| {
            chunk.clear();
            for _ in 0..BATCH {
                let _ = black_box(chunk.push(black_box(r), limit));
            }
        })
    });
    g.finish();
}

fn session(stream: Stream) -> Session {
    let mut s =
        Session::new(SessionConfig::udp(stream, 1500, false, 0)).unwrap_or_else(|e| panic!("{e}"));
    let mut buf = Vec::new();
    while s.poll_transmit(T0, &mut buf).is_some() {}
    s
}

fn export<R: Record>(c: &mut Criterion, name: &str, stream: Stream, r: &R) {
    let limit = record_limit_for_mtu(1500);
    let mut chunk = Chunk::with_capacity(64 * 1024);
    for _ in 0..BATCH {
        let _ = chunk.push(r, limit);
    }
    let mut s = session(stream);
    let mut buf = Vec::with_capacity(1500);
    let mut g = c.benchmark_group("export");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function(name, |b| {
        b.iter(|| {
            for (id, rec) in chunk.iter() {
                while s.push_record(T0, id, rec).is_err() {
                    let _ = black_box(s.poll_transmit(T0, &mut buf));
                }
            }
        })
    });
    g.finish();
}

fn direct<R: Record>(c: &mut Criterion, name: &str, stream: Stream, r: &R) {
    let mut s = session(stream);
    let mut buf = Vec::with_capacity(1500);
    let mut g = c.benchmark_group("direct");
    g.throughput(Throughput::Elements(BATCH));
    g.bench_function(name, |b| {
        b.iter(|| {
            for _ in 0..BATCH {
                while s.push(T0, black_box(r)).is_err() {
                    let _ = black_box(s.poll_transmit(T0, &mut buf));
                }
            }
        })
    });
    g.finish();
}

fn benches(c: &mut Criterion) {
    let click = samples::clickstream(T0, false);
    let dns = samples::dns(T0, false);
    worker(c, "clickstream", &click);
    worker(c, "dns", &dns);
    export(c, "clickstream", Stream::Clickstream, &click);
    export(c, "dns", Stream::Dns, &dns);
    direct(c, "clickstream", Stream::Clickstream, &click);
    direct(c, "dns", Stream::Dns, &dns);
}

criterion_group!(encode, benches);
criterion_main!(encode);
