//! The forwarding loop of a worker lcore: receive a burst on one port of a
//! bridge, hand every packet unchanged to the peer port — except those the
//! inspector's [`Verdict`] drops (blocked requests), and plus the frames it
//! injects (their answers and resets, sent after the burst).
//!
//! Ownership of packets, the contract [`PacketQueue`] implementations keep:
//! - a packet received into a [`PacketBurst`] is owned by that burst;
//! - [`PacketQueue::tx`] moves the packets the driver accepted out of the burst
//!   (the driver frees them after sending); the rest stay in the burst;
//! - what is left after [`TX_ATTEMPTS`] attempts is freed with
//!   [`PacketBurst::free_all`] and counted as `tx_dropped`;
//! - the packets a [`Verdict`] drops are freed before the transmit
//!   ([`PacketBurst::free_where`]);
//! - injected frames are copied into packets of the queue's own pool by
//!   [`PacketQueue::inject`], which owns them until the driver takes them and
//!   frees those it does not;
//! - so a burst is empty again when [`forward_burst`] returns, and nothing leaks.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::counters::{AppCount, WorkerCounters};

/// Packets taken from a queue per receive call, as in DPDK's l2fwd/l3fwd.
pub const BURST_SIZE: usize = 32;

/// Transmit attempts for one burst before the rest is freed and counted: a
/// short retry rides out a momentarily full TX ring without stalling reception.
pub const TX_ATTEMPTS: u32 = 8;

/// Packets received together, owned until transmitted or freed.
pub trait PacketBurst {
    fn len(&self) -> usize;

    /// The bytes of the `i`-th packet still held (its first segment).
    fn packet(&self, i: usize) -> Option<&[u8]>;

    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Frees every packet still held and returns how many there were.
    fn free_all(&mut self) -> usize;

    /// Frees the packets whose bit is set in `mask` (bit `i`: the `i`-th held),
    /// keeping the others in order; returns how many were freed.
    fn free_where(&mut self, mask: u32) -> usize;
}

/// What became of frames handed to [`PacketQueue::inject`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    pub sent: usize,
    /// No packet could be taken from the pool (or it had no room): not sent.
    pub no_mbuf: usize,
    /// The driver did not take them: freed.
    pub tx_dropped: usize,
}

/// One RX/TX queue pair of a port.
pub trait PacketQueue {
    type Burst: PacketBurst;

    /// Receives up to [`BURST_SIZE`] packets into an empty `burst`; returns how many arrived.
    fn rx(&mut self, burst: &mut Self::Burst) -> usize;

    /// Transmits from the front of `burst`; the accepted packets leave the burst.
    /// Returns how many were accepted.
    fn tx(&mut self, burst: &mut Self::Burst) -> usize;

    /// Sends copies of `frames` (at most [`BURST_SIZE`]) on this queue.
    fn inject<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> Injected;
}

/// The longest frame an inspector injects (a 302 with its Location, under
/// every encapsulation we mirror).
pub const INJECT_FRAME_MAX: usize = 1536;
/// Frames injected per burst at most: two per blocked request of a full burst.
pub const INJECT_MAX: usize = 2 * BURST_SIZE;

/// Where an injected frame goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Toward {
    /// Back out of the port the burst came in on (to the request's sender).
    Back,
    /// On to the peer port, like the burst.
    On,
}

/// An inspector's decision on one burst: which packets are not forwarded,
/// which frames are sent besides. Fixed memory, reused burst after burst.
pub struct Verdict {
    /// Bit `i`: the `i`-th packet of the burst is dropped.
    pub drop: u32,
    frames: Box<[[u8; INJECT_FRAME_MAX]; INJECT_MAX]>,
    heads: [(Toward, u16); INJECT_MAX],
    len: usize,
}

const _: () = assert!(BURST_SIZE <= u32::BITS as usize);

impl Default for Verdict {
    fn default() -> Self {
        Verdict {
            drop: 0,
            frames: Box::new([[0; INJECT_FRAME_MAX]; INJECT_MAX]),
            heads: [(Toward::On, 0); INJECT_MAX],
            len: 0,
        }
    }
}

impl Verdict {
    /// Forward everything, inject nothing.
    pub fn clear(&mut self) {
        self.drop = 0;
        self.len = 0;
    }

    /// Drops the `i`-th packet of the burst.
    pub fn drop_packet(&mut self, i: usize) {
        if let Some(bit) = 1u32.checked_shl(i as u32) {
            self.drop |= bit;
        }
    }

