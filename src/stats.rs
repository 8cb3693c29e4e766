//! The statistics metaprobe prints: a one-line summary per period and a
//! final summary at exit (one line per port and per worker, `key value` pairs
//! that scripts can read).

use std::fmt::Write as _;
use std::time::Duration;

use metaprobe_dataplane::app::dns::DnsError;
use metaprobe_dataplane::counters::{AppCount, SubscriberCount, WorkerCounters, WorkerTotals};
use metaprobe_dataplane::wire::StopReason;
use metaprobe_export::dnslog::DnsLogStats;
use metaprobe_export::exporter::{ExportStats, StreamStats};
use metaprobe_ffi::PortStats;

use crate::http::ServerStats;
use crate::subscribers::{ListenerStats, SubscriberStats};
use metaprobe_ipfix::session::NamedCount;
use metaprobe_ipfix::template::Stream;

/// A port's counters at one moment: the driver's, and the packets for it that
/// the workers had to drop because its TX ring stayed full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortSnapshot {
    pub driver: PortStats,
    pub tx_dropped: u64,
    /// RX/TX queue pairs of the port.
    pub queues: u16,
}

impl PortSnapshot {
    /// The driver's (rx, tx) of each queue, when the port has several (none for one: the
    /// port's own counters are that queue's).
    pub fn per_queue(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        let n = if self.queues > 1 {
            usize::from(self.queues)
        } else {
            0
        };
        let d = &self.driver;
        d.queue_rx
            .iter()
            .copied()
            .zip(d.queue_tx.iter().copied())
            .take(n)
    }
}

/// Every counter at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// (port id, device name, counters)
    pub ports: Vec<(u16, String, PortSnapshot)>,
    /// (lcore, totals), in worker order.
    pub workers: Vec<(u32, WorkerTotals)>,
    /// The application layer's counters summed over workers, by [`AppCount`] index.
    pub analysis: [u64; AppCount::COUNT],
    /// The exporter's counters (its last cycle's, the workers' drops as of now).
    pub export: ExportStats,
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            ports: Vec::new(),
            workers: Vec::new(),
            analysis: [0; AppCount::COUNT],
            export: ExportStats::default(),
        }
    }
}

impl Snapshot {
    pub fn total_rx(&self) -> u64 {
        self.workers.iter().map(|(_, w)| w.rx).sum()
    }
}

/// One counter as the summary names it and as the metrics endpoint exports it: the
/// summary and the metrics read the same rows, so neither can miss a counter the other
/// shows.
pub struct Row<T> {
    /// Its name in the summary line (`tx-dropped`).
    pub name: &'static str,
    /// Its metric, after `metaprobe_` (`port_tx_dropped_packets_total`); a name that
    /// ends in `_total` is a counter, any other a gauge.
    pub metric: &'static str,
    /// What it counts (the metric's HELP).
    pub help: &'static str,
    pub get: Get<T>,
}

/// How a counter is read from what holds it.
pub type Get<T> = fn(&T) -> u64;

/// Counters of one metric told apart by a label (`reason`, `stage`); the summary
/// names each by its label value.
pub struct Labelled<T: 'static> {
    pub metric: &'static str,
    pub help: &'static str,
    pub label: &'static str,
    pub rows: &'static [(&'static str, Get<T>)],
}

/// The counters of a `final port` line, in its order.
#[rustfmt::skip]
pub const PORT_ROWS: [Row<PortSnapshot>; 7] = [
    Row { name: "rx", metric: "port_rx_packets_total", help: "Packets received by the port (driver).", get: |p| p.driver.rx },
    Row { name: "tx", metric: "port_tx_packets_total", help: "Packets transmitted by the port (driver).", get: |p| p.driver.tx },
    Row { name: "tx-dropped", metric: "port_tx_dropped_packets_total", help: "Packets for the port that tx_burst did not take after the retries (freed).", get: |p| p.tx_dropped },
    Row { name: "rx-missed", metric: "port_rx_missed_packets_total", help: "Packets the NIC dropped because its RX ring was full.", get: |p| p.driver.rx_missed },
    Row { name: "rx-nombuf", metric: "port_rx_nombuf_total", help: "RX mbuf allocation failures (the mempool was empty).", get: |p| p.driver.rx_nombuf },
    Row { name: "rx-errors", metric: "port_rx_errors_total", help: "Erroneous received packets (driver).", get: |p| p.driver.rx_errors },
    Row { name: "tx-errors", metric: "port_tx_errors_total", help: "Failed transmitted packets (driver).", get: |p| p.driver.tx_errors },
];

