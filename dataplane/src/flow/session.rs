//! Session ids unique across workers and across restarts.
//!
//! ```text
//!  63        56 55                                                  0
//! +------------+-----------------------------------------------------+
//! | worker id  |  sequence: run start in 100 ns since 1970 + counter  |
//! +------------+-----------------------------------------------------+
//! ```
//!
//! Two workers never share the top byte. Two runs of one worker: the later run starts
//! its sequence at its start time, so it can only meet the earlier run's ids if the
//! earlier run created, on average over its whole life, more than one flow per 100 ns
//! (10 million per second) on that worker — beyond what a worker can process — or if
//! the wall clock went back between the runs. 56 bits of 100 ns last until 2198.

/// A flow's session id (`SESSION_ID` in the records).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The session id generator of one worker.
#[derive(Clone, Debug)]
pub struct SessionIds {
    worker: u8,
    next: u64,
}

const SEQ_BITS: u32 = 56;
const SEQ_MASK: u64 = (1 << SEQ_BITS) - 1;

impl SessionIds {
    /// A generator for `worker`, for a run that started `start_unix_100ns` after the
    /// Unix epoch (see [`SessionIds::start_now`]).
    pub const fn new(worker: u8, start_unix_100ns: u64) -> Self {
        Self {
            worker,
            next: start_unix_100ns & SEQ_MASK,
        }
    }

    /// The run start for [`SessionIds::new`], from the system clock (0 if the clock is
    /// before 1970).
    pub fn start_now() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos() / 100).unwrap_or(u64::MAX))
            .unwrap_or(0)
    }

    #[inline]
    pub fn next_id(&mut self) -> SessionId {
        let seq = self.next;
        self.next = (self.next + 1) & SEQ_MASK;
        SessionId(u64::from(self.worker) << SEQ_BITS | seq)
    }

    pub const fn worker(&self) -> u8 {
        self.worker
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_differ_across_workers_and_runs() {
        let start = 17_000_000_000_000_000; // 2023-11 in 100 ns units
        let mut w0 = SessionIds::new(0, start);
        let mut w1 = SessionIds::new(1, start);
        let a = w0.next_id();
        let b = w1.next_id();
        assert_ne!(a, b);
        assert_eq!(a.0 >> 56, 0);
        assert_eq!(b.0 >> 56, 1);
        assert_eq!(w0.next_id().0, a.0 + 1);
        // A restart one second later: 10^7 ids later than the first run's start.
        let mut again = SessionIds::new(0, start + 10_000_000);
        let c = again.next_id();
        assert!(c.0 > a.0 + 1_000_000);
        assert_eq!(again.worker(), 0);
    }

    #[test]
    fn start_now_is_after_2024() {
        assert!(SessionIds::start_now() > 17_040_000_000_000_000);
    }
}
