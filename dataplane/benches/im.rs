//! The XMPP and OSCAR parsers on real bytes (the corpus connections in
//! `tests/fixtures`): the signatures, XML tokens, a SASL message, and whole
//! connections through `XmppState` and `FlapStream` in the order their
//! segments were sent (throughput in octets).
//!
//! `cargo bench -p metaprobe-dataplane --bench im`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;

use std::hint::black_box;

use common::{Dialog, tcp_dialogs};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::oscar::{FlapStream, looks_like_flap, snac};
use metaprobe_dataplane::app::xmpp::{
    Event, Mechanism, SASL_MAX, XmppState, credentials, looks_like_stream, token,
};

const CAP: usize = 4096;

/// Feeds a connection as the driver does (each segment whole, a cut tag
/// kept); the records.
fn xmpp(dialog: &Dialog, windows: &mut [Vec<u8>; 2]) -> usize {
    let mut st = XmppState::new();
    let mut records = 0;
    windows.iter_mut().for_each(Vec::clear);
    for (client, seg) in dialog {
        let w = &mut windows[usize::from(*client)];
        w.extend_from_slice(seg);
        let mut at = 0;
        loop {
            let step = if *client {
                st.client(&w[at..], CAP)
            } else {
                st.server(&w[at..], CAP)
            };
            at += step.consumed;
            match step.outcome {
                Outcome::Done(Event::Login(_) | Event::Message(_)) => records += 1,
                Outcome::Done(Event::Stanza) => {}
                _ => break,
            }
        }
        w.drain(..at);
    }
    records
}

/// Frames a connection's directions; the SNACs read.
fn oscar(dialog: &Dialog, windows: &mut [Vec<u8>; 2]) -> usize {
    let mut flaps = [FlapStream::new(); 2];
    let mut snacs = 0;
    windows.iter_mut().for_each(Vec::clear);
    for (client, seg) in dialog {
        let d = usize::from(*client);
        let w = &mut windows[d];
        w.extend_from_slice(seg);
        let mut at = 0;
        loop {
            let step = flaps[d].next(&w[at..]);
            at += step.consumed;
            let left = (flaps[d].pending() as usize).min(w.len() - at);
            at += left;
            flaps[d].skipped(left as u32);
            match step.outcome {
                Outcome::Done(f) => snacs += usize::from(snac(f.data).is_some()),
                _ => break,
            }
        }
        w.drain(..at);
    }
    snacs
}

fn octets(dialogs: &[Dialog]) -> u64 {
    dialogs.iter().flatten().map(|(_, s)| s.len() as u64).sum()
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("im");
    g.throughput(Throughput::Elements(1));
    let header: &[u8] = b"<?xml version='1.0' ?><stream:stream to='cs-xmpp.lan' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    g.bench_function("xmpp signature (stream header)", |b| {
        b.iter(|| looks_like_stream(black_box(header)))
    });
    let message: &[u8] = b"<message type='chat' id='purplebea68aeb' to='chatback@cs-xmpp.lan'><active xmlns='http://jabber.org/protocol/chatstates'/><body>hey</body></message>";
    g.bench_function("xmpp token (a message start tag)", |b| {
        b.iter(|| token(black_box(message), CAP).consumed)
    });
    let digest: &[u8] = b"dXNlcm5hbWU9InRvbSIscmVhbG09ImNzLXhtcHAubGFuIixub25jZT0iMTUzMDc1MTg4ODE1MjAyNTYzNDEiLGNub25jZT0iZWVlMTkwZmUxNTAyMzc5NzIzNzViNGFhM2MiLG5jPTAwMDAwMDAxLHFvcD1hdXRoLGRpZ2VzdC11cmk9InhtcHAvY3MteG1wcC5sYW4iLHJlc3BvbnNlPThlMWEzODE2OTk2ZmZlM2Q4N2EzNDY4YzMyZGE4ZDk1LGNoYXJzZXQ9dXRmLTg=";
    let mut scratch = [0u8; SASL_MAX];
    g.bench_function("xmpp DIGEST-MD5 response (base64, username)", |b| {
        b.iter(|| {
            credentials(Mechanism::DigestMd5, black_box(digest), &mut scratch).map(|(u, _)| u.len())
        })
    });
    let signon = [0x2a, 1, 0, 1, 1, 0x35, 0, 0, 0, 1];
    g.bench_function("oscar signature (FLAP sign-on)", |b| {
        b.iter(|| looks_like_flap(black_box(&signon), false))
    });
    g.finish();

    let mut windows = [Vec::with_capacity(CAP), Vec::with_capacity(CAP)];
    let mut g = c.benchmark_group("im connections");
    let x = tcp_dialogs("xmpp_c2s_sasl_sessions.pcapng", 5222);
    g.throughput(Throughput::Bytes(octets(&x)));
    g.bench_function(
        format!("xmpp: {} connections, {} octets", x.len(), octets(&x)),
        |b| b.iter(|| x.iter().map(|d| xmpp(d, &mut windows)).sum::<usize>()),
    );
    let o = tcp_dialogs("oscar_aim_icq_flap_port443.pcapng", 443);
    g.throughput(Throughput::Bytes(octets(&o)));
    g.bench_function(
        format!("oscar: {} connection, {} octets", o.len(), octets(&o)),
        |b| b.iter(|| o.iter().map(|d| oscar(d, &mut windows)).sum::<usize>()),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
