use std::ffi::CStr;
use std::fmt;

use crate::sys;

/// A DPDK call that failed: what was attempted, on what, and DPDK's reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DpdkError {
    /// The call and its subject, e.g. `rte_eth_dev_configure(port 1)`.
    pub call: String,
    /// The negative errno DPDK returned, or `-rte_errno`.
    pub code: i32,
}

impl DpdkError {
    pub(crate) fn new(call: impl Into<String>, code: i32) -> Self {
        Self {
            call: call.into(),
            code: if code > 0 { -code } else { code },
        }
    }

    /// A failure that DPDK reports through `rte_errno`.
    pub(crate) fn from_rte_errno(call: impl Into<String>) -> Self {
        // SAFETY: reads the calling thread's rte_errno.
        let errno = unsafe { sys::shim_errno() };
        Self::new(call, errno)
    }

    /// Turns a DPDK return value (negative errno on failure) into a result.
    pub(crate) fn check(ret: i32, call: impl FnOnce() -> String) -> Result<i32, DpdkError> {
        if ret < 0 {
            Err(Self::new(call(), ret))
        } else {
            Ok(ret)
        }
    }
}

impl fmt::Display for DpdkError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // SAFETY: rte_strerror returns a pointer to a static or thread-local NUL-terminated string.
        let reason = unsafe { CStr::from_ptr(sys::rte_strerror(-self.code)) }.to_string_lossy();
        write!(f, "{} failed: {} ({})", self.call, reason, self.code)
    }
}

impl std::error::Error for DpdkError {}
