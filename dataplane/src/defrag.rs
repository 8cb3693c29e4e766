//! Bounded IP reassembly, for analysis only.
//!
//! The bridge forwards every fragment unchanged whatever happens here. This module
//! copies the data of IPv4 and IPv6 fragments into a fixed pool and, when a datagram
//! is complete, lends the analyzer the whole datagram — IP header, L4 header, full
//! payload — which [`decode_ip`] decodes as a packet that is not a fragment. It never
//! touches the frames it is given.
//!
//! # Memory
//!
//! [`Defrag::new`] allocates everything: `slots` buffers of [`HEADER_ROOM`] +
//! `slot_size` octets, one bit per 8 octets of data per slot, the slot table and a
//! hash index. Nothing grows afterwards; [`Defrag::push`] neither allocates nor panics.
//!
//! A slot is laid out so that the finished datagram is contiguous without moving
//! anything: fragment data goes at `HEADER_ROOM + offset`, and the header of the
//! offset-0 fragment is copied right-aligned just before it.
//!
//! ```text
//! |<------- HEADER_ROOM ------->|<-------------- slot_size -------------->|
//! |  (unused)   | IP header     | data: offset 0 …              … end     |
//!               ^ the datagram starts here             and ends here ^
//! ```
//!
//! # Keys (RFC 791 §3.2, RFC 8200 §4.5), plus the bridge
//!
//! > the identification field is used to distinguish the fragments of one datagram
//! > from those of another … the source, destination, protocol, and identifier.
//!
//! IPv4: (bridge, source, destination, protocol, identification). IPv6: (bridge,
//! source, destination, fragment identification). A datagram lives in one slot from its
//! first fragment seen (whichever offset) to its completion, drop or timeout.
//!
//! # Policies
//!
//! * **Exact duplicates** (every octet of the fragment already held, equal) are ignored
//!   and counted ([`DefragStats::duplicates`]); RFC 8200 §4.5 allows it:
//!   > Instead of treating these exact duplicate fragments as overlapping fragments,
//!   > an implementation may choose to detect this case and drop exact duplicate
//!   > fragments while keeping the other fragments belonging to the same packet.
//! * **Overlaps** — a fragment covering octets already held with different values, or
//!   covering some held and some new octets — drop the datagram
//!   ([`DefragStats::overlaps`]), for IPv6 as RFC 5722 requires:
//!   > If any of the fragments being reassembled overlap with any other fragments
//!   > being reassembled for the same packet, reassembly of that packet must be
//!   > abandoned and all the fragments that have been received for that packet
//!   > must be discarded.
//!
//!   and for IPv4 alike (Linux does the same since 4.19): overlapping fragments are
//!   how IDS evasion works, and a probe that picked one version would report a
//!   datagram the receiver may never have seen.
//! * **Malformed** ([`DefragStats::malformed`]): a fragment with M set whose length is
//!   not a multiple of 8 or is 0 (RFC 8200: "must be discarded"), two last fragments
//!   that disagree on the end, data past the end the last fragment gave, a datagram
//!   longer than 65,535 octets, a reassembled IPv6 datagram that is itself a fragment.
//! * **Too big** ([`DefragStats::too_big`]): data past `slot_size`, or an IPv4 header /
//!   IPv6 unfragmentable part longer than [`HEADER_ROOM`].
//! * **Truncated** ([`DefragStats::truncated`]): the capture cut the fragment (its IP
//!   length says more than the frame holds); it cannot be put back together.
//! * A datagram given up for one of the four reasons above stays as a tombstone until
//!   its timeout, so its other fragments are absorbed ([`DefragStats::discarded`])
//!   instead of starting a datagram that could only time out; a tombstone is created
//!   for a first bad fragment only when a slot is free (it never evicts).
//! * **Timeout** ([`DefragStats::timed_out`]): a datagram incomplete `timeout` ticks
//!   after its first fragment is freed (the clock is the caller's, as for the flow
//!   table). Every push expires first; [`Defrag::expire`] can also be called from the
//!   periodic work.
//! * **Full pool** ([`DefragStats::evicted`]): a new datagram takes the slot of the
//!   oldest one (by first fragment).
//! * IPv6 atomic fragments (offset 0, M clear; RFC 6946) are whole packets: `push`
//!   returns `None` for them like for any packet that is not a fragment.
//!
//! # The reassembled datagram
//!
//! IPv4: the header of the offset-0 fragment (options included) with MF and the
//! fragment offset cleared (DF and the reserved bit kept), Total Length set and the
//! header checksum recomputed. IPv6 (RFC 8200 §4.5): the unfragmentable part of the
//! offset-0 fragment without its fragment header, the Next Header that named the
//! fragment header replaced by the fragment header's Next Header, Payload Length set.
//! For a datagram fragmented from a valid one, the result is octet for octet the
//! datagram before fragmentation (IPv4 with its original flags 0 or DF).

use crate::wire::{Ip, LenSource, Packet, decode_ip};

/// Entry number meaning "none" in the lists.
const NIL: u32 = u32::MAX;

/// Octets in front of each slot's data for the header of the offset-0 fragment: an
/// IPv4 header with options (≤ 60) or an IPv6 fixed header and the extension headers
/// before its fragment header (40 + 216).
pub const HEADER_ROOM: usize = 256;

/// Largest number of slots [`Defrag::new`] accepts.
pub const MAX_SLOTS: u32 = 1 << 16;

/// Largest `slot_size` (an IP payload is at most 65,535 octets).
pub const MAX_SLOT_SIZE: u32 = 65_535;

/// Datagrams in flight per worker. Fragmented traffic is rare and the fragments of
/// one datagram come back to back, so few datagrams are open at once; 256 leaves room
/// for bursts and for datagrams that lost a fragment and wait for their timeout
/// (about 50 lost datagrams a second at the default timeout before evictions start).
pub const DEFAULT_SLOTS: u32 = 256;

/// Reassembled IP payload per datagram: a full 9,000-octet jumbo frame, EDNS0's
/// usual 4,096-octet buffer, an 8 KiB NFS-over-UDP block. With [`HEADER_ROOM`],
/// 256 slots take 2.3 MiB per worker.
pub const DEFAULT_SLOT_SIZE: u32 = 9_216;

/// Seconds an incomplete datagram is kept (Linux keeps 30 s, RFC 8200 says 60 s; both
/// are for receivers that must not lose data). Fragments of a datagram arrive
/// milliseconds apart; a short timeout frees slots sooner and makes an IPv4
/// identification reuse between the same hosts less likely to mix two datagrams
/// (RFC 4963).
pub const DEFAULT_TIMEOUT_SECS: u64 = 5;

/// Octets of the IPv6 fixed header.
const IPV6_HEADER_LEN: usize = 40;

