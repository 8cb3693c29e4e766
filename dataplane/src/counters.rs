//! Counters a worker publishes and the main lcore reads.
//!
//! Each worker is the only writer of its counters, so an increment is a relaxed
//! load and store (no locked read-modify-write on the fast path); readers see
//! values at most one burst old. Each worker's block is cache-line aligned so
//! workers never share a line.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::app::dns::DnsError;
use crate::defrag::DefragStats;
use crate::flow::FlowStats;
use crate::wire::StopReason;

/// DNS parse errors counted by reason.
pub const DNS_ERRORS: usize = DnsError::COUNT;

/// Port ids above this are refused at start (DPDK's `RTE_MAX_ETHPORTS` on Debian 12).
pub const MAX_PORTS: usize = 32;

/// A counter with a single writer.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning worker may call this.
    #[inline]
    pub fn add(&self, n: u64) {
        self.0.store(
            self.0.load(Ordering::Relaxed).wrapping_add(n),
            Ordering::Relaxed,
        );
    }

    /// Publishes a value the worker keeps elsewhere (a gauge or a copied total).
    #[inline]
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// What one worker did on one port.
#[derive(Debug, Default)]
pub struct PortCounters {
    /// Packets received from this port.
    pub rx: Counter,
    /// Packets transmitted on this port.
    pub tx: Counter,
    /// Packets meant for this port that `tx_burst` did not take after the retries, freed.
    pub tx_dropped: Counter,
}

/// Everything one worker counts; written by that worker only.
#[derive(Debug)]
#[repr(align(64))]
pub struct WorkerCounters {
    pub ports: [PortCounters; MAX_PORTS],
    /// TSC cycles spent in loop iterations that received at least one packet.
    pub busy_cycles: Counter,
    /// Loop iterations, busy or idle.
    pub polls: Counter,
    /// Packets whose decoding stopped before an L4 payload, by reason (they are
    /// forwarded all the same).
    pub decode_stops: [Counter; StopReason::COUNT],
    /// The worker's flow table, as last published.
    pub flows: FlowCounters,
    pub app: AppCounters,
    pub stages: StageCounters,
    pub defrag: DefragCounters,
    pub subscribers: SubscriberCounters,
}

/// IP reassembly of a worker, as last published.
#[derive(Debug, Default)]
pub struct DefragCounters {
    pub fragments: Counter,
    pub reassembled: Counter,
    /// Datagrams given up: overlaps, too big, malformed, truncated, timed out, evicted.
    pub dropped: Counter,
}

impl DefragCounters {
    pub fn publish(&self, s: &DefragStats) {
        self.fragments.set(s.fragments);
        self.reassembled.set(s.reassembled);
        self.dropped
            .set(s.overlaps + s.too_big + s.malformed + s.truncated + s.timed_out + s.evicted);
    }
}

/// TSC cycles spent per analysis stage, over the packets timed (a sample).
#[derive(Debug, Default)]
pub struct StageCounters {
    pub timed: Counter,
    /// L2–L4 decoding, and the flow key, its hash and the first read of the
    /// flow table's memory (prepared for the whole burst before any lookup).
    pub decode: Counter,
    /// Flow table lookup and update (and eviction on a full table).
    pub flow: Counter,
    /// Application parsing (reassembly included) and building the records.
    pub parse: Counter,
    /// Encoding records into the worker's chunk and handing chunks to the export ring.
    pub enqueue: Counter,
}

/// A family of named counters: an enum whose rows give the name printed in
/// the summary, the stats line and the metrics, and a one-line meaning.
macro_rules! counter_table {
    (
        $(#[$doc:meta])*
        pub enum $name:ident {
            $($(#[$vdoc:meta])* $variant:ident = $label:literal, $meaning:literal;)+
        }
    ) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vdoc])* $variant,)+
        }

        impl $name {
            pub const ALL: &[$name] = &[$($name::$variant,)+];
            pub const COUNT: usize = Self::ALL.len();

            /// The name users see (`final analysis: … streams-exhausted 3`).
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $label,)+
                }
            }

            /// What it counts, in one line (docs, metrics HELP).
            pub const fn meaning(self) -> &'static str {
                match self {
                    $($name::$variant => $meaning,)+
                }
            }

            pub const fn index(self) -> usize {
                self as usize
            }
        }
    };
}

