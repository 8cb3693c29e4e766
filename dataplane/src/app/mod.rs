//! The application layer of a worker: which protocol a flow speaks, and one
//! home per protocol.
//!
//! Each protocol is a folder `app/<proto>/`: its `mod.rs` holds the detection
//! signature, the per-flow `State`, the per-worker `Worker` (pools, scratch
//! buffers) and the driver (`on_payload`, `on_end`); its grammar files are
//! pure functions over bytes that read through the one cursor,
//! [`metaprobe_ipfix::codec::Reader`], and answer streaming results with the
//! one [`Outcome`]. What stays here is central: the registry (the detection
//! order), the dispatch, the context a driver gets ([`Cx`]: the stream pool,
//! the record sink, the counters, the configuration) and the fields every
//! record shares ([`record::Common`]).
//!
//! Adding a protocol: a folder with those four items, one line in
//! [`protocols!`]'s invocation below, and its counters as rows of
//! [`crate::counters::AppCount`] (see `docs/dataplane.md`).

pub mod dns;
pub mod http;
pub mod quic;
mod record;
pub mod tls;

use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::template::Record;

use crate::counters::{AppCount, AppCounters, WorkerCounters};
use crate::flow::{Flow, Observed};
use crate::reasm::{StreamPool, StreamRef};
use crate::wire::{Packet, Transport};

pub use record::Common;

/// What a streaming parser made of the octets it was given so far.
///
/// `Incomplete` and `Malformed` differ the way rustls' deframer separates
/// "need more" from "invalid": the first waits for the next segment, the
/// second gives the message (or the stream) up and counts why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome<T, R> {
    /// A whole message was read: what it says.
    Done(T),
    /// The message goes on past the end of the input: call again with more.
    Incomplete,
    /// These octets are not (or no longer) this protocol.
    NotThis,
    /// This protocol, but broken: why.
    Malformed(R),
}

impl<T, R> Outcome<T, R> {
    /// The message, when one was read.
    pub fn done(self) -> Option<T> {
        match self {
            Outcome::Done(t) => Some(t),
            Outcome::Incomplete | Outcome::NotThis | Outcome::Malformed(_) => None,
        }
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Outcome<U, R> {
        match self {
            Outcome::Done(t) => Outcome::Done(f(t)),
            Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(r) => Outcome::Malformed(r),
        }
    }

    pub fn map_reason<S>(self, f: impl FnOnce(R) -> S) -> Outcome<T, S> {
        match self {
            Outcome::Done(t) => Outcome::Done(t),
            Outcome::Incomplete => Outcome::Incomplete,
            Outcome::NotThis => Outcome::NotThis,
            Outcome::Malformed(r) => Outcome::Malformed(f(r)),
        }
    }
}

/// Payload packets a flow may show before detection gives up on it.
const DETECT_PACKETS: u8 = 4;

/// The registry: every protocol module, in detection order. Each module has a
/// `State` (per flow, `Copy`), a `Worker` (per worker), `detect`, `wanted`,
/// `on_payload` and `on_end`; this generates the enum of per-flow states, the
/// per-worker set and the dispatch over them.
macro_rules! protocols {
    ($($variant:ident => $module:ident,)+) => {
        /// The parser a flow is bound to, with the parser's own per-flow state.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub enum AppProto {
            /// No payload seen yet.
            #[default]
            Undecided,
            $($variant($module::State),)+
            /// No parser wants it.
            Unknown,
        }

        /// Every protocol's per-worker state (pools, scratch buffers).
        struct Workers {
            $($module: $module::Worker,)+
        }

        impl Workers {
            fn new(cfg: &AppConfig) -> Workers {
                Workers { $($module: $module::Worker::new(cfg),)+ }
            }

            fn memory_bytes(&self) -> usize {
                0 $(+ self.$module.memory_bytes())+
            }
        }

        /// The first protocol whose signature the packet matches, if the
        /// configuration wants its records; `Undecided` when none matches yet.
        fn detect(seen: &Seen<'_>, cfg: &AppConfig) -> AppProto {
            $(
                if let Some(st) = $module::detect(seen) {
                    return if $module::wanted(cfg) { AppProto::$variant(st) } else { AppProto::Unknown };
                }
            )+
            AppProto::Undecided
        }

        fn dispatch(app: &mut AppState, w: &mut Workers, cx: &mut Cx<'_>, seen: &Seen<'_>) {
            let AppState { proto, ends, .. } = app;
            match proto {
                $(AppProto::$variant(st) => $module::on_payload(st, &mut w.$module, ends, cx, seen),)+
                AppProto::Undecided | AppProto::Unknown => {}
            }
        }

        fn end(proto: &AppProto, w: &mut Workers) {
            match proto {
                $(AppProto::$variant(st) => $module::on_end(st, &mut w.$module),)+
                AppProto::Undecided | AppProto::Unknown => {}
            }
        }
    };
}

