//! A burst of received mbufs and who owns them.
//!
//! Rules: an mbuf received into a [`MbufBurst`] belongs to it. A transmit
//! hands the accepted prefix to the driver, which frees those mbufs after
//! sending; the rest stay in the burst. [`MbufBurst::free_all`] (or dropping
//! the burst) returns what is left to its mempool. So every mbuf has exactly
//! one owner at every moment and none leaks.

use crate::sys;

/// Mbufs per receive call (DPDK's customary burst).
pub const BURST_SIZE: usize = 32;

/// Up to [`BURST_SIZE`] received mbufs. Not `Send`: it lives on the lcore that made it.
#[derive(Debug)]
pub struct MbufBurst {
    mbufs: [*mut sys::rte_mbuf; BURST_SIZE],
    /// Index of the first mbuf still owned.
    head: usize,
    /// Mbufs owned, from `head`.
    len: usize,
}

impl Default for MbufBurst {
    fn default() -> Self {
        Self {
            mbufs: [std::ptr::null_mut(); BURST_SIZE],
            head: 0,
            len: 0,
        }
    }
}

impl MbufBurst {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The first segment's bytes of the `i`-th mbuf still held.
    #[inline]
    pub fn packet(&self, i: usize) -> Option<&[u8]> {
        if i >= self.len {
            return None;
        }
        let m = *self.mbufs.get(self.head + i)?;
        // SAFETY: every pointer in head..head+len is an mbuf this burst owns;
        // buf_addr + data_off points at data_len initialised bytes (DPDK's
        // rte_pktmbuf_mtod), alive while the burst holds the mbuf (the borrow).
        unsafe {
            let m = &*m;
            let data = m.buf_addr.cast::<u8>().add(usize::from(m.data_off));
            Some(std::slice::from_raw_parts(data, usize::from(m.data_len)))
        }
    }

    /// Frees every mbuf still held; returns how many.
    pub fn free_all(&mut self) -> usize {
        let n = self.len;
        if n > 0 {
            // SAFETY: the pointers head..head+len are owned mbufs; after the call they are forgotten.
            unsafe {
                sys::shim_pktmbuf_free_bulk(self.mbufs.as_mut_ptr().add(self.head), n as u32)
            };
        }
        self.head = 0;
        self.len = 0;
        n
    }

    /// Frees the held mbufs whose bit is set in `mask` (bit `i`: the `i`-th
    /// held), keeping the others in order; returns how many were freed.
    pub fn free_where(&mut self, mask: u32) -> usize {
        let (head, len) = (self.head, self.len);
        let mut kept = 0;
        let mut freed = 0;
        for i in 0..len {
            let Some(&m) = self.mbufs.get(head + i) else {
                break;
            };
            if (1u32.checked_shl(i as u32).unwrap_or(0) & mask) != 0 {
                // SAFETY: `m` is an owned mbuf (head..head+len); it is forgotten below.
                unsafe { sys::shim_pktmbuf_free(m) };
                freed += 1;
            } else if let Some(slot) = self.mbufs.get_mut(head + kept) {
                *slot = m;
                kept += 1;
            }
        }
        self.len = kept;
        if kept == 0 {
            self.head = 0;
        }
        freed
    }

    pub(crate) fn receive(&mut self, port: u16, queue: u16) -> usize {
        if !self.is_empty() {
            return 0;
        }
        // SAFETY: the array has BURST_SIZE slots; the caller owns (port, queue) on this lcore.
        let n =
            unsafe { sys::shim_rx_burst(port, queue, self.mbufs.as_mut_ptr(), BURST_SIZE as u16) };
        self.head = 0;
        self.len = usize::from(n).min(BURST_SIZE);
        self.len
    }

    pub(crate) fn transmit(&mut self, port: u16, queue: u16) -> usize {
        if self.is_empty() {
            return 0;
        }
        // SAFETY: head..head+len are owned mbufs (len <= BURST_SIZE fits u16); the
        // driver takes ownership of the first `sent` of them.
        let sent = unsafe {
            sys::shim_tx_burst(
                port,
                queue,
                self.mbufs.as_mut_ptr().add(self.head),
                self.len as u16,
            )
        };
        let sent = usize::from(sent).min(self.len);
        self.head += sent;
        self.len -= sent;
        if self.len == 0 {
            self.head = 0;
        }
        sent
    }
}

impl Drop for MbufBurst {
    fn drop(&mut self) {
        self.free_all();
    }
}