/// Counters of one [`Defrag`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct DefragStats {
    /// Fragments given to [`Defrag::push`] (first, middle and last; not atomic ones).
    pub fragments: u64,
    /// Datagrams completed and returned.
    pub reassembled: u64,
    /// Fragments ignored because every octet of them was already held, equal.
    pub duplicates: u64,
    /// Datagrams dropped for overlapping fragments.
    pub overlaps: u64,
    /// Datagrams dropped for data past `slot_size` or a header past [`HEADER_ROOM`].
    pub too_big: u64,
    /// Datagrams dropped for inconsistent fragments (see the module doc).
    pub malformed: u64,
    /// Datagrams dropped for a fragment cut by the capture.
    pub truncated: u64,
    /// Fragments of a dropped datagram, arriving after the drop, ignored.
    pub discarded: u64,
    /// Incomplete datagrams freed by their timeout.
    pub timed_out: u64,
    /// Incomplete datagrams freed to make room for a new one.
    pub evicted: u64,
}

/// A complete datagram, lent by [`Defrag::push`].
///
/// It borrows the pool: it lives until the caller's next use of the [`Defrag`]
/// (the slot is already free and the next push may overwrite it). Analyse it, or copy
/// what must outlive it, before pushing the next packet.
#[derive(Clone, Copy, Debug)]
pub struct Reassembled<'a> {
    /// The whole IP datagram, from the first octet of its IP header.
    pub datagram: &'a [u8],
    /// [`decode_ip`] of `datagram`: never a fragment; its spans ([`Packet::payload`],
    /// `ip_payload`, `l3_offset` = 0) are offsets into `datagram`, not into any frame.
    pub packet: Packet,
    /// The bridge given with the fragments.
    pub bridge: u16,
    /// Fragments the datagram was made of (duplicates not counted).
    pub fragments: u16,
}

impl<'a> Reassembled<'a> {
    /// The L4 payload (after the TCP or UDP header) of the datagram.
    pub fn payload(&self) -> &'a [u8] {
        self.packet.payload(self.datagram)
    }
}

/// The reassembly pool of one worker. See the module doc.
pub struct Defrag {
    /// `slots × stride` octets.
    data: Box<[u8]>,
    /// `slots × words` bits, one per 8 octets of data.
    bits: Box<[u64]>,
    slots: Box<[Slot]>,
    /// Hash index: the first slot of each chain.
    heads: Box<[u32]>,
    mask: usize,
    /// Free slots, linked through `Slot::chain`.
    free: u32,
    /// Oldest and newest slot in use (by creation), linked through `older`/`newer`.
    oldest: u32,
    newest: u32,
    in_use: usize,
    stride: usize,
    words: usize,
    slot_size: u32,
    timeout: u64,
    seed: u64,
    stats: DefragStats,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    /// IPv4 addresses as IPv4-mapped IPv6 addresses.
    src: [u8; 16],
    dst: [u8; 16],
    ident: u32,
    bridge: u16,
    /// IPv4's protocol; 0 for IPv6 (not part of its key).
    protocol: u8,
    family: u8,
}

impl Key {
    const EMPTY: Key = Key {
        src: [0; 16],
        dst: [0; 16],
        ident: 0,
        bridge: 0,
        protocol: 0,
        family: 0,
    };

    /// A seeded 64-bit hash (folded multiply over the key's words, as the flow key).
    fn hash(&self, seed: u64) -> u64 {
        const K: u64 = 0x9e37_79b9_7f4a_7c15;
        fn mix(h: u64, w: u64) -> u64 {
            let m = u128::from(h ^ w) * u128::from(K);
            (m as u64) ^ ((m >> 64) as u64)
        }
        let s = u128::from_le_bytes(self.src);
        let d = u128::from_le_bytes(self.dst);
        let words = [
            s as u64,
            (s >> 64) as u64,
            d as u64,
            (d >> 64) as u64,
            u64::from(self.ident)
                | u64::from(self.bridge) << 32
                | u64::from(self.protocol) << 48
                | u64::from(self.family) << 56,
        ];
        let mut h = seed;
        for w in words {
            h = mix(h, w);
        }
        mix(h, K)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Free,
    /// Collecting fragments.
    Live,
    /// Given up (overlap, too big, malformed, truncated): absorbs the rest until its
    /// timeout.
    Dead,
}

#[derive(Clone, Copy, Debug)]
struct Slot {
    key: Key,
    hash: u64,
    state: State,
    /// `now` of the first fragment.
    created: u64,
    /// Octets of header held before the data; 0 until the offset-0 fragment came.
    header_len: u16,
    /// IPv6: where in the header the Next Header that named the fragment header is.
    next_header_at: u16,
    /// IPv6: the Next Header of the offset-0 fragment's fragment header.
    next_header: u8,
    /// The last fragment (M clear) came; `end` is the data length.
    has_end: bool,
    end: u32,
    /// The highest end of data held.
    max_end: u32,
    /// Data octets held (fragments never overlap, so `received == end` is complete).
    received: u32,
    fragments: u16,
    /// Next slot in the hash chain, or in the free list.
    chain: u32,
    older: u32,
    newer: u32,
}

impl Slot {
    const FREE: Slot = Slot {
        key: Key::EMPTY,
        hash: 0,
        state: State::Free,
        created: 0,
        header_len: 0,
        next_header_at: 0,
        next_header: 0,
        has_end: false,
        end: 0,
        max_end: 0,
        received: 0,
        fragments: 0,
        chain: NIL,
        older: NIL,
        newer: NIL,
    };
}

/// Why a fragment or its datagram is given up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Overlap,
    TooBig,
    Malformed,
    Truncated,
}

/// One fragment, located in its frame.
#[derive(Clone, Copy, Debug)]
struct Fragment<'a> {
    key: Key,
    /// In octets.
    offset: u32,
    more: bool,
    /// What follows the IPv4 header / the IPv6 fragment header.
    data: &'a [u8],
    /// The IPv4 header, or the IPv6 fixed header and the extension headers before
    /// the fragment header (used from the offset-0 fragment).
    header: &'a [u8],
    next_header_at: u16,
    next_header: u8,
    /// A problem seen on the fragment alone.
    fault: Option<Fault>,
}

impl Fragment<'_> {
    fn end(&self) -> u32 {
        self.offset.saturating_add(len_u32(self.data.len()))
    }
}

enum Parsed<'a> {
    Fragment(Fragment<'a>),
    /// An IPv6 atomic fragment: a whole packet.
    Atomic,
    /// The packet does not match its frame (not from `wire::decode` of it).
    Unusable,
}

/// What adding a fragment did.
enum Added {
    Kept,
    Duplicate,
    Fault(Fault),
}

