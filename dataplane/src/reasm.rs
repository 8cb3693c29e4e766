//! Bounded reassembly of the first bytes of TCP streams, for parsers whose
//! message spans segments (TLS ClientHellos of modern browsers, HTTP headers,
//! DNS over TCP).
//!
//! One [`StreamPool`] per worker holds every buffer, allocated once at start:
//! `slots` buffers of `slot_size` octets. A flow direction that needs
//! reassembly takes a slot ([`StreamPool::open`]) and gives it back when its
//! parser holds no partial message, or the flow ends ([`StreamPool::close`]).
//! When every slot is taken, `open` reclaims the least recently used one
//! (counted): its owner finds its reference stale ([`StreamPool::is_live`])
//! and starts over, so a burst of streams never blinds the worker.
//!
//! Within a slot, bytes are placed by TCP sequence number relative to the
//! stream's first octet, so retransmissions land on themselves and
//! out-of-order segments wait in place until the gap before them is filled.
//! What lies beyond `slot_size` is cut (and said so).

/// Out-of-order runs kept beyond the contiguous prefix; a segment that would
/// need more is left out (it is retransmitted or the stream stays short).
const MAX_RUNS: usize = 4;

/// A slot of the pool, held by one flow direction. Small and `Copy` so it can
/// live in the flow table's per-flow state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StreamRef {
    slot: u32,
    /// Guards against a stale reference to a slot that was closed and reused.
    generation: u32,
}

impl StreamRef {
    /// The slot's number, for tables kept beside the pool (one entry per slot).
    pub fn index(self) -> usize {
        self.slot as usize
    }
}

/// What [`StreamPool::push`] did with a segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pushed {
    /// The contiguous prefix grew: the parser has new bytes to look at.
    pub grew: bool,
    /// Part of the segment lay beyond the slot and was cut.
    pub cut: bool,
    /// The segment started before the stream (an old retransmission) or could not
    /// be tracked (too many out-of-order runs, a stale reference); nothing was kept.
    pub ignored: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    /// Sequence number of the stream's first octet.
    base: u32,
    /// Octets from the start that are all present.
    contiguous: u32,
    /// Runs `[start, end)` (offsets) received beyond `contiguous`, unordered.
    runs: [(u32, u32); MAX_RUNS],
    run_count: u8,
    generation: u32,
    open: bool,
}

/// No slot (the end of the recency list).
const NIL: u32 = u32::MAX;

/// A slot's place in the recency list of open slots (least recent first).
#[derive(Clone, Copy, Debug)]
struct Link {
    prev: u32,
    next: u32,
}

/// Counters of a pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PoolStats {
    pub opened: u64,
    /// `open` found no free slot and took the least recently used one.
    pub reclaimed: u64,
    /// `open` found no slot at all (a pool of 0 slots).
    pub exhausted: u64,
    /// Segments (partly) beyond a slot's end.
    pub cut: u64,
    /// Segments left out: before the stream start, or one out-of-order run too many.
    pub ignored: u64,
}

/// Every reassembly buffer of one worker.
pub struct StreamPool {
    data: Box<[u8]>,
    slots: Box<[Slot]>,
    /// The recency list of open slots: `lru_head` was pushed to least recently.
    links: Box<[Link]>,
    lru_head: u32,
    lru_tail: u32,
    free: Vec<u32>,
    slot_size: u32,
    stats: PoolStats,
}

impl StreamPool {
    /// `slots` buffers of `slot_size` octets, allocated now and never again.
    pub fn new(slots: u32, slot_size: u32) -> StreamPool {
        let len = usize::try_from(u64::from(slots) * u64::from(slot_size)).unwrap_or(0);
        StreamPool {
            data: vec![0; len].into_boxed_slice(),
            slots: vec![Slot::default(); slots as usize].into_boxed_slice(),
            links: vec![
                Link {
                    prev: NIL,
                    next: NIL
                };
                slots as usize
            ]
            .into_boxed_slice(),
            lru_head: NIL,
            lru_tail: NIL,
            free: (0..slots).rev().collect(),
            slot_size,
            stats: PoolStats::default(),
        }
    }

