//! What a worker does with every packet it forwards: decode it once, find its
//! flow, count why decoding stopped, hand the payload to the flow's
//! application parser ([`crate::app`]).

use std::sync::Arc;

use metaprobe_ipfix::ring::RecordSender;

use crate::app::{AppConfig, AppState, Apps, Seen};
use crate::block::{BlockHandle, BlockList, Policy};
use crate::counters::{AppCount, MAX_PORTS, WorkerCounters};
use crate::counters::{SubscriberCount, SubscriberCounters};
use crate::defrag::{DEFAULT_TIMEOUT_SECS, Defrag};
use crate::flow::{ClientRule, Flow, FlowTable, Observed, Prepared, SessionIds, Timeouts};
use crate::forward::{BURST_SIZE, Inspect, Verdict};
use crate::subscribers::radius::{self, ACCOUNTING_PORTS, Message, Status};
use crate::subscribers::{Change, Logins, Lookup, RadiusQueue, SubscriberHandle, SubscriberMap};
use crate::vchannel::Channels;
use crate::wire::{
    FlowTuple, Packet, TcpFlags, Transport, decode_into, tcp_seq_end, with_flow_tuple,
};

/// Flows ended per housekeeping round at most, so a round stays short.
const EXPIRE_BUDGET: usize = 1024;
/// A busy flow moves in its table's recency order at most this often per second
/// (expiry and eviction are exact to 1/RELINK_HZ s; the packets in between skip
/// the list update and its cache misses).
const RELINK_HZ: u64 = 100;
/// One burst in this many is timed stage by stage. A timed burst reads the
/// TSC about three times a packet: one in 16 cost 3 % of the throughput
/// (docs/benchmarks.md), and one in 256 still times thousands of bursts a
/// second at line rate.
const STAGE_SAMPLE: u32 = 256;
/// Housekeeping rounds per second: flow expiry and publishing the counters.
const HOUSEKEEPING_HZ: u64 = 1000;

/// Where a port sits: which bridge, which side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PortRole {
    bridge: u16,
    subscriber: bool,
}

/// What an [`Analyzer`] is built from.
#[derive(Debug, Clone)]
pub struct AnalyzerConfig {
    /// (subscriber port, internet port) of each bridge, in configuration order:
    /// the index is the bridge number (`BRIDGE_CHANNEL_NUM`).
    pub bridges: Vec<(u16, u16)>,
    pub flow_table_size: usize,
    /// Idle timeouts in seconds: open TCP, closed TCP, UDP, other.
    pub timeouts_secs: [u64; 4],
    /// TSC ticks per second (the unit of `now`).
    pub tsc_hz: u64,
    /// This worker's number, part of every session id it makes.
    pub worker: u8,
    /// Run start, 100 ns units since the Unix epoch ([`SessionIds::start_now`]).
    pub start_unix_100ns: u64,
    /// The TSC at the run start (with `start_unix_100ns`, it dates the records).
    pub start_tsc: u64,
    /// Reads the TSC (the unit of `now`); used to time the stages of sampled packets.
    pub clock: fn() -> u64,
    pub apps: AppConfig,
    /// IP reassembly: datagrams at once, and the largest one.
    pub ip_fragment_slots: u32,
    pub ip_fragment_slot_size: u32,
    /// The subscriber map the main lcore publishes (`None`: no logins).
    pub subscribers: Option<SubscriberHandle>,
    /// BRIDGE_CHANNEL_NUM by bridge and outer VLAN (`vchannels`).
    pub channels: Channels,
    /// Where RADIUS accounting read on the bridge goes (`None`: not read).
    pub radius: Option<RadiusQueue>,
    /// The block list the main lcore publishes (`None`: nothing is blocked,
    /// every packet is forwarded unchanged).
    pub block: Option<BlockHandle>,
    /// `block_redirect_url`: blocked HTTP requests are redirected there
    /// (`None`: reset).
    pub block_redirect_url: Option<String>,
}

/// What [`Analyzer::analyze`] keeps of one packet of a burst between its two passes.
#[derive(Clone, Copy)]
struct Slot {
    read: Read,
    /// The decoded packet: read in the first pass ([`Read::Whole`]), or in the
    /// second when the short path does not take it.
    packet: Packet,
}

/// How far the first pass read a packet.
#[derive(Clone, Copy)]
enum Read {
    /// A TCP or UDP packet read as far as its [`FlowTuple`], its lookup prepared:
    /// it may need no more (the short path).
    Tuple {
        prep: Prepared,
        tcp_flags: Option<TcpFlags>,
        first_octet: Option<u8>,
    },
    /// Decoded whole; its lookup prepared when it has a flow on a bridge.
    Whole(Option<Prepared>),
}

impl Read {
    fn prepared(&self) -> Option<&Prepared> {
        match self {
            Read::Tuple { prep, .. } | Read::Whole(Some(prep)) => Some(prep),
            Read::Whole(None) => None,
        }
    }
}

