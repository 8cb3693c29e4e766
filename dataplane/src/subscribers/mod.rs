//! The subscriber map: which login an address on the subscriber side belongs
//! to (spec §3 LOGIN), by longest prefix, from two sources: the map file and
//! RADIUS accounting ([`radius`]).
//!
//! The main lcore builds the map ([`SubscriberMap::parse`] for the file;
//! [`SubscriberMap::with_radius`] adds the bindings of its [`Bindings`] table)
//! and publishes it through [`SubscriberHandle`] (an atomic swap: a worker sees
//! the old map or the new one, never a mix). A RADIUS binding wins over the
//! file for every address it covers.
//!
//! A worker looks a flow's login up once, when the flow is new or its view
//! changed, and keeps a [`FlowLogin`] (an index into interned logins) in the
//! flow entry; records borrow the login's bytes. The worker that reads a RADIUS
//! request uses it at once through its [`Recent`] bindings, until the map the
//! main lcore publishes holds it.
//!
//! File format, one mapping per line:
//!
//! ```text
//! # comment
//! 10.0.0.0/24      office
//! 10.0.0.3         alice          # a host: /32 (or /128)
//! 2001:db8:1::/48  bob
//! ```

mod bindings;
pub mod radius;
mod recent;

pub use bindings::{Bindings, BindingsStats};
pub use recent::{Change, Login, RadiusEvent, Recent};

use radius::MAX_PREFIXES;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use crossbeam_queue::ArrayQueue;

/// Where workers send the RADIUS changes they read, for the main lcore.
pub type RadiusQueue = Arc<ArrayQueue<RadiusEvent>>;

/// Changes the queue holds: a burst of accounting larger than the main lcore
/// drains in one tick is counted (`radius-queue-full`).
pub const RADIUS_QUEUE: usize = 4096;

/// An empty queue of [`RADIUS_QUEUE`] changes.
pub fn radius_queue() -> RadiusQueue {
    Arc::new(ArrayQueue::new(RADIUS_QUEUE))
}

use crate::table::{Handle, Table};
pub use crate::table::{LineError, handle, publish};

/// Where workers find the current map; the main lcore stores a new one.
pub type SubscriberHandle = Handle<SubscriberMap>;

/// Longest login kept (octets); longer logins are an error in the file.
pub const LOGIN_MAX: usize = 255;

/// Login ids: 0 is none; the file's logins count from 1; a RADIUS binding's
/// and a worker's recent binding's carry these bits.
const NO_LOGIN: u32 = 0;
const RADIUS_ID: u32 = 1 << 31;
const RECENT_ID: u32 = 1 << 30;
const INDEX: u32 = RECENT_ID - 1;

/// A flow's login: the view it was looked up in (the map's generation and
/// the worker's recent bindings' version) and the login's id (0: none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlowLogin {
    /// [`Logins::view`] when it was looked up (0: never).
    view: u64,
    id: u32,
}

/// An address prefix, its host bits zero.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

impl Prefix {
    /// `addr/len` with the host bits cleared (`len` capped at the family's width).
    pub fn new(addr: IpAddr, len: u8) -> Prefix {
        match addr {
            IpAddr::V4(a) => {
                let len = len.min(32);
                Prefix {
                    addr: IpAddr::V4(mask4(a.to_bits(), len).into()),
                    len,
                }
            }
            IpAddr::V6(a) => {
                let len = len.min(128);
                Prefix {
                    addr: IpAddr::V6(mask6(a.to_bits(), len).into()),
                    len,
                }
            }
        }
    }

    /// `addr` is in the prefix (an IPv4-mapped IPv6 address as its IPv4 one).
    pub fn contains(&self, addr: IpAddr) -> bool {
        match (self.addr, unmapped(addr)) {
            (IpAddr::V4(p), IpAddr::V4(a)) => mask4(a.to_bits(), self.len) == p.to_bits(),
            (IpAddr::V6(p), IpAddr::V6(a)) => mask6(a.to_bits(), self.len) == p.to_bits(),
            _ => false,
        }
    }
}

