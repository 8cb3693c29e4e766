//! One collector session, sans-IO: IPFIX messages out, no socket, no clock.
//!
//! ```text
//!   push(now, &record) / push_record(now, id, bytes)      poll_transmit(now, &mut buf)
//!              │                                                     ▲
//!              ▼                                                     │
//!        ┌──────────┐  full / template round due  ┌─────────┐        │
//!        │   open   │ ───────────────────────────►│  ready  │ ───────┤
//!        │ message  │                             │ message │        │
//!        └──────────┘                             └─────────┘        │
//!                     template round (templates, options templates,  │
//!                     RFC 5610 type records, statistics report) ─────┘
//! ```
//!
//! The transport layer owns one `Session` per collector: it pushes the
//! stream's records, calls `poll_transmit` until `None` and sends each
//! message (one datagram, or written whole to the TCP stream), calls
//! `flush` at the end of a send cycle, `handle_timeout` on its timer, and
//! `restart` after every TCP (re)connect. At most two messages are held
//! (the open one and a ready one): when both are taken, `push` answers
//! [`PushError::Blocked`] and the caller must transmit first — bounded by
//! construction, nothing queues without bound.
//!
//! The statistics report is the §4.3 reliability record and one record per
//! counter the caller gave ([`Session::set_counters`], [`COUNTER_TEMPLATE`]).
//! It ends every template round, and goes alone when the caller asks
//! ([`Session::report_statistics`]); like the round, it spans as many
//! messages as it needs.
//!
//! RFC 7011 §3.1: "Sequence Number: Incremental sequence counter modulo 2^32
//! of all IPFIX Data Records sent in the current stream from the current
//! Observation Domain by the Exporting Process." Options data records (type
//! records, statistics) are data records and are counted.

use crate::encoder::{self, EncodeError, MESSAGE_HEADER_LEN, SET_HEADER_LEN};
use crate::field::floor_char_boundary;
use crate::ie::{self, Ie};
use crate::template::{
    self, COUNTER_TEMPLATE, IE_TYPE_TEMPLATE, OPTIONS_TEMPLATES, OptionsTemplate,
    RELIABILITY_TEMPLATE, Record, Stream, TemplateId,
};
use std::collections::BTreeSet;

/// IPFIX version number (RFC 7011 §3.1).
pub const VERSION: u16 = 10;
/// Template Set id.
pub const TEMPLATE_SET_ID: u16 = 2;
/// Options Template Set id.
pub const OPTIONS_TEMPLATE_SET_ID: u16 = 3;
/// Largest IPFIX message (16-bit length).
pub const MAX_MESSAGE_LEN: usize = 65535;

/// How the collector is reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Datagrams: templates refreshed on a timer.
    Udp,
    /// A stream: templates once per connection.
    Tcp,
}

/// What a session needs to know.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// The stream this session carries.
    pub stream: Stream,
    /// UDP or TCP.
    pub transport: Transport,
    /// Longest message, octets (IPFIX header included).
    pub max_message_len: usize,
    /// Observation Domain Id written in every message header.
    pub observation_domain: u32,
    /// UDP template refresh period, seconds (`ipfix_udp_template_timer`); 0 never.
    pub template_refresh_secs: u32,
    /// exportingProcessId of the statistics records.
    pub exporting_process_id: u32,
}

impl SessionConfig {
    /// A UDP session: a message is one datagram of an IP packet of at most
    /// `mtu` octets (`ipfix_mtu`), so IP and UDP headers are subtracted.
    pub fn udp(stream: Stream, mtu: usize, collector_ipv6: bool, refresh_secs: u32) -> Self {
        let ip = if collector_ipv6 { 40 } else { 20 };
        SessionConfig {
            stream,
            transport: Transport::Udp,
            max_message_len: mtu.saturating_sub(ip + 8).min(MAX_MESSAGE_LEN),
            observation_domain: 0,
            template_refresh_secs: refresh_secs,
            exporting_process_id: 0,
        }
    }

    /// A TCP session: messages sized to one segment of an `mtu` packet, but a
    /// record longer than that gets a message of its own, of up to 65 535
    /// octets: records carry their fields whole (RFC 7011 §10.4.2 bounds only
    /// UDP messages by the path MTU).
    pub fn tcp(stream: Stream, mtu: usize, collector_ipv6: bool) -> Self {
        let ip = if collector_ipv6 { 40 } else { 20 };
        SessionConfig {
            stream,
            transport: Transport::Tcp,
            max_message_len: mtu.saturating_sub(ip + 20).min(MAX_MESSAGE_LEN),
            observation_domain: 0,
            template_refresh_secs: 0,
            exporting_process_id: 0,
        }
    }

    /// The longest message a single record may take: a UDP message is one
    /// datagram; a TCP record longer than a segment gets a message alone.
    pub const fn record_message_len(&self) -> usize {
        match self.transport {
            Transport::Udp => self.max_message_len,
            Transport::Tcp => MAX_MESSAGE_LEN,
        }
    }
}

/// A configuration a session cannot work with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigError {
    /// Messages longer than 65535 octets cannot be expressed (refused, never wrapped).
    MessageTooLong(usize),
    /// A template or type record of the stream would not fit in one message.
    MessageTooShort {
        /// The configured maximum.
        max: usize,
        /// Octets the largest template-round item needs.
        needed: usize,
    },
}

