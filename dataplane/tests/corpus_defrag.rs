//! IP reassembly on the corpus's fragmented captures (`tests/fixtures`, see
//! `fixtures/SOURCES.md`): every frame decoded with `wire::decode` and pushed through
//! `defrag::Defrag`, the datagrams it gives back decoded with `decode_ip` and compared
//! with tshark's truth.
//!
//! * `http_request_ipv4_fragmented.pcap`: an HTTP GET in 11 IPv4 fragments (a TCP
//!   segment of 1,452 octets sent as 11 × 144); tshark reassembles it in frame 11.
//!   The datagram must give the request line and the headers tshark lists.
//! * `dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap`: seven UDP responses in
//!   IPv4 and IPv6 fragments (tshark reassembles them in frames 3, 6, 9, 12, 17, 39,
//!   42). Every answer row of `*.dns_answers.tsv` for those frames must come out of
//!   `app::dns::Answers` on the reassembled message — including the four RRSIGs that
//!   lie past the first fragment, which `corpus_dns.rs` counts as needing reassembly.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use common::{fixtures, read_capture};
use metaprobe_dataplane::app::dns::{Answers, RecordBuf};
use metaprobe_dataplane::defrag::{Defrag, DefragStats, HEADER_ROOM};
use metaprobe_dataplane::wire::{Ip, decode, decode_ip};
use metaprobe_test_support::hex::hex;
use metaprobe_test_support::truth::read_tsv_sparse;
use proptest::prelude::*;

const HTTP: &str = "http_request_ipv4_fragmented.pcap";
const DNS: &str = "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap";

fn frames(name: &str) -> Vec<Vec<u8>> {
    read_capture(&fixtures().join(name))
        .into_iter()
        .map(|(_, d)| d)
        .collect()
}

/// Every datagram reassembled from `frames` (fed in order, one tick per frame), with
/// the 1-based number of the frame that completed it.
fn reassemble(df: &mut Defrag, frames: &[Vec<u8>]) -> Vec<(usize, Vec<u8>)> {
    let mut out = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let p = decode(f);
        if let Some(r) = df.push(&p, f, 0, i as u64) {
            assert!(!r.packet.is_fragment() && r.packet.is_complete());
            assert_eq!(r.packet, decode_ip(r.datagram));
            out.push((i + 1, r.datagram.to_vec()));
        }
    }
    out
}

#[test]
fn http_get_in_eleven_ipv4_fragments() {
    let frames = frames(HTTP);
    assert_eq!(frames.len(), 11);
    assert!(frames.iter().all(|f| decode(f).is_fragment()));
    let mut df = Defrag::new(16, 9216, 100);
    let got = reassemble(&mut df, &frames);
    assert_eq!(got.len(), 1);
    let (frame, datagram) = &got[0];
    assert_eq!(*frame, 11); // where tshark reassembled it

    let p = decode_ip(datagram);
    let ip = p.ipv4().unwrap();
    assert!(!ip.more_fragments && ip.frag_offset == 0);
    assert_eq!(usize::from(ip.total_len), datagram.len());
    assert_eq!(ip.ident, 0x425f);
    let tcp = p.tcp().unwrap();
    assert_eq!((tcp.src_port, tcp.dst_port), (64415, 80));

    let truth = read_tsv_sparse(&fixtures().join(format!("{HTTP}.truth.tsv")));
    let want = truth
        .iter()
        .find(|r| r["section"] == "http_request")
        .unwrap();
    assert_eq!(want["frame.number"], "11");
    let payload = p.payload(datagram);
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(payload).unwrap();
    assert!(status.is_complete(), "the whole head is in the datagram");
    assert_eq!(req.method, Some(want["http.request.method"].as_str()));
    assert_eq!(req.path, Some(want["http.request.uri"].as_str()));
    assert_eq!(
        format!("HTTP/1.{}", req.version.unwrap()),
        want["http.request.version"]
    );
    let header = |name: &str| -> String {
        let h = req
            .headers
            .iter()
            .find(|h| h.name.eq_ignore_ascii_case(name));
        String::from_utf8(h.unwrap().value.to_vec()).unwrap()
    };
    assert_eq!(header("Host"), want["http.host"]);
    assert_eq!(header("User-Agent"), want["http.user_agent"]);
    assert_eq!(header("Referer"), want["http.referer"]);
    assert_eq!(header("Cookie"), want["http.cookie"]);
    assert!(payload.starts_with(b"GET /convert_data.js?partner_id=29 HTTP/1.1\r\n"));

    assert_eq!(
        df.stats(),
        DefragStats {
            fragments: 11,
            reassembled: 1,
            ..DefragStats::default()
        }
    );
    assert_eq!(df.in_use(), 0);
}

