//! What the exporter's tests share beyond `metaprobe-test-support`: a clock the test sets.
//! (It lives here, not there, because it implements this crate's `Clock`: the support
//! crate depends on no crate of ours.)
#![allow(dead_code)]

use std::cell::Cell;

use metaprobe_export::exporter::Clock;

/// 2023-11-14 22:13:20 UTC in Unix µs: where a test clock starts.
pub const T0: u64 = 1_700_000_000_000_000;

/// A clock the test sets; each read then advances it by `step` µs (0 unless the test
/// sets it).
pub struct TestClock {
    now: Cell<u64>,
    pub step: Cell<u64>,
}

impl TestClock {
    pub fn new() -> Self {
        TestClock {
            now: Cell::new(T0),
            step: Cell::new(0),
        }
    }

    pub fn set(&self, t: u64) {
        self.now.set(t);
    }

    pub fn advance(&self, us: u64) {
        self.now.set(self.now.get() + us);
    }
}

impl Clock for TestClock {
    fn now_us(&self) -> u64 {
        let t = self.now.get();
        self.now.set(t + self.step.get());
        t
    }
}