impl core::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ConfigError::MessageTooLong(n) => {
                write!(f, "IPFIX message length {n} exceeds 65535")
            }
            ConfigError::MessageTooShort { max, needed } => write!(
                f,
                "IPFIX messages of {max} octets cannot carry the templates ({needed} needed); \
                 raise ipfix_mtu"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

/// Why a record was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushError {
    /// Messages are waiting: call `poll_transmit` first, then push again.
    Blocked,
    /// The template is not one of this session's stream.
    WrongTemplate(TemplateId),
    /// The record cannot fit in one message.
    TooLong {
        /// Octets of the record (its minimum, for a typed record).
        len: usize,
        /// [`Session::max_record_len`].
        max: usize,
    },
}

impl core::fmt::Display for PushError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PushError::Blocked => write!(f, "messages waiting to be transmitted"),
            PushError::WrongTemplate(t) => write!(f, "template {} is not of this stream", t.0),
            PushError::TooLong { len, max } => write!(f, "record of {len} octets > {max}"),
        }
    }
}

impl std::error::Error for PushError {}

/// Counts of dropped records for the RFC 7011 §4.3 statistics, owned and
/// updated by the caller (rings, backpressure, collector down).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reliability {
    /// notSentFlowTotalCount: records not sent.
    pub not_sent_records: u64,
    /// notSentPacketTotalCount: packets whose records were not sent.
    pub not_sent_packets: u64,
    /// notSentOctetTotalCount: octets of the records not sent.
    pub not_sent_octets: u64,
    /// Unix seconds of the first drop (0: none).
    pub first_drop: u32,
    /// Unix seconds of the last drop (0: none).
    pub last_drop: u32,
}

/// One counter of the probe, for the counter records ([`COUNTER_TEMPLATE`]):
/// the names are the final summary's (`analysis`, `tls-malformed`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamedCount {
    /// COUNTER_FAMILY: the summary line it is on.
    pub family: &'static str,
    /// COUNTER_NAME: its name on that line.
    pub name: &'static str,
    /// COUNTER_VALUE: its total since the probe started.
    pub value: u64,
}

/// Longest family or name a counter record carries, octets (longer ones are
/// cut at a character boundary): a counter record always fits a message.
pub const COUNTER_TEXT_MAX: usize = 64;

/// Octets of the longest counter record.
const MAX_COUNTER_RECORD_LEN: usize = 4 + 2 * (1 + COUNTER_TEXT_MAX) + 8;

impl NamedCount {
    /// The same counter, its family and name cut to [`COUNTER_TEXT_MAX`].
    fn cut(self) -> Self {
        // floor_char_boundary gives a character boundary within s.
        fn cut(s: &'static str) -> &'static str {
            &s[..floor_char_boundary(s, COUNTER_TEXT_MAX)]
        }
        NamedCount {
            family: cut(self.family),
            name: cut(self.name),
            value: self.value,
        }
    }

    /// Octets of its record (family and name already cut: one-octet prefixes).
    fn record_len(&self) -> usize {
        4 + 1 + self.family.len() + 1 + self.name.len() + 8
    }

    /// Appends its record of [`COUNTER_TEMPLATE`] (family and name already cut).
    fn write_record(&self, metering_process_id: u32, out: &mut Vec<u8>) {
        out.extend_from_slice(&metering_process_id.to_be_bytes());
        for s in [self.family, self.name] {
            crate::field::write_varlen_prefix(s.len(), out);
            out.extend_from_slice(s.as_bytes());
        }
        out.extend_from_slice(&self.value.to_be_bytes());
    }
}

/// A message handed out by [`Session::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Octets of the message (the whole buffer).
    pub len: usize,
    /// Data records in it (options records included).
    pub records: u32,
    /// True for a message of the template round.
    pub templates: bool,
    /// True when it carries options records only (a template round or a
    /// statistics report): none of the stream's data records.
    pub options: bool,
}

/// Counters of one session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionStats {
    /// Messages handed out.
    pub messages: u64,
    /// Octets handed out.
    pub octets: u64,
    /// Data records handed out (options records included).
    pub records: u64,
    /// Template rounds started.
    pub template_rounds: u64,
    /// Records discarded by `restart`.
    pub discarded: u64,
}

/// One message under construction. Its buffer is allocated once, with the
/// session's maximum message length, and never grows.
#[derive(Debug)]
struct Msg {
    buf: Vec<u8>,
    /// Set id and start offset of the set being filled.
    set: Option<(u16, usize)>,
    records: u32,
    templates: bool,
    options: bool,
}

impl Msg {
    fn new(cap: usize) -> Self {
        let mut m = Msg {
            buf: Vec::with_capacity(cap),
            set: None,
            records: 0,
            templates: false,
            options: false,
        };
        m.reset();
        m
    }

    fn reset(&mut self) {
        self.buf.clear();
        self.buf.resize(MESSAGE_HEADER_LEN, 0);
        self.set = None;
        self.records = 0;
        self.templates = false;
        self.options = false;
    }

    fn has_sets(&self) -> bool {
        self.buf.len() > MESSAGE_HEADER_LEN
    }

    /// Octets appending `n` octets to a set `set_id` would need.
    fn need(&self, set_id: u16, n: usize) -> usize {
        match self.set {
            Some((id, _)) if id == set_id => n,
            _ => n + SET_HEADER_LEN,
        }
    }

    fn fits(&self, max: usize, set_id: u16, n: usize) -> bool {
        self.buf.len() + self.need(set_id, n) <= max
    }

    fn close_set(&mut self) {
        if let Some((_, start)) = self.set.take() {
            let len = (self.buf.len() - start) as u16;
            if let Some(f) = self.buf.get_mut(start + 2..start + 4) {
                f.copy_from_slice(&len.to_be_bytes());
            }
        }
    }

    /// Makes the set `set_id` the one being filled (room was checked).
    fn enter_set(&mut self, set_id: u16) {
        if matches!(self.set, Some((id, _)) if id == set_id) {
            return;
        }
        self.close_set();
        let start = self.buf.len();
        self.buf.extend_from_slice(&set_id.to_be_bytes());
        self.buf.extend_from_slice(&[0, 0]);
        self.set = Some((set_id, start));
    }

