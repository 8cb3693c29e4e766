//! Ethernet ports: configuration, queues, start/stop/close, statistics.

use std::cell::Cell;
use std::ffi::{CStr, c_char};
use std::marker::PhantomData;
use std::sync::Arc;

use crate::burst::{BURST_SIZE, MbufBurst};
use crate::eal::Eal;
use crate::error::DpdkError;
use crate::mempool::Mempool;
use crate::sys;

// DPDK's RTE_BIT64 flag macros, which bindgen does not see.
const RSS_IPV4: u64 = 1 << 2;
const RSS_FRAG_IPV4: u64 = 1 << 3;
const RSS_NONFRAG_IPV4_TCP: u64 = 1 << 4;
const RSS_NONFRAG_IPV4_UDP: u64 = 1 << 5;
const RSS_NONFRAG_IPV4_OTHER: u64 = 1 << 7;
const RSS_IPV6: u64 = 1 << 8;
const RSS_FRAG_IPV6: u64 = 1 << 9;
const RSS_NONFRAG_IPV6_TCP: u64 = 1 << 10;
const RSS_NONFRAG_IPV6_UDP: u64 = 1 << 11;
const RSS_NONFRAG_IPV6_OTHER: u64 = 1 << 13;
const RSS_IPV6_EX: u64 = 1 << 15;
const RSS_IPV6_TCP_EX: u64 = 1 << 16;
const RSS_IPV6_UDP_EX: u64 = 1 << 17;
/// `RTE_ETH_RSS_IP | RTE_ETH_RSS_TCP | RTE_ETH_RSS_UDP`.
const RSS_IP_TCP_UDP: u64 = RSS_IPV4
    | RSS_FRAG_IPV4
    | RSS_NONFRAG_IPV4_OTHER
    | RSS_IPV6
    | RSS_FRAG_IPV6
    | RSS_NONFRAG_IPV6_OTHER
    | RSS_IPV6_EX
    | RSS_NONFRAG_IPV4_TCP
    | RSS_NONFRAG_IPV6_TCP
    | RSS_IPV6_TCP_EX
    | RSS_NONFRAG_IPV4_UDP
    | RSS_NONFRAG_IPV6_UDP
    | RSS_IPV6_UDP_EX;
const RX_OFFLOAD_SCATTER: u64 = 1 << 13;
const TX_OFFLOAD_MULTI_SEGS: u64 = 1 << 15;

/// A Toeplitz key of repeated 0x6d5a hashes (a, b) and (b, a) alike, so both
/// directions of a flow reach the same queue and worker ("symmetric RSS",
/// Woo and Park, 2012). Long enough for every driver's key size.
#[allow(clippy::indexing_slicing)] // a const loop bounded by the array length
static SYMMETRIC_RSS_KEY: [u8; 64] = {
    let mut key = [0u8; 64];
    let mut i = 0;
    while i < key.len() {
        key[i] = if i % 2 == 0 { 0x6d } else { 0x5a };
        i += 1;
    }
    key
};

/// The largest frame a bridge carries when the driver can chain mbufs.
const JUMBO_MTU: u32 = 9600;

/// What the driver of a port offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortInfo {
    pub port: u16,
    /// Device name, e.g. `net_pcap0` or `0000:3b:00.0`.
    pub name: String,
    pub driver: String,
    pub max_rx_queues: u16,
    pub max_tx_queues: u16,
    /// RSS hash functions the driver supports (0: no RSS).
    pub rss_offloads: u64,
    pub socket: i32,
}

/// Per-queue counters a port's driver keeps (`RTE_ETHDEV_QUEUE_STAT_CNTRS`).
pub const QUEUE_STAT_COUNTERS: usize = sys::RTE_ETHDEV_QUEUE_STAT_CNTRS as usize;

