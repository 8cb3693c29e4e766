//! ns per call of the TLS and QUIC parsers on real bytes (the shared corpus
//! captures in `tests/fixtures`): a 1.7 KB post-quantum ClientHello in one and in
//! two records, a TLS 1.2 server flight up to the certificate's name, the QUIC
//! Initial key derivation, and QUIC client Initials decrypted and parsed.
//!
//! `cargo bench -p metaprobe-dataplane --bench tls_quic`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::quic::{InitialKeys, QuicInitialState, Side, VERSION_1};
use metaprobe_dataplane::app::tls;
use metaprobe_dataplane::wire::{Packet, decode, decode_ip};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::fixtures_dir;
use pcap_file::DataLink;

/// (decoded packet, frame bytes) of a fixture capture.
fn capture(name: &str) -> Vec<(Packet, Vec<u8>)> {
    read_frames(&fixtures_dir().join(name))
        .into_iter()
        .map(|f| {
            let packet = if f.link == DataLink::ETHERNET {
                decode(&f.data)
            } else {
                decode_ip(&f.data)
            };
            (packet, f.data)
        })
        .collect()
}

/// The payloads one side (source port `port`) sent, in capture order.
fn payloads(name: &str, port: u16) -> Vec<Vec<u8>> {
    capture(name)
        .iter()
        .filter(|(p, _)| p.ports().is_some_and(|(s, _)| s == port))
        .map(|(p, d)| p.payload(d).to_vec())
        .filter(|p| !p.is_empty())
        .collect()
}

fn reframe_in_two(stream: &[u8]) -> Vec<u8> {
    let msg = &stream[5..];
    let (a, b) = msg.split_at(msg.len() / 2);
    let mut out = vec![];
    for part in [a, b] {
        out.extend([0x16, 0x03, 0x01]);
        out.extend((part.len() as u16).to_be_bytes());
        out.extend(part);
    }
    out
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("tls");
    g.throughput(Throughput::Elements(1));
    let hello = payloads("tls13_clienthello_mlkem_split_2seg.pcap", 49927)[..2].concat();
    assert!(tls::client_hello(&hello).done().is_some());
    g.bench_function("client_hello_mlkem_1720B_1record", |b| {
        b.iter(|| black_box(tls::client_hello(black_box(&hello))))
    });
    let two = reframe_in_two(&hello);
    assert!(tls::client_hello(&two).done().is_some());
    g.bench_function("client_hello_mlkem_1720B_2records", |b| {
        b.iter(|| black_box(tls::client_hello(black_box(&two))))
    });
    let server = payloads("tls12_curl_ecdhe_rsa_cert_chain.pcap", 443).concat();
    assert!(tls::server_flight(&server).done().is_some());
    g.bench_function("server_flight_tls12_to_certificate_cn", |b| {
        b.iter(|| black_box(tls::server_flight(black_box(&server))))
    });
    g.finish();

    let mut g = c.benchmark_group("quic");
    g.throughput(Throughput::Elements(1));
    let dcid = [0x32, 0x33, 0xff, 0x7a, 0x63, 0xcd, 0x9d, 0x38];
    g.bench_function("derive_client_initial_keys", |b| {
        b.iter(|| {
            black_box(InitialKeys::derive(
                VERSION_1,
                Side::Client,
                black_box(&dcid),
            ))
        })
    });
    let gstatic = payloads("quic_v1_ipv6_gstatic_1initial.pcap", 57349);
    let mut s = Box::new(QuicInitialState::new());
    assert!(matches!(
        s.on_client_datagram(&gstatic[0]),
        Outcome::Done(_)
    ));
    g.bench_function("initial_1packet_derive_decrypt_parse", |b| {
        b.iter(|| {
            s.reset();
            black_box(s.on_client_datagram(black_box(&gstatic[0])))
        })
    });
    let chrome = payloads("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap", 52755);
    g.throughput(Throughput::Elements(2));
    g.bench_function("initial_2packets_unordered_derive_decrypt_parse", |b| {
        b.iter(|| {
            s.reset();
            black_box(s.on_client_datagram(black_box(&chrome[1])));
            black_box(s.on_client_datagram(black_box(&chrome[0])))
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("initial_seen_after_done", |b| {
        b.iter(|| black_box(s.on_client_datagram(black_box(&chrome[0]))))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