    fn append(&mut self, set_id: u16, bytes: &[u8], records: u32) {
        self.enter_set(set_id);
        self.buf.extend_from_slice(bytes);
        self.records += records;
    }

    /// Closes the message: set length, then the header (RFC 7011 §3.1).
    fn finish(&mut self, export_time: u32, seq: u32, odid: u32) {
        self.close_set();
        let len = self.buf.len() as u16;
        let mut hdr = [0u8; MESSAGE_HEADER_LEN];
        hdr[0..2].copy_from_slice(&VERSION.to_be_bytes());
        hdr[2..4].copy_from_slice(&len.to_be_bytes());
        hdr[4..8].copy_from_slice(&export_time.to_be_bytes());
        hdr[8..12].copy_from_slice(&seq.to_be_bytes());
        hdr[12..16].copy_from_slice(&odid.to_be_bytes());
        if let Some(h) = self.buf.get_mut(..MESSAGE_HEADER_LEN) {
            h.copy_from_slice(&hdr);
        }
    }
}

/// One item of a template round, encoded once at session start.
#[derive(Debug)]
struct Item {
    set_id: u16,
    bytes: Vec<u8>,
    records: u32,
}

/// Octets of the §4.3 statistics data record.
const RELIABILITY_RECORD_LEN: usize = 4 + 8 + 8 + 8 + 4 + 4;

/// How far a template round or a statistics report has gone. Its positions
/// are the round's items, then the report: the reliability record at
/// `items.len()`, then one counter record each. A report alone starts at
/// the reliability record.
#[derive(Clone, Copy, Debug)]
struct Cursor {
    next: usize,
    /// A template round (not a report alone).
    templates: bool,
}

/// One collector session of one stream.
#[derive(Debug)]
pub struct Session {
    cfg: SessionConfig,
    seq: u32,
    open: Msg,
    ready: Msg,
    ready_full: bool,
    flush_requested: bool,
    items: Vec<Item>,
    /// The template round or statistics report in progress.
    round: Option<Cursor>,
    round_due: bool,
    last_round: Option<u32>,
    report_due: bool,
    reliability: Reliability,
    /// The counters of the statistics report, names cut to fit.
    counts: Vec<NamedCount>,
    stats: SessionStats,
}