/// The per-packet analysis of one worker. Built on the main lcore (its flow
/// table is allocated there, once), then moved to the worker.
pub struct Analyzer {
    roles: [Option<PortRole>; MAX_PORTS],
    flows: FlowTable<AppState>,
    apps: Apps,
    counters: Arc<WorkerCounters>,
    housekeeping_every: u64,
    next_housekeeping: u64,
    /// Unix seconds at `now_tsc` (records are dated to the housekeeping tick).
    now_unix: u32,
    start_unix_secs: u64,
    start_tsc: u64,
    tsc_hz: u64,
    /// Reads the TSC, for the stage timings.
    clock: fn() -> u64,
    sample: u32,
    /// IP fragments waiting for the rest of their datagram.
    defrag: Defrag,
    /// The burst being analysed: how far the first pass read each packet
    /// (its tuple and prepared lookup, or all of it) and its summary.
    burst: Box<[Slot; BURST_SIZE]>,
    /// Where a new subscriber map appears, and the one in use (taken at
    /// housekeeping: one atomic load per millisecond, none per packet).
    subscribers: Option<SubscriberHandle>,
    logins: Logins,
    channels: Channels,
    radius: Option<RadiusQueue>,
    /// Where a new block list appears, and the policy in use (taken at
    /// housekeeping, like the map).
    block: Option<BlockHandle>,
    policy: Policy,
    /// The decision on the burst being analysed.
    verdict: Verdict,
}

impl Analyzer {
    /// `out`: where records go (`None`: parse nothing).
    pub fn new(
        cfg: &AnalyzerConfig,
        counters: Arc<WorkerCounters>,
        out: Option<RecordSender>,
    ) -> Analyzer {
        let mut roles = [None; MAX_PORTS];
        for (bridge, &(subscriber, internet)) in cfg.bridges.iter().enumerate() {
            let bridge = u16::try_from(bridge).unwrap_or(u16::MAX);
            for (port, subscriber) in [(subscriber, true), (internet, false)] {
                if let Some(role) = roles.get_mut(usize::from(port)) {
                    *role = Some(PortRole { bridge, subscriber });
                }
            }
        }
        let [tcp, tcp_closing, udp, other] = cfg.timeouts_secs;
        let timeouts = Timeouts {
            relink_after: cfg.tsc_hz / RELINK_HZ,
            ..Timeouts::from_secs(tcp, tcp_closing, udp, other, cfg.tsc_hz)
        };
        let ids = SessionIds::new(cfg.worker, cfg.start_unix_100ns);
        let start_unix_secs = cfg.start_unix_100ns / 10_000_000;
        Analyzer {
            roles,
            flows: FlowTable::new(cfg.flow_table_size, timeouts, ids),
            apps: Apps::new(cfg.apps, out),
            counters,
            housekeeping_every: (cfg.tsc_hz / HOUSEKEEPING_HZ).max(1),
            next_housekeeping: 0,
            now_unix: u32::try_from(start_unix_secs).unwrap_or(u32::MAX),
            start_unix_secs,
            start_tsc: cfg.start_tsc,
            tsc_hz: cfg.tsc_hz.max(1),
            clock: cfg.clock,
            sample: 0,
            defrag: Defrag::new(
                cfg.ip_fragment_slots,
                cfg.ip_fragment_slot_size,
                DEFAULT_TIMEOUT_SECS.saturating_mul(cfg.tsc_hz),
            ),
            burst: Box::new(
                [Slot {
                    read: Read::Whole(None),
                    packet: Packet::default(),
                }; BURST_SIZE],
            ),
            logins: Logins::new(
                cfg.subscribers
                    .as_ref()
                    .map_or_else(|| Arc::new(SubscriberMap::empty(1)), |h| h.load_full()),
                cfg.worker,
            ),
            subscribers: cfg.subscribers.clone(),
            channels: cfg.channels.clone(),
            radius: cfg.radius.clone(),
            policy: Policy::new(
                cfg.block
                    .as_ref()
                    .map_or_else(|| Arc::new(BlockList::default()), |h| h.load_full()),
                cfg.block_redirect_url.as_deref(),
            ),
            block: cfg.block.clone(),
            verdict: Verdict::default(),
        }
    }

    /// Bytes the flow table holds (fixed at creation).
    pub fn flow_table_bytes(&self) -> usize {
        self.flows.memory_bytes()
    }

    /// Bytes of the reassembly, QUIC and IP fragment pools (fixed at creation).
    pub fn app_pool_bytes(&self) -> usize {
        self.apps.memory_bytes() + self.defrag.memory_bytes()
    }

    fn publish(&self) {
        self.counters
            .flows
            .publish(self.flows.len(), &self.flows.stats());
        self.counters.defrag.publish(&self.defrag.stats());
    }
}

