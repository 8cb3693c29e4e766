//! ClickHouse end to end, with a real engine (`chdb`, ClickHouse in-process, from PyPI;
//! `scripts/setup.sh` installs it): three captures — a TLS 1.2 session (ClientHello,
//! ServerHello, certificate), an HTTP request with its 301 reply, two pipelined HTTP
//! requests with their replies — go through the real binary (`ssl_parse_reply = 1`,
//! `http_parse_reply = 1`), whose clickstream is exported to `metaprobe collect --format
//! clickhouse --out-dir DIR` and, in parallel, to a collector of this test. chdb creates
//! the tables of `docs/clickhouse.sql`, loads every `DIR/<table>.ndjson` file as it is,
//! and runs the spec's §10 join of clickstream, HTTP reply and TLS reply records by
//! SESSION_ID (`collect::clickhouse::SESSION_JOIN`). The test checks the row counts of
//! every table, the types (TIME_STAMP a DateTime of the record's Unix time, addresses
//! IPv4), and that the join's rows are exactly the ones computed here from the records
//! this test decoded itself.
//!
//! When `chdb` cannot be imported the test says SKIPPED on stderr and passes.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{
    Packet, RUN_TIMEOUT, Running, TestDir, decode_all, dpdk_lock, eal_args, read_capture, run_args,
    run_metaprobe, write_config, write_pcap,
};
use metaprobe_ipfix::collect::clickhouse::SESSION_JOIN;
use metaprobe_ipfix::collect::{DecodedRecord, Value};
use metaprobe_test_support::fixtures_dir;
use metaprobe_test_support::udp::UdpCollector;

const CAPTURES: [&str; 3] = [
    "tls12_curl_ecdhe_rsa_cert_chain.pcap",
    "http_301_location.pcapng",
    "http_pipelined_2req_1seg.pcap",
];

/// Loads the schema and every table file into a fresh chdb session, then prints
/// `count <table> <n>` per table, `ts <unix> <datetime>` for the clickstream rows, and the
/// join's rows (`join` then TSV).
const LOADER: &str = r#"
import os, sys, tempfile
from chdb import session
schema, data = sys.argv[1], sys.argv[2]
s = session.Session(tempfile.mkdtemp())
for stmt in open(schema).read().split(";\n"):
    body = "\n".join(l for l in stmt.splitlines() if not l.startswith("--")).strip()
    if body:
        s.query(body)
tables = [l.split()[0] for l in s.query("SHOW TABLES FROM metaprobe", "TSV").data().splitlines()]
for f in sorted(os.listdir(data)):
    table = f[: -len(".ndjson")]
    if table not in tables:
        sys.exit("no table for " + f)
    s.query(f"INSERT INTO metaprobe.{table} SELECT * FROM file('{os.path.join(data, f)}', 'JSONEachRow')")
for t in tables:
    n = s.query(f"SELECT count() FROM metaprobe.{t}", "TSV").data().strip()
    print("count", t, n)
for row in s.query("SELECT toUnixTimestamp(TIME_STAMP), toTypeName(TIME_STAMP), toString(IP_SOURCE), toTypeName(IP_SOURCE) FROM metaprobe.clickstream", "TSV").data().splitlines():
    print("ts", row)
print("join")
sys.stdout.write(s.query(sys.stdin.read(), "TSV").data())
"#;

/// True when `python3 -c 'import chdb'` works; else says SKIPPED, loudly.
fn chdb_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import chdb"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!(
            "\n*** SKIPPED: the ClickHouse test needs chdb (python3 -m pip install chdb; scripts/setup.sh does) ***\n"
        );
    }
    ok
}

fn num(r: &DecodedRecord, k: &str) -> u64 {
    match r.get(k) {
        Some(Value::Unsigned(n)) => *n,
        None => 0,
        other => panic!("{k}: {other:?}"),
    }
}