impl PortInfo {
    pub fn query(_eal: &Eal, port: u16) -> Result<PortInfo, DpdkError> {
        let mut info = sys::rte_eth_dev_info::default();
        // SAFETY: EAL is initialised; info is a valid out-parameter.
        let ret = unsafe { sys::rte_eth_dev_info_get(port, &mut info) };
        DpdkError::check(ret, || format!("rte_eth_dev_info_get(port {port})"))?;
        let mut name = [0 as c_char; sys::RTE_ETH_NAME_MAX_LEN as usize];
        // SAFETY: the buffer has RTE_ETH_NAME_MAX_LEN bytes, as the call requires.
        let ret = unsafe { sys::rte_eth_dev_get_name_by_port(port, name.as_mut_ptr()) };
        DpdkError::check(ret, || format!("rte_eth_dev_get_name_by_port(port {port})"))?;
        Ok(PortInfo {
            port,
            // SAFETY: DPDK NUL-terminated the name within the buffer.
            name: unsafe { CStr::from_ptr(name.as_ptr()) }
                .to_string_lossy()
                .into_owned(),
            driver: c_str_or_empty(info.driver_name),
            max_rx_queues: info.max_rx_queues,
            max_tx_queues: info.max_tx_queues,
            rss_offloads: info.flow_type_rss_offloads & RSS_IP_TCP_UDP,
            // SAFETY: any valid port id may be asked about.
            socket: unsafe { sys::rte_eth_dev_socket_id(port) },
        })
    }
}

impl PortInfo {
    /// How the port spreads flows over its RX queues, so that several queues can be polled
    /// by several workers; `None` when it cannot.
    /// - RSS by a hash of the flow (a NIC): `"symmetric RSS"`, the key we give it.
    /// - `net_af_packet` with `qpairs=N`: N sockets in a `PACKET_FANOUT_HASH` group; the
    ///   kernel picks the socket by its flow hash, which is symmetric
    ///   (`__flow_hash_consistentify` orders the addresses and ports), so both directions
    ///   of a flow reach the same queue index. The driver reports no RSS offloads for it.
    /// - `net_pcap` with several `rx_pcap` files: each RX queue replays its own file (the
    ///   driver's `max_rx_queues` is their count), so whoever split the capture chose which
    ///   flows meet where.
    pub fn spreading(&self) -> Option<&'static str> {
        if self.rss_offloads != 0 {
            Some("symmetric RSS")
        } else if self.driver == "net_af_packet" {
            Some("the kernel's symmetric fanout hash")
        } else if self.driver == "net_pcap" && self.max_rx_queues > 1 {
            Some("one rx_pcap file each")
        } else {
            None
        }
    }
}

fn c_str_or_empty(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: DPDK's strings in dev_info are static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// How to set a port up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSetup {
    /// RX and TX queue pairs; above 1 the port spreads flows ([`PortInfo::spreading`]).
    pub queues: u16,
    pub rx_descriptors: u16,
    pub tx_descriptors: u16,
}

/// Counters of a port, as its driver keeps them.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortStats {
    pub rx: u64,
    pub tx: u64,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    /// Packets the NIC dropped because the RX ring was full.
    pub rx_missed: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    /// RX allocation failures: the mempool was empty.
    pub rx_nombuf: u64,
    /// Packets received and sent per queue (the first [`QUEUE_STAT_COUNTERS`] queues;
    /// drivers that keep no per-queue counters leave them 0).
    pub queue_rx: [u64; QUEUE_STAT_COUNTERS],
    pub queue_tx: [u64; QUEUE_STAT_COUNTERS],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Link {
    pub up: bool,
    /// Mbit/s; 0 when unknown.
    pub speed_mbps: u32,
    pub full_duplex: bool,
}

#[derive(Debug)]
struct PortShared {
    port: u16,
    /// Where received mbufs come from, and injected ones.
    pool: Arc<Mempool>,
    _eal: Eal,
}

impl Drop for PortShared {
    fn drop(&mut self) {
        // SAFETY: the last handle of the port is gone, so no lcore polls it any more.
        // Stopping and closing also makes net_pcap flush and close its tx file.
        unsafe {
            sys::rte_eth_dev_stop(self.port);
            sys::rte_eth_dev_close(self.port);
        }
    }
}

