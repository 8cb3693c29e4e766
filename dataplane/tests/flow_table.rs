//! The flow table: one entry for both directions, client/subscriber sides, idle and
//! TCP-close timeouts, eviction of the oldest on a full table, and 1 000 000 flows
//! through 65 536 entries without one allocation.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use metaprobe_dataplane::flow::{
    ClientRule, EndReason, Flow, FlowKey, FlowTable, SessionId, SessionIds, Timeouts,
};
use metaprobe_dataplane::wire::{TcpFlags, decode};

// ---- an allocator that counts this thread's allocations ------------------------------

struct Counting;

thread_local! {
    static ALLOCS: Cell<u64> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> u64 {
    ALLOCS.with(|c| c.get())
}

// ---- helpers ------------------------------------------------------------------------

const SEC: u64 = 1_000_000_000;

fn timeouts() -> Timeouts {
    Timeouts::from_secs(300, 5, 60, 30, SEC)
}

fn table(capacity: usize) -> FlowTable<u32> {
    FlowTable::new(
        capacity,
        timeouts(),
        SessionIds::new(3, SessionIds::start_now()),
    )
}

fn v4(a: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(a))
}

/// A packet from `src`:`sport` to `dst`:`dport` of `proto` with TCP `flags`.
#[allow(clippy::too_many_arguments)]
fn pkt(
    t: &mut FlowTable<u32>,
    src: u32,
    sport: u16,
    dst: u32,
    dport: u16,
    tcp: Option<TcpFlags>,
    from_subscriber: bool,
    now: u64,
    ended: &mut Vec<(SessionId, EndReason)>,
) -> metaprobe_dataplane::flow::Observed {
    let proto = if tcp.is_some() { 6 } else { 17 };
    let (key, sender) = FlowKey::new(v4(src), sport, v4(dst), dport, proto, 0);
    t.observe_key(
        key,
        sender,
        tcp,
        from_subscriber,
        now,
        |f: &Flow<u32>, r| ended.push((f.session_id, r)),
    )
}

const SYN: Option<TcpFlags> = Some(TcpFlags::SYN);
const SYN_ACK: Option<TcpFlags> = Some(TcpFlags(0x12));
const ACK: Option<TcpFlags> = Some(TcpFlags::ACK);
const FIN_ACK: Option<TcpFlags> = Some(TcpFlags(0x11));
const RST: Option<TcpFlags> = Some(TcpFlags::RST);

// ---- tests --------------------------------------------------------------------------

#[test]
fn both_directions_map_to_one_entry_with_one_session_id() {
    let mut t = table(16);
    let mut ended = Vec::new();
    let a = pkt(&mut t, 1, 40000, 2, 80, SYN, true, 0, &mut ended);
    let b = pkt(&mut t, 2, 80, 1, 40000, SYN_ACK, false, 1, &mut ended);
    let c = pkt(&mut t, 1, 40000, 2, 80, ACK, true, 2, &mut ended);
    assert!(a.new && !b.new && !c.new);
    assert_eq!(a.session_id, b.session_id);
    assert_eq!(a.handle, c.handle);
    assert_eq!(a.sender, b.sender.other());
    assert_eq!((a.dir, b.dir), (0, 1));
    assert_eq!(t.len(), 1);
    let f = t.get(a.handle).unwrap();
    assert_eq!(f.client, a.sender);
    assert_eq!(f.client_rule, ClientRule::Syn);
    assert_eq!(f.subscriber, a.sender);
    assert_eq!((f.first_seen, f.last_seen), (0, 2));
    assert_eq!(f.key.endpoint(f.client), (v4(1), 40000));

    // Another flow gets another id; the worker is in the top byte.
    let d = pkt(&mut t, 1, 40001, 2, 80, SYN, true, 3, &mut ended);
    assert!(d.new);
    assert_ne!(d.session_id, a.session_id);
    assert_eq!(d.session_id.0 >> 56, 3);
    assert!(ended.is_empty());
}