/// A DNS answer as compared with the truth rows.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    frame: usize,
    src: IpAddr,
    dst: IpAddr,
    psrc: u16,
    pdst: u16,
    domain: String,
    rrtype: u16,
    rrclass: u16,
    ttl: u32,
    rdata: String,
}

/// The answers of a UDP DNS message in `datagram` (or of the UDP payload of `frame`).
fn answers(frame: usize, bytes: &[u8], raw_ip: bool, errors: &mut usize) -> Vec<Rec> {
    let p = if raw_ip {
        decode_ip(bytes)
    } else {
        decode(bytes)
    };
    let (Some(src), Some(dst), Some(udp)) = (p.src_addr(), p.dst_addr(), p.udp()) else {
        return Vec::new();
    };
    let mut buf = RecordBuf::new();
    let mut it = Answers::new(p.payload(bytes));
    let mut out = Vec::new();
    while let Some(r) = it.next(&mut buf) {
        match r {
            Ok(r) => out.push(Rec {
                frame,
                src,
                dst,
                psrc: udp.src_port,
                pdst: udp.dst_port,
                domain: String::from_utf8(r.name.to_vec()).unwrap(),
                rrtype: r.rrtype.0,
                rrclass: r.rrclass.0,
                ttl: r.ttl,
                rdata: hex(r.rdata),
            }),
            Err(_) => *errors += 1,
        }
    }
    out
}

#[test]
fn dns_responses_in_ipv4_and_ipv6_fragments() {
    let frames = frames(DNS);
    let mut df = Defrag::new(16, 9216, 100);
    let got = reassemble(&mut df, &frames);
    let done: Vec<usize> = got.iter().map(|(f, _)| *f).collect();
    assert_eq!(done, [3, 6, 9, 12, 17, 39, 42]);
    let families: Vec<u8> = got
        .iter()
        .map(|(_, d)| match decode_ip(d).ip {
            Ip::V4(_) => 4,
            Ip::V6(_) => 6,
            Ip::None => 0,
        })
        .collect();
    assert_eq!(families, [4, 6, 6, 4, 4, 6, 4]);

    let mut errors = 0;
    let mut ours: Vec<Rec> = got
        .iter()
        .flat_map(|(f, d)| answers(*f, d, true, &mut errors))
        .collect();
    assert_eq!(errors, 0, "no message is cut any more");

    // The truth: every answer row of those frames (UDP), in message order.
    let rows = read_tsv_sparse(&fixtures().join(format!("{DNS}.dns_answers.tsv")));
    let mut want = Vec::new();
    let mut alts: BTreeMap<usize, Vec<String>> = BTreeMap::new();
    for r in &rows {
        let frame: usize = r["frame"].parse().unwrap();
        if !done.contains(&frame) {
            continue;
        }
        assert_eq!(r["transport"], "0");
        if let Some(a) = r.get("rdata_alt") {
            alts.insert(want.len(), a.split('|').map(str::to_string).collect());
        }
        want.push(Rec {
            frame,
            src: r["src"].parse().unwrap(),
            dst: r["dst"].parse().unwrap(),
            psrc: r["psrc"].parse().unwrap(),
            pdst: r["pdst"].parse().unwrap(),
            domain: r.get("domain").cloned().unwrap_or_default(),
            rrtype: r["rrtype"].parse().unwrap(),
            rrclass: r["rrclass"].parse().unwrap(),
            ttl: r["ttl"].parse().unwrap(),
            rdata: r.get("rdata").cloned().unwrap_or_default(),
        });
    }
    assert_eq!(want.len(), 22);
    assert_eq!(ours.len(), want.len(), "{ours:#?}");
    for (k, (g, w)) in ours.iter_mut().zip(&want).enumerate() {
        if alts.get(&k).is_some_and(|a| a.contains(&g.rdata)) {
            g.rdata.clone_from(&w.rdata);
        }
        assert_eq!(g, w, "answer {k}");
    }

    // What reassembly adds: the first fragments alone give 18 of the 22 answers (and
    // four truncated messages); the other 4 are the last RRSIG of the DNSKEY responses.
    let mut first_errors = 0;
    let first: Vec<Rec> = frames
        .iter()
        .enumerate()
        .filter(|(_, f)| {
            let p = decode(f);
            p.is_fragment() && p.udp().is_some()
        })
        .flat_map(|(i, f)| answers(i + 1, f, false, &mut first_errors))
        .collect();
    assert_eq!((first.len(), first_errors), (18, 4));
    let only_reassembled: Vec<&Rec> = want
        .iter()
        .filter(|w| {
            !first
                .iter()
                .any(|g| g.rdata == w.rdata && g.rrtype == w.rrtype && g.src == w.src)
        })
        .collect();
    assert_eq!(only_reassembled.len(), 4, "{only_reassembled:#?}");
    assert!(only_reassembled.iter().all(|w| w.rrtype == 46));

    let s = df.stats();
    assert_eq!((s.reassembled, s.duplicates, s.overlaps), (7, 0, 0));
    assert_eq!(
        (s.timed_out, s.evicted, s.malformed, s.truncated),
        (0, 0, 0, 0)
    );
    assert_eq!(s.fragments, 14);
    assert_eq!(df.in_use(), 0);
}