protocols! {
    Dns => dns,
    Tls => tls,
    Quic => quic,
    Http => http,
}

/// Which transport a packet rides on, for signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp,
    Udp,
}

/// The generic per-flow part of the application state: each end's
/// reassembly slot and progress ([`crate::flow::Endpoint::index`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ends {
    /// Reassembly slot of each end's stream.
    streams: [Option<StreamRef>; 2],
    /// Each end's messages were parsed or given up: its payload is ignored.
    done: [bool; 2],
    /// Sequence number of the next octet each end's parser wants, kept while
    /// the end holds no reassembly slot (between messages, or across a skipped body).
    next_seq: [Option<u32>; 2],
}

/// What the application layer keeps in each flow (inline in the flow table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    pub proto: AppProto,
    ends: Ends,
    /// Payload packets seen while undecided.
    tries: u8,
}

/// What the application layer needs from the configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppConfig {
    /// The clickstream stream has collectors: HTTP/TLS/QUIC records are wanted.
    pub clickstream: bool,
    /// DNS records are wanted (collectors or the text log).
    pub dns: bool,
    /// `ssl_parse_reply`: TLS reply records.
    pub tls_replies: bool,
    /// `http_parse_reply`: HTTP reply records.
    pub http_replies: bool,
    /// Reassembly slots and their size (octets) per worker.
    pub stream_slots: u32,
    pub stream_slot_size: u32,
    /// QUIC connections whose ClientHello may be incomplete at once, per worker.
    pub quic_slots: u32,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            clickstream: true,
            dns: true,
            tls_replies: false,
            http_replies: false,
            stream_slots: 4096,
            stream_slot_size: 4096,
            quic_slots: 256,
        }
    }
}

/// One packet of a flow, as the parsers see it.
pub struct Seen<'a> {
    pub packet: &'a Packet,
    pub payload: &'a [u8],
    pub obs: &'a Observed,
    pub bridge: u16,
    pub now_unix: u32,
    /// The packet's sender is the flow's client.
    pub from_client: bool,
}

impl Seen<'_> {
    /// The fields every record of this packet shares.
    fn common(&self) -> Option<Common> {
        Common::of(self.packet, self.obs, self.bridge, self.now_unix)
    }

    fn transport(&self) -> Option<L4> {
        match self.packet.transport {
            Transport::Tcp(_) => Some(L4::Tcp),
            Transport::Udp(_) => Some(L4::Udp),
            _ => None,
        }
    }

    /// Source and destination port of this packet (a flow has both).
    fn ports(&self) -> (u16, u16) {
        self.packet.ports().unwrap_or((0, 0))
    }

    /// The TCP sequence number of this segment, for TCP packets.
    fn tcp_seq(&self) -> Option<u32> {
        match self.packet.transport {
            Transport::Tcp(tcp) => Some(tcp.seq),
            _ => None,
        }
    }
}

/// What a protocol's driver works with besides its own state.
pub struct Cx<'a> {
    pub cfg: &'a AppConfig,
    streams: &'a mut StreamPool,
    out: &'a mut Output,
    counters: &'a AppCounters,
}

impl Cx<'_> {
    fn count(&self, what: AppCount) {
        self.counters.add(what, 1);
    }

    /// Hands a record to the export side, counting it or its drop.
    fn emit<R: Record>(&mut self, record: &R) {
        self.out.emit(record, self.counters);
    }

    /// Adds a TCP segment to `end`'s stream, opening it on first use; the
    /// stream's slot when it has new contiguous bytes to look at.
    fn stream(
        &mut self,
        ends: &mut Ends,
        end: usize,
        seq: u32,
        payload: &[u8],
    ) -> Option<StreamRef> {
        if ends.done.get(end).copied().unwrap_or(true) {
            return None;
        }
        let slot = ends.streams.get_mut(end)?;
        let r = match *slot {
            Some(r) => r,
            None => {
                let Some(r) = self.streams.open(seq) else {
                    self.count(AppCount::StreamsExhausted);
                    if let Some(d) = ends.done.get_mut(end) {
                        *d = true;
                    }
                    return None;
                };
                *slot = Some(r);
                r
            }
        };
        self.streams.push(r, seq, payload).grew.then_some(r)
    }

    /// `end`'s message was handled: its slot goes back, its payload is ignored.
    fn finish_stream(&mut self, ends: &mut Ends, end: usize) {
        if let Some(r) = ends.streams.get_mut(end).and_then(Option::take) {
            self.streams.close(r);
        }
        if let Some(d) = ends.done.get_mut(end) {
            *d = true;
        }
    }
}

