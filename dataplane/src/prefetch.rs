//! A hint to the CPU to bring a value's cache line in before it is read: the
//! flow table's index slots and entries of a burst are fetched all at once,
//! so their cache misses overlap (DPDK's `rte_prefetch0`, VPP's
//! `clib_prefetch_load`). A load used as a "touch" would do the same only
//! as far as the out-of-order window reaches: a missing load holds up
//! retirement, a prefetch retires at once.
//!
//! The crate's one `unsafe`: `_mm_prefetch` takes a raw pointer, but a
//! prefetch reads nothing the program sees and cannot fault, whatever the
//! address; here it is always that of a live reference.
#![allow(unsafe_code)]

/// Asks for the cache line holding `value` (a no-op off x86-64).
#[inline(always)]
pub fn prefetch<T>(value: &T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch hint has no effect on memory or program state and
    // does not fault on any address; the pointer comes from a reference.
    unsafe {
        use core::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
        _mm_prefetch::<_MM_HINT_T0>(core::ptr::from_ref(value).cast::<i8>());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = value;
}