#[test]
fn decoded_packets_of_both_directions_share_a_flow() {
    // Ethernet + IPv4 + TCP, then the same with addresses and ports swapped.
    let mut f = vec![0u8; 12];
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&[
        0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
    ]);
    f.extend_from_slice(&[
        0x9c, 0x40, 0, 80, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x02, 0xff, 0xff, 0, 0, 0, 0,
    ]);
    let mut r = f.clone();
    r[26..30].copy_from_slice(&[10, 0, 0, 2]);
    r[30..34].copy_from_slice(&[10, 0, 0, 1]);
    r[34..36].copy_from_slice(&80u16.to_be_bytes());
    r[36..38].copy_from_slice(&40000u16.to_be_bytes());
    r[47] = 0x12;
    let mut t = table(8);
    let a = t.observe(&decode(&f), 0, true, 1, |_, _| {}).unwrap();
    let b = t.observe(&decode(&r), 0, false, 2, |_, _| {}).unwrap();
    assert_eq!(a.session_id, b.session_id);
    // A different bridge is a different flow.
    let c = t.observe(&decode(&f), 1, true, 3, |_, _| {}).unwrap();
    assert_ne!(c.session_id, a.session_id);
    // No IP: untracked, counted.
    assert!(
        t.observe(&decode(&f[..20]), 0, true, 4, |_, _| {})
            .is_none()
    );
    assert_eq!(t.stats().untracked, 1);
}

#[test]
fn client_rules() {
    let mut t = table(16);
    let mut e = Vec::new();
    // SYN+ACK first: the client is its receiver.
    let o = pkt(&mut t, 9, 443, 8, 50000, SYN_ACK, false, 0, &mut e);
    let f = *t.get(o.handle).unwrap();
    assert_eq!(
        (f.client, f.client_rule),
        (o.sender.other(), ClientRule::SynAck)
    );
    assert_eq!(f.subscriber, o.sender.other());
    // Mid-stream: the higher port; a SYN seen later corrects it.
    let o = pkt(&mut t, 5, 22, 6, 61000, ACK, true, 0, &mut e);
    let f = *t.get(o.handle).unwrap();
    assert_eq!(f.client_rule, ClientRule::HigherPort);
    assert_eq!(f.key.endpoint(f.client), (v4(6), 61000));
    let o = pkt(&mut t, 5, 22, 6, 61000, SYN, true, 1, &mut e);
    assert_eq!(t.get(o.handle).unwrap().client, o.sender);
    // UDP: the first packet's sender.
    let o = pkt(&mut t, 7, 53, 4, 5353, None, false, 0, &mut e);
    let f = *t.get(o.handle).unwrap();
    assert_eq!(
        (f.client, f.client_rule),
        (o.sender, ClientRule::FirstPacket)
    );
}

#[test]
fn idle_timeouts_per_protocol() {
    let mut t = table(16);
    let mut e = Vec::new();
    let udp = pkt(&mut t, 1, 1000, 2, 53, None, true, 0, &mut e);
    let tcp = pkt(&mut t, 1, 1001, 2, 80, SYN, true, 0, &mut e);
    let mut ended = Vec::new();
    assert_eq!(
        t.expire(59 * SEC, 100, |f: &Flow<u32>, r| ended
            .push((f.session_id, r))),
        0
    );
    assert_eq!(
        t.expire(60 * SEC, 100, |f: &Flow<u32>, r| ended
            .push((f.session_id, r))),
        1
    );
    assert_eq!(ended, [(udp.session_id, EndReason::IdleTimeout)]);
    assert!(t.get(udp.handle).is_none());
    assert!(t.get(tcp.handle).is_some());
    // Traffic keeps a flow alive.
    pkt(&mut t, 2, 80, 1, 1001, ACK, false, 200 * SEC, &mut e);
    assert_eq!(t.expire(400 * SEC, 100, |_, _| {}), 0);
    assert_eq!(t.expire(500 * SEC, 100, |_, _| {}), 1);
    assert!(t.is_empty());
    assert_eq!(t.stats().expired_idle, 2);
}

