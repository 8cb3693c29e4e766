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

mod base64;
pub mod dns;
pub mod ftp;
pub mod h323;
pub mod http;
pub mod mail;
pub mod nntp;
pub mod oscar;
mod pending;
mod pool;
pub mod quic;
pub mod raw;
mod record;
pub mod sip;
pub mod text;
pub mod tls;
pub mod xmpp;

use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::template::Record;

use core::convert::Infallible;

use crate::block::{Lock, Policy};
use crate::counters::{AppCount, AppCounters, WorkerCounters};
use crate::flow::{Endpoint, Flow, Observed, ShortPath};
use crate::reasm::{StreamPool, StreamRef};
use crate::wire::{Packet, Transport};
use raw::{MetaProto, Raw, RawSet};

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

/// Payload packets that match no signature a flow may show before detection
/// gives up on it; more on a flow picked up mid-stream, whose next message
/// start may be some segments away.
pub(crate) const DETECT_PACKETS: u8 = 4;
const DETECT_PACKETS_MIDSTREAM: u8 = 64;
/// First octets of a TCP end that detection accumulates (across segments cut
/// anywhere) before it decides on what it has.
const DETECT_OCTETS: usize = 512;

/// A signature's answer on the first octets of a direction: `Done` (this
/// protocol), `Incomplete` (a prefix of its signature: more octets decide) or
/// `NotThis`.
pub type Signature<S> = Outcome<S, Infallible>;

/// The registry: every protocol module, in detection order. Each module has a
/// `State` (per flow, `Copy`), a `Worker` (per worker), `detect`, `wanted`,
/// `raw`, `on_payload`, `on_close` and `on_end`; this generates the enum of
/// per-flow states, the per-worker set and the dispatch over them.
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

        impl AppProto {
            /// What the flow's raw metadata records say of it; `None` for a
            /// protocol that has none (spec §7 names the ones that do).
            pub fn raw(&self) -> Option<Raw> {
                match self {
                    $(AppProto::$variant(st) => $module::raw(st),)+
                    AppProto::Undecided | AppProto::Unknown => None,
                }
            }
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

        /// The first protocol, in registry order, whose signature `first`
        /// (the first octets of the packet's direction) matches — `Unknown`
        /// when the configuration does not want its records. `Incomplete`
        /// while a protocol before it could still match, unless `last`:
        /// then a prefix counts as no match.
        fn detect(seen: &Seen<'_>, first: &[u8], cfg: &AppConfig, last: bool) -> Signature<AppProto> {
            let mut waiting = false;
            $(
                match $module::detect(seen, first) {
                    Outcome::Done(st) if !waiting => {
                        return Outcome::Done(if $module::wanted(cfg) {
                            AppProto::$variant(st)
                        } else {
                            AppProto::Unknown
                        });
                    }
                    Outcome::Incomplete if !last => waiting = true,
                    Outcome::Done(_) | Outcome::Incomplete | Outcome::NotThis => {}
                    Outcome::Malformed(never) => match never {},
                }
            )+
            if waiting { Outcome::Incomplete } else { Outcome::NotThis }
        }

        fn dispatch(app: &mut AppState, w: &mut Workers, cx: &mut Cx<'_>, seen: &Seen<'_>) {
            let AppState { proto, ends, .. } = app;
            match proto {
                $(AppProto::$variant(st) => $module::on_payload(st, &mut w.$module, ends, cx, seen),)+
                AppProto::Undecided | AppProto::Unknown => {}
            }
        }

        fn close(app: &mut AppState, w: &mut Workers, cx: &mut Cx<'_>, how: Close) {
            let AppState { proto, ends, .. } = app;
            match proto {
                $(AppProto::$variant(st) => $module::on_close(st, &mut w.$module, ends, cx, how),)+
                AppProto::Undecided | AppProto::Unknown => {}
            }
        }

        fn end(app: &AppState, w: &mut Workers, cx: &mut Cx<'_>) {
            match &app.proto {
                $(AppProto::$variant(st) => $module::on_end(st, &mut w.$module, &app.ends, cx),)+
                AppProto::Undecided | AppProto::Unknown => {}
            }
        }
    };
}

