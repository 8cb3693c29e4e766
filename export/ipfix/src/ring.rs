//! The ring between a worker and the export lcore, sans-IO: encoded records
//! travel in [`Chunk`]s through a bounded lock-free queue, and come back
//! cleared through a free queue.
//!
//! ```text
//!  worker: RecordSender ──ring: ArrayQueue<Chunk>──► RecordReceiver: export lcore
//!            ▲  push(&record)                            │  pop(), then recycle(chunk)
//!            └────────────── free: ArrayQueue<Chunk> ◄───┘
//! ```
//!
//! - [`RecordSender::push`] encodes a typed record into the worker's current
//!   chunk; a full chunk is handed over ([`RecordSender::try_send`]). A full
//!   ring gives the chunk back and counts its records as dropped; the worker
//!   never waits.
//! - Every chunk is allocated by [`ring`] (the ring's capacity plus one being
//!   filled and one being drained): after start-up nothing is allocated, and
//!   a worker with no free chunk drops the record and counts it.
//! - What a worker drops is counted per stream in atomics that any thread
//!   reads through [`SenderCounters`].

use crate::encoder::{Chunk, EncodeError};
use crate::template::{Record, Routes, Stream};
use crossbeam_queue::ArrayQueue;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The size of one ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Chunks the ring holds (at least 1).
    pub ring_chunks: usize,
    /// Octets of one chunk (raised to hold at least one record of the limit).
    pub chunk_bytes: usize,
    /// The longest data record every collector session can carry: the
    /// `limit` given to [`Chunk::push`].
    pub record_limit: usize,
}

/// Makes one worker's ring: its sending end (move it to the worker) and the
/// export lcore's end.
pub fn ring(cfg: RingConfig) -> (RecordSender, RecordReceiver) {
    let chunk_bytes = cfg.chunk_bytes.max(cfg.record_limit + 4);
    let ring_chunks = cfg.ring_chunks.max(1);
    let ring = Arc::new(ArrayQueue::new(ring_chunks));
    // Chunks in flight: the ring's, one being filled, one being drained.
    let pool = ring_chunks + 2;
    let free = Arc::new(ArrayQueue::new(pool));
    for _ in 0..pool {
        let _ = free.push(Chunk::with_capacity(chunk_bytes));
    }
    let shared = Arc::new(Shared::default());
    let rx = RecordReceiver {
        ring: Arc::clone(&ring),
        free: Arc::clone(&free),
        shared: Arc::clone(&shared),
    };
    let tx = RecordSender {
        ring,
        free,
        shared,
        routes: Routes::new(),
        limit: cfg.record_limit,
        cur: None,
    };
    (tx, rx)
}

/// Counters a worker updates, per stream in [`Stream::ALL`] order.
#[derive(Debug, Default)]
struct Shared {
    ring_full: [AtomicU64; 3],
    ring_full_octets: [AtomicU64; 3],
    no_chunk: [AtomicU64; 3],
    too_long: [AtomicU64; 3],
    truncated: [AtomicU64; 3],
    chunks_sent: AtomicU64,
}

fn bump(a: &[AtomicU64; 3], s: Stream, n: u64) {
    if let Some(c) = a.get(s.index()) {
        c.fetch_add(n, Ordering::Relaxed);
    }
}

impl Shared {
    /// Counts the records of a chunk refused by a full ring, per stream.
    fn count_ring_full(&self, routes: &Routes, chunk: &Chunk) {
        let mut n = [0u64; 3];
        let mut o = [0u64; 3];
        for (id, rec) in chunk.iter() {
            if let Some(s) = routes.stream(id)
                && let (Some(n), Some(o)) = (n.get_mut(s.index()), o.get_mut(s.index()))
            {
                *n += 1;
                *o += rec.len() as u64;
            }
        }
        for s in Stream::ALL {
            let i = s.index();
            if let (Some(&n), Some(&o)) = (n.get(i), o.get(i))
                && n > 0
            {
                bump(&self.ring_full, s, n);
                bump(&self.ring_full_octets, s, o);
            }
        }
    }

    fn load(&self) -> SenderCounts {
        let get = |a: &[AtomicU64; 3]| a.each_ref().map(|x| x.load(Ordering::Relaxed));
        SenderCounts {
            ring_full: get(&self.ring_full),
            ring_full_octets: get(&self.ring_full_octets),
            no_chunk: get(&self.no_chunk),
            too_long: get(&self.too_long),
            truncated: get(&self.truncated),
            chunks_sent: self.chunks_sent.load(Ordering::Relaxed),
        }
    }
}