counter_table! {
    /// What the application layer of a worker did, and every place it gave up.
    pub enum AppCount {
        Records = "records", "records handed to the export side";
        FlowsUnrecognised = "flows-unrecognised",
            "flows no protocol signature matched (left unparsed)";
        FlowsNotWanted = "flows-not-wanted",
            "flows of a protocol whose records no configured stream wants";
        RecordsDropped = "records-dropped",
            "records the export ring could not take (ring full, no free chunk, too long)";
        StreamsExhausted = "streams-exhausted",
            "TCP ends left unparsed because the worker has no reassembly slot at all";
        StreamsReclaimed = "streams-reclaimed",
            "reassembly slots taken from the least recently used stream for a new one";
        StreamsLost = "streams-lost",
            "TCP ends whose partial message was dropped because its slot was reclaimed";
        ShortPathPackets = "short-path-packets",
            "packets that needed the flow table alone, not decoded whole: their flow's parsers wanted nothing of them";
        QuicExhausted = "quic-exhausted",
            "QUIC connections left unparsed because every QUIC slot was taken";
        QuicMalformed = "quic-malformed", "QUIC Initials that could not be read";
        QuicInitialsUnfinished = "quic-initials-unfinished",
            "QUIC connections whose 1-RTT packets came before their Initials were read whole (ServerHello or the rest of the ClientHello not seen)";
        TlsMalformed = "tls-malformed", "TLS handshakes whose structure is broken";
        TlsReplyWithoutCertificate = "tls-reply-without-certificate",
            "TLS replies exported without CN: the certificate did not follow the ServerHello";
        TlsTooLong = "tls-too-long",
            "TLS handshakes longer than a reassembly slot before the needed part";
        DnsTooLong = "dns-too-long", "DNS-over-TCP messages longer than a reassembly slot, skipped";
        HttpMalformed = "http-malformed",
            "HTTP streams that stopped being HTTP (a bad head or broken body framing)";
        HttpTruncated = "http-truncated", "HTTP request heads longer than a reassembly slot, exported cut";
        SipMessages = "sip-messages", "SIP messages read (UDP datagrams, messages framed on TCP)";
        SipRecords = "sip-records", "SIP records handed to the export side";
        SipMalformed = "sip-malformed",
            "SIP messages with a broken start line or Content-Length (a TCP end stops there)";
        SipTooLong = "sip-too-long",
            "SIP-over-TCP heads longer than a reassembly slot, or bodies too long to skip (the end stops there)";
        SipGatewaysCut = "sip-gateways-cut", "SIP records whose GATEWAYS list was cut after the last host that fit";
        FtpMessages = "ftp-messages", "FTP commands and whole replies read on control connections";
        FtpRecords = "ftp-records", "FTP login and mode records handed to the export side";
        FtpMalformed = "ftp-malformed", "FTP server lines that are no reply, skipped";
        FtpTooLong = "ftp-too-long", "FTP lines longer than a reassembly slot, skipped to their end";
        FtpNamesCut = "ftp-names-cut", "FTP records with USER, PASSWORD or SERVER_NAME cut to 64 octets";
        FtpExhausted = "ftp-exhausted",
            "FTP control connections left unparsed because every FTP slot was taken";
        FtpDataBound = "ftp-data-bound", "FTP data connections bound to the control connection that announced them";
        FtpDataTableFull = "ftp-data-table-full",
            "announced FTP data connections that displaced one still awaited (the worker's table was full)";
        XmppStanzas = "xmpp-stanzas", "XMPP top-level elements read (stanzas, SASL and TLS negotiation)";
        XmppRecords = "xmpp-records", "XMPP login and message records handed to the export side";
        XmppMalformed = "xmpp-malformed", "XMPP ends that stopped being XML (`<` not starting markup), left unparsed";
        XmppTooLong = "xmpp-too-long", "XMPP ends with a tag longer than a reassembly slot, left unparsed";
        XmppNamesCut = "xmpp-names-cut", "XMPP login records with IM_LOGIN, IM_PASSW (64 octets) or the JID (128) cut";
        XmppExhausted = "xmpp-exhausted",
            "XMPP connections left unparsed because every XMPP slot was taken";
        XmppGaps = "xmpp-gaps",
            "XMPP ends read on from a segment after a hole (the octets of the hole are lost)";
        OscarFrames = "oscar-frames", "OSCAR FLAP frames read (both directions)";
        OscarRecords = "oscar-records", "OSCAR (ICQ/AIM) sign-on and message records handed to the export side";
        OscarMalformed = "oscar-malformed", "OSCAR ends whose octets stopped being FLAP frames, left unparsed";
        OscarGaps = "oscar-gaps",
            "OSCAR ends read on from a segment after a hole (the octets of the hole are lost)";
        MailMessages = "mail-messages", "mail messages read whole (SMTP sent, POP3 and IMAP retrieved, IMAP appended)";
        MailRecords = "mail-records", "mail records handed to the export side";
        MailCut = "mail-cut",
            "mail records with an address list, Subject or header value cut to its capacity";
        MailTooLong = "mail-too-long", "mail lines longer than a reassembly slot, skipped to their end";
        MailMalformed = "mail-malformed", "SMTP and POP3 server lines that are no reply, skipped";
        MailExhausted = "mail-exhausted",
            "mail connections left unparsed because every mail slot was taken";
        MailMidstream = "mail-midstream",
            "mail connections picked up mid-stream, left unparsed (their raw records are still made)";
        MailTls = "mail-tls", "mail sessions that went TLS (STARTTLS/STLS): their metadata ends there";
        RawRecords = "raw-records", "raw metadata records handed to the export side";
        RawCut = "raw-cut", "raw metadata records whose payload was cut to ipfix_meta_raw_max_bytes";
        BlockHttpRedirected = "block-http-redirected",
            "listed HTTP requests dropped and answered with a 302 to block_redirect_url (LOCKED 2)";
        BlockHttpReset = "block-http-reset", "listed HTTP requests dropped, both ends reset (LOCKED 3)";
        BlockTlsReset = "block-tls-reset", "ClientHellos of a listed server name dropped, both ends reset (LOCKED 1)";
        BlockQuicDropped = "block-quic-dropped", "QUIC Initials of a listed server name dropped (LOCKED 1)";
        BlockFlowDropped = "block-flow-dropped", "later packets of blocked connections dropped";
        BlockInjected = "block-injected", "answers and resets of blocked requests sent";
        BlockNoMbuf = "block-no-mbuf",
            "answers and resets not sent: the mbuf pool was empty (the request is dropped all the same)";
        BlockNotBuilt = "block-not-built",
            "answers and resets not built: the burst's injections were full or the frame too long";
    }
}