impl Inspect for Analyzer {
    /// Two passes over the burst: decode every packet and prepare its flow
    /// lookup (the reads of the flow table's memory overlap), then find the
    /// flows and run the parsers. One burst in STAGE_SAMPLE is timed stage by
    /// stage (a TSC read costs about as much as decoding a packet).
    fn inspect_burst(&mut self, port: u16, frames: &[&[u8]], now: u64) -> &Verdict {
        self.verdict.clear();
        self.sample = self.sample.wrapping_add(1);
        // One copy of the analysis for timed and untimed bursts: a copy run
        // only when timed would be cold, and time more than the others cost.
        let timed = self.sample.is_multiple_of(STAGE_SAMPLE);
        let clock = self.clock;
        let mut stages = [0u64; 3];
        if timed {
            self.apps.time_enqueue(Some(clock));
        }
        self.analyze(
            port,
            frames,
            now,
            &mut || if timed { clock() } else { 0 },
            &mut stages,
        );
        if timed {
            let enqueue = self.apps.time_enqueue(None);
            let c = &self.counters.stages;
            c.timed.add(frames.len().min(BURST_SIZE) as u64);
            c.decode.add(stages[0]);
            c.flow.add(stages[1]);
            c.parse.add(stages[2].saturating_sub(enqueue));
            c.enqueue.add(enqueue);
        }
        &self.verdict
    }

    fn tick(&mut self, now: u64) {
        self.housekeeping(now);
    }

    fn finish(&mut self, _now: u64) {
        // The summary's flow counts are those of the run; then every flow ends,
        // so that what its parser holds (a reply awaiting its certificate) is
        // given out.
        self.publish();
        let (apps, counters, logins) = (&mut self.apps, &self.counters, &self.logins);
        self.flows
            .end_all(|f, _| apps.end(&f.app, login_of(logins, f), &counters.app));
        self.apps.flush();
    }
}

impl Analyzer {
    /// Decode, flow, application for a burst: `clock` is read between the stages
    /// and the differences added to `stages` (a clock that reads 0 times nothing).
    #[inline(always)]
    fn analyze(
        &mut self,
        port: u16,
        frames: &[&[u8]],
        now: u64,
        clock: &mut impl FnMut() -> u64,
        stages: &mut [u64; 3],
    ) {
        let role = self.roles.get(usize::from(port)).copied().flatten();
        // Reused burst after burst: no per-burst initialisation of ~8 KiB.
        let slots = &mut *self.burst;
        let t0 = clock();
        for (frame, slot) in frames.iter().zip(slots.iter_mut()) {
            // A TCP or UDP packet read as far as its tuple: it may need no
            // more (the short path). RADIUS accounting is always read whole.
            // The slot is written where the tuple is read (`with_flow_tuple`):
            // each IP version and transport has its own straight path to it.
            if let Some(role) = role
                && let Some(true) = with_flow_tuple(
                    frame,
                    #[inline(always)]
                    |t| {
                        if self.radius.is_some() && radius_port(&t) {
                            return false;
                        }
                        slot.read = Read::Tuple {
                            prep: self.flows.prepare_tuple(&t, role.bridge),
                            tcp_flags: t.tcp_flags,
                            first_octet: t.first_octet,
                        };
                        true
                    },
                )
            {
                continue;
            }
            let packet = &mut slot.packet;
            decode_into(frame, packet);
            if let Some(stop) = packet.stop
                && let Some(c) = self.counters.decode_stops.get(stop.reason.index())
            {
                c.add(1);
            }
            slot.read = Read::Whole(role.and_then(|role| self.flows.prepare(packet, role.bridge)));
        }
        // The index slots are coming in: now the entries they point to.
        for slot in slots.iter().take(frames.len()) {
            if let Some(prep) = slot.read.prepared() {
                self.flows.prefetch_entry(prep);
            }
        }
        stages[0] = stages[0].wrapping_add(clock().wrapping_sub(t0));
        let Some(role) = role else {
            return;
        };
        let block = (&self.policy, &mut self.verdict);
        let mut short = 0u64;
        for (i, (frame, slot)) in frames.iter().zip(slots.iter_mut()).enumerate() {
            let t1 = clock();
            let packet = &mut slot.packet;
            let subs = Subscribers {
                logins: &mut self.logins,
                radius: self.radius.as_ref(),
                channels: &self.channels,
            };
            let prep = match &slot.read {
                Read::Whole(prep) => prep.as_ref(),
                Read::Tuple {
                    prep,
                    tcp_flags,
                    first_octet,
                } => {
                    let (apps, counters, logins) = (&mut self.apps, &self.counters, &*subs.logins);
                    let obs =
                        self.flows
                            .observe_flags(prep, *tcp_flags, role.subscriber, now, |f, _| {
                                apps.end(&f.app, login_of(logins, f), &counters.app)
                            });
                    let t2 = clock();
                    stages[1] = stages[1].wrapping_add(t2.wrapping_sub(t1));
                    let fin_or_rst =
                        tcp_flags.is_some_and(|f| f.intersects(TcpFlags::FIN.union(TcpFlags::RST)));
                    if obs
                        .short
                        .skips(*first_octet, fin_or_rst, obs.sender, || tcp_seq_end(frame))
                    {
                        short += 1;
                        continue;
                    }
                    // The parsers need the packet whole.
                    decode_into(frame, packet);
                    let t3 = clock();
                    stages[0] = stages[0].wrapping_add(t3.wrapping_sub(t2));
                    parse_observed(
                        (&mut self.flows, &mut self.apps, &self.counters, subs),
                        obs,
                        (packet, frame),
                        (i, Some(frame)),
                        (block.0, &mut *block.1),
                        role,
                        self.now_unix,
                        clock,
                        t3,
                        stages,
                    );
                    continue;
                }
            };
            if packet.is_fragment() {
                // Fragments are analysed once, whole: the datagram they complete.
                let Some(whole) = self.defrag.push(packet, frame, role.bridge, now) else {
                    continue;
                };
                let mut datagram = whole.packet;
                // The L2 view is the completing fragment's.
                datagram.ethernet = packet.ethernet;
                datagram.vlan = packet.vlan;
                datagram.ethertype = packet.ethertype;
                datagram.mpls = packet.mpls;
                datagram.pppoe = packet.pppoe;
                let prep = self.flows.prepare(&datagram, role.bridge);
                analyze_one(
                    (&mut self.flows, &mut self.apps, &self.counters, subs),
                    (&datagram, whole.datagram, prep.as_ref()),
                    (i, None),
                    (block.0, &mut *block.1),
                    role,
                    (now, self.now_unix),
                    clock,
                    t1,
                    stages,
                );
                continue;
            }
            analyze_one(
                (&mut self.flows, &mut self.apps, &self.counters, subs),
                (packet, frame, prep),
                (i, Some(frame)),
                (block.0, &mut *block.1),
                role,
                (now, self.now_unix),
                clock,
                t1,
                stages,
            );
        }
        self.counters.app.add(AppCount::ShortPathPackets, short);
    }

