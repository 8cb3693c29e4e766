//! ns per block-list lookup, against a list of 100 000 patterns (hosts,
//! `*.` domains, host/path prefixes): a name not listed (the common case,
//! one probe per label), a listed host, a name deep under a listed domain,
//! a path prefix; and the empty list every run without `block_list` has.
//!
//! `cargo bench -p metaprobe-dataplane --bench block`
#![allow(clippy::unwrap_used)]

use std::fmt::Write;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use metaprobe_dataplane::block::BlockList;
use metaprobe_dataplane::table::Table;

const PATTERNS: usize = 100_000;

fn list() -> BlockList {
    let mut text = String::new();
    for i in 0..PATTERNS {
        match i % 3 {
            0 => writeln!(text, "site{i}.example").unwrap(),
            1 => writeln!(text, "*.domain{i}.example").unwrap(),
            _ => writeln!(text, "news{i}.example/section/{i}/").unwrap(),
        }
    }
    BlockList::parse(&text, 1).unwrap()
}

fn bench(c: &mut Criterion) {
    let list = list();
    let empty = BlockList::default();
    let mut g = c.benchmark_group("block_list");
    let cases: [(&str, &[u8], &[u8]); 4] = [
        (
            "unlisted",
            b"www.some-news-site.co.uk",
            b"/2026/12/02/story.html",
        ),
        ("listed_host", b"site99999.example", b"/"),
        (
            "under_listed_domain",
            b"a.b.cdn.domain100.example:8080",
            b"/",
        ),
        ("path_prefix", b"News50.example", b"/section/50/today"),
    ];
    for (name, host, path) in cases {
        g.bench_function(name, |b| {
            b.iter(|| list.matches(black_box(host), Some(black_box(path))))
        });
    }
    g.bench_function("empty_list", |b| {
        b.iter(|| empty.matches(black_box(b"www.example.com"), None))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