// SIP before HTTP: a request line `INVITE sip:… SIP/2.0` is never HTTP's (and
// HTTP refuses a `sip:` target too, should a line outgrow SIP's wait).
protocols! {
    Dns => dns,
    Tls => tls,
    Quic => quic,
    Sip => sip,
    Ftp => ftp,
    Mail => mail,
    Nntp => nntp,
    H323 => h323,
    Xmpp => xmpp,
    Oscar => oscar,
    Http => http,
}

/// Which transport a packet rides on, for signatures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum L4 {
    Tcp,
    Udp,
}

/// A FIN or a RST of a TCP flow, as a protocol's `on_close` hears of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Close {
    /// The end that sent it ([`crate::flow::Endpoint::index`]).
    pub end: usize,
    /// A RST: neither end sends more.
    pub reset: bool,
}

/// What became of an end's stream when a segment was added ([`Cx::stream`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Segment {
    /// New contiguous octets to look at.
    Grew(StreamRef),
    /// Nothing new: a retransmission, a segment past a hole, an end given up.
    Nothing,
    /// The end's slot had been reclaimed for a newer stream (counted): what
    /// it held is gone, and this segment starts a new slot.
    Lost(StreamRef),
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
    /// The parser saw the connection agree to continue in TLS (FTP's `AUTH
    /// TLS` answered 234): a ClientHello that starts a client segment binds
    /// the flow to TLS, as on a flow no parser took (STARTTLS).
    tls_next: bool,
    /// Both ends done, but packets like this still go to the parser.
    wake: Option<Wake>,
}

/// The packets of a settled flow its parser still reads: those whose first
/// payload octet, masked with `mask`, is `value` (QUIC: a long header may
/// start a new connection on the 5-tuple).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Wake {
    mask: u8,
    value: u8,
}

impl Ends {
    /// Where `end`'s stream goes on while the end holds no reassembly slot and
    /// is not done: a segment wholly before it carries nothing its parser
    /// reads ([`Cx::stream`] gives nothing of it).
    fn ahead(&self, end: Endpoint) -> Option<u32> {
        let i = end.index();
        match (self.done.get(i), self.streams.get(i), self.next_seq.get(i)) {
            (Some(false), Some(None), Some(&next)) => next,
            _ => None,
        }
    }

    /// A parser of datagrams (no streams) is done with the flow until a packet
    /// like `wake` comes (`Some`), or reads every packet again (`None`).
    fn rest_until(&mut self, wake: Option<Wake>) {
        self.done = [wake.is_some(); 2];
        self.wake = wake;
    }

    /// The connection goes on in TLS from here (see `tls_next`).
    fn expect_tls(&mut self) {
        self.tls_next = true;
    }
}

/// What the application layer keeps in each flow (inline in the flow table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    pub proto: AppProto,
    ends: Ends,
    /// Payload packets seen while undecided.
    tries: u8,
    /// A request of the connection was blocked: its packets are dropped.
    pub blocked: bool,
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
    /// The meta stream has collectors: SIP, FTP and mail records (and raw ones) are wanted.
    pub meta: bool,
    /// `ipfix_meta_raw`: the protocols whose payload packets give raw records
    /// (wanted only with `meta`).
    pub raw: RawSet,
    /// `ipfix_meta_raw_max_bytes`: the longest RAW_DATA.
    pub raw_max_bytes: u16,
    /// FTP control connections parsed at once, per worker.
    pub ftp_slots: u32,
    /// FTP data connections announced and not yet seen, per worker.
    pub ftp_expected: u32,
    /// XMPP connections parsed at once, per worker.
    pub xmpp_slots: u32,
    /// SMTP, POP3 and IMAP connections parsed at once, per worker.
    pub mail_slots: u32,
    /// A block list is configured: HTTP, TLS and QUIC are parsed for it
    /// even when no stream wants their records.
    pub block: bool,
}

