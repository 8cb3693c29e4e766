//! Plugs DPDK queues into the dataplane's forwarding loop.

use metaprobe_dataplane::forward::{self, PacketBurst, PacketQueue};
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
}
