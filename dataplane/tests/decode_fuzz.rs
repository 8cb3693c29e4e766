//! Property tests: `decode`/`decode_ip` on arbitrary bytes and on mutated real frames
//! never panic, and what they return stays inside the buffer and within the bounds;
//! `flow_tuple` (the short path's reading) agrees with `decode` on every input.
//!
//! `mutation_campaign` (ignored by default; run it in release) drives ≥ 10 million
//! mutated inputs: `MUTATIONS=10000000 cargo test --release --test decode_fuzz -- --ignored`.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::sync::OnceLock;

use metaprobe_dataplane::flow::{FlowKey, FlowTable, SessionIds, Timeouts};
use metaprobe_dataplane::wire::{
    IPV6_EXT_CAP, Ip, MPLS_MAX_DEPTH, Packet, StopKind, Transport, VLAN_MAX_DEPTH, decode,
    decode_ip, flow_tuple,
};
use proptest::prelude::*;

/// The fixtures' Ethernet frames, and each IP one again under a VLAN tag,
/// QinQ, two MPLS labels and PPPoE.
fn seeds() -> &'static [Vec<u8>] {
    static SEEDS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let frames = common::ethernet_frames();
        let wrapped: Vec<Vec<u8>> = frames.iter().flat_map(|f| encapsulated(f)).collect();
        frames.into_iter().chain(wrapped).collect()
    })
}

/// An IPv4/IPv6 Ethernet frame under each encapsulation the decoder walks.
fn encapsulated(frame: &[u8]) -> Vec<Vec<u8>> {
    let (Some(macs), Some(ethertype), Some(ip)) =
        (frame.get(..12), frame.get(12..14), frame.get(14..))
    else {
        return Vec::new();
    };
    let ppp: &[u8] = match ethertype {
        [0x08, 0x00] => &[0x00, 0x21],
        [0x86, 0xdd] => &[0x00, 0x57],
        _ => return Vec::new(),
    };
    let join = |parts: &[&[u8]]| parts.concat();
    let pppoe_len = ((ip.len() + 2) as u16).to_be_bytes();
    vec![
        join(&[macs, &[0x81, 0x00, 0x00, 0x64], ethertype, ip]),
        join(&[
            macs,
            &[0x88, 0xa8, 0x00, 0x0a, 0x81, 0x00, 0x00, 0x14],
            ethertype,
            ip,
        ]),
        join(&[
            macs,
            &[0x88, 0x47, 0x00, 0x01, 0x00, 0x40, 0x00, 0x02, 0x01, 0x40],
            ip,
        ]),
        join(&[
            macs,
            &[0x88, 0x64, 0x11, 0x00, 0x12, 0x34],
            &pppoe_len,
            ppp,
            ip,
        ]),
    ]
}

/// `flow_tuple` reads what `decode` does: it gives a tuple exactly for the
/// packets `decode` takes to their TCP/UDP payload that are no fragment and
/// have no IPv6 extension header, and then the same flow key, TCP control
/// bits and first payload octet.
fn tuple_agrees(buf: &[u8]) -> Result<(), String> {
    let p = decode(buf);
    let whole = p.is_complete() && !p.is_fragment() && p.ipv6().is_none_or(|r| r.ext.count == 0);
    match flow_tuple(buf) {
        None if whole => Err(format!("no tuple for a whole packet: {p:?}")),
        None => Ok(()),
        Some(t) if !whole => Err(format!("a tuple {t:?} for {p:?}")),
        Some(t) => {
            let key = FlowKey::from_packet(&p, 7);
            if key != Some(FlowKey::from_tuple(&t, 7)) {
                return Err(format!("key {key:?} against tuple {t:?}"));
            }
            if t.tcp_flags != p.tcp().map(|r| r.flags) {
                return Err(format!("tcp flags of {t:?} against {p:?}"));
            }
            if t.first_octet != p.payload(buf).first().copied() {
                return Err(format!("first octet of {t:?} against {p:?}"));
            }
            let seq_end = p
                .tcp()
                .map_or(0, |r| r.seq.wrapping_add(p.payload(buf).len() as u32));
            if t.seq_end != seq_end {
                return Err(format!(
                    "sequence number after the payload of {t:?} against {p:?}"
                ));
            }
            Ok(())
        }
    }
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
    tuple_agrees(buf)?;
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
        prop_assert_eq!(tuple_agrees(&buf), Ok(()));
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
    let mut tuples = 0;
    for f in s {
        let p = decode(f);
        assert_eq!(check(&p, f), Ok(()));
        assert_eq!(tuple_agrees(f), Ok(()));
        tuples += usize::from(flow_tuple(f).is_some());
        match p.stop {
            None => complete += 1,
            // Real captures hold ARP, ICMP, EIGRP, later fragments, a pseudowire: all
            // "not decoded", none truncated or malformed.
            Some(stop) => assert_eq!(stop.reason.kind(), StopKind::NotDecoded, "{stop}"),
        }
    }
    assert!(complete >= 140, "{complete} of {} complete", s.len());
    // Every encapsulation reads to a tuple (four copies of each IP seed).
    assert!(tuples >= 4 * 140, "{tuples} of {} with a tuple", s.len());
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
        if let Err(e) = check(&p, &f).and_then(|()| tuple_agrees(&f)) {
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
