//! metaprobe: an inline DPDK bridge that forwards every packet unchanged and
//! exports what it sees as IPFIX.

mod io;
mod run;
mod signals;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use metaprobe_config::Config;

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
    /// Validate a configuration file and print the effective configuration.
    CheckConfig {
        /// Configuration file (TOML).
        #[arg(short, long, value_name = "FILE")]
        config: PathBuf,
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
            run::run(
                &cfg,
                &eal_args,
                idle_exit.map(std::time::Duration::from_secs),
            )
        }),
        Command::CheckConfig { config } => load(&config).map(|cfg| print!("{}", cfg.to_toml())),
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