#[test]
fn corpus_fragments_in_one_small_pool() {
    // Both captures through one pool of two slots, fragments interleaved: with the
    // fragments of each datagram adjacent nothing is evicted.
    let mut all = frames(HTTP);
    all.extend(frames(DNS));
    let mut df = Defrag::new(2, 2048, 1000);
    let got = reassemble(&mut df, &all);
    assert_eq!(got.len(), 8);
    assert_eq!(df.stats().evicted, 0);
}

/// The fragment frames of both captures and the datagrams they make, in order.
fn corpus() -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let mut all = frames(HTTP);
    all.extend(frames(DNS));
    let fragments: Vec<Vec<u8>> = all
        .into_iter()
        .filter(|f| decode(f).is_fragment())
        .collect();
    let mut df = Defrag::new(16, 9216, 1000);
    let datagrams = reassemble(&mut df, &fragments)
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    (fragments, datagrams)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Any order, any duplicates: the same datagrams, each at most twice (a duplicate
    /// of every fragment after completion makes a second copy), nothing else.
    #[test]
    fn any_order_same_datagrams(
        draws in prop::collection::vec(any::<u16>(), 25),
        dups in prop::collection::vec(any::<u16>(), 0..10),
    ) {
        let (mut fragments, datagrams) = corpus();
        prop_assert_eq!(fragments.len(), 25);
        prop_assert_eq!(datagrams.len(), 8);
        for i in (1..fragments.len()).rev() {
            let j = usize::from(draws[i]) % (i + 1);
            fragments.swap(i, j);
        }
        let n = fragments.len();
        let mut fed = fragments.clone();
        for d in &dups {
            fed.push(fragments[usize::from(*d) % n].clone());
        }
        let mut df = Defrag::new(16, 9216, 1000);
        let got = reassemble(&mut df, &fed);
        let mut seen: HashMap<Vec<u8>, usize> = HashMap::new();
        for (_, d) in &got {
            prop_assert!(datagrams.contains(d));
            *seen.entry(d.clone()).or_default() += 1;
        }
        // Every datagram is complete once all its fragments were fed (no timeouts,
        // no evictions with 16 slots for 8 datagrams).
        prop_assert_eq!(seen.len(), 8);
        let s = df.stats();
        prop_assert_eq!((s.overlaps, s.malformed, s.evicted, s.timed_out), (0, 0, 0, 0));
    }

    /// Mutated fragments (octets of the IP and fragment headers and of the data
    /// flipped, frames cut), pushed with jumps of the clock into a tiny pool: no panic;
    /// whatever comes back is a whole datagram that decodes as no fragment.
    #[test]
    fn mutated_fragments(
        edits in prop::collection::vec((any::<u16>(), any::<u16>(), any::<u8>(), 0u64..30, 0u8..8), 1..80),
        slots in 1u32..5,
    ) {
        let (fragments, _) = corpus();
        let mut df = Defrag::new(slots, 2048, 50);
        let mut now = 0;
        let mut returned = 0u64;
        for (which, at, x, dt, kind) in edits {
            let mut f = fragments[usize::from(which) % fragments.len()].clone();
            let at = usize::from(at);
            match kind {
                // The IP header and what follows (the fragment header for IPv6).
                0..=3 => {
                    let i = 14 + at % 56;
                    if i < f.len() { f[i] ^= x.max(1); }
                }
                4 => {
                    let i = at % f.len();
                    f[i] ^= x.max(1);
                }
                5 => f.truncate(at % f.len()),
                _ => {}
            }
            now += dt;
            let p = decode(&f);
            if let Some(r) = df.push(&p, &f, u16::from(kind & 1), now) {
                returned += 1;
                prop_assert!(!r.packet.is_fragment());
                prop_assert!(!matches!(r.packet.ip, Ip::None));
                prop_assert!(r.datagram.len() <= HEADER_ROOM + 2048);
                prop_assert_eq!(r.packet, decode_ip(r.datagram));
            }
            prop_assert!(df.in_use() <= df.capacity());
        }
        prop_assert_eq!(df.stats().reassembled, returned);
        df.expire(u64::MAX);
        prop_assert_eq!(df.in_use(), 0);
    }
}