impl Defrag {
    /// A pool of `slots` datagrams (clamped to 1..=[`MAX_SLOTS`]) of up to `slot_size`
    /// octets of IP payload each (clamped to 8..=[`MAX_SLOT_SIZE`]), freed `timeout`
    /// ticks after their first fragment when incomplete (ticks of the `now` given to
    /// [`Defrag::push`]; e.g. [`DEFAULT_TIMEOUT_SECS`] × ticks per second; at least 1).
    /// All memory is allocated here.
    pub fn new(slots: u32, slot_size: u32, timeout: u64) -> Self {
        let n = slots.clamp(1, MAX_SLOTS) as usize;
        let slot_size = slot_size.clamp(8, MAX_SLOT_SIZE);
        let stride = HEADER_ROOM + slot_size as usize;
        let words = (slot_size as usize).div_ceil(8).div_ceil(64);
        let buckets = n.next_power_of_two();
        let mut table = vec![Slot::FREE; n].into_boxed_slice();
        for (i, s) in table.iter_mut().enumerate() {
            s.chain = if i + 1 < n { (i + 1) as u32 } else { NIL };
        }
        let seed = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x6465_6672_6167_2121u64)
        };
        Self {
            data: vec![0u8; n * stride].into_boxed_slice(),
            bits: vec![0u64; n * words].into_boxed_slice(),
            slots: table,
            heads: vec![NIL; buckets].into_boxed_slice(),
            mask: buckets - 1,
            free: 0,
            oldest: NIL,
            newest: NIL,
            in_use: 0,
            stride,
            words,
            slot_size,
            timeout: timeout.max(1),
            seed,
            stats: DefragStats::default(),
        }
    }

    /// Feeds one packet: `packet` is `wire::decode` (or `decode_ip`) of `frame`,
    /// `bridge` keeps the datagrams of different bridges apart, `now` is the clock of
    /// the timeout. Returns the datagram when this fragment completed it; `None` for
    /// anything else, and at once — one match and one test — for a packet that is not
    /// a fragment.
    #[inline]
    pub fn push(
        &mut self,
        packet: &Packet,
        frame: &[u8],
        bridge: u16,
        now: u64,
    ) -> Option<Reassembled<'_>> {
        if !packet.is_fragment() {
            return None;
        }
        self.push_fragment(packet, frame, bridge, now)
    }

    /// Frees the datagrams incomplete `timeout` ticks after their first fragment
    /// (counted in [`DefragStats::timed_out`]; tombstones silently). Returns how many
    /// incomplete datagrams it freed. [`Defrag::push`] calls it for every fragment.
    pub fn expire(&mut self, now: u64) -> usize {
        let mut freed = 0;
        while let Some(s) = self.slot(self.oldest) {
            if s.created.saturating_add(self.timeout) > now {
                break;
            }
            if s.state == State::Live {
                self.stats.timed_out += 1;
                freed += 1;
            }
            self.release(self.oldest);
        }
        freed
    }

    pub fn stats(&self) -> DefragStats {
        self.stats
    }

    /// Slots in use (datagrams being collected and tombstones).
    pub fn in_use(&self) -> usize {
        self.in_use
    }

    /// Number of slots.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// Octets of IP payload a slot holds.
    pub fn slot_size(&self) -> u32 {
        self.slot_size
    }

    /// Bytes the pool holds (fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.data.len()
            + std::mem::size_of_val(&*self.bits)
            + std::mem::size_of_val(&*self.slots)
            + std::mem::size_of_val(&*self.heads)
    }

    #[cold]
    #[inline(never)]
    fn push_fragment(
        &mut self,
        packet: &Packet,
        frame: &[u8],
        bridge: u16,
        now: u64,
    ) -> Option<Reassembled<'_>> {
        let f = match parse(packet, frame, bridge) {
            Parsed::Fragment(f) => f,
            Parsed::Atomic => return None,
            Parsed::Unusable => {
                self.stats.fragments += 1;
                self.stats.malformed += 1;
                return None;
            }
        };
        self.stats.fragments += 1;
        self.expire(now);
        let fault = f.fault.or_else(|| self.check(&f));
        let hash = f.key.hash(self.seed);
        let found = self.find(&f.key, hash);
        if let Some(idx) = found
            && self.slot(idx).is_some_and(|s| s.state == State::Dead)
        {
            self.stats.discarded += 1;
            return None;
        }
        if let Some(fault) = fault {
            self.count(fault);
            match found {
                Some(idx) => self.kill(idx),
                None if self.free != NIL => {
                    if let Some(idx) = self.create(f.key, hash, now) {
                        self.kill(idx);
                    }
                }
                None => {}
            }
            return None;
        }
        let idx = match found {
            Some(idx) => idx,
            None => self.create(f.key, hash, now)?,
        };
        match self.add(idx, &f) {
            Added::Kept => {}
            Added::Duplicate => {
                self.stats.duplicates += 1;
                return None;
            }
            Added::Fault(fault) => {
                self.count(fault);
                self.kill(idx);
                return None;
            }
        }
        let s = self.slot(idx)?;
        if s.has_end && s.received == s.end && s.header_len != 0 {
            self.finish(idx)
        } else {
            None
        }
    }

    /// Checks that need the pool's size: `None` when the fragment fits.
    fn check(&self, f: &Fragment<'_>) -> Option<Fault> {
        if f.more && (f.data.is_empty() || !f.data.len().is_multiple_of(8)) {
            return Some(Fault::Malformed);
        }
        if f.end() > self.slot_size || (f.offset == 0 && f.header.len() > HEADER_ROOM) {
            return Some(Fault::TooBig);
        }
        None
    }

    fn count(&mut self, fault: Fault) {
        let c = match fault {
            Fault::Overlap => &mut self.stats.overlaps,
            Fault::TooBig => &mut self.stats.too_big,
            Fault::Malformed => &mut self.stats.malformed,
            Fault::Truncated => &mut self.stats.truncated,
        };
        *c += 1;
    }

    /// Places a fragment that passed [`Defrag::check`] into a live slot.
    fn add(&mut self, idx: u32, f: &Fragment<'_>) -> Added {
        let Some(&s) = self.slot(idx) else {
            return Added::Fault(Fault::Malformed);
        };
        let end = f.end();
        if !f.more {
            if (s.has_end && s.end != end) || s.max_end > end {
                return Added::Fault(Fault::Malformed);
            }
        } else if s.has_end && end > s.end {
            return Added::Fault(Fault::Malformed);
        }
        let i = idx as usize;
        let base = i * self.stride + HEADER_ROOM;
        let at = base + f.offset as usize;
        let (b0, b1) = (f.offset as usize / 8, (end as usize).div_ceil(8));
        let bits = self
            .bits
            .get_mut(i * self.words..(i + 1) * self.words)
            .unwrap_or_default();
        let held = count_bits(bits, b0, b1);
        let Some(place) = self.data.get_mut(at..at + f.data.len()) else {
            return Added::Fault(Fault::TooBig);
        };
        if held == b1 - b0 && held != 0 {
            return if place == f.data {
                Added::Duplicate
            } else {
                Added::Fault(Fault::Overlap)
            };
        }
        if held != 0 {
            return Added::Fault(Fault::Overlap);
        }
        place.copy_from_slice(f.data);
        set_bits(bits, b0, b1);
        let mut header_len = s.header_len;
        if f.offset == 0 {
            let hl = f.header.len();
            if let Some(room) = self.data.get_mut(base.saturating_sub(hl)..base) {
                room.copy_from_slice(f.header);
                header_len = hl as u16;
            }
        }
        if let Some(s) = self.slot_mut(idx) {
            if f.offset == 0 {
                s.header_len = header_len;
                s.next_header_at = f.next_header_at;
                s.next_header = f.next_header;
            }
            if !f.more {
                s.has_end = true;
                s.end = end;
            }
            s.max_end = s.max_end.max(end);
            s.received = s.received.saturating_add(len_u32(f.data.len()));
            s.fragments = s.fragments.saturating_add(1);
        }
        Added::Kept
    }

    /// Fixes the header of a complete datagram, frees its slot and lends it.
    fn finish(&mut self, idx: u32) -> Option<Reassembled<'_>> {
        let s = *self.slot(idx)?;
        self.release(idx);
        let base = idx as usize * self.stride + HEADER_ROOM;
        let hl = usize::from(s.header_len);
        let start = base.saturating_sub(hl);
        let end = s.end as usize;
        let fixed = match self.data.get_mut(start..base) {
            Some(h) if s.key.family == 4 => fix_ipv4_header(h, hl + end),
            Some(h) => fix_ipv6_header(
                h,
                (hl + end).saturating_sub(IPV6_HEADER_LEN),
                s.next_header_at,
                s.next_header,
            ),
            None => false,
        };
        let datagram = self.data.get(start..base + end).unwrap_or_default();
        let packet = decode_ip(datagram);
        if !fixed || packet.is_fragment() {
            self.stats.malformed += 1;
            return None;
        }
        self.stats.reassembled += 1;
        Some(Reassembled {
            datagram,
            packet,
            bridge: s.key.bridge,
            fragments: s.fragments,
        })
    }

    fn slot(&self, idx: u32) -> Option<&Slot> {
        self.slots.get(idx as usize)
    }

    fn slot_mut(&mut self, idx: u32) -> Option<&mut Slot> {
        self.slots.get_mut(idx as usize)
    }

    fn find(&self, key: &Key, hash: u64) -> Option<u32> {
        let mut i = *self.heads.get(hash as usize & self.mask)?;
        // A chain is at most every slot long; the bound only makes that obvious.
        for _ in 0..self.slots.len() {
            let s = self.slot(i)?;
            if s.hash == hash && s.key == *key {
                return Some(i);
            }
            i = s.chain;
        }
        None
    }

    /// Takes a free slot — or the oldest one, counted as evicted when incomplete — for
    /// a new live datagram.
    fn create(&mut self, key: Key, hash: u64, now: u64) -> Option<u32> {
        if self.free == NIL {
            let oldest = self.oldest;
            if self.slot(oldest)?.state == State::Live {
                self.stats.evicted += 1;
            }
            self.release(oldest);
        }
        let idx = self.free;
        let bucket = hash as usize & self.mask;
        let head = *self.heads.get(bucket)?;
        let newest = self.newest;
        let s = self.slot_mut(idx)?;
        let next_free = s.chain;
        *s = Slot {
            key,
            hash,
            state: State::Live,
            created: now,
            chain: head,
            older: newest,
            newer: NIL,
            ..Slot::FREE
        };
        self.free = next_free;
        if let Some(h) = self.heads.get_mut(bucket) {
            *h = idx;
        }
        match self.slot_mut(newest) {
            Some(n) => n.newer = idx,
            None => self.oldest = idx,
        }
        self.newest = idx;
        self.in_use += 1;
        let i = idx as usize;
        if let Some(bits) = self.bits.get_mut(i * self.words..(i + 1) * self.words) {
            bits.fill(0);
        }
        Some(idx)
    }

    /// Turns a live datagram into a tombstone.
    fn kill(&mut self, idx: u32) {
        if let Some(s) = self.slot_mut(idx) {
            s.state = State::Dead;
        }
    }

    /// Unlinks a slot from its chain and the age list and frees it.
    fn release(&mut self, idx: u32) {
        let Some(s) = self.slot(idx).copied() else {
            return;
        };
        if s.state == State::Free {
            return;
        }
        let bucket = s.hash as usize & self.mask;
        if self.heads.get(bucket) == Some(&idx) {
            if let Some(h) = self.heads.get_mut(bucket) {
                *h = s.chain;
            }
        } else {
            let mut i = self.heads.get(bucket).copied().unwrap_or(NIL);
            for _ in 0..self.slots.len() {
                let Some(p) = self.slot_mut(i) else { break };
                if p.chain == idx {
                    p.chain = s.chain;
                    break;
                }
                i = p.chain;
            }
        }
        match self.slot_mut(s.older) {
            Some(o) => o.newer = s.newer,
            None => self.oldest = s.newer,
        }
        match self.slot_mut(s.newer) {
            Some(n) => n.older = s.older,
            None => self.newest = s.older,
        }
        let free = self.free;
        if let Some(f) = self.slot_mut(idx) {
            *f = Slot {
                chain: free,
                ..Slot::FREE
            };
        }
        self.free = idx;
        self.in_use = self.in_use.saturating_sub(1);
    }
}