#[test]
fn fin_from_both_ends_and_rst_close_tcp_flows() {
    let mut t = table(16);
    let mut e = Vec::new();
    let a = pkt(&mut t, 1, 40000, 2, 80, SYN, true, 0, &mut e);
    pkt(&mut t, 1, 40000, 2, 80, FIN_ACK, true, SEC, &mut e);
    pkt(&mut t, 2, 80, 1, 40000, FIN_ACK, false, SEC, &mut e);
    let last_ack = pkt(&mut t, 1, 40000, 2, 80, ACK, true, 2 * SEC, &mut e);
    assert_eq!(last_ack.session_id, a.session_id); // the last ACK still lands on it
    assert_eq!(t.get(a.handle).unwrap().tcp.fin, [true, true]);
    let b = pkt(&mut t, 3, 40000, 4, 80, ACK, true, 0, &mut e);
    pkt(&mut t, 4, 80, 3, 40000, RST, false, 2 * SEC, &mut e);
    let mut ended = Vec::new();
    t.expire(7 * SEC, 100, |f: &Flow<u32>, r| {
        ended.push((f.session_id, r))
    });
    ended.sort_by_key(|x| x.0);
    let mut want = vec![
        (a.session_id, EndReason::TcpClosed),
        (b.session_id, EndReason::TcpClosed),
    ];
    want.sort_by_key(|x| x.0);
    assert_eq!(ended, want);
    assert_eq!(t.stats().closed_tcp, 2);
}

#[test]
fn syn_on_a_closing_flow_starts_a_new_one() {
    let mut t = table(16);
    let mut e = Vec::new();
    let a = pkt(&mut t, 1, 40000, 2, 80, SYN, true, 0, &mut e);
    pkt(&mut t, 2, 80, 1, 40000, RST, false, 1, &mut e);
    let b = pkt(&mut t, 1, 40000, 2, 80, SYN, true, 2, &mut e);
    assert!(b.new);
    assert_ne!(a.session_id, b.session_id);
    assert_eq!(e, [(a.session_id, EndReason::Reused)]);
    assert_eq!(t.len(), 1);
    assert!(t.get(a.handle).is_none());
}

#[test]
fn full_table_evicts_the_least_recently_seen() {
    let mut t = table(4);
    let mut e = Vec::new();
    let first = pkt(&mut t, 1, 1, 2, 2, None, true, 0, &mut e);
    let tcp = pkt(&mut t, 1, 2, 2, 2, SYN, true, 1, &mut e);
    let other = pkt(&mut t, 1, 3, 2, 2, None, true, 2, &mut e);
    pkt(&mut t, 1, 4, 2, 2, None, true, 3, &mut e);
    pkt(&mut t, 1, 1, 2, 2, None, true, 4, &mut e); // touch the first: now the TCP flow is oldest
    assert_eq!(t.len(), 4);
    pkt(&mut t, 1, 5, 2, 2, None, true, 5, &mut e);
    assert_eq!(e, [(tcp.session_id, EndReason::Evicted)]);
    pkt(&mut t, 1, 6, 2, 2, None, true, 6, &mut e);
    assert_eq!(e.last(), Some(&(other.session_id, EndReason::Evicted)));
    assert!(t.get(first.handle).is_some());
    assert_eq!((t.len(), t.stats().evicted_full), (4, 2));
}

#[test]
fn parser_state_lives_in_the_flow() {
    let mut t = table(4);
    let mut e = Vec::new();
    let a = pkt(&mut t, 1, 1, 2, 2, None, true, 0, &mut e);
    t.get_mut(a.handle).unwrap().app = 7;
    let b = pkt(&mut t, 2, 2, 1, 1, None, false, 1, &mut e);
    assert_eq!(t.get(b.handle).unwrap().app, 7);
}

#[test]
fn a_million_flows_through_65536_entries_without_allocating() {
    const N: u32 = 1_000_000;
    const CAP: usize = 65_536;
    let mut t = table(CAP);
    let memory = t.memory_bytes();
    let mut ended: Vec<SessionId> = Vec::with_capacity(N as usize);
    let mut ids: Vec<SessionId> = Vec::with_capacity(N as usize);
    let before = allocations();
    for i in 0..N {
        // Distinct 5-tuples; half of them see both directions.
        let (src, dst) = (0x0a00_0000 | i, 0xc0a8_0001);
        let sport = (i % 50_000) as u16 + 10_000;
        let (key, sender) = FlowKey::new(v4(src), sport, v4(dst), 443, 17, 0);
        let o = t.observe_key(key, sender, None, true, u64::from(i), |f, r| {
            assert_eq!(r, EndReason::Evicted);
            ended.push(f.session_id);
        });
        assert!(o.new);
        ids.push(o.session_id);
        if i % 2 == 0 {
            let back = t.observe_key(key, sender.other(), None, false, u64::from(i), |_, _| {});
            assert_eq!(back.session_id, o.session_id);
        }
        assert!(t.len() <= CAP);
    }
    let allocated = allocations() - before;
    assert_eq!(allocated, 0, "the table allocated while tracking");
    assert_eq!(t.memory_bytes(), memory);
    assert_eq!(t.len(), CAP);
    assert_eq!(t.stats().created, u64::from(N));
    assert_eq!(t.stats().evicted_full, u64::from(N) - CAP as u64);
    assert_eq!(ended.len(), N as usize - CAP);
    // Eviction went oldest first: the ended ids are exactly the first N - CAP flows.
    assert_eq!(ended[..], ids[..N as usize - CAP]);
    // Every id distinct.
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), N as usize);
    // The survivors are all still found (the index survived a million deletions).
    for i in N - CAP as u32..N {
        let sport = (i % 50_000) as u16 + 10_000;
        let (key, sender) = FlowKey::new(v4(0x0a00_0000 | i), sport, v4(0xc0a8_0001), 443, 17, 0);
        assert!(
            !t.observe_key(key, sender, None, true, u64::from(N), |_, _| {})
                .new
        );
    }
    println!(
        "1M flows through {CAP} entries: {} MiB fixed, 0 allocations",
        memory / (1 << 20)
    );
}