/// The cost of `push` for packets that are not fragments (the fast path, every
/// packet): `cargo test --release --test corpus_defrag -- --ignored --nocapture`.
#[test]
#[ignore = "timing; run in release"]
fn fast_path_cost() {
    let frames = common::ethernet_frames();
    let packets: Vec<_> = frames
        .iter()
        .map(|f| (decode(f), f))
        .filter(|(p, _)| !p.is_fragment())
        .collect();
    let mut df = Defrag::new(256, 9216, 1000);
    let rounds = 20_000;
    let t = std::time::Instant::now();
    let mut hits = 0usize;
    for r in 0..rounds {
        for (p, f) in &packets {
            let p = std::hint::black_box(p);
            if df.push(p, f, 0, r).is_some() {
                hits += 1;
            }
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds as f64 * packets.len() as f64);
    assert_eq!(hits, 0);
    eprintln!(
        "push, not a fragment: {ns:.2} ns/packet over {} packets",
        packets.len()
    );

    // For comparison: the same loop without the call.
    let t = std::time::Instant::now();
    let mut sum = 0u64;
    for _ in 0..rounds {
        for (p, _) in &packets {
            sum += u64::from(std::hint::black_box(p).len);
        }
    }
    let base = t.elapsed().as_nanos() as f64 / (rounds as f64 * packets.len() as f64);
    eprintln!("loop alone: {base:.2} ns/packet ({sum})");

    // The fragment path: the corpus's 25 fragments, 8 datagrams, over and over.
    let (fragments, _) = corpus();
    let decoded: Vec<_> = fragments.iter().map(|f| (decode(f), f)).collect();
    let rounds = 20_000u64;
    let t = std::time::Instant::now();
    for r in 0..rounds {
        for (p, f) in &decoded {
            if let Some(d) = df.push(p, f, 0, r) {
                hits += d.datagram.len();
            }
        }
    }
    let ns = t.elapsed().as_nanos() as f64 / (rounds as f64 * decoded.len() as f64);
    assert_eq!(df.stats().reassembled, 8 * rounds);
    eprintln!("push, fragments (copy + decode_ip at the end): {ns:.0} ns/fragment ({hits})");
}