/// Port counters the metrics export beyond the summary line (the stats line shows
/// them as rates).
#[rustfmt::skip]
pub const PORT_BYTE_ROWS: [Row<PortSnapshot>; 2] = [
    Row { name: "rx-bytes", metric: "port_rx_bytes_total", help: "Octets received by the port (driver).", get: |p| p.driver.rx_bytes },
    Row { name: "tx-bytes", metric: "port_tx_bytes_total", help: "Octets transmitted by the port (driver).", get: |p| p.driver.tx_bytes },
];

/// The counters of a `final worker` line (then its cycles/pkt, from [`WORKER_CYCLES`]).
#[rustfmt::skip]
pub const WORKER_ROWS: [Row<WorkerTotals>; 3] = [
    Row { name: "rx", metric: "worker_rx_packets_total", help: "Packets the worker received, every port.", get: |w| w.rx },
    Row { name: "tx", metric: "worker_tx_packets_total", help: "Packets the worker transmitted, every port.", get: |w| w.tx },
    Row { name: "tx-dropped", metric: "worker_tx_dropped_packets_total", help: "Packets the worker freed because tx_burst did not take them.", get: |w| w.tx_dropped },
];

/// The cycles behind a worker's cycles/pkt (cycles/pkt = this / rx).
pub const WORKER_CYCLES: Row<WorkerTotals> = Row {
    name: "busy-cycles",
    metric: "worker_busy_cycles_total",
    help: "TSC cycles of the loop iterations that received a packet (cycles/pkt = this / rx).",
    get: |w| w.busy_cycles,
};

/// `final flows`.
#[rustfmt::skip]
pub const FLOW_ROWS: [Row<WorkerCounters>; 7] = [
    Row { name: "active", metric: "flows_active", help: "Flows in the flow table.", get: |w| w.flows.active.get() },
    Row { name: "created", metric: "flows_created_total", help: "Flows created.", get: |w| w.flows.created.get() },
    Row { name: "evicted-full", metric: "flows_evicted_full_total", help: "Flows evicted from a full table (the least recently seen).", get: |w| w.flows.evicted_full.get() },
    Row { name: "expired-idle", metric: "flows_expired_idle_total", help: "Flows ended by their idle timeout.", get: |w| w.flows.expired_idle.get() },
    Row { name: "closed-tcp", metric: "flows_closed_tcp_total", help: "TCP flows ended after RST or FIN from both ends.", get: |w| w.flows.closed_tcp.get() },
    Row { name: "reused", metric: "flows_reused_total", help: "Flow entries taken over by a new connection of the same 5-tuple.", get: |w| w.flows.reused.get() },
    Row { name: "untracked", metric: "flows_untracked_packets_total", help: "Packets with no flow key (no IP layer, or a later IP fragment).", get: |w| w.flows.untracked.get() },
];

/// `final ip reassembly`.
#[rustfmt::skip]
pub const REASSEMBLY_ROWS: [Row<WorkerCounters>; 3] = [
    Row { name: "fragments", metric: "reassembly_fragments_total", help: "IP fragments received.", get: |w| w.defrag.fragments.get() },
    Row { name: "datagrams", metric: "reassembly_datagrams_total", help: "IP datagrams reassembled and analysed.", get: |w| w.defrag.reassembled.get() },
    Row { name: "dropped", metric: "reassembly_dropped_total", help: "Datagrams given up: overlaps, too big, malformed, truncated, timed out, evicted.", get: |w| w.defrag.dropped.get() },
];

