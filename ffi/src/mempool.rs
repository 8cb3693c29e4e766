use std::ffi::CString;

use crate::eal::Eal;
use crate::error::DpdkError;
use crate::sys;

/// A pool of packet mbufs, freed on drop. Ports hold an `Arc` of their pool,
/// so it outlives every port that receives into it.
#[derive(Debug)]
pub struct Mempool {
    raw: *mut sys::rte_mempool,
    size: u32,
    _eal: Eal,
}

// SAFETY: an rte_mempool is designed for concurrent use from every lcore; the
// handle is only the pointer, and the pool outlives its users (see above).
unsafe impl Send for Mempool {}
unsafe impl Sync for Mempool {}

impl Mempool {
    /// Creates a pool of `size` mbufs with the default data room (2 KiB + headroom),
    /// `cache` of them cached per lcore.
    pub fn create_pktmbuf(
        eal: &Eal,
        name: &str,
        size: u32,
        cache: u32,
        socket: i32,
    ) -> Result<Mempool, DpdkError> {
        let cname = CString::new(name)
            .map_err(|_| DpdkError::new("mempool name contains NUL", -libc::EINVAL))?;
        // SAFETY: EAL is initialised (`eal` proves it); name is a valid C string.
        let raw = unsafe {
            sys::rte_pktmbuf_pool_create(
                cname.as_ptr(),
                size,
                cache,
                0,
                sys::RTE_MBUF_DEFAULT_BUF_SIZE as u16,
                socket,
            )
        };
        if raw.is_null() {
            return Err(DpdkError::from_rte_errno(format!(
                "rte_pktmbuf_pool_create({name}, {size} mbufs)"
            )));
        }
        Ok(Mempool {
            raw,
            size,
            _eal: eal.clone(),
        })
    }

    pub fn size(&self) -> u32 {
        self.size
    }

    /// Mbufs currently in the pool (not in rings or in flight).
    pub fn available(&self) -> u32 {
        // SAFETY: the pool is alive.
        unsafe { sys::rte_mempool_avail_count(self.raw) }
    }

    pub(crate) fn as_ptr(&self) -> *mut sys::rte_mempool {
        self.raw
    }
}

impl Drop for Mempool {
    fn drop(&mut self) {
        // SAFETY: no port holds the pool any more (they hold an Arc of it).
        unsafe { sys::rte_mempool_free(self.raw) };
    }
}