    /// Adds a frame that `write` builds in place (returning its length, or
    /// `None` when it cannot); false when it was not added (the verdict is
    /// full, or `write` gave up).
    pub fn inject(
        &mut self,
        toward: Toward,
        write: impl FnOnce(&mut [u8; INJECT_FRAME_MAX]) -> Option<usize>,
    ) -> bool {
        let (Some(buf), Some(head)) = (self.frames.get_mut(self.len), self.heads.get_mut(self.len))
        else {
            return false;
        };
        let Some(len) = write(buf).filter(|&n| n <= INJECT_FRAME_MAX) else {
            return false;
        };
        *head = (toward, len as u16);
        self.len += 1;
        true
    }

    /// The frames injected toward `toward`, in the order they were added.
    pub fn frames(&self, toward: Toward) -> impl Iterator<Item = &[u8]> {
        self.heads
            .iter()
            .zip(self.frames.iter())
            .take(self.len)
            .filter(move |((t, _), _)| *t == toward)
            .filter_map(|((_, len), f)| f.get(..usize::from(*len)))
    }

    pub fn has_frames(&self) -> bool {
        self.len > 0
    }
}

/// What a worker does with each packet besides forwarding it. It sees the
/// packet before it is transmitted and must never block: analysis cannot
/// hold back forwarding. Its verdict on the burst is decided then, from that
/// burst alone.
pub trait Inspect {
    /// The packets of one burst (at most [`BURST_SIZE`]): the `port` they came
    /// in on, their bytes, the TSC of the burst; what to drop and inject.
    fn inspect_burst(&mut self, port: u16, frames: &[&[u8]], now: u64) -> &Verdict;

    /// One packet, as a burst of one.
    fn inspect(&mut self, port: u16, frame: &[u8], now: u64) -> &Verdict {
        self.inspect_burst(port, &[frame], now)
    }

    /// Called once per loop iteration with the TSC, for timers (flow expiry, flushing).
    fn tick(&mut self, now: u64);

    /// The worker is stopping: publish or flush what is pending.
    fn finish(&mut self, now: u64);
}

/// The queues one worker serves for one bridge: the same queue index on both ports.
#[derive(Debug)]
pub struct QueueSet<Q> {
    pub subscriber: Q,
    pub internet: Q,
    pub subscriber_port: u16,
    pub internet_port: u16,
}

/// Receives one burst from `from`, shows each packet to `inspector`, and
/// transmits the burst to `to`; returns the packets received.
#[inline]
#[allow(clippy::too_many_arguments)]
pub fn forward_burst<Q: PacketQueue, I: Inspect>(
    from: &mut Q,
    from_port: u16,
    to: &mut Q,
    to_port: u16,
    burst: &mut Q::Burst,
    inspector: &mut I,
    now: u64,
    counters: &WorkerCounters,
) -> usize {
    let received = from.rx(burst);
    if received == 0 {
        return 0;
    }
    if let Some(c) = counters.port(from_port) {
        c.rx.add(received as u64);
    }
    // Touch every packet's first octets before analysing any: the loads are
    // independent, so their cache misses overlap instead of coming one per packet
    // (the prefetch of DPDK's l3fwd, in safe code).
    let mut frames: [&[u8]; BURST_SIZE] = [&[]; BURST_SIZE];
    let mut touched = 0u8;
    let mut n = 0;
    for (i, slot) in frames.iter_mut().enumerate().take(received) {
        if let Some(frame) = burst.packet(i) {
            touched ^= frame.first().copied().unwrap_or(0);
            *slot = frame;
            n += 1;
        }
    }
    std::hint::black_box(touched);
    let verdict = inspector.inspect_burst(from_port, frames.get(..n).unwrap_or(&[]), now);
    if verdict.drop != 0 {
        burst.free_where(verdict.drop);
    }
    let mut sent = 0;
    for _ in 0..TX_ATTEMPTS {
        sent += to.tx(burst);
        if burst.is_empty() {
            break;
        }
    }
    let dropped = if burst.is_empty() {
        0
    } else {
        tx_failed(burst)
    };
    if let Some(c) = counters.port(to_port) {
        c.tx.add(sent as u64);
        c.tx_dropped.add(dropped as u64);
    }
    if verdict.has_frames() {
        inject(from, from_port, to, to_port, verdict, counters);
    }
    received
}