/// What one worker counted, per stream in [`Stream::ALL`] order
/// ([`Stream::index`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SenderCounts {
    /// Records dropped because the ring was full.
    pub ring_full: [u64; 3],
    /// Their octets.
    pub ring_full_octets: [u64; 3],
    /// Records dropped with no free chunk.
    pub no_chunk: [u64; 3],
    /// Records longer than the record limit.
    pub too_long: [u64; 3],
    /// Records exported with a variable-length field cut to fit the limit.
    pub truncated: [u64; 3],
    /// Chunks handed to the export lcore.
    pub chunks_sent: u64,
}

impl SenderCounts {
    /// Records of stream `s` the worker dropped (ring full, no chunk, too long).
    pub fn dropped(&self, s: Stream) -> u64 {
        s.of(&self.ring_full) + s.of(&self.no_chunk) + s.of(&self.too_long)
    }
}

/// Reads one worker's counters from any thread.
#[derive(Clone, Debug)]
pub struct SenderCounters(Arc<Shared>);

impl SenderCounters {
    /// The counts now (each counter read once, relaxed).
    pub fn load(&self) -> SenderCounts {
        self.0.load()
    }
}

/// A worker's end of its ring to the export lcore. `Send`: move it to the
/// worker; one per worker (the ring is single-producer by ownership).
#[derive(Debug)]
pub struct RecordSender {
    ring: Arc<ArrayQueue<Chunk>>,
    free: Arc<ArrayQueue<Chunk>>,
    shared: Arc<Shared>,
    routes: Routes,
    limit: usize,
    cur: Option<Chunk>,
}

impl RecordSender {
    /// The longest data record every collector session can carry: the
    /// `limit` to give [`Chunk::push`].
    pub fn record_limit(&self) -> usize {
        self.limit
    }

    /// A cleared chunk from the free ring; None when every chunk is in
    /// flight (the ring is full of them).
    pub fn take_chunk(&self) -> Option<Chunk> {
        self.free.pop()
    }

    /// Hands `chunk` to the export lcore. A full ring gives it back (`Err`),
    /// its records counted as dropped (ring full): clear it and reuse it.
    /// An empty chunk goes straight back to the free ring.
    pub fn try_send(&self, chunk: Chunk) -> Result<(), Chunk> {
        if chunk.is_empty() {
            let _ = self.free.push(chunk);
            return Ok(());
        }
        match self.ring.push(chunk) {
            Ok(()) => {
                self.shared.chunks_sent.fetch_add(1, Ordering::Relaxed);
                Ok(())
            }
            Err(chunk) => {
                self.shared.count_ring_full(&self.routes, &chunk);
                Err(chunk)
            }
        }
    }

    /// Encodes `r` into the current chunk; a full chunk is sent first.
    /// Returns false when the record was dropped (counted: ring full, no
    /// free chunk, or a record that cannot fit the limit).
    pub fn push<R: Record>(&mut self, r: &R) -> bool {
        let s = r.template().def.stream;
        let limit = self.limit;
        for _ in 0..2 {
            let Some(chunk) = self.current() else {
                bump(&self.shared.no_chunk, s, 1);
                return false;
            };
            match chunk.push(r, limit) {
                Ok(pushed) => {
                    // Cut to fit the MTU: exported, but said so.
                    if pushed.truncated {
                        bump(&self.shared.truncated, s, 1);
                    }
                    return true;
                }
                Err(EncodeError::NoRoom { .. }) if !chunk.is_empty() => {
                    self.flush();
                }
                Err(_) => break,
            }
        }
        bump(&self.shared.too_long, s, 1);
        false
    }

    fn current(&mut self) -> Option<&mut Chunk> {
        if self.cur.is_none() {
            self.cur = self.free.pop();
        }
        self.cur.as_mut()
    }

    /// Sends the current chunk if it holds records (call at the end of a
    /// burst or when idle, so records do not wait for a chunk to fill).
    pub fn flush(&mut self) {
        let Some(chunk) = self.cur.take() else { return };
        if chunk.is_empty() {
            self.cur = Some(chunk);
            return;
        }
        if let Err(mut chunk) = self.try_send(chunk) {
            chunk.clear();
            self.cur = Some(chunk);
        }
    }

    /// This worker's counters, for another thread.
    pub fn counters(&self) -> SenderCounters {
        SenderCounters(Arc::clone(&self.shared))
    }
}