/// Locates the fragment in `frame` and applies the checks that need nothing else.
fn parse<'a>(packet: &Packet, frame: &'a [u8], bridge: u16) -> Parsed<'a> {
    let l3 = packet.l3_offset as usize;
    match &packet.ip {
        Ip::V4(r) => {
            let Some(header) = frame.get(l3..l3 + usize::from(r.header_len)) else {
                return Parsed::Unusable;
            };
            Parsed::Fragment(Fragment {
                key: Key {
                    src: r.src.to_ipv6_mapped().octets(),
                    dst: r.dst.to_ipv6_mapped().octets(),
                    ident: u32::from(r.ident),
                    bridge,
                    protocol: r.protocol.0,
                    family: 4,
                },
                offset: u32::from(r.frag_offset) * 8,
                more: r.more_fragments,
                data: packet.ip_payload.slice(frame),
                header,
                next_header_at: 0,
                next_header: 0,
                fault: (r.len_source != LenSource::Header).then_some(Fault::Truncated),
            })
        }
        Ip::V6(r) => {
            let Some(frag) = r.ext.fragment else {
                return Parsed::Unusable;
            };
            if frag.offset == 0 && !frag.more {
                return Parsed::Atomic;
            }
            let len = IPV6_HEADER_LEN + usize::from(r.payload_len);
            let ip = frame.get(l3..).unwrap_or_default();
            let ip = ip.get(..len).unwrap_or(ip);
            let (at, next_header_at) = (usize::from(frag.header_at), frag.named_at);
            let (Some(header), Some(&next_header), Some(data)) =
                (ip.get(..at), ip.get(at), ip.get(at + 8..))
            else {
                return Parsed::Unusable;
            };
            Parsed::Fragment(Fragment {
                key: Key {
                    src: r.src.octets(),
                    dst: r.dst.octets(),
                    ident: frag.ident,
                    bridge,
                    protocol: 0,
                    family: 6,
                },
                offset: u32::from(frag.offset) * 8,
                more: frag.more,
                data,
                header,
                next_header_at,
                next_header,
                fault: (r.len_source != LenSource::Header).then_some(Fault::Truncated),
            })
        }
        Ip::None => Parsed::Unusable,
    }
}

