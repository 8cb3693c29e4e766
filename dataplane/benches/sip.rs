//! ns per SIP message on real bytes (the corpus captures in `tests/fixtures`):
//! the signature, `sip::parse` of a REGISTER, an INVITE with its SDP body and
//! a 200 OK, the whole record (every field, GATEWAYS joined), and every SIP
//! message of the corpus back to back through `SipStream` as SIP over TCP.
//!
//! `cargo bench -p metaprobe-dataplane --bench sip`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/sip_ftp_common/mod.rs"]
mod sip_ftp_common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::sip::{
    FixedText, Framing, Message, SipStream, join_hosts, looks_like_sip, parse,
};

/// The first datagram that starts with `start`.
fn first<'a>(all: &'a [Vec<u8>], start: &[u8]) -> &'a [u8] {
    all.iter().find(|m| m.starts_with(start)).unwrap()
}

/// What a driver does per message: parse, then take every record field
/// (GATEWAYS joined into a fixed buffer). A checksum keeps it all alive.
fn record(m: &Message<'_>, gateways: &mut FixedText<256>) -> usize {
    gateways.clear();
    join_hosts(m.via_hosts(), gateways);
    m.msg_code().len()
        + usize::from(m.status_code())
        + m.uri().len()
        + m.from.raw.len()
        + m.to.raw.len()
        + m.call_id.raw.len()
        + m.user_agent.raw.len()
        + m.content_type.raw.len()
        + gateways.as_bytes().len()
}

fn bench(c: &mut Criterion) {
    let all = sip_ftp_common::sip_datagrams();
    let register = first(&all, b"REGISTER ");
    let invite = all
        .iter()
        .find(|m| m.starts_with(b"INVITE ") && m.len() > 800)
        .unwrap();
    let ok = first(&all, b"SIP/2.0 200 OK");

    let mut g = c.benchmark_group("sip");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signature (INVITE start line)", |b| {
        b.iter(|| looks_like_sip(black_box(invite)))
    });
    for (name, m) in [
        ("parse REGISTER (467 B)", register),
        ("parse INVITE + SDP (822 B)", invite.as_slice()),
        ("parse 200 OK + SDP", ok),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| {
                parse(black_box(m), Framing::Datagram)
                    .done()
                    .map(|m| m.head_len)
            })
        });
    }
    let mut gateways = FixedText::<256>::new();
    g.bench_function("record INVITE + SDP (parse, fields, GATEWAYS)", |b| {
        b.iter(|| {
            let m = parse(black_box(invite), Framing::Datagram).done().unwrap();
            record(&m, &mut gateways)
        })
    });
    g.finish();

    // Every corpus message, one after the other (per-message average).
    let mut g = c.benchmark_group("sip corpus");
    g.throughput(Throughput::Elements(all.len() as u64));
    g.bench_function(
        format!("{} datagrams: signature + record", all.len()),
        |b| {
            b.iter(|| {
                let mut sum = 0;
                for m in &all {
                    if looks_like_sip(m) == Outcome::Done(()) {
                        let m = parse(m, Framing::Datagram).done().unwrap();
                        sum += record(&m, &mut gateways);
                    }
                }
                sum
            })
        },
    );
    let stream: Vec<u8> = all.concat();
    g.bench_function(
        format!("{} messages over TCP (SipStream)", all.len()),
        |b| {
            b.iter(|| {
                let mut st = SipStream::new();
                let mut at = 0;
                let mut sum = 0;
                while let Outcome::Done(m) = {
                    let step = st.next(&stream[at..], 8192);
                    at += step.consumed;
                    step.outcome
                } {
                    sum += record(&m, &mut gateways);
                }
                sum
            })
        },
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
