//! The flow table itself. See the module doc of [`crate::flow`] for the layout.

use super::key::{Endpoint, FlowKey};
use super::session::{SessionId, SessionIds};
use crate::prefetch::prefetch;
use crate::subscribers::FlowLogin;
use crate::wire::{FlowTuple, Packet, TcpFlags};

/// Entry number meaning "none" in the lists.
const NIL: u32 = u32::MAX;

/// The session id of a free entry: handles never match it (a generator would need
/// worker 255 and a sequence of all ones).
const VACANT: SessionId = SessionId(u64::MAX);

/// Largest capacity accepted: the index then has 2^31 slots and home positions fit
/// the 32-bit tag.
pub const MAX_CAPACITY: usize = 1 << 30;

/// Idle timeouts per class, in the unit of the `now` values given to the table (ns,
/// TSC ticks, … — the table only compares and adds them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timeouts {
    /// An open TCP flow.
    pub tcp: u64,
    /// A TCP flow after RST or FIN from both ends: only its last ACKs are still due.
    pub tcp_closing: u64,
    pub udp: u64,
    /// Any other IP protocol (ICMP, GRE, ESP, …).
    pub other: u64,
    /// A flow moves to the tail of its recency list at most once per this much
    /// time: moving touches two more entries (random cache lines), which a busy
    /// flow need not pay on every packet. Expiry and eviction are then exact to
    /// within this. 0: move on every packet.
    pub relink_after: u64,
}

impl Timeouts {
    /// Timeouts given in seconds, for a clock of `ticks_per_sec`.
    pub const fn from_secs(
        tcp: u64,
        tcp_closing: u64,
        udp: u64,
        other: u64,
        ticks_per_sec: u64,
    ) -> Self {
        Self {
            tcp: tcp.saturating_mul(ticks_per_sec),
            tcp_closing: tcp_closing.saturating_mul(ticks_per_sec),
            udp: udp.saturating_mul(ticks_per_sec),
            other: other.saturating_mul(ticks_per_sec),
            relink_after: 0,
        }
    }

    const fn of(&self, class: Class) -> u64 {
        match class {
            Class::TcpOpen => self.tcp,
            Class::TcpClosing => self.tcp_closing,
            Class::Udp => self.udp,
            Class::Other => self.other,
        }
    }
}

/// How the client end of a flow was chosen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientRule {
    /// TCP: the sender of a SYN without ACK.
    Syn,
    /// TCP: the receiver of a SYN+ACK (the SYN itself was not seen).
    SynAck,
    /// TCP without a handshake seen: the end with the higher port.
    HigherPort,
    /// Not TCP: the sender of the first packet.
    FirstPacket,
}

/// What the table saw of TCP's control bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TcpProgress {
    pub syn: bool,
    /// FIN sent by each end ([`Endpoint::index`]).
    pub fin: [bool; 2],
    pub rst: bool,
}

/// Why a flow ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EndReason {
    /// No packet for the idle timeout of its class.
    IdleTimeout,
    /// A TCP flow closed by RST or FIN from both ends, after the closing timeout.
    TcpClosed,
    /// The table was full and this was the least recently seen flow.
    Evicted,
    /// A SYN arrived on a closing TCP flow: the ports are in use by a new connection.
    Reused,
    /// The worker stops (the run ends): every flow still in the table ends.
    Shutdown,
}

/// Which of a flow's packets its parsers need, so that the others take the
/// short path (the flow table alone, the packet not decoded whole). Decided
/// by the parsers after each packet they read (`Apps::short_path`); kept in
/// the flow beside what every lookup reads. Tested without a jump table (the
/// kinds of a burst's flows alternate); its octets aligned to a word, so that
/// they are read, returned and tested in registers (unaligned, the three
/// octets it had went through memory one by one on every packet).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(C, align(4))]
pub struct ShortPath {
    /// A packet with payload skips when its first octet, masked, is not `value`.
    mask: u8,
    value: u8,
    /// A packet without payload: skips never, unless it is a FIN or RST, or always.
    bare: Bare,
    /// A TCP segment from this end ([`Endpoint::index`]; 2: none) skips when
    /// its octets all come before `before` (where its stream goes on: a body
    /// skipped by count) and it is no FIN or RST.
    before_end: u8,
    before: u32,
}