counter_table! {
    /// What a worker did for LOGIN: the RADIUS accounting it read on the bridge
    /// and the flows' look-ups.
    pub enum SubscriberCount {
        RadiusStart = "radius-start", "RADIUS Accounting-Requests Start read on the bridge";
        RadiusInterim = "radius-interim", "RADIUS Accounting-Requests Interim-Update read on the bridge";
        RadiusStop = "radius-stop", "RADIUS Accounting-Requests Stop read on the bridge";
        RadiusOther = "radius-other",
            "RADIUS Accounting-Requests of another status (Accounting-On/Off, none), or naming no address or no User-Name";
        RadiusResponses = "radius-responses", "RADIUS Accounting-Responses read on the bridge";
        RadiusMalformed = "radius-malformed",
            "packets on a RADIUS accounting port that are no readable accounting message";
        RadiusQueueFull = "radius-queue-full",
            "RADIUS changes the main lcore's queue could not take (only this worker used them)";
        LookupsFound = "lookups-with-login", "flow login look-ups that found a login";
        LookupsNotFound = "lookups-without-login", "flow login look-ups that found none";
    }
}

/// A worker's [`SubscriberCount`]s.
#[derive(Debug)]
pub struct SubscriberCounters([Counter; SubscriberCount::COUNT]);

