//! The configuration as the user meets it: `metaprobe check-config` on good and bad files,
//! and `metaprobe run` refusing bad files and bridges of ports that do not exist. Every
//! refusal must be a clean exit with a non-zero status and a message on stderr that names
//! the offending key or port.

mod common;

use std::ffi::OsString;
use std::fs;
use std::path::Path;
use std::time::Duration;

use common::{
    RunOutput, TestDir, dpdk_lock, eal_args, run_args, run_metaprobe, toml_string, write_config,
};

/// check-config and bad-config runs need no EAL; they must answer quickly.
const QUICK: Duration = Duration::from_secs(60);

fn check_config(config: &Path) -> RunOutput {
    let args: Vec<OsString> = vec!["check-config".into(), "-c".into(), config.into()];
    run_metaprobe(&args, QUICK)
}

/// `metaprobe run` on `config` with two real `net_pcap` ports (empty captures), so that
/// nothing but the configuration can make it fail.
fn run_with_two_ports(dir: &TestDir, config: &Path) -> RunOutput {
    let in0 = dir.join("in0.pcap");
    let in1 = dir.join("in1.pcap");
    common::write_pcap(&in0, &[]);
    common::write_pcap(&in1, &[]);
    let eal = eal_args(
        dir,
        &in0,
        &dir.join("out0.pcap"),
        &in1,
        &dir.join("out1.pcap"),
    );
    let _guard = dpdk_lock();
    run_metaprobe(&run_args(config, eal), common::RUN_TIMEOUT)
}

/// Failed cleanly, said so on stderr naming `needle`, printed no configuration on stdout.
fn assert_refused_naming(out: &RunOutput, needle: &str) {
    out.assert_clean_failure();
    assert!(
        out.stderr.contains(needle),
        "stderr should name {needle:?}\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked"),
        "an error must be a message, not a panic\n{}",
        out.describe()
    );
}

/// A config file: the test's minimal valid one with `extra` lines appended.
fn config_with(dir: &TestDir, extra: &str) -> std::path::PathBuf {
    write_config(dir, 0, 1, extra)
}

/// The same bad file is refused by `check-config` (with nothing on stdout) and by `run`
/// (before any packet is forwarded), each naming `needle` on stderr.
fn assert_bad_config(name: &str, extra: &str, needle: &str) {
    let dir = TestDir::new(name);
    let config = config_with(&dir, extra);
    let checked = check_config(&config);
    assert_refused_naming(&checked, needle);
    assert!(
        checked.stdout.trim().is_empty(),
        "check-config must not print a configuration for a bad file\n{}",
        checked.describe()
    );
    let ran = run_with_two_ports(&dir, &config);
    assert_refused_naming(&ran, needle);
    assert!(
        !ran.stdout.contains("final port"),
        "run must refuse the file before starting the bridge\n{}",
        ran.describe()
    );
}

#[test]
fn check_config_accepts_good_file_and_prints_effective_config() {
    let dir = TestDir::new("good");
    let config = config_with(
        &dir,
        "ipfix_udp_collectors = [\"127.0.0.1:4739\", \"[::1]:4740\"]\n\
         ipfix_dns_udp_collectors = \"192.0.2.10:4741, 192.0.2.11:4742\"\n",
    );
    let out = check_config(&config);
    out.assert_success();
    let log_dir = dir.join("log");
    for needle in [
        "bridges",
        "log_dir",
        "stats_interval",
        "ipfix_udp_collectors",
        "127.0.0.1:4739",
        "[::1]:4740",
        "ipfix_dns_udp_collectors",
        "192.0.2.10:4741",
        "192.0.2.11:4742",
        // Not in the file: the effective configuration shows the defaults too.
        "netflow_timeout",
        "ipfix_udp_template_timer",
    ] {
        assert!(
            out.stdout.contains(needle),
            "effective config should show {needle:?}\n{}",
            out.describe()
        );
    }
    assert!(
        out.stdout
            .contains(&toml_string(&log_dir.to_string_lossy())),
        "effective config should show log_dir {}\n{}",
        log_dir.display(),
        out.describe()
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.replace(' ', "").starts_with("stats_interval=0")),
        "effective config should show stats_interval = 0\n{}",
        out.describe()
    );

    // What it prints is itself a valid configuration, and the same one.
    let printed = dir.join("effective.toml");
    fs::write(&printed, &out.stdout).expect("write printed config");
    let again = check_config(&printed);
    again.assert_success();
    assert_eq!(
        again.stdout, out.stdout,
        "the printed effective configuration should read back to itself"
    );
}

#[test]
fn check_config_accepts_the_example_file() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/examples/metaprobe.toml");
    let out = check_config(&example);
    out.assert_success();
    assert!(out.stdout.contains("bridges"), "{}", out.describe());
}

#[test]
fn unknown_key_is_refused_and_named() {
    assert_bad_config(
        "unknown-key",
        "ipfix_udp_colectors = [\"127.0.0.1:4739\"]\n",
        "ipfix_udp_colectors",
    );
}

#[test]
fn wrong_type_is_refused_and_named() {
    assert_bad_config(
        "wrong-type-stats",
        "stats_interval = \"often\"\n",
        "stats_interval",
    );
}

#[test]
fn wrong_type_in_bridges_is_refused_and_named() {
    let dir = TestDir::new("wrong-type-bridges");
    let config = dir.join("bad.toml");
    fs::write(
        &config,
        format!(
            "bridges = [[0, \"one\"]]\nlog_dir = {}\nstats_interval = 0\n",
            toml_string(&dir.join("log").to_string_lossy())
        ),
    )
    .expect("write config");
    let out = check_config(&config);
    assert_refused_naming(&out, "bridges");
}

#[test]
fn collector_without_port_is_refused_and_named() {
    assert_bad_config(
        "collector-no-port",
        "ipfix_udp_collectors = [\"198.51.100.7\"]\n",
        "ipfix_udp_collectors",
    );
}

#[test]
fn collector_that_is_not_an_address_is_refused_and_named() {
    assert_bad_config(
        "collector-garbage",
        "ipfix_tcp_collectors = \"192.0.2.1:4739,not-an-address\"\n",
        "ipfix_tcp_collectors",
    );
}

#[test]
fn collector_port_out_of_range_is_refused_and_named() {
    assert_bad_config(
        "collector-port-range",
        "ipfix_dns_udp_collectors = [\"127.0.0.1:99999\"]\n",
        "ipfix_dns_udp_collectors",
    );
}

#[test]
fn missing_config_file_is_refused_and_named() {
    let dir = TestDir::new("missing-file");
    let config = dir.join("does-not-exist.toml");
    let out = check_config(&config);
    assert_refused_naming(&out, "does-not-exist.toml");
}

/// EAL has only two ports (0 and 1); a bridge of port 5 must be refused by name.
#[test]
fn bridge_port_that_does_not_exist_is_refused_and_named() {
    let dir = TestDir::new("no-port-5");
    let config = write_config(&dir, 0, 5, "");
    let out = run_with_two_ports(&dir, &config);
    out.assert_clean_failure();
    let names_port_5 = out.stderr.lines().any(|l| {
        l.to_ascii_lowercase().contains("port")
            && l.split(|c: char| !c.is_ascii_alphanumeric())
                .any(|w| w == "5")
    });
    assert!(
        names_port_5,
        "stderr should have a line naming port 5\n{}",
        out.describe()
    );
    assert!(
        !out.stderr.contains("panicked"),
        "an error must be a message, not a panic\n{}",
        out.describe()
    );
    assert!(
        !out.stdout.contains("final port"),
        "no bridge may run with a missing port\n{}",
        out.describe()
    );
}
