//! Plugs DPDK queues into the dataplane's forwarding loop.

use metaprobe_dataplane::forward::{self, Injected, PacketBurst, PacketQueue};
use metaprobe_ffi::{MbufBurst, PortQueue};

const _: () = assert!(metaprobe_ffi::BURST_SIZE == forward::BURST_SIZE);

pub struct DpdkBurst(pub MbufBurst);

impl PacketBurst for DpdkBurst {
    #[inline]
    fn len(&self) -> usize {
        self.0.len()
    }

    #[inline]
    fn packet(&self, i: usize) -> Option<&[u8]> {
        self.0.packet(i)
    }

    fn free_all(&mut self) -> usize {
        self.0.free_all()
    }

    fn free_where(&mut self, mask: u32) -> usize {
        self.0.free_where(mask)
    }
}

pub struct DpdkQueue(pub PortQueue);

impl PacketQueue for DpdkQueue {
    type Burst = DpdkBurst;

    #[inline]
    fn rx(&mut self, burst: &mut DpdkBurst) -> usize {
        self.0.rx_burst(&mut burst.0)
    }

    #[inline]
    fn tx(&mut self, burst: &mut DpdkBurst) -> usize {
        self.0.tx_burst(&mut burst.0)
    }

    fn inject<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> Injected {
        let done = self.0.inject(frames);
        Injected {
            sent: done.sent,
            no_mbuf: done.no_mbuf,
            tx_dropped: done.tx_dropped,
        }
    }
}