/// Where records go, and the cycles spent handing them over while timed.
struct Output {
    sender: Option<RecordSender>,
    /// Reads the TSC while a sampled burst is timed.
    clock: Option<fn() -> u64>,
    cycles: u64,
}

impl Output {
    /// Records go anywhere (a run without collectors has no sender).
    fn exporting(&self) -> bool {
        self.sender.is_some()
    }

    /// Hands a record to the export side, counting it or its drop.
    fn emit<R: Record>(&mut self, record: &R, c: &AppCounters) {
        let Some(sender) = self.sender.as_mut() else {
            return;
        };
        let start = self.clock.map_or(0, |clock| clock());
        let pushed = sender.push(record);
        if let Some(clock) = self.clock {
            self.cycles = self.cycles.wrapping_add(clock().wrapping_sub(start));
        }
        c.add(
            if pushed {
                AppCount::Records
            } else {
                AppCount::RecordsDropped
            },
            1,
        );
    }
}

/// Per-worker application state outside the flow table: buffers, pools, the
/// record sender.
pub struct Apps {
    cfg: AppConfig,
    streams: StreamPool,
    workers: Workers,
    out: Output,
}

impl Apps {
    pub fn new(cfg: AppConfig, out: Option<RecordSender>) -> Apps {
        Apps {
            cfg,
            streams: StreamPool::new(cfg.stream_slots, cfg.stream_slot_size),
            workers: Workers::new(&cfg),
            out: Output {
                sender: out,
                clock: None,
                cycles: 0,
            },
        }
    }

    /// Bytes of the pools (fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.streams.memory_bytes() + self.workers.memory_bytes()
    }

    /// Handles a packet with payload of a flow.
    pub fn payload(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &WorkerCounters) {
        if matches!(flow.app.proto, AppProto::Undecided | AppProto::Unknown)
            && self.cfg.clickstream
            && seen.transport() == Some(L4::Tcp)
            && seen.from_client
            && tls::starts_client_hello(seen.payload)
        {
            // TLS after a cleartext start (STARTTLS, STLS): the stream starts here.
            self.end(&flow.app);
            flow.app = AppState {
                proto: AppProto::Tls(tls::State::default()),
                ..AppState::default()
            };
        }
        let app = &mut flow.app;
        if app.proto == AppProto::Undecided {
            app.proto = detect(seen, &self.cfg);
            app.tries = app.tries.saturating_add(1);
            if app.proto == AppProto::Undecided && app.tries >= DETECT_PACKETS {
                app.proto = AppProto::Unknown;
            }
        }
        let mut cx = Cx {
            cfg: &self.cfg,
            streams: &mut self.streams,
            out: &mut self.out,
            counters: &c.app,
        };
        dispatch(app, &mut self.workers, &mut cx, seen);
    }

    /// A flow ended: give back what it holds.
    pub fn end(&mut self, app: &AppState) {
        for r in app.ends.streams.iter().flatten() {
            self.streams.close(*r);
        }
        end(&app.proto, &mut self.workers);
    }

    /// Hands the records so far to the export side.
    pub fn flush(&mut self) {
        if let Some(sender) = self.out.sender.as_mut() {
            sender.flush();
        }
    }

    /// Times the hand-off of records (encoding into the chunk, the ring) with
    /// `clock`, or stops timing it with `None`; returns the cycles timed so far.
    pub fn time_enqueue(&mut self, clock: Option<fn() -> u64>) -> u64 {
        self.out.clock = clock;
        std::mem::take(&mut self.out.cycles)
    }

    /// Reassembly slots and QUIC connection slots in use.
    pub fn pool_in_use(&self) -> (usize, usize) {
        (self.streams.in_use(), self.workers.quic.in_use())
    }
}
