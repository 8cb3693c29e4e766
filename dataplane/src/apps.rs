//! The application layer of a worker: binds each flow to a parser, feeds the
//! parser its payload (TCP through bounded reassembly), and turns what the
//! parser finds into export records.
//!
//! Binding is by a registry ([`DETECTORS`]): each entry names a parser, the
//! transport it runs on and a cheap test of the ports and first payload. A new
//! parser is a module in `app/`, one entry here and one arm in
//! [`Apps::payload`].

use metaprobe_ipfix::field::{IpPair, Mac, Octets, Text};
use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::template::{Clickstream, Dns, HttpReply, Record, TlsReply};

use crate::app::dns::{Answers, DnsError, RecordBuf};
use crate::app::http::{self, Direction, HttpState, Reply, Request, Want};
use crate::app::quic::{self, QuicInitialState, QuicStatus};
use crate::app::tls::{self, ClientHello, ServerFlight, ServerHello, Status};
use crate::counters::{AppCounters, WorkerCounters};
use crate::flow::{Flow, Observed};
use crate::reasm::{StreamPool, StreamRef};
use crate::wire::{Packet, Transport};

/// Payload packets a flow may show before detection gives up on it.
const DETECT_PACKETS: u8 = 4;
/// HOST_TYPE of clickstream records (spec §4).
const HOST_HTTP: u8 = 1;
const HOST_CNAME: u8 = 2;
const HOST_SNI: u8 = 3;
const HOST_QUIC: u8 = 4;
/// MPLS label stack entries a record carries (the decoder keeps as many).
const MPLS_OCTETS: usize = 4 * crate::wire::MPLS_CAP;
/// COOKIE octets a record carries (several Cookie lines joined).
const COOKIE_CAP: usize = 4096;

/// The parser a flow is bound to, with the parser's own per-flow state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppProto {
    /// No payload seen yet.
    #[default]
    Undecided,
    Dns,
    Tls {
        /// The ClientHello had no server name (the certificate's CN names the
        /// host): its packet's source and destination MAC, for that record.
        no_sni: Option<[Mac; 2]>,
    },
    Quic {
        /// The connection state slot while its ClientHello is incomplete and,
        /// with `ssl_parse_reply`, until the server's ServerHello is parsed.
        slot: Option<u32>,
        /// Hash of the first DCID of the connection already reported.
        reported: Option<u64>,
        /// Hash of the server's connection id of that connection (the DCID of
        /// the client's Initials after the server's first).
        server_cid: Option<u64>,
    },
    Http(HttpState),
    /// No parser wants it.
    Unknown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum L4 {
    Tcp,
    Udp,
}

/// A registry entry: `proto` takes a flow on `transport` whose first payload
/// `detect` accepts (ports as seen in that packet, source first).
struct Detector {
    proto: AppProto,
    transport: L4,
    detect: fn(u16, u16, &[u8]) -> bool,
}

/// The parsers, tried in order on a flow's first payloads.
const DETECTORS: &[Detector] = &[
    Detector {
        proto: AppProto::Dns,
        transport: L4::Udp,
        detect: is_dns_port,
    },
    Detector {
        proto: AppProto::Dns,
        transport: L4::Tcp,
        detect: is_dns_port,
    },
    Detector {
        proto: AppProto::Tls { no_sni: None },
        transport: L4::Tcp,
        detect: is_tls_handshake,
    },
    Detector {
        proto: AppProto::Quic {
            slot: None,
            reported: None,
            server_cid: None,
        },
        transport: L4::Udp,
        detect: is_quic_initial,
    },
    Detector {
        proto: AppProto::Http(HttpState::new()),
        transport: L4::Tcp,
        detect: is_http_request,
    },
];

fn is_http_request(_: u16, _: u16, p: &[u8]) -> bool {
    http::looks_like_request(p)
}

fn is_dns_port(sport: u16, dport: u16, _: &[u8]) -> bool {
    sport == 53 || dport == 53
}