/// The export lcore's end of one worker ring.
#[derive(Debug)]
pub struct RecordReceiver {
    ring: Arc<ArrayQueue<Chunk>>,
    free: Arc<ArrayQueue<Chunk>>,
    shared: Arc<Shared>,
}

impl RecordReceiver {
    /// Chunks waiting in the ring now.
    pub fn len(&self) -> usize {
        self.ring.len()
    }

    /// True when no chunk waits.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// The oldest chunk waiting; give it back with [`Self::recycle`].
    pub fn pop(&self) -> Option<Chunk> {
        self.ring.pop()
    }

    /// Clears `chunk` and returns it to the worker's free ring.
    pub fn recycle(&self, mut chunk: Chunk) {
        chunk.clear();
        let _ = self.free.push(chunk);
    }

    /// The worker's counters, for another thread.
    pub fn counters(&self) -> SenderCounters {
        SenderCounters(Arc::clone(&self.shared))
    }

    /// The worker's counts now.
    pub fn counts(&self) -> SenderCounts {
        self.shared.load()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encoder::record_limit_for_mtu;
    use crate::field::Text;
    use crate::samples;
    use crate::template::Clickstream;

    fn small(ring_chunks: usize, chunk_bytes: usize) -> (RecordSender, RecordReceiver) {
        ring(RingConfig {
            ring_chunks,
            chunk_bytes,
            record_limit: record_limit_for_mtu(1500),
        })
    }

    #[test]
    fn both_ends_move_to_their_threads() {
        fn is_send<T: Send>() {}
        is_send::<RecordSender>();
        is_send::<RecordReceiver>();
        is_send::<SenderCounters>();
    }

    #[test]
    fn full_ring_gives_the_chunk_back_and_counts() {
        let (tx, rx) = small(2, 256);
        let mut sent = 0;
        let mut refused = None;
        for _ in 0..3 {
            let mut c = tx.take_chunk().unwrap();
            c.push(&samples::dns(1, false), tx.record_limit()).unwrap();
            match tx.try_send(c) {
                Ok(()) => sent += 1,
                Err(c) => refused = Some(c),
            }
        }
        assert_eq!(sent, 2);
        let c = refused.expect("third chunk refused");
        assert_eq!(c.records(), 1);
        let n = rx.counts();
        assert_eq!(n.ring_full[Stream::Dns.index()], 1);
        assert!(n.ring_full_octets[Stream::Dns.index()] > 0);
        assert_eq!(n.dropped(Stream::Dns), 1);
        assert_eq!(n.chunks_sent, 2);
        // Pool: ring 2 + 2; two in the ring, one refused in hand: one left.
        assert!(tx.take_chunk().is_some());
        assert!(tx.take_chunk().is_none());
        // Drained and recycled: the chunks are back, cleared.
        assert_eq!(rx.len(), 2);
        while let Some(c) = rx.pop() {
            assert_eq!(c.records(), 1);
            rx.recycle(c);
        }
        assert!(rx.is_empty());
        assert_eq!(tx.take_chunk().map(|c| c.records()), Some(0));
    }

    #[test]
    fn push_flushes_full_chunks_and_counts_what_it_drops() {
        let (mut tx, rx) = small(1, 0);
        // Records until a chunk is full and handed over.
        let mut first = 0;
        while rx.is_empty() && first < 10_000 {
            assert!(tx.push(&samples::dns(1, false)));
            first += 1;
        }
        assert_eq!(rx.len(), 1);
        let per_chunk = first - 1;
        assert!(per_chunk > 1);
        // The ring (1) is full: the next full chunk is refused, its records
        // counted as dropped, and the chunk reused (cleared) for the record.
        for _ in 0..per_chunk {
            assert!(tx.push(&samples::dns(2, false)));
        }
        let n = rx.counts();
        assert_eq!(n.ring_full[Stream::Dns.index()], per_chunk as u64);
        assert_eq!(n.dropped(Stream::Dns), per_chunk as u64);
        assert_eq!(n.no_chunk, [0; 3]);
        assert_eq!(n.chunks_sent, 1);
    }

    #[test]
    fn records_cut_to_fit_the_limit_are_counted() {
        let (mut tx, rx) = small(4, 16 * 1024);
        let long_path = "/p".repeat(3000);
        let record = Clickstream {
            path: Text::new(long_path.as_bytes()),
            ..samples::clickstream(1, false)
        };
        assert!(tx.push(&samples::clickstream(1, false)));
        assert!(tx.push(&record), "a long field is cut, the record kept");
        assert_eq!(rx.counts().truncated[Stream::Clickstream.index()], 1);
    }
}
