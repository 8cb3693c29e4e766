//! The tester of `bench/inline.py`: a DPDK generator with a paced rate, or a sink that
//! counts. `dpdk-testpmd` cannot pace its transmit (no rate control for virtual devices),
//! and an RFC 2544 search needs an offered rate, so this small program replays real traffic
//! at the rate it is told.
//!
//! ```text
//! inline-tester gen  -- EAL ARGS   # port 0: the source (net_pcap rx_pcap=…,infinite_rx=1),
//!                                  # port 1: the link to the device under test
//! inline-tester sink -- EAL ARGS   # port 0: the link from the device under test
//! inline-tester both -- EAL ARGS   # ports 0 and 1 as gen, port 2 as sink, one lcore
//! ```
//!
//! `both` is for small machines: generator and sink as two processes each busy-poll a CPU,
//! and where they share one, the one that waits lets its ring overflow (loss that is not
//! the device's); one lcore that serves both rings does not.
//!
//! One worker lcore does the work; the main thread takes commands on stdin, one a line:
//! `rate PPS` (0 stops the generator), `stats` (prints `stats sent N refused N received
//! N`, counts since start), `quit`. The generator paces with a token bucket on
//! the TSC, in bursts of 32 (the bucket holds at most 32 packets or 20 µs of traffic), and
//! sends each burst once: what the link does not take (the device's ring is full) is
//! freed and counted as `refused` — the frames a NIC would have dropped at a full RX ring.
//! The sink receives and frees, sleeping 10 µs when nothing came (its ring is deep).
//! Built by `cargo build --release --example inline-tester`.

use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use metaprobe_ffi::{
    BURST_SIZE, Eal, MbufBurst, Mempool, Port, PortInfo, PortQueue, PortSetup, launch, tsc,
    worker_lcores,
};

#[derive(Default)]
struct Shared {
    rate: AtomicU64,
    stop: AtomicBool,
    sent: AtomicU64,
    refused: AtomicU64,
    received: AtomicU64,
}

const POOL_MBUFS: u32 = 65535;
const DESCRIPTORS: u16 = 1024;

/// Receives one burst from the sink's link, counts and frees it; how many.
fn drain(link: &mut PortQueue, burst: &mut MbufBurst, shared: &Shared) -> usize {
    let n = link.rx_burst(burst);
    burst.free_all();
    shared.received.fetch_add(n as u64, Ordering::Relaxed);
    n
}

/// Sleeps about `secs` (the thread's timer slack is 1 µs, see `main`); with a sink to
/// serve, polls it instead.
fn wait(secs: f64, sink: &mut Option<(PortQueue, MbufBurst)>, shared: &Shared, hz: u64) {
    match sink {
        Some((link, burst)) => {
            let until = tsc() + (secs * hz as f64) as u64;
            while tsc() < until {
                drain(link, burst, shared);
            }
        }
        None => std::thread::sleep(Duration::from_secs_f64(secs)),
    }
}

fn generate(
    mut source: PortQueue,
    mut link: PortQueue,
    mut sink: Option<(PortQueue, MbufBurst)>,
    shared: &Shared,
    hz: u64,
) -> i32 {
    let mut burst = MbufBurst::default();
    let (mut tokens, mut last) = (0.0f64, tsc());
    while !shared.stop.load(Ordering::Relaxed) {
        if let Some((q, b)) = &mut sink {
            drain(q, b, shared);
        }
        let rate = shared.rate.load(Ordering::Relaxed) as f64;
        if rate == 0.0 {
            wait(100e-6, &mut sink, shared, hz);
            (tokens, last) = (0.0, tsc());
            continue;
        }
        let now = tsc();
        let bucket = (rate * 20e-6).max(BURST_SIZE as f64);
        tokens = (tokens + now.wrapping_sub(last) as f64 * rate / hz as f64).min(bucket);
        last = now;
        if tokens < BURST_SIZE as f64 {
            let wait = (BURST_SIZE as f64 - tokens) / rate;
            if wait > 20e-6 {
                self::wait(wait - 10e-6, &mut sink, shared, hz);
            }
            continue;
        }
        let n = source.rx_burst(&mut burst);
        if n == 0 {
            continue;
        }
        let sent = link.tx_burst(&mut burst);
        let refused = burst.free_all();
        shared.sent.fetch_add(sent as u64, Ordering::Relaxed);
        shared.refused.fetch_add(refused as u64, Ordering::Relaxed);
        tokens -= n as f64;
    }
    0
}

