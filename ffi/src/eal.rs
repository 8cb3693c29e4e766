//! The Environment Abstraction Layer: once per process.

use std::ffi::{CStr, CString, c_char, c_int};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::DpdkError;
use crate::sys;

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The running EAL. Mempools and ports hold a clone, so `rte_eal_cleanup`
/// runs when the last of them is gone.
#[derive(Debug, Clone)]
pub struct Eal {
    _guard: Arc<CleanupOnDrop>,
}

#[derive(Debug)]
struct CleanupOnDrop;

impl Drop for CleanupOnDrop {
    fn drop(&mut self) {
        // SAFETY: the last Eal handle is gone, so no port or pool is left.
        unsafe { sys::rte_eal_cleanup() };
    }
}

impl Eal {
    /// Starts EAL with `args` (without a program name; `metaprobe` is put first).
    ///
    /// DPDK allows this once per process; a second call is an error. EAL pins
    /// the calling thread to the main lcore, so threads spawned afterwards
    /// inherit that CPU.
    pub fn init(args: &[String]) -> Result<Eal, DpdkError> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err(DpdkError::new(
                "rte_eal_init (second call in one process)",
                -libc::EALREADY,
            ));
        }
        let mut owned = Vec::with_capacity(args.len() + 1);
        owned.push(CString::from(c"metaprobe"));
        for a in args {
            owned.push(CString::new(a.as_str()).map_err(|_| {
                DpdkError::new(format!("EAL argument {a:?} contains NUL"), -libc::EINVAL)
            })?);
        }
        // EAL keeps pointers into argv (and permutes it), so both live for the process.
        let owned: &'static [CString] = Vec::leak(owned);
        let mut argv: Vec<*mut c_char> = owned.iter().map(|s| s.as_ptr().cast_mut()).collect();
        argv.push(std::ptr::null_mut());
        let argv: &'static mut [*mut c_char] = Vec::leak(argv);
        let argc = c_int::try_from(owned.len())
            .map_err(|_| DpdkError::new("rte_eal_init: too many arguments", -libc::E2BIG))?;
        // SAFETY: argv holds argc valid NUL-terminated strings and a final NULL, all 'static.
        let ret = unsafe { sys::rte_eal_init(argc, argv.as_mut_ptr()) };
        if ret < 0 {
            return Err(DpdkError::from_rte_errno(format!(
                "rte_eal_init({})",
                args.join(" ")
            )));
        }
        Ok(Eal {
            _guard: Arc::new(CleanupOnDrop),
        })
    }

    /// The DPDK library version, e.g. `DPDK 22.11.11`.
    pub fn version() -> String {
        // SAFETY: rte_version returns a static string.
        unsafe { CStr::from_ptr(sys::rte_version()) }
            .to_string_lossy()
            .into_owned()
    }

    /// TSC ticks per second, as measured by EAL.
    pub fn tsc_hz(&self) -> u64 {
        // SAFETY: EAL is initialised.
        unsafe { sys::shim_tsc_hz() }
    }

    /// Ports that EAL probed (PCI devices and `--vdev`s).
    pub fn port_count(&self) -> u16 {
        // SAFETY: EAL is initialised.
        unsafe { sys::rte_eth_dev_count_avail() }
    }

    pub fn is_valid_port(&self, port: u16) -> bool {
        // SAFETY: EAL is initialised; any port id may be asked about.
        unsafe { sys::rte_eth_dev_is_valid_port(port) == 1 }
    }
}

/// The TSC of the calling core. Cheap: one out-of-line call to `rte_get_tsc_cycles`.
#[inline]
pub fn tsc() -> u64 {
    // SAFETY: reads the time-stamp counter; no state.
    unsafe { sys::shim_tsc_cycles() }
}