/// A started port. Stopped and closed when it and every [`PortQueue`] of it are dropped.
#[derive(Debug)]
pub struct Port {
    shared: Arc<PortShared>,
    info: PortInfo,
    setup: PortSetup,
}

impl Port {
    /// Configures `info.port` with `setup`, receiving into `pool`, starts it,
    /// and returns it with one [`PortQueue`] per queue index.
    pub fn start(
        eal: &Eal,
        info: PortInfo,
        setup: PortSetup,
        pool: &Arc<Mempool>,
    ) -> Result<(Port, Vec<PortQueue>), DpdkError> {
        let port = info.port;
        let mut dev_info = sys::rte_eth_dev_info::default();
        // SAFETY: EAL is initialised; dev_info is a valid out-parameter.
        let ret = unsafe { sys::rte_eth_dev_info_get(port, &mut dev_info) };
        DpdkError::check(ret, || format!("rte_eth_dev_info_get(port {port})"))?;

        let mut conf = sys::rte_eth_conf::default();
        if setup.queues > 1 {
            conf.rxmode.mq_mode = sys::rte_eth_rx_mq_mode_RTE_ETH_MQ_RX_RSS;
            let key_len = match dev_info.hash_key_size {
                0 => 40,
                n => n.min(SYMMETRIC_RSS_KEY.len() as u8),
            };
            conf.rx_adv_conf.rss_conf.rss_key = SYMMETRIC_RSS_KEY.as_ptr().cast_mut();
            conf.rx_adv_conf.rss_conf.rss_key_len = key_len;
            conf.rx_adv_conf.rss_conf.rss_hf = info.rss_offloads;
        }
        // Frames larger than one mbuf are carried as mbuf chains where the driver can.
        if dev_info.rx_offload_capa & RX_OFFLOAD_SCATTER != 0
            && dev_info.tx_offload_capa & TX_OFFLOAD_MULTI_SEGS != 0
        {
            conf.rxmode.offloads |= RX_OFFLOAD_SCATTER;
            conf.txmode.offloads |= TX_OFFLOAD_MULTI_SEGS;
            conf.rxmode.mtu = JUMBO_MTU.min(u32::from(dev_info.max_mtu));
        }
        // SAFETY: conf is fully initialised and the RSS key is 'static.
        let ret = unsafe { sys::rte_eth_dev_configure(port, setup.queues, setup.queues, &conf) };
        DpdkError::check(ret, || {
            format!(
                "rte_eth_dev_configure(port {port}, {} queues)",
                setup.queues
            )
        })?;

        let (mut rxd, mut txd) = (setup.rx_descriptors, setup.tx_descriptors);
        // SAFETY: valid out-parameters.
        let ret = unsafe { sys::rte_eth_dev_adjust_nb_rx_tx_desc(port, &mut rxd, &mut txd) };
        DpdkError::check(ret, || {
            format!("rte_eth_dev_adjust_nb_rx_tx_desc(port {port})")
        })?;

        // A negative socket (SOCKET_ID_ANY, -1) reaches DPDK as the unsigned value it expects.
        let socket = info.socket as u32;
        for q in 0..setup.queues {
            // SAFETY: the port is configured with `setup.queues` queues; the pool outlives the port.
            let ret = unsafe {
                sys::rte_eth_rx_queue_setup(port, q, rxd, socket, std::ptr::null(), pool.as_ptr())
            };
            DpdkError::check(ret, || {
                format!("rte_eth_rx_queue_setup(port {port}, queue {q}, {rxd} descriptors)")
            })?;
            // SAFETY: as above.
            let ret =
                unsafe { sys::rte_eth_tx_queue_setup(port, q, txd, socket, std::ptr::null()) };
            DpdkError::check(ret, || {
                format!("rte_eth_tx_queue_setup(port {port}, queue {q}, {txd} descriptors)")
            })?;
        }
        // SAFETY: queues are set up.
        let ret = unsafe { sys::rte_eth_dev_start(port) };
        DpdkError::check(ret, || format!("rte_eth_dev_start(port {port})"))?;
        // A bridge must see every frame, whatever its destination MAC. Virtual
        // devices that cannot switch it on receive everything anyway.
        // SAFETY: the port is started.
        unsafe { sys::rte_eth_promiscuous_enable(port) };

        let shared = Arc::new(PortShared {
            port,
            pool: Arc::clone(pool),
            _eal: eal.clone(),
        });
        let queues = (0..setup.queues)
            .map(|queue| PortQueue {
                shared: Arc::clone(&shared),
                port,
                queue,
                _not_sync: PhantomData,
            })
            .collect();
        let setup = PortSetup {
            rx_descriptors: rxd,
            tx_descriptors: txd,
            ..setup
        };
        Ok((
            Port {
                shared,
                info,
                setup,
            },
            queues,
        ))
    }

