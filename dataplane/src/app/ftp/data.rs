//! The FTP data connections a worker expects: the endpoints that PORT, EPRT,
//! PASV and EPSV replies announced, each bound to the control connection
//! that announced it, until its connection shows its first payload or the
//! announcement is too old.
//!
//! A fixed table per worker, set-associative by the listening port (a bucket
//! of [`WAYS`] entries; a lookup reads two buckets, one per end of the new
//! flow). Nothing grows: a full bucket gives the place of its oldest entry
//! to the new one (counted by the caller).
//!
//! Which connection is the announced one: the listening end is the announced
//! port on the announced address *or* on the address the control connection
//! shows for that side (a server behind NAT announces its private address; a
//! client connects to the public one, which is what the probe sees), and the
//! other end is the control connection's other host.

use core::net::IpAddr;

/// Entries of one bucket.
pub const WAYS: usize = 4;

/// Seconds an announced data connection is awaited (vsftpd's and ProFTPD's
/// default accept timeout for a passive connection is 60 s).
pub const EXPECT_SECS: u32 = 60;

/// One announced data connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The addresses the listening end may have: announced, and as seen on
    /// the control connection (equal when nothing translates them).
    pub listener: [IpAddr; 2],
    pub port: u16,
    /// The host that connects: the control connection's other end.
    pub peer: IpAddr,
    pub bridge: u16,
    /// SESSION_ID of the control connection.
    pub control: u64,
    /// Unix second after which the announcement has lapsed.
    pub until: u32,
}

impl Expected {
    fn same_endpoint(&self, other: &Expected) -> bool {
        self.bridge == other.bridge
            && self.port == other.port
            && self.peer == other.peer
            && self.listener == other.listener
    }

    fn listens_on(&self, bridge: u16, (addr, port): (IpAddr, u16), peer: IpAddr) -> bool {
        self.bridge == bridge
            && self.port == port
            && self.peer == peer
            && self.listener.contains(&addr)
    }
}

/// The table of a worker.
pub struct Expectations {
    slots: Box<[Option<Expected>]>,
    mask: usize,
    /// Slots holding an entry (lapsed ones too): 0 makes a lookup free.
    held: usize,
}

impl Expectations {
    /// A table of at least `capacity` entries (a power of two of buckets).
    pub fn new(capacity: u32) -> Expectations {
        let buckets = (capacity as usize)
            .div_ceil(WAYS)
            .max(1)
            .next_power_of_two();
        Expectations {
            slots: vec![None; buckets * WAYS].into_boxed_slice(),
            mask: buckets - 1,
            held: 0,
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.slots)
    }

    /// Entries held (lapsed ones until their place is taken).
    pub fn len(&self) -> usize {
        self.held
    }

    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    fn bucket_mut(&mut self, port: u16) -> &mut [Option<Expected>] {
        // Fibonacci hashing of the port: neighbouring ports spread out.
        let b = ((u32::from(port).wrapping_mul(0x9e37_79b1) >> 16) as usize) & self.mask;
        let start = b * WAYS;
        self.slots.get_mut(start..start + WAYS).unwrap_or_default()
    }