/// A TLS handshake record header: type 22, version 3.x.
fn is_tls_handshake(_: u16, _: u16, p: &[u8]) -> bool {
    matches!(p, [22, 3, minor, ..] if *minor <= 4)
}

/// A TLS handshake record starting with a ClientHello (type 1).
fn starts_client_hello(p: &[u8]) -> bool {
    matches!(p, [22, 3, minor, _, _, 1, ..] if *minor <= 4)
}

/// A QUIC long-header Initial of version 1 or 2.
fn is_quic_initial(_: u16, _: u16, p: &[u8]) -> bool {
    quic::initial_dcid(p).is_some()
}

/// What the application layer keeps in each flow (inline in the flow table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AppState {
    pub proto: AppProto,
    /// Reassembly slot of each end's stream ([`Endpoint::index`]).
    streams: [Option<StreamRef>; 2],
    /// Each end's messages were parsed or given up: its payload is ignored.
    done: [bool; 2],
    /// Payload packets seen while undecided.
    tries: u8,
    /// HTTP: sequence number of the next octet each end's parser wants, kept while
    /// the end holds no reassembly slot (between messages, or across a skipped body).
    next_seq: [Option<u32>; 2],
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

/// The fields every record of a packet shares (spec §3).
struct Common {
    time_stamp: u32,
    addrs: IpPair,
    sport: u16,
    dport: u16,
    session_id: u64,
    bridge: u16,
    vlan: u16,
    post_vlan: u16,
    src_mac: Mac,
    dst_mac: Mac,
    mpls: [u8; MPLS_OCTETS],
    mpls_len: usize,
}

impl Common {
    fn of(p: &Packet, obs: &Observed, bridge: u16, now_unix: u32) -> Option<Common> {
        let (src, dst) = (p.src_addr()?, p.dst_addr()?);
        let (sport, dport) = p.ports().unwrap_or((0, 0));
        let eth = p.ethernet;
        let mut mpls = [0u8; MPLS_OCTETS];
        let mut mpls_len = 0;
        for (e, slot) in p.mpls.entries().iter().zip(mpls.chunks_exact_mut(4)) {
            slot.copy_from_slice(&e.0.to_be_bytes());
            mpls_len += 4;
        }
        Some(Common {
            time_stamp: now_unix,
            addrs: IpPair::new(src, dst),
            sport,
            dport,
            session_id: obs.session_id.0,
            bridge,
            vlan: p.vlan.outer.map_or(0, |t| t.id.value()),
            post_vlan: p.vlan.inner.map_or(0, |t| t.id.value()),
            src_mac: eth.map_or([0; 6], |e| e.src.octets()),
            dst_mac: eth.map_or([0; 6], |e| e.dst.octets()),
            mpls,
            mpls_len,
        })
    }

    fn mpls(&self) -> Octets<'_> {
        Octets(self.mpls.get(..self.mpls_len).unwrap_or(&[]))
    }

    /// The TLS reply record of a ServerHello (spec §6); `cname`, the server
    /// certificate's subject CN when it was visible (type_host 2), else 0 / empty.
    fn tls_reply<'a>(&'a self, hello: &ServerHello, cname: Option<&'a [u8]>) -> TlsReply<'a> {
        TlsReply {
            time_stamp: self.time_stamp,
            login: Text::EMPTY,
            addrs: self.addrs,
            session_id: self.session_id,
            ssl_version: hello.version,
            cipher_suite: hello.cipher_suite,
            compression_method: hello.compression_method,
            bridge_channel_num: self.bridge,
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            host_type: if cname.is_some() { HOST_CNAME } else { 0 },
            cname: Text::new(cname.unwrap_or_default()),
            ..Default::default()
        }
    }

    fn clickstream<'a>(&'a self, host: &'a [u8], host_type: u8, seq: u32) -> Clickstream<'a> {
        Clickstream {
            time_stamp: self.time_stamp,
            login: Text::EMPTY,
            addrs: self.addrs,
            hostname: Text::new(host),
            path: Text::EMPTY,
            refer: Text::EMPTY,
            user_agent: Text::EMPTY,
            cookie: Text::EMPTY,
            session_id: self.session_id,
            locked: 0,
            host_type,
            method: 0,
            port_source: self.sport,
            port_destination: self.dport,
            bridge_channel_num: self.bridge,
            cipher_suites_len: 0,
            cipher_suites: Octets(&[]),
            vlan_id: self.vlan,
            post_vlan_id: self.post_vlan,
            source_mac: self.src_mac,
            destination_mac: self.dst_mac,
            mpls_labels: self.mpls(),
            tcp_sequence: seq,
            ..Default::default()
        }
    }
}

