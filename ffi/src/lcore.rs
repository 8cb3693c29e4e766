//! Running functions on EAL worker lcores.

use std::ffi::{c_int, c_void};

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::sys;

type Job = Box<dyn FnOnce() -> i32 + Send>;

/// The worker lcores EAL was given (`-l`/`-c`), without the main lcore.
pub fn worker_lcores(_eal: &Eal) -> Vec<u32> {
    let mut lcores = Vec::new();
    let mut id = u32::MAX;
    loop {
        // SAFETY: EAL is initialised; skip_main = 1, wrap = 0 ends at RTE_MAX_LCORE.
        id = unsafe { sys::rte_get_next_lcore(id, 1, 0) };
        if id >= sys::RTE_MAX_LCORE {
            return lcores;
        }
        lcores.push(id);
    }
}

/// The main lcore (the thread that called `Eal::init`).
pub fn main_lcore(_eal: &Eal) -> u32 {
    // SAFETY: EAL is initialised.
    unsafe { sys::rte_get_main_lcore() }
}

/// A function running on a worker lcore.
#[derive(Debug)]
#[must_use = "a launched lcore must be waited for"]
pub struct Launched {
    lcore: u32,
}

impl Launched {
    pub fn lcore(&self) -> u32 {
        self.lcore
    }

    /// Waits until the function returns and gives its result (-1 if it panicked).
    pub fn wait(self) -> i32 {
        // SAFETY: the lcore was launched by us and is waited for once (self is consumed).
        unsafe { sys::rte_eal_wait_lcore(self.lcore) }
    }
}

/// Runs `job` on worker `lcore`.
pub fn launch(
    _eal: &Eal,
    lcore: u32,
    job: impl FnOnce() -> i32 + Send + 'static,
) -> Result<Launched, DpdkError> {
    let job: Box<Job> = Box::new(Box::new(job));
    let arg = Box::into_raw(job).cast::<c_void>();
    // SAFETY: trampoline takes back ownership of arg exactly once, on the lcore.
    let ret = unsafe { sys::rte_eal_remote_launch(Some(trampoline), arg, lcore) };
    if ret < 0 {
        // SAFETY: the launch failed, so the job was not handed over; reclaim and drop it.
        drop(unsafe { Box::from_raw(arg.cast::<Job>()) });
        return Err(DpdkError::new(
            format!("rte_eal_remote_launch(lcore {lcore})"),
            ret,
        ));
    }
    Ok(Launched { lcore })
}

extern "C" fn trampoline(arg: *mut c_void) -> c_int {
    // SAFETY: arg is the Box<Job> leaked by `launch`, passed here exactly once.
    let job = unsafe { Box::from_raw(arg.cast::<Job>()) };
    // A panic must not unwind into DPDK's C frames.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(job)).unwrap_or(-1)
}