    /// Every millisecond: the clock of the records, flow expiry, records out, counters.
    fn housekeeping(&mut self, now: u64) {
        if now < self.next_housekeeping {
            return;
        }
        self.next_housekeeping = now.saturating_add(self.housekeeping_every);
        let secs = now.saturating_sub(self.start_tsc) / self.tsc_hz;
        self.now_unix = u32::try_from(self.start_unix_secs + secs).unwrap_or(u32::MAX);
        if let Some(h) = &self.subscribers {
            let current = h.load();
            if !Arc::ptr_eq(&current, self.logins.map()) {
                self.logins.take_map(arc_swap::Guard::into_inner(current));
            }
        }
        if let Some(h) = &self.block {
            let current = h.load();
            if !Arc::ptr_eq(&current, &self.policy.list) {
                self.policy.list = arc_swap::Guard::into_inner(current);
            }
        }
        let (apps, counters, logins) = (&mut self.apps, &self.counters, &self.logins);
        self.flows.expire(now, EXPIRE_BUDGET, |f, _| {
            apps.end(&f.app, login_of(logins, f), &counters.app)
        });
        self.apps.flush();
        self.publish();
    }
}

/// What a packet's analysis reads and updates about subscribers.
struct Subscribers<'a> {
    logins: &'a mut Logins,
    radius: Option<&'a RadiusQueue>,
    channels: &'a Channels,
}

/// What a packet's flow lookup and parsers work on: the table, the parsers,
/// the counters, the subscribers.
type Analysis<'a> = (
    &'a mut FlowTable<AppState>,
    &'a mut Apps,
    &'a WorkerCounters,
    Subscribers<'a>,
);

/// Flow lookup and application parsing of one packet (or reassembled datagram):
/// `bytes` are what the packet's offsets point into; `i` its place in the
/// burst and `frame` the frame it is (`None` for a datagram), for the verdict.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn analyze_one(
    (flows, apps, counters, subs): Analysis<'_>,
    (packet, bytes, prep): (&Packet, &[u8], Option<&Prepared>),
    (i, frame): (usize, Option<&[u8]>),
    block: (&Policy, &mut Verdict),
    role: PortRole,
    now: (u64, u32),
    clock: &mut impl FnMut() -> u64,
    t1: u64,
    stages: &mut [u64; 3],
) {
    let logins = &*subs.logins;
    let observed = flows.observe_prepared(prep, packet, role.subscriber, now.0, |f, _| {
        apps.end(&f.app, login_of(logins, f), &counters.app)
    });
    let t2 = clock();
    stages[1] = stages[1].wrapping_add(t2.wrapping_sub(t1));
    let Some(obs) = observed else {
        return;
    };
    parse_observed(
        (flows, apps, counters, subs),
        obs,
        (packet, bytes),
        (i, frame),
        block,
        role,
        now.1,
        clock,
        t2,
        stages,
    );
}

