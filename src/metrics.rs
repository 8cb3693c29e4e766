//! The metrics endpoint (`metrics_listen`): every counter of the final summary, and
//! the exporter's per-collector counters, in the Prometheus text format (version
//! 0.0.4): `metaprobe_…` names, labels `port`/`device`, `worker`/`lcore`, `stream`,
//! `reason`, `stage`, `collector`; a `# HELP` and a `# TYPE` line per metric.
//!
//! The main lcore's loop polls the endpoint ([`Endpoint::poll`], `src/http.rs`). A
//! scrape reads the counters the way the periodic statistics line does (the workers'
//! published atomics, the ports' driver counters, the exporter's published copy): no
//! fast-path work, and at most once per [`REFRESH`] whatever the scrape rate; scrapes
//! in between get the same text.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use metaprobe_dataplane::app::dns::DnsError;
use metaprobe_dataplane::counters::{AppCount, SubscriberCount, WorkerCounters};

use crate::subscribers::SubscriberStats;
use metaprobe_dataplane::wire::StopReason;
use metaprobe_export::exporter::{CollectorStats, ExportStats, StreamStats};
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;

use crate::http::{Response, Server, ServerStats};
use crate::stats::{self, Labelled, Row, Snapshot};

/// Counters are read at most this often; scrapes in between get the last text.
pub const REFRESH: Duration = Duration::from_secs(1);

/// The content type of the text format.
const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Everything one scrape shows.
pub struct Scrape<'a> {
    /// Ports and worker totals, as the statistics line reads them.
    pub snapshot: &'a Snapshot,
    /// The workers' counters (flows, reassembly, decode stops, stages), worker order.
    pub workers: &'a [(u32, Arc<WorkerCounters>)],
    /// The subscriber map's and the RADIUS bindings' counts.
    pub subscribers: SubscriberStats,
    /// The endpoint's own counts.
    pub http: ServerStats,
    /// The workers' tables and what of the process is on transparent huge pages.
    pub memory: MemoryStats,
}

/// Memory gauges: octets advised for huge pages, octets the kernel gave them
/// (`None` where /proc/self/smaps_rollup cannot be read).
#[derive(Clone, Copy, Debug, Default)]
pub struct MemoryStats {
    pub advised: u64,
    pub huge_pages: Option<u64>,
}

impl MemoryStats {
    pub fn read() -> MemoryStats {
        MemoryStats {
            advised: crate::huge_heap::advised_bytes() as u64,
            huge_pages: crate::huge_heap::anon_huge_bytes(),
        }
    }
}

/// Counters of a collector; labels `stream`, `transport`, `collector`.
#[rustfmt::skip]
const COLLECTOR_ROWS: [Row<CollectorStats>; 14] = [
    Row { name: "up", metric: "collector_up", help: "1 when the collector is connected (always 1 for UDP).", get: |c| u64::from(c.up) },
    Row { name: "exported", metric: "collector_exported_records_total", help: "Data records written to the collector.", get: |c| c.exported },
    Row { name: "backpressure", metric: "collector_backpressure_records_total", help: "Data records skipped: the collector's socket buffer (TCP: and its backlog, ipfix_tcp_backlog) was full.", get: |c| c.dropped_backpressure },
    Row { name: "collector-down", metric: "collector_down_records_total", help: "Data records dropped: the collector was down or a send failed.", get: |c| c.dropped_down },
    Row { name: "unreachable", metric: "collector_unreachable_records_total", help: "Data records dropped: the collector could not be reached (no route, host or net unreachable).", get: |c| c.dropped_unreachable },
    Row { name: "refused", metric: "collector_refused_records_total", help: "Data records dropped: nothing listened on the collector's UDP port (ICMP port unreachable).", get: |c| c.dropped_refused },
    Row { name: "unacked", metric: "collector_unacked_records_total", help: "Data records written to the TCP connection and never acknowledged by the collector.", get: |c| c.dropped_unacked },
    Row { name: "in-flight", metric: "collector_in_flight_records", help: "Data records written to the TCP connection, not acknowledged yet.", get: |c| c.unacked },
    Row { name: "backlog", metric: "collector_backlog_octets", help: "Octets taken for the TCP collector and waiting for its socket (at most ipfix_tcp_backlog).", get: |c| c.backlog_octets },
    Row { name: "messages", metric: "collector_messages_total", help: "IPFIX messages written to the collector (templates included).", get: |c| c.messages },
    Row { name: "refitted", metric: "collector_refitted_records_total", help: "Records cut again to fit the UDP collector's datagrams (encoded whole for the stream's TCP collectors).", get: |c| c.refitted },
    Row { name: "templates-lost", metric: "collector_templates_lost_total", help: "Template messages that could not be written.", get: |c| c.templates_lost },
    Row { name: "connects", metric: "collector_connects_total", help: "TCP connections established.", get: |c| c.connects },
    Row { name: "losses", metric: "collector_losses_total", help: "Established TCP connections lost.", get: |c| c.losses },
];

