//! ns per FTP line on real bytes (the corpus control connections in
//! `tests/fixtures`): the 220 signature, the line grammar (a command, a
//! PASV reply, an EPRT argument) and whole control connections through
//! `FtpState` in the order their segments were sent.
//!
//! `cargo bench -p metaprobe-dataplane --bench ftp`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/sip_ftp_common/mod.rs"]
mod sip_ftp_common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::ftp::{
    Event, FtpState, command, eprt_argument, looks_like_greeting, pasv_reply, reply_line,
};

/// Feeds a dialog as a driver does (each segment given whole, the partial
/// line kept); the number of records.
fn run(dialog: &[(bool, Vec<u8>)], windows: &mut [Vec<u8>; 2]) -> usize {
    let mut st = FtpState::new();
    let mut records = 0;
    windows[0].clear();
    windows[1].clear();
    for (client, seg) in dialog {
        let w = &mut windows[usize::from(*client)];
        w.extend_from_slice(seg);
        let mut at = 0;
        loop {
            let step = if *client {
                st.client(&w[at..], 2048)
            } else {
                st.server(&w[at..], 2048)
            };
            at += step.consumed;
            match step.outcome {
                Outcome::Done(Event::Record(_)) => records += 1,
                Outcome::Done(_) | Outcome::Malformed(_) => {}
                Outcome::Incomplete | Outcome::NotThis => break,
            }
        }
        w.drain(..at);
    }
    records
}

fn lines(dialog: &[(bool, Vec<u8>)]) -> u64 {
    dialog
        .iter()
        .map(|(_, s)| s.iter().filter(|&&b| b == b'\n').count() as u64)
        .sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("ftp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signature (220 greeting)", |b| {
        b.iter(|| looks_like_greeting(black_box(b"220 (vsFTPd 3.0.3)\r\n")))
    });
    g.bench_function("command (PASS NcFTP@)", |b| {
        b.iter(|| command(black_box(b"PASS NcFTP@")).map(|c| c.arg.len()))
    });
    g.bench_function("reply + PASV endpoint", |b| {
        b.iter(|| {
            reply_line(black_box(
                b"227 Entering Passive Mode (90,130,70,73,100,85).",
            ))
            .and_then(|r| pasv_reply(r.text))
        })
    });
    g.bench_function("EPRT endpoint (IPv6)", |b| {
        b.iter(|| eprt_argument(black_box(b"|2|fd00:10:16:1::3|40467|")))
    });
    g.finish();

    let mut windows = [Vec::with_capacity(4096), Vec::with_capacity(4096)];
    let mut g = c.benchmark_group("ftp control connections");
    for (name, label) in [
        (
            "ftp_passive_pasv_list_retr.pcap",
            "passive (PASV, multi-line replies)",
        ),
        (
            "ftp_ipv6_eprt_epsv_all_data.pcap",
            "IPv6 (EPRT, EPSV; 2 connections)",
        ),
    ] {
        let all = sip_ftp_common::ftp_dialogs(name);
        let n: u64 = all.iter().map(|d| lines(d)).sum();
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("{label}: {n} lines"), |b| {
            b.iter(|| all.iter().map(|d| run(d, &mut windows)).sum::<usize>())
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
