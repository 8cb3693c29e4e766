//! ns per call of the HTTP parser on real bytes (the shared corpus captures in
//! `tests/fixtures`): a curl GET, a browser GET with Referer and Cookie split
//! over two segments (parsed whole), a 2 KB-URI request, two pipelined GETs,
//! a reply head, and a chunked reply's body framing.
//!
//! `cargo bench -p metaprobe-dataplane --bench http`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::http::HttpState;
use metaprobe_dataplane::wire::{decode, decode_ip};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::fixtures_dir;
use pcap_file::DataLink;

const CAP: usize = 8192;

/// The in-order payload stream one side (source port `port`) of the first
/// connection using that port sent.
fn stream(name: &str, port: u16) -> Vec<u8> {
    let mut segs = BTreeMap::new();
    let mut base = None;
    for f in read_frames(&fixtures_dir().join(name)) {
        let (link, data) = (f.link, f.data);
        let p = if link == DataLink::ETHERNET {
            decode(&data)
        } else {
            decode_ip(&data)
        };
        let (Some(tcp), Some((sp, _))) = (p.tcp(), p.ports()) else {
            continue;
        };
        let payload = p.payload(&data);
        if sp != port || payload.is_empty() {
            continue;
        }
        let base = *base.get_or_insert(tcp.seq);
        segs.entry(tcp.seq.wrapping_sub(base))
            .or_insert_with(|| payload.to_vec());
    }
    let mut out = vec![];
    for (off, p) in segs {
        let skip = out.len().saturating_sub(off as usize);
        if off as usize <= out.len() && skip < p.len() {
            out.extend_from_slice(&p[skip..]);
        }
    }
    out
}

/// The first request head of a client stream.
fn first_request(s: &[u8]) -> Vec<u8> {
    let step = HttpState::new().requests(s, CAP);
    assert!(step.status.done().is_some());
    s[..step.consumed].to_vec()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("http");
    g.throughput(Throughput::Elements(1));
    let cases = [
        (
            "request_curl_get",
            first_request(&stream("http_301_location.pcapng", 42170)),
        ),
        (
            "request_browser_referer_cookie",
            first_request(&stream("http_basic_auth_401.pcap", 54337)),
        ),
        (
            "request_2KB_uri_referer_cookie",
            first_request(&stream("http_wrapped_header_referer_cookie.pcap", 61462)),
        ),
    ];
    for (label, head) in &cases {
        g.bench_function(format!("{label}_{}B", head.len()), |b| {
            b.iter(|| {
                let mut st = HttpState::new();
                black_box(
                    st.requests(black_box(head), CAP)
                        .status
                        .done()
                        .unwrap()
                        .host
                        .len(),
                )
            })
        });
    }
    let pipelined = stream("http_pipelined_2req_1seg.pcap", 34786);
    g.throughput(Throughput::Elements(2));
    g.bench_function("two_pipelined_requests", |b| {
        b.iter(|| {
            let mut st = HttpState::new();
            let first = st.requests(black_box(&pipelined), CAP);
            let second = st.requests(&pipelined[first.consumed..], CAP);
            black_box((
                first.status.done().is_some(),
                second.status.done().is_some(),
            ))
        })
    });
    g.throughput(Throughput::Elements(1));
    let reply = stream("http_301_location.pcapng", 80);
    let reply_head = {
        let step = HttpState::new().replies(&reply, CAP);
        assert_eq!(step.status.done().unwrap().status, 301);
        reply[..step.consumed].to_vec()
    };
    g.bench_function(format!("reply_301_location_{}B", reply_head.len()), |b| {
        b.iter(|| {
            let mut st = HttpState::new();
            black_box(
                st.replies(black_box(&reply_head), CAP)
                    .status
                    .done()
                    .unwrap()
                    .status,
            )
        })
    });
    // A chunked reply: head + the whole body's framing (sizes, data by count).
    let chunked = stream("pppoe_session_http.pcap", 80);
    let mut check = HttpState::new();
    let head = check.replies(&chunked, 1 << 20);
    assert!(head.status.done().is_some());
    let rest = check.replies(&chunked[head.consumed..], 1 << 20);
    assert_eq!(rest.status, Outcome::Incomplete);
    assert_eq!(head.consumed + rest.consumed, chunked.len());
    g.throughput(Throughput::Bytes(chunked.len() as u64));
    g.bench_function(format!("reply_chunked_whole_{}B", chunked.len()), |b| {
        b.iter(|| {
            let mut st = HttpState::new();
            let h = st.replies(black_box(&chunked), 1 << 20);
            black_box(st.replies(&chunked[h.consumed..], 1 << 20).consumed)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