impl AppConfig {
    /// Raw records of protocol `p` go anywhere.
    pub fn wants_raw(&self, p: MetaProto) -> bool {
        self.meta && self.raw.contains(p)
    }
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
            meta: true,
            raw: RawSet::NONE,
            raw_max_bytes: 1400,
            ftp_slots: 1024,
            ftp_expected: 256,
            xmpp_slots: 1024,
            mail_slots: 256,
            block: false,
        }
    }
}

/// One packet of a flow, as the parsers see it.
pub struct Seen<'a> {
    pub packet: &'a Packet,
    pub payload: &'a [u8],
    pub obs: &'a Observed,
    pub bridge: u16,
    /// BRIDGE_CHANNEL_NUM of the packet (its vchannel, or `bridge`).
    pub channel: u16,
    pub now_unix: u32,
    /// The flow's subscriber login (empty: unknown).
    pub login: &'a [u8],
    /// The packet's sender is the flow's client.
    pub from_client: bool,
    /// A TCP flow whose handshake was not seen (picked up mid-stream, or
    /// after its entry was evicted): parsers find their place at the next
    /// segment that starts a message.
    pub midstream: bool,
}

impl<'a> Seen<'a> {
    /// The fields every record of this packet shares.
    fn common(&self) -> Option<Common<'a>> {
        Common::of(
            self.packet,
            self.obs,
            self.channel,
            self.now_unix,
            self.login,
        )
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

    /// The port of the flow's server end (where the client's packets go). A
    /// well-known port names the service only there: a client's source port
    /// can be any, and behind a CGNAT it is (an HTTP connection from port 5060
    /// is HTTP, not SIP).
    fn server_port(&self) -> u16 {
        let (sport, dport) = self.ports();
        if self.from_client { dport } else { sport }
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
    /// The flow's subscriber login (empty: unknown).
    login: &'a [u8],
    /// The end whose slot detection filled with this packet already.
    primed: Option<usize>,
    /// What is blocked (`None` outside a packet: closes and ends block nothing).
    policy: Option<&'a Policy>,
    /// A message of this packet was blocked.
    locked: Option<Lock>,
}

impl Cx<'_> {
    fn count(&self, what: AppCount) {
        self.counters.add(what, 1);
    }

    /// LOCKED of a message `judge` judges by the policy; a blocked message
    /// blocks its packet. (Fields, not `self`: a driver may hold the stream.)
    fn lock(
        locked: &mut Option<Lock>,
        policy: Option<&Policy>,
        judge: impl FnOnce(&Policy) -> Option<Lock>,
    ) -> u64 {
        let lock = policy.and_then(judge);
        *locked = locked.or(lock);
        Lock::field(lock)
    }

    /// LOCKED of a TLS or QUIC server name.
    fn lock_server_name(&mut self, name: &[u8]) -> u64 {
        Self::lock(&mut self.locked, self.policy, |p| p.server_name(name))
    }

    /// Hands a record to the export side, counting it or its drop; whether
    /// the export side took it.
    fn emit<R: Record>(&mut self, record: &R) -> bool {
        self.out.emit(record, self.counters)
    }