/// Per-worker application state outside the flow table: buffers, pools, the
/// record sender, counters.
pub struct Apps {
    cfg: AppConfig,
    streams: StreamPool,
    quic: Box<[QuicInitialState]>,
    quic_free: Vec<u32>,
    dns_buf: RecordBuf,
    out: Output,
}

/// Where records go, and the cycles spent handing them over while timed.
struct Output {
    sender: Option<RecordSender>,
    /// Reads the TSC while a sampled burst is timed.
    clock: Option<fn() -> u64>,
    cycles: u64,
}

/// One packet of a flow, as the parsers see it.
pub struct Seen<'a> {
    pub packet: &'a Packet,
    pub payload: &'a [u8],
    pub obs: &'a Observed,
    pub bridge: u16,
    pub now_unix: u32,
}

impl Seen<'_> {
    /// The fields every record of this packet shares.
    fn common(&self) -> Option<Common> {
        Common::of(self.packet, self.obs, self.bridge, self.now_unix)
    }
}

impl Apps {
    pub fn new(cfg: AppConfig, out: Option<RecordSender>) -> Apps {
        let quic_slots = if cfg.clickstream { cfg.quic_slots } else { 0 };
        Apps {
            cfg,
            streams: StreamPool::new(cfg.stream_slots, cfg.stream_slot_size),
            quic: (0..quic_slots).map(|_| QuicInitialState::new()).collect(),
            quic_free: (0..quic_slots).rev().collect(),
            dns_buf: RecordBuf::new(),
            out: Output {
                sender: out,
                clock: None,
                cycles: 0,
            },
        }
    }

    /// Bytes of the pools (fixed at creation).
    pub fn memory_bytes(&self) -> usize {
        self.streams.memory_bytes() + std::mem::size_of_val(&*self.quic)
    }

    /// Handles a packet with payload of a flow.
    pub fn payload(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &WorkerCounters) {
        if matches!(flow.app.proto, AppProto::Undecided | AppProto::Unknown)
            && self.cfg.clickstream
            && matches!(seen.packet.transport, Transport::Tcp(_))
            && seen.obs.sender == flow.client
            && starts_client_hello(seen.payload)
        {
            // TLS after a cleartext start (STARTTLS, STLS): the stream starts here.
            self.end(&flow.app);
            flow.app = AppState {
                proto: AppProto::Tls { no_sni: None },
                ..AppState::default()
            };
        }
        let app = &mut flow.app;
        if app.proto == AppProto::Undecided {
            app.proto = self.detect(seen);
            app.tries = app.tries.saturating_add(1);
            if app.proto == AppProto::Undecided && app.tries >= DETECT_PACKETS {
                app.proto = AppProto::Unknown;
            }
        }
        match flow.app.proto {
            AppProto::Dns => self.dns(flow, seen, &c.app),
            AppProto::Tls { .. } => self.tls(flow, seen, &c.app),
            AppProto::Quic { .. } => self.quic(flow, seen, &c.app),
            AppProto::Http(_) => self.http(flow, seen, &c.app),
            AppProto::Undecided | AppProto::Unknown => {}
        }
    }