impl std::fmt::Display for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

fn unmapped(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// Prefixes of one length, sorted by their (masked) address, with the login index.
#[derive(Debug, Default)]
struct Level<A> {
    len: u8,
    entries: Vec<(A, u32)>,
}

/// The prefixes of one source and their interned logins (index 0: empty).
#[derive(Debug)]
struct Prefixes {
    logins: Vec<Arc<[u8]>>,
    /// Longest prefix first.
    v4: Vec<Level<u32>>,
    v6: Vec<Level<u128>>,
}

impl Default for Prefixes {
    fn default() -> Self {
        Prefixes {
            logins: vec![Arc::from(&[][..])],
            v4: Vec::new(),
            v6: Vec::new(),
        }
    }
}

impl Prefixes {
    /// From `(prefix, login index)` pairs, each prefix once.
    fn build(logins: Vec<Arc<[u8]>>, entries: impl IntoIterator<Item = (Prefix, u32)>) -> Self {
        let mut v4: Vec<((u8, u32), u32)> = Vec::new();
        let mut v6: Vec<((u8, u128), u32)> = Vec::new();
        for (p, id) in entries {
            match p.addr {
                IpAddr::V4(a) => v4.push(((p.len, a.to_bits()), id)),
                IpAddr::V6(a) => v6.push(((p.len, a.to_bits()), id)),
            }
        }
        Prefixes {
            logins,
            v4: levels(v4),
            v6: levels(v6),
        }
    }

    fn len(&self) -> usize {
        let v4: usize = self.v4.iter().map(|l| l.entries.len()).sum();
        let v6: usize = self.v6.iter().map(|l| l.entries.len()).sum();
        v4 + v6
    }

    /// The login index of the longest prefix holding `addr`, `except` one (0: none).
    fn find(&self, addr: IpAddr, except: Option<Prefix>) -> u32 {
        let skip = |len: u8| except.filter(|e| e.len == len);
        match unmapped(addr) {
            IpAddr::V4(a) => find(&self.v4, a.to_bits(), mask4, |len| {
                skip(len).and_then(|e| match e.addr {
                    IpAddr::V4(p) => Some(p.to_bits()),
                    IpAddr::V6(_) => None,
                })
            }),
            IpAddr::V6(a) => find(&self.v6, a.to_bits(), mask6, |len| {
                skip(len).and_then(|e| match e.addr {
                    IpAddr::V6(p) => Some(p.to_bits()),
                    IpAddr::V4(_) => None,
                })
            }),
        }
    }

    fn login(&self, index: u32) -> &[u8] {
        self.logins
            .get(index as usize)
            .map_or(&[][..], |l| l.as_ref())
    }

    /// The login index of exactly `p`.
    fn exact(&self, p: Prefix) -> Option<u32> {
        fn at<A: Ord + Copy>(levels: &[Level<A>], len: u8, key: A) -> Option<u32> {
            let level = levels.iter().find(|l| l.len == len)?;
            let i = level.entries.binary_search_by(|e| e.0.cmp(&key)).ok()?;
            level.entries.get(i).map(|e| e.1)
        }
        match p.addr {
            IpAddr::V4(a) => at(&self.v4, p.len, a.to_bits()),
            IpAddr::V6(a) => at(&self.v6, p.len, a.to_bits()),
        }
    }
}

/// An immutable subscriber map (rebuilt on every change; the file's part is
/// shared between the maps of one file).
#[derive(Debug)]
pub struct SubscriberMap {
    /// Distinct from every other map's (flows looked up in another map look again).
    generation: u32,
    file: Arc<Prefixes>,
    radius: Prefixes,
    /// By worker: the sequence number of its last RADIUS event this map holds.
    applied: Box<[u64]>,
}

impl Table for SubscriberMap {
    const NAME: &'static str = "subscribers";
    const ALERT: &'static str = "SUBSCRIBERS";
    const KIND: &'static str = "map";
    const KEY: &'static str = "subscribers_file";
    const ENTRIES: &'static str = "prefixes";

    fn empty(generation: u32) -> Self {
        SubscriberMap::empty(generation)
    }

    fn parse(text: &str, generation: u32) -> Result<Self, LineError> {
        SubscriberMap::parse(text, generation)
    }

    fn entries(&self) -> usize {
        self.len()
    }
}

impl SubscriberMap {
    /// A map with no entries (every lookup finds no login).
    pub fn empty(generation: u32) -> SubscriberMap {
        SubscriberMap {
            generation: generation.max(1),
            file: Arc::default(),
            radius: Prefixes::default(),
            applied: Box::default(),
        }
    }

    /// The map of a file's text. `generation` must differ from the previous
    /// map's (0 is reserved for "not looked up").
    pub fn parse(text: &str, generation: u32) -> Result<SubscriberMap, LineError> {
        let mut logins: Vec<Arc<[u8]>> = vec![Arc::from(&[][..])];
        let mut interned: HashMap<&str, u32> = HashMap::new();
        let mut entries: HashMap<Prefix, u32> = HashMap::new();
        for (n, raw) in text.lines().enumerate() {
            let err = |reason| LineError {
                line: n + 1,
                reason,
            };
            let line = raw.split_once('#').map_or(raw, |(l, _)| l);
            let mut words = line.split_whitespace();
            let Some(prefix) = words.next() else {
                continue;
            };
            let login = words.next().ok_or(err("a prefix without a login"))?;
            if words.next().is_some() {
                return Err(err("more than two fields (PREFIX LOGIN)"));
            }
            if login.len() > LOGIN_MAX {
                return Err(err("login longer than 255 octets"));
            }
            let prefix = parse_prefix(prefix).map_err(err)?;
            let next = u32::try_from(logins.len())
                .ok()
                .filter(|&n| n <= INDEX)
                .ok_or(err("too many logins"))?;
            let id = *interned.entry(login).or_insert_with(|| {
                logins.push(Arc::from(login.as_bytes()));
                next
            });
            if entries.insert(prefix, id).is_some() {
                return Err(err("the same prefix twice"));
            }
        }
        Ok(SubscriberMap {
            file: Arc::new(Prefixes::build(logins, entries)),
            ..SubscriberMap::empty(generation)
        })
    }

    /// This map's file part with `radius`'s bindings (they win over the file),
    /// as a new map of `generation`.
    pub fn with_radius(&self, radius: &Bindings, generation: u32) -> SubscriberMap {
        SubscriberMap {
            generation: generation.max(1),
            file: Arc::clone(&self.file),
            radius: radius.prefixes(),
            applied: radius.applied().into(),
        }
    }

    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// Prefixes from the file.
    pub fn len(&self) -> usize {
        self.file.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bindings from RADIUS.
    pub fn radius_len(&self) -> usize {
        self.radius.len()
    }

    /// The sequence number of `worker`'s last RADIUS event this map holds.
    pub fn applied(&self, worker: u8) -> u64 {
        self.applied.get(usize::from(worker)).copied().unwrap_or(0)
    }

    /// The login of `addr`: its RADIUS binding, else the file's longest prefix (empty: none).
    pub fn lookup(&self, addr: IpAddr) -> &[u8] {
        self.login(self.find(addr, None))
    }

    /// The id of `addr`'s login, not counting the RADIUS binding of `except`.
    fn find(&self, addr: IpAddr, except: Option<Prefix>) -> u32 {
        match self.radius.find(addr, except) {
            0 => self.file.find(addr, None),
            i => RADIUS_ID | i,
        }
    }

    #[inline]
    fn login(&self, id: u32) -> &[u8] {
        if id & RADIUS_ID != 0 {
            self.radius.login(id & INDEX)
        } else {
            self.file.login(id & INDEX)
        }
    }
}

/// A worker's view of the logins: the published map and the RADIUS bindings
/// the worker read that the map may not hold yet.
#[derive(Debug)]
pub struct Logins {
    map: Arc<SubscriberMap>,
    recent: Recent,
    /// The map's generation (high half, never 0) and the recent bindings'
    /// version: one compare tells a flow whether its login is of this view.
    view: u64,
}

/// Whether a look-up found a login (for the counters).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lookup {
    /// The flow's slot was of this view: nothing looked up.
    Kept,
    Found,
    NotFound,
}

impl Logins {
    pub fn new(map: Arc<SubscriberMap>, worker: u8) -> Logins {
        let recent = Recent::new(worker);
        let view = view_of(&map, &recent);
        Logins { map, recent, view }
    }

    /// The published map this view reads.
    pub fn map(&self) -> &Arc<SubscriberMap> {
        &self.map
    }

    /// Takes a newly published map; the recent bindings it holds are dropped.
    pub fn take_map(&mut self, map: Arc<SubscriberMap>) {
        self.recent
            .forget_through(map.applied(self.recent.worker()));
        self.map = map;
        self.view = view_of(&self.map, &self.recent);
    }

    /// The flow's login: looked up again (at `addr()`, the subscriber's
    /// address) only when `slot` was filled in another view.
    #[inline]
    pub fn refresh(&self, slot: &mut FlowLogin, addr: impl FnOnce() -> IpAddr) -> (&[u8], Lookup) {
        if slot.view == self.view {
            return (self.login(slot.id), Lookup::Kept);
        }
        self.look_up_into(slot, addr())
    }

    /// The login of a flow's `slot`, looked up (without keeping it) when the
    /// slot is from another view.
    pub fn login_of(&self, slot: FlowLogin, addr: impl FnOnce() -> IpAddr) -> &[u8] {
        if slot.view == self.view {
            return self.login(slot.id);
        }
        self.login(self.look_up(addr()).id)
    }

    /// A flow's first look-up in this view.
    #[inline(never)]
    fn look_up_into(&self, slot: &mut FlowLogin, addr: IpAddr) -> (&[u8], Lookup) {
        *slot = self.look_up(addr);
        let found = if slot.id == NO_LOGIN {
            Lookup::NotFound
        } else {
            Lookup::Found
        };
        (self.login(slot.id), found)
    }

    fn look_up(&self, addr: IpAddr) -> FlowLogin {
        let id = match self.recent.find(addr) {
            None => self.map.find(addr, None),
            Some(hit) if hit.bound => RECENT_ID | hit.index,
            // Unbound since the map was made: what the map says without that binding.
            Some(hit) => self.map.find(addr, Some(hit.prefix)),
        };
        FlowLogin {
            view: self.view,
            id,
        }
    }

    /// Reads a RADIUS change for this worker: used at once where it is news
    /// to this view; the event goes to the main lcore either way (an
    /// Interim-Update that repeats a binding refreshes its age there).
    pub fn note(&mut self, change: Change) -> RadiusEvent {
        let mut news = [false; MAX_PREFIXES];
        for (new, p) in news.iter_mut().zip(&change.prefixes) {
            let Some(p) = p else { continue };
            let seen: Option<&[u8]> = match self.recent.exact(*p) {
                Some(login) => login,
                None => self.map.radius.exact(*p).map(|i| self.map.radius.login(i)),
            };
            *new = seen != change.login.as_ref().map(Login::as_bytes);
        }
        let event = self.recent.record(change, news);
        self.view = view_of(&self.map, &self.recent);
        event
    }

    #[inline]
    fn login(&self, id: u32) -> &[u8] {
        if id == NO_LOGIN {
            &[]
        } else if id & RECENT_ID != 0 {
            self.recent.login(id & INDEX)
        } else {
            self.map.login(id)
        }
    }
}

fn view_of(map: &SubscriberMap, recent: &Recent) -> u64 {
    u64::from(map.generation) << 32 | u64::from(recent.version())
}

fn find<A: Ord + Copy>(
    levels: &[Level<A>],
    addr: A,
    mask: fn(A, u8) -> A,
    except: impl Fn(u8) -> Option<A>,
) -> u32 {
    for level in levels {
        let key = mask(addr, level.len);
        if except(level.len) == Some(key) {
            continue;
        }
        if let Ok(i) = level.entries.binary_search_by(|e| e.0.cmp(&key))
            && let Some(e) = level.entries.get(i)
        {
            return e.1;
        }
    }
    0
}

fn levels<A: Ord + Copy>(mut all: Vec<((u8, A), u32)>) -> Vec<Level<A>> {
    let mut levels: Vec<Level<A>> = Vec::new();
    // Longest prefix first, then by address.
    all.sort_by(|a, b| b.0.0.cmp(&a.0.0).then(a.0.1.cmp(&b.0.1)));
    for ((len, addr), id) in all {
        match levels.last_mut() {
            Some(l) if l.len == len => l.entries.push((addr, id)),
            _ => levels.push(Level {
                len,
                entries: vec![(addr, id)],
            }),
        }
    }
    levels
}

fn mask4(a: u32, len: u8) -> u32 {
    a & u32::MAX
        .checked_shl(32 - u32::from(len.min(32)))
        .unwrap_or(0)
}

fn mask6(a: u128, len: u8) -> u128 {
    a & u128::MAX
        .checked_shl(128 - u32::from(len.min(128)))
        .unwrap_or(0)
}

/// `ADDR` or `ADDR/LEN`.
fn parse_prefix(s: &str) -> Result<Prefix, &'static str> {
    let (addr, len) = match s.split_once('/') {
        Some((a, l)) => (a, Some(l)),
        None => (s, None),
    };
    let addr: IpAddr = addr
        .parse()
        .map_err(|_| "not an IPv4 or IPv6 address or prefix")?;
    let max = if addr.is_ipv4() { 32 } else { 128 };
    let len = match len {
        None => max,
        Some(l) => l
            .parse::<u8>()
            .ok()
            .filter(|&l| l <= max)
            .ok_or("prefix length out of range")?,
    };
    Ok(Prefix::new(addr, len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const MAP: &str = "\
# the office, and one of its hosts
10.0.0.0/8      office
10.1.0.0/16     branch   # a comment after a mapping
10.1.2.3        alice

2001:db8::/32   isp6
2001:db8:1::/48 bob
2001:db8:1:2::/64 carol
";

    #[test]
    fn the_longest_prefix_wins_v4_and_v6() {
        let m = SubscriberMap::parse(MAP, 1).unwrap();
        assert_eq!(m.len(), 6);
        assert_eq!(m.lookup(ip("10.1.2.3")), b"alice");
        assert_eq!(m.lookup(ip("10.1.2.4")), b"branch");
        assert_eq!(m.lookup(ip("10.9.9.9")), b"office");
        assert_eq!(m.lookup(ip("11.0.0.1")), b"");
        assert_eq!(m.lookup(ip("2001:db8:1:2::99")), b"carol");
        assert_eq!(m.lookup(ip("2001:db8:1:3::1")), b"bob");
        assert_eq!(m.lookup(ip("2001:db8:ffff::1")), b"isp6");
        assert_eq!(m.lookup(ip("2001:db9::1")), b"");
        assert_eq!(m.lookup(ip("::ffff:10.1.2.3")), b"alice");
    }

    #[test]
    fn logins_are_interned() {
        let m = SubscriberMap::parse("10.0.0.1 a\n10.0.0.2 a\n10.0.0.3 b\n", 1).unwrap();
        assert_eq!(m.file.logins.len(), 3, "empty, a, b");
    }

    #[test]
    fn a_flow_looks_up_again_only_in_another_generation() {
        let old = SubscriberMap::parse("10.0.0.0/8 old", 1).unwrap();
        let new = SubscriberMap::parse("10.0.0.0/8 new", 2).unwrap();
        let mut logins = Logins::new(Arc::new(old), 0);
        let mut slot = FlowLogin::default();
        assert_eq!(
            logins.refresh(&mut slot, || ip("10.0.0.1")),
            (&b"old"[..], Lookup::Found)
        );
        // The same generation does not look up: the address is not read again.
        assert_eq!(
            logins.refresh(&mut slot, || ip("192.0.2.1")),
            (&b"old"[..], Lookup::Kept)
        );
        logins.take_map(Arc::new(new));
        assert_eq!(logins.refresh(&mut slot, || ip("10.0.0.1")).0, b"new");
        assert_eq!(
            logins.refresh(&mut FlowLogin::default(), || ip("192.0.2.1")),
            (&b""[..], Lookup::NotFound)
        );
    }

    #[test]
    fn bad_lines_name_their_number_and_reason() {
        let cases = [
            ("10.0.0.1\n", 1, "a prefix without a login"),
            (
                "# ok\n10.0.0.1 a b\n",
                2,
                "more than two fields (PREFIX LOGIN)",
            ),
            (
                "\n\nnot-an-ip a\n",
                3,
                "not an IPv4 or IPv6 address or prefix",
            ),
            ("10.0.0.0/33 a\n", 1, "prefix length out of range"),
            ("::/129 a\n", 1, "prefix length out of range"),
            ("10.0.0.0/8 a\n10.0.0.0/8 b\n", 2, "the same prefix twice"),
        ];
        for (text, line, reason) in cases {
            assert_eq!(
                SubscriberMap::parse(text, 1).unwrap_err(),
                LineError { line, reason },
                "{text:?}"
            );
        }
        let long = format!("10.0.0.1 {}", "x".repeat(LOGIN_MAX + 1));
        assert_eq!(
            SubscriberMap::parse(&long, 1).unwrap_err().reason,
            "login longer than 255 octets"
        );
    }

    #[test]
    fn host_bits_of_a_prefix_are_ignored() {
        let m = SubscriberMap::parse("10.0.0.77/24 net\n::1/0 any6\n0.0.0.0/0 any", 1).unwrap();
        assert_eq!(m.lookup(ip("10.0.0.1")), b"net");
        assert_eq!(m.lookup(ip("192.0.2.1")), b"any");
        assert_eq!(m.lookup(ip("fe80::1")), b"any6");
    }

    fn change(prefixes: &[&str], login: Option<&str>) -> Change {
        let mut c = Change {
            prefixes: [None; MAX_PREFIXES],
            login: login.map(|l| Login::new(l.as_bytes())),
        };
        for (slot, p) in c.prefixes.iter_mut().zip(prefixes) {
            *slot = Some(parse_prefix(p).unwrap());
        }
        c
    }

    #[test]
    fn a_radius_binding_wins_over_the_file_and_a_stop_gives_the_file_back() {
        let file = SubscriberMap::parse("10.0.0.0/8 office\n", 1).unwrap();
        let mut table = Bindings::new(10);
        assert!(table.apply(&change(&["10.0.0.3", "2001:db8:1::/48"], Some("alice"))));
        let map = file.with_radius(&table, 2);
        assert_eq!(map.lookup(ip("10.0.0.3")), b"alice");
        assert_eq!(map.lookup(ip("10.0.0.4")), b"office");
        assert_eq!(map.lookup(ip("2001:db8:1:5::1")), b"alice");
        assert_eq!(map.radius_len(), 2);
        assert!(
            !table.apply(&change(&["10.0.0.3"], Some("alice"))),
            "a refresh"
        );
        assert!(table.apply(&change(&["10.0.0.3"], None)));
        let map = map.with_radius(&table, 3);
        assert_eq!(map.lookup(ip("10.0.0.3")), b"office");
        assert_eq!(
            table.stats(),
            BindingsStats {
                bindings: 1,
                bound: 2,
                unbound: 1,
                evicted: 0
            }
        );
    }

    #[test]
    fn a_full_table_evicts_the_least_recently_refreshed() {
        let mut t = Bindings::new(2);
        t.apply(&change(&["10.0.0.1"], Some("a")));
        t.apply(&change(&["10.0.0.2"], Some("b")));
        t.apply(&change(&["10.0.0.1"], Some("a"))); // refreshed: b is now the oldest
        t.apply(&change(&["10.0.0.3"], Some("c")));
        let map = SubscriberMap::empty(1).with_radius(&t, 2);
        assert_eq!(map.lookup(ip("10.0.0.1")), b"a");
        assert_eq!(map.lookup(ip("10.0.0.2")), b"");
        assert_eq!(map.lookup(ip("10.0.0.3")), b"c");
        assert_eq!(t.stats().evicted, 1);
        assert_eq!(t.stats().bindings, 2);
    }

    #[test]
    fn the_worker_that_reads_a_change_uses_it_before_the_map_holds_it() {
        let file = Arc::new(SubscriberMap::parse("10.0.0.0/8 office\n", 1).unwrap());
        let mut logins = Logins::new(Arc::clone(&file), 3);
        let mut slot = FlowLogin::default();
        let addr = ip("10.0.0.3");
        assert_eq!(logins.refresh(&mut slot, || addr).0, b"office");
        let start = logins.note(change(&["10.0.0.3"], Some("alice")));
        assert_eq!((start.worker, start.seq), (3, 1));
        assert_eq!(
            logins.refresh(&mut slot, || addr),
            (&b"alice"[..], Lookup::Found)
        );
        assert_eq!(
            logins.refresh(&mut slot, || addr),
            (&b"alice"[..], Lookup::Kept)
        );

        // The main lcore applies the event and publishes: the recent entry goes,
        // the map says the same.
        let mut table = Bindings::new(10);
        table.apply_event(&start);
        logins.take_map(Arc::new(file.with_radius(&table, 2)));
        assert!(logins.recent.is_empty());
        assert_eq!(logins.refresh(&mut slot, || addr).0, b"alice");

        // An Interim-Update that repeats it is no news: the view does not change.
        let version = logins.recent.version();
        let interim = logins.note(change(&["10.0.0.3"], Some("alice")));
        assert_eq!(interim.seq, 2);
        assert_eq!(logins.recent.version(), version);
        assert_eq!(
            logins.refresh(&mut slot, || addr),
            (&b"alice"[..], Lookup::Kept)
        );

        // A Stop: at once the file's login again, though the map still has the binding.
        logins.note(change(&["10.0.0.3"], None));
        assert_eq!(logins.refresh(&mut slot, || addr).0, b"office");
        assert_eq!(logins.map.lookup(addr), b"alice");
    }

    #[test]
    fn recent_bindings_stay_bounded() {
        let mut logins = Logins::new(Arc::new(SubscriberMap::empty(1)), 0);
        for i in 0..1000u32 {
            let a = std::net::Ipv4Addr::from(0x0a00_0000 + i).to_string();
            logins.note(change(&[&a], Some(&format!("u{i}"))));
        }
        // The last RECENT_MAX are kept; older ones wait for the map.
        assert_eq!(
            logins
                .refresh(&mut FlowLogin::default(), || ip("10.0.3.231"))
                .0,
            b"u999"
        );
        assert_eq!(
            logins
                .refresh(&mut FlowLogin::default(), || ip("10.0.0.1"))
                .0,
            b""
        );
    }
}
