//! The forwarding loop of a worker lcore: receive a burst on one port of a
//! bridge, hand every packet unchanged to the peer port.
//!
//! Ownership of packets, the contract [`PacketQueue`] implementations keep:
//! - a packet received into a [`PacketBurst`] is owned by that burst;
//! - [`PacketQueue::tx`] moves the packets the driver accepted out of the burst
//!   (the driver frees them after sending); the rest stay in the burst;
//! - what is left after [`TX_ATTEMPTS`] attempts is freed with
//!   [`PacketBurst::free_all`] and counted as `tx_dropped`;
//! - so a burst is empty again when [`forward_burst`] returns, and nothing leaks.

use std::sync::atomic::{AtomicBool, Ordering};

use crate::counters::WorkerCounters;

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
}

/// One RX/TX queue pair of a port.
pub trait PacketQueue {
    type Burst: PacketBurst;

    /// Receives up to [`BURST_SIZE`] packets into an empty `burst`; returns how many arrived.
    fn rx(&mut self, burst: &mut Self::Burst) -> usize;

    /// Transmits from the front of `burst`; the accepted packets leave the burst.
    /// Returns how many were accepted.
    fn tx(&mut self, burst: &mut Self::Burst) -> usize;
}

/// What a worker does with each packet besides forwarding it. It sees the
/// packet before it is transmitted and must never block: analysis cannot
/// hold back forwarding.
pub trait Inspect {
    /// The packets of one burst (at most [`BURST_SIZE`]): the `port` they came
    /// in on, their bytes, the TSC of the burst.
    fn inspect_burst(&mut self, port: u16, frames: &[&[u8]], now: u64);

    /// One packet, as a burst of one.
    fn inspect(&mut self, port: u16, frame: &[u8], now: u64) {
        self.inspect_burst(port, &[frame], now);
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
    inspector.inspect_burst(from_port, frames.get(..n).unwrap_or(&[]), now);
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
    received
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
    }

    /// A queue fed from `input`; its TX takes at most `accept` packets per call
    /// while `accept_calls` lasts, then nothing.
    struct VecQueue {
        input: VecDeque<Vec<u8>>,
        output: Vec<Vec<u8>>,
        accept: usize,
        accept_calls: usize,
    }

    impl VecQueue {
        fn new(input: Vec<Vec<u8>>) -> Self {
            Self {
                input: input.into(),
                output: Vec::new(),
                accept: usize::MAX,
                accept_calls: usize::MAX,
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
    }

    /// Records what it was shown.
    #[derive(Default)]
    struct Seen {
        packets: Vec<(u16, Vec<u8>, u64)>,
        ticks: Vec<u64>,
        finished: Option<u64>,
    }

    impl Inspect for Seen {
        fn inspect_burst(&mut self, port: u16, frames: &[&[u8]], now: u64) {
            for frame in frames {
                self.packets.push((port, frame.to_vec(), now));
            }
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
