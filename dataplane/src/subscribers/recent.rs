//! The RADIUS bindings a worker read and the map may not hold yet: used at once
//! by that worker's look-ups, forgotten when a published map holds them.
//!
//! The main lcore applies the same changes (sent as [`RadiusEvent`]s) to its
//! [`super::Bindings`] and publishes a map that says which event of each worker
//! it holds; until then the worker's own reading wins. Fixed memory: a ring of
//! [`RECENT_MAX`] entries (an overwritten one is still on its way to the main
//! lcore, so it is only late, not lost).

use std::net::IpAddr;

use super::Prefix;
use super::radius::{MAX_PREFIXES, Request, Status, USER_NAME_MAX};

/// Recent bindings a worker keeps.
pub const RECENT_MAX: usize = 64;

/// A User-Name as an event carries it: inline, no allocation.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Login {
    len: u8,
    bytes: [u8; USER_NAME_MAX],
}

impl Login {
    /// `name`, cut to [`USER_NAME_MAX`] octets (an attribute cannot hold more).
    pub fn new(name: &[u8]) -> Login {
        let mut bytes = [0; USER_NAME_MAX];
        let n = name.len().min(USER_NAME_MAX);
        if let (Some(to), Some(from)) = (bytes.get_mut(..n), name.get(..n)) {
            to.copy_from_slice(from);
        }
        Login {
            len: u8::try_from(n).unwrap_or(u8::MAX),
            bytes,
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

/// What one accounting request changes: its addresses bound to a login, or
/// unbound (`login` None).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Change {
    pub prefixes: [Option<Prefix>; MAX_PREFIXES],
    pub login: Option<Login>,
}

impl Change {
    /// Start and Interim-Update with a User-Name bind, Stop unbinds; `None`
    /// for a request that names no address (or binds without a name).
    pub fn of(req: &Request<'_>) -> Option<Change> {
        req.prefixes().next()?;
        let login = match req.status {
            Status::Start | Status::InterimUpdate if !req.user_name.is_empty() => {
                Some(Login::new(req.user_name))
            }
            Status::Stop => None,
            _ => return None,
        };
        Some(Change {
            prefixes: req.prefixes,
            login,
        })
    }

    pub fn prefixes(&self) -> impl Iterator<Item = Prefix> + '_ {
        self.prefixes.iter().flatten().copied()
    }
}

/// A change a worker read, for the main lcore: `seq` counts the worker's events.
#[derive(Clone, Copy, Debug)]
pub struct RadiusEvent {
    pub worker: u8,
    pub seq: u64,
    pub change: Change,
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    seq: u64,
    prefix: Prefix,
    login: Option<Login>,
}

/// A look-up's match among the recent bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub index: u32,
    pub prefix: Prefix,
    /// Bound (else: unbound since the map was made).
    pub bound: bool,
}

/// One worker's recent bindings.
#[derive(Debug)]
pub struct Recent {
    worker: u8,
    next_seq: u64,
    /// Changes whenever an entry comes or goes (flows' slots of an older version look up again).
    version: u32,
    entries: Box<[Option<Entry>; RECENT_MAX]>,
    /// Where the next entry goes.
    next: usize,
    live: usize,
}

impl Recent {
    pub fn new(worker: u8) -> Recent {
        Recent {
            worker,
            next_seq: 1,
            version: 0,
            entries: Box::new([None; RECENT_MAX]),
            next: 0,
            live: 0,
        }
    }

    pub fn worker(&self) -> u8 {
        self.worker
    }

    #[inline]
    pub fn version(&self) -> u32 {
        self.version
    }

    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// Keeps the prefixes of `change` that `news` marks (a binding the view
    /// does not have yet; by position) and returns the event for the main lcore.
    pub fn record(&mut self, change: Change, news: [bool; MAX_PREFIXES]) -> RadiusEvent {
        let seq = self.next_seq;
        self.next_seq += 1;
        for (prefix, new) in change.prefixes.iter().zip(news) {
            let Some(prefix) = *prefix else { continue };
            if !new {
                continue;
            }
            if let Some(slot) = self.entries.get_mut(self.next) {
                if slot.is_none() {
                    self.live += 1;
                }
                *slot = Some(Entry {
                    seq,
                    prefix,
                    login: change.login,
                });
            }
            self.next = (self.next + 1) % RECENT_MAX;
            self.version = self.version.wrapping_add(1);
        }
        RadiusEvent {
            worker: self.worker,
            seq,
            change,
        }
    }

    /// Drops the entries of events up to `seq` (a published map holds them).
    pub fn forget_through(&mut self, seq: u64) {
        let mut dropped = false;
        for slot in self.entries.iter_mut() {
            if slot.is_some_and(|e| e.seq <= seq) {
                *slot = None;
                self.live -= 1;
                dropped = true;
            }
        }
        if dropped {
            self.version = self.version.wrapping_add(1);
        }
    }

    /// The longest recent prefix holding `addr` (of two equal ones, the newer).
    #[inline]
    pub fn find(&self, addr: IpAddr) -> Option<Hit> {
        if self.live == 0 {
            return None;
        }
        let mut best: Option<(usize, &Entry)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            let Some(e) = e else { continue };
            if !e.prefix.contains(addr) {
                continue;
            }
            if best.is_none_or(|(_, b)| (e.prefix.len, e.seq) > (b.prefix.len, b.seq)) {
                best = Some((i, e));
            }
        }
        best.map(|(i, e)| Hit {
            index: u32::try_from(i).unwrap_or(u32::MAX),
            prefix: e.prefix,
            bound: e.login.is_some(),
        })
    }

    /// The newest recent entry of exactly `prefix`: Some(login) bound, Some(None) unbound.
    pub fn exact(&self, prefix: Prefix) -> Option<Option<&[u8]>> {
        self.entries
            .iter()
            .flatten()
            .filter(|e| e.prefix == prefix)
            .max_by_key(|e| e.seq)
            .map(|e| e.login.as_ref().map(Login::as_bytes))
    }

    pub fn login(&self, index: u32) -> &[u8] {
        self.entries
            .get(index as usize)
            .and_then(|e| e.as_ref())
            .and_then(|e| e.login.as_ref())
            .map_or(&[][..], Login::as_bytes)
    }
}