impl Session {
    /// A session; its first template round is due at once.
    pub fn new(cfg: SessionConfig) -> Result<Self, ConfigError> {
        if cfg.max_message_len > MAX_MESSAGE_LEN {
            return Err(ConfigError::MessageTooLong(cfg.max_message_len));
        }
        let items = round_items(cfg.stream);
        let needed = items
            .iter()
            .map(|i| i.bytes.len())
            .chain([RELIABILITY_RECORD_LEN, MAX_COUNTER_RECORD_LEN])
            .max()
            .unwrap_or(0)
            + MESSAGE_HEADER_LEN
            + SET_HEADER_LEN;
        if cfg.max_message_len < needed {
            return Err(ConfigError::MessageTooShort {
                max: cfg.max_message_len,
                needed,
            });
        }
        Ok(Session {
            cfg,
            seq: 0,
            open: Msg::new(cfg.record_message_len()),
            ready: Msg::new(cfg.record_message_len()),
            ready_full: false,
            flush_requested: false,
            items,
            round: None,
            round_due: true,
            last_round: None,
            report_due: false,
            reliability: Reliability::default(),
            counts: Vec::new(),
            stats: SessionStats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.cfg
    }

    /// The longest data record this session can carry in one message.
    pub fn max_record_len(&self) -> usize {
        self.cfg.record_message_len() - MESSAGE_HEADER_LEN - SET_HEADER_LEN
    }

    /// Sequence number the next message will carry.
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Counters.
    pub fn stats(&self) -> SessionStats {
        self.stats
    }

    /// Updates the drop counts sent in the §4.3 statistics records.
    pub fn set_reliability(&mut self, r: Reliability) {
        self.reliability = r;
    }

    /// Sets the counters sent in the statistics report (one record each;
    /// the previous list is replaced, its buffer reused).
    pub fn set_counters(&mut self, counts: &[NamedCount]) {
        self.counts.clear();
        self.counts.extend(counts.iter().map(|c| c.cut()));
    }

    /// Queues a statistics report: the reliability record and the counter
    /// records (sent by the next `poll_transmit`s; it also ends every
    /// template round).
    pub fn report_statistics(&mut self) {
        self.report_due = true;
    }

    /// When `handle_timeout` next has work: the next UDP template refresh
    /// (Unix seconds), or now when a round is due.
    pub fn poll_timeout(&self) -> Option<u32> {
        if self.round_due || self.round.is_some() {
            return Some(self.last_round.unwrap_or(0));
        }
        match (
            self.cfg.transport,
            self.cfg.template_refresh_secs,
            self.last_round,
        ) {
            (Transport::Udp, r, Some(last)) if r > 0 => Some(last.saturating_add(r)),
            _ => None,
        }
    }

    /// Runs the timers: marks a template round due when the UDP refresh
    /// period has passed.
    pub fn handle_timeout(&mut self, now: u32) {
        if self.round.is_some() || self.round_due {
            return;
        }
        let refresh = self.cfg.template_refresh_secs;
        match self.last_round {
            None => self.round_due = true,
            Some(last) => {
                if self.cfg.transport == Transport::Udp
                    && refresh > 0
                    && now >= last.saturating_add(refresh)
                {
                    self.round_due = true;
                }
            }
        }
    }

    /// Data records pushed but not yet handed out by [`Session::poll_transmit`].
    pub fn held(&self) -> u32 {
        self.open.records
            + if self.ready_full {
                self.ready.records
            } else {
                0
            }
    }

    /// A new transport session (TCP connect or reconnect): sequence numbers
    /// restart at 0, templates go first again. Returns the records that were
    /// waiting and are dropped (count them).
    pub fn restart(&mut self) -> u32 {
        let dropped = self.open.records
            + if self.ready_full {
                self.ready.records
            } else {
                0
            };
        self.open.reset();
        self.ready.reset();
        self.ready_full = false;
        self.flush_requested = false;
        self.seq = 0;
        self.round = None;
        self.round_due = true;
        self.last_round = None;
        self.stats.discarded += u64::from(dropped);
        dropped
    }

    /// Closes the open message at the next `poll_transmit` (end of a send
    /// cycle: records do not wait for the message to fill).
    pub fn flush(&mut self) {
        self.flush_requested = true;
    }

    /// Takes a data record already encoded for template `id` (from a
    /// [`encoder::Chunk`]).
    pub fn push_record(
        &mut self,
        now: u32,
        id: TemplateId,
        record: &[u8],
    ) -> Result<(), PushError> {
        self.prepare(now, id, record.len())?;
        self.open.append(id.0, record, 1);
        Ok(())
    }

    /// Encodes a typed record straight into the open message (no chunk).
    /// Returns true when a field was cut to fit.
    pub fn push<R: Record>(&mut self, now: u32, r: &R) -> Result<bool, PushError> {
        let id = r.template().id();
        let max = self.max_record_len();
        let plan = encoder::plan(r, max).map_err(|e| match e {
            EncodeError::TooLong { min, .. } => PushError::TooLong { len: min, max },
            EncodeError::NoRoom { needed } => PushError::TooLong { len: needed, max },
        })?;
        self.prepare(now, id, plan.len)?;
        self.open.enter_set(id.0);
        encoder::write_planned(r, &plan, &mut self.open.buf);
        self.open.records += 1;
        Ok(plan.truncated)
    }

    /// Checks a record of `len` octets for template `id` and makes room for
    /// it in the open message.
    fn prepare(&mut self, now: u32, id: TemplateId, len: usize) -> Result<(), PushError> {
        match template::by_id(id) {
            Some(t) if t.def.stream == self.cfg.stream => {}
            _ => return Err(PushError::WrongTemplate(id)),
        }
        let max = self.max_record_len();
        if len > max {
            return Err(PushError::TooLong { len, max });
        }
        self.handle_timeout(now);
        if self.round_due || self.round.is_some() {
            return Err(PushError::Blocked);
        }
        // A record longer than a message of max_message_len (TCP) goes alone
        // into a message of its own.
        if !self.open.fits(self.cfg.max_message_len, id.0, len) && self.open.has_sets() {
            if self.ready_full {
                return Err(PushError::Blocked);
            }
            self.finish_open(now);
        }
        Ok(())
    }

    /// Moves the open message, finished, to the ready slot (which is empty).
    fn finish_open(&mut self, now: u32) {
        self.seal(now, false);
        core::mem::swap(&mut self.open, &mut self.ready);
        self.ready_full = true;
        self.open.reset();
    }

    /// Finishes the open (`ready == false`) or ready message: header with
    /// this session's sequence number, which then advances.
    fn seal(&mut self, now: u32, ready: bool) {
        let (seq, odid) = (self.seq, self.cfg.observation_domain);
        let m = if ready {
            &mut self.ready
        } else {
            &mut self.open
        };
        m.finish(now, seq, odid);
        self.seq = self.seq.wrapping_add(m.records);
    }

    /// Hands out the ready message, if any, in `out` (buffers are swapped:
    /// give back a buffer of at least the maximum message length to keep
    /// the session free of allocation).
    fn hand_out(&mut self, out: &mut Vec<u8>) -> Transmit {
        let t = Transmit {
            len: self.ready.buf.len(),
            records: self.ready.records,
            templates: self.ready.templates,
            options: self.ready.options,
        };
        core::mem::swap(&mut self.ready.buf, out);
        if self.ready.buf.capacity() < self.cfg.max_message_len {
            self.ready.buf.reserve(self.cfg.max_message_len);
        }
        self.ready.reset();
        self.ready_full = false;
        self.stats.messages += 1;
        self.stats.octets += t.len as u64;
        self.stats.records += u64::from(t.records);
        t
    }

    /// The next message to send, in order: a full data message, the open
    /// message when templates are due, the template round, a queued
    /// statistics report, the open message when flushing.
    pub fn poll_transmit(&mut self, now: u32, out: &mut Vec<u8>) -> Option<Transmit> {
        self.handle_timeout(now);
        if self.ready_full {
            return Some(self.hand_out(out));
        }
        if self.round.is_none() {
            if self.round_due {
                if self.open.has_sets() {
                    self.finish_open(now);
                    return Some(self.hand_out(out));
                }
                self.round = Some(Cursor {
                    next: 0,
                    templates: true,
                });
                self.round_due = false;
                self.last_round = Some(now);
                self.report_due = false;
                self.stats.template_rounds += 1;
            } else if self.report_due && self.last_round.is_some() {
                self.report_due = false;
                self.round = Some(Cursor {
                    next: self.items.len(),
                    templates: false,
                });
            }
        }
        if self.round.is_some() {
            self.build_options_message(now);
            return Some(self.hand_out(out));
        }
        if self.flush_requested {
            if self.open.has_sets() {
                self.finish_open(now);
                return Some(self.hand_out(out));
            }
            self.flush_requested = false;
        }
        None
    }

    /// Packs the next positions of the round or report in progress into the
    /// ready slot. Each position fits an empty message (checked by
    /// [`Session::new`]), so every message takes at least one.
    fn build_options_message(&mut self, now: u32) {
        let Some(mut cur) = self.round else {
            return;
        };
        let end = self.items.len() + 1 + self.counts.len();
        self.ready.templates = cur.templates;
        self.ready.options = true;
        while cur.next < end && self.append_position(cur.next) {
            cur.next += 1;
        }
        self.round = (cur.next < end).then_some(cur);
        self.seal(now, true);
        self.ready_full = true;
    }

    /// Appends position `p` of a round ([`Cursor`]) to the ready message;
    /// false when it does not fit.
    fn append_position(&mut self, p: usize) -> bool {
        let max = self.cfg.max_message_len;
        if let Some(item) = self.items.get(p) {
            if !self.ready.fits(max, item.set_id, item.bytes.len()) {
                return false;
            }
            self.ready.append(item.set_id, &item.bytes, item.records);
        } else if p == self.items.len() {
            let rec = self.reliability_record();
            if !self.ready.fits(max, RELIABILITY_TEMPLATE.id.0, rec.len()) {
                return false;
            }
            self.ready.append(RELIABILITY_TEMPLATE.id.0, &rec, 1);
        } else if let Some(c) = p
            .checked_sub(self.items.len() + 1)
            .and_then(|i| self.counts.get(i))
        {
            let set_id = COUNTER_TEMPLATE.id.0;
            if !self.ready.fits(max, set_id, c.record_len()) {
                return false;
            }
            self.ready.enter_set(set_id);
            c.write_record(self.cfg.exporting_process_id, &mut self.ready.buf);
            self.ready.records += 1;
        }
        true
    }

    fn reliability_record(&self) -> [u8; RELIABILITY_RECORD_LEN] {
        let r = &self.reliability;
        let mut b = [0u8; RELIABILITY_RECORD_LEN];
        b[0..4].copy_from_slice(&self.cfg.exporting_process_id.to_be_bytes());
        b[4..12].copy_from_slice(&r.not_sent_records.to_be_bytes());
        b[12..20].copy_from_slice(&r.not_sent_packets.to_be_bytes());
        b[20..28].copy_from_slice(&r.not_sent_octets.to_be_bytes());
        b[28..32].copy_from_slice(&r.first_drop.to_be_bytes());
        b[32..36].copy_from_slice(&r.last_drop.to_be_bytes());
        b
    }
}

/// The enterprise elements used by the templates of `stream` and by the
/// options templates, in id order.
pub fn enterprise_elements(stream: Stream) -> Vec<&'static Ie> {
    let data = template::all()
        .filter(|t| t.def.stream == stream)
        .flat_map(|t| t.elements().collect::<Vec<_>>());
    let options = OPTIONS_TEMPLATES
        .iter()
        .flat_map(|o| o.fields.iter().copied());
    let keys: BTreeSet<(u16, u32)> = data
        .chain(options)
        .filter(|e| e.is_enterprise())
        .map(|e| (e.id, e.pen))
        .collect();
    keys.into_iter()
        .filter_map(|(id, pen)| ie::lookup(id, pen))
        .collect()
}

/// Appends the RFC 5610 Information Element Type record of `e`
/// ([`IE_TYPE_TEMPLATE`]): no units, no range.
pub fn write_ie_type_record(e: &Ie, out: &mut Vec<u8>) {
    use crate::field::{Field, Text};
    out.extend_from_slice(&e.pen.to_be_bytes());
    out.extend_from_slice(&e.id.to_be_bytes());
    out.push(e.data_type.code());
    out.push(e.semantics.code());
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes());
    for s in [e.name, e.description] {
        let t = Text::from_str(s);
        let n = t.content_len_within(255 + 0xff00);
        crate::field::write_varlen_prefix(n, out);
        t.write_content(n, out);
    }
}