fn text(r: &DecodedRecord, k: &str) -> String {
    r.get(k).map(Value::to_text).unwrap_or_default()
}

/// The §10 join computed from the records: for each clickstream record, every HTTP reply
/// and every TLS reply of its session, or the columns' defaults when there is none (a
/// ClickHouse LEFT JOIN without join_use_nulls). One TSV line per row, the columns of
/// SESSION_JOIN with TIME_STAMP as ClickHouse prints a DateTime('UTC').
fn expected_join(records: &[DecodedRecord]) -> Vec<String> {
    let of = |kind: &str| -> Vec<&DecodedRecord> {
        records
            .iter()
            .filter(|r| r.kind.as_deref().map(|k| k.trim_end_matches("_v6")) == Some(kind))
            .collect()
    };
    let (clicks, http, tls) = (of("clickstream"), of("http_reply"), of("tls_reply"));
    let mut rows = Vec::new();
    for c in &clicks {
        let sid = num(c, "SESSION_ID");
        let hs: Vec<[String; 3]> = http
            .iter()
            .filter(|h| num(h, "SESSION_ID") == sid)
            .map(|h| {
                [
                    num(h, "RESULT_CODE").to_string(),
                    text(h, "CONTENT_TYPE"),
                    text(h, "LOCATION"),
                ]
            })
            .collect();
        let ts: Vec<[String; 3]> = tls
            .iter()
            .filter(|t| num(t, "SESSION_ID") == sid)
            .map(|t| {
                [
                    num(t, "SSL_VERSION").to_string(),
                    num(t, "CIPHER_SUITE").to_string(),
                    text(t, "HOSTNAME"),
                ]
            })
            .collect();
        let none = |v: Vec<[String; 3]>, d: [&str; 3]| {
            if v.is_empty() {
                vec![d.map(str::to_string)]
            } else {
                v
            }
        };
        for h in none(hs, ["0", "", ""]) {
            for t in none(ts.clone(), ["0", "0", ""]) {
                rows.push(
                    [
                        sid.to_string(),
                        datetime(num(c, "TIME_STAMP")),
                        text(c, "LOGIN"),
                        num(c, "HOST_TYPE").to_string(),
                        text(c, "HOSTNAME"),
                        text(c, "PATH"),
                        h[0].clone(),
                        h[1].clone(),
                        h[2].clone(),
                        t[0].clone(),
                        t[1].clone(),
                        t[2].clone(),
                    ]
                    .join("\t"),
                );
            }
        }
    }
    rows.sort();
    rows
}