/// Stream counters beyond the summary line; label `stream`.
#[rustfmt::skip]
const STREAM_ROWS: [Row<StreamStats>; 2] = [
    Row { name: "received", metric: "export_received_records_total", help: "Records the export thread drained from the worker rings.", get: |s| s.received },
    Row { name: "no-collector", metric: "export_no_collector_records_total", help: "Records of a stream with no collector (not exported over IPFIX; not a drop).", get: |s| s.not_exported_no_collector },
];

/// The exporter's own counters.
#[rustfmt::skip]
const EXPORTER_ROWS: [Row<ExportStats>; 5] = [
    Row { name: "cycles", metric: "export_cycles_total", help: "Send cycles run by the export thread.", get: |e| e.cycles },
    Row { name: "cycles-over", metric: "export_cycles_over_total", help: "Send cycles longer than their period.", get: |e| e.cycles_over },
    Row { name: "chunks-skipped", metric: "export_chunks_skipped_total", help: "Chunks of records skipped by cycles that ran past their period.", get: |e| e.chunks_skipped },
    Row { name: "invalid-records", metric: "export_invalid_records_total", help: "Records with a template of no stream (a worker's bug).", get: |e| e.invalid_records },
    Row { name: "dns-log-unreadable", metric: "dns_log_unreadable_records_total", help: "DNS records the text log could not read (not written).", get: |e| e.dns_log_unreadable },
];

