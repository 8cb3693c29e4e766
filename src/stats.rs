//! The statistics metaprobe prints: a one-line summary per period and a
//! final summary at exit (one line per port and per worker, `key value` pairs
//! that scripts can read).

use std::fmt::Write as _;
use std::time::Duration;

use metaprobe_dataplane::app::dns::DnsError;
use metaprobe_dataplane::counters::{AppCount, WorkerCounters, WorkerTotals};
use metaprobe_dataplane::wire::StopReason;
use metaprobe_export::exporter::ExportStats;
use metaprobe_ffi::PortStats;
use metaprobe_ipfix::template::Stream;

/// A port's counters at one moment: the driver's, and the packets for it that
/// the workers had to drop because its TX ring stayed full.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PortSnapshot {
    pub driver: PortStats,
    pub tx_dropped: u64,
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
}

impl Default for Snapshot {
    fn default() -> Self {
        Snapshot {
            ports: Vec::new(),
            workers: Vec::new(),
            analysis: [0; AppCount::COUNT],
        }
    }
}

impl Snapshot {
    pub fn total_rx(&self) -> u64 {
        self.workers.iter().map(|(_, w)| w.rx).sum()
    }
}

/// `final port 0 (net_pcap0): rx 1000 tx 400 tx-dropped 0 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0`
/// and `final worker 0 (lcore 1): rx 1400 tx 1400 tx-dropped 0 cycles/pkt 123.4`.
pub fn final_summary(s: &Snapshot) -> String {
    let mut out = String::new();
    for (port, name, p) in &s.ports {
        let d = &p.driver;
        let _ = writeln!(
            out,
            "final port {port} ({name}): rx {} tx {} tx-dropped {} rx-missed {} rx-nombuf {} rx-errors {} tx-errors {}",
            d.rx, d.tx, p.tx_dropped, d.rx_missed, d.rx_nombuf, d.rx_errors, d.tx_errors
        );
    }
    for (i, (lcore, w)) in s.workers.iter().enumerate() {
        let _ = writeln!(
            out,
            "final worker {i} (lcore {lcore}): rx {} tx {} tx-dropped {} cycles/pkt {:.1}",
            w.rx,
            w.tx,
            w.tx_dropped,
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
    let mut out = format!(
        "final flows: active {} created {} evicted-full {} expired-idle {} closed-tcp {} reused {} untracked {}\n",
        sum(|w| w.flows.active.get()),
        sum(|w| w.flows.created.get()),
        sum(|w| w.flows.evicted_full.get()),
        sum(|w| w.flows.expired_idle.get()),
        sum(|w| w.flows.closed_tcp.get()),
        sum(|w| w.flows.reused.get()),
        sum(|w| w.flows.untracked.get()),
    );
    let _ = writeln!(
        out,
        "final ip reassembly: fragments {} datagrams {} dropped {}",
        sum(|w| w.defrag.fragments.get()),
        sum(|w| w.defrag.reassembled.get()),
        sum(|w| w.defrag.dropped.get()),
    );
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
    let timed = sum(|w| w.stages.timed.get());
    let per = |total: u64| {
        if timed == 0 {
            0.0
        } else {
            total as f64 / timed as f64
        }
    };
    let _ = writeln!(
        out,
        "final stages: decode {:.1} flow {:.1} parse {:.1} enqueue {:.1} cycles/pkt ({timed} packets timed)",
        per(sum(|w| w.stages.decode.get())),
        per(sum(|w| w.stages.flow.get())),
        per(sum(|w| w.stages.parse.get())),
        per(sum(|w| w.stages.enqueue.get())),
    );
    out
}

/// One line per export stream:
/// `final export dns: produced 10 exported 10 dropped 0 (ring-full 0 no-chunk 0 too-long 0 skipped 0 backpressure 0 collector-down 0)`.
pub fn export_summary(e: &ExportStats) -> String {
    let mut out = String::new();
    for (stream, s) in Stream::ALL.iter().zip(&e.streams) {
        let dropped = s.dropped_ring_full
            + s.dropped_no_chunk
            + s.dropped_too_long
            + s.dropped_skipped
            + s.dropped_backpressure
            + s.dropped_down;
        let _ = writeln!(
            out,
            "final export {}: produced {} exported {} dropped {dropped} (ring-full {} no-chunk {} too-long {} skipped {} backpressure {} collector-down {}) truncated {}",
            stream.name(),
            s.produced,
            s.exported,
            s.dropped_ring_full,
            s.dropped_no_chunk,
            s.dropped_too_long,
            s.dropped_skipped,
            s.dropped_backpressure,
            s.dropped_down,
            s.truncated
        );
    }
    if let Some(log) = &e.dns_log {
        let _ = writeln!(
            out,
            "final dns log: lines {} dropped {} rotations {} errors {}",
            log.lines, log.dropped_lines, log.rotations, log.errors
        );
    }
    out
}

/// One line for the period between `before` and `now`:
/// `stats 10.0s | port 0 rx 12000000 (1.20 Mpps 0.98 Gbit/s) tx 12000000 (1.20 Mpps) drops 0 | … | worker 0 85.3 cycles/pkt`.
/// Packet counts are of the period; drops are everything lost in it:
/// rx-missed, rx-nombuf, rx/tx errors and tx-dropped; then the analysis
/// counters that moved in the period (` | analysis records 120 tls-malformed 1`).
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
        assert_eq!(
            text_of(&a, &b),
            format!(
                "final flows: active 5 created 0 evicted-full 0 expired-idle 0 closed-tcp 0 reused 0 untracked 4\n\
                 final ip reassembly: fragments 0 datagrams 0 dropped 0\n\
                 final decode stops: {} 6\n\
                 final analysis: records 0 records-dropped 0 streams-exhausted 7 streams-reclaimed 0 streams-lost 0 quic-exhausted 0 quic-malformed 0 tls-malformed 1 tls-reply-without-certificate 0 tls-too-long 0 dns-too-long 0 http-malformed 0 http-truncated 0\n\
                 final dns errors: none\n\
                 final stages: decode 25.0 flow 75.0 parse 15.0 enqueue 5.0 cycles/pkt (4 packets timed)\n",
                reason.name()
            )
        );
        let quiet = WorkerCounters::default();
        assert!(analysis_summary([&quiet].into_iter()).contains("final decode stops: none\n"));
    }

    #[test]
    fn rates_use_a_readable_unit() {
        assert_eq!(packet_rate(35.0), "35 pps");
        assert_eq!(packet_rate(45_000.0), "45.0 kpps");
        assert_eq!(packet_rate(12_345_678.0), "12.35 Mpps");
    }

    #[test]
    fn the_period_line_gives_rates_and_drops_of_the_period() {
        let line = period_line(
            &snapshot(1_000_000, 1_000_000, 5, 0),
            &snapshot(3_000_000, 2_999_990, 15, 200_000_000),
            Duration::from_secs(2),
        );
        assert_eq!(
            line,
            "stats 2.0s | port 0 rx 2000000 (1.00 Mpps 0.80 Gbit/s) tx 1999990 (1000.0 kpps) drops 10 | worker 0 100.0 cycles/pkt | analysis records 20000"
        );
    }
}