/// `final stages`: cycles of the timed packets (the summary divides by [`STAGES_TIMED`]).
pub const STAGES: Labelled<WorkerCounters> = Labelled {
    metric: "stage_cycles_total",
    help: "TSC cycles spent on the timed packets, by analysis stage.",
    label: "stage",
    rows: &[
        ("decode", |w| w.stages.decode.get()),
        ("flow", |w| w.stages.flow.get()),
        ("parse", |w| w.stages.parse.get()),
        ("enqueue", |w| w.stages.enqueue.get()),
    ],
};

pub const STAGES_TIMED: Row<WorkerCounters> = Row {
    name: "packets timed",
    metric: "stage_timed_packets_total",
    help: "Packets whose analysis stages were timed (a sample).",
    get: |w| w.stages.timed.get(),
};

/// The reasons of the `dropped` of a `final export` line, in its order.
pub const EXPORT_DROPS: Labelled<StreamStats> = Labelled {
    metric: "export_dropped_records_total",
    help: "Records of the stream not exported, by reason (for the collector reasons: \
           record deliveries, summed over the stream's collectors).",
    label: "reason",
    rows: &[
        ("ring-full", |s| s.dropped_ring_full),
        ("no-chunk", |s| s.dropped_no_chunk),
        ("too-long", |s| s.dropped_too_long),
        ("skipped", |s| s.dropped_skipped),
        ("backpressure", |s| s.dropped_backpressure),
        ("collector-down", |s| s.dropped_down),
        ("unreachable", |s| s.dropped_unreachable),
        ("refused", |s| s.dropped_refused),
        ("unacked", |s| s.dropped_unacked),
    ],
};

/// `produced` and `exported` of a `final export` line (then `dropped`).
#[rustfmt::skip]
pub const EXPORT_ROWS: [Row<StreamStats>; 2] = [
    Row { name: "produced", metric: "export_produced_records_total", help: "Records the workers made for the stream.", get: |s| s.produced },
    Row { name: "exported", metric: "export_exported_records_total", help: "Record deliveries written to a collector of the stream.", get: |s| s.exported },
];

/// The last counter of a `final export` line.
pub const EXPORT_TRUNCATED: Row<StreamStats> = Row {
    name: "truncated",
    metric: "export_truncated_records_total",
    help: "Records with a variable-length field cut to fit ipfix_mtu (by the worker, or for each UDP collector of a stream that also has TCP collectors).",
    get: |s| s.truncated,
};

/// `final dns log`.
#[rustfmt::skip]
pub const DNS_LOG_ROWS: [Row<DnsLogStats>; 4] = [
    Row { name: "lines", metric: "dns_log_lines_total", help: "Lines written to the DNS text log.", get: |l| l.lines },
    Row { name: "dropped", metric: "dns_log_dropped_lines_total", help: "DNS text log lines lost to a failure.", get: |l| l.dropped_lines },
    Row { name: "rotations", metric: "dns_log_rotations_total", help: "DNS text log files closed and renamed.", get: |l| l.rotations },
    Row { name: "errors", metric: "dns_log_errors_total", help: "DNS text log failures.", get: |l| l.errors },
];

/// `final logs`: `fastdpi_alert.log`, `fastdpi_stat.log`, and their reopening.
#[rustfmt::skip]
pub const LOG_ROWS: [Row<ExportStats>; 4] = [
    Row { name: "reopened", metric: "logs_reopened_total", help: "Times the log files were reopened (SIGHUP).", get: |e| e.log_reopens },
    Row { name: "alert-lines", metric: "alert_log_lines_total", help: "Lines written to fastdpi_alert.log.", get: |e| e.alert_lines },
    Row { name: "stat-sections", metric: "stat_log_sections_total", help: "Sections written to fastdpi_stat.log.", get: |e| e.stat_sections },
    Row { name: "errors", metric: "logs_write_errors_total", help: "Writes to fastdpi_alert.log or fastdpi_stat.log that failed.", get: |e| e.log_errors },
];