    /// Adds a TCP segment to `end`'s stream, opening a slot on first use (at
    /// the octet the parser wants next, when it said so).
    fn stream(&mut self, ends: &mut Ends, end: usize, seq: u32, payload: &[u8]) -> Segment {
        if ends.done.get(end).copied().unwrap_or(true) {
            return Segment::Nothing;
        }
        let Some(&held) = ends.streams.get(end) else {
            return Segment::Nothing;
        };
        let (r, lost) = match held {
            Some(r) if self.streams.is_live(r) => (r, false),
            _ => {
                let lost = held.is_some();
                let base = if lost {
                    // Reclaimed for a newer stream: what it held is gone.
                    self.count(AppCount::StreamsLost);
                    seq
                } else {
                    let next = ends.next_seq.get(end).copied().flatten().unwrap_or(seq);
                    // Wholly before where the stream goes on (a body the parser
                    // skipped ahead of): nothing to read, no slot to open.
                    let after = seq.wrapping_add(payload.len() as u32);
                    if !payload.is_empty() && next.wrapping_sub(after) < 1 << 31 {
                        return Segment::Nothing;
                    }
                    next
                };
                let reclaimed = self.streams.stats().reclaimed;
                let Some(r) = self.streams.open(base) else {
                    self.count(AppCount::StreamsExhausted);
                    self.finish_stream(ends, end);
                    return Segment::Nothing;
                };
                if self.streams.stats().reclaimed != reclaimed {
                    self.count(AppCount::StreamsReclaimed);
                }
                if let Some(slot) = ends.streams.get_mut(end) {
                    *slot = Some(r);
                }
                (r, lost)
            }
        };
        let grew = self.streams.push(r, seq, payload).grew || self.primed.take() == Some(end);
        match (lost, grew) {
            (true, _) => Segment::Lost(r),
            (false, true) => Segment::Grew(r),
            (false, false) => Segment::Nothing,
        }
    }

    /// [`Cx::stream`] for a protocol read line by line (FTP, mail): the line
    /// in progress of a reclaimed slot went with it, so reading goes on after
    /// the next line break (all of this segment when it has none).
    fn stream_of_lines(
        &mut self,
        ends: &mut Ends,
        end: usize,
        seq: u32,
        payload: &[u8],
    ) -> Option<StreamRef> {
        match self.stream(ends, end, seq, payload) {
            Segment::Grew(r) => Some(r),
            Segment::Nothing => None,
            Segment::Lost(r) => {
                let window = self.streams.contiguous(r);
                let skip = text::find_lf(window).map_or(window.len(), |i| i + 1);
                self.streams.consume(r, skip as u32);
                Some(r)
            }
        }
    }

    /// Adds a segment of a protocol whose writers start their messages at
    /// segment starts (XMPP stanzas, FLAP frames) to `end`'s stream; the
    /// stream to read, if it grew. `starts`: the segment starts with what
    /// begins a message. An end that is not `synced` to a message boundary
    /// (picked up mid-stream, its slot reclaimed) starts over at such a
    /// segment; so does an end whose segment lands past a hole (a segment
    /// the probe never saw, counted as `gaps`), rather than wait forever for
    /// octets that were lost before the probe.
    fn stream_from_starts(
        &mut self,
        ends: &mut Ends,
        (end, seq, payload): (usize, u32, &[u8]),
        starts: bool,
        synced: &mut bool,
        gaps: AppCount,
    ) -> Option<StreamRef> {
        if !*synced {
            if !starts {
                return None;
            }
            self.restart_stream(ends, end, seq);
            *synced = true;
        }
        match self.stream(ends, end, seq, payload) {
            Segment::Grew(r) => Some(r),
            Segment::Nothing if starts && self.past_hole(ends, end, seq) => {
                self.count(gaps);
                self.restart_stream(ends, end, seq);
                match self.stream(ends, end, seq, payload) {
                    Segment::Grew(r) => Some(r),
                    Segment::Nothing | Segment::Lost(_) => None,
                }
            }
            Segment::Nothing => None,
            // What the reclaimed slot held is gone; the new slot starts with
            // this segment, a message start or not.
            Segment::Lost(r) if starts => Some(r),
            Segment::Lost(_) => {
                *synced = false;
                self.restart_stream(ends, end, seq);
                None
            }
        }
    }