    pub fn id(&self) -> u16 {
        self.shared.port
    }

    pub fn info(&self) -> &PortInfo {
        &self.info
    }

    /// The setup in effect (descriptor counts as the driver adjusted them).
    pub fn setup(&self) -> PortSetup {
        self.setup
    }

    pub fn stats(&self) -> Result<PortStats, DpdkError> {
        let mut s = sys::rte_eth_stats::default();
        // SAFETY: the port is alive; s is a valid out-parameter.
        let ret = unsafe { sys::rte_eth_stats_get(self.id(), &mut s) };
        DpdkError::check(ret, || format!("rte_eth_stats_get(port {})", self.id()))?;
        Ok(PortStats {
            rx: s.ipackets,
            tx: s.opackets,
            rx_bytes: s.ibytes,
            tx_bytes: s.obytes,
            rx_missed: s.imissed,
            rx_errors: s.ierrors,
            tx_errors: s.oerrors,
            rx_nombuf: s.rx_nombuf,
            queue_rx: s.q_ipackets,
            queue_tx: s.q_opackets,
        })
    }

    pub fn mac(&self) -> Result<[u8; 6], DpdkError> {
        let mut mac = sys::rte_ether_addr::default();
        // SAFETY: the port is alive; mac is a valid out-parameter.
        let ret = unsafe { sys::rte_eth_macaddr_get(self.id(), &mut mac) };
        DpdkError::check(ret, || format!("rte_eth_macaddr_get(port {})", self.id()))?;
        Ok(mac.addr_bytes)
    }

    pub fn link(&self) -> Result<Link, DpdkError> {
        let mut link = sys::rte_eth_link::default();
        // SAFETY: the port is alive; link is a valid out-parameter.
        let ret = unsafe { sys::rte_eth_link_get_nowait(self.id(), &mut link) };
        DpdkError::check(ret, || {
            format!("rte_eth_link_get_nowait(port {})", self.id())
        })?;
        let speed = link.link_speed;
        Ok(Link {
            up: link.link_status() == 1,
            speed_mbps: if speed == u32::MAX { 0 } else { speed },
            full_duplex: link.link_duplex() == 1,
        })
    }
}

/// One RX/TX queue pair of a started port, for exactly one lcore: it may be
/// moved to the lcore that polls it (`Send`) but not shared (`!Sync`), because
/// DPDK's burst functions are not thread-safe on one queue.
#[derive(Debug)]
pub struct PortQueue {
    shared: Arc<PortShared>,
    port: u16,
    queue: u16,
    _not_sync: PhantomData<Cell<()>>,
}

impl PortQueue {
    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn queue(&self) -> u16 {
        self.queue
    }