/// `final subscribers`, the main lcore's part (then the workers' [`SubscriberCount`]s).
#[rustfmt::skip]
pub const SUBSCRIBER_ROWS: [Row<SubscriberStats>; 6] = [
    Row { name: "file-prefixes", metric: "subscribers_file_prefixes", help: "Prefixes of subscribers_file in use.", get: |s| s.file_prefixes },
    Row { name: "radius-bindings", metric: "subscribers_radius_bindings", help: "Addresses bound to a login by RADIUS accounting now.", get: |s| s.radius.bindings },
    Row { name: "radius-bound", metric: "subscribers_radius_bound_total", help: "Addresses bound to a new login by RADIUS accounting (a refresh with the same login is not counted).", get: |s| s.radius.bound },
    Row { name: "radius-unbound", metric: "subscribers_radius_unbound_total", help: "Addresses unbound by RADIUS Accounting-Request Stop.", get: |s| s.radius.unbound },
    Row { name: "radius-evicted", metric: "subscribers_radius_evicted_total", help: "RADIUS bindings evicted from a full table (subscribers_max), the least recently refreshed.", get: |s| s.radius.evicted },
    Row { name: "map-publishes", metric: "subscribers_map_publishes_total", help: "Subscriber maps published to the workers for RADIUS changes.", get: |s| s.publishes },
];

/// With `radius_accounting_listen`: the listener's part of `final subscribers`.
#[rustfmt::skip]
pub const LISTENER_ROWS: [Row<ListenerStats>; 5] = [
    Row { name: "listener-requests", metric: "radius_listener_requests_total", help: "Accounting-Requests the listener accepted (authenticator matched).", get: |l| l.requests },
    Row { name: "listener-responses", metric: "radius_listener_responses_total", help: "Accounting-Responses the listener sent.", get: |l| l.responses },
    Row { name: "listener-bad-authenticator", metric: "radius_listener_bad_authenticator_total", help: "Accounting-Requests dropped unanswered: the authenticator did not match radius_secret.", get: |l| l.bad_authenticator },
    Row { name: "listener-malformed", metric: "radius_listener_malformed_total", help: "Datagrams to the listener that are no readable Accounting-Request.", get: |l| l.malformed },
    Row { name: "listener-errors", metric: "radius_listener_errors_total", help: "Receive or send failures of the listener's socket.", get: |l| l.errors },
];

/// `final subscribers: file-prefixes 6 radius-bindings 1 … radius-start 1 … lookups-without-login 2`
/// (and the listener's counts when there is one).
pub fn subscribers_summary<'a>(
    s: &SubscriberStats,
    workers: impl Iterator<Item = &'a WorkerCounters> + Clone,
) -> String {
    let mut out = format!("final subscribers: {}", pairs(&SUBSCRIBER_ROWS, s));
    for &what in SubscriberCount::ALL {
        let n: u64 = workers.clone().map(|w| w.subscribers.get(what)).sum();
        let _ = write!(out, " {} {n}", what.name());
    }
    if let Some(l) = &s.listener {
        let _ = write!(out, " {}", pairs(&LISTENER_ROWS, l));
    }
    out.push('\n');
    out
}

/// `name value` of each row, space-separated.
fn pairs<T>(rows: &[Row<T>], of: &T) -> String {
    let v: Vec<String> = rows
        .iter()
        .map(|r| format!("{} {}", r.name, (r.get)(of)))
        .collect();
    v.join(" ")
}

/// The records of a stream that were not exported, every reason.
pub fn export_dropped(s: &StreamStats) -> u64 {
    EXPORT_DROPS.rows.iter().map(|(_, get)| get(s)).sum()
}

/// `final port 0 (net_pcap0): rx 1000 tx 400 tx-dropped 0 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0`
/// and `final worker 0 (lcore 1): rx 1400 tx 1400 tx-dropped 0 cycles/pkt 123.4`.
/// A port with several queues adds the driver's per-queue counters: `… q0-rx 600 q0-tx
/// 590 q1-rx 400 q1-tx 410` (queue N is polled by the worker whose start line names it).
pub fn final_summary(s: &Snapshot) -> String {
    let mut out = String::new();
    for (port, name, p) in &s.ports {
        let _ = write!(out, "final port {port} ({name}): {}", pairs(&PORT_ROWS, p));
        for (q, (rx, tx)) in p.per_queue().enumerate() {
            let _ = write!(out, " q{q}-rx {rx} q{q}-tx {tx}");
        }
        out.push('\n');
    }
    for (i, (lcore, w)) in s.workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "final worker {i} (lcore {lcore}): {} cycles/pkt {:.1}",
            pairs(&WORKER_ROWS, w),
            w.cycles_per_packet()
        );
    }
    out
}