/// IPv4: clears MF and the offset (keeps DF and the reserved bit), sets Total Length
/// and the header checksum. `false` when the datagram is too long for Total Length.
fn fix_ipv4_header(h: &mut [u8], total: usize) -> bool {
    let Ok(total) = u16::try_from(total) else {
        return false;
    };
    let Some(fixed) = h.first_chunk_mut::<20>() else {
        return false;
    };
    fixed[2..4].copy_from_slice(&total.to_be_bytes());
    fixed[6] &= 0xc0;
    fixed[7] = 0;
    fixed[10..12].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(h);
    if let Some(c) = h.get_mut(10..12) {
        c.copy_from_slice(&sum.to_be_bytes());
    }
    true
}

/// IPv6: drops the fragment header from the chain and sets Payload Length. `false`
/// when the datagram is too long for Payload Length.
fn fix_ipv6_header(h: &mut [u8], payload: usize, next_header_at: u16, next_header: u8) -> bool {
    let Ok(payload) = u16::try_from(payload) else {
        return false;
    };
    if let Some(p) = h.get_mut(4..6) {
        p.copy_from_slice(&payload.to_be_bytes());
    }
    match h.get_mut(usize::from(next_header_at)) {
        Some(n) => {
            *n = next_header;
            true
        }
        None => false,
    }
}