    /// Receives into an empty `burst` (up to its capacity); returns how many arrived.
    /// The received mbufs are owned by `burst`.
    #[inline]
    pub fn rx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        debug_assert!(Arc::strong_count(&self.shared) > 0);
        burst.receive(self.port, self.queue)
    }

    /// Transmits from the front of `burst`; the mbufs the driver accepted leave
    /// the burst (the driver frees them once sent). Returns how many.
    #[inline]
    pub fn tx_burst(&mut self, burst: &mut MbufBurst) -> usize {
        burst.transmit(self.port, self.queue)
    }

    /// Sends copies of `frames` (the first [`BURST_SIZE`] of them) in mbufs
    /// of the port's pool.
    ///
    /// Ownership: each mbuf is allocated here and owned by this call until
    /// `tx_burst` takes it (the driver frees it once sent); those the driver
    /// does not take are freed here. Nothing outlives the call.
    pub fn inject<'a>(&mut self, frames: impl Iterator<Item = &'a [u8]>) -> Injected {
        let mut out = Injected::default();
        let mut mbufs = [std::ptr::null_mut::<sys::rte_mbuf>(); BURST_SIZE];
        let mut n = 0;
        for (frame, slot) in frames.zip(mbufs.iter_mut()) {
            let Ok(len) = u16::try_from(frame.len()) else {
                out.no_mbuf += 1;
                continue;
            };
            // SAFETY: the pool is alive (the port holds it); a null return is handled.
            let m = unsafe { sys::shim_pktmbuf_alloc(self.shared.pool.as_ptr()) };
            if m.is_null() {
                out.no_mbuf += 1;
                continue;
            }
            // SAFETY: `m` is a fresh mbuf this call owns; append returns null
            // when its tailroom is short (then it is freed unsent).
            let data = unsafe { sys::shim_pktmbuf_append(m, len) };
            if data.is_null() {
                // SAFETY: `m` is owned here and forgotten after the free.
                unsafe { sys::shim_pktmbuf_free(m) };
                out.no_mbuf += 1;
                continue;
            }
            // SAFETY: `data` points at `len` octets appended to `m`, which
            // do not overlap `frame` (Rust memory, not the mbuf's).
            unsafe {
                std::ptr::copy_nonoverlapping(frame.as_ptr(), data.cast::<u8>(), frame.len())
            };
            *slot = m;
            n += 1;
        }
        if n == 0 {
            return out;
        }
        // SAFETY: the first `n` slots are owned mbufs (n <= BURST_SIZE fits
        // u16); the driver takes ownership of the first `sent`.
        let sent =
            unsafe { sys::shim_tx_burst(self.port, self.queue, mbufs.as_mut_ptr(), n as u16) };
        let sent = usize::from(sent).min(n);
        if sent < n {
            // SAFETY: mbufs sent..n were not taken: still owned here, freed once.
            unsafe { sys::shim_pktmbuf_free_bulk(mbufs.as_mut_ptr().add(sent), (n - sent) as u32) };
        }
        out.sent = sent;
        out.tx_dropped = n - sent;
        out
    }
}

/// What became of frames handed to [`PortQueue::inject`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Injected {
    pub sent: usize,
    /// The pool was empty (or the mbuf too small): not sent.
    pub no_mbuf: usize,
    /// The driver did not take them: freed.
    pub tx_dropped: usize,
}

#[cfg(test)]
mod tests {
    use super::SYMMETRIC_RSS_KEY;

    /// The Toeplitz hash NICs compute for RSS (Microsoft's RSS specification): for every
    /// set bit of the input, XOR in the 32 key bits that start at that bit's position.
    fn toeplitz(key: &[u8], input: &[u8]) -> u32 {
        let bit = |i: usize| (key[i / 8] >> (7 - i % 8)) & 1;
        let window = |start: usize| (0..32).fold(0u32, |w, j| (w << 1) | u32::from(bit(start + j)));
        let mut hash = 0;
        for (i, byte) in input.iter().enumerate() {
            for b in 0..8 {
                if byte & (0x80 >> b) != 0 {
                    hash ^= window(i * 8 + b);
                }
            }
        }
        hash
    }

    /// The hash input of a TCP/UDP flow as NICs build it: source address, destination
    /// address, source port, destination port, in network order.
    fn tuple(src: &[u8], dst: &[u8], sport: u16, dport: u16) -> Vec<u8> {
        [src, dst, &sport.to_be_bytes(), &dport.to_be_bytes()].concat()
    }