    pub fn slot_size(&self) -> u32 {
        self.slot_size
    }

    pub fn stats(&self) -> PoolStats {
        self.stats
    }

    /// Slots in use.
    pub fn in_use(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    pub fn memory_bytes(&self) -> usize {
        self.data.len()
            + std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.links)
            + self.free.capacity() * 4
    }

    /// Takes a slot for a stream whose first octet has sequence number `base`:
    /// a free one, else the least recently used one (counted; its owner's
    /// reference goes stale). `None` only for a pool without slots.
    pub fn open(&mut self, base: u32) -> Option<StreamRef> {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None if self.lru_head != NIL => {
                let victim = self.lru_head;
                self.unlink(victim);
                self.stats.reclaimed += 1;
                victim
            }
            None => {
                self.stats.exhausted += 1;
                return None;
            }
        };
        self.link_tail(slot);
        let s = self.slots.get_mut(slot as usize)?;
        *s = Slot {
            base,
            generation: s.generation.wrapping_add(1),
            open: true,
            ..Slot::default()
        };
        self.stats.opened += 1;
        Some(StreamRef {
            slot,
            generation: s.generation,
        })
    }

    /// Gives the slot back. A stale or repeated close does nothing.
    pub fn close(&mut self, r: StreamRef) {
        if let Some(s) = self.slot_mut(r) {
            s.open = false;
            self.unlink(r.slot);
            self.free.push(r.slot);
        }
    }

    /// The reference still names its slot (it was not closed, nor reclaimed
    /// for another stream).
    pub fn is_live(&self, r: StreamRef) -> bool {
        self.slots
            .get(r.slot as usize)
            .is_some_and(|s| s.open && s.generation == r.generation)
    }

    fn unlink(&mut self, i: u32) {
        let Some(&Link { prev, next }) = self.links.get(i as usize) else {
            return;
        };
        match self.links.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => self.lru_head = next,
        }
        match self.links.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => self.lru_tail = prev,
        }
        if let Some(l) = self.links.get_mut(i as usize) {
            *l = Link {
                prev: NIL,
                next: NIL,
            };
        }
    }

    fn link_tail(&mut self, i: u32) {
        let tail = self.lru_tail;
        if let Some(l) = self.links.get_mut(i as usize) {
            *l = Link {
                prev: tail,
                next: NIL,
            };
        }
        match self.links.get_mut(tail as usize) {
            Some(t) => t.next = i,
            None => self.lru_head = i,
        }
        self.lru_tail = i;
    }

    /// The contiguous bytes of the stream so far (empty for a stale reference).
    pub fn contiguous(&self, r: StreamRef) -> &[u8] {
        let Some(s) = self
            .slots
            .get(r.slot as usize)
            .filter(|s| s.open && s.generation == r.generation)
        else {
            return &[];
        };
        let start = r.slot as usize * self.slot_size as usize;
        self.data
            .get(start..start + s.contiguous as usize)
            .unwrap_or(&[])
    }

    /// Sequence number of the first octet in the slot (the stream's first octet
    /// until [`StreamPool::consume`] moves it); `None` for a stale reference.
    pub fn base(&self, r: StreamRef) -> Option<u32> {
        self.slots
            .get(r.slot as usize)
            .filter(|s| s.open && s.generation == r.generation)
            .map(|s| s.base)
    }

    /// The stream filled its slot: nothing more can be added.
    pub fn is_full(&self, r: StreamRef) -> bool {
        self.slots.get(r.slot as usize).is_some_and(|s| {
            s.open && s.generation == r.generation && s.contiguous >= self.slot_size
        })
    }

    /// Places a segment with sequence number `seq`.
    pub fn push(&mut self, r: StreamRef, seq: u32, payload: &[u8]) -> Pushed {
        let ignored = Pushed {
            ignored: true,
            ..Pushed::default()
        };
        let Some(mut slot) = self.slot_mut(r).map(|s| *s) else {
            return ignored;
        };
        if self.lru_tail != r.slot {
            self.unlink(r.slot);
            self.link_tail(r.slot);
        }
        let mut offset = seq.wrapping_sub(slot.base);
        let mut payload = payload;
        // Offsets "before" the base wrap to huge values: half the sequence space back.
        // A segment that starts before the base (already consumed, or skipped)
        // keeps the part that reaches past it.
        if offset >= 1 << 31 {
            let behind = slot.base.wrapping_sub(seq) as usize;
            match payload.get(behind..) {
                Some(rest) if !rest.is_empty() => {
                    payload = rest;
                    offset = 0;
                }
                _ => {
                    self.stats.ignored += 1;
                    return ignored;
                }
            }
        }
        let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
        let cut = offset.saturating_add(len) > self.slot_size;
        if cut {
            self.stats.cut += 1;
        }
        let end = offset.saturating_add(len).min(self.slot_size);
        if offset >= end {
            return Pushed {
                cut,
                ..Pushed::default()
            };
        }
        if offset > slot.contiguous && !slot.can_track(offset, end) {
            self.stats.ignored += 1;
            return Pushed { cut, ..ignored };
        }
        let start = r.slot as usize * self.slot_size as usize;
        let src = payload.get(..(end - offset) as usize).unwrap_or(&[]);
        if let Some(dst) = self
            .data
            .get_mut(start + offset as usize..start + end as usize)
        {
            dst.copy_from_slice(src);
        }
        let grew = slot.add_run(offset, end);
        if let Some(s) = self.slot_mut(r) {
            *s = slot;
        }
        Pushed {
            grew,
            cut,
            ignored: false,
        }
    }

    /// The parser is done with the first `n` octets of the stream: they leave the
    /// slot and what follows moves to its start, so a long-lived stream (HTTP
    /// keep-alive) is read through the slot as through a window. `n` may reach past
    /// what has arrived (a body skipped by its length): octets up to there are then
    /// dropped on arrival.
    pub fn consume(&mut self, r: StreamRef, n: u32) {
        let slot_size = self.slot_size as usize;
        let Some(slot) = self.slot_mut(r) else {
            return;
        };
        slot.base = slot.base.wrapping_add(n);
        let kept = slot.contiguous.saturating_sub(n);
        slot.contiguous = kept;
        let mut runs = 0;
        for i in 0..usize::from(slot.run_count) {
            let Some(&(a, b)) = slot.runs.get(i) else {
                break;
            };
            if b > n
                && let Some(run) = slot.runs.get_mut(runs)
            {
                *run = (a.saturating_sub(n), b - n);
                runs += 1;
            }
        }
        slot.run_count = runs as u8;
        // Only the octets the slot still holds move (the prefix and the runs
        // past it), not the whole slot: a parser consumes line by line.
        let held = slot
            .runs
            .iter()
            .take(runs)
            .fold(kept, |end, &(_, b)| end.max(b)) as usize;
        // Runs that now start at 0 join the prefix.
        slot.add_run(0, kept);
        let start = r.slot as usize * slot_size;
        let from = (n as usize).min(slot_size);
        let to = from.saturating_add(held).min(slot_size);
        if let Some(window) = self.data.get_mut(start..start + slot_size) {
            window.copy_within(from..to, 0);
        }
    }

    fn slot_mut(&mut self, r: StreamRef) -> Option<&mut Slot> {
        self.slots
            .get_mut(r.slot as usize)
            .filter(|s| s.open && s.generation == r.generation)
    }
}