/// RFC 1071 checksum of `b` (even length: an IP header).
fn internet_checksum(b: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for w in b.chunks_exact(2) {
        if let &[x, y] = w {
            sum += u32::from(u16::from_be_bytes([x, y]));
        }
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// The mask of bits `[lo, hi)` of a word (`lo < hi ≤ 64`).
fn mask(lo: usize, hi: usize) -> u64 {
    let width = hi - lo;
    let ones = if width >= 64 {
        u64::MAX
    } else {
        (1u64 << width) - 1
    };
    ones << lo
}

/// Calls `f(word, mask)` for the words covering bits `[b0, b1)`.
fn for_bits(bits: &mut [u64], b0: usize, b1: usize, mut f: impl FnMut(&mut u64, u64)) {
    if b0 >= b1 {
        return;
    }
    let first = b0 / 64;
    let last = (b1 - 1) / 64;
    for (k, word) in bits
        .iter_mut()
        .enumerate()
        .skip(first)
        .take(last + 1 - first)
    {
        let lo = b0.max(k * 64) - k * 64;
        let hi = b1.min(k * 64 + 64) - k * 64;
        f(word, mask(lo, hi));
    }
}

fn count_bits(bits: &mut [u64], b0: usize, b1: usize) -> usize {
    let mut n = 0;
    for_bits(bits, b0, b1, |w, m| n += (*w & m).count_ones() as usize);
    n
}

fn set_bits(bits: &mut [u64], b0: usize, b1: usize) {
    for_bits(bits, b0, b1, |w, m| *w |= m);
}

fn len_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::wire::{IpProtocol, decode};
    use proptest::prelude::*;

    const SRC4: [u8; 4] = [192, 0, 2, 1];
    const DST4: [u8; 4] = [198, 51, 100, 7];

    /// A whole IPv4/UDP datagram with `n` octets of payload (a counting pattern), flags
    /// 0 and a valid header checksum: what fragments of it must reassemble to.
    fn udp4(ident: u16, n: usize) -> Vec<u8> {
        let total = 20 + 8 + n;
        #[rustfmt::skip]
        let mut d = vec![
            0x45, 0x00, (total >> 8) as u8, total as u8, // version 4, IHL 5; total length
            (ident >> 8) as u8, ident as u8, 0x00, 0x00, // ident; flags 0, offset 0
            64, 17, 0, 0,                                // TTL, UDP, checksum
        ];
        d.extend_from_slice(&SRC4);
        d.extend_from_slice(&DST4);
        let ulen = 8 + n;
        d.extend_from_slice(&[0, 53, 0x9c, 0x40, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        d.extend((0..n).map(|i| (i * 7 + 3) as u8));
        let c = internet_checksum(&d[..20]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        d
    }

    /// A whole IPv6/UDP datagram with a hop-by-hop header (8 octets) when `hbh`.
    fn udp6(n: usize, hbh: bool) -> Vec<u8> {
        let ext = if hbh { 8 } else { 0 };
        let plen = ext + 8 + n;
        let mut d = vec![
            0x60,
            0,
            0,
            0,
            (plen >> 8) as u8,
            plen as u8,
            if hbh { 0 } else { 17 },
            64,
        ];
        d.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        d.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        if hbh {
            d.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // next UDP, PadN
        }
        let ulen = 8 + n;
        d.extend_from_slice(&[0, 53, 0x9c, 0x40, (ulen >> 8) as u8, ulen as u8, 0, 0]);
        d.extend((0..n).map(|i| (i * 11 + 5) as u8));
        d
    }

    fn ether(ethertype: u16, ip: &[u8]) -> Vec<u8> {
        let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
        f.extend_from_slice(&ethertype.to_be_bytes());
        f.extend_from_slice(ip);
        f
    }

    /// The Ethernet frame of the IPv4 fragment `[off, off + len)` of `d`'s payload.
    fn frag4(d: &[u8], off: usize, len: usize, more: bool) -> Vec<u8> {
        let hl = usize::from(d[0] & 0x0f) * 4;
        let mut ip = d[..hl].to_vec();
        ip.extend_from_slice(&d[hl + off..hl + off + len]);
        let total = (hl + len) as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        // The original's DF and reserved bits, MF, the offset.
        let fo = (off / 8) as u16 | u16::from(d[6] & 0xc0) << 8 | if more { 0x2000 } else { 0 };
        ip[6..8].copy_from_slice(&fo.to_be_bytes());
        ether(0x0800, &ip)
    }

    /// The Ethernet frame of the IPv6 fragment `[off, off + len)` of the fragmentable
    /// part of `d` (what follows its first `unfrag` octets).
    fn frag6(d: &[u8], unfrag: usize, ident: u32, off: usize, len: usize, more: bool) -> Vec<u8> {
        let mut ip = d[..unfrag].to_vec();
        // The Next Header that named the first fragmentable header now names 44.
        let nh_at = if unfrag == 40 { 6 } else { 40 };
        let next = ip[nh_at];
        ip[nh_at] = 44;
        let fo = ((off / 8) as u16) << 3 | u16::from(more);
        ip.extend_from_slice(&[next, 0]);
        ip.extend_from_slice(&fo.to_be_bytes());
        ip.extend_from_slice(&ident.to_be_bytes());
        ip.extend_from_slice(&d[unfrag + off..unfrag + off + len]);
        let plen = (ip.len() - 40) as u16;
        ip[4..6].copy_from_slice(&plen.to_be_bytes());
        ether(0x86dd, &ip)
    }

    /// Cuts `total` octets into pieces of `size` (a multiple of 8): (offset, len, more).
    fn pieces(total: usize, size: usize) -> Vec<(usize, usize, bool)> {
        let mut v = Vec::new();
        let mut off = 0;
        while off < total {
            let len = size.min(total - off);
            v.push((off, len, off + len < total));
            off += len;
        }
        v
    }

    fn frags4(d: &[u8], size: usize) -> Vec<Vec<u8>> {
        pieces(d.len() - 20, size)
            .into_iter()
            .map(|(o, l, m)| frag4(d, o, l, m))
            .collect()
    }

    /// Feeds one frame; the datagram if it completed one.
    fn feed(df: &mut Defrag, frame: &[u8], bridge: u16, now: u64) -> Option<Vec<u8>> {
        let p = decode(frame);
        df.push(&p, frame, bridge, now).map(|r| {
            assert!(!r.packet.is_fragment());
            assert_eq!(r.packet.l3_offset, 0);
            assert_eq!(r.bridge, bridge);
            r.datagram.to_vec()
        })
    }

    fn feed_all(df: &mut Defrag, frames: &[Vec<u8>], now: u64) -> Vec<Vec<u8>> {
        frames.iter().filter_map(|f| feed(df, f, 0, now)).collect()
    }

    fn pool() -> Defrag {
        Defrag::new(8, 4096, 100)
    }

    /// The internal lists agree with each other.
    fn check_invariants(df: &Defrag) {
        let mut age = Vec::new();
        let mut i = df.oldest;
        let mut prev = NIL;
        while i != NIL {
            let s = &df.slots[i as usize];
            assert_ne!(s.state, State::Free);
            assert_eq!(s.older, prev);
            age.push(i);
            prev = i;
            i = s.newer;
        }
        assert_eq!(df.newest, prev);
        assert_eq!(age.len(), df.in_use);
        let mut free = 0;
        let mut i = df.free;
        while i != NIL {
            assert_eq!(df.slots[i as usize].state, State::Free);
            free += 1;
            i = df.slots[i as usize].chain;
        }
        assert_eq!(free + df.in_use, df.capacity());
        let mut chained = 0;
        for (b, &head) in df.heads.iter().enumerate() {
            let mut i = head;
            while i != NIL {
                let s = &df.slots[i as usize];
                assert_eq!(s.hash as usize & df.mask, b);
                assert_eq!(df.find(&s.key, s.hash), Some(i));
                chained += 1;
                i = s.chain;
            }
        }
        assert_eq!(chained, df.in_use);
        for &i in &age {
            let s = &df.slots[i as usize];
            if s.state == State::Live {
                assert!(s.received <= s.max_end && s.max_end <= df.slot_size);
                assert!(!s.has_end || s.max_end == s.end);
            }
        }
    }

    #[test]
    fn non_fragments_pass_untouched() {
        let mut df = pool();
        let d = udp4(1, 100);
        let frame = ether(0x0800, &d);
        assert_eq!(feed(&mut df, &frame, 0, 0), None);
        assert_eq!(feed(&mut df, &[0u8; 10], 0, 0), None);
        assert_eq!(df.stats(), DefragStats::default());
        assert_eq!(df.in_use(), 0);
    }

    #[test]
    fn in_order_gives_back_the_datagram() {
        let mut df = pool();
        let d = udp4(0x1234, 1000);
        let frames = frags4(&d, 256);
        assert_eq!(frames.len(), 4);
        let p = decode(&frames[0]);
        assert!(p.is_fragment());
        for f in &frames[..3] {
            assert_eq!(feed(&mut df, f, 0, 0), None);
        }
        let p = decode(&frames[3]);
        let r = df.push(&p, &frames[3], 0, 0).unwrap();
        assert_eq!(r.datagram, &d[..]);
        assert_eq!(r.fragments, 4);
        assert_eq!(r.packet.udp().unwrap().dst_port, 40000);
        assert_eq!(r.payload(), &d[28..]);
        assert_eq!(df.stats().reassembled, 1);
        assert_eq!(df.stats().fragments, 4);
        assert_eq!(df.in_use(), 0);
        check_invariants(&df);
    }

    #[test]
    fn reversed_and_shuffled_orders() {
        let d = udp4(7, 2001);
        let mut frames = frags4(&d, 512);
        frames.reverse();
        let mut df = pool();
        assert_eq!(feed_all(&mut df, &frames, 0), vec![d.clone()]);
        frames.swap(0, 2);
        assert_eq!(feed_all(&mut df, &frames, 0), vec![d.clone()]);
        assert_eq!(df.stats().reassembled, 2);
        check_invariants(&df);
    }

    #[test]
    fn exact_duplicates_are_ignored() {
        let d = udp4(9, 600);
        let f = frags4(&d, 208);
        assert_eq!(f.len(), 3);
        let mut df = pool();
        let order = [&f[0], &f[0], &f[2], &f[1], &f[2]];
        let got: Vec<_> = order
            .iter()
            .filter_map(|x| feed(&mut df, x, 0, 0))
            .collect();
        // f[2] repeated after completion: a new datagram that waits.
        assert_eq!(got, vec![d]);
        let s = df.stats();
        assert_eq!((s.duplicates, s.reassembled, s.overlaps), (1, 1, 0));
        assert_eq!(df.in_use(), 1);
        check_invariants(&df);
    }

    #[test]
    fn ipv4_overlap_with_other_data_drops_the_datagram() {
        let d = udp4(11, 600);
        let f = frags4(&d, 304);
        let mut df = pool();
        assert_eq!(feed(&mut df, &f[0], 0, 0), None);
        // Same range, one octet different.
        let mut evil = f[0].clone();
        *evil.last_mut().unwrap() ^= 0xff;
        assert_eq!(feed(&mut df, &evil, 0, 0), None);
        assert_eq!(df.stats().overlaps, 1);
        // The rest is absorbed by the tombstone, nothing completes.
        assert_eq!(feed(&mut df, &f[1], 0, 0), None);
        assert_eq!(df.stats().discarded, 1);
        assert_eq!(df.stats().reassembled, 0);
        // Partial overlap: [0, 304) then [296, 608).
        let mut df = pool();
        assert_eq!(feed(&mut df, &f[0], 0, 0), None);
        let partial = frag4(&d, 296, d.len() - 20 - 296, false);
        assert_eq!(feed(&mut df, &partial, 0, 0), None);
        assert_eq!(df.stats().overlaps, 1);
        check_invariants(&df);
    }

    #[test]
    fn ipv6_overlap_drops_the_datagram_rfc5722() {
        let d = udp6(500, false);
        let mut df = pool();
        let a = frag6(&d, 40, 77, 0, 256, true);
        let b = frag6(&d, 40, 77, 248, 508 - 248, false); // overlaps [248, 256)
        assert_eq!(feed(&mut df, &a, 0, 0), None);
        assert_eq!(feed(&mut df, &b, 0, 0), None);
        let s = df.stats();
        assert_eq!((s.overlaps, s.reassembled), (1, 0));
        // The proper last fragment now finds the tombstone.
        let c = frag6(&d, 40, 77, 256, 508 - 256, false);
        assert_eq!(feed(&mut df, &c, 0, 0), None);
        assert_eq!(df.stats().discarded, 1);
    }

    #[test]
    fn ipv6_with_hop_by_hop_before_the_fragment_header() {
        let d = udp6(1500, true);
        let unfrag = 48; // fixed header + hop-by-hop
        let total = d.len() - unfrag;
        let frames: Vec<_> = pieces(total, 1232)
            .into_iter()
            .map(|(o, l, m)| frag6(&d, unfrag, 0xdead_beef, o, l, m))
            .collect();
        let p = decode(&frames[1]);
        assert!(p.ipv6().unwrap().is_later_fragment());
        let mut df = pool();
        let got = feed_all(&mut df, &frames, 0);
        assert_eq!(got, vec![d.clone()]);
        let p = decode_ip(&got[0]);
        assert_eq!(p.protocol(), Some(IpProtocol::UDP));
        assert_eq!(p.ipv6().unwrap().ext.count, 1);
        assert_eq!(p.payload(&got[0]).len(), 1500);
        // Reversed, and without the hop-by-hop header.
        let d = udp6(3000, false);
        let mut frames: Vec<_> = pieces(d.len() - 40, 1448)
            .into_iter()
            .map(|(o, l, m)| frag6(&d, 40, 5, o, l, m))
            .collect();
        frames.reverse();
        assert_eq!(feed_all(&mut df, &frames, 0), vec![d]);
        check_invariants(&df);
    }

    #[test]
    fn ipv6_atomic_fragment_is_a_whole_packet() {
        let d = udp6(40, false);
        let frame = frag6(&d, 40, 3, 0, d.len() - 40, false);
        let p = decode(&frame);
        assert!(p.is_fragment() && p.is_complete());
        let mut df = pool();
        assert!(df.push(&p, &frame, 0, 0).is_none());
        assert_eq!(df.stats(), DefragStats::default());
    }

    #[test]
    fn missing_last_fragment_times_out() {
        let d = udp4(21, 1000);
        let f = frags4(&d, 256);
        let mut df = pool();
        for x in &f[..3] {
            assert_eq!(feed(&mut df, x, 0, 10), None);
        }
        assert_eq!(df.in_use(), 1);
        assert_eq!(df.expire(109), 0);
        assert_eq!(df.expire(110), 1);
        assert_eq!(df.stats().timed_out, 1);
        assert_eq!(df.in_use(), 0);
        // The late last fragment starts a datagram of its own, which also times out
        // (counted by the push of an unrelated fragment).
        assert_eq!(feed(&mut df, &f[3], 0, 111), None);
        let other = frags4(&udp4(22, 100), 64);
        assert_eq!(feed(&mut df, &other[0], 0, 500), None);
        assert_eq!(df.stats().timed_out, 2);
        assert_eq!(df.in_use(), 1);
        check_invariants(&df);
    }

    #[test]
    fn timeout_counts_from_the_first_fragment() {
        let d = udp4(23, 1000);
        let f = frags4(&d, 256);
        let mut df = pool();
        assert_eq!(feed(&mut df, &f[0], 0, 0), None);
        assert_eq!(feed(&mut df, &f[1], 0, 60), None);
        assert_eq!(feed(&mut df, &f[2], 0, 99), None);
        // At 100 the datagram is gone before the last fragment is looked at.
        assert_eq!(feed(&mut df, &f[3], 0, 100), None);
        assert_eq!(df.stats().timed_out, 1);
        assert_eq!(df.stats().reassembled, 0);
    }

    #[test]
    fn too_big_is_given_up_once() {
        let mut df = Defrag::new(4, 1024, 100);
        let d = udp4(31, 3000);
        let f = frags4(&d, 512);
        assert_eq!(feed_all(&mut df, &f, 0), Vec::<Vec<u8>>::new());
        let s = df.stats();
        assert_eq!((s.too_big, s.reassembled, s.discarded), (1, 0, 3));
        // The same, last fragment first: the tombstone is created at once.
        let d = udp4(32, 3000);
        let mut f = frags4(&d, 512);
        f.reverse();
        assert_eq!(feed_all(&mut df, &f, 0), Vec::<Vec<u8>>::new());
        let s = df.stats();
        assert_eq!((s.too_big, s.discarded), (2, 3 + 5));
        // A datagram exactly the slot size fits.
        let d = udp4(33, 1024 - 8);
        assert_eq!(feed_all(&mut df, &frags4(&d, 512), 0), vec![d]);
        check_invariants(&df);
    }

    #[test]
    fn full_pool_evicts_the_oldest() {
        let mut df = Defrag::new(2, 2048, 1000);
        let ds: Vec<_> = (0..3).map(|i| udp4(100 + i, 600)).collect();
        let fs: Vec<_> = ds.iter().map(|d| frags4(d, 304)).collect();
        assert_eq!(feed(&mut df, &fs[0][0], 0, 1), None);
        assert_eq!(feed(&mut df, &fs[1][0], 0, 2), None);
        assert_eq!(feed(&mut df, &fs[2][0], 0, 3), None); // evicts datagram 0
        assert_eq!(df.stats().evicted, 1);
        assert_eq!(feed(&mut df, &fs[1][1], 0, 4), Some(ds[1].clone()));
        assert_eq!(feed(&mut df, &fs[2][1], 0, 5), Some(ds[2].clone()));
        assert_eq!(feed(&mut df, &fs[0][1], 0, 6), None); // its first half is gone
        assert_eq!(df.in_use(), 1);
        check_invariants(&df);
    }

    #[test]
    fn malformed_fragments() {
        let d = udp4(41, 600);
        let mut df = pool();
        // M set and a length that is not a multiple of 8.
        assert_eq!(feed(&mut df, &frag4(&d, 0, 300, true), 0, 0), None);
        assert_eq!(df.stats().malformed, 1);
        // Two last fragments that disagree on the end.
        let mut df = pool();
        assert_eq!(feed(&mut df, &frag4(&d, 304, 200, false), 0, 0), None);
        assert_eq!(feed(&mut df, &frag4(&d, 304, 304, false), 0, 0), None);
        assert_eq!(df.stats().malformed, 1);
        // Data past the end the last fragment gave, in both orders.
        let mut df = pool();
        assert_eq!(feed(&mut df, &frag4(&d, 104, 8, false), 0, 0), None); // end 112
        assert_eq!(feed(&mut df, &frag4(&d, 112, 200, true), 0, 0), None);
        assert_eq!(df.stats().malformed, 1);
        let mut df = pool();
        assert_eq!(feed(&mut df, &frag4(&d, 200, 104, true), 0, 0), None);
        assert_eq!(feed(&mut df, &frag4(&d, 96, 8, false), 0, 0), None); // end 104
        assert_eq!(df.stats().malformed, 1);
        check_invariants(&df);
    }

    #[test]
    fn truncated_capture_is_counted() {
        let d = udp4(51, 600);
        let f = frags4(&d, 304);
        let mut df = pool();
        assert_eq!(feed(&mut df, &f[0][..200], 0, 0), None);
        assert_eq!(feed(&mut df, &f[1], 0, 0), None);
        let s = df.stats();
        assert_eq!((s.truncated, s.discarded, s.reassembled), (1, 1, 0));
    }

    #[test]
    fn keys_keep_bridges_and_protocols_apart() {
        let d = udp4(61, 600);
        let f = frags4(&d, 304);
        let mut df = pool();
        assert_eq!(feed(&mut df, &f[0], 1, 0), None);
        assert_eq!(feed(&mut df, &f[1], 2, 0), None);
        // Same addresses and ident, protocol TCP instead of UDP.
        let mut tcp = f[1].clone();
        tcp[14 + 9] = 6;
        assert_eq!(feed(&mut df, &tcp, 1, 0), None);
        assert_eq!(df.in_use(), 3);
        assert_eq!(feed(&mut df, &f[1], 1, 0), Some(d));
        check_invariants(&df);
    }

    #[test]
    fn ipv4_options_are_kept_and_flags_cleared() {
        // IHL 6 with a router alert option; DF set on the original.
        let base = udp4(71, 300);
        let mut d = base[..20].to_vec();
        d.extend_from_slice(&[0x94, 0x04, 0, 0]);
        d.extend_from_slice(&base[20..]);
        d[0] = 0x46;
        let total = d.len() as u16;
        d[2..4].copy_from_slice(&total.to_be_bytes());
        d[6] = 0x40;
        d[10..12].copy_from_slice(&[0, 0]);
        let c = internet_checksum(&d[..24]);
        d[10..12].copy_from_slice(&c.to_be_bytes());
        let frames: Vec<_> = pieces(d.len() - 24, 160)
            .into_iter()
            .map(|(o, l, m)| frag4(&d, o, l, m))
            .collect();
        let mut df = pool();
        let got = feed_all(&mut df, &frames, 0);
        assert_eq!(got, vec![d]);
        assert_eq!(internet_checksum(&got[0][..24]), 0);
    }

    #[test]
    fn sizes_are_clamped() {
        let df = Defrag::new(0, 0, 0);
        assert_eq!((df.capacity(), df.slot_size()), (1, 8));
        let df = Defrag::new(3, 100_000, 0);
        assert_eq!((df.capacity(), df.slot_size()), (3, MAX_SLOT_SIZE));
    }

    #[test]
    fn bit_ranges() {
        let mut b = [0u64; 3];
        set_bits(&mut b, 60, 130);
        assert_eq!(count_bits(&mut b, 0, 192), 70);
        assert_eq!(count_bits(&mut b, 59, 61), 1);
        assert_eq!(count_bits(&mut b, 64, 128), 64);
        assert_eq!(count_bits(&mut b, 129, 131), 1);
        assert_eq!(count_bits(&mut b, 5, 5), 0);
        assert_eq!(b[2], 0b11);
    }

    /// A random fragmentation of a random datagram, fed in a random order with
    /// random duplicates: the datagram comes back exactly once; mutated, nothing
    /// panics and the lists stay consistent.
    fn plan() -> impl Strategy<Value = (bool, usize, usize, Vec<u16>, Vec<usize>, u16)> {
        (
            any::<bool>(),
            0usize..3000,
            1usize..64,
            prop::collection::vec(any::<u16>(), 0..64),
            prop::collection::vec(any::<usize>(), 0..6),
            any::<u16>(),
        )
    }

    fn fragments(v6: bool, n: usize, size8: usize, ident: u16) -> (Vec<u8>, Vec<Vec<u8>>) {
        let size = size8 * 8;
        if v6 {
            let hbh = ident.is_multiple_of(2);
            let d = udp6(n, hbh);
            let unfrag = if hbh { 48 } else { 40 };
            let f = pieces(d.len() - unfrag, size)
                .into_iter()
                .map(|(o, l, m)| frag6(&d, unfrag, u32::from(ident), o, l, m))
                .collect();
            (d, f)
        } else {
            let d = udp4(ident, n);
            let f = frags4(&d, size);
            (d, f)
        }
    }

    proptest! {
        #[test]
        fn any_order_any_duplicates_one_datagram(
            (v6, n, size8, order, dups, ident) in plan()
        ) {
            let (d, mut frames) = fragments(v6, n, size8, ident);
            if frames.len() < 2 {
                return Ok(()); // not fragmented
            }
            // A random permutation from `order` (Fisher–Yates with given draws).
            for i in (1..frames.len()).rev() {
                let j = usize::from(order.get(i).copied().unwrap_or(0)) % (i + 1);
                frames.swap(i, j);
            }
            // Duplicates inserted before the last frame (so before completion).
            let last = frames.pop().unwrap();
            for k in &dups {
                if !frames.is_empty() {
                    let x = frames[k % frames.len()].clone();
                    frames.insert(k % frames.len(), x);
                }
            }
            frames.push(last);
            let mut df = Defrag::new(4, 4096, 10);
            let got = feed_all(&mut df, &frames, 0);
            prop_assert_eq!(got, vec![d]);
            let s = df.stats();
            prop_assert_eq!(s.duplicates as usize, dups.len());
            prop_assert_eq!((s.overlaps, s.malformed, s.reassembled), (0, 0, 1));
            prop_assert_eq!(df.in_use(), 0);
            check_invariants(&df);
        }

        #[test]
        fn mutated_fragments_never_panic(
            (v6, n, size8, _order, _dups, ident) in plan(),
            flips in prop::collection::vec((any::<usize>(), any::<u8>(), 0u64..40), 0..24),
            slots in 1u32..4,
        ) {
            let (_, frames) = fragments(v6, n, size8, ident);
            let mut df = Defrag::new(slots, 1024, 16);
            let mut now = 0;
            let mut returned = 0u64;
            for (k, (at, x, dt)) in flips.iter().enumerate() {
                let mut f = frames[k % frames.len()].clone();
                // Mostly the IP and fragment headers.
                let i = 14 + at % (f.len() - 14).min(64);
                f[i] ^= x;
                now += dt;
                let p = decode(&f);
                if let Some(r) = df.push(&p, &f, 0, now) {
                    returned += 1;
                    prop_assert!(!r.packet.is_fragment());
                    prop_assert!(r.datagram.len() <= HEADER_ROOM + 1024);
                    prop_assert!(!matches!(r.packet.ip, Ip::None));
                }
                check_invariants(&df);
                // And the unmutated frames in between.
                let g = &frames[(k * 7) % frames.len()];
                if let Some(r) = df.push(&decode(g), g, 0, now) {
                    returned += 1;
                    prop_assert!(!r.packet.is_fragment());
                }
                check_invariants(&df);
            }
            prop_assert_eq!(df.stats().reassembled, returned);
            df.expire(u64::MAX);
            prop_assert_eq!(df.in_use(), 0);
            check_invariants(&df);
        }
    }
}