impl Default for SubscriberCounters {
    fn default() -> Self {
        SubscriberCounters(std::array::from_fn(|_| Counter::default()))
    }
}

impl SubscriberCounters {
    /// Only the owning worker may call this.
    #[inline]
    pub fn add(&self, what: SubscriberCount, n: u64) {
        if let Some(c) = self.0.get(what.index()) {
            c.add(n);
        }
    }

    pub fn get(&self, what: SubscriberCount) -> u64 {
        self.0.get(what.index()).map_or(0, Counter::get)
    }
}

impl AppCount {
    /// The row counts something given up or cut (an `[ANALYSIS]` alert when it
    /// moves), not work done.
    pub const fn is_loss(self) -> bool {
        !matches!(
            self,
            AppCount::Records
                | AppCount::ShortPathPackets
                | AppCount::SipMessages
                | AppCount::SipRecords
                | AppCount::FtpMessages
                | AppCount::FtpRecords
                | AppCount::FtpDataBound
                | AppCount::XmppStanzas
                | AppCount::XmppRecords
                | AppCount::OscarFrames
                | AppCount::OscarRecords
                | AppCount::MailMessages
                | AppCount::MailRecords
                | AppCount::MailTls
                | AppCount::RawRecords
                | AppCount::BlockHttpRedirected
                | AppCount::BlockHttpReset
                | AppCount::BlockTlsReset
                | AppCount::BlockQuicDropped
                | AppCount::BlockFlowDropped
                | AppCount::BlockInjected
        )
    }
}

/// What the application parsers of a worker did.
#[derive(Debug)]
pub struct AppCounters {
    counts: [Counter; AppCount::COUNT],
    dns_errors: [Counter; DNS_ERRORS],
}

impl Default for AppCounters {
    fn default() -> Self {
        AppCounters {
            counts: std::array::from_fn(|_| Counter::default()),
            dns_errors: std::array::from_fn(|_| Counter::default()),
        }
    }
}

impl AppCounters {
    /// Only the owning worker may call this.
    #[inline]
    pub fn add(&self, what: AppCount, n: u64) {
        #[expect(clippy::indexing_slicing, reason = "counts has a row per AppCount")]
        self.counts[what.index()].add(n);
    }

    pub fn get(&self, what: AppCount) -> u64 {
        #[expect(clippy::indexing_slicing, reason = "counts has a row per AppCount")]
        self.counts[what.index()].get()
    }

    /// A DNS message (or one of its answers) could not be read.
    pub fn add_dns_error(&self, e: DnsError) {
        #[expect(clippy::indexing_slicing, reason = "dns_errors has a row per DnsError")]
        self.dns_errors[e.index()].add(1);
    }

    pub fn dns_error(&self, e: DnsError) -> u64 {
        #[expect(clippy::indexing_slicing, reason = "dns_errors has a row per DnsError")]
        self.dns_errors[e.index()].get()
    }
}

/// A flow table's counters, published by its worker.
#[derive(Debug, Default)]
pub struct FlowCounters {
    pub active: Counter,
    pub created: Counter,
    pub evicted_full: Counter,
    pub expired_idle: Counter,
    pub closed_tcp: Counter,
    pub reused: Counter,
    pub untracked: Counter,
}

