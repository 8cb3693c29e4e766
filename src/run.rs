//! `metaprobe run`: EAL, ports, workers, statistics and a clean stop.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use metaprobe_config::{Config, DnsLogField, MetaRawProtocol};
use metaprobe_dataplane::analyze::{Analyzer, AnalyzerConfig};
use metaprobe_dataplane::app::AppConfig;
use metaprobe_dataplane::app::raw::{MetaProto, RawSet};
use metaprobe_dataplane::counters::{MAX_PORTS, WorkerCounters};
use metaprobe_dataplane::flow::SessionIds;
use metaprobe_dataplane::forward::{QueueSet, run_worker};
use metaprobe_dataplane::plan::{self, PortCaps};
use metaprobe_export::dnslog::{DnsLogConfig, LineField};
use metaprobe_export::exporter::{ExportHandle, Exporter, ExporterConfig, SystemClock};
use metaprobe_ffi::{Eal, Launched, MbufBurst, Mempool, Port, PortInfo, PortQueue, PortSetup};
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;

use crate::io::{DpdkBurst, DpdkQueue};
use crate::loss_alerts::LossAlerts;
use crate::metrics::{self, Endpoint, Scrape};
use crate::signals;
use crate::stats::{self, PortSnapshot, Snapshot};
use crate::subscribers::{self, Subscribers};
use crate::table_file::{Reloadable, TableFile};
use metaprobe_dataplane::block::BlockList;
use metaprobe_dataplane::counters::AppCount;
use metaprobe_dataplane::table::Table;
use metaprobe_dataplane::vchannel::Channels;
use metaprobe_export::logs::ALERT_LOG;

/// Mbufs each lcore keeps in its mempool cache.
const MEMPOOL_CACHE: u32 = 256;
/// How long the start waits for TCP collectors to accept, µs.
const COLLECTOR_CONNECT_US: u64 = 2_000_000;
/// How often the main lcore looks at signals, idleness and the statistics clock.
/// The main lcore's loop period: signals, RADIUS changes to the workers, stats.
const MAIN_TICK: Duration = Duration::from_millis(10);
/// How often the main lcore looks at the subscriber map's and block list's mtimes.
const MAP_CHECK: Duration = Duration::from_secs(1);

struct Worker {
    lcore: u32,
    counters: Arc<WorkerCounters>,
    launched: Launched,
}