/// The parsers' part of [`analyze_one`], for a packet whose flow was found
/// (`obs`); `t2`: when it began, for the stage timing.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn parse_observed(
    (flows, apps, counters, subs): Analysis<'_>,
    obs: Observed,
    (packet, bytes): (&Packet, &[u8]),
    (i, frame): (usize, Option<&[u8]>),
    (policy, verdict): (&Policy, &mut Verdict),
    role: PortRole,
    now_unix: u32,
    clock: &mut impl FnMut() -> u64,
    t2: u64,
    stages: &mut [u64; 3],
) {
    // Without a list (the usual run) no flow is blocked: not even the flag is read.
    if !policy.list.is_empty()
        && let Some(flow) = flows.get_mut(obs.handle)
        && flow.app.blocked
    {
        let syn = packet
            .tcp()
            .is_some_and(|t| t.flags.contains(TcpFlags::SYN) && !t.flags.contains(TcpFlags::ACK));
        if !syn {
            counters.app.add(AppCount::BlockFlowDropped, 1);
            return verdict.drop_packet(i);
        }
        // The client's port opens a new connection: it is judged anew.
        flow.app.blocked = false;
        flow.short = apps.short_path(&flow.app, flow.client);
    }
    let payload = packet.payload(bytes);
    if let Some(queue) = subs.radius
        && let Transport::Udp(udp) = &packet.transport
        && accounting_ports(udp.src_port, udp.dst_port)
    {
        snoop_radius(payload, subs.logins, queue, &counters.subscribers);
    }
    let logins = &*subs.logins;
    let closing = match packet.transport {
        Transport::Tcp(tcp) if tcp.flags.intersects(TcpFlags::FIN.union(TcpFlags::RST)) => {
            Some(tcp.flags)
        }
        _ => None,
    };
    let seq_end = || {
        packet
            .tcp()
            .map_or(0, |t| t.seq.wrapping_add(payload.len() as u32))
    };
    if obs.short.skips(
        payload.first().copied(),
        closing.is_some(),
        obs.sender,
        seq_end,
    ) {
        return;
    }
    let Some(flow) = flows.get_mut(obs.handle) else {
        return;
    };
    // Looked up when the flow is new or the map changed; else read from the slot.
    let (login, lookup) = logins.refresh(&mut flow.login, || flow.key.endpoint(flow.subscriber).0);
    match lookup {
        Lookup::Kept => {}
        Lookup::Found => counters.subscribers.add(SubscriberCount::LookupsFound, 1),
        Lookup::NotFound => counters
            .subscribers
            .add(SubscriberCount::LookupsNotFound, 1),
    }
    if !payload.is_empty() {
        let seen = Seen {
            packet,
            payload,
            obs: &obs,
            bridge: role.bridge,
            channel: subs.channels.of(role.bridge, packet.vlan.outer),
            now_unix,
            login,
            from_client: obs.sender == flow.client,
            midstream: flow.client_rule == ClientRule::HigherPort,
        };
        if let Some(lock) = apps.payload(flow, &seen, counters, policy) {
            flow.app.blocked = true;
            policy.act(lock, (i, frame, packet), verdict, &counters.app);
        }
    }
    // A FIN or RST after its payload (if any): the sender's stream is over.
    if let Some(flags) = closing {
        apps.tcp_close(
            flow,
            obs.sender.index(),
            flags.contains(TcpFlags::RST),
            login,
            counters,
        );
    }
    flow.short = apps.short_path(&flow.app, flow.client);
    stages[2] = stages[2].wrapping_add(clock().wrapping_sub(t2));
}

/// A UDP packet to or from a RADIUS accounting port.
fn radius_port(t: &FlowTuple) -> bool {
    t.protocol == 17 && accounting_ports(t.sport, t.dport)
}

/// Either port is a RADIUS accounting port.
fn accounting_ports(sport: u16, dport: u16) -> bool {
    ACCOUNTING_PORTS.contains(&sport) || ACCOUNTING_PORTS.contains(&dport)
}

/// The login of a flow that ends (looked up if the view changed since).
fn login_of<'m>(logins: &'m Logins, f: &Flow<AppState>) -> &'m [u8] {
    logins.login_of(f.login, || f.key.endpoint(f.subscriber).0)
}

