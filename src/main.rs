//! metaprobe: an inline DPDK bridge that forwards every packet unchanged and
//! exports what it sees as IPFIX.

mod caps;
mod collect;
mod http;
mod huge_heap;
mod io;
mod loss_alerts;
mod man;
mod metrics;
mod run;
mod signals;
mod stats;
mod subscribers;
mod table_file;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metaprobe_config::Config;

/// Large blocks (the workers' tables) on transparent huge pages: huge_heap.rs.
#[global_allocator]
static HEAP: huge_heap::HugeHeap = huge_heap::HugeHeap;

const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (git ",
    env!("METAPROBE_GIT_COMMIT"),
    ", built against DPDK ",
    env!("METAPROBE_DPDK_VERSION"),
    ")"
);

#[derive(Parser)]
#[command(name = "metaprobe", version = VERSION, about = "Inline DPDK bridge with IPFIX export of subscriber clickstream, protocol metadata and DNS")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the dataplane: bridge the configured port pairs until SIGINT/SIGTERM.
    Run {
        /// Configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
        /// Stop cleanly after SECS seconds in which no port received a packet
        /// (for finite inputs such as net_pcap captures).
        #[arg(long, value_name = "SECS")]
        idle_exit: Option<u64>,
        /// EAL arguments, appended to the configuration's `eal_args`.
        #[arg(last = true, value_name = "EAL ARGS")]
        eal_args: Vec<String>,
    },
    /// Receive IPFIX on UDP and/or TCP and print one decoded record per line.
    Collect {
        /// UDP address to listen on (repeatable).
        #[arg(long, value_name = "ADDR")]
        udp: Vec<std::net::SocketAddr>,
        /// TCP address to listen on (repeatable; several exporters at once).
        #[arg(long, value_name = "ADDR")]
        tcp: Vec<std::net::SocketAddr>,
        /// Output format. csv and clickhouse rows have the columns of one
        /// record kind: on stdout only one kind is printed (--kind, or the
        /// first one seen); give --out-dir for a file per kind.
        #[arg(long, value_enum, default_value = "jsonl")]
        format: collect::output::Format,
        /// Write one file per record kind in DIR (clickstream.csv, dns.csv, …;
        /// .ndjson for clickhouse, .jsonl for jsonl) instead of stdout.
        #[arg(long, value_name = "DIR")]
        out_dir: Option<PathBuf>,
        /// Only records of this kind (clickstream, http_reply, dns, ie_type, …;
        /// both address families).
        #[arg(long, value_name = "KIND")]
        kind: Option<String>,
        /// Most exporter sessions at once: UDP sources (the least recently
        /// heard is forgotten for a new one) and TCP connections (more are
        /// refused).
        #[arg(long, value_name = "N", default_value_t = collect::DEFAULT_MAX_SESSIONS)]
        max_sessions: usize,
        /// Stop after N data records.
        #[arg(long, value_name = "N")]
        count: Option<u64>,
        /// Stop after SECS seconds without a message.
        #[arg(long, value_name = "SECS")]
        idle: Option<f64>,
        /// Also print options records (RFC 5610 type records, RFC 7011 §4.3
        /// statistics, the probe's counters).
        #[arg(long)]
        options: bool,
    },
    /// Print the IPFIXcol2 (libfds) element definition file of metaprobe's
    /// enterprise elements (PEN 43823), as docs/ipfixcol2/metaprobe.xml.
    Ipfixcol2Elements,
    /// Print the ClickHouse schema of the records' tables, as
    /// docs/clickhouse.sql (for `collect --format clickhouse`).
    ClickhouseSchema,
    /// Validate a configuration file and print the effective configuration.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write the man pages into DIR (for packaging).
    #[command(hide = true)]
    Man {
        /// Where the pages go (created if needed).
        #[arg(long, value_name = "DIR")]
        out_dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run {
            config,
            idle_exit,
            eal_args,
        } => load(&config).and_then(|cfg| {
            // Before EAL starts any thread: file capabilities become effective (caps.rs).
            caps::raise_permitted()
                .map_err(|e| format!("cannot make the permitted capabilities effective: {e}"))?;
            run::run(
                &cfg,
                &eal_args,
                idle_exit.map(std::time::Duration::from_secs),
            )
        }),
        Command::Collect {
            udp,
            tcp,
            format,
            count,
            idle,
            options,
            out_dir,
            kind,
            max_sessions,
        } => collect::run(&collect::Options {
            udp,
            tcp,
            format,
            count,
            idle,
            options,
            out_dir,
            kind,
            max_sessions,
        }),
        Command::Ipfixcol2Elements => {
            print!("{}", metaprobe_ipfix::ie::ipfixcol2_elements_xml());
            Ok(())
        }
        Command::ClickhouseSchema => {
            print!("{}", metaprobe_ipfix::collect::clickhouse::schema());
            Ok(())
        }
        Command::CheckConfig { config } => load(&config).map(|cfg| print!("{}", cfg.to_toml())),
        Command::Man { out_dir } => man::write_pages(&out_dir).map(|pages| {
            for p in pages {
                println!("{}", p.display());
            }
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("metaprobe: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(path: &std::path::Path) -> Result<Config, String> {
    Config::from_file(path).map_err(|e| e.to_string())
}