    /// A flow ended: give back what it holds.
    pub fn end(&mut self, app: &AppState) {
        for r in app.streams.iter().flatten() {
            self.streams.close(*r);
        }
        if let AppProto::Quic { slot: Some(q), .. } = app.proto {
            self.quic_free.push(q);
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

    pub fn pool_in_use(&self) -> (usize, usize) {
        (
            self.streams.in_use(),
            self.quic.len() - self.quic_free.len(),
        )
    }

    fn detect(&self, seen: &Seen<'_>) -> AppProto {
        let transport = match seen.packet.transport {
            Transport::Tcp(_) => L4::Tcp,
            Transport::Udp(_) => L4::Udp,
            _ => return AppProto::Unknown,
        };
        let (sport, dport) = seen.packet.ports().unwrap_or((0, 0));
        let wanted = |p: AppProto| match p {
            AppProto::Dns => self.cfg.dns,
            AppProto::Tls { .. } | AppProto::Quic { .. } | AppProto::Http(_) => {
                self.cfg.clickstream
            }
            AppProto::Undecided | AppProto::Unknown => false,
        };
        DETECTORS
            .iter()
            .find(|d| d.transport == transport && (d.detect)(sport, dport, seen.payload))
            .map_or(AppProto::Undecided, |d| {
                if wanted(d.proto) {
                    d.proto
                } else {
                    AppProto::Unknown
                }
            })
    }

    fn emit<R: Record>(&mut self, record: &R, c: &AppCounters) {
        push(&mut self.out, record, c);
    }

    // ---- DNS ---------------------------------------------------------------------

    fn dns(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &AppCounters) {
        match seen.packet.transport {
            Transport::Udp(_) => self.dns_message(seen, seen.payload, 0, c),
            Transport::Tcp(tcp) => {
                let end = seen.obs.sender.index();
                let Some(r) = self.stream(flow, end, tcp.seq, seen.payload, c) else {
                    return;
                };
                // Length-prefixed messages (RFC 1035 4.2.2), as many as are whole.
                loop {
                    let window = self.streams.contiguous(r);
                    let Some(&[hi, lo]) = window.first_chunk::<2>() else {
                        break;
                    };
                    let len = 2 + usize::from(u16::from_be_bytes([hi, lo]));
                    if len > self.streams.slot_size() as usize {
                        c.dns_too_long.add(1);
                        self.streams.consume(r, len as u32);
                        continue;
                    }
                    if window.len() < len {
                        break;
                    }
                    self.dns_stream_message(r, len, seen, c);
                    self.streams.consume(r, len as u32);
                }
            }
            _ => {}
        }
    }

    /// The whole DNS-over-TCP message at the start of `r`'s window, parsed in place.
    fn dns_stream_message(&mut self, r: StreamRef, len: usize, seen: &Seen<'_>, c: &AppCounters) {
        let Some(common) = seen.common() else {
            return;
        };
        let window = self.streams.contiguous(r);
        let message = window.get(2..len).unwrap_or(&[]);
        emit_dns(message, 1, &common, &mut self.dns_buf, &mut self.out, c);
    }

    fn dns_message(&mut self, seen: &Seen<'_>, message: &[u8], transport: u8, c: &AppCounters) {
        let Some(common) = seen.common() else {
            return;
        };
        emit_dns(
            message,
            transport,
            &common,
            &mut self.dns_buf,
            &mut self.out,
            c,
        );
    }

    // ---- TLS ---------------------------------------------------------------------

    fn tls(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &AppCounters) {
        let Transport::Tcp(tcp) = seen.packet.transport else {
            return;
        };
        let end = seen.obs.sender.index();
        let from_client = seen.obs.sender == flow.client;
        let Some(r) = self.stream(flow, end, tcp.seq, seen.payload, c) else {
            return;
        };
        let base = self.streams.base(r).unwrap_or(tcp.seq);
        let window = self.streams.contiguous(r);
        let full = self.streams.is_full(r);
        if from_client {
            match tls::client_hello(window) {
                Status::Incomplete if !full => return,
                Status::Done(hello) => self.client_hello(flow, seen, &hello, base, c),
                Status::Incomplete => c.tls_too_long.add(1),
                Status::NotTls | Status::Malformed(_) => c.tls_malformed.add(1),
            }
        } else {
            // The server's flight: the reply record and, for TLS <= 1.2, the certificate.
            let flight = match tls::server_flight(window) {
                Status::Incomplete if !full => return,
                Status::Incomplete => {
                    c.tls_too_long.add(1);
                    tls::server_hello(window).done().map(|hello| ServerFlight {
                        hello,
                        certificate: tls::Certificate::Absent,
                    })
                }
                Status::Done(f) => Some(f),
                Status::NotTls | Status::Malformed(_) => {
                    c.tls_malformed.add(1);
                    None
                }
            };
            if let Some(f) = flight {
                self.server_flight(flow, seen, &f, base, c);
            }
        }
        self.finish_stream(flow, end);
    }

    fn client_hello(
        &mut self,
        flow: &mut Flow<AppState>,
        seen: &Seen<'_>,
        hello: &ClientHello,
        seq: u32,
        c: &AppCounters,
    ) {
        let Some(sni) = hello.server_name.as_ref().filter(|n| !n.is_empty()) else {
            let macs = seen
                .packet
                .ethernet
                .map_or([[0; 6]; 2], |e| [e.src.octets(), e.dst.octets()]);
            flow.app.proto = AppProto::Tls { no_sni: Some(macs) };
            return;
        };
        let Some(common) = seen.common() else {
            return;
        };
        let record = Clickstream {
            cipher_suites_len: hello.cipher_suites_len,
            cipher_suites: Octets(hello.cipher_suites_raw()),
            ..common.clickstream(sni.as_bytes(), HOST_SNI, seq)
        };
        self.emit(&record, c);
    }

    fn server_flight(
        &mut self,
        flow: &mut Flow<AppState>,
        seen: &Seen<'_>,
        f: &ServerFlight,
        seq: u32,
        c: &AppCounters,
    ) {
        let Some(common) = seen.common() else {
            return;
        };
        let cname = f.certificate.common_name();
        if self.cfg.tls_replies {
            let record = common.tls_reply(&f.hello, cname.map(|n| n.as_bytes()));
            self.emit(&record, c);
        }
        // No SNI: the certificate names the host. The record is the client's
        // request, so it carries the client → server view of the packet.
        if let AppProto::Tls {
            no_sni: Some([src_mac, dst_mac]),
        } = flow.app.proto
            && let Some(name) = cname
        {
            let reversed = Common {
                addrs: IpPair::new(common.addrs.dst, common.addrs.src),
                sport: common.dport,
                dport: common.sport,
                src_mac,
                dst_mac,
                ..common
            };
            let record = reversed.clickstream(name.as_bytes(), HOST_CNAME, seq);
            self.emit(&record, c);
        }
    }

    // ---- HTTP --------------------------------------------------------------------

    /// Every request (and, with `http_parse_reply`, every reply) of the connection.
    /// An end holds a reassembly slot only while a message head is incomplete;
    /// bodies are skipped by count, never buffered.
    fn http(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &AppCounters) {
        let Transport::Tcp(tcp) = seen.packet.transport else {
            return;
        };
        let AppProto::Http(mut st) = flow.app.proto else {
            return;
        };
        let end = seen.obs.sender.index();
        let dir = if seen.obs.sender == flow.client {
            Direction::Requests
        } else {
            Direction::Replies
        };
        if dir == Direction::Replies && !self.cfg.http_replies {
            return;
        }
        let start = flow
            .app
            .next_seq
            .get(end)
            .copied()
            .flatten()
            .unwrap_or(tcp.seq);
        if flow.app.streams.get(end).copied().flatten().is_none()
            && let Some(slot) = flow.app.streams.get_mut(end)
        {
            match self.streams.open(start) {
                Some(r) => *slot = Some(r),
                None => {
                    c.streams_exhausted.add(1);
                    return;
                }
            }
        }
        let Some(r) = self.stream(flow, end, tcp.seq, seen.payload, c) else {
            return;
        };
        let Some(common) = seen.common() else {
            return;
        };
        let cap = self.streams.slot_size() as usize;
        let mut finished = false;
        // Each round consumes at least one octet or stops.
        for _ in 0..cap {
            let window = self.streams.contiguous(r);
            let base = self.streams.base(r).unwrap_or(start);
            let step = match (st.want(dir), window.is_empty()) {
                (Want::Nothing, _) | (Want::Skip(u64::MAX), true) => {
                    finished = true;
                    break;
                }
                (Want::Skip(n), true) if n < SKIP_MAX => {
                    self.streams.consume(r, n as u32);
                    st.skipped(dir, n);
                    break;
                }
                (Want::Skip(_), true) => {
                    finished = true; // a body too long to count through: the end goes unparsed
                    break;
                }
                (_, true) => break,
                (_, false) => match dir {
                    Direction::Requests => {
                        let step = st.requests(window, cap);
                        if let http::Status::Done(req) = step.status {
                            // TCP Sequence of the segment holding the request line:
                            // this one when the line starts in it, else the earlier
                            // segment the line started (its first octet).
                            let line = base.wrapping_add(req.start as u32);
                            let in_this = line.wrapping_sub(tcp.seq) < seen.payload.len() as u32;
                            let seq = if in_this { tcp.seq } else { line };
                            emit_http_request(&req, seq, &common, &mut self.out, c);
                        }
                        step.erased()
                    }
                    Direction::Replies => {
                        let step = st.replies(window, cap);
                        if let http::Status::Done(reply) = step.status {
                            emit_http_reply(&reply, &common, &mut self.out, c);
                        }
                        step.erased()
                    }
                },
            };
            self.streams.consume(r, step.consumed as u32);
            match step.status {
                http::Status::Done(()) => {}
                http::Status::Incomplete => {
                    if step.consumed == 0 {
                        break;
                    }
                }
                http::Status::NotHttp | http::Status::Malformed(_) => {
                    c.http_malformed.add(1);
                    finished = true;
                    break;
                }
                http::Status::Tunnel => {
                    finished = true;
                    break;
                }
            }
        }
        flow.app.proto = AppProto::Http(st);
        if finished {
            self.finish_stream(flow, end);
        } else if self.streams.contiguous(r).is_empty() {
            // Nothing buffered: give the slot back, remember where the stream goes on.
            if let Some(next) = flow.app.next_seq.get_mut(end) {
                *next = self.streams.base(r);
            }
            if let Some(slot) = flow.app.streams.get_mut(end).and_then(Option::take) {
                self.streams.close(slot);
            }
        }
    }

    // ---- QUIC --------------------------------------------------------------------

    /// Client Initials: the ClientHello (clickstream, HOST_TYPE 4). With
    /// `ssl_parse_reply`, the connection's slot is kept after it for the
    /// server's Initials: their ServerHello (tls_reply), then the slot goes back.
    fn quic(&mut self, flow: &mut Flow<AppState>, seen: &Seen<'_>, c: &AppCounters) {
        let AppProto::Quic {
            slot,
            reported,
            server_cid,
        } = flow.app.proto
        else {
            return;
        };
        if seen.obs.sender != flow.client {
            if let Some(s) = slot {
                self.quic_server(flow, seen, s, c);
            }
            return;
        }
        let Some(dcid) = quic::initial_dcid(seen.payload) else {
            return;
        };
        if slot.is_none() {
            let h = hash(dcid);
            if reported == Some(h) || server_cid == Some(h) {
                return; // a later Initial of the connection already reported
            }
        }
        let slot = match slot {
            Some(s) => s,
            None => {
                let Some(s) = self.quic_free.pop() else {
                    c.quic_exhausted.add(1);
                    return;
                };
                if let Some(state) = self.quic.get_mut(s as usize) {
                    state.reset();
                }
                flow.app.proto = AppProto::Quic {
                    slot: Some(s),
                    reported,
                    server_cid,
                };
                s
            }
        };
        let Some(state) = self.quic.get_mut(slot as usize) else {
            return;
        };
        let status = state.on_client_datagram(seen.payload);
        let started = state.connections() > 0;
        match status {
            QuicStatus::Done(hello) => {
                // The server's ServerHello follows: keep the slot for it.
                let keep = self.cfg.tls_replies;
                flow.app.proto = AppProto::Quic {
                    slot: keep.then_some(slot),
                    reported: Some(hash(state.original_dcid())),
                    server_cid: None,
                };
                if !keep {
                    self.quic_free.push(slot);
                }
                if let Some(sni) = hello.server_name.as_ref().filter(|n| !n.is_empty())
                    && let Some(common) = seen.common()
                {
                    let record = Clickstream {
                        cipher_suites_len: hello.cipher_suites_len,
                        cipher_suites: Octets(hello.cipher_suites_raw()),
                        ..common.clickstream(sni.as_bytes(), HOST_QUIC, 0)
                    };
                    self.emit(&record, c);
                }
                return;
            }
            QuicStatus::Malformed(_) => c.quic_malformed.add(1),
            QuicStatus::Incomplete | QuicStatus::Seen | QuicStatus::NotInitial => {}
        }
        if !started {
            // Nothing of a connection in the slot (no Initial decrypted): give it back.
            flow.app.proto = AppProto::Quic {
                slot: None,
                reported,
                server_cid,
            };
            self.quic_free.push(slot);
        }
    }

    /// A server datagram of a connection whose slot waits for the ServerHello.
    fn quic_server(
        &mut self,
        flow: &mut Flow<AppState>,
        seen: &Seen<'_>,
        slot: u32,
        c: &AppCounters,
    ) {
        let Some(state) = self.quic.get_mut(slot as usize) else {
            return;
        };
        let status = state.on_server_datagram(seen.payload);
        if state.server_finished() {
            let server_cid =
                Some(hash(state.server_cid())).filter(|_| !state.server_cid().is_empty());
            flow.app.proto = AppProto::Quic {
                slot: None,
                reported: Some(hash(state.original_dcid())),
                server_cid,
            };
            self.quic_free.push(slot);
        }
        match status {
            QuicStatus::Done(hello) => self.quic_reply(seen, &hello, c),
            QuicStatus::Malformed(_) => c.quic_malformed.add(1),
            QuicStatus::Incomplete | QuicStatus::Seen | QuicStatus::NotInitial => {}
        }
    }

    /// The tls_reply record of a QUIC ServerHello: TLS 1.3, its certificate is
    /// encrypted (type_host 0, no cname).
    fn quic_reply(&mut self, seen: &Seen<'_>, hello: &ServerHello, c: &AppCounters) {
        let Some(common) = seen.common() else {
            return;
        };
        let record = common.tls_reply(hello, None);
        self.emit(&record, c);
    }

    // ---- streams -----------------------------------------------------------------

    /// Adds a TCP segment to `end`'s stream, opening it on first use; the
    /// stream's slot when it has new contiguous bytes to look at.
    fn stream(
        &mut self,
        flow: &mut Flow<AppState>,
        end: usize,
        seq: u32,
        payload: &[u8],
        c: &AppCounters,
    ) -> Option<StreamRef> {
        if flow.app.done.get(end).copied().unwrap_or(true) {
            return None;
        }
        let slot = flow.app.streams.get_mut(end)?;
        let r = match *slot {
            Some(r) => r,
            None => {
                let Some(r) = self.streams.open(seq) else {
                    c.streams_exhausted.add(1);
                    if let Some(d) = flow.app.done.get_mut(end) {
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
    fn finish_stream(&mut self, flow: &mut Flow<AppState>, end: usize) {
        if let Some(r) = flow.app.streams.get_mut(end).and_then(Option::take) {
            self.streams.close(r);
        }
        if let Some(d) = flow.app.done.get_mut(end) {
            *d = true;
        }
    }
}

/// One DNS record per answer of a response message.
fn emit_dns(
    message: &[u8],
    transport: u8,
    common: &Common,
    buf: &mut RecordBuf,
    out: &mut Output,
    c: &AppCounters,
) {
    if out.sender.is_none() {
        return;
    }
    let mut answers = Answers::new(message);
    while let Some(item) = answers.next(buf) {
        match item {
            Ok(rr) => {
                let record = Dns {
                    time_stamp: common.time_stamp,
                    login: Text::EMPTY,
                    addrs: common.addrs,
                    port_source: common.sport,
                    port_destination: common.dport,
                    session_id: common.session_id,
                    transport,
                    domain: Text::new(rr.name),
                    rrclass: rr.rrclass.0,
                    rrtype: rr.rrtype.0,
                    ttl: rr.ttl,
                    rdata: Octets(rr.rdata),
                    vlan_id: common.vlan,
                    post_vlan_id: common.post_vlan,
                    source_mac: common.src_mac,
                    destination_mac: common.dst_mac,
                    mpls_labels: common.mpls(),
                    bridge_channel_num: common.bridge,
                    ..Default::default()
                };
                push(out, &record, c);
            }
            Err(e) => {
                if let Some(counter) = c.dns_errors.get(e.index()) {
                    counter.add(1);
                }
            }
        }
    }
}

/// Bodies longer than this are not skipped by count (the reassembly window
/// moves by at most this much); the end is left unparsed instead.
const SKIP_MAX: u64 = 1 << 30;

fn emit_http_request(
    req: &Request<'_>,
    seq: u32,
    common: &Common,
    out: &mut Output,
    c: &AppCounters,
) {
    // COOKIE is the Cookie lines joined with "; ".
    let mut cookie = [0u8; COOKIE_CAP];
    let mut len = 0;
    for (i, line) in req.cookie.lines().iter().enumerate() {
        let sep: &[u8] = if i == 0 { b"" } else { b"; " };
        for part in [sep, line] {
            let n = part.len().min(COOKIE_CAP - len);
            if let (Some(dst), Some(src)) = (cookie.get_mut(len..len + n), part.get(..n)) {
                dst.copy_from_slice(src);
                len += n;
            }
        }
    }
    if req.flags.contains(http::Flags::TRUNCATED) {
        c.http_truncated.add(1);
    }
    let record = Clickstream {
        path: Text::new(req.path),
        refer: Text::new(req.referer),
        user_agent: Text::new(req.user_agent),
        cookie: Text::new(http::utf8_prefix(cookie.get(..len).unwrap_or(&[]))),
        method: req.method_code(),
        ..common.clickstream(req.host, HOST_HTTP, seq)
    };
    push(out, &record, c);
}

fn emit_http_reply(reply: &Reply<'_>, common: &Common, out: &mut Output, c: &AppCounters) {
    let record = HttpReply {
        time_stamp: common.time_stamp,
        login: Text::EMPTY,
        addrs: common.addrs,
        result_code: u32::from(reply.status),
        content_length: reply.content_length,
        content_type: Text::new(reply.content_type),
        session_id: common.session_id,
        location: Text::new(reply.location),
        bridge_channel_num: common.bridge,
        vlan_id: common.vlan,
        post_vlan_id: common.post_vlan,
        source_mac: common.src_mac,
        destination_mac: common.dst_mac,
        mpls_labels: common.mpls(),
        ..Default::default()
    };
    push(out, &record, c);
}

/// Hands a record to the export side, counting it or its drop.
fn push<R: Record>(out: &mut Output, record: &R, c: &AppCounters) {
    let Some(sender) = out.sender.as_mut() else {
        return;
    };
    let start = out.clock.map_or(0, |clock| clock());
    let pushed = sender.push(record);
    if let Some(clock) = out.clock {
        out.cycles = out.cycles.wrapping_add(clock().wrapping_sub(start));
    }
    if pushed {
        c.records.add(1);
    } else {
        c.records_dropped.add(1);
    }
}

/// FNV-1a: a connection id's fingerprint (not security relevant).
fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}

/// Compile-time link between the DNS error enum and its counters.
const _: () = assert!(DnsError::COUNT <= crate::counters::DNS_ERRORS);