    /// Awaits `e`: in a free or lapsed place of its bucket, else in the
    /// place of the entry that lapses first. True when that entry was still
    /// awaited (the table is full there).
    pub fn insert(&mut self, e: Expected, now: u32) -> bool {
        let bucket = self.bucket_mut(e.port);
        // The same endpoint announced again to the same peer (a repeated
        // PASV, or a later control connection given the port again): one
        // socket listens there, so the newer announcement replaces the other.
        let place = bucket
            .iter()
            .position(|s| s.is_some_and(|old| old.same_endpoint(&e)))
            .or_else(|| {
                bucket
                    .iter()
                    .position(|s| s.is_none_or(|old| old.until < now))
            })
            .map(|i| (i, false))
            .or_else(|| {
                let oldest = bucket
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, s)| s.map_or(0, |old| old.until))?;
                Some((oldest.0, true))
            });
        let Some((i, displaced)) = place else {
            return false;
        };
        let Some(slot) = bucket.get_mut(i) else {
            return false;
        };
        let was_empty = slot.is_none();
        *slot = Some(e);
        if was_empty {
            self.held += 1;
        }
        displaced
    }

    /// The control connection's SESSION_ID when a flow between `a` and `b`
    /// (address, port) on `bridge` is an announced data connection, either
    /// end listening; its entry leaves the table.
    pub fn take(
        &mut self,
        bridge: u16,
        a: (IpAddr, u16),
        b: (IpAddr, u16),
        now: u32,
    ) -> Option<u64> {
        if self.held == 0 {
            return None;
        }
        for (listener, peer) in [(a, b.0), (b, a.0)] {
            let bucket = self.bucket_mut(listener.1);
            let found = bucket.iter_mut().find(|s| {
                s.is_some_and(|e| e.until >= now && e.listens_on(bridge, listener, peer))
            });
            if let Some(e) = found.and_then(Option::take) {
                self.held -= 1;
                return Some(e.control);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::net::Ipv4Addr;

    const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10));
    const SERVER: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));
    const PRIVATE: IpAddr = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 7));

    fn passive(port: u16, control: u64, until: u32) -> Expected {
        Expected {
            listener: [PRIVATE, SERVER],
            port,
            peer: CLIENT,
            bridge: 0,
            control,
            until,
        }
    }

    #[test]
    fn an_announced_connection_is_found_once_from_either_end() {
        let mut t = Expectations::new(16);
        assert!(!t.insert(passive(30000, 7, 100), 10));
        assert_eq!(t.len(), 1);
        // Another client, another bridge, another port: not it.
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
        assert_eq!(t.take(0, (other, 5000), (SERVER, 30000), 20), None);
        assert_eq!(t.take(1, (CLIENT, 5000), (SERVER, 30000), 20), None);
        assert_eq!(t.take(0, (CLIENT, 5000), (SERVER, 30001), 20), None);
        // The server's end first or the client's: found, then gone.
        assert_eq!(t.take(0, (SERVER, 30000), (CLIENT, 5000), 20), Some(7));
        assert_eq!(t.take(0, (CLIENT, 5000), (SERVER, 30000), 20), None);
        assert!(t.is_empty());
        // The announced (private) address is the listener too.
        t.insert(passive(30000, 8, 100), 10);
        assert_eq!(t.take(0, (CLIENT, 5001), (PRIVATE, 30000), 20), Some(8));
    }

    #[test]
    fn announcements_lapse() {
        let mut t = Expectations::new(16);
        t.insert(passive(30000, 7, 100), 10);
        assert_eq!(t.take(0, (CLIENT, 5000), (SERVER, 30000), 101), None);
        // A lapsed entry's place is free for the next one.
        assert!(!t.insert(passive(30000, 9, 200), 150));
        assert_eq!(t.len(), 1);
        assert_eq!(t.take(0, (CLIENT, 5000), (SERVER, 30000), 150), Some(9));
    }

    #[test]
    fn a_full_bucket_gives_up_its_oldest_entry() {
        let mut t = Expectations::new(WAYS as u32);
        for i in 0..WAYS as u16 {
            assert!(!t.insert(passive(30000 + i, u64::from(i), 100 + u32::from(i)), 10));
        }
        // One bucket only: the next announcement displaces the oldest (port 30000).
        assert!(t.insert(passive(31000, 99, 200), 10));
        assert_eq!(t.len(), WAYS);
        assert_eq!(t.take(0, (CLIENT, 1), (SERVER, 30000), 20), None);
        assert_eq!(t.take(0, (CLIENT, 1), (SERVER, 31000), 20), Some(99));
        assert_eq!(t.take(0, (CLIENT, 1), (SERVER, 30001), 20), Some(1));
        // The same announcement twice takes one place.
        t.insert(passive(32000, 5, 300), 20);
        t.insert(passive(32000, 5, 400), 30);
        assert_eq!(t.len(), WAYS - 1);
    }

    #[test]
    fn a_later_control_connection_given_the_same_port_replaces_the_first() {
        // One bucket: were each announcement kept, the fifth would displace one.
        let mut t = Expectations::new(WAYS as u32);
        for control in 0..2 * WAYS as u64 {
            assert!(!t.insert(passive(30000, control, 100), 10));
        }
        assert_eq!(t.len(), 1);
        assert_eq!(
            t.take(0, (CLIENT, 1), (SERVER, 30000), 20),
            Some(2 * WAYS as u64 - 1)
        );
        // Another peer given the same port is another announcement.
        let other = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 11));
        t.insert(passive(30000, 1, 100), 10);
        t.insert(
            Expected {
                peer: other,
                ..passive(30000, 2, 100)
            },
            10,
        );
        assert_eq!(t.len(), 2);
    }
}