/// `ShortPath::before_end` of no end.
const NO_END: u8 = 2;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Bare {
    Never,
    UnlessClosing,
    Always,
}

impl ShortPath {
    /// Every packet goes to the parsers (a blocked flow: its packets are dropped).
    pub const NEVER: Self = Self::payload(Bare::Never);
    /// Packets with payload, FIN or RST go to the parsers.
    pub const PAYLOAD: Self = Self::payload(Bare::UnlessClosing);
    /// None does.
    pub const ALWAYS: Self = Self::rules(0, 1, Bare::Always);

    const fn payload(bare: Bare) -> Self {
        Self::rules(0, 0, bare)
    }

    /// The rules of the first octet and of bare packets, no end's rule.
    #[inline(always)]
    const fn rules(mask: u8, value: u8, bare: Bare) -> Self {
        Self {
            mask,
            value,
            bare,
            before_end: NO_END,
            before: 0,
        }
    }

    /// Only packets whose first payload octet, masked with `mask`, is `value`
    /// go to the parsers: a message they still read may start in them.
    pub const fn unless(mask: u8, value: u8) -> Self {
        Self::rules(mask, value, Bare::Always)
    }

    /// These rules, and: a segment from `end` whose octets all come before
    /// sequence number `next` skips (unless it is a FIN or RST).
    pub const fn skipping_before(mut self, end: Endpoint, next: u32) -> Self {
        self.before_end = end as u8;
        self.before = next;
        self
    }

    /// Whether a packet with this first payload octet (`None`: no payload)
    /// and control bits, from `sender`, needs the flow table alone.
    /// `seq_end`: the TCP sequence number after its payload, asked for only
    /// when a rule of `sender`'s end needs it (rarely: it reads the header
    /// again, and the short path's other packets need not carry it).
    #[inline]
    pub fn skips(
        self,
        first_octet: Option<u8>,
        fin_or_rst: bool,
        sender: Endpoint,
        seq_end: impl FnOnce() -> u32,
    ) -> bool {
        match first_octet {
            Some(o) => {
                o & self.mask != self.value
                    || (self.before_end == sender as u8
                        && !fin_or_rst
                        && self.before.wrapping_sub(seq_end()) < 1 << 31)
            }
            None => match self.bare {
                Bare::Never => false,
                Bare::UnlessClosing => !fin_or_rst,
                Bare::Always => true,
            },
        }
    }
}

impl Default for ShortPath {
    fn default() -> Self {
        Self::PAYLOAD
    }
}

/// One flow: what later stages read and the parser state `S` they keep in it.
/// `repr(C)`: the key, the session id and `last_seen` (read on every packet)
/// first, in the entry's first two cache lines ([`Entry`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
pub struct Flow<S> {
    pub key: FlowKey,
    pub session_id: SessionId,
    pub last_seen: u64,
    pub first_seen: u64,
    pub short: ShortPath,
    /// The end on the subscriber side (the sender of packets that came in on the
    /// subscriber port): records from it have `FLW_DIR` 0.
    pub subscriber: Endpoint,
    pub client: Endpoint,
    pub client_rule: ClientRule,
    pub tcp: TcpProgress,
    /// The subscriber's login, looked up when the flow is new or the map changed.
    pub login: FlowLogin,
    /// The application parser's state for this flow.
    pub app: S,
}

/// A reference to a live flow; checked on use (a handle to a flow that ended finds
/// nothing, even when its entry was reused).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlowHandle {
    entry: u32,
    session: SessionId,
}

/// A packet's flow key and hash, from [`FlowTable::prepare`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prepared {
    key: FlowKey,
    sender: Endpoint,
    hash: u64,
}

/// What [`FlowTable::observe`] did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observed {
    pub handle: FlowHandle,
    pub session_id: SessionId,
    /// Which end sent this packet.
    pub sender: Endpoint,
    /// 0 when the packet came in on the subscriber port, 1 otherwise (`FLW_DIR`).
    pub dir: u8,
    /// The packet created the flow.
    pub new: bool,
    /// The flow's [`ShortPath`] when the packet came.
    pub short: ShortPath,
}

/// What one index slot says of a key ([`FlowTable::find`]).
enum Probe {
    /// The key's entry.
    Found(u32),
    /// An empty slot: the key is in no slot further on.
    Absent,
    /// Another key's: the chain goes on.
    Next,
}