/// The table against a model (a map with least-recently-seen eviction) on random
/// operations over a small key space: tiny capacity, many collisions and deletions.
#[test]
fn matches_a_model_on_random_operations() {
    let mut x: u64 = 0x1234_5678_9abc_def1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for capacity in [1usize, 2, 3, 8, 13] {
        let mut t = table(capacity);
        let mut model: HashMap<FlowKey, (SessionId, u64)> = HashMap::new();
        for step in 0..20_000u64 {
            let r = rnd();
            let port = (r % 24) as u16;
            let (key, sender) = FlowKey::new(v4(1), port, v4(2), 53, 17, 0);
            if r >> 60 == 0 {
                // Expire everything idle for more than 60 s of steps.
                let now = step + 60 * SEC;
                let mut gone = Vec::new();
                t.expire(now, usize::MAX, |f: &Flow<u32>, _| gone.push(f.key));
                for k in &gone {
                    model.remove(k);
                }
                assert!(model.values().all(|(_, seen)| seen + 60 * SEC > now));
                continue;
            }
            let mut evicted = Vec::new();
            let o = t.observe_key(key, sender, None, true, step, |f: &Flow<u32>, r| {
                evicted.push((f.key, r))
            });
            match model.get_mut(&key) {
                Some((sid, seen)) => {
                    assert!(!o.new, "step {step}");
                    assert_eq!(o.session_id, *sid);
                    *seen = step;
                    assert!(evicted.is_empty());
                }
                None => {
                    assert!(o.new, "step {step}");
                    if model.len() == capacity {
                        let oldest = *model.iter().min_by_key(|(_, v)| v.1).unwrap().0;
                        assert_eq!(evicted, [(oldest, EndReason::Evicted)], "step {step}");
                        model.remove(&oldest);
                    }
                    model.insert(key, (o.session_id, step));
                }
            }
            assert_eq!(t.len(), model.len());
        }
    }
}

/// With `relink_after`, a flow seen again soon keeps its place in the recency
/// order (no list move on that packet); seen later than that, it moves back.
#[test]
fn recency_moves_at_most_once_per_relink_interval() {
    let eviction_after = |second_touch: u64| {
        let timeouts = Timeouts {
            relink_after: 10,
            ..timeouts()
        };
        let mut t: FlowTable<u32> = FlowTable::new(2, timeouts, SessionIds::new(0, 0));
        let mut ended = Vec::new();
        let a = pkt(&mut t, 1, 1, 2, 2, None, true, 0, &mut ended);
        let b = pkt(&mut t, 1, 3, 2, 2, None, true, 1, &mut ended);
        pkt(&mut t, 1, 1, 2, 2, None, true, second_touch, &mut ended);
        pkt(&mut t, 1, 5, 2, 2, None, true, second_touch + 1, &mut ended);
        let evicted = ended.first().map(|(id, _)| *id);
        (evicted, a.session_id, b.session_id)
    };
    // A touched 5 ticks after it was linked: it stays first and is evicted.
    let (evicted, a, _) = eviction_after(5);
    assert_eq!(evicted, Some(a));
    // Touched 15 ticks after: it moved behind B, and B goes.
    let (evicted, _, b) = eviction_after(15);
    assert_eq!(evicted, Some(b));
}