/// The items of one template round of `stream`, in the order a collector
/// needs them: the type records' options template, one type record per
/// enterprise element (so that a collector knows our elements' names and
/// types before it reads a template that uses them — libfixbuf resolves a
/// template's elements when it receives it), then the other options
/// templates and the data templates (both variants).
fn round_items(stream: Stream) -> Vec<Item> {
    let options_template = |o: &OptionsTemplate| {
        let mut bytes = Vec::with_capacity(o.record_len());
        o.write_record(&mut bytes);
        Item {
            set_id: OPTIONS_TEMPLATE_SET_ID,
            bytes,
            records: 0,
        }
    };
    let mut items = vec![options_template(&IE_TYPE_TEMPLATE)];
    for e in enterprise_elements(stream) {
        let mut bytes = Vec::new();
        write_ie_type_record(e, &mut bytes);
        items.push(Item {
            set_id: IE_TYPE_TEMPLATE.id.0,
            bytes,
            records: 1,
        });
    }
    for o in OPTIONS_TEMPLATES
        .iter()
        .filter(|o| o.id != IE_TYPE_TEMPLATE.id)
    {
        items.push(options_template(o));
    }
    for t in template::all().filter(|t| t.def.stream == stream) {
        let mut bytes = Vec::with_capacity(t.record_len());
        t.write_record(&mut bytes);
        items.push(Item {
            set_id: TEMPLATE_SET_ID,
            bytes,
            records: 0,
        });
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::{TemplateCache, Value, decode_message};
    use crate::samples;

    const T0: u32 = 1_700_000_000;

    fn udp(stream: Stream) -> Session {
        let mut cfg = SessionConfig::udp(stream, 1500, false, 20);
        cfg.observation_domain = 7;
        Session::new(cfg).unwrap()
    }

    /// Polls every pending message.
    fn drain(s: &mut Session, now: u32) -> Vec<(Vec<u8>, Transmit)> {
        let mut v = Vec::new();
        let mut buf = Vec::with_capacity(1500);
        while let Some(t) = s.poll_transmit(now, &mut buf) {
            assert_eq!(t.len, buf.len());
            v.push((buf.clone(), t));
        }
        v
    }

    fn seq_of(m: &[u8]) -> u32 {
        u32::from_be_bytes(m[8..12].try_into().unwrap())
    }

    #[test]
    fn template_round_header_and_sequence() {
        let mut s = udp(Stream::Clickstream);
        let msgs = drain(&mut s, T0);
        assert!(msgs.len() >= 2, "templates and type records span messages");
        let first = &msgs[0].0;
        // version 10, length, export time, sequence 0, domain 7.
        assert_eq!(&first[0..2], &[0, 10]);
        assert_eq!(
            u16::from_be_bytes([first[2], first[3]]) as usize,
            first.len()
        );
        assert_eq!(&first[4..8], &T0.to_be_bytes());
        assert_eq!(&first[8..12], &[0, 0, 0, 0]);
        assert_eq!(&first[12..16], &[0, 0, 0, 7]);
        // First set: the type records' options template; every type record
        // comes before the first template that uses our elements (a
        // collector resolves a template's elements when it receives it).
        assert_eq!(&first[16..18], &[0, 3]);
        let mut sets = Vec::new();
        for (m, _) in &msgs {
            let mut at = 16;
            while at + 4 <= m.len() {
                sets.push(u16::from_be_bytes([m[at], m[at + 1]]));
                at += usize::from(u16::from_be_bytes([m[at + 2], m[at + 3]]));
            }
        }
        let last_type = sets.iter().rposition(|&id| id == IE_TYPE_TEMPLATE.id.0);
        let first_template = sets.iter().position(|&id| id == TEMPLATE_SET_ID);
        let other_options = sets.iter().rposition(|&id| id == OPTIONS_TEMPLATE_SET_ID);
        assert!(last_type.unwrap() < first_template.unwrap(), "{sets:?}");
        assert!(last_type.unwrap() < other_options.unwrap(), "{sets:?}");
        let mut expect_seq = 0u32;
        let mut cache = TemplateCache::new();
        let (mut templates, mut type_records, mut stats_records) = (0, 0, 0);
        for (m, t) in &msgs {
            assert!(m.len() <= 1472);
            assert!(t.templates);
            assert_eq!(seq_of(m), expect_seq);
            expect_seq += t.records;
            let d = decode_message(&mut cache, m).unwrap();
            templates += d.templates;
            assert_eq!(d.records.len() as u32, t.records);
            for r in &d.records {
                match r.kind.as_deref() {
                    Some("ie_type") => type_records += 1,
                    Some("reliability") => stats_records += 1,
                    k => panic!("unexpected {k:?}"),
                }
            }
        }
        assert_eq!(templates, 6 + 3);
        assert_eq!(type_records, enterprise_elements(Stream::Clickstream).len());
        assert_eq!(stats_records, 1);
        assert_eq!(s.sequence(), expect_seq);
        assert!(drain(&mut s, T0).is_empty());
    }

    #[test]
    fn data_message_hand_checked() {
        let mut s = udp(Stream::Dns);
        let r = samples::dns(T0, false);
        assert_eq!(
            s.push(T0, &r),
            Err(PushError::Blocked),
            "templates go first"
        );
        let round = drain(&mut s, T0);
        let before = s.sequence();
        assert_eq!(before, round.iter().map(|(_, t)| t.records).sum::<u32>());
        assert_eq!(s.push(T0, &r), Ok(false));
        assert_eq!(s.push(T0 + 1, &r), Ok(false));
        assert!(
            drain(&mut s, T0 + 1).is_empty(),
            "nothing until flush or full"
        );
        s.flush();
        let msgs = drain(&mut s, T0 + 2);
        assert_eq!(msgs.len(), 1);
        let (m, t) = &msgs[0];
        assert_eq!(t.records, 2);
        let mut rec = Vec::with_capacity(200);
        crate::encoder::encode(&r, 1400, &mut rec).unwrap();
        let mut want = vec![0, 10];
        want.extend_from_slice(&((16 + 4 + 2 * rec.len()) as u16).to_be_bytes());
        want.extend_from_slice(&(T0 + 2).to_be_bytes());
        want.extend_from_slice(&before.to_be_bytes());
        want.extend_from_slice(&7u32.to_be_bytes());
        want.extend_from_slice(&[1, 16]); // set 272
        want.extend_from_slice(&((4 + 2 * rec.len()) as u16).to_be_bytes());
        want.extend_from_slice(&rec);
        want.extend_from_slice(&rec);
        assert_eq!(m, &want);
        assert_eq!(s.sequence(), before + 2);
    }

    #[test]
    fn mtu_edges() {
        let mut s = udp(Stream::Dns);
        drain(&mut s, T0);
        assert_eq!(s.config().max_message_len, 1472);
        assert_eq!(s.max_record_len(), 1452);
        let id = TemplateId(272);
        let max = vec![0u8; 1452];
        assert_eq!(
            s.push_record(T0, id, &[0u8; 1453]),
            Err(PushError::TooLong {
                len: 1453,
                max: 1452
            })
        );
        // 4 records of 363 octets fill a message to exactly 1472 octets.
        let rec = vec![0u8; 363];
        for _ in 0..5 {
            s.push_record(T0, id, &rec).unwrap();
        }
        let msgs = drain(&mut s, T0);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0.len(), 1472);
        assert_eq!(msgs[0].1.records, 4);
        s.flush();
        let msgs = drain(&mut s, T0);
        assert_eq!(msgs[0].1.records, 1);
        // A record of the maximum length travels alone.
        s.push_record(T0, id, &max).unwrap();
        s.flush();
        let msgs = drain(&mut s, T0);
        assert_eq!(msgs.len(), 1);
        assert_eq!(msgs[0].0.len(), 1472);
        // IPv6 collector: 20 octets less.
        let v6 = Session::new(SessionConfig::udp(Stream::Dns, 1500, true, 20)).unwrap();
        assert_eq!(v6.config().max_message_len, 1452);
        // A typed record longer than the limit is cut to fit, never split.
        let long = "x".repeat(5000);
        let mut r = samples::dns(T0, false);
        r.domain = crate::field::Text::from_str(&long);
        assert_eq!(s.push(T0, &r), Ok(true));
        s.flush();
        let msgs = drain(&mut s, T0);
        assert_eq!(msgs.len(), 1);
        assert!(msgs[0].0.len() <= 1472 && msgs[0].0.len() >= 1466);
    }

    #[test]
    fn config_refusals() {
        let mut cfg = SessionConfig::tcp(Stream::Meta, 1500, false);
        cfg.max_message_len = 65536;
        assert_eq!(
            Session::new(cfg).unwrap_err(),
            ConfigError::MessageTooLong(65536)
        );
        cfg.max_message_len = 65535;
        assert!(Session::new(cfg).is_ok());
        let small = SessionConfig::udp(Stream::Clickstream, 200, false, 20);
        assert!(matches!(
            Session::new(small),
            Err(ConfigError::MessageTooShort { .. })
        ));
    }

    #[test]
    fn wrong_template_is_refused() {
        let mut s = udp(Stream::Dns);
        drain(&mut s, T0);
        assert_eq!(
            s.push(T0, &samples::sip(T0, false)),
            Err(PushError::WrongTemplate(TemplateId(262)))
        );
        assert_eq!(
            s.push_record(T0, TemplateId(5), &[1]),
            Err(PushError::WrongTemplate(TemplateId(5)))
        );
    }

    #[test]
    fn udp_templates_repeat_on_the_timer() {
        let mut s = udp(Stream::Dns);
        drain(&mut s, T0);
        assert_eq!(s.poll_timeout(), Some(T0 + 20));
        s.push(T0 + 19, &samples::dns(T0, false)).unwrap();
        assert!(drain(&mut s, T0 + 19).is_empty());
        // At T0+20 the open data goes first, then the templates.
        assert_eq!(
            s.push(T0 + 20, &samples::dns(T0, false)),
            Err(PushError::Blocked)
        );
        let msgs = drain(&mut s, T0 + 20);
        assert!(!msgs[0].1.templates && msgs[0].1.records == 1);
        assert!(msgs[1..].iter().all(|(_, t)| t.templates));
        assert_eq!(s.stats().template_rounds, 2);
        assert_eq!(s.poll_timeout(), Some(T0 + 40));
        // Without data, handle_timeout alone brings the round.
        s.handle_timeout(T0 + 40);
        assert!(drain(&mut s, T0 + 40).iter().all(|(_, t)| t.templates));
        assert_eq!(s.stats().template_rounds, 3);
    }

    #[test]
    fn tcp_restart_sends_templates_first_and_restarts_sequence() {
        let mut s = Session::new(SessionConfig::tcp(Stream::Meta, 1500, false)).unwrap();
        drain(&mut s, T0);
        assert_eq!(s.poll_timeout(), None, "no refresh over TCP");
        for _ in 0..3 {
            s.push(T0, &samples::mail(T0, false)).unwrap();
        }
        assert!(s.sequence() > 0);
        assert_eq!(s.restart(), 3);
        assert_eq!(s.sequence(), 0);
        assert_eq!(s.stats().discarded, 3);
        assert_eq!(
            s.push(T0, &samples::mail(T0, false)),
            Err(PushError::Blocked)
        );
        let msgs = drain(&mut s, T0 + 5);
        assert!(msgs.iter().all(|(_, t)| t.templates));
        assert_eq!(seq_of(&msgs[0].0), 0);
        s.handle_timeout(T0 + 1000);
        assert!(drain(&mut s, T0 + 1000).is_empty());
    }

    #[test]
    fn bounded_blocked_until_transmitted() {
        let mut s = udp(Stream::Dns);
        drain(&mut s, T0);
        let r = samples::dns(T0, true);
        let mut n = 0;
        while s.push(T0, &r).is_ok() {
            n += 1;
            assert!(n < 1000, "never blocks");
        }
        assert_eq!(s.push(T0, &r), Err(PushError::Blocked));
        let mut buf = Vec::new();
        let t = s.poll_transmit(T0, &mut buf).unwrap();
        assert!(!t.templates);
        assert!(s.push(T0, &r).is_ok());
        s.flush();
        let total: u32 = t.records
            + drain(&mut s, T0)
                .iter()
                .map(|(_, t)| t.records)
                .sum::<u32>();
        assert_eq!(total, n + 1);
    }

    #[test]
    fn sequence_wraps_modulo_2_32() {
        let mut s = udp(Stream::Dns);
        drain(&mut s, T0);
        s.seq = u32::MAX;
        s.push(T0, &samples::dns(T0, false)).unwrap();
        s.push(T0, &samples::dns(T0, false)).unwrap();
        s.flush();
        let msgs = drain(&mut s, T0);
        assert_eq!(seq_of(&msgs[0].0), u32::MAX);
        assert_eq!(s.sequence(), 1);
    }

    /// The counters go one per record, after the reliability record, over as
    /// many messages as they need; a name too long is cut; the next template
    /// round carries them again.
    #[test]
    fn a_statistics_report_carries_every_counter() {
        let mut s = udp(Stream::Dns);
        let mut cache = TemplateCache::new();
        for (m, _) in drain(&mut s, T0) {
            decode_message(&mut cache, &m).unwrap();
        }
        let names: Vec<String> = (0..200).map(|i| format!("counter-{i}")).collect();
        let mut counts: Vec<NamedCount> = names
            .iter()
            .enumerate()
            .map(|(i, n)| NamedCount {
                family: "analysis",
                name: n.clone().leak(),
                value: i as u64,
            })
            .collect();
        counts.extend(samples::COUNTERS);
        s.set_counters(&counts);
        s.report_statistics();
        let before = s.sequence();
        let msgs = drain(&mut s, T0 + 1);
        assert!(msgs.len() > 1, "200 counters span messages");
        let mut got = Vec::new();
        for (m, t) in &msgs {
            assert!(t.options && !t.templates && m.len() <= 1472);
            let d = decode_message(&mut cache, m).unwrap();
            assert_eq!(d.records.len() as u32, t.records);
            got.extend(d.records);
        }
        assert_eq!(s.sequence(), before + 1 + counts.len() as u32);
        assert_eq!(got[0].kind.as_deref(), Some("reliability"));
        let counters: Vec<_> = got[1..].iter().collect();
        assert_eq!(counters.len(), counts.len());
        for (r, c) in counters.iter().zip(&counts) {
            assert_eq!(r.kind.as_deref(), Some("counter"));
            assert!(r.options);
            assert_eq!(r.get("meteringProcessId"), Some(&Value::Unsigned(0)));
            assert_eq!(r.get("COUNTER_FAMILY"), Some(&Value::Str(c.family.into())));
            let Some(Value::Str(name)) = r.get("COUNTER_NAME") else {
                panic!("{r:?}")
            };
            assert!(c.name.starts_with(name.as_str()) && name.len() <= COUNTER_TEXT_MAX);
            assert_eq!(r.get("COUNTER_VALUE"), Some(&Value::Unsigned(c.value)));
        }
        let long = counters.last().unwrap().get("COUNTER_NAME");
        assert_eq!(
            long,
            Some(&Value::Str(
                "a-name-longer-than-the-sixty-four-octets-a-counter-record-carrie".into()
            ))
        );
        // A template round ends with the report.
        s.handle_timeout(T0 + 20);
        let round = drain(&mut s, T0 + 20);
        let kinds: Vec<Option<String>> = round
            .iter()
            .flat_map(|(m, _)| decode_message(&mut cache, m).unwrap().records)
            .map(|r| r.kind)
            .collect();
        let n = kinds.len();
        assert_eq!(
            kinds[n - counts.len() - 1..n - counts.len()],
            [Some("reliability".to_string())]
        );
        assert!(
            kinds[n - counts.len()..]
                .iter()
                .all(|k| k.as_deref() == Some("counter"))
        );
    }

    #[test]
    fn reliability_report_carries_the_counts() {
        let mut s = udp(Stream::Meta);
        s.set_reliability(Reliability {
            not_sent_records: 42,
            not_sent_packets: 40,
            not_sent_octets: 4200,
            first_drop: T0 - 10,
            last_drop: T0 - 1,
        });
        let mut cache = TemplateCache::new();
        for (m, _) in drain(&mut s, T0) {
            decode_message(&mut cache, &m).unwrap();
        }
        s.report_statistics();
        let msgs = drain(&mut s, T0);
        assert_eq!(msgs.len(), 1);
        let d = decode_message(&mut cache, &msgs[0].0).unwrap();
        let r = &d.records[0];
        assert_eq!(r.kind.as_deref(), Some("reliability"));
        assert_eq!(r.get("notSentFlowTotalCount"), Some(&Value::Unsigned(42)));
        assert_eq!(
            r.get("notSentOctetTotalCount"),
            Some(&Value::Unsigned(4200))
        );
        assert_eq!(
            r.get("observationTimeSeconds"),
            Some(&Value::Unsigned(u64::from(T0 - 10)))
        );
        assert_eq!(
            r.get("observationTimeSeconds#2"),
            Some(&Value::Unsigned(u64::from(T0 - 1)))
        );
    }

    #[test]
    fn ie_type_records_name_every_enterprise_element() {
        let mut cache = TemplateCache::new();
        let mut names = Vec::new();
        for stream in Stream::ALL {
            let mut s = udp(stream);
            for (m, _) in drain(&mut s, T0) {
                for r in decode_message(&mut cache, &m).unwrap().records {
                    if r.kind.as_deref() == Some("ie_type") {
                        assert_eq!(
                            r.get("privateEnterpriseNumber"),
                            Some(&Value::Unsigned(43823))
                        );
                        let Some(Value::Unsigned(id)) = r.get("informationElementId") else {
                            panic!("no id")
                        };
                        let e = ie::lookup(*id as u16, 43823).unwrap();
                        assert!(e.is_enterprise());
                        assert_eq!(
                            r.get("informationElementName"),
                            Some(&Value::Str(e.name.into()))
                        );
                        assert_eq!(
                            r.get("informationElementDataType"),
                            Some(&Value::Unsigned(u64::from(e.data_type.code())))
                        );
                        for (f, v) in [
                            ("informationElementUnits", 0),
                            ("informationElementRangeBegin", 0),
                            ("informationElementRangeEnd", 0),
                        ] {
                            assert_eq!(r.get(f), Some(&Value::Unsigned(v)), "{f}");
                        }
                        names.push(e.name);
                    }
                }
            }
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(
            names.len(),
            ie::enterprise().count(),
            "every enterprise element is described"
        );
        assert!(names.contains(&"COUNTER_VALUE"));
    }
}
