//! Property tests: `decode`/`decode_ip` on arbitrary bytes and on mutated real frames
//! never panic, and what they return stays inside the buffer and within the bounds.
//!
//! `mutation_campaign` (ignored by default; run it in release) drives ≥ 10 million
//! mutated inputs: `MUTATIONS=10000000 cargo test --release --test decode_fuzz -- --ignored`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;

use metaprobe_dataplane::flow::{FlowTable, SessionIds, Timeouts};
use metaprobe_dataplane::wire::{
    IPV6_EXT_CAP, Ip, MPLS_MAX_DEPTH, Packet, StopKind, Transport, VLAN_MAX_DEPTH, decode,
    decode_ip,
};
use proptest::prelude::*;

fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(common::ethernet_frames)
}

/// The invariants every decode result keeps, whatever the input. Returns a
/// description of the first broken one.
fn check(p: &Packet, buf: &[u8]) -> Result<(), String> {
    let len = buf.len() as u64;
    let fail = |what: &str| Err(format!("{what}: {p:?}"));
    if u64::from(p.len) != len {
        return fail("len");
    }
    if p.ip_payload.end() > len || p.payload.end() > len {
        return fail("span past the buffer");
    }
    if p.ip != Ip::None && u64::from(p.l3_offset) >= len {
        return fail("l3 offset");
    }
    if p.ip != Ip::None && u64::from(p.ip_payload.offset) <= u64::from(p.l3_offset) {
        return fail("ip payload before the ip header");
    }
    if p.transport != Transport::None
        && (p.payload.offset < p.ip_payload.offset || p.payload.end() > p.ip_payload.end())
    {
        return fail("payload outside the ip payload");
    }
    if p.transport != Transport::None && p.ip == Ip::None {
        return fail("transport without ip");
    }
    match p.stop {
        None => {
            if p.transport == Transport::None {
                return fail("no stop but no transport");
            }
        }
        Some(s) => {
            if p.transport != Transport::None {
                return fail("stop with a transport");
            }
            if u64::from(s.offset) > len {
                return fail("stop offset");
            }
            if s.reason.kind() == StopKind::Truncated
                && (s.have >= s.need || u64::from(s.offset) + u64::from(s.have) > len)
            {
                return fail("truncation need/have");
            }
        }
    }
    if p.vlan.len() > VLAN_MAX_DEPTH || p.mpls.depth() > MPLS_MAX_DEPTH {
        return fail("depth bound");
    }
    if let Ip::V6(r) = p.ip
        && usize::from(r.ext.count) > IPV6_EXT_CAP
    {
        return fail("ipv6 ext bound");
    }
    if p.payload(buf).len() as u64 != u64::from(p.payload.len) {
        return fail("payload slice");
    }
    Ok(())
}

fn check_both(buf: &[u8]) -> Result<(), String> {
    check(&decode(buf), buf)?;
    check(&decode_ip(buf), buf)
}

/// Applies `edits` (position, value) and cuts at `cut` (a fraction in 0..=1024).
fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut f = seed.to_vec();
    for &(at, v) in edits {
        if !f.is_empty() {
            // Bias edits towards the headers: the first 96 octets.
            let i = at % f.len().min(96);
            f[i] = v;
        }
    }
    let keep = f.len() * cut.min(1024) / 1024;
    f.truncate(keep.max(f.len().min(cut)));
    f
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes(buf in proptest::collection::vec(any::<u8>(), 0..256)) {
        prop_assert_eq!(check_both(&buf), Ok(()));
    }

    #[test]
    fn arbitrary_bytes_behind_a_real_header(
        ethertype in prop::sample::select(vec![0x0800u16, 0x86dd, 0x8100, 0x88a8, 0x9100, 0x8847, 0x8864]),
        tail in proptest::collection::vec(any::<u8>(), 0..128),
    ) {
        let mut buf = vec![0u8; 12];
        buf.extend_from_slice(&ethertype.to_be_bytes());
        buf.extend_from_slice(&tail);
        prop_assert_eq!(check(&decode(&buf), &buf), Ok(()));
    }

    #[test]
    fn mutated_real_frames(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..6),
        cut in 0usize..1100,
    ) {
        let seed = pick.get(seeds());
        let f = mutate(seed, &edits, cut);
        prop_assert_eq!(check_both(&f), Ok(()));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Decoded (mutated) frames through a small flow table: no panic, the table never
    /// holds more than its capacity, and every tracked packet finds its flow again.
    #[test]
    fn mutated_frames_through_the_flow_table(
        inputs in proptest::collection::vec(
            (any::<prop::sample::Index>(), proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4), 0usize..1100, any::<bool>()),
            1..64,
        ),
    ) {
        let timeouts = Timeouts::from_secs(300, 5, 60, 30, 1);
        let mut t: FlowTable<()> = FlowTable::new(16, timeouts, SessionIds::new(0, 0));
        for (step, (pick, edits, cut, from_sub)) in inputs.iter().enumerate() {
            let seed: &Vec<u8> = pick.get(seeds());
            let f = mutate(seed, edits, *cut);
            let p = decode(&f);
            if let Some(o) = t.observe(&p, 0, *from_sub, step as u64, |_, _| {}) {
                prop_assert_eq!(t.get(o.handle).map(|fl| fl.session_id), Some(o.session_id));
            }
            prop_assert!(t.len() <= t.capacity());
            t.expire(step as u64, 4, |_, _| {});
        }
    }
}

#[test]
fn seeds_are_real_and_decode_cleanly() {
    let s = seeds();
    assert!(s.len() >= 180, "{} seed frames", s.len());
    let mut complete = 0;
    for f in s {
        let p = decode(f);
        assert_eq!(check(&p, f), Ok(()));
        match p.stop {
            None => complete += 1,
            // Real captures hold ARP, ICMP, EIGRP, later fragments, a pseudowire: all
            // "not decoded", none truncated or malformed.
            Some(stop) => assert_eq!(stop.reason.kind(), StopKind::NotDecoded, "{stop}"),
        }
    }
    assert!(complete >= 140, "{complete} of {} complete", s.len());
}

/// A long deterministic mutation campaign (xorshift, no dependencies).
#[test]
#[ignore = "long; run in release with MUTATIONS=N"]
fn mutation_campaign() {
    let n: u64 = std::env::var("MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000);
    let seeds = seeds();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut complete = 0u64;
    for i in 0..n {
        let r = next();
        let seed = &seeds[(r as usize) % seeds.len()];
        let edits: Vec<(usize, u8)> = (0..(r >> 32) % 5)
            .map(|_| {
                let e = next();
                (e as usize, (e >> 40) as u8)
            })
            .collect();
        let cut = ((r >> 16) % 1100) as usize;
        let f = mutate(seed, &edits, cut);
        let p = decode(&f);
        if let Err(e) = check(&p, &f) {
            panic!("input {i}: {e}\nframe: {f:02x?}");
        }
        complete += u64::from(p.is_complete());
        if i % 4 == 0
            && let Err(e) = check(&decode_ip(&f), &f)
        {
            panic!("input {i} (raw ip): {e}");
        }
    }
    println!("mutation campaign: {n} inputs, {complete} decoded to an L4 payload");
    assert!(complete > 0);
}