    /// `seq` lies past the octets `end`'s stream has so far: a segment before
    /// it was not seen (lost before the probe, or still to come).
    fn past_hole(&self, ends: &Ends, end: usize, seq: u32) -> bool {
        let next = match ends.streams.get(end).copied().flatten() {
            Some(r) if self.streams.is_live(r) => self
                .streams
                .base(r)
                .map(|b| b.wrapping_add(self.streams.contiguous(r).len() as u32)),
            _ => ends.next_seq.get(end).copied().flatten(),
        };
        next.is_some_and(|n| (1..1 << 31).contains(&seq.wrapping_sub(n)))
    }

    /// `end`'s stream starts over at `seq` (a parser found its place again):
    /// what its slot held is dropped.
    fn restart_stream(&mut self, ends: &mut Ends, end: usize, seq: u32) {
        if let Some(r) = ends.streams.get_mut(end).and_then(Option::take) {
            self.streams.close(r);
        }
        if let Some(next) = ends.next_seq.get_mut(end) {
            *next = Some(seq);
        }
        if let Some(done) = ends.done.get_mut(end) {
            *done = false;
        }
    }

    /// Gives `end`'s slot back when it holds nothing (the parser is between
    /// messages), remembering where the stream goes on.
    fn release_if_empty(&mut self, ends: &mut Ends, end: usize, r: StreamRef) {
        if !self.streams.contiguous(r).is_empty() {
            return;
        }
        if let Some(next) = ends.next_seq.get_mut(end) {
            *next = self.streams.base(r);
        }
        if let Some(slot) = ends.streams.get_mut(end).and_then(Option::take) {
            self.streams.close(slot);
        }
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

    /// Hands a record to the export side, counting it or its drop; whether
    /// the export side took it.
    fn emit<R: Record>(&mut self, record: &R, c: &AppCounters) -> bool {
        let Some(sender) = self.sender.as_mut() else {
            return false;
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
        pushed
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

    /// The flow's parsers are done with both ends and no raw record of its
    /// packets is wanted: they need the flow table alone (the short path of
    /// established bulk flows, e.g. TLS after its hellos).
    #[inline]
    pub fn settled(&self, app: &AppState) -> bool {
        app.ends.done == [true, true]
            && !app.ends.tls_next
            && !app
                .proto
                .raw()
                .is_some_and(|raw| self.cfg.wants_raw(raw.meta))
    }

    /// Which of the flow's next packets the parsers need ([`ShortPath`]): a
    /// settled flow's none (but those a [`Wake`] names); a flow no parser
    /// took, only TCP segments that may start a ClientHello (TLS after a
    /// cleartext start, see `payload`); a blocked flow's all (they are
    /// dropped); else those with payload, FIN or RST.
    /// `client`: the flow's client end.
    #[inline(always)]
    pub fn short_path(&self, app: &AppState, client: Endpoint) -> ShortPath {
        if app.blocked {
            ShortPath::NEVER
        } else if self.settled(app) {
            match app.ends.wake {
                Some(Wake { mask, value }) => ShortPath::unless(mask, value),
                None => ShortPath::ALWAYS,
            }
        } else if matches!(app.proto, AppProto::Unknown) && !app.ends.tls_next {
            if self.cfg.clickstream || self.cfg.block {
                ShortPath::unless(0xff, tls::CLIENT_HELLO_FIRST_OCTET)
            } else {
                ShortPath::ALWAYS
            }
        } else if let AppProto::Http(st) = &app.proto {
            http::short_path(st, &app.ends, client)
        } else {
            ShortPath::PAYLOAD
        }
    }

    /// Handles a packet with payload of a flow; the lock of a message in it
    /// that `policy` blocks.
    pub fn payload(
        &mut self,
        flow: &mut Flow<AppState>,
        seen: &Seen<'_>,
        c: &WorkerCounters,
        policy: &Policy,
    ) -> Option<Lock> {
        // `matches!`, not `==`: the derived equality is a call that compares states.
        if matches!(flow.app.proto, AppProto::Undecided)
            && let Some(st) = ftp::claim(&mut self.workers.ftp, seen)
        {
            // A data connection an FTP control connection announced: its
            // content is a file, whatever it looks like.
            c.app.add(AppCount::FtpDataBound, 1);
            flow.app.proto = AppProto::Ftp(st);
        }
        if (matches!(flow.app.proto, AppProto::Undecided | AppProto::Unknown)
            || flow.app.ends.tls_next)
            && (self.cfg.clickstream || self.cfg.block)
            && seen.transport() == Some(L4::Tcp)
            && seen.from_client
            && tls::starts_client_hello(seen.payload)
        {
            // TLS after a cleartext start (STARTTLS, STLS): the stream starts here.
            self.end(&flow.app, seen.login, &c.app);
            flow.app = AppState {
                proto: AppProto::Tls(tls::State::default()),
                blocked: flow.app.blocked,
                ..AppState::default()
            };
        }
        let primed = if matches!(flow.app.proto, AppProto::Undecided) {
            self.decide(&mut flow.app, seen, &c.app)
        } else {
            None
        };
        if let Some(raw) = flow.app.proto.raw()
            && self.cfg.wants_raw(raw.meta)
        {
            // The octets a signature waited for are in the deciding end's slot.
            let held = primed
                .and_then(|end| flow.app.ends.streams.get(end).copied().flatten())
                .and_then(|r| Some((self.streams.contiguous(r), self.streams.base(r)?)));
            let data = held.unwrap_or((seen.payload, seen.tcp_seq().unwrap_or(0)));
            let max = usize::from(self.cfg.raw_max_bytes);
            raw::emit(raw, seen, data, max, &mut self.out, &c.app);
        }
        let mut cx = Cx {
            cfg: &self.cfg,
            streams: &mut self.streams,
            out: &mut self.out,
            counters: &c.app,
            login: seen.login,
            primed,
            policy: Some(policy),
            locked: None,
        };
        dispatch(&mut flow.app, &mut self.workers, &mut cx, seen);
        cx.locked
    }

    /// Detection on an undecided flow's packet. A TCP end whose first octets
    /// are a prefix of a signature (a request cut after `GE`, a TLS record
    /// header after one octet) keeps them in its reassembly slot, and detection
    /// reads them joined with what follows, so a cut at any octet decides as
    /// the whole would. Returns the end whose slot already holds this packet
    /// (its driver must read it as new).
    fn decide(&mut self, app: &mut AppState, seen: &Seen<'_>, c: &AppCounters) -> Option<usize> {
        let end = seen.obs.sender.index();
        let mut held = app.ends.streams.get(end).copied().flatten();
        if let Some(r) = held
            && !self.streams.is_live(r)
        {
            // The first octets held went with a reclaimed slot.
            c.add(AppCount::StreamsLost, 1);
            self.release_first_octets(app, end);
            held = None;
        }
        let (verdict, primed) = match (seen.tcp_seq(), held) {
            (Some(seq), Some(r)) => {
                self.streams.push(r, seq, seen.payload);
                let first = self.streams.contiguous(r);
                let last = first.len() >= DETECT_OCTETS || self.streams.is_full(r);
                (detect(seen, first, &self.cfg, last), Some(end))
            }
            (Some(seq), None) => {
                let verdict = detect(seen, seen.payload, &self.cfg, false);
                if verdict == Outcome::Incomplete {
                    self.hold_first_octets(app, end, seq, seen.payload, c);
                }
                (verdict, None)
            }
            (None, _) => (detect(seen, seen.payload, &self.cfg, true), None),
        };
        match verdict {
            Outcome::Done(proto) => {
                app.proto = proto;
                if proto == AppProto::Unknown {
                    c.add(AppCount::FlowsNotWanted, 1);
                    self.release_first_octets(app, end);
                }
                primed
            }
            Outcome::Incomplete => None,
            Outcome::NotThis | Outcome::Malformed(_) => {
                self.release_first_octets(app, end);
                app.tries = app.tries.saturating_add(1);
                let budget = if seen.midstream {
                    DETECT_PACKETS_MIDSTREAM
                } else {
                    DETECT_PACKETS
                };
                if app.tries >= budget {
                    c.add(AppCount::FlowsUnrecognised, 1);
                    app.proto = AppProto::Unknown;
                }
                None
            }
        }
    }

    /// Keeps a segment that is a signature prefix as the end's first octets.
    fn hold_first_octets(
        &mut self,
        app: &mut AppState,
        end: usize,
        seq: u32,
        payload: &[u8],
        c: &AppCounters,
    ) {
        let Some(slot) = app.ends.streams.get_mut(end) else {
            return;
        };
        let reclaimed = self.streams.stats().reclaimed;
        let Some(r) = self.streams.open(seq) else {
            c.add(AppCount::StreamsExhausted, 1);
            return;
        };
        if self.streams.stats().reclaimed != reclaimed {
            c.add(AppCount::StreamsReclaimed, 1);
        }
        self.streams.push(r, seq, payload);
        *slot = Some(r);
    }

    fn release_first_octets(&mut self, app: &mut AppState, end: usize) {
        if let Some(r) = app.ends.streams.get_mut(end).and_then(Option::take) {
            self.streams.close(r);
        }
    }

    /// A FIN from `end`, or a RST: that end (both, for a RST) sends no more
    /// data, so its reassembly slot goes back now rather than when the flow
    /// leaves the table.
    pub fn tcp_close(
        &mut self,
        flow: &mut Flow<AppState>,
        end: usize,
        reset: bool,
        login: &[u8],
        c: &WorkerCounters,
    ) {
        let mut cx = Cx {
            cfg: &self.cfg,
            streams: &mut self.streams,
            out: &mut self.out,
            counters: &c.app,
            login,
            primed: None,
            policy: None,
            locked: None,
        };
        close(
            &mut flow.app,
            &mut self.workers,
            &mut cx,
            Close { end, reset },
        );
        let ends = &mut flow.app.ends;
        for e in 0..2 {
            if (e == end || reset)
                && let Some(r) = ends.streams.get_mut(e).and_then(Option::take)
            {
                self.streams.close(r);
                if let Some(d) = ends.done.get_mut(e) {
                    *d = true;
                }
            }
        }
    }

    /// A flow ended: its parser gives out what it holds, then its slots go back.
    /// `login`: the flow's subscriber login.
    pub fn end(&mut self, app: &AppState, login: &[u8], c: &AppCounters) {
        let mut cx = Cx {
            cfg: &self.cfg,
            streams: &mut self.streams,
            out: &mut self.out,
            counters: c,
            login,
            primed: None,
            policy: None,
            locked: None,
        };
        end(app, &mut self.workers, &mut cx);
        for r in app.ends.streams.iter().flatten() {
            self.streams.close(*r);
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn finished(proto: AppProto) -> AppState {
        AppState {
            proto,
            ends: Ends {
                done: [true, true],
                ..Ends::default()
            },
            ..AppState::default()
        }
    }

    #[test]
    fn a_flow_settles_when_both_ends_are_done_and_no_raw_record_is_wanted() {
        let quiet = Apps::new(AppConfig::default(), None);
        let tls = finished(AppProto::Tls(tls::State::default()));
        assert!(quiet.settled(&tls));
        // One end still parsed, or TLS still to come after a cleartext start: not settled.
        let mut half = tls;
        half.ends.done = [true, false];
        assert!(!quiet.settled(&half));
        let mut starttls = tls;
        starttls.ends.expect_tls();
        assert!(!quiet.settled(&starttls));
        // Raw records of FTP's packets are wanted: every packet still makes one.
        let ftp = finished(AppProto::Ftp(ftp::State::default()));
        assert!(quiet.settled(&ftp));
        let raw = Apps::new(
            AppConfig {
                meta: true,
                raw: RawSet::NONE.with(MetaProto::Ftp),
                ..AppConfig::default()
            },
            None,
        );
        assert!(!raw.settled(&ftp));
        assert!(raw.settled(&tls));
    }

    #[test]
    fn the_short_path_follows_what_the_parsers_still_want() {
        let apps = Apps::new(AppConfig::default(), None);
        let tls = finished(AppProto::Tls(tls::State::default()));
        assert_eq!(apps.short_path(&tls, Endpoint::Lo), ShortPath::ALWAYS);
        assert_eq!(
            apps.short_path(&AppState::default(), Endpoint::Lo),
            ShortPath::PAYLOAD,
            "undecided"
        );
        let mut half = tls;
        half.ends.done = [true, false];
        assert_eq!(apps.short_path(&half, Endpoint::Lo), ShortPath::PAYLOAD);
        let blocked = AppState {
            blocked: true,
            ..tls
        };
        assert_eq!(apps.short_path(&blocked, Endpoint::Lo), ShortPath::NEVER);
        // A QUIC connection at rest wakes for a long header.
        let mut quic = AppState {
            proto: AppProto::Quic(quic::State::default()),
            ..AppState::default()
        };
        quic.ends.rest_until(Some(Wake {
            mask: 0x80,
            value: 0x80,
        }));
        let rest = apps.short_path(&quic, Endpoint::Lo);
        assert_eq!(rest, ShortPath::unless(0x80, 0x80));
        assert!(
            rest.skips(Some(0x41), false, Endpoint::Lo, || 0)
                && !rest.skips(Some(0xc3), false, Endpoint::Lo, || 0)
        );
        quic.ends.rest_until(None);
        assert_eq!(apps.short_path(&quic, Endpoint::Lo), ShortPath::PAYLOAD);
        // No parser took the flow: only what may start a ClientHello is read,
        // and not even that when no TLS record is wanted.
        let unknown = AppState {
            proto: AppProto::Unknown,
            ..AppState::default()
        };
        let short = apps.short_path(&unknown, Endpoint::Lo);
        assert!(
            short.skips(Some(0x17), true, Endpoint::Lo, || 0)
                && !short.skips(Some(0x16), false, Endpoint::Lo, || 0)
        );
        let quiet = Apps::new(
            AppConfig {
                clickstream: false,
                ..AppConfig::default()
            },
            None,
        );
        assert_eq!(quiet.short_path(&unknown, Endpoint::Lo), ShortPath::ALWAYS);
        assert!(
            ShortPath::ALWAYS.skips(Some(0), true, Endpoint::Lo, || 0)
                && ShortPath::ALWAYS.skips(None, true, Endpoint::Lo, || 0)
        );
        // Without a short path, a bare ACK still needs nothing; a FIN does.
        assert!(ShortPath::PAYLOAD.skips(None, false, Endpoint::Lo, || 0));
        assert!(
            !ShortPath::PAYLOAD.skips(None, true, Endpoint::Lo, || 0)
                && !ShortPath::PAYLOAD.skips(Some(0), false, Endpoint::Lo, || 0)
        );
        assert!(
            !ShortPath::NEVER.skips(None, false, Endpoint::Lo, || 0)
                && !ShortPath::NEVER.skips(Some(1), false, Endpoint::Lo, || 0)
        );
        // Segments of one end wholly before where its stream goes on (across
        // the wrap of sequence numbers): not those reaching past it, not the
        // other end's, not a FIN or RST.
        let body = ShortPath::PAYLOAD.skipping_before(Endpoint::Hi, 10);
        let hi = |seq_end: u32| body.skips(Some(b'x'), false, Endpoint::Hi, || seq_end);
        assert!(hi(10) && hi(9) && hi(u32::MAX - 100) && !hi(11) && !hi(1 << 31));
        assert!(!body.skips(Some(b'x'), false, Endpoint::Lo, || 5));
        assert!(!body.skips(Some(b'x'), true, Endpoint::Hi, || 5));
    }
}