impl FlowCounters {
    pub fn publish(&self, active: usize, s: &FlowStats) {
        self.active.set(active as u64);
        self.created.set(s.created);
        self.evicted_full.set(s.evicted_full);
        self.expired_idle.set(s.expired_idle);
        self.closed_tcp.set(s.closed_tcp);
        self.reused.set(s.reused);
        self.untracked.set(s.untracked);
    }
}

impl Default for WorkerCounters {
    fn default() -> Self {
        Self {
            ports: std::array::from_fn(|_| PortCounters::default()),
            busy_cycles: Counter::default(),
            polls: Counter::default(),
            decode_stops: std::array::from_fn(|_| Counter::default()),
            flows: FlowCounters::default(),
            app: AppCounters::default(),
            stages: StageCounters::default(),
            defrag: DefragCounters::default(),
            subscribers: SubscriberCounters::default(),
        }
    }
}

/// A point-in-time copy of a worker's totals, for statistics.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerTotals {
    pub rx: u64,
    pub tx: u64,
    pub tx_dropped: u64,
    pub busy_cycles: u64,
}

impl WorkerTotals {
    /// Mean TSC cycles per received packet, over the busy iterations.
    pub fn cycles_per_packet(&self) -> f64 {
        if self.rx == 0 {
            0.0
        } else {
            self.busy_cycles as f64 / self.rx as f64
        }
    }

    /// What happened between `earlier` and `self`.
    pub fn since(&self, earlier: &WorkerTotals) -> WorkerTotals {
        WorkerTotals {
            rx: self.rx.wrapping_sub(earlier.rx),
            tx: self.tx.wrapping_sub(earlier.tx),
            tx_dropped: self.tx_dropped.wrapping_sub(earlier.tx_dropped),
            busy_cycles: self.busy_cycles.wrapping_sub(earlier.busy_cycles),
        }
    }
}

impl WorkerCounters {
    pub fn port(&self, port: u16) -> Option<&PortCounters> {
        self.ports.get(usize::from(port))
    }

    pub fn totals(&self) -> WorkerTotals {
        let mut t = WorkerTotals {
            busy_cycles: self.busy_cycles.get(),
            ..WorkerTotals::default()
        };
        for p in &self.ports {
            t.rx += p.rx.get();
            t.tx += p.tx.get();
            t.tx_dropped += p.tx_dropped.get();
        }
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_sum_every_port() {
        let c = WorkerCounters::default();
        c.ports[0].rx.add(3);
        c.ports[1].rx.add(4);
        c.ports[1].tx.add(3);
        c.ports[0].tx.add(2);
        c.ports[0].tx_dropped.add(2);
        c.busy_cycles.add(700);
        let t = c.totals();
        assert_eq!(
            t,
            WorkerTotals {
                rx: 7,
                tx: 5,
                tx_dropped: 2,
                busy_cycles: 700
            }
        );
        assert_eq!(t.cycles_per_packet(), 100.0);
    }

    #[test]
    fn since_gives_the_difference() {
        let a = WorkerTotals {
            rx: 10,
            tx: 9,
            tx_dropped: 1,
            busy_cycles: 1000,
        };
        let b = WorkerTotals {
            rx: 30,
            tx: 28,
            tx_dropped: 2,
            busy_cycles: 3000,
        };
        assert_eq!(
            b.since(&a),
            WorkerTotals {
                rx: 20,
                tx: 19,
                tx_dropped: 1,
                busy_cycles: 2000
            }
        );
        assert_eq!(WorkerTotals::default().cycles_per_packet(), 0.0);
    }

    #[test]
    fn worker_blocks_do_not_share_a_cache_line() {
        assert_eq!(std::mem::align_of::<WorkerCounters>(), 64);
    }

    #[test]
    fn ports_beyond_the_dpdk_limit_have_no_counters() {
        let c = WorkerCounters::default();
        assert!(c.port(MAX_PORTS as u16 - 1).is_some());
        assert!(c.port(MAX_PORTS as u16).is_none());
    }
}