pub fn run(
    cfg: &Config,
    cli_eal_args: &[String],
    idle_exit: Option<Duration>,
) -> Result<(), String> {
    std::fs::create_dir_all(&cfg.log_dir)
        .map_err(|e| format!("log_dir: cannot create {}: {e}", cfg.log_dir.display()))?;
    signals::install()
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM/SIGHUP handlers: {e}"))?;
    // Read before the EAL starts, so that a bad line stops nothing half-started.
    let mut logins = Subscribers::open(&subscribers::Options {
        file: cfg.subscribers_file.as_deref(),
        max_bindings: cfg.subscribers_max as usize,
        snoop: cfg.radius_snoop,
        listen: cfg.radius_accounting_listen,
        secret: &cfg.radius_secret,
    })?;
    let mut block_file = TableFile::<BlockList>::open(cfg.block_list.as_deref())?;
    // Bound before the EAL starts, so that an address in use stops nothing half-started.
    let mut metrics = cfg.metrics_listen.map(Endpoint::bind).transpose()?;
    if let Some(m) = &metrics {
        println!("metrics: listening on http://{}/metrics", m.local_addr());
    }

    let eal_args: Vec<String> = cfg.eal_args.iter().chain(cli_eal_args).cloned().collect();
    let eal = Eal::init(&eal_args).map_err(|e| format!("EAL: {e}"))?;
    println!(
        "metaprobe {}: {}",
        env!("CARGO_PKG_VERSION"),
        Eal::version()
    );

    let infos = bridge_port_infos(&eal, cfg)?;
    let lcores = metaprobe_ffi::worker_lcores(&eal);
    let caps: Vec<PortCaps> = infos
        .iter()
        .map(|i| PortCaps {
            port: i.port,
            max_rx_queues: i.max_rx_queues,
            max_tx_queues: i.max_tx_queues,
            rss: i.spreading().is_some(),
        })
        .collect();
    let queues = plan::queues_per_port(cfg.queues_per_port, lcores.len(), cfg.bridges.len(), &caps)
        .map_err(|e| e.to_string())?;
    let assignment = plan::assign_queue_sets(cfg.bridges.len(), queues, lcores.len());

    let pool_size = plan::mempool_size(
        infos.len(),
        queues,
        cfg.rx_descriptors,
        cfg.tx_descriptors,
        assignment.len() + 1,
        MEMPOOL_CACHE,
    );
    let socket = infos.first().map_or(-1, |i| i.socket);
    let pool = Arc::new(
        Mempool::create_pktmbuf(&eal, "metaprobe_mbufs", pool_size, MEMPOOL_CACHE, socket)
            .map_err(|e| format!("mbuf pool: {e} (give EAL more memory with -m, or lower rx_descriptors/tx_descriptors)"))?,
    );
    println!(
        "mbuf pool: {pool_size} mbufs of {} bytes",
        metaprobe_ffi::sys::RTE_MBUF_DEFAULT_BUF_SIZE
    );

    let setup = PortSetup {
        queues,
        rx_descriptors: cfg.rx_descriptors,
        tx_descriptors: cfg.tx_descriptors,
    };
    let mut ports = Vec::with_capacity(infos.len());
    let mut port_queues: HashMap<(u16, u16), PortQueue> = HashMap::new();
    for info in infos {
        let (port, qs) =
            Port::start(&eal, info, setup, &pool).map_err(|e| format!("port setup: {e}"))?;
        describe_port(&port);
        port_queues.extend(qs.into_iter().map(|q| ((q.port(), q.queue()), q)));
        ports.push(port);
    }
    for (i, b) in cfg.bridges.iter().enumerate() {
        println!(
            "bridge {i}: port {} (subscriber side) <-> port {} (internet side)",
            b.subscriber, b.internet
        );
    }

    let (mut exporter, mut senders) =
        Exporter::new(exporter_config(cfg, assignment.len())).map_err(|e| e.to_string())?;
    for c in exporter.wait_for_collectors(&SystemClock, COLLECTOR_CONNECT_US) {
        println!(
            "collector {c} is not connected yet: its records are dropped (and counted) until it is"
        );
    }
    let export_stats = exporter.handle();
    let reopen_logs = exporter.reopen_flag();
    let analysis = AnalyzerConfig {
        bridges: cfg
            .bridges
            .iter()
            .map(|b| (b.subscriber, b.internet))
            .collect(),
        flow_table_size: cfg.flow_table_size as usize,
        timeouts_secs: [
            cfg.flow_tcp_timeout,
            cfg.flow_tcp_closed_timeout,
            cfg.flow_udp_timeout,
            cfg.flow_other_timeout,
        ]
        .map(u64::from),
        tsc_hz: eal.tsc_hz(),
        worker: 0,
        start_unix_100ns: SessionIds::start_now(),
        start_tsc: metaprobe_ffi::tsc(),
        clock: metaprobe_ffi::tsc,
        apps: AppConfig {
            clickstream: !(cfg.ipfix_udp_collectors.is_empty()
                && cfg.ipfix_tcp_collectors.is_empty()),
            dns: cfg.ajb_save_dns
                || !(cfg.ipfix_dns_udp_collectors.is_empty()
                    && cfg.ipfix_dns_tcp_collectors.is_empty()),
            tls_replies: cfg.ssl_parse_reply,
            http_replies: cfg.http_parse_reply,
            stream_slots: cfg.reassembly_slots_effective(),
            stream_slot_size: cfg.reassembly_slot_bytes,
            quic_slots: cfg.quic_slots_effective(),
            meta: !(cfg.ipfix_meta_udp_collectors.is_empty()
                && cfg.ipfix_meta_tcp_collectors.is_empty()),
            raw: raw_set(&cfg.ipfix_meta_raw),
            raw_max_bytes: cfg.ipfix_meta_raw_max_bytes,
            block: cfg.block_list.is_some(),
            ..AppConfig::default()
        },
        ip_fragment_slots: cfg.ip_fragment_slots_effective(),
        ip_fragment_slot_size: cfg.ip_fragment_slot_bytes,
        subscribers: Some(Arc::clone(logins.handle())),
        radius: logins.queue().cloned(),
        channels: Channels::new(
            cfg.vchannels
                .iter()
                .map(|v| (v.bridge, v.vlans.as_slice(), v.channel)),
        ),
        // No list, no blocking: the bridge forwards every packet unchanged.
        block: cfg
            .block_list
            .is_some()
            .then(|| Arc::clone(block_file.handle())),
        block_redirect_url: cfg.block_redirect_url.clone(),
    };
    senders.reverse(); // popped in worker order below
    let stop = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::with_capacity(assignment.len());
    for (lcore, sets) in lcores.iter().zip(assignment) {
        let mut queue_sets = Vec::with_capacity(sets.len());
        let mut described = Vec::new();
        for id in sets {
            let bridge = cfg
                .bridges
                .get(id.bridge)
                .ok_or("queue plan names a bridge that does not exist")?;
            let mut take = |port: u16| {
                port_queues
                    .remove(&(port, id.queue))
                    .map(DpdkQueue)
                    .ok_or_else(|| format!("port {port} has no queue {}", id.queue))
            };
            queue_sets.push(QueueSet {
                subscriber: take(bridge.subscriber)?,
                internet: take(bridge.internet)?,
                subscriber_port: bridge.subscriber,
                internet_port: bridge.internet,
            });
            described.push(format!("bridge {} queue {}", id.bridge, id.queue));
        }
        println!(
            "worker {} on lcore {lcore}: {}",
            workers.len(),
            described.join(", ")
        );
        let counters = Arc::new(WorkerCounters::default());
        let worker = u8::try_from(workers.len()).map_err(|_| "more than 256 workers")?;
        // The flow table is allocated here, on the main lcore, before the worker starts.
        let mut analyzer = Analyzer::new(
            &AnalyzerConfig {
                worker,
                ..analysis.clone()
            },
            Arc::clone(&counters),
            senders.pop(),
        );
        println!(
            "flow table of worker {worker}: {} entries, {} MiB; analysis pools {} MiB \
             (reassembly {} x {} B, QUIC {}, IP fragments {} x {} B)",
            cfg.flow_table_size,
            analyzer.flow_table_bytes() >> 20,
            analyzer.app_pool_bytes() >> 20,
            analysis.apps.stream_slots,
            analysis.apps.stream_slot_size,
            analysis.apps.quic_slots,
            analysis.ip_fragment_slots,
            analysis.ip_fragment_slot_size,
        );
        let (c, s) = (Arc::clone(&counters), Arc::clone(&stop));
        let job = move || {
            let mut burst = DpdkBurst(MbufBurst::default());
            let tsc = metaprobe_ffi::tsc;
            run_worker(&mut queue_sets, &mut burst, &mut analyzer, &c, &s, tsc);
            0
        };
        let launched = metaprobe_ffi::launch(&eal, *lcore, job).map_err(|e| {
            stop.store(true, Ordering::SeqCst);
            format!("worker launch: {e}")
        })?;
        workers.push(Worker {
            lcore: *lcore,
            counters,
            launched,
        });
    }
    println!("{}", crate::huge_heap::describe());
    if workers.len() < lcores.len() {
        println!(
            "{} lcore(s) left idle: there are only {} queue sets to poll",
            lcores.len() - workers.len(),
            workers.len()
        );
    }

    // The counter records read the workers' published counters on the export thread.
    let published: Vec<Arc<WorkerCounters>> =
        workers.iter().map(|w| Arc::clone(&w.counters)).collect();
    exporter.set_counter_source(Box::new(move |out| {
        stats::named_counts(published.iter().map(Arc::as_ref), out);
    }));
    // The export side runs on the main lcore's CPU, which otherwise only sleeps.
    let export_stop = Arc::new(AtomicBool::new(false));
    let export_thread = {
        let (stop, mut exporter) = (Arc::clone(&export_stop), exporter);
        std::thread::Builder::new()
            .name("metaprobe-export".into())
            .spawn(move || exporter.run(&SystemClock, &stop))
            .map_err(|e| format!("cannot start the export thread: {e}"))?
    };
    let counters: Vec<(u32, Arc<WorkerCounters>)> = workers
        .iter()
        .map(|w| (w.lcore, Arc::clone(&w.counters)))
        .collect();
    let reason = supervise(
        cfg,
        &ports,
        &counters,
        &export_stats,
        &reopen_logs,
        (&mut logins, &mut block_file),
        metrics.as_mut(),
        idle_exit,
    );
    println!("stopping: {reason}");
    stop.store(true, Ordering::SeqCst);
    let mut failed = Vec::new();
    for (i, w) in workers.into_iter().enumerate() {
        let ret = w.launched.wait();
        if ret != 0 {
            failed.push(format!("worker {i} (lcore {}) ended with {ret}", w.lcore));
        }
    }
    // Workers flushed their records when they stopped; the exporter drains them last.
    export_stop.store(true, Ordering::SeqCst);
    if export_thread.join().is_err() {
        failed.push("the export thread panicked".to_owned());
    }
    // What the workers read last is in the final summary.
    logins.poll(Instant::now());
    let last = snapshot(&ports, &counters, &export_stats);
    drop(ports); // stops and closes every port: net_pcap flushes its tx files
    print!("{}", stats::final_summary(&last));
    print!(
        "{}",
        stats::analysis_summary(counters.iter().map(|(_, c)| c.as_ref()))
    );
    print!(
        "{}",
        stats::subscribers_summary(&logins.stats(), counters.iter().map(|(_, c)| c.as_ref()))
    );
    print!("{}", stats::export_summary(&last.export));
    if let Some(m) = &metrics {
        print!("{}", stats::metrics_summary(&m.stats()));
    }
    if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("; "))
    }
}