    /// Microsoft's default RSS key, the one most drivers use when given none.
    const DEFAULT_KEY: [u8; 40] = [
        0x6d, 0x5a, 0x56, 0xda, 0x25, 0x5b, 0x0e, 0xc2, 0x41, 0x67, 0x25, 0x3d, 0x43, 0xa3, 0x8f,
        0xb0, 0xd0, 0xca, 0x2b, 0xcb, 0xae, 0x7b, 0x30, 0xb4, 0x77, 0xcb, 0x2d, 0xa3, 0x80, 0x30,
        0xf2, 0x0c, 0x6a, 0x42, 0xb7, 0x3b, 0xbe, 0xac, 0x01, 0xfa,
    ];

    struct Lcg(u64);
    impl Lcg {
        fn bytes<const N: usize>(&mut self) -> [u8; N] {
            let mut out = [0; N];
            for b in &mut out {
                self.0 = self
                    .0
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                *b = (self.0 >> 56) as u8;
            }
            out
        }
    }

    #[test]
    fn the_toeplitz_implementation_matches_the_specification_example() {
        // Microsoft's RSS verification suite, IPv4 with TCP ports: 66.9.149.187:2794 ->
        // 161.142.100.80:1766 hashes to 0x51ccc178 with the default key.
        let input = tuple(&[66, 9, 149, 187], &[161, 142, 100, 80], 2794, 1766);
        assert_eq!(toeplitz(&DEFAULT_KEY, &input), 0x51cc_c178);
        // The default key is not symmetric: the reverse direction hashes elsewhere.
        let reverse = tuple(&[161, 142, 100, 80], &[66, 9, 149, 187], 1766, 2794);
        assert_ne!(toeplitz(&DEFAULT_KEY, &reverse), 0x51cc_c178);
    }

    #[test]
    fn both_directions_of_every_flow_hash_alike_with_our_key() {
        let key = &SYMMETRIC_RSS_KEY[..52]; // long enough for IPv6 tuples (36 bytes + 4)
        let mut rng = Lcg(0x5eed);
        for _ in 0..2000 {
            let (a4, b4) = (rng.bytes::<4>(), rng.bytes::<4>());
            let (a6, b6) = (rng.bytes::<16>(), rng.bytes::<16>());
            let [p0, p1, p2, p3] = rng.bytes::<4>();
            let (sp, dp) = (u16::from_be_bytes([p0, p1]), u16::from_be_bytes([p2, p3]));
            for (a, b) in [(&a4[..], &b4[..]), (&a6[..], &b6[..])] {
                let there = toeplitz(key, &tuple(a, b, sp, dp));
                let back = toeplitz(key, &tuple(b, a, dp, sp));
                assert_eq!(there, back, "{a:?}:{sp} <-> {b:?}:{dp}");
                // Address-only hashing (non-TCP/UDP IP packets, fragments) too.
                assert_eq!(
                    toeplitz(key, &[a, b].concat()),
                    toeplitz(key, &[b, a].concat())
                );
            }
        }
    }

    #[test]
    fn our_key_still_spreads_flows_over_queues() {
        // NICs index a redirection table with the hash's low bits; with 2, 4 and 8 queues
        // (the table filled round-robin) every queue must get a fair share of flows.
        let mut rng = Lcg(0xf10e);
        let hashes: Vec<u32> = (0..4096)
            .map(|_| {
                let [p0, p1, p2, p3] = rng.bytes::<4>();
                let input = tuple(
                    &rng.bytes::<4>(),
                    &rng.bytes::<4>(),
                    u16::from_be_bytes([p0, p1]),
                    u16::from_be_bytes([p2, p3]),
                );
                toeplitz(&SYMMETRIC_RSS_KEY, &input)
            })
            .collect();
        for queues in [2u32, 4, 8] {
            let mut per_queue = vec![0usize; queues as usize];
            for h in &hashes {
                per_queue[(h % 128 % queues) as usize] += 1;
            }
            let fair = hashes.len() / queues as usize;
            for (q, n) in per_queue.iter().enumerate() {
                assert!(
                    *n > fair * 3 / 4 && *n < fair * 5 / 4,
                    "{queues} queues: queue {q} got {n} of {} flows ({per_queue:?})",
                    hashes.len()
                );
            }
        }
    }
}