/// Sends what a verdict injects: answers back, resets on.
#[cold]
#[inline(never)]
fn inject<Q: PacketQueue>(
    from: &mut Q,
    from_port: u16,
    to: &mut Q,
    to_port: u16,
    verdict: &Verdict,
    counters: &WorkerCounters,
) {
    for (queue, port, toward) in [(from, from_port, Toward::Back), (to, to_port, Toward::On)] {
        let done = queue.inject(verdict.frames(toward));
        if let Some(c) = counters.port(port) {
            c.tx.add(done.sent as u64);
            c.tx_dropped.add(done.tx_dropped as u64);
        }
        counters.app.add(AppCount::BlockInjected, done.sent as u64);
        counters.app.add(AppCount::BlockNoMbuf, done.no_mbuf as u64);
    }
}

#[cold]
#[inline(never)]
fn tx_failed<B: PacketBurst>(burst: &mut B) -> usize {
    burst.free_all()
}

/// Polls both ports of every queue set until `stop` is set.
///
/// `tsc` reads the time-stamp counter; the cycles of every iteration that
/// received something are added to `counters.busy_cycles`.
pub fn run_worker<Q: PacketQueue, I: Inspect>(
    sets: &mut [QueueSet<Q>],
    burst: &mut Q::Burst,
    inspector: &mut I,
    counters: &WorkerCounters,
    stop: &AtomicBool,
    tsc: impl Fn() -> u64,
) {
    while !stop.load(Ordering::Relaxed) {
        let start = tsc();
        let mut received = 0;
        for set in sets.iter_mut() {
            received += forward_burst(
                &mut set.subscriber,
                set.subscriber_port,
                &mut set.internet,
                set.internet_port,
                burst,
                inspector,
                start,
                counters,
            );
            received += forward_burst(
                &mut set.internet,
                set.internet_port,
                &mut set.subscriber,
                set.subscriber_port,
                burst,
                inspector,
                start,
                counters,
            );
        }
        inspector.tick(start);
        if received > 0 {
            counters.busy_cycles.add(tsc().wrapping_sub(start));
        }
        counters.polls.add(1);
    }
    inspector.finish(tsc());
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::collections::VecDeque;
    use std::rc::Rc;

    /// Packets as byte vectors; `freed` counts what `free_all` released.
    #[derive(Default)]
    struct VecBurst {
        packets: VecDeque<Vec<u8>>,
        freed: Rc<Cell<usize>>,
    }

    impl PacketBurst for VecBurst {
        fn len(&self) -> usize {
            self.packets.len()
        }
        fn packet(&self, i: usize) -> Option<&[u8]> {
            self.packets.get(i).map(Vec::as_slice)
        }
        fn free_all(&mut self) -> usize {
            let n = self.packets.len();
            self.packets.clear();
            self.freed.set(self.freed.get() + n);
            n
        }
        fn free_where(&mut self, mask: u32) -> usize {
            let before = self.packets.len();
            let mut i = 0;
            self.packets.retain(|_| {
                i += 1;
                mask & (1 << (i - 1)) == 0
            });
            let n = before - self.packets.len();
            self.freed.set(self.freed.get() + n);
            n
        }
    }

    /// A queue fed from `input`; its TX takes at most `accept` packets per call
    /// while `accept_calls` lasts, then nothing.
    struct VecQueue {
        input: VecDeque<Vec<u8>>,
        output: Vec<Vec<u8>>,
        accept: usize,
        accept_calls: usize,
        /// Its pool is empty: nothing can be injected.
        pool_empty: bool,
    }

    impl VecQueue {
        fn new(input: Vec<Vec<u8>>) -> Self {
            Self {
                input: input.into(),
                output: Vec::new(),
                accept: usize::MAX,
                accept_calls: usize::MAX,
                pool_empty: false,
            }
        }
    }

    impl PacketQueue for VecQueue {
        type Burst = VecBurst;
        fn rx(&mut self, burst: &mut VecBurst) -> usize {
            assert!(burst.is_empty(), "rx into a burst that still holds packets");
            let n = self.input.len().min(BURST_SIZE);
            burst.packets.extend(self.input.drain(..n));
            n
        }
        fn tx(&mut self, burst: &mut VecBurst) -> usize {
            if self.accept_calls == 0 {
                return 0;
            }
            self.accept_calls -= 1;
            let n = burst.len().min(self.accept);
            self.output.extend(burst.packets.drain(..n));
            n
        }
        fn inject<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> Injected {
            if self.pool_empty {
                return Injected {
                    no_mbuf: frames.count(),
                    ..Injected::default()
                };
            }
            let before = self.output.len();
            self.output.extend(frames.map(<[u8]>::to_vec));
            Injected {
                sent: self.output.len() - before,
                ..Injected::default()
            }
        }
    }

    /// Records what it was shown; drops packets that start with `drop_tag`
    /// and answers each with its bytes reversed (back) and a copy (on).
    #[derive(Default)]
    struct Seen {
        packets: Vec<(u16, Vec<u8>, u64)>,
        ticks: Vec<u64>,
        finished: Option<u64>,
        drop_tag: Option<u8>,
        verdict: Verdict,
    }

    impl Inspect for Seen {
        fn inspect_burst(&mut self, port: u16, frames: &[&[u8]], now: u64) -> &Verdict {
            self.verdict.clear();
            for (i, frame) in frames.iter().enumerate() {
                self.packets.push((port, frame.to_vec(), now));
                if frame.first().copied() == self.drop_tag {
                    self.verdict.drop_packet(i);
                    for (toward, reverse) in [(Toward::Back, true), (Toward::On, false)] {
                        self.verdict.inject(toward, |buf| {
                            buf[..frame.len()].copy_from_slice(frame);
                            if reverse {
                                buf[..frame.len()].reverse();
                            }
                            Some(frame.len())
                        });
                    }
                }
            }
            &self.verdict
        }
        fn tick(&mut self, now: u64) {
            self.ticks.push(now);
        }
        fn finish(&mut self, now: u64) {
            self.finished = Some(now);
        }
    }

    fn packets(tag: u8, n: usize) -> Vec<Vec<u8>> {
        (0..n)
            .map(|i| vec![tag, (i % 251) as u8, (i / 251) as u8])
            .collect()
    }

    #[test]
    fn both_directions_arrive_unchanged_and_in_order() {
        let a = packets(0xa, 100);
        let b = packets(0xb, 70);
        let mut sets = [QueueSet {
            subscriber: VecQueue::new(a.clone()),
            internet: VecQueue::new(b.clone()),
            subscriber_port: 0,
            internet_port: 1,
        }];
        let counters = WorkerCounters::default();
        let mut burst = VecBurst::default();
        let mut seen = Seen::default();
        for now in 0..10 {
            let [set] = &mut sets;
            let (sub, int) = (&mut set.subscriber, &mut set.internet);
            forward_burst(sub, 0, int, 1, &mut burst, &mut seen, now, &counters);
            forward_burst(int, 1, sub, 0, &mut burst, &mut seen, now, &counters);
        }
        let [set] = sets;
        assert_eq!(set.internet.output, a);
        assert_eq!(set.subscriber.output, b);
        // The inspector saw every packet once, with its port and its burst's time.
        let from = |port: u16| -> Vec<Vec<u8>> {
            let seen = seen.packets.iter().filter(|p| p.0 == port);
            seen.map(|p| p.1.clone()).collect()
        };
        assert_eq!((from(0), from(1)), (a, b));
        assert_eq!(seen.packets.first().map(|p| p.2), Some(0));
        assert_eq!(seen.packets.last().map(|p| p.2), Some(3));
        assert_eq!(
            (counters.ports[0].rx.get(), counters.ports[1].tx.get()),
            (100, 100)
        );
        assert_eq!(
            (counters.ports[1].rx.get(), counters.ports[0].tx.get()),
            (70, 70)
        );
        assert_eq!(counters.totals().tx_dropped, 0);
    }

    #[test]
    fn a_partial_tx_is_retried_until_everything_is_sent() {
        let mut from = VecQueue::new(packets(1, BURST_SIZE));
        let mut to = VecQueue::new(Vec::new());
        to.accept = 5; // 32 packets need 7 calls, within TX_ATTEMPTS
        let counters = WorkerCounters::default();
        let mut burst = VecBurst::default();
        let seen = &mut Seen::default();
        assert_eq!(
            forward_burst(&mut from, 0, &mut to, 1, &mut burst, seen, 0, &counters),
            BURST_SIZE
        );
        assert_eq!(to.output, packets(1, BURST_SIZE));
        assert_eq!(counters.ports[1].tx.get(), BURST_SIZE as u64);
        assert_eq!(counters.ports[1].tx_dropped.get(), 0);
        assert_eq!(burst.freed.get(), 0);
    }

    #[test]
    fn what_tx_never_takes_is_freed_and_counted() {
        let mut from = VecQueue::new(packets(1, 20));
        let mut to = VecQueue::new(Vec::new());
        to.accept = 4;
        to.accept_calls = 2; // 8 sent, then the ring stays full
        let counters = WorkerCounters::default();
        let mut burst = VecBurst::default();
        let seen = &mut Seen::default();
        forward_burst(&mut from, 0, &mut to, 1, &mut burst, seen, 0, &counters);
        assert!(burst.is_empty(), "the burst must be empty for the next rx");
        assert_eq!(burst.freed.get(), 12);
        assert_eq!(counters.ports[1].tx.get(), 8);
        assert_eq!(counters.ports[1].tx_dropped.get(), 12);
        assert_eq!(counters.ports[0].rx.get(), 20);
        assert_eq!(to.output, packets(1, 8));
    }

    #[test]
    fn a_verdict_drops_its_packets_and_sends_its_frames_both_ways() {
        let mut input = packets(1, 10);
        input[3] = vec![9, 1, 2];
        input[7] = vec![9, 3, 4];
        let mut from = VecQueue::new(input.clone());
        let mut to = VecQueue::new(Vec::new());
        let counters = WorkerCounters::default();
        let mut burst = VecBurst::default();
        let seen = &mut Seen {
            drop_tag: Some(9),
            ..Seen::default()
        };
        forward_burst(&mut from, 0, &mut to, 1, &mut burst, seen, 0, &counters);
        assert!(burst.is_empty());
        assert_eq!(burst.freed.get(), 2, "the dropped packets are freed");
        let mut forwarded = input.clone();
        forwarded.remove(7);
        forwarded.remove(3);
        forwarded.extend([vec![9, 1, 2], vec![9, 3, 4]]);
        assert_eq!(
            to.output, forwarded,
            "the rest in order, then the frames sent on"
        );
        assert_eq!(from.output, [vec![2, 1, 9], vec![4, 3, 9]]);
        assert_eq!(counters.ports[0].tx.get(), 2);
        assert_eq!(counters.ports[1].tx.get(), 10);
        assert_eq!(counters.app.get(AppCount::BlockInjected), 4);
    }

    #[test]
    fn with_the_pool_empty_the_request_is_dropped_all_the_same_and_counted() {
        let mut from = VecQueue::new(vec![vec![9, 1], vec![1, 1]]);
        let mut to = VecQueue::new(Vec::new());
        from.pool_empty = true;
        to.pool_empty = true;
        let counters = WorkerCounters::default();
        let mut burst = VecBurst::default();
        let seen = &mut Seen {
            drop_tag: Some(9),
            ..Seen::default()
        };
        forward_burst(&mut from, 0, &mut to, 1, &mut burst, seen, 0, &counters);
        assert_eq!(to.output, [vec![1, 1]]);
        assert!(from.output.is_empty());
        assert_eq!(counters.app.get(AppCount::BlockNoMbuf), 2);
        assert_eq!(counters.app.get(AppCount::BlockInjected), 0);
    }

    #[test]
    fn a_full_verdict_refuses_more_frames() {
        let mut v = Verdict::default();
        for _ in 0..INJECT_MAX {
            assert!(v.inject(Toward::On, |_| Some(1)));
        }
        assert!(!v.inject(Toward::On, |_| Some(1)));
        assert!(!Verdict::default().inject(Toward::On, |_| None));
        assert_eq!(v.frames(Toward::On).count(), INJECT_MAX);
        v.clear();
        assert!(!v.has_frames());
    }

    #[test]
    fn run_worker_counts_busy_cycles_and_stops() {
        let stop = AtomicBool::new(false);
        let counters = WorkerCounters::default();
        let mut sets = [QueueSet {
            subscriber: VecQueue::new(packets(2, 40)),
            internet: VecQueue::new(Vec::new()),
            subscriber_port: 3,
            internet_port: 4,
        }];
        let clock = Cell::new(0u64);
        // Each clock read advances 10 cycles; the read that reaches 100 asks the worker to stop.
        let tsc = || {
            clock.set(clock.get() + 10);
            if clock.get() >= 100 {
                stop.store(true, Ordering::Relaxed);
            }
            clock.get()
        };
        let mut seen = Seen::default();
        run_worker(
            &mut sets,
            &mut VecBurst::default(),
            &mut seen,
            &counters,
            &stop,
            tsc,
        );
        assert_eq!(sets[0].internet.output.len(), 40);
        assert_eq!(seen.packets.len(), 40);
        assert_eq!(
            seen.ticks,
            [10, 30, 50, 60, 70, 80, 90, 100],
            "one tick per iteration"
        );
        assert_eq!(counters.ports[3].rx.get(), 40);
        assert_eq!(counters.ports[4].tx.get(), 40);
        // Two iterations received packets (32 + 8), each 10 cycles long (two reads);
        // idle iterations read the clock once: 40 + 6 x 10 = 100 after 8 polls.
        assert_eq!(counters.busy_cycles.get(), 20);
        assert_eq!(counters.polls.get(), 8);
    }
}
