//! ns per packet for `wire::decode` on a few packet shapes and on the fixture corpus.
//!
//! `cargo bench -p metaprobe-dataplane --bench decode`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::wire::decode;

fn eth(t: u16) -> Vec<u8> {
    let mut b = vec![
        0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb,
    ];
    b.extend_from_slice(&t.to_be_bytes());
    b
}

fn ipv4(proto: u8, payload: usize) -> Vec<u8> {
    let mut b = vec![0x45, 0];
    b.extend_from_slice(&((20 + payload) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 1, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2]);
    b
}

fn ipv6(next: u8, payload: usize) -> Vec<u8> {
    let mut b = vec![0x60, 0, 0, 0];
    b.extend_from_slice(&(payload as u16).to_be_bytes());
    b.extend_from_slice(&[next, 64]);
    b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    b.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    b
}

fn tcp() -> Vec<u8> {
    let mut b = vec![
        0xd4, 0x96, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x80, 0x18, 0xff, 0xff, 0, 0, 0, 0,
    ];
    b.extend_from_slice(&[1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2]); // NOP NOP timestamps
    b
}

fn udp(payload: usize) -> Vec<u8> {
    let mut b = vec![0x80, 0x1b, 0, 53];
    b.extend_from_slice(&((8 + payload) as u16).to_be_bytes());
    b.extend_from_slice(&[0, 0]);
    b
}

fn shapes() -> Vec<(&'static str, Vec<u8>)> {
    let body = vec![0x61u8; 200];
    let t = [tcp(), body.clone()].concat();
    let u = [udp(64), vec![0; 64]].concat();
    let hbh_dst = [60u8, 0, 1, 4, 0, 0, 0, 0, 6, 0, 1, 4, 0, 0, 0, 0];
    vec![
        (
            "eth_ipv4_tcp",
            [eth(0x0800), ipv4(6, t.len()), t.clone()].concat(),
        ),
        (
            "qinq_88a8_ipv4_tcp",
            [
                eth(0x88a8),
                vec![0, 30, 0x81, 0, 0, 100, 8, 0],
                ipv4(6, t.len()),
                t.clone(),
            ]
            .concat(),
        ),
        (
            "mpls3_ipv4_udp",
            [
                eth(0x8847),
                vec![
                    0, 0x06, 0x40, 0xff, 0, 0x0c, 0x80, 0xff, 0, 0x12, 0xc1, 0xff,
                ],
                ipv4(17, u.len()),
                u.clone(),
            ]
            .concat(),
        ),
        (
            "pppoe_ipv6_udp",
            [
                eth(0x8864),
                vec![0x11, 0, 0, 0x2d],
                ((42 + u.len()) as u16).to_be_bytes().to_vec(),
                vec![0, 0x57],
                ipv6(17, u.len()),
                u.clone(),
            ]
            .concat(),
        ),
        (
            "ipv6_2ext_tcp",
            [
                eth(0x86dd),
                ipv6(0, 16 + t.len()),
                hbh_dst.to_vec(),
                t.clone(),
            ]
            .concat(),
        ),
        (
            "truncated_ipv4",
            [eth(0x0800), ipv4(6, 100)[..12].to_vec()].concat(),
        ),
    ]
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.throughput(Throughput::Elements(1));
    for (name, frame) in shapes() {
        g.bench_function(name, |b| b.iter(|| decode(black_box(&frame))));
    }
    g.finish();

    let corpus = common::ethernet_frames();
    let mut g = c.benchmark_group("decode_corpus");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("fixture_frames", |b| {
        b.iter(|| {
            let mut n = 0u32;
            for f in &corpus {
                n = n.wrapping_add(decode(black_box(f)).payload.len);
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