/// Counters of one table (one worker).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowStats {
    pub created: u64,
    /// Flows removed because the table was full (the oldest one each time).
    pub evicted_full: u64,
    pub expired_idle: u64,
    pub closed_tcp: u64,
    pub reused: u64,
    /// Packets with no flow key: no IP layer, or a TCP/UDP packet without its ports.
    pub untracked: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    TcpOpen = 0,
    TcpClosing = 1,
    Udp = 2,
    Other = 3,
}

const CLASSES: [Class; 4] = [Class::TcpOpen, Class::TcpClosing, Class::Udp, Class::Other];

#[derive(Clone, Copy, Debug)]
struct List {
    head: u32,
    tail: u32,
}

/// The four class lists, indexed by [`Class`] (constant indices, so no bounds check
/// can fail).
#[derive(Clone, Copy, Debug)]
struct Lists([List; 4]);

impl core::ops::Index<Class> for Lists {
    type Output = List;
    fn index(&self, c: Class) -> &List {
        match c {
            Class::TcpOpen => &self.0[0],
            Class::TcpClosing => &self.0[1],
            Class::Udp => &self.0[2],
            Class::Other => &self.0[3],
        }
    }
}

impl core::ops::IndexMut<Class> for Lists {
    fn index_mut(&mut self, c: Class) -> &mut List {
        match c {
            Class::TcpOpen => &mut self.0[0],
            Class::TcpClosing => &mut self.0[1],
            Class::Udp => &mut self.0[2],
            Class::Other => &mut self.0[3],
        }
    }
}

/// A slot of the table, aligned to a cache line: what a lookup and an update
/// read (the list fields, the key, the session id, `last_seen`) fill its
/// first two lines; the parser state follows.
#[derive(Clone, Copy, Debug)]
#[repr(C, align(64))]
struct Entry<S> {
    /// When the entry last moved to the tail of its list; lists are ordered by it.
    linked_at: u64,
    prev: u32,
    /// Next in the class list, or in the free list.
    next: u32,
    class: Class,
    flow: Flow<S>,
}

/// The flow table of one worker.
pub struct FlowTable<S> {
    /// Slots: 0 empty, else `hash_low32 << 32 | (entry + 1)`.
    index: Box<[u64]>,
    mask: usize,
    entries: Box<[Entry<S>]>,
    free: u32,
    lists: Lists,
    len: usize,
    seed: u64,
    ids: SessionIds,
    timeouts: Timeouts,
    stats: FlowStats,
}

impl<S: Copy + Default> FlowTable<S> {
    /// A table for at most `capacity` flows (clamped to 1..=[`MAX_CAPACITY`]). All
    /// memory is allocated here: `capacity` entries and an index of the next power of
    /// two ≥ 2 × `capacity` slots (load ≤ 1/2, short probes).
    pub fn new(capacity: usize, timeouts: Timeouts, ids: SessionIds) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        let slots = (capacity * 2).next_power_of_two();
        let vacant = Entry {
            flow: Flow {
                key: FlowKey::new([0; 4].into(), 0, [0; 4].into(), 0, 0, 0).0,
                session_id: VACANT,
                first_seen: 0,
                last_seen: 0,
                subscriber: Endpoint::Lo,
                client: Endpoint::Lo,
                client_rule: ClientRule::FirstPacket,
                tcp: TcpProgress::default(),
                login: FlowLogin::default(),
                short: ShortPath::PAYLOAD,
                app: S::default(),
            },
            linked_at: 0,
            prev: NIL,
            next: NIL,
            class: Class::Other,
        };
        let mut entries = vec![vacant; capacity].into_boxed_slice();
        // Free list through `next`: 0 → 1 → … → capacity-1 → NIL.
        for (i, e) in entries.iter_mut().enumerate() {
            e.next = if i + 1 < capacity {
                (i + 1) as u32
            } else {
                NIL
            };
        }
        let seed = {
            use std::hash::BuildHasher;
            std::collections::hash_map::RandomState::new().hash_one(0x6d65_7461_7072_6f62u64)
        };
        Self {
            index: vec![0u64; slots].into_boxed_slice(),
            mask: slots - 1,
            entries,
            free: 0,
            lists: Lists(
                [List {
                    head: NIL,
                    tail: NIL,
                }; 4],
            ),
            len: 0,
            seed,
            ids,
            timeouts,
            stats: FlowStats::default(),
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.entries.len()
    }