impl Slot {
    /// An out-of-order run `[start, end)` can be kept: a free run entry, or one it touches.
    fn can_track(&self, start: u32, end: u32) -> bool {
        #[expect(
            clippy::indexing_slicing,
            reason = "run_count is at most MAX_RUNS: a run is added only below it"
        )]
        let runs = &self.runs[..usize::from(self.run_count)];
        runs.len() < MAX_RUNS || runs.iter().any(|&(a, b)| a <= end && start <= b)
    }

    /// Records `[start, end)` as present; returns whether the contiguous prefix grew.
    fn add_run(&mut self, start: u32, end: u32) -> bool {
        let before = self.contiguous;
        if start <= self.contiguous {
            self.contiguous = self.contiguous.max(end);
        } else {
            // Merge with every run it touches, then keep it.
            let (mut a, mut b) = (start, end);
            let mut kept = 0;
            for i in 0..usize::from(self.run_count) {
                let Some(&(x, y)) = self.runs.get(i) else {
                    break;
                };
                if x <= b && a <= y {
                    a = a.min(x);
                    b = b.max(y);
                } else if let Some(slot) = self.runs.get_mut(kept) {
                    *slot = (x, y);
                    kept += 1;
                }
            }
            if let Some(slot) = self.runs.get_mut(kept) {
                *slot = (a, b);
                kept += 1;
            }
            self.run_count = kept as u8;
        }
        // Absorb the runs the prefix now reaches.
        loop {
            let n = usize::from(self.run_count);
            let Some(i) = self
                .runs
                .get(..n)
                .and_then(|runs| runs.iter().position(|&(x, _)| x <= self.contiguous))
            else {
                break;
            };
            let (_, y) = self.runs.get(i).copied().unwrap_or_default();
            self.contiguous = self.contiguous.max(y);
            self.runs.swap(i, n - 1);
            self.run_count -= 1;
        }
        self.contiguous > before
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(range: std::ops::Range<u8>) -> Vec<u8> {
        range.collect()
    }

    #[test]
    fn in_order_segments_make_the_stream() {
        let mut pool = StreamPool::new(2, 64);
        let r = pool.open(1000).unwrap();
        assert!(pool.push(r, 1000, &bytes(0..10)).grew);
        assert!(pool.push(r, 1010, &bytes(10..20)).grew);
        assert_eq!(pool.contiguous(r), &bytes(0..20)[..]);
    }

    #[test]
    fn out_of_order_segments_wait_for_the_gap() {
        let mut pool = StreamPool::new(1, 64);
        let r = pool.open(0).unwrap();
        assert!(!pool.push(r, 20, &bytes(20..30)).grew);
        assert!(!pool.push(r, 10, &bytes(10..20)).grew);
        assert_eq!(pool.contiguous(r), &[] as &[u8]);
        assert!(pool.push(r, 0, &bytes(0..10)).grew);
        assert_eq!(pool.contiguous(r), &bytes(0..30)[..]);
    }

    #[test]
    fn retransmissions_and_overlaps_change_nothing() {
        let mut pool = StreamPool::new(1, 64);
        let r = pool.open(5).unwrap();
        pool.push(r, 5, &bytes(0..10));
        let again = pool.push(r, 5, &bytes(0..10));
        assert!(!again.grew && !again.ignored);
        assert!(pool.push(r, 10, &bytes(5..15)).grew);
        assert_eq!(pool.contiguous(r), &bytes(0..15)[..]);
        // A segment from before the stream start is ignored and counted.
        assert!(pool.push(r, 1, &bytes(0..3)).ignored);
        assert_eq!(pool.stats().ignored, 1);
    }

    #[test]
    fn a_segment_reaching_past_the_base_keeps_its_tail() {
        let mut pool = StreamPool::new(1, 64);
        let r = pool.open(100).unwrap();
        pool.push(r, 100, &bytes(0..10));
        pool.consume(r, 15); // 5 octets of a body not yet arrived, skipped
        // The segment with the rest of the body and the next message's start.
        assert!(pool.push(r, 110, &bytes(10..30)).grew);
        assert_eq!(pool.contiguous(r), &bytes(15..30)[..]);
    }

    #[test]
    fn sequence_numbers_wrap() {
        let mut pool = StreamPool::new(1, 64);
        let r = pool.open(u32::MAX - 4).unwrap();
        pool.push(r, u32::MAX - 4, &bytes(0..5));
        assert!(pool.push(r, 0, &bytes(5..10)).grew);
        assert_eq!(pool.contiguous(r), &bytes(0..10)[..]);
    }

    #[test]
    fn a_stream_longer_than_its_slot_is_cut() {
        let mut pool = StreamPool::new(1, 16);
        let r = pool.open(0).unwrap();
        let p = pool.push(r, 0, &bytes(0..20));
        assert!(p.grew && p.cut);
        assert_eq!(pool.contiguous(r), &bytes(0..16)[..]);
        assert!(pool.is_full(r));
        assert!(pool.push(r, 16, &bytes(16..20)).cut);
        assert_eq!(pool.stats().cut, 2);
    }

    #[test]
    fn too_many_holes_leave_the_next_run_out() {
        let mut pool = StreamPool::new(1, 256);
        let r = pool.open(0).unwrap();
        for k in 0..MAX_RUNS as u32 {
            assert!(!pool.push(r, 20 + 20 * k, &[1; 5]).ignored);
        }
        assert!(pool.push(r, 200, &[1; 5]).ignored);
        // A segment adjoining a kept run still merges into it.
        assert!(!pool.push(r, 25, &[1; 5]).ignored);
        pool.push(r, 0, &[0; 20]);
        assert_eq!(pool.contiguous(r).len(), 30);
    }

    #[test]
    fn a_full_pool_reclaims_the_least_recently_used_slot() {
        let mut pool = StreamPool::new(2, 8);
        let a = pool.open(0).unwrap();
        let b = pool.open(0).unwrap();
        pool.push(a, 0, &[1]); // a is now the most recently used
        let c = pool.open(0).unwrap();
        assert_eq!(pool.stats().reclaimed, 1);
        assert!(!pool.is_live(b) && pool.is_live(a) && pool.is_live(c));
        // The stale reference to the reclaimed slot sees nothing and changes nothing.
        assert!(pool.push(b, 0, &[9; 4]).ignored);
        assert_eq!(pool.contiguous(b), &[] as &[u8]);
        assert_eq!(pool.contiguous(a), &[1]);
        // Now c is older than a: the next reclaim takes c.
        pool.push(a, 1, &[2]);
        let d = pool.open(0).unwrap();
        assert!(!pool.is_live(c) && pool.is_live(a) && pool.is_live(d));
        assert_eq!(pool.in_use(), 2);
        // A pool without slots says so.
        let mut empty = StreamPool::new(0, 8);
        assert_eq!(empty.open(0), None);
        assert_eq!(empty.stats().exhausted, 1);
    }

    #[test]
    fn closed_slots_come_back_first() {
        let mut pool = StreamPool::new(2, 8);
        let a = pool.open(0).unwrap();
        let b = pool.open(0).unwrap();
        pool.close(a);
        pool.close(a); // twice: no double free
        assert_eq!(pool.in_use(), 1);
        let c = pool.open(7).unwrap();
        assert_eq!(pool.stats().reclaimed, 0);
        // The stale reference to the reused slot sees nothing and changes nothing.
        assert!(pool.push(a, 0, &[9; 4]).ignored);
        assert_eq!(pool.contiguous(a), &[] as &[u8]);
        pool.push(c, 7, &[1, 2]);
        assert_eq!(pool.contiguous(c), &[1, 2]);
        pool.close(b);
        pool.close(c);
        assert_eq!(pool.in_use(), 0);
        // Every slot reopened and closed many times: the recency list stays whole.
        for i in 0..100 {
            let x = pool.open(i).unwrap();
            let y = pool.open(i).unwrap();
            let z = pool.open(i).unwrap(); // reclaims x
            assert!(!pool.is_live(x));
            pool.close(y);
            pool.close(z);
        }
        assert_eq!(pool.in_use(), 0);
        assert_eq!(pool.stats().reclaimed, 100);
    }

    #[test]
    fn consuming_slides_the_window() {
        let mut pool = StreamPool::new(1, 16);
        let r = pool.open(100).unwrap();
        pool.push(r, 100, &bytes(0..16));
        assert!(pool.is_full(r));
        pool.consume(r, 10);
        assert_eq!(pool.contiguous(r), &bytes(10..16)[..]);
        // The next octets fit again, after what is left.
        assert!(pool.push(r, 116, &bytes(16..26)).grew);
        assert_eq!(pool.contiguous(r), &bytes(10..26)[..]);
    }

    #[test]
    fn an_out_of_order_run_survives_the_slide() {
        let mut pool = StreamPool::new(1, 32);
        let r = pool.open(0).unwrap();
        pool.push(r, 0, &bytes(0..10));
        pool.push(r, 20, &bytes(20..24));
        pool.consume(r, 8);
        assert_eq!(pool.contiguous(r), &bytes(8..10)[..]);
        assert!(pool.push(r, 10, &bytes(10..20)).grew);
        assert_eq!(pool.contiguous(r), &bytes(8..24)[..]);
    }

    #[test]
    fn consuming_past_the_data_drops_the_skipped_octets_on_arrival() {
        let mut pool = StreamPool::new(1, 16);
        let r = pool.open(0).unwrap();
        pool.push(r, 0, &bytes(0..4));
        pool.consume(r, 10); // a 6-octet body still to come, skipped
        assert!(pool.push(r, 4, &bytes(4..10)).ignored);
        assert!(pool.push(r, 10, &bytes(10..12)).grew);
        assert_eq!(pool.contiguous(r), &bytes(10..12)[..]);
    }

    #[test]
    fn memory_is_fixed_at_creation() {
        let mut pool = StreamPool::new(16, 4096);
        let before = pool.memory_bytes();
        for i in 0..10_000u32 {
            if let Some(r) = pool.open(i) {
                pool.push(r, i, &[0; 100]);
                pool.close(r);
            }
        }
        assert_eq!(pool.memory_bytes(), before);
        assert!(before >= 16 * 4096);
    }

    proptest::proptest! {
        /// A stream cut into segments, delivered shuffled and with repeats, comes out
        /// as its prefix: whole when every segment arrived and the runs sufficed.
        #[test]
        fn shuffled_segments_rebuild_the_stream(
            base in proptest::prelude::any::<u32>(),
            stream in proptest::collection::vec(proptest::prelude::any::<u8>(), 1..300),
            cuts in proptest::collection::vec(1usize..40, 1..20),
            order in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..40),
        ) {
            let mut segments = Vec::new();
            let mut at = 0;
            for c in cuts.iter().cycle() {
                if at >= stream.len() { break; }
                let end = (at + c).min(stream.len());
                segments.push((at, end));
                at = end;
            }
            let mut delivery: Vec<(usize, usize)> = segments.clone();
            for (i, k) in order.iter().enumerate() {
                let n = delivery.len();
                delivery.swap(i % n, usize::from(*k) % n);
            }
            delivery.extend(segments.iter().copied()); // every segment again, in order
            let mut pool = StreamPool::new(1, 256);
            let r = pool.open(base).unwrap();
            for (a, b) in delivery {
                let seq = base.wrapping_add(a as u32);
                pool.push(r, seq, &stream[a..b]);
            }
            let want = &stream[..stream.len().min(256)];
            proptest::prop_assert_eq!(pool.contiguous(r), want);
        }
    }
}
