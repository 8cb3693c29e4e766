//! ns per DNS response for `app::dns::Answers` (every record taken, names
//! decompressed) on a few real responses and on every DNS response of the fixture
//! corpus; and the DNS-over-TCP framer on a stream of framed responses.
//!
//! `cargo bench -p metaprobe-dataplane --bench dns`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::dns::{Answers, Header, RecordBuf, TCP_MESSAGE_MAX, tcp_frame};
use metaprobe_dataplane::wire::decode;
use metaprobe_test_support::hex::unhex;

/// UDP port-53 payloads of the fixture captures that are DNS responses.
fn corpus_responses() -> Vec<Vec<u8>> {
    common::ethernet_frames()
        .iter()
        .filter_map(|f| {
            let p = decode(f);
            let (s, d) = p.ports()?;
            (p.udp().is_some() && (s == 53 || d == 53) && !p.is_fragment())
                .then(|| p.payload(f).to_vec())
        })
        .filter(|m| Header::parse(m).is_ok_and(|h| h.is_response()))
        .collect()
}

/// Takes every record; returns a checksum so nothing is optimised away.
fn walk(msg: &[u8], buf: &mut RecordBuf) -> usize {
    let mut it = Answers::new(msg);
    let mut n = 0;
    while let Some(r) = it.next(buf) {
        if let Ok(r) = r {
            n += r.name.len() + r.rdata.len() + usize::from(r.rrtype.0);
        }
    }
    n
}

fn bench(c: &mut Criterion) {
    let samples = [
        // www.netbsd.org A (1 answer).
        (
            "a_1_answer",
            unhex("75c08180000100010000000003777777066e6574627364036f72670000010001
                 c00c00010001000140ef0004cc98be0c"),
        ),
        // google.com MX: 6 answers with compressed targets, 6 additionals (not read).
        (
            "mx_6_answers",
            unhex("f76f8180000100060000000606676f6f676c6503636f6d00000f0001
                 c00c000f000100000228000a002805736d747034c00cc00c000f000100000228000a000a05736d747035c00c
                 c00c000f000100000228000a000a05736d747036c00cc00c000f000100000228000a000a05736d747031c00c
                 c00c000f000100000228000a000a05736d747032c00cc00c000f000100000228000a002805736d747033c00c
                 c02a00010001000002580004d8ef251ac0400001000100000258000440e9a719c0560001000100000258000442660919
                 c06c00010001000002580004d8ef3919c08200010001000002580004d8ef2519c09800010001000002580004d8ef391a"),
        ),
        // CNAME → CNAME → 8 × A.
        (
            "cname_chain_10_answers",
            unhex("663181800001000a000000010a34312d636f75726965720470757368056170706c6503636f6d0000010001
                 c00c00050001000024d7002602343112636f75726965722d707573682d6170706c6503636f6d06616b61646e73036e657400
                 c037000500010000003b00201265752d6e6f7274682d636f75726965722d340a707573682d6170706c65c04d
                 c069000100010000001100041139928bc069000100010000001100041139928ac0690001000100000011000411399287
                 c0690001000100000011000411399288c0690001000100000011000411399289c0690001000100000011000411399284
                 c0690001000100000011000411399286c06900010001000000110004113992850000290200000000000000"),
        ),
        // NXDOMAIN: the question stand-in.
        (
            "nxdomain",
            unhex("266d8583000100000000000003777777076578616d706c65076e6f7467696e6800001c0001"),
        ),
    ];
    let mut buf = RecordBuf::new();
    let mut g = c.benchmark_group("dns_response");
    for (name, msg) in &samples {
        g.throughput(Throughput::Elements(1));
        g.bench_function(*name, |b| b.iter(|| walk(black_box(msg), &mut buf)));
    }
    let corpus = corpus_responses();
    assert!(corpus.len() > 50, "{}", corpus.len());
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function(format!("corpus_{}_responses", corpus.len()), |b| {
        b.iter(|| {
            corpus
                .iter()
                .map(|m| walk(black_box(m), &mut buf))
                .sum::<usize>()
        })
    });
    g.finish();

    // DNS over TCP: the corpus responses framed, fed in 1448-octet segments
    // into a window the way a worker's reassembly slot gathers them.
    let mut stream = Vec::new();
    for m in &corpus {
        stream.extend_from_slice(&(m.len() as u16).to_be_bytes());
        stream.extend_from_slice(m);
    }
    let mut g = c.benchmark_group("dns_tcp");
    g.throughput(Throughput::Elements(corpus.len() as u64));
    g.bench_function("frame_and_parse_corpus_1448_segments", |b| {
        let mut window = Vec::with_capacity(TCP_MESSAGE_MAX);
        b.iter(|| {
            window.clear();
            let mut n = 0;
            for seg in stream.chunks(1448) {
                window.extend_from_slice(black_box(seg));
                let mut used = 0;
                while let Outcome::Done(f) = tcp_frame(&window[used..], TCP_MESSAGE_MAX) {
                    n += walk(f.message, &mut buf);
                    used += f.framed_len;
                }
                window.drain(..used);
            }
            n
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