    pub fn stats(&self) -> FlowStats {
        self.stats
    }

    /// Octets the table holds (fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.index.len() * core::mem::size_of::<u64>()
            + self.entries.len() * core::mem::size_of::<Entry<S>>()
    }

    /// The flow behind a handle, if it is still the same flow.
    pub fn get(&self, h: FlowHandle) -> Option<&Flow<S>> {
        self.entries
            .get(h.entry as usize)
            .map(|e| &e.flow)
            .filter(|f| f.session_id == h.session)
    }

    /// The flow behind a handle, for its parser to update `app`.
    pub fn get_mut(&mut self, h: FlowHandle) -> Option<&mut Flow<S>> {
        self.entries
            .get_mut(h.entry as usize)
            .map(|e| &mut e.flow)
            .filter(|f| f.session_id == h.session)
    }

    /// Looks the flow of a decoded packet up, creating it if new (evicting the oldest
    /// flow through `on_end` if the table is full), and updates it. `from_subscriber`:
    /// the packet came in on the bridge's subscriber port. `None` (counted) for packets
    /// without a flow key.
    pub fn observe(
        &mut self,
        p: &Packet,
        bridge: u16,
        from_subscriber: bool,
        now: u64,
        on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> Option<Observed> {
        let prepared = self.prepare(p, bridge);
        self.observe_prepared(prepared.as_ref(), p, from_subscriber, now, on_end)
    }

    /// The first half of [`FlowTable::observe`]: the packet's key and hash, and a
    /// read of the index slot and entry they lead to. Preparing every packet of
    /// a burst before observing any lets their cache misses overlap.
    pub fn prepare(&self, p: &Packet, bridge: u16) -> Option<Prepared> {
        let (key, sender) = FlowKey::from_packet(p, bridge)?;
        Some(self.prepared(key, sender))
    }

    /// The key's hash, and a prefetch of the index slot it leads to.
    #[inline(always)]
    fn prepared(&self, key: FlowKey, sender: Endpoint) -> Prepared {
        let hash = key.hash(self.seed);
        if let Some(slot) = self.index.get(hash as usize & self.mask) {
            prefetch(slot);
        }
        Prepared { key, sender, hash }
    }

    /// Prefetches the entry a prepared lookup's home slot points to (its two
    /// lines a lookup and an update read): called for a whole burst after
    /// [`FlowTable::prepare`], when the slots are in the cache.
    #[inline]
    pub fn prefetch_entry(&self, prepared: &Prepared) {
        let slot = self
            .index
            .get(prepared.hash as usize & self.mask)
            .copied()
            .unwrap_or(0);
        if let Some(e) = self
            .entries
            .get(((slot & 0xffff_ffff) as usize).wrapping_sub(1))
        {
            prefetch(&e.linked_at);
            prefetch(&e.flow.session_id);
        }
    }

    /// [`FlowTable::prepare`] for a frame's [`FlowTuple`] (the same key).
    #[inline(always)]
    pub fn prepare_tuple(&self, t: &FlowTuple, bridge: u16) -> Prepared {
        let (key, sender) = FlowKey::from_tuple(t, bridge);
        self.prepared(key, sender)
    }

    /// [`FlowTable::observe_prepared`] for a lookup prepared without a
    /// decoded packet ([`FlowTable::prepare_tuple`]): `flags` are its TCP
    /// control bits (`None`: not TCP).
    pub fn observe_flags(
        &mut self,
        prepared: &Prepared,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
        on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> Observed {
        let Prepared {
            ref key,
            sender,
            hash,
            ..
        } = *prepared;
        self.observe_hashed(key, hash, sender, flags, from_subscriber, now, on_end)
    }

    /// The second half of [`FlowTable::observe`], for a packet [`FlowTable::prepare`]d.
    pub fn observe_prepared(
        &mut self,
        prepared: Option<&Prepared>,
        p: &Packet,
        from_subscriber: bool,
        now: u64,
        on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> Option<Observed> {
        let Some(prepared) = prepared else {
            self.stats.untracked += 1;
            return None;
        };
        let flags = p.tcp().map(|t| t.flags);
        Some(self.observe_flags(prepared, flags, from_subscriber, now, on_end))
    }

    /// [`FlowTable::observe`] for a key already built: `flags` are the TCP control bits
    /// (`None` for other protocols).
    #[allow(clippy::too_many_arguments)]
    pub fn observe_key(
        &mut self,
        key: FlowKey,
        sender: Endpoint,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
        on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> Observed {
        let hash = key.hash(self.seed);
        self.observe_hashed(&key, hash, sender, flags, from_subscriber, now, on_end)
    }

    #[allow(clippy::too_many_arguments)]
    fn observe_hashed(
        &mut self,
        key: &FlowKey,
        hash: u64,
        sender: Endpoint,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
        mut on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> Observed {
        let syn_only =
            flags.is_some_and(|f| f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK));
        let found = self.find(key, hash).filter(|&idx| {
            let closing = self
                .entries
                .get(idx as usize)
                .is_some_and(|e| e.class == Class::TcpClosing);
            if closing && syn_only {
                self.stats.reused += 1;
                self.end(idx, EndReason::Reused, &mut on_end);
                return false;
            }
            true
        });
        // One update for a found flow and a new one: the `Observed` of both
        // is built in registers (a new flow's, returned from out of line,
        // came through memory, and so did a found flow's, on every packet).
        let (idx, new) = match found {
            Some(idx) => (idx, false),
            None => (
                self.insert(key, hash, sender, flags, from_subscriber, now, on_end),
                true,
            ),
        };
        self.update(idx, sender, flags, from_subscriber, now, new)
    }

    /// A new flow (evicting the oldest if the table is full): its entry.
    #[inline(never)]
    #[allow(clippy::too_many_arguments)]
    fn insert(
        &mut self,
        key: &FlowKey,
        hash: u64,
        sender: Endpoint,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
        mut on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> u32 {
        if self.len >= self.entries.len() {
            self.evict_oldest(&mut on_end);
        }
        self.create(*key, hash, sender, flags, from_subscriber, now)
    }

    /// Ends flows idle past their class's timeout at `now`, at most `budget` of them
    /// (bounded work per call); returns how many ended.
    pub fn expire(
        &mut self,
        now: u64,
        budget: usize,
        mut on_end: impl FnMut(&Flow<S>, EndReason),
    ) -> usize {
        let mut ended = 0;
        for class in CLASSES {
            let timeout = self.timeouts.of(class);
            while ended < budget {
                let head = self.lists[class].head;
                let Some(e) = self.entries.get(head as usize) else {
                    break;
                };
                if e.flow.last_seen.saturating_add(timeout) > now {
                    break;
                }
                let reason = if class == Class::TcpClosing {
                    self.stats.closed_tcp += 1;
                    EndReason::TcpClosed
                } else {
                    self.stats.expired_idle += 1;
                    EndReason::IdleTimeout
                };
                self.end(head, reason, &mut on_end);
                ended += 1;
            }
        }
        ended
    }

    /// Ends every flow (the run stops), so that what their parsers hold is
    /// given out; returns how many ended.
    pub fn end_all(&mut self, mut on_end: impl FnMut(&Flow<S>, EndReason)) -> usize {
        let mut ended = 0;
        for class in CLASSES {
            while let Some(head) = Some(self.lists[class].head).filter(|&h| h != NIL) {
                self.end(head, EndReason::Shutdown, &mut on_end);
                ended += 1;
            }
        }
        ended
    }

    // ---- internals ------------------------------------------------------------------

    /// The entry of `key`. The home slot is probed inline, the rest of its
    /// chain out of line: at a load of at most 1/2 most lookups end at home,
    /// and without a loop here the key is read where it is (with the loop
    /// inlined, it was first copied to the stack, on every packet).
    #[inline(always)]
    fn find(&self, key: &FlowKey, hash: u64) -> Option<u32> {
        let tag = hash & 0xffff_ffff;
        let home = hash as usize & self.mask;
        match self.probe(home, tag, key) {
            Probe::Found(idx) => Some(idx),
            Probe::Absent => None,
            Probe::Next => self.find_past_home(home, tag, key),
        }
    }

    #[inline(never)]
    fn find_past_home(&self, home: usize, tag: u64, key: &FlowKey) -> Option<u32> {
        let mut i = home;
        for _ in 0..self.mask {
            i = (i + 1) & self.mask;
            match self.probe(i, tag, key) {
                Probe::Found(idx) => return Some(idx),
                Probe::Absent => return None,
                Probe::Next => {}
            }
        }
        None
    }

    /// What index slot `i` says of a key with this tag.
    #[inline(always)]
    fn probe(&self, i: usize, tag: u64, key: &FlowKey) -> Probe {
        let slot = self.index.get(i).copied().unwrap_or(0);
        if slot == 0 {
            return Probe::Absent;
        }
        if slot >> 32 == tag {
            let idx = (slot & 0xffff_ffff) as u32 - 1;
            if self
                .entries
                .get(idx as usize)
                .is_some_and(|e| e.flow.key == *key)
            {
                return Probe::Found(idx);
            }
        }
        Probe::Next
    }

    fn create(
        &mut self,
        key: FlowKey,
        hash: u64,
        sender: Endpoint,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
    ) -> u32 {
        let idx = self.free;
        let session_id = self.ids.next_id();
        let (client, client_rule) = match flags {
            Some(f) if f.contains(TcpFlags::SYN) && !f.contains(TcpFlags::ACK) => {
                (sender, ClientRule::Syn)
            }
            Some(f) if f.contains(TcpFlags::SYN) => (sender.other(), ClientRule::SynAck),
            Some(_) => {
                let higher = match key.lo_port.cmp(&key.hi_port) {
                    core::cmp::Ordering::Greater => Endpoint::Lo,
                    core::cmp::Ordering::Less => Endpoint::Hi,
                    core::cmp::Ordering::Equal => sender,
                };
                (higher, ClientRule::HigherPort)
            }
            None => (sender, ClientRule::FirstPacket),
        };
        let class = match (flags.is_some(), key.protocol) {
            (true, _) => Class::TcpOpen,
            (false, 17) => Class::Udp,
            _ => Class::Other,
        };
        if let Some(e) = self.entries.get_mut(idx as usize) {
            self.free = e.next;
            *e = Entry {
                flow: Flow {
                    key,
                    session_id,
                    first_seen: now,
                    last_seen: now,
                    subscriber: if from_subscriber {
                        sender
                    } else {
                        sender.other()
                    },
                    client,
                    client_rule,
                    tcp: TcpProgress::default(),
                    login: FlowLogin::default(),
                    short: ShortPath::PAYLOAD,
                    app: S::default(),
                },
                linked_at: now,
                prev: NIL,
                next: NIL,
                class,
            };
        }
        self.insert_index(idx, hash);
        self.push_tail(idx);
        self.len += 1;
        self.stats.created += 1;
        idx
    }

    /// Moves an entry to the tail of `moved_to`'s list (at most `RELINK_HZ`
    /// times a second for a busy flow, so out of the inlined update).
    #[inline(never)]
    fn relink(&mut self, idx: u32, moved_to: Class) {
        // unlink() reads the class to find the list the entry is in.
        self.unlink(idx);
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.class = moved_to;
        }
        self.push_tail(idx);
    }

    /// Inlined: its `Observed` stays in registers (returned through memory,
    /// its fields were read back in other widths than written, a stall).
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn update(
        &mut self,
        idx: u32,
        sender: Endpoint,
        flags: Option<TcpFlags>,
        from_subscriber: bool,
        now: u64,
        new: bool,
    ) -> Observed {
        let mut session_id = SessionId(0);
        let mut short = ShortPath::NEVER;
        if let Some(e) = self.entries.get_mut(idx as usize) {
            let class = e.class;
            let f = &mut e.flow;
            f.last_seen = f.last_seen.max(now);
            let s = sender.index();
            if let Some(flags) = flags {
                if flags.contains(TcpFlags::SYN) && !flags.contains(TcpFlags::ACK) {
                    f.tcp.syn = true;
                    if f.client_rule == ClientRule::HigherPort {
                        f.client = sender;
                        f.client_rule = ClientRule::Syn;
                    }
                }
                if flags.contains(TcpFlags::FIN)
                    && let Some(fin) = f.tcp.fin.get_mut(s)
                {
                    *fin = true;
                }
                if flags.contains(TcpFlags::RST) {
                    f.tcp.rst = true;
                }
                if f.tcp.rst || f.tcp.fin == [true, true] {
                    e.class = Class::TcpClosing;
                }
            }
            session_id = f.session_id;
            short = f.short;
            // Lists stay ordered by `linked_at` because a move always goes to the
            // tail with the latest time.
            let relink = e.class != class
                || (!new && now.saturating_sub(e.linked_at) >= self.timeouts.relink_after);
            if relink {
                let moved_to = e.class;
                e.class = class;
                e.linked_at = now.max(e.linked_at);
                self.relink(idx, moved_to);
            }
        }
        Observed {
            handle: FlowHandle {
                entry: idx,
                session: session_id,
            },
            session_id,
            sender,
            dir: if from_subscriber { 0 } else { 1 },
            new,
            short,
        }
    }

    fn evict_oldest(&mut self, on_end: &mut impl FnMut(&Flow<S>, EndReason)) {
        let mut oldest: Option<(u64, u32)> = None;
        for l in &self.lists.0 {
            if let Some(e) = self.entries.get(l.head as usize)
                && oldest.is_none_or(|(t, _)| e.flow.last_seen < t)
            {
                oldest = Some((e.flow.last_seen, l.head));
            }
        }
        if let Some((_, idx)) = oldest {
            self.stats.evicted_full += 1;
            self.end(idx, EndReason::Evicted, on_end);
        }
    }

    fn end(&mut self, idx: u32, reason: EndReason, on_end: &mut impl FnMut(&Flow<S>, EndReason)) {
        let Some(e) = self.entries.get(idx as usize) else {
            return;
        };
        on_end(&e.flow, reason);
        // Not kept in the entry (a lookup need not read it): computed again.
        let hash = e.flow.key.hash(self.seed);
        self.remove_index(idx, hash);
        self.unlink(idx);
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.flow.session_id = VACANT;
            e.next = self.free;
        }
        self.free = idx;
        self.len -= 1;
    }

    fn insert_index(&mut self, idx: u32, hash: u64) {
        let mut i = hash as usize & self.mask;
        for _ in 0..=self.mask {
            if let Some(slot) = self.index.get_mut(i)
                && *slot == 0
            {
                *slot = (hash & 0xffff_ffff) << 32 | (u64::from(idx) + 1);
                return;
            }
            i = (i + 1) & self.mask;
        }
    }

    /// Removes `idx` from the index by backward-shift deletion: later members of the
    /// probe run move back into the hole when their home allows it, so no tombstones.
    fn remove_index(&mut self, idx: u32, hash: u64) {
        let want = u64::from(idx) + 1;
        let mut hole = hash as usize & self.mask;
        let mut found = false;
        for _ in 0..=self.mask {
            match self.index.get(hole).copied() {
                Some(0) | None => return,
                Some(s) if s & 0xffff_ffff == want => {
                    found = true;
                    break;
                }
                Some(_) => hole = (hole + 1) & self.mask,
            }
        }
        if !found {
            return;
        }
        let mut j = (hole + 1) & self.mask;
        for _ in 0..=self.mask {
            let s = self.index.get(j).copied().unwrap_or(0);
            if s == 0 {
                break;
            }
            let home = (s >> 32) as usize & self.mask;
            if (j.wrapping_sub(home) & self.mask) >= (j.wrapping_sub(hole) & self.mask) {
                if let Some(h) = self.index.get_mut(hole) {
                    *h = s;
                }
                hole = j;
            }
            j = (j + 1) & self.mask;
        }
        if let Some(h) = self.index.get_mut(hole) {
            *h = 0;
        }
    }

    fn push_tail(&mut self, idx: u32) {
        let Some(class) = self.entries.get(idx as usize).map(|e| e.class) else {
            return;
        };
        let list = self.lists[class];
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.prev = list.tail;
            e.next = NIL;
        }
        match self.entries.get_mut(list.tail as usize) {
            Some(t) => t.next = idx,
            None => self.lists[class].head = idx,
        }
        self.lists[class].tail = idx;
    }

    fn unlink(&mut self, idx: u32) {
        let Some(&Entry {
            prev, next, class, ..
        }) = self.entries.get(idx as usize)
        else {
            return;
        };
        let list = &mut self.lists[class];
        match self.entries.get_mut(prev as usize) {
            Some(p) => p.next = next,
            None => {
                if list.head == idx {
                    list.head = next;
                }
            }
        }
        let list = &mut self.lists[class];
        match self.entries.get_mut(next as usize) {
            Some(n) => n.prev = prev,
            None => {
                if list.tail == idx {
                    list.tail = prev;
                }
            }
        }
        if let Some(e) = self.entries.get_mut(idx as usize) {
            e.prev = NIL;
            e.next = NIL;
        }
    }
}