/// What the workers' analysis saw, summed over workers:
/// `final flows: active 3 created 10 evicted-full 0 expired-idle 7 closed-tcp 0 reused 0 untracked 2`
/// `final decode stops: unknown-ether-type 2 ipv4-truncated 1` (reasons with a count, or `none`),
/// `final analysis: records 12 records-dropped 0 streams-exhausted 0 …` (every
/// [`AppCount`]) and `final dns errors: pointer_loop 1` (or `none`).
pub fn analysis_summary<'a>(workers: impl Iterator<Item = &'a WorkerCounters> + Clone) -> String {
    let sum = |f: fn(&WorkerCounters) -> u64| workers.clone().map(f).sum::<u64>();
    let summed = |rows: &[Row<WorkerCounters>]| {
        let v: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", r.name, sum(r.get)))
            .collect();
        v.join(" ")
    };
    let mut out = format!("final flows: {}\n", summed(&FLOW_ROWS));
    let _ = writeln!(out, "final ip reassembly: {}", summed(&REASSEMBLY_ROWS));
    out.push_str("final decode stops:");
    let mut any = false;
    for reason in StopReason::ALL {
        let n: u64 = workers
            .clone()
            .filter_map(|w| w.decode_stops.get(reason.index()))
            .map(|c| c.get())
            .sum();
        if n > 0 {
            let _ = write!(out, " {} {n}", reason.name());
            any = true;
        }
    }
    out.push_str(if any { "\n" } else { " none\n" });
    out.push_str("final analysis:");
    for &what in AppCount::ALL {
        let n: u64 = workers.clone().map(|w| w.app.get(what)).sum();
        let _ = write!(out, " {} {n}", what.name());
    }
    out.push_str("\nfinal dns errors:");
    let mut any = false;
    for &e in DnsError::ALL {
        let n: u64 = workers.clone().map(|w| w.app.dns_error(e)).sum();
        if n > 0 {
            let _ = write!(out, " {} {n}", e.name());
            any = true;
        }
    }
    out.push_str(if any { "\n" } else { " none\n" });
    let timed = sum(STAGES_TIMED.get);
    out.push_str("final stages:");
    for (name, get) in STAGES.rows {
        let per = if timed == 0 {
            0.0
        } else {
            sum(*get) as f64 / timed as f64
        };
        let _ = write!(out, " {name} {per:.1}");
    }
    let _ = writeln!(out, " cycles/pkt ({timed} {})", STAGES_TIMED.name);
    out
}

/// Every counter of the workers' `final` lines, summed over the workers, by the
/// summary's names (family = the line): flows, ip-reassembly, decode-stops,
/// analysis, dns-errors, subscribers. For the IPFIX counter records; read on
/// the export thread from the published atomics, as the stats line reads them.
pub fn named_counts<'a>(
    workers: impl Iterator<Item = &'a WorkerCounters> + Clone,
    out: &mut Vec<NamedCount>,
) {
    let sum = |f: &dyn Fn(&WorkerCounters) -> u64| workers.clone().map(f).sum::<u64>();
    let mut put = |family, name, value| {
        out.push(NamedCount {
            family,
            name,
            value,
        });
    };
    for r in &FLOW_ROWS {
        put("flows", r.name, sum(&r.get));
    }
    for r in &REASSEMBLY_ROWS {
        put("ip-reassembly", r.name, sum(&r.get));
    }
    for reason in StopReason::ALL {
        let n = sum(&|w| w.decode_stops.get(reason.index()).map_or(0, |c| c.get()));
        put("decode-stops", reason.name(), n);
    }
    for &what in AppCount::ALL {
        put("analysis", what.name(), sum(&|w| w.app.get(what)));
    }
    for &e in DnsError::ALL {
        put("dns-errors", e.name(), sum(&|w| w.app.dns_error(e)));
    }
    for &what in SubscriberCount::ALL {
        put(
            "subscribers",
            what.name(),
            sum(&|w| w.subscribers.get(what)),
        );
    }
}

