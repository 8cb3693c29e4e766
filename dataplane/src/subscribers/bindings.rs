//! The RADIUS bindings on the main lcore: every change the workers read (or the
//! accounting listener received), bounded by `subscribers_max`; the least
//! recently refreshed binding is evicted, and counted, for a new one.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{Change, Prefix, Prefixes, RadiusEvent};

/// What the table did (for `final subscribers` and the metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct BindingsStats {
    /// Bindings now.
    pub bindings: u64,
    /// Addresses bound to a new login (a refresh with the same login is not one).
    pub bound: u64,
    /// Addresses unbound by a Stop.
    pub unbound: u64,
    /// Bindings evicted from a full table.
    pub evicted: u64,
}

#[derive(Debug)]
struct Binding {
    login: Arc<[u8]>,
    /// When it was last bound or refreshed (a counter: the age order).
    stamp: u64,
}

#[derive(Debug)]
pub struct Bindings {
    max: usize,
    by_prefix: HashMap<Prefix, Binding>,
    by_age: BTreeMap<u64, Prefix>,
    stamp: u64,
    /// By worker: its last event applied.
    applied: Vec<u64>,
    stats: BindingsStats,
}

impl Bindings {
    /// A table of at most `max` bindings (at least one).
    pub fn new(max: usize) -> Bindings {
        Bindings {
            max: max.max(1),
            by_prefix: HashMap::new(),
            by_age: BTreeMap::new(),
            stamp: 0,
            applied: Vec::new(),
            stats: BindingsStats::default(),
        }
    }

    pub fn stats(&self) -> BindingsStats {
        BindingsStats {
            bindings: self.by_prefix.len() as u64,
            ..self.stats
        }
    }

    /// By worker: the sequence number of its last event applied.
    pub fn applied(&self) -> &[u64] {
        &self.applied
    }

    /// Applies a worker's event; true when a login changed.
    pub fn apply_event(&mut self, e: &RadiusEvent) -> bool {
        let w = usize::from(e.worker);
        if self.applied.len() <= w {
            self.applied.resize(w + 1, 0);
        }
        if let Some(a) = self.applied.get_mut(w) {
            *a = (*a).max(e.seq);
        }
        self.apply(&e.change)
    }

    /// Applies a change; true when a login changed.
    pub fn apply(&mut self, change: &Change) -> bool {
        let mut changed = false;
        for p in change.prefixes() {
            changed |= match &change.login {
                Some(login) => self.bind(p, login.as_bytes()),
                None => self.unbind(p),
            };
        }
        changed
    }

    fn bind(&mut self, p: Prefix, login: &[u8]) -> bool {
        self.stamp += 1;
        let stamp = self.stamp;
        if let Some(b) = self.by_prefix.get_mut(&p) {
            self.by_age.remove(&b.stamp);
            self.by_age.insert(stamp, p);
            b.stamp = stamp;
            if b.login.as_ref() == login {
                return false;
            }
            b.login = Arc::from(login);
            self.stats.bound += 1;
            return true;
        }
        if self.by_prefix.len() >= self.max
            && let Some((_, oldest)) = self.by_age.pop_first()
        {
            self.by_prefix.remove(&oldest);
            self.stats.evicted += 1;
        }
        self.by_prefix.insert(
            p,
            Binding {
                login: Arc::from(login),
                stamp,
            },
        );
        self.by_age.insert(stamp, p);
        self.stats.bound += 1;
        true
    }

    fn unbind(&mut self, p: Prefix) -> bool {
        let Some(b) = self.by_prefix.remove(&p) else {
            return false;
        };
        self.by_age.remove(&b.stamp);
        self.stats.unbound += 1;
        true
    }

    /// The bindings as a map's prefixes, their logins interned.
    pub(super) fn prefixes(&self) -> Prefixes {
        let mut logins: Vec<Arc<[u8]>> = vec![Arc::from(&[][..])];
        let mut index: HashMap<&[u8], u32> = HashMap::new();
        let mut entries = Vec::with_capacity(self.by_prefix.len());
        for (p, b) in &self.by_prefix {
            let next = u32::try_from(logins.len()).unwrap_or(u32::MAX);
            let i = *index.entry(b.login.as_ref()).or_insert_with(|| {
                logins.push(Arc::clone(&b.login));
                next
            });
            entries.push((*p, i));
        }
        Prefixes::build(logins, entries)
    }
}