/// Checks that every port of `bridges` exists and describes it.
fn bridge_port_infos(eal: &Eal, cfg: &Config) -> Result<Vec<PortInfo>, String> {
    let mut infos = Vec::new();
    for (i, b) in cfg.bridges.iter().enumerate() {
        for (side, port) in [("subscriber", b.subscriber), ("internet", b.internet)] {
            if usize::from(port) >= MAX_PORTS || !eal.is_valid_port(port) {
                return Err(format!(
                    "bridges[{i}]: {side} port {port} does not exist; {}",
                    available_ports(eal)
                ));
            }
            infos.push(PortInfo::query(eal, port).map_err(|e| format!("bridges[{i}]: {e}"))?);
        }
    }
    Ok(infos)
}

fn available_ports(eal: &Eal) -> String {
    let found: Vec<String> = (0..MAX_PORTS as u16)
        .filter(|&p| eal.is_valid_port(p))
        .map(|p| match PortInfo::query(eal, p) {
            Ok(info) => format!("{p} ({})", info.name),
            Err(_) => p.to_string(),
        })
        .collect();
    if found.is_empty() {
        "EAL found no port (give --vdev=... or bind a NIC to vfio-pci)".to_owned()
    } else {
        format!("EAL found {}: {}", found.len(), found.join(", "))
    }
}