/// `YYYY-MM-DD hh:mm:ss` (UTC) of Unix seconds.
fn datetime(secs: u64) -> String {
    let (y, m, d) = metaprobe_export::logs::civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[test]
fn the_session_join_runs_in_clickhouse_on_the_collectors_output() {
    if !chdb_available() {
        return;
    }
    let dir = TestDir::new("clickhouse");
    let frames: Vec<Packet> = CAPTURES
        .iter()
        .flat_map(|c| read_capture(&fixtures_dir().join(c)))
        .collect();
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, &frames);
    write_pcap(&in1, &[]);
    let tables = dir.join("tables");
    let args: Vec<OsString> = [
        "collect",
        "--udp",
        "127.0.0.1:0",
        "--format",
        "clickhouse",
        "--out-dir",
    ]
    .iter()
    .map(OsString::from)
    .chain([tables.clone().into_os_string()])
    .collect();
    let mut collect = Running::spawn(&args);
    let line = collect.wait_for_stderr("listening on udp ", Duration::from_secs(20));
    let collect_addr = line.rsplit(' ').next().unwrap().to_owned();
    let mine = UdpCollector::start();
    let extra = format!(
        "ipfix_udp_collectors = [\"{collect_addr}\", \"{}\"]\n\
         ssl_parse_reply = 1\nhttp_parse_reply = 1\nipfix_mtu = 9216\n",
        mine.addr
    );
    let config = write_config(&dir, 0, 1, &extra);
    let run_args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&run_args, RUN_TIMEOUT)
    };
    out.assert_success();
    let (records, problems) = decode_all(&mine.finish());
    assert!(problems.is_empty(), "{problems:?}");
    // The collector has what was sent (loopback); a clean stop flushes its files.
    std::thread::sleep(Duration::from_millis(300));
    collect.signal(libc::SIGINT);
    let collected = collect.wait(Duration::from_secs(20));
    assert!(
        collected
            .stderr
            .contains(&format!(": {} data records, ", records.len())),
        "{}",
        collected.describe()
    );

    let mut by_table: BTreeMap<String, usize> = BTreeMap::new();
    for r in &records {
        let kind = r.kind.clone().unwrap();
        *by_table
            .entry(kind.trim_end_matches("_v6").to_owned())
            .or_default() += 1;
    }
    for t in ["clickstream", "http_reply", "tls_reply"] {
        assert!(by_table.get(t).is_some_and(|&n| n > 0), "{t}: {by_table:?}");
    }

    let schema = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/clickhouse.sql");
    let mut py = Command::new("python3")
        .arg("-c")
        .arg(LOADER)
        .arg(&schema)
        .arg(&tables)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write as _;
        py.stdin
            .take()
            .unwrap()
            .write_all(SESSION_JOIN.as_bytes())
            .unwrap();
    }
    let py = py.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&py.stdout);
    assert!(
        py.status.success(),
        "chdb: {}\n{stdout}",
        String::from_utf8_lossy(&py.stderr)
    );
    let (head, join) = stdout.split_once("join\n").unwrap();

    // Every record is a row of its table; the tables of nothing are empty.
    for line in head.lines().filter(|l| l.starts_with("count ")) {
        let w: Vec<&str> = line.split_whitespace().collect();
        let want = by_table.get(w[1]).copied().unwrap_or(0);
        assert_eq!(w[2].parse::<usize>().unwrap(), want, "{line}");
    }
    assert_eq!(head.lines().filter(|l| l.starts_with("count ")).count(), 11);
    // TIME_STAMP is a DateTime of the record's time; IP_SOURCE an IPv4 of its text.
    let mut ts: Vec<String> = head
        .lines()
        .filter_map(|l| l.strip_prefix("ts "))
        // TSV escapes the quotes of DateTime('UTC').
        .map(|l| l.replace("\\'", "'"))
        .collect();
    ts.sort();
    let mut want_ts: Vec<String> = records
        .iter()
        .filter(|r| r.kind.as_deref() == Some("clickstream"))
        .map(|r| {
            format!(
                "{}\tDateTime('UTC')\t{}\tIPv4",
                num(r, "TIME_STAMP"),
                text(r, "IP_SOURCE")
            )
        })
        .collect();
    want_ts.sort();
    assert_eq!(ts, want_ts);

    let mut got: Vec<String> = join.lines().map(str::to_owned).collect();
    got.sort();
    let want = expected_join(&records);
    assert_eq!(got, want, "the §10 join in ClickHouse");
    // The join found replies: HTTP 301 with its Location, the pipelined pair, the TLS reply.
    assert!(got.iter().any(|l| l.contains("\t301\t")), "{got:#?}");
    assert!(
        got.iter()
            .any(|l| l.split('\t').nth(9).is_some_and(|v| v != "0")),
        "a TLS reply joined: {got:#?}"
    );
    eprintln!(
        "clickhouse: {} records in {} tables, join {} rows:\n{}",
        records.len(),
        by_table.len(),
        got.len(),
        got.join("\n")
    );
}

#[test]
fn civil_dates() {
    assert_eq!(datetime(0), "1970-01-01 00:00:00");
    assert_eq!(datetime(951_782_400), "2000-02-29 00:00:00");
    assert_eq!(datetime(1_668_966_903), "2022-11-20 17:55:03");
}
