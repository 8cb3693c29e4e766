//! ns per packet for flow-table lookups: hits on a warm table, and new flows that
//! evict the oldest on a full one.
//!
//! `cargo bench -p metaprobe-dataplane --bench flow`
#![allow(clippy::indexing_slicing)]

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::flow::{FlowKey, FlowTable, SessionIds, Timeouts};
use metaprobe_dataplane::wire::TcpFlags;

const CAP: usize = 65_536;

fn key(i: u32) -> (FlowKey, metaprobe_dataplane::flow::Endpoint) {
    let src = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 | i));
    let dst = IpAddr::V4(Ipv4Addr::from(0xc0a8_0001));
    FlowKey::new(src, (i % 50_000) as u16 + 10_000, dst, 443, 6, 0)
}

fn bench(c: &mut Criterion) {
    let timeouts = Timeouts::from_secs(300, 5, 60, 30, 1_000_000_000);
    let mut g = c.benchmark_group("flow");
    g.throughput(Throughput::Elements(1));

    let mut t: FlowTable<u64> = FlowTable::new(CAP, timeouts, SessionIds::new(0, 0));
    let keys: Vec<_> = (0..(CAP as u32 / 2)).map(key).collect();
    for (i, (k, s)) in keys.iter().enumerate() {
        t.observe_key(*k, *s, Some(TcpFlags::SYN), true, i as u64, |_, _| {});
    }
    let mut i = 0usize;
    let mut now = CAP as u64;
    g.bench_function("hit_32k_of_64k", |b| {
        b.iter(|| {
            // A stride through the keys so consecutive lookups touch different lines.
            i = (i + 7919) % keys.len();
            now += 1;
            let (k, s) = keys[i];
            black_box(t.observe_key(k, s.other(), Some(TcpFlags::ACK), false, now, |_, _| {}))
        })
    });

    let mut full: FlowTable<u64> = FlowTable::new(CAP, timeouts, SessionIds::new(0, 0));
    let mut n = 0u32;
    g.bench_function("new_flow_evicting_oldest", |b| {
        b.iter(|| {
            n = n.wrapping_add(1);
            let (k, s) = key(n);
            black_box(
                full.observe_key(k, s, Some(TcpFlags::SYN), true, u64::from(n), |f, r| {
                    black_box((f.session_id, r));
                }),
            )
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