/// A datagram on a RADIUS accounting port: counted by type; a change of
/// bindings is used by this worker at once and sent to the main lcore.
#[cold]
fn snoop_radius(
    payload: &[u8],
    logins: &mut Logins,
    queue: &RadiusQueue,
    counters: &SubscriberCounters,
) {
    let req = match radius::parse(payload) {
        Ok(Message::Request(req)) => req,
        Ok(Message::Response) => return counters.add(SubscriberCount::RadiusResponses, 1),
        Err(_) => return counters.add(SubscriberCount::RadiusMalformed, 1),
    };
    let change = Change::of(&req);
    let kind = match (req.status, change.is_some()) {
        (Status::Start, true) => SubscriberCount::RadiusStart,
        (Status::InterimUpdate, true) => SubscriberCount::RadiusInterim,
        (Status::Stop, true) => SubscriberCount::RadiusStop,
        _ => SubscriberCount::RadiusOther,
    };
    counters.add(kind, 1);
    if let Some(change) = change
        && queue.push(logins.note(change)).is_err()
    {
        counters.add(SubscriberCount::RadiusQueueFull, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::defrag::{DEFAULT_SLOT_SIZE, DEFAULT_SLOTS};
    use crate::wire::StopReason;
    use metaprobe_ipfix::ring::RecordReceiver;

    const HZ: u64 = 1_000_000;

    fn analyzer() -> (Analyzer, Arc<WorkerCounters>) {
        let counters = Arc::new(WorkerCounters::default());
        (
            Analyzer::new(&config(), Arc::clone(&counters), None),
            counters,
        )
    }

    fn config() -> AnalyzerConfig {
        AnalyzerConfig {
            bridges: vec![(0, 1), (2, 3)],
            flow_table_size: 1024,
            timeouts_secs: [300, 5, 60, 30],
            tsc_hz: HZ,
            worker: 3,
            start_unix_100ns: 0,
            start_tsc: 0,
            clock: || 0,
            apps: AppConfig::default(),
            ip_fragment_slots: DEFAULT_SLOTS,
            ip_fragment_slot_size: DEFAULT_SLOT_SIZE,
            subscribers: None,
            channels: Channels::default(),
            radius: None,
            block: None,
            block_redirect_url: None,
        }
    }

    /// Ethernet + IPv4 + UDP from 10.0.0.1:`sport` to 10.0.0.2:53, 4 octets of payload.
    fn udp_frame(sport: u16, reverse: bool) -> Vec<u8> {
        udp_datagram(sport, 53, reverse, &[1, 2, 3, 4])
    }

    /// Ethernet + IPv4 + UDP from 10.0.0.1:`sport` to 10.0.0.2:`dport`
    /// (the other way when `reverse`) carrying `payload`.
    fn udp_datagram(sport: u16, dport: u16, reverse: bool, payload: &[u8]) -> Vec<u8> {
        let (a, b) = ([10, 0, 0, 1], [10, 0, 0, 2]);
        let (src, dst, sp, dp) = if reverse {
            (b, a, dport, sport)
        } else {
            (a, b, sport, dport)
        };
        let udp_len = (8 + payload.len()) as u16;
        let mut f = vec![0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x08, 0x00];
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&(20 + udp_len).to_be_bytes());
        f.extend_from_slice(&[0, 1, 0, 0, 64, 17, 0, 0]);
        f.extend_from_slice(&src);
        f.extend_from_slice(&dst);
        f.extend_from_slice(&sp.to_be_bytes());
        f.extend_from_slice(&dp.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.extend_from_slice(payload);
        f
    }

    /// An analyzer whose records go to a ring (drained by the test).
    fn recording(cfg: &AnalyzerConfig) -> (Analyzer, Arc<WorkerCounters>, RecordReceiver) {
        let (sender, receiver) = metaprobe_ipfix::ring::ring(metaprobe_ipfix::ring::RingConfig {
            ring_chunks: 8,
            chunk_bytes: 16 * 1024,
            record_limit: metaprobe_ipfix::encoder::record_limit_for_mtu(1500),
        });
        let counters = Arc::new(WorkerCounters::default());
        let a = Analyzer::new(cfg, Arc::clone(&counters), Some(sender));
        (a, counters, receiver)
    }

    #[test]
    fn an_unrecognised_flow_takes_the_short_path_but_for_what_may_start_tls() {
        let (mut a, counters, _rx) = recording(&config());
        let datagram = |first: u8| udp_datagram(40000, 9999, false, &[first, 0, 1, 2, 3, 4, 5, 6]);
        for now in 1..=10 {
            a.inspect(0, &datagram(0x42), now);
        }
        // Detection tries its budget of payload packets, then gives up.
        assert_eq!(counters.app.get(AppCount::FlowsUnrecognised), 1);
        let short = 10 - u64::from(crate::app::DETECT_PACKETS);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), short);
        // A segment that may start a ClientHello (TLS after a cleartext
        // start) is read whole; the next one is not.
        a.inspect(0, &datagram(0x16), 11);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), short);
        a.inspect(1, &udp_datagram(40000, 9999, true, &[0x17; 40]), 12);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), short + 1);
    }

    #[test]
    fn an_http_body_skipped_by_count_takes_the_short_path() {
        use metaprobe_test_support::loopback::tcp_frame;
        const ACK: u8 = 0x10;
        const PSH_ACK: u8 = 0x18;
        let cfg = AnalyzerConfig {
            apps: AppConfig {
                clickstream: true,
                http_replies: true,
                ..AppConfig::default()
            },
            ..config()
        };
        let (mut a, counters, _rx) = recording(&cfg);
        let (client, server) = ((40000, 80), (80, 40000));
        let (mut cseq, mut sseq) = (1000u32, 5000u32);
        a.inspect(0, &tcp_frame(client, cseq, 0, 0x02, b""), 1);
        a.inspect(1, &tcp_frame(server, sseq, cseq + 1, 0x12, b""), 2);
        (cseq, sseq) = (cseq + 1, sseq + 1);
        // Bare segments take the short path of a flow its parsers read.
        let handshake = counters.app.get(AppCount::ShortPathPackets);
        assert_eq!(handshake, 2);
        let mut now = 3;
        let mut exchange = |a: &mut Analyzer, path: &str, body: usize| {
            let request = format!("GET {path} HTTP/1.1\r\nHost: example.com\r\n\r\n");
            a.inspect(
                0,
                &tcp_frame(client, cseq, sseq, PSH_ACK, request.as_bytes()),
                now,
            );
            cseq += request.len() as u32;
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {body}\r\n\r\n");
            a.inspect(
                1,
                &tcp_frame(server, sseq, cseq, PSH_ACK, head.as_bytes()),
                now + 1,
            );
            sseq += head.len() as u32;
            for chunk in vec![b'x'; body].chunks(1400) {
                a.inspect(1, &tcp_frame(server, sseq, cseq, ACK, chunk), now + 2);
                sseq += chunk.len() as u32;
            }
            now += 3;
        };
        exchange(&mut a, "/big", 14_000);
        // Each body segment lies wholly before where the reply stream goes
        // on (the parser skipped the body by count): none is read whole.
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), handshake + 10);
        let records = counters.app.get(AppCount::Records);
        assert_eq!(
            records, 2,
            "the request's clickstream and the reply's record"
        );
        // The next request and reply on the connection are still read.
        exchange(&mut a, "/next", 2_800);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), handshake + 12);
        assert_eq!(counters.app.get(AppCount::Records), records + 2);
        // A retransmitted body segment skips too; one with a FIN does not.
        let late = tcp_frame(server, sseq - 1400, cseq, ACK, &[b'x'; 1400]);
        a.inspect(1, &late, now);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), handshake + 13);
        let closing = tcp_frame(server, sseq - 1400, cseq, ACK | 0x01, &[b'x'; 1400]);
        a.inspect(1, &closing, now + 1);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), handshake + 13);
    }

    #[test]
    fn a_quic_connection_rests_after_its_initials_and_a_new_one_wakes_it() {
        use metaprobe_test_support::capture::read_frames;
        let fixture = |name: &str| {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures")
                .join(name);
            read_frames(&path)
                .into_iter()
                .map(|f| f.data)
                .collect::<Vec<_>>()
        };
        let cfg = AnalyzerConfig {
            apps: AppConfig {
                tls_replies: true,
                ..AppConfig::default()
            },
            ..config()
        };
        let (mut a, counters, _rx) = recording(&cfg);
        let initial = fixture("quic_v1_ipv6_gstatic_1initial.pcap").remove(0);
        let p = crate::wire::decode(&initial);
        let at = p.payload.offset as usize;
        a.inspect(0, &initial, 1);
        assert_eq!(
            counters.app.get(AppCount::Records),
            1,
            "the ClientHello's record"
        );
        // 1-RTT packets (short headers) before any server Initial: the
        // ServerHello will not come, the slot goes back, counted.
        let mut one_rtt = initial.clone();
        one_rtt[at] = 0x41;
        for now in 2..=5 {
            a.inspect(0, &one_rtt, now);
        }
        assert_eq!(counters.app.get(AppCount::QuicInitialsUnfinished), 1);
        assert_eq!(counters.app.get(AppCount::ShortPathPackets), 3);
        assert_eq!(a.apps.pool_in_use().1, 0, "no QUIC slot held");
        // Another connection's Initial on the same 5-tuple is read.
        let other = fixture("quic_v1_chrome_meet_1initial.pcapng")
            .into_iter()
            .find_map(|f| {
                let q = crate::wire::decode(&f);
                let payload = q.payload(&f);
                (q.udp().is_some_and(|u| u.dst_port == 443)
                    && payload.first().is_some_and(|b| b & 0xc0 == 0xc0))
                .then(|| payload.to_vec())
            })
            .unwrap();
        let mut frame = initial[..at].to_vec();
        frame.extend_from_slice(&other);
        let l3 = p.l3_offset as usize;
        let udp_len = (8 + other.len()) as u16;
        frame[l3 + 4..l3 + 6].copy_from_slice(&udp_len.to_be_bytes());
        frame[at - 4..at - 2].copy_from_slice(&udp_len.to_be_bytes());
        a.inspect(0, &frame, 6);
        assert_eq!(
            counters.app.get(AppCount::Records),
            2,
            "the new connection's record"
        );
    }

    #[test]
    fn a_blocked_connection_drops_even_its_bare_acks() {
        use crate::block::inject::tests::{ETH, request_v4};
        use crate::table::{self, Table};
        let cfg = AnalyzerConfig {
            block: Some(table::handle(
                BlockList::parse("blocked.example\n", 1).unwrap(),
            )),
            ..config()
        };
        let mut a = Analyzer::new(&cfg, Arc::new(WorkerCounters::default()), None);
        let request = request_v4(&ETH, b"GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n");
        assert_eq!(a.inspect(0, &request, 1).drop, 1);
        let ack = request_v4(&ETH, b"");
        assert_eq!(
            a.inspect(0, &ack, 2).drop,
            1,
            "an ACK of the blocked connection"
        );
    }

    #[test]
    fn both_directions_make_one_flow_and_idle_flows_expire() {
        let (mut a, counters) = analyzer();
        a.inspect(0, &udp_frame(1000, false), 10);
        a.inspect(1, &udp_frame(1000, true), 20);
        a.inspect(0, &udp_frame(1001, false), 30);
        a.tick(100);
        assert_eq!(counters.flows.active.get(), 2);
        assert_eq!(counters.flows.created.get(), 2);
        // 60 s of UDP timeout later both are gone.
        a.tick(30 + 61 * HZ);
        assert_eq!(counters.flows.active.get(), 0);
        assert_eq!(counters.flows.expired_idle.get(), 2);
    }

    #[test]
    fn the_same_tuple_on_another_bridge_is_another_flow() {
        let (mut a, counters) = analyzer();
        a.inspect(0, &udp_frame(1000, false), 10);
        a.inspect(2, &udp_frame(1000, false), 10);
        a.finish(10);
        assert_eq!(counters.flows.active.get(), 2);
    }

    #[test]
    fn decode_stops_are_counted_by_reason() {
        let (mut a, counters) = analyzer();
        let mut arp = udp_frame(1000, false);
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        a.inspect(0, &arp, 1);
        a.inspect(0, &[0u8; 5], 1);
        let stopped: u64 = counters.decode_stops.iter().map(|c| c.get()).sum();
        assert_eq!(stopped, 2);
        let arp_reason = crate::wire::decode(&arp).stop.map(|s| s.reason);
        assert!(
            arp_reason.is_some_and(|r: StopReason| counters.decode_stops[r.index()].get() == 1)
        );
        a.finish(1);
        assert_eq!(
            counters.flows.untracked.get(),
            2,
            "no flow without an IP layer"
        );
    }

    #[test]
    fn one_packet_in_a_sample_is_timed_stage_by_stage() {
        static NOW: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let counters = Arc::new(WorkerCounters::default());
        let cfg = AnalyzerConfig {
            bridges: vec![(0, 1)],
            flow_table_size: 1024,
            timeouts_secs: [300, 5, 60, 30],
            tsc_hz: HZ,
            worker: 0,
            start_unix_100ns: 0,
            start_tsc: 0,
            // Each read advances 7 cycles: every stage of a timed (one-packet) burst takes 7.
            clock: || NOW.fetch_add(7, std::sync::atomic::Ordering::Relaxed) + 7,
            apps: AppConfig::default(),
            ip_fragment_slots: DEFAULT_SLOTS,
            ip_fragment_slot_size: DEFAULT_SLOT_SIZE,
            subscribers: None,
            channels: Channels::default(),
            radius: None,
            block: None,
            block_redirect_url: None,
        };
        let mut a = Analyzer::new(&cfg, Arc::clone(&counters), None);
        for i in 0..2 * STAGE_SAMPLE {
            a.inspect(0, &udp_frame(1000 + i as u16, false), 1);
        }
        let s = &counters.stages;
        assert_eq!(s.timed.get(), 2);
        // Decode twice a burst: the tuple before the lookup, the packet whole
        // after it (a new flow's payload goes to the parsers).
        assert_eq!((s.decode.get(), s.flow.get(), s.parse.get()), (28, 14, 14));
        assert_eq!(s.enqueue.get(), 0, "no record without an exporter");
    }

    #[test]
    fn a_listed_request_is_dropped_answered_and_its_connection_stays_blocked() {
        use crate::block::inject::tests::{ETH, request_v4};
        use crate::forward::Toward;
        use crate::table::{self, Table};
        let counters = Arc::new(WorkerCounters::default());
        let list = BlockList::parse("blocked.example\n", 1).unwrap();
        let cfg = AnalyzerConfig {
            block: Some(table::handle(list)),
            block_redirect_url: Some("http://stop.example/".into()),
            ..config()
        };
        let mut a = Analyzer::new(&cfg, Arc::clone(&counters), None);
        let other = request_v4(&ETH, b"GET / HTTP/1.1\r\nHost: other.example\r\n\r\n");
        let v = a.inspect(0, &other, 1);
        assert_eq!(
            (v.drop, v.has_frames()),
            (0, false),
            "an unlisted host passes"
        );
        let mut blocked = request_v4(&ETH, b"GET / HTTP/1.1\r\nHost: blocked.example\r\n\r\n");
        blocked[35] = 0x41; // another client port: another connection
        let v = a.inspect(0, &blocked, 2);
        assert_eq!(v.drop, 1);
        assert_eq!(v.frames(Toward::Back).count(), 1, "the 302");
        assert_eq!(v.frames(Toward::On).count(), 1, "the server's RST");
        // Its retransmission does not reach the server either.
        let v = a.inspect(0, &blocked, 3);
        assert_eq!((v.drop, v.has_frames()), (1, false));
        assert_eq!(counters.app.get(AppCount::BlockHttpRedirected), 1);
        assert_eq!(counters.app.get(AppCount::BlockFlowDropped), 1);
    }

    #[test]
    fn ports_outside_the_bridges_are_decoded_but_get_no_flow() {
        let (mut a, counters) = analyzer();
        a.inspect(7, &udp_frame(1000, false), 1);
        a.finish(1);
        assert_eq!(counters.flows.created.get(), 0);
    }
}