/// The text of one scrape.
pub fn render(s: &Scrape<'_>) -> String {
    let mut t = Text(String::with_capacity(64 * 1024));
    t.family("build_info", "The running metaprobe's version.");
    t.sample("build_info", &[("version", env!("CARGO_PKG_VERSION"))], 1);

    let ports: Vec<(String, &str, &stats::PortSnapshot)> = s
        .snapshot
        .ports
        .iter()
        .map(|(id, name, p)| (id.to_string(), name.as_str(), p))
        .collect();
    for row in stats::PORT_ROWS.iter().chain(&stats::PORT_BYTE_ROWS) {
        t.rows(
            row,
            ports
                .iter()
                .map(|(id, name, p)| ([("port", id.as_str()), ("device", *name)], *p)),
        );
    }

    // Ports with several queues: the driver's per-queue counters (the `qN-rx`/`qN-tx` of
    // the final summary).
    for (metric, help, rx) in [
        (
            "port_queue_rx_packets_total",
            "Packets received on one RX queue of the port (driver; ports with several queues).",
            true,
        ),
        (
            "port_queue_tx_packets_total",
            "Packets transmitted on one TX queue of the port (driver; ports with several queues).",
            false,
        ),
    ] {
        t.family(metric, help);
        for (id, name, p) in &ports {
            for (q, (qrx, qtx)) in p.per_queue().enumerate() {
                let q = q.to_string();
                let labels = [
                    ("port", id.as_str()),
                    ("device", *name),
                    ("queue", q.as_str()),
                ];
                t.sample(metric, &labels, if rx { qrx } else { qtx });
            }
        }
    }

    let workers: Vec<(String, String)> = s
        .snapshot
        .workers
        .iter()
        .enumerate()
        .map(|(i, (lcore, _))| (i.to_string(), lcore.to_string()))
        .collect();
    for row in stats::WORKER_ROWS.iter().chain([&stats::WORKER_CYCLES]) {
        t.rows(
            row,
            workers
                .iter()
                .zip(&s.snapshot.workers)
                .map(|((i, l), (_, w))| ([("worker", i.as_str()), ("lcore", l.as_str())], w)),
        );
    }
    let counters = || {
        workers
            .iter()
            .zip(s.workers)
            .map(|((i, _), (_, c))| ([("worker", i.as_str())], c.as_ref()))
    };
    for row in stats::FLOW_ROWS
        .iter()
        .chain(&stats::REASSEMBLY_ROWS)
        .chain([&stats::STAGES_TIMED])
    {
        t.rows(row, counters());
    }
    t.labelled(&stats::STAGES, counters());
    t.family(
        "decode_stops_total",
        "Packets whose decoding stopped before an L4 payload, by reason (forwarded all the same).",
    );
    for (labels, c) in counters() {
        for reason in StopReason::ALL {
            let n = c.decode_stops.get(reason.index()).map_or(0, |c| c.get());
            let [worker] = labels;
            t.sample(
                "decode_stops_total",
                &[worker, ("reason", reason.name())],
                n,
            );
        }
    }
    // The application layer's table: a metric per row (each has its own meaning).
    for &what in AppCount::ALL {
        let metric = format!("analysis_{}_total", what.name().replace('-', "_"));
        t.family(&metric, what.meaning());
        for (labels, c) in counters() {
            t.sample(&metric, &labels, c.app.get(what));
        }
    }
    for &what in SubscriberCount::ALL {
        let metric = format!("subscribers_{}_total", what.name().replace('-', "_"));
        t.family(&metric, what.meaning());
        for (labels, c) in counters() {
            t.sample(&metric, &labels, c.subscribers.get(what));
        }
    }
    for row in &stats::SUBSCRIBER_ROWS {
        t.rows(row, std::iter::once(([], &s.subscribers)));
    }
    if let Some(l) = &s.subscribers.listener {
        for row in &stats::LISTENER_ROWS {
            t.rows(row, std::iter::once(([], l)));
        }
    }
    t.family(
        "dns_errors_total",
        "DNS messages the parser could not read, by reason.",
    );
    for ([worker], c) in counters() {
        for &e in DnsError::ALL {
            t.sample(
                "dns_errors_total",
                &[worker, ("reason", e.name())],
                c.app.dns_error(e),
            );
        }
    }

    let streams = || {
        Stream::ALL
            .iter()
            .zip(&s.snapshot.export.streams)
            .map(|(stream, st)| ([("stream", stream.name())], st))
    };
    for row in stats::EXPORT_ROWS
        .iter()
        .chain([&stats::EXPORT_TRUNCATED])
        .chain(&STREAM_ROWS)
    {
        t.rows(row, streams());
    }
    t.labelled(&stats::EXPORT_DROPS, streams());
    for row in EXPORTER_ROWS.iter().chain(&stats::LOG_ROWS) {
        t.rows(row, std::iter::once(([], &s.snapshot.export)));
    }
    if let Some(log) = &s.snapshot.export.dns_log {
        for row in &stats::DNS_LOG_ROWS {
            t.rows(row, std::iter::once(([], log)));
        }
    }

    let collectors: Vec<(String, &CollectorStats)> = s
        .snapshot
        .export
        .collectors
        .iter()
        .map(|c| (c.spec.addr.to_string(), c))
        .collect();
    for row in &COLLECTOR_ROWS {
        t.rows(
            row,
            collectors.iter().map(|(addr, c)| {
                let transport = match c.spec.transport {
                    Transport::Udp => "udp",
                    Transport::Tcp => "tcp",
                };
                (
                    [
                        ("stream", c.spec.stream.name()),
                        ("transport", transport),
                        ("collector", addr.as_str()),
                    ],
                    *c,
                )
            }),
        );
    }

    t.family(
        "metrics_responses_total",
        "Responses of this endpoint, by HTTP status.",
    );
    for (status, n) in s.http.responses {
        t.sample(
            "metrics_responses_total",
            &[("code", &status.to_string())],
            n,
        );
    }
    t.family(
        "memory_huge_page_advised_octets",
        "Octets of the workers' tables (blocks of 2 MiB or more) advised for transparent huge pages.",
    );
    t.sample("memory_huge_page_advised_octets", &[], s.memory.advised);
    if let Some(octets) = s.memory.huge_pages {
        t.family(
            "memory_huge_page_octets",
            "Octets of the process's memory on transparent huge pages (AnonHugePages of /proc/self/smaps_rollup).",
        );
        t.sample("memory_huge_page_octets", &[], octets);
    }
    t.family(
        "metrics_connections_timed_out_total",
        "Connections to this endpoint closed at the timeout, unanswered.",
    );
    t.sample("metrics_connections_timed_out_total", &[], s.http.timed_out);
    t.family(
        "metrics_connections_failed_total",
        "Connections to this endpoint that ended before their answer was written.",
    );
    t.sample("metrics_connections_failed_total", &[], s.http.failed);
    t.0
}