fn describe_port(port: &Port) {
    let info = port.info();
    let setup = port.setup();
    let mac = port
        .mac()
        .map(|m| {
            m.iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":")
        })
        .unwrap_or_else(|e| e.to_string());
    let link = match port.link() {
        Ok(l) if l.up => format!(
            "link up {} Mbit/s {}",
            l.speed_mbps,
            if l.full_duplex {
                "full-duplex"
            } else {
                "half-duplex"
            }
        ),
        Ok(_) => "link down".to_owned(),
        Err(e) => e.to_string(),
    };
    println!(
        "port {} ({}, driver {}): mac {mac}, {link}, {} queue(s){}, {}/{} rx/tx descriptors",
        info.port,
        info.name,
        info.driver,
        setup.queues,
        match info.spreading() {
            Some(how) if setup.queues > 1 => format!(" with {how}"),
            _ => String::new(),
        },
        setup.rx_descriptors,
        setup.tx_descriptors
    );
}

/// Runs the main lcore's loop until a signal or idleness; returns why it stopped.
/// Reads a table file (the subscriber map, the block list) again; a bad file
/// is an alert line, the table in use stays.
#[cold]
fn reload<R: Reloadable>(cfg: &Config, file: &mut R, why: &str) {
    match file.reload() {
        Ok(None) => {}
        Ok(Some(n)) => println!(
            "{} ({why}): {n} {} loaded",
            R::Table::NAME,
            R::Table::ENTRIES
        ),
        Err(e) => {
            let stamp = metaprobe_export::logs::format_time(unix_micros());
            let line = format!(
                "[{}][{stamp}] reload ({why}) refused, the previous {} ({} {}) stays: {e}\n",
                R::Table::ALERT,
                R::Table::KIND,
                file.len(),
                R::Table::ENTRIES
            );
            eprint!("metaprobe: {line}");
            if let Err(e) = metaprobe_export::logs::append(&cfg.log_dir, ALERT_LOG, &line) {
                eprintln!(
                    "metaprobe: cannot write {ALERT_LOG} in {}: {e}",
                    cfg.log_dir.display()
                );
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn supervise(
    cfg: &Config,
    ports: &[Port],
    counters: &[(u32, Arc<WorkerCounters>)],
    export: &ExportHandle,
    reopen_logs: &AtomicBool,
    (logins, block_file): (&mut Subscribers, &mut TableFile<BlockList>),
    mut metrics: Option<&mut Endpoint>,
    idle_exit: Option<Duration>,
) -> String {
    let mut map_checked_at = Instant::now();
    let period = Duration::from_secs(cfg.stats_interval);
    // The first period starts with the run, when every counter was zero: a
    // snapshot taken here would leave out what the workers did since they
    // started (a capture replayed in the first milliseconds, while the
    // start-up lines were printed), and the stats lines would not add up to
    // the final summary.
    let mut last = Snapshot::default();
    let mut last_at = Instant::now();
    let mut last_rx = last.total_rx();
    let mut last_rx_at = Instant::now();
    let mut losses = LossAlerts::new();
    let say_losses = |losses: &mut LossAlerts| {
        let stamp = metaprobe_export::logs::format_time(unix_micros());
        for line in losses.due(&analysis_counts(counters), Instant::now(), &stamp) {
            if let Err(e) = metaprobe_export::logs::append(&cfg.log_dir, ALERT_LOG, &line) {
                eprintln!(
                    "metaprobe: cannot write {ALERT_LOG} in {}: {e}",
                    cfg.log_dir.display()
                );
            }
        }
    };
    loop {
        std::thread::sleep(MAIN_TICK);
        say_losses(&mut losses);
        if signals::stop_requested() {
            say_losses(&mut losses);
            return "signal received".to_owned();
        }
        if signals::take_reopen_request() {
            // The export thread reopens its logs at its next cycle; nothing waits.
            reopen_logs.store(true, Ordering::Relaxed);
            println!(
                "SIGHUP: reopening the log files (fastdpi_alert.log, fastdpi_stat.log, the DNS text log)"
            );
            reload(cfg, logins, "SIGHUP");
            reload(cfg, block_file, "SIGHUP");
        }
        logins.poll(Instant::now());
        if map_checked_at.elapsed() >= MAP_CHECK {
            map_checked_at = Instant::now();
            if logins.changed() {
                reload(cfg, logins, "changed");
            }
            if block_file.changed() {
                reload(cfg, block_file, "changed");
            }
        }
        if let Some(m) = metrics.as_deref_mut() {
            m.poll(Instant::now(), |http| {
                metrics::render(&Scrape {
                    snapshot: &snapshot(ports, counters, export),
                    workers: counters,
                    subscribers: logins.stats(),
                    http,
                    memory: metrics::MemoryStats::read(),
                })
            });
        }
        let rx = counters.iter().map(|(_, w)| w.totals().rx).sum::<u64>();
        if rx != last_rx {
            last_rx = rx;
            last_rx_at = Instant::now();
        } else if let Some(idle) = idle_exit
            && last_rx_at.elapsed() >= idle
        {
            say_losses(&mut losses);
            return format!("no packet received for {}s (--idle-exit)", idle.as_secs());
        }
        if !period.is_zero() && last_at.elapsed() >= period {
            let now = snapshot(ports, counters, export);
            println!("{}", stats::period_line(&last, &now, last_at.elapsed()));
            last = now;
            last_at = Instant::now();
        }
    }
}

fn snapshot(
    ports: &[Port],
    workers: &[(u32, Arc<WorkerCounters>)],
    export: &ExportHandle,
) -> Snapshot {
    Snapshot {
        ports: ports
            .iter()
            .map(|p| {
                let tx_dropped = workers
                    .iter()
                    .filter_map(|(_, w)| w.port(p.id()))
                    .map(|c| c.tx_dropped.get())
                    .sum();
                (
                    p.id(),
                    p.info().name.clone(),
                    PortSnapshot {
                        driver: p.stats().unwrap_or_default(),
                        tx_dropped,
                        queues: p.setup().queues,
                    },
                )
            })
            .collect(),
        workers: workers
            .iter()
            .map(|(lcore, w)| (*lcore, w.totals()))
            .collect(),
        analysis: analysis_counts(workers),
        export: export.snapshot(),
    }
}

/// Every [`AppCount`] summed over the workers, by index.
fn analysis_counts(workers: &[(u32, Arc<WorkerCounters>)]) -> [u64; AppCount::COUNT] {
    std::array::from_fn(|i| {
        AppCount::ALL
            .get(i)
            .map_or(0, |&a| workers.iter().map(|(_, w)| w.app.get(a)).sum())
    })
}

/// Now, in microseconds since the Unix epoch (the alert log's clock).
fn unix_micros() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

/// The exporter of the configuration's collectors, one ring per worker.
fn exporter_config(cfg: &Config, workers: usize) -> ExporterConfig {
    let mut ec = ExporterConfig::new(&cfg.log_dir);
    ec.ipfix_dev = cfg.ipfix_dev.clone();
    ec.add(
        Stream::Clickstream,
        Transport::Udp,
        &cfg.ipfix_udp_collectors,
    );
    ec.add(
        Stream::Clickstream,
        Transport::Tcp,
        &cfg.ipfix_tcp_collectors,
    );
    ec.add(Stream::Meta, Transport::Udp, &cfg.ipfix_meta_udp_collectors);
    ec.add(Stream::Meta, Transport::Tcp, &cfg.ipfix_meta_tcp_collectors);
    ec.add(Stream::Dns, Transport::Udp, &cfg.ipfix_dns_udp_collectors);
    ec.add(Stream::Dns, Transport::Tcp, &cfg.ipfix_dns_tcp_collectors);
    ec.mtu = usize::from(cfg.ipfix_mtu);
    ec.tcp_backlog = usize::try_from(cfg.ipfix_tcp_backlog).unwrap_or(usize::MAX);
    ec.domain_ids = [
        cfg.ipfix_clickstream_domain_id,
        cfg.ipfix_meta_domain_id,
        cfg.ipfix_dns_domain_id,
    ];
    ec.udp_template_timer = cfg.ipfix_udp_template_timer;
    ec.stat_log = cfg.dbg_log_mask & 0x80 != 0;
    ec.stat_period_secs = cfg.netflow_timeout;
    ec.workers = workers;
    ec.dns_log = dns_log_config(cfg);
    ec
}

/// The DNS text log's settings (`ajb_*` keys); None when `ajb_save_dns` is off.
fn dns_log_config(c: &Config) -> Option<DnsLogConfig> {
    c.ajb_save_dns.then(|| DnsLogConfig {
        path: c.ajb_dns_path.clone(),
        format: c
            .ajb_save_dns_format
            .iter()
            .map(|&f| line_field(f))
            .collect(),
        bufsize: usize::try_from(c.ajb_dns_bufsize).unwrap_or(usize::MAX),
        fsize: c.ajb_dns_fsize,
        ftimeout_secs: c.ajb_dns_ftimeout.saturating_mul(60),
    })
}

/// A field of `ajb_save_dns_format` as the log writes it.
fn line_field(f: DnsLogField) -> LineField {
    match f {
        DnsLogField::Ts => LineField::Ts,
        DnsLogField::Ssid => LineField::Ssid,
        DnsLogField::Login => LineField::Login,
        DnsLogField::IpSrc => LineField::IpSrc,
        DnsLogField::IpDst => LineField::IpDst,
        DnsLogField::PSrc => LineField::PSrc,
        DnsLogField::PDst => LineField::PDst,
        DnsLogField::Transport => LineField::Transport,
        DnsLogField::Host => LineField::Host,
        DnsLogField::RrType => LineField::RrType,
        DnsLogField::RrClass => LineField::RrClass,
        DnsLogField::Ttl => LineField::Ttl,
        DnsLogField::RdLen => LineField::RdLen,
        DnsLogField::Rdata => LineField::Rdata,
    }
}

/// `ipfix_meta_raw` as the dataplane's set of META_PROTO numbers.
fn raw_set(protocols: &[MetaRawProtocol]) -> RawSet {
    protocols.iter().fold(RawSet::NONE, |set, p| {
        set.with(match p {
            MetaRawProtocol::Sip => MetaProto::Sip,
            MetaRawProtocol::Ftp => MetaProto::Ftp,
            MetaRawProtocol::Smtp => MetaProto::Smtp,
            MetaRawProtocol::Pop3 => MetaProto::Pop3,
            MetaRawProtocol::Imap => MetaProto::Imap,
            MetaRawProtocol::Xmpp => MetaProto::Xmpp,
            MetaRawProtocol::Icq => MetaProto::Icq,
            MetaRawProtocol::Nntp => MetaProto::Nntp,
            MetaRawProtocol::H323 => MetaProto::H323,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every protocol name of `ipfix_meta_raw` is its own META_PROTO number (spec §7).
    #[test]
    fn every_raw_protocol_translates_to_its_meta_proto() {
        let spec = [
            ("sip", 3),
            ("ftp", 4),
            ("smtp", 5),
            ("pop3", 6),
            ("imap", 7),
            ("xmpp", 8),
            ("icq", 9),
            ("nntp", 11),
            ("h323", 12),
        ];
        assert_eq!(spec.len(), MetaRawProtocol::ALL.len());
        for (name, code) in spec {
            let p = MetaRawProtocol::from_name(name).expect("a protocol name");
            let m = MetaProto::ALL.into_iter().find(|m| m.code() == code);
            assert_eq!(
                Some(raw_set(&[p])),
                m.map(|m| RawSet::NONE.with(m)),
                "{name}"
            );
        }
        assert!(raw_set(&[]).is_empty());
    }

    /// The configuration's field order is the log's, field for field.
    #[test]
    fn every_dns_log_field_translates_in_order() {
        let got: Vec<LineField> = DnsLogField::ALL.into_iter().map(line_field).collect();
        assert_eq!(got, LineField::ALL);
    }
}
