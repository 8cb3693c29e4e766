//! Throughput of the mail parsers on real bytes (the corpus mail connections
//! and mkpcap's SMTP sessions in `tests/fixtures`): whole connections through
//! the SMTP, POP3 and IMAP state machines and the message reader, in the
//! order their segments were sent, and the header value functions on their
//! own.
//!
//! `cargo bench -p metaprobe-dataplane --bench mail`
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/mail_common/mod.rs"]
mod mail_common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use mail_common::{Conn, MAIL_CAPTURES, drive, mail_conns};
use metaprobe_dataplane::app::mail::Kind;
use metaprobe_dataplane::app::mail::header::{addresses, decode_words};
use metaprobe_dataplane::app::text::FixedText;

fn bench(c: &mut Criterion) {
    let conns: Vec<Conn> = MAIL_CAPTURES.iter().flat_map(|n| mail_conns(n)).collect();
    let mut g = c.benchmark_group("mail");
    for kind in [Kind::Smtp, Kind::Pop3, Kind::Imap] {
        let of: Vec<&Conn> = conns.iter().filter(|c| c.kind == kind).collect();
        let octets: usize = of
            .iter()
            .flat_map(|c| c.dialog.iter())
            .map(|(_, s)| s.len())
            .sum();
        g.throughput(Throughput::Bytes(octets as u64));
        g.bench_function(
            format!("{kind:?} connections ({} of them)", of.len()),
            |b| {
                b.iter(|| {
                    of.iter()
                        .map(|c| {
                            drive(c.kind, black_box(&c.dialog), &mut || usize::MAX)
                                .records
                                .len()
                        })
                        .sum::<usize>()
                })
            },
        );
    }
    g.throughput(Throughput::Elements(1));
    let subject = b"=?UTF-8?B?0J/RgNC40LLQtdGC?= =?UTF-8?Q?_=D0=BC=D0=B8=D1=80?= and more";
    g.bench_function("Subject with encoded-words", |b| {
        b.iter(|| {
            let mut out = FixedText::<512>::new();
            decode_words(black_box(subject), &mut out);
            out.as_bytes().len()
        })
    });
    let list = b"\"Buchanan, Bill\" <B.Buchanan@napier.ac.uk>, DI <di@x.com>, c@d (comment)";
    g.bench_function("address list (3 mailboxes)", |b| {
        b.iter(|| {
            let mut out = FixedText::<1024>::new();
            addresses(black_box(list), &mut out);
            out.as_bytes().len()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