/// One line per export stream:
/// `final export dns: produced 10 exported 10 dropped 0 (ring-full 0 no-chunk 0 too-long 0 skipped 0 backpressure 0 collector-down 0 unreachable 0 refused 0 unacked 0) truncated 0`.
pub fn export_summary(e: &ExportStats) -> String {
    let mut out = String::new();
    for (stream, s) in Stream::ALL.iter().zip(&e.streams) {
        let reasons: Vec<String> = EXPORT_DROPS
            .rows
            .iter()
            .map(|(name, get)| format!("{name} {}", get(s)))
            .collect();
        let _ = writeln!(
            out,
            "final export {}: {} dropped {} ({}) {}",
            stream.name(),
            pairs(&EXPORT_ROWS, s),
            export_dropped(s),
            reasons.join(" "),
            pairs(std::slice::from_ref(&EXPORT_TRUNCATED), s),
        );
    }
    if let Some(log) = &e.dns_log {
        let _ = writeln!(out, "final dns log: {}", pairs(&DNS_LOG_ROWS, log));
    }
    let _ = writeln!(out, "final logs: {}", pairs(&LOG_ROWS, e));
    out
}

/// With `metrics_listen`: `final metrics: responses 200 12 404 1 405 0 400 0 431 0 timed-out 0 failed 0`.
pub fn metrics_summary(s: &ServerStats) -> String {
    let responses: Vec<String> = s
        .responses
        .iter()
        .map(|(status, n)| format!("{status} {n}"))
        .collect();
    format!(
        "final metrics: responses {} timed-out {} failed {}\n",
        responses.join(" "),
        s.timed_out,
        s.failed
    )
}

/// One line for the period between `before` and `now`:
/// `stats 10.0s | port 0 rx 12000000 (1.20 Mpps 0.98 Gbit/s) tx 12000000 (1.20 Mpps) drops 0 | … | worker 0 85.3 cycles/pkt | clickstream produced 10 exported 10 dropped 0 | meta … | dns …`.
/// Counts are of the period; a port's drops are everything lost in it (rx-missed,
/// rx-nombuf, rx/tx errors and tx-dropped), a stream's every reason of its
/// `final export` line; then the analysis counters that moved in the period
/// (` | analysis records 120 tls-malformed 1`).
pub fn period_line(before: &Snapshot, now: &Snapshot, period: Duration) -> String {
    let secs = period.as_secs_f64().max(1e-9);
    let mut out = format!("stats {:.1}s", period.as_secs_f64());
    for (port, _, p) in &now.ports {
        let old = before
            .ports
            .iter()
            .find(|(id, _, _)| id == port)
            .map(|(_, _, o)| *o)
            .unwrap_or_default();
        let (d, o) = (&p.driver, &old.driver);
        let lost = |s: &PortStats, dropped: u64| {
            s.rx_missed + s.rx_nombuf + s.rx_errors + s.tx_errors + dropped
        };
        let drops = lost(d, p.tx_dropped).saturating_sub(lost(o, old.tx_dropped));
        let rx = d.rx.saturating_sub(o.rx);
        let tx = d.tx.saturating_sub(o.tx);
        let _ = write!(
            out,
            " | port {port} rx {rx} ({} {:.2} Gbit/s) tx {tx} ({}) drops {drops}",
            packet_rate(rx as f64 / secs),
            d.rx_bytes.saturating_sub(o.rx_bytes) as f64 * 8.0 / secs / 1e9,
            packet_rate(tx as f64 / secs),
        );
    }
    for (i, (_, w)) in now.workers.iter().enumerate() {
        let old = before.workers.get(i).map(|(_, o)| *o).unwrap_or_default();
        let _ = write!(
            out,
            " | worker {i} {:.1} cycles/pkt",
            w.since(&old).cycles_per_packet()
        );
    }
    for ((stream, s), old) in Stream::ALL
        .iter()
        .zip(&now.export.streams)
        .zip(&before.export.streams)
    {
        let _ = write!(
            out,
            " | {} produced {} exported {} dropped {}",
            stream.name(),
            s.produced.saturating_sub(old.produced),
            s.exported.saturating_sub(old.exported),
            export_dropped(s).saturating_sub(export_dropped(old)),
        );
    }
    // The analysis counters that moved in the period.
    let mut first = true;
    for (&what, (n, o)) in AppCount::ALL
        .iter()
        .zip(now.analysis.iter().zip(&before.analysis))
    {
        let d = n.saturating_sub(*o);
        if d > 0 {
            out.push_str(if first { " | analysis" } else { "" });
            let _ = write!(out, " {} {d}", what.name());
            first = false;
        }
    }
    out
}