/// The text format being written.
struct Text(String);

impl Text {
    /// The `# HELP` and `# TYPE` lines of `metaprobe_<metric>`.
    fn family(&mut self, metric: &str, help: &str) {
        let kind = if metric.ends_with("_total") {
            "counter"
        } else {
            "gauge"
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.0, "# HELP metaprobe_{metric} {help}");
        let _ = writeln!(self.0, "# TYPE metaprobe_{metric} {kind}");
    }

    fn sample(&mut self, metric: &str, labels: &[(&str, &str)], value: u64) {
        let _ = write!(self.0, "metaprobe_{metric}");
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let _ = write!(self.0, "{k}=\"");
                for c in v.chars() {
                    match c {
                        '\\' => self.0.push_str("\\\\"),
                        '"' => self.0.push_str("\\\""),
                        '\n' => self.0.push_str("\\n"),
                        c => self.0.push(c),
                    }
                }
                self.0.push('"');
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    /// One metric: a sample per labelled value.
    fn rows<'v, T: 'v, const N: usize>(
        &mut self,
        row: &Row<T>,
        of: impl Iterator<Item = ([(&'v str, &'v str); N], &'v T)>,
    ) {
        self.family(row.metric, row.help);
        for (labels, v) in of {
            self.sample(row.metric, &labels, (row.get)(v));
        }
    }

    /// One metric told apart by `l.label` besides the labels of each value.
    fn labelled<'v, T: 'v, const N: usize>(
        &mut self,
        l: &Labelled<T>,
        of: impl Iterator<Item = ([(&'v str, &'v str); N], &'v T)>,
    ) {
        self.family(l.metric, l.help);
        for (labels, v) in of {
            for (name, get) in l.rows {
                let mut all: Vec<(&str, &str)> = labels.to_vec();
                all.push((l.label, name));
                self.sample(l.metric, &all, get(v));
            }
        }
    }
}

/// The endpoint: the listener, and the last text for scrapes within [`REFRESH`].
pub struct Endpoint {
    server: Server,
    cached: Option<(Instant, String)>,
}

impl Endpoint {
    /// Listens on `addr`; the error names the configuration key.
    pub fn bind(addr: SocketAddr) -> Result<Endpoint, String> {
        let server = Server::bind(addr)
            .map_err(|e| format!("metrics_listen: cannot listen on {addr}: {e}"))?;
        Ok(Endpoint {
            server,
            cached: None,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The endpoint's own counts.
    pub fn stats(&self) -> ServerStats {
        self.server.stats()
    }

    /// Serves what waits; `scrape(http stats)` renders the text, called at most once
    /// per [`REFRESH`] and only when `/metrics` is asked for.
    pub fn poll(&mut self, now: Instant, mut scrape: impl FnMut(ServerStats) -> String) {
        let http = self.server.stats();
        let cached = &mut self.cached;
        self.server.poll(now, |path| match path {
            "/metrics" => {
                let fresh = cached
                    .as_ref()
                    .is_some_and(|(at, _)| now.saturating_duration_since(*at) < REFRESH);
                if !fresh {
                    *cached = Some((now, scrape(http)));
                }
                Response {
                    status: 200,
                    content_type: CONTENT_TYPE,
                    body: cached.as_ref().map(|(_, t)| t.clone()).unwrap_or_default(),
                }
            }
            _ => Response::text(404, "metaprobe serves its metrics at /metrics\n"),
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::stats::PortSnapshot;
    use crate::subscribers::ListenerStats;
    use metaprobe_dataplane::counters::WorkerTotals;
    use metaprobe_dataplane::subscribers::BindingsStats;
    use metaprobe_export::exporter::CollectorSpec;
    use std::collections::BTreeSet;

    /// A port with two queues whose driver counted 5 and 7 packets received on them.
    fn two_queues() -> PortSnapshot {
        let mut p = PortSnapshot {
            queues: 2,
            ..PortSnapshot::default()
        };
        p.driver.queue_rx[..2].copy_from_slice(&[5, 7]);
        p.driver.queue_tx[..2].copy_from_slice(&[6, 6]);
        p.driver.rx = 12;
        p.driver.tx = 12;
        p
    }

    fn scrape_text() -> String {
        let snapshot = Snapshot {
            ports: vec![
                (
                    0,
                    "net_pcap0".into(),
                    PortSnapshot {
                        tx_dropped: 3,
                        ..PortSnapshot::default()
                    },
                ),
                (1, "net_af_packet1".into(), two_queues()),
            ],
            workers: vec![(
                1,
                WorkerTotals {
                    rx: 10,
                    ..WorkerTotals::default()
                },
            )],
            export: ExportStats::default(),
            ..Snapshot::default()
        };
        let w = Arc::new(WorkerCounters::default());
        w.flows.active.set(4);
        w.decode_stops[StopReason::ALL[0].index()].add(2);
        w.app.add(AppCount::TlsMalformed, 6);
        w.app.add_dns_error(DnsError::ALL[0]);
        let mut export = ExportStats::default();
        export.streams[2].dropped_ring_full = 5;
        export.collectors.push(CollectorStats {
            spec: CollectorSpec {
                stream: Stream::Dns,
                transport: Transport::Tcp,
                addr: "[::1]:4739".parse().unwrap(),
            },
            up: true,
            exported: 7,
            dropped_backpressure: 0,
            dropped_down: 0,
            dropped_unreachable: 0,
            dropped_refused: 0,
            dropped_unacked: 0,
            unacked: 0,
            backlog_octets: 0,
            messages: 2,
            templates_lost: 0,
            refitted: 0,
            connects: 1,
            losses: 0,
        });
        render(&Scrape {
            snapshot: &Snapshot { export, ..snapshot },
            workers: &[(1, w)],
            subscribers: SubscriberStats {
                file_prefixes: 3,
                radius: BindingsStats {
                    bindings: 2,
                    evicted: 1,
                    ..BindingsStats::default()
                },
                publishes: 4,
                listener: Some(ListenerStats {
                    bad_authenticator: 2,
                    ..ListenerStats::default()
                }),
            },
            http: ServerStats::default(),
            memory: MemoryStats {
                advised: 6 << 20,
                huge_pages: Some(4 << 20),
            },
        })
    }

    #[test]
    fn samples_carry_their_labels() {
        let t = scrape_text();
        for line in [
            "metaprobe_port_tx_dropped_packets_total{port=\"0\",device=\"net_pcap0\"} 3",
            "metaprobe_port_queue_rx_packets_total{port=\"1\",device=\"net_af_packet1\",queue=\"1\"} 7",
            "metaprobe_port_queue_tx_packets_total{port=\"1\",device=\"net_af_packet1\",queue=\"0\"} 6",
            "metaprobe_worker_rx_packets_total{worker=\"0\",lcore=\"1\"} 10",
            "metaprobe_flows_active{worker=\"0\"} 4",
            "metaprobe_export_dropped_records_total{stream=\"dns\",reason=\"ring-full\"} 5",
            "metaprobe_export_dropped_records_total{stream=\"meta\",reason=\"collector-down\"} 0",
            "metaprobe_collector_exported_records_total{stream=\"dns\",transport=\"tcp\",collector=\"[::1]:4739\"} 7",
            "# TYPE metaprobe_flows_active gauge",
            "# TYPE metaprobe_flows_created_total counter",
            "metaprobe_metrics_responses_total{code=\"200\"} 0",
            "metaprobe_analysis_tls_malformed_total{worker=\"0\"} 6",
            "metaprobe_subscribers_radius_start_total{worker=\"0\"} 0",
            "metaprobe_subscribers_file_prefixes 3",
            "# TYPE metaprobe_subscribers_radius_bindings gauge",
            "metaprobe_subscribers_radius_evicted_total 1",
            "metaprobe_radius_listener_bad_authenticator_total 2",
            "metaprobe_memory_huge_page_advised_octets 6291456",
            "metaprobe_memory_huge_page_octets 4194304",
            "# TYPE metaprobe_memory_huge_page_octets gauge",
            "# HELP metaprobe_analysis_tls_malformed_total TLS handshakes whose structure is broken",
        ] {
            assert!(t.lines().any(|l| l == line), "no {line:?} in\n{t}");
        }
        let stop = format!(
            "metaprobe_decode_stops_total{{worker=\"0\",reason=\"{}\"}} 2",
            StopReason::ALL[0].name()
        );
        assert!(t.lines().any(|l| l == stop), "{t}");
        let dns = format!(
            "metaprobe_dns_errors_total{{worker=\"0\",reason=\"{}\"}} 1",
            DnsError::ALL[0].name()
        );
        assert!(t.lines().any(|l| l == dns), "{t}");
    }

    /// Every metric has one HELP and one TYPE line before its samples, and every
    /// sample line is `name{labels} value` with a name of the format's alphabet.
    #[test]
    fn the_text_is_well_formed() {
        let t = scrape_text();
        let mut described = BTreeSet::new();
        let mut typed = BTreeSet::new();
        for line in t.lines() {
            if let Some(rest) = line.strip_prefix("# HELP ") {
                let name = rest.split(' ').next().unwrap();
                assert!(described.insert(name.to_owned()), "HELP twice: {name}");
            } else if let Some(rest) = line.strip_prefix("# TYPE ") {
                let (name, kind) = rest.split_once(' ').unwrap();
                assert!(kind == "counter" || kind == "gauge", "{line}");
                assert!(described.contains(name), "TYPE before HELP: {line}");
                assert!(typed.insert(name.to_owned()), "TYPE twice: {name}");
            } else {
                let name_end = line.find(['{', ' ']).unwrap();
                let name = &line[..name_end];
                assert!(typed.contains(name), "sample before its TYPE: {line}");
                assert!(name.starts_with("metaprobe_"), "{line}");
                assert!(
                    name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                let value = line.rsplit(' ').next().unwrap();
                assert!(value.parse::<u64>().is_ok(), "{line}");
            }
        }
        // Every row of the summary is a metric.
        for row in stats::PORT_ROWS.iter().map(|r| r.metric).chain(
            stats::FLOW_ROWS
                .iter()
                .chain(&stats::REASSEMBLY_ROWS)
                .map(|r| r.metric),
        ) {
            assert!(typed.contains(&format!("metaprobe_{row}")), "{row}");
        }
    }

    #[test]
    fn label_values_are_escaped() {
        let mut t = Text(String::new());
        t.sample("x", &[("device", "a\"b\\c\nd")], 1);
        assert_eq!(t.0, "metaprobe_x{device=\"a\\\"b\\\\c\\nd\"} 1\n");
    }
}