fn sink(mut link: PortQueue, shared: &Shared) -> i32 {
    let mut burst = MbufBurst::default();
    while !shared.stop.load(Ordering::Relaxed) {
        if drain(&mut link, &mut burst, shared) == 0 {
            std::thread::sleep(Duration::from_micros(10));
        }
    }
    0
}

fn run(role: &str, eal_args: &[String]) -> Result<(), String> {
    let eal = Eal::init(eal_args).map_err(|e| format!("EAL: {e}"))?;
    let need = match role {
        "gen" => 2,
        "both" => 3,
        _ => 1,
    };
    if eal.port_count() < need {
        return Err(format!(
            "{role} needs {need} port(s), EAL found {}",
            eal.port_count()
        ));
    }
    let pool = Arc::new(
        Mempool::create_pktmbuf(&eal, "tester", POOL_MBUFS, 256, -1)
            .map_err(|e| format!("mbuf pool: {e}"))?,
    );
    let setup = PortSetup {
        queues: 1,
        rx_descriptors: DESCRIPTORS,
        tx_descriptors: DESCRIPTORS,
    };
    let mut ports = Vec::new();
    let mut queues = Vec::new();
    for id in 0..need {
        let info = PortInfo::query(&eal, id).map_err(|e| e.to_string())?;
        let (port, mut q) = Port::start(&eal, info, setup, &pool).map_err(|e| e.to_string())?;
        println!("port {id}: {}", port.info().name);
        ports.push(port);
        queues.push(q.pop().ok_or("a port without a queue")?);
    }
    let lcore = *worker_lcores(&eal)
        .first()
        .ok_or("give EAL two lcores (main and worker)")?;
    let shared = Arc::new(Shared::default());
    let job_shared = Arc::clone(&shared);
    let hz = eal.tsc_hz();
    let launched = if role == "gen" || role == "both" {
        let sink_link = if role == "both" { queues.pop() } else { None };
        let link = queues.pop().ok_or("no link queue")?;
        let source = queues.pop().ok_or("no source queue")?;
        launch(&eal, lcore, move || {
            // Sleeps of a few µs must not take the default 50 µs of timer slack.
            // SAFETY: prctl with an integer argument.
            unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1000) };
            let sink = sink_link.map(|q| (q, MbufBurst::default()));
            generate(source, link, sink, &job_shared, hz)
        })
    } else {
        let link = queues.pop().ok_or("no link queue")?;
        launch(&eal, lcore, move || sink(link, &job_shared))
    }
    .map_err(|e| e.to_string())?;
    println!("ready");
    let _ = std::io::stdout().flush();

    for line in std::io::stdin().lock().lines() {
        let line = line.map_err(|e| format!("stdin: {e}"))?;
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["rate", pps] => {
                let pps: u64 = pps.parse().map_err(|_| format!("bad rate {pps:?}"))?;
                shared.rate.store(pps, Ordering::Relaxed);
            }
            ["stats"] => println!(
                "stats sent {} refused {} received {}",
                shared.sent.load(Ordering::Relaxed),
                shared.refused.load(Ordering::Relaxed),
                shared.received.load(Ordering::Relaxed)
            ),
            ["quit"] => break,
            [] => {}
            _ => eprintln!("inline-tester: unknown command {line:?}"),
        }
        let _ = std::io::stdout().flush();
    }
    shared.stop.store(true, Ordering::Relaxed);
    launched.wait();
    for p in &ports {
        if let Ok(s) = p.stats() {
            println!(
                "final port {}: rx {} tx {} rx-missed {} tx-errors {}",
                p.id(),
                s.rx,
                s.tx,
                s.rx_missed,
                s.tx_errors
            );
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let role = args.get(1).map(String::as_str).unwrap_or_default();
    let eal_args: Vec<String> = match args.iter().position(|a| a == "--") {
        Some(i) => args.iter().skip(i + 1).cloned().collect(),
        None => Vec::new(),
    };
    if !matches!(role, "gen" | "sink" | "both") {
        eprintln!("usage: inline-tester gen|sink|both -- EAL ARGS");
        return ExitCode::from(2);
    }
    match run(role, &eal_args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("inline-tester: {e}");
            ExitCode::FAILURE
        }
    }
}