/// `1.20 Mpps`, `45.0 kpps`, `35 pps`.
fn packet_rate(pps: f64) -> String {
    if pps >= 1e6 {
        format!("{:.2} Mpps", pps / 1e6)
    } else if pps >= 1e3 {
        format!("{:.1} kpps", pps / 1e3)
    } else {
        format!("{pps:.0} pps")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(rx: u64, tx: u64, dropped: u64, cycles: u64) -> Snapshot {
        let driver = PortStats {
            rx,
            tx,
            rx_bytes: rx * 100,
            ..PortStats::default()
        };
        Snapshot {
            ports: vec![(
                0,
                "net_pcap0".into(),
                PortSnapshot {
                    driver,
                    tx_dropped: dropped,
                    queues: 1,
                },
            )],
            workers: vec![(
                1,
                WorkerTotals {
                    rx,
                    tx,
                    tx_dropped: dropped,
                    busy_cycles: cycles,
                },
            )],
            analysis: std::array::from_fn(|i| {
                if i == AppCount::Records.index() {
                    rx / 100
                } else {
                    0
                }
            }),
            export: ExportStats::default(),
        }
    }

    #[test]
    fn final_lines_have_the_documented_shape() {
        let text = final_summary(&snapshot(1000, 990, 10, 50_000));
        assert_eq!(
            text,
            "final port 0 (net_pcap0): rx 1000 tx 990 tx-dropped 10 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0\n\
             final worker 0 (lcore 1): rx 1000 tx 990 tx-dropped 10 cycles/pkt 50.0\n"
        );
    }

    #[test]
    fn ports_with_several_queues_show_each_queue() {
        let mut s = snapshot(1000, 990, 0, 50_000);
        let (_, _, port) = &mut s.ports[0];
        port.queues = 2;
        port.driver.queue_rx[..3].copy_from_slice(&[600, 400, 7]);
        port.driver.queue_tx[..3].copy_from_slice(&[590, 400, 7]);
        let text = final_summary(&s);
        assert_eq!(
            text.lines().next(),
            Some(
                "final port 0 (net_pcap0): rx 1000 tx 990 tx-dropped 0 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0 \
                 q0-rx 600 q0-tx 590 q1-rx 400 q1-tx 400"
            )
        );
    }

    #[test]
    fn the_analysis_summary_sums_workers_and_names_stop_reasons() {
        let (a, b) = (WorkerCounters::default(), WorkerCounters::default());
        a.flows.active.set(2);
        b.flows.active.set(3);
        b.flows.untracked.set(4);
        let reason = StopReason::ALL[0];
        a.decode_stops[reason.index()].add(5);
        b.decode_stops[reason.index()].add(1);
        let text_of = |a, b| analysis_summary([a, b].into_iter());
        a.stages.timed.add(2);
        a.stages.decode.add(100);
        a.stages.flow.add(300);
        b.stages.timed.add(2);
        b.stages.parse.add(60);
        b.stages.enqueue.add(20);
        a.app.add(AppCount::StreamsExhausted, 3);
        b.app.add(AppCount::StreamsExhausted, 4);
        b.app.add(AppCount::TlsMalformed, 1);
        // Every row, in table order, summed over the workers.
        let analysis: String = AppCount::ALL
            .iter()
            .map(|&c| {
                let n = match c {
                    AppCount::StreamsExhausted => 7,
                    AppCount::TlsMalformed => 1,
                    _ => 0,
                };
                format!(" {} {n}", c.name())
            })
            .collect();
        assert!(analysis.starts_with(" records 0 flows-unrecognised 0 "));
        assert_eq!(
            text_of(&a, &b),
            format!(
                "final flows: active 5 created 0 evicted-full 0 expired-idle 0 closed-tcp 0 reused 0 untracked 4\n\
                 final ip reassembly: fragments 0 datagrams 0 dropped 0\n\
                 final decode stops: {} 6\n\
                 final analysis:{}\n\
                 final dns errors: none\n\
                 final stages: decode 25.0 flow 75.0 parse 15.0 enqueue 5.0 cycles/pkt (4 packets timed)\n",
                reason.name(),
                analysis
            )
        );
        let quiet = WorkerCounters::default();
        assert!(analysis_summary([&quiet].into_iter()).contains("final decode stops: none\n"));
    }

    #[test]
    fn the_export_lines_name_every_drop_reason() {
        let mut e = ExportStats::default();
        e.streams[2] = StreamStats {
            produced: 10,
            received: 9,
            exported: 7,
            dropped_ring_full: 1,
            dropped_backpressure: 2,
            truncated: 1,
            ..StreamStats::default()
        };
        e.dns_log = Some(DnsLogStats {
            lines: 9,
            dropped_lines: 0,
            rotations: 1,
            errors: 0,
        });
        let text = export_summary(&e);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "final export clickstream: produced 0 exported 0 dropped 0 (ring-full 0 no-chunk 0 too-long 0 skipped 0 backpressure 0 collector-down 0 unreachable 0 refused 0 unacked 0) truncated 0",
                "final export meta: produced 0 exported 0 dropped 0 (ring-full 0 no-chunk 0 too-long 0 skipped 0 backpressure 0 collector-down 0 unreachable 0 refused 0 unacked 0) truncated 0",
                "final export dns: produced 10 exported 7 dropped 3 (ring-full 1 no-chunk 0 too-long 0 skipped 0 backpressure 2 collector-down 0 unreachable 0 refused 0 unacked 0) truncated 1",
                "final dns log: lines 9 dropped 0 rotations 1 errors 0",
                "final logs: reopened 0 alert-lines 0 stat-sections 0 errors 0",
            ]
        );
    }

    #[test]
    fn the_metrics_line_counts_responses_by_status() {
        let mut s = ServerStats::default();
        s.responses[0].1 = 12;
        s.timed_out = 1;
        assert_eq!(
            metrics_summary(&s),
            "final metrics: responses 200 12 404 0 405 0 400 0 431 0 timed-out 1 failed 0\n"
        );
    }

    #[test]
    fn rates_use_a_readable_unit() {
        assert_eq!(packet_rate(35.0), "35 pps");
        assert_eq!(packet_rate(45_000.0), "45.0 kpps");
        assert_eq!(packet_rate(12_345_678.0), "12.35 Mpps");
    }

    #[test]
    fn the_period_line_gives_rates_and_drops_of_the_period() {
        let before = snapshot(1_000_000, 1_000_000, 5, 0);
        let mut now = snapshot(3_000_000, 2_999_990, 15, 200_000_000);
        now.export.streams[0] = StreamStats {
            produced: 12,
            exported: 9,
            dropped_backpressure: 2,
            dropped_down: 1,
            ..StreamStats::default()
        };
        now.export.streams[2].produced = 4;
        now.export.streams[2].exported = 4;
        let line = period_line(&before, &now, Duration::from_secs(2));
        assert_eq!(
            line,
            "stats 2.0s | port 0 rx 2000000 (1.00 Mpps 0.80 Gbit/s) tx 1999990 (1000.0 kpps) drops 10 \
             | worker 0 100.0 cycles/pkt | clickstream produced 12 exported 9 dropped 3 \
             | meta produced 0 exported 0 dropped 0 | dns produced 4 exported 4 dropped 0 | analysis records 20000"
        );
        // Of the period: what was there before is not counted again.
        let again = period_line(&now, &now, Duration::from_secs(2));
        assert!(
            again.ends_with("| clickstream produced 0 exported 0 dropped 0 | meta produced 0 exported 0 dropped 0 | dns produced 0 exported 0 dropped 0"),
            "{again}"
        );
    }
}
