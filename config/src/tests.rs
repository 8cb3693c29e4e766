#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use super::*;

const ORIGIN: &str = "metaprobe.toml";
const EXAMPLE: &str = include_str!("../examples/metaprobe.toml");

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_toml_str(text, ORIGIN)
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(c) => c,
        Err(e) => panic!("expected a valid configuration, got:\n{e}\n--- input:\n{text}"),
    }
}

/// The error text for `text`, which must be refused.
fn err(text: &str) -> String {
    match parse(text) {
        Ok(c) => panic!("expected an error, got {c:?}\n--- input:\n{text}"),
        Err(e) => e.to_string(),
    }
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn with(extra: &str) -> String {
    format!("bridges = [[0, 1]]\n{extra}\n")
}

// ---- defaults and the example ----------------------------------------------------------

#[test]
fn every_default() {
    let c = ok("bridges = [[0, 1]]");
    assert_eq!(c.eal_args, Vec::<String>::new());
    assert_eq!(
        c.bridges,
        [Bridge {
            subscriber: 0,
            internet: 1
        }]
    );
    assert_eq!(c.log_dir, PathBuf::from("/var/log/metaprobe"));
    assert_eq!(c.stats_interval, 10);
    assert_eq!(c.metrics_listen, None);
    assert_eq!(c.rx_descriptors, 1024);
    assert_eq!(c.tx_descriptors, 1024);
    assert_eq!(c.queues_per_port, 0);
    assert_eq!(c.ipfix_dev, "");
    assert!(c.ipfix_udp_collectors.is_empty());
    assert!(c.ipfix_tcp_collectors.is_empty());
    assert!(c.ipfix_meta_udp_collectors.is_empty());
    assert!(c.ipfix_meta_tcp_collectors.is_empty());
    assert!(c.ipfix_dns_udp_collectors.is_empty());
    assert!(c.ipfix_dns_tcp_collectors.is_empty());
    assert_eq!(c.ipfix_udp_template_timer, 20);
    assert_eq!(c.ipfix_mtu, 1500);
    assert_eq!(c.ipfix_domain_id, 0);
    assert_eq!(c.netflow_timeout, 30);
    assert!(!c.http_parse_reply);
    assert!(!c.ssl_parse_reply);
    assert_eq!(c.dbg_log_mask, 0);
    assert!(!c.ajb_save_dns);
    assert_eq!(c.ajb_dns_path, PathBuf::from("/var/log/metaprobe/dns.log"));
    let names: Vec<&str> = c.ajb_save_dns_format.iter().map(|f| f.name()).collect();
    assert_eq!(
        names.join(":"),
        "ts:ssid:login:ipsrc:ipdst:psrc:pdst:transport:host:rrtype:rrclass:ttl:rdlen:rdata"
    );
    assert_eq!(c.ajb_dns_bufsize, 1024 * 1024);
    assert_eq!(c.ajb_dns_fsize, 100 * 1024 * 1024);
    assert_eq!(c.ajb_dns_ftimeout, 60);
    assert_eq!(c, Config::with_bridges(c.bridges.clone()));
}

#[test]
fn example_file_parses_and_shows_every_key_with_its_default() {
    let c =
        Config::from_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/metaprobe.toml"))
            .unwrap();
    // Keys whose default is another key's value are shown commented out:
    // set, they would no longer follow it.
    const FOLLOWING: [&str; 3] = [
        "ipfix_clickstream_domain_id",
        "ipfix_meta_domain_id",
        "ipfix_dns_domain_id",
    ];
    for key in KEYS {
        let prefix = if FOLLOWING.contains(key) {
            format!("# {key} = ")
        } else {
            format!("{key} = ")
        };
        let lines = EXAMPLE.lines().filter(|l| l.starts_with(&prefix)).count();
        assert_eq!(lines, 1, "example must show `{key}` exactly once");
    }
    // Apart from what the example sets on purpose, it shows the defaults.
    let mut expected = Config::with_bridges(c.bridges.clone());
    expected.eal_args = c.eal_args.clone();
    expected.ipfix_udp_collectors = vec![addr("127.0.0.1:4739")];
    expected.ipfix_meta_udp_collectors = vec![addr("127.0.0.1:4740")];
    assert_eq!(c, expected);
}

#[test]
fn reference_documents_every_key() {
    let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
    let doc = std::fs::read_to_string(&doc).unwrap();
    let collectors = doc.split("### Collector lists").nth(1).unwrap();
    let collectors = collectors.split("\n### ").next().unwrap();
    for key in KEYS {
        assert!(
            doc.contains(&format!("| [`{key}`](#")),
            "docs/configuration.md: `{key}` is missing from the summary table"
        );
        let section = if key.ends_with("_collectors") {
            collectors.contains(&format!("`{key}`"))
        } else {
            doc.contains(&format!("\n### `{key}`\n"))
        };
        assert!(section, "docs/configuration.md has no section for `{key}`");
    }
}

#[test]
fn keys_are_unique_and_match_to_toml() {
    let mut sorted = KEYS.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(sorted.len(), KEYS.len());
    let written: Vec<String> = Config::with_bridges(vec![])
        .to_toml()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(" = ").next().unwrap().to_owned())
        .collect();
    assert_eq!(written, KEYS);
}

// ---- to_toml ---------------------------------------------------------------------------

#[test]
fn round_trip_of_defaults() {
    let c = ok("bridges = [[0, 1]]");
    let text = c.to_toml();
    assert_eq!(ok(&text), c, "{text}");
}

#[test]
fn round_trip_of_every_key_changed() {
    let c = Config {
        eal_args: vec!["-l".into(), "0-1".into(), "quote\"and\\back".into()],
        bridges: vec![
            Bridge {
                subscriber: 3,
                internet: 2,
            },
            Bridge {
                subscriber: 0,
                internet: 65535,
            },
        ],
        log_dir: "/tmp/mp logs".into(),
        stats_interval: 0,
        metrics_listen: Some(addr("[::1]:9156")),
        rx_descriptors: 64,
        tx_descriptors: 16384,
        queues_per_port: 64,
        flow_table_size: 1 << 20,
        flow_tcp_timeout: 3600,
        flow_tcp_closed_timeout: 2,
        flow_udp_timeout: 120,
        flow_other_timeout: 10,
        reassembly_slots: 100_000,
        reassembly_slot_bytes: 16_384,
        quic_slots: 7,
        ip_fragment_slots: 3,
        ip_fragment_slot_bytes: 65_535,
        ipfix_dev: "eth0".into(),
        ipfix_udp_collectors: vec![addr("192.0.2.10:4739"), addr("[2001:db8::1]:4739")],
        ipfix_tcp_collectors: vec![addr("192.0.2.11:4739")],
        ipfix_meta_udp_collectors: vec![addr("10.0.0.1:1")],
        ipfix_meta_tcp_collectors: vec![addr("[::1]:65535")],
        ipfix_meta_raw: vec![MetaRawProtocol::Nntp, MetaRawProtocol::Sip],
        ipfix_meta_raw_max_bytes: 65535,
        ipfix_dns_udp_collectors: vec![addr("127.0.0.1:9996")],
        ipfix_dns_tcp_collectors: vec![addr("127.0.0.2:9996"), addr("127.0.0.3:9996")],
        ipfix_udp_template_timer: u32::MAX,
        ipfix_mtu: 9216,
        ipfix_tcp_backlog: 1 << 30,
        ipfix_domain_id: u32::MAX,
        ipfix_clickstream_domain_id: 1,
        ipfix_meta_domain_id: 0,
        ipfix_dns_domain_id: 3,
        netflow_timeout: 1,
        http_parse_reply: true,
        ssl_parse_reply: true,
        dbg_log_mask: 0xffff_ffff,
        ajb_save_dns: true,
        ajb_dns_path: "dns/ünïcode.log".into(),
        ajb_save_dns_format: vec![DnsLogField::Rdata, DnsLogField::Ts, DnsLogField::Host],
        ajb_dns_bufsize: 1000,
        ajb_dns_fsize: 3 << 30,
        ajb_dns_ftimeout: 0,
        subscribers_file: Some("/etc/metaprobe/subscribers.txt".into()),
        subscribers_max: 7,
        radius_snoop: false,
        radius_accounting_listen: Some(addr("127.0.0.1:1813")),
        radius_secret: "s3cr\"et".into(),
        vchannels: vec![
            VChannel {
                bridge: 1,
                vlans: vec![(100, 199), (300, 300)],
                channel: 7,
            },
            VChannel {
                bridge: 0,
                vlans: vec![(100, 100)],
                channel: 0,
            },
        ],
        block_list: Some("/etc/metaprobe/blocked.txt".into()),
        block_redirect_url: Some("http://blocked.example/?from=probe".into()),
    };
    let text = c.to_toml();
    assert_eq!(ok(&text), c, "{text}");
    assert!(text.contains("dbg_log_mask = 0xffffffff"), "{text}");
    assert!(text.contains("ajb_dns_fsize = \"3G\""), "{text}");
    assert!(text.contains("ajb_dns_bufsize = 1000\n"), "{text}");
    assert!(
        text.contains("ajb_save_dns_format = \"rdata:ts:host\""),
        "{text}"
    );
    assert!(text.contains("bridges = [[3, 2], [0, 65535]]"), "{text}");
    assert!(
        text.contains("vchannels = [{ bridge = 1, vlans = \"100-199,300\", channel = 7 }, "),
        "{text}"
    );
    assert!(
        text.contains("ipfix_meta_raw = [\"nntp\", \"sip\"]\n"),
        "{text}"
    );
}

#[test]
fn round_trip_of_the_example() {
    let c = ok(EXAMPLE);
    assert_eq!(ok(&c.to_toml()), c);
}

// ---- bridges ---------------------------------------------------------------------------

#[test]
fn bridges_and_all_ports() {
    let c = ok("bridges = [[0, 1], [3, 2]]");
    assert_eq!(c.all_ports().collect::<Vec<_>>(), [0, 1, 3, 2]);
    assert_eq!(c.bridges[1].subscriber, 3);
    assert_eq!(c.bridges[1].internet, 2);
    let t = ok("bridges = [{ subscriber = 0, internet = 1 }, { internet = 3, subscriber = 2 }]");
    assert_eq!(t.bridges, ok("bridges = [[0, 1], [2, 3]]").bridges);
}

#[test]
fn bridge_port_used_twice() {
    let e = err("ipfix_mtu = 1500\nbridges = [\n  [0, 1],\n  [2, 1],\n]\n");
    assert_eq!(
        e,
        "metaprobe.toml:4: bridges[1]: port 1 is already used by bridges[0]"
    );
}

#[test]
fn bridge_of_one_port_with_itself() {
    let e = err("bridges = [[0, 1], [2, 2]]");
    assert_eq!(
        e,
        "metaprobe.toml:1: bridges[1]: port 2 is bridged with itself \
         (a bridge joins two different ports)"
    );
}

#[test]
fn bridges_empty_missing_or_misshapen() {
    let e = err("bridges = []");
    assert!(
        e.starts_with("metaprobe.toml:1: bridges: at least one bridge"),
        "{e}"
    );
    let e = err("ipfix_mtu = 1500\n");
    assert_eq!(
        e,
        "metaprobe.toml: missing required key `bridges` (the port pairs to forward, \
         subscriber port first, e.g. bridges = [[0, 1]])"
    );
    let e = err("bridges = [[0, 1, 2]]");
    assert!(
        e.contains("bridges[0]: expected a pair [subscriber port, internet port], found 3"),
        "{e}"
    );
    let e = err("bridges = [0, 1]");
    assert!(e.contains("bridges[0]: expected a pair"), "{e}");
    let e = err("bridges = [[0, 70000]]");
    assert!(
        e.contains("bridges[0][1]: 70000 is not a port id (0..=65535)"),
        "{e}"
    );
    let e = err("bridges = [[-1, \"eth0\"]]");
    assert!(e.contains("bridges[0][0]: -1 is not a port id"), "{e}");
    assert!(
        e.contains("bridges[0][1]: expected a port id (an integer), found the string \"eth0\""),
        "{e}"
    );
    let e = err("bridges = [{ subscriber = 0, internat = 1 }]");
    assert!(e.contains("bridges[0]: unknown key `internat`"), "{e}");
    let e = err("bridges = [{ subscriber = 0 }]");
    assert!(e.contains("bridges[0]: missing `internet`"), "{e}");
    let e = err("bridges = \"0,1\"");
    assert!(
        e.contains("bridges: expected an array of port pairs"),
        "{e}"
    );
}

// ---- unknown keys, syntax --------------------------------------------------------------

#[test]
fn unknown_key_is_named_with_line_and_suggestion() {
    let e = err("# comment\nbridges = [[0, 1]]\nipfix_udp_colectors = \"1.2.3.4:1500\"\n");
    assert_eq!(
        e,
        "metaprobe.toml:3: unknown key `ipfix_udp_colectors` (did you mean `ipfix_udp_collectors`?)"
    );
    let e = err(&with("IPFIX_MTU = 1500"));
    assert!(
        e.contains("metaprobe.toml:2: unknown key `IPFIX_MTU` (did you mean `ipfix_mtu`?)"),
        "{e}"
    );
    let e = err(&with("colour = \"blue\""));
    assert_eq!(
        e,
        "metaprobe.toml:2: unknown key `colour` (docs/configuration.md lists every key)"
    );
}

#[test]
fn sections_are_refused() {
    let e = err("bridges = [[0, 1]]\n\n[export]\nipfix_mtu = 1500\n");
    assert_eq!(
        e,
        "metaprobe.toml:3: unknown key `export` (there are no sections: every key is at the top level)"
    );
}

#[test]
fn syntax_error_has_line() {
    let e = err("bridges = [[0, 1]]\nipfix_mtu = \n");
    assert!(e.starts_with("metaprobe.toml:2: invalid TOML: "), "{e}");
    assert!(e.contains("2 | ipfix_mtu = "), "{e}");
    let e = err("bridges = [[0, 1]]\nipfix_mtu = 1500\nipfix_mtu = 1400\n");
    assert!(
        e.starts_with("metaprobe.toml:3: invalid TOML: duplicate key"),
        "{e}"
    );
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let e = parse("ipfix_mtu = 100\nfoo = 1\nnetflow_timeout = 0\n").unwrap_err();
    assert_eq!(e.len(), 4);
    assert_eq!(
        e.lines().collect::<Vec<_>>(),
        [Some(1), Some(2), Some(3), None]
    );
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "metaprobe.toml:1: ipfix_mtu: 100 is out of range 576..=9216"
    );
    assert!(lines[1].starts_with("metaprobe.toml:2: unknown key `foo`"));
    assert_eq!(
        lines[2],
        "metaprobe.toml:3: netflow_timeout: 0 is not allowed: must be greater than 0"
    );
    assert!(lines[3].starts_with("metaprobe.toml: missing required key `bridges`"));
}

#[test]
fn missing_file_names_path_and_os_error() {
    let path = Path::new("/nonexistent/metaprobe-config-test/metaprobe.toml");
    let e = Config::from_file(path).unwrap_err().to_string();
    assert!(
        e.starts_with(
            "/nonexistent/metaprobe-config-test/metaprobe.toml: cannot read configuration file: "
        ),
        "{e}"
    );
    assert!(e.contains("No such file or directory"), "{e}");
}

#[test]
fn from_file_names_the_file_in_messages() {
    let dir = std::env::temp_dir().join(format!("metaprobe-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("bad.toml");
    std::fs::write(&path, "bridges = [[0, 1]]\nipfix_mtu = 10\n").unwrap();
    let e = Config::from_file(&path).unwrap_err().to_string();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(
        e,
        format!(
            "{}:2: ipfix_mtu: 10 is out of range 576..=9216",
            path.display()
        )
    );
}

// ---- collectors ------------------------------------------------------------------------

const COLLECTOR_KEYS: [&str; 6] = [
    "ipfix_udp_collectors",
    "ipfix_tcp_collectors",
    "ipfix_meta_udp_collectors",
    "ipfix_meta_tcp_collectors",
    "ipfix_dns_udp_collectors",
    "ipfix_dns_tcp_collectors",
];

fn collectors_of<'c>(c: &'c Config, key: &str) -> &'c [SocketAddr] {
    match key {
        "ipfix_udp_collectors" => &c.ipfix_udp_collectors,
        "ipfix_tcp_collectors" => &c.ipfix_tcp_collectors,
        "ipfix_meta_udp_collectors" => &c.ipfix_meta_udp_collectors,
        "ipfix_meta_tcp_collectors" => &c.ipfix_meta_tcp_collectors,
        "ipfix_dns_udp_collectors" => &c.ipfix_dns_udp_collectors,
        "ipfix_dns_tcp_collectors" => &c.ipfix_dns_tcp_collectors,
        _ => unreachable!(),
    }
}

#[test]
fn comma_string_equals_array_for_every_collector_key() {
    let want = [
        addr("1.2.3.4:1500"),
        addr("1.2.3.5:1501"),
        addr("[2001:db8::1]:4739"),
    ];
    for key in COLLECTOR_KEYS {
        let a = ok(&with(&format!(
            "{key} = [\"1.2.3.4:1500\", \"1.2.3.5:1501\", \"[2001:db8::1]:4739\"]"
        )));
        let s = ok(&with(&format!(
            "{key} = \"1.2.3.4:1500,1.2.3.5:1501,[2001:db8::1]:4739\""
        )));
        let spaced = ok(&with(&format!(
            "{key} = \" 1.2.3.4:1500 , 1.2.3.5:1501 ,  [2001:db8::1]:4739 \""
        )));
        assert_eq!(collectors_of(&a, key), want, "{key}");
        assert_eq!(a, s, "{key}");
        assert_eq!(a, spaced, "{key}");
        let empty = ok(&with(&format!("{key} = \"\"")));
        assert!(collectors_of(&empty, key).is_empty(), "{key}");
        assert_eq!(empty, ok(&with(&format!("{key} = []"))), "{key}");
    }
}

#[test]
fn collector_not_ip_port() {
    let e = err("bridges = [[0, 1]]\n\n\n\nipfix_udp_collectors = \"1.2.3.4\"\n");
    assert_eq!(
        e,
        "metaprobe.toml:5: ipfix_udp_collectors: `1.2.3.4` is not ip:port \
         (expected e.g. 192.0.2.10:4739 or [2001:db8::1]:4739); the port is missing"
    );
}

#[test]
fn collector_errors_point_at_the_element_line() {
    let text = "bridges = [[0, 1]]\nipfix_dns_tcp_collectors = [\n  \"192.0.2.1:4739\",\n  \"2001:db8::1:4739\",\n  \"collector.example:4739\",\n  \"192.0.2.1:99999\",\n  \"192.0.2.1:0\",\n  4739,\n]\n";
    let e = err(text);
    let lines: Vec<&str> = e.lines().collect();
    assert_eq!(lines.len(), 5, "{e}");
    assert!(
        lines[0].starts_with(
            "metaprobe.toml:4: ipfix_dns_tcp_collectors[1]: `2001:db8::1:4739` is not ip:port"
        ),
        "{e}"
    );
    assert!(
        lines[0].ends_with("write an IPv6 collector in brackets: [addr]:port"),
        "{e}"
    );
    assert!(
        lines[1]
            .starts_with("metaprobe.toml:5: ipfix_dns_tcp_collectors[2]: `collector.example:4739`"),
        "{e}"
    );
    assert!(
        lines[1].ends_with("host names are not resolved: give an IP address"),
        "{e}"
    );
    assert!(
        lines[2].starts_with("metaprobe.toml:6: ipfix_dns_tcp_collectors[3]:"),
        "{e}"
    );
    assert!(
        lines[2].ends_with("the port must be a number in 1..=65535"),
        "{e}"
    );
    assert_eq!(
        lines[3],
        "metaprobe.toml:7: ipfix_dns_tcp_collectors[4]: `192.0.2.1:0`: port 0 is not a collector port"
    );
    assert_eq!(
        lines[4],
        "metaprobe.toml:8: ipfix_dns_tcp_collectors[5]: expected a string \"ip:port\", found the integer 4739"
    );
}

#[test]
fn duplicate_collector_in_one_list() {
    let e = err(&with(
        "ipfix_tcp_collectors = \"1.2.3.4:1500, 1.2.3.4:1500\"",
    ));
    assert_eq!(
        e,
        "metaprobe.toml:2: ipfix_tcp_collectors: 1.2.3.4:1500 is listed twice"
    );
    let e = err(&with(
        "ipfix_tcp_collectors = [\"[::1]:1500\", \"[0::1]:1500\"]",
    ));
    assert!(
        e.contains("ipfix_tcp_collectors[1]: [::1]:1500 is listed twice"),
        "{e}"
    );
    // The same collector in two different lists is fine.
    ok(&with(
        "ipfix_udp_collectors = \"1.2.3.4:1500\"\nipfix_dns_udp_collectors = \"1.2.3.4:1500\"",
    ));
}

#[test]
fn collector_list_wrong_shapes() {
    let e = err(&with(
        "ipfix_udp_collectors = \"1.2.3.4:1500,,1.2.3.5:1501\"",
    ));
    assert!(e.contains("ipfix_udp_collectors: empty entry #2"), "{e}");
    let e = err(&with("ipfix_udp_collectors = 4739"));
    assert!(e.contains("ipfix_udp_collectors: expected an array of \"ip:port\" strings or one comma-separated string, found the integer 4739"), "{e}");
}

// ---- scalars ---------------------------------------------------------------------------

#[test]
fn descriptors_must_be_powers_of_two_in_range() {
    let c = ok(&with("rx_descriptors = 64\ntx_descriptors = 16384"));
    assert_eq!((c.rx_descriptors, c.tx_descriptors), (64, 16384));
    for bad in ["1000", "32", "32768", "0", "-1024"] {
        let e = err(&with(&format!("rx_descriptors = {bad}")));
        assert_eq!(
            e,
            format!("metaprobe.toml:2: rx_descriptors: {bad} is not a power of two in 64..=16384")
        );
    }
    let e = err(&with("tx_descriptors = 1000"));
    assert!(
        e.contains("tx_descriptors: 1000 is not a power of two in 64..=16384"),
        "{e}"
    );
}

#[test]
fn ranges_of_integers() {
    assert_eq!(ok(&with("ipfix_mtu = 576")).ipfix_mtu, 576);
    assert_eq!(ok(&with("ipfix_mtu = 9216")).ipfix_mtu, 9216);
    assert!(err(&with("ipfix_mtu = 9217")).contains("ipfix_mtu: 9217 is out of range 576..=9216"));
    assert!(
        err(&with("ipfix_udp_template_timer = 0"))
            .contains("ipfix_udp_template_timer: 0 is not allowed: must be greater than 0")
    );
    assert!(
        err(&with("queues_per_port = 65"))
            .contains("queues_per_port: 65 is out of range: 0 (automatic) or 1..=64")
    );
    assert_eq!(ok(&with("queues_per_port = 4")).queues_per_port, 4);
    assert!(
        err(&with("stats_interval = -1"))
            .contains("stats_interval: -1 is out of range: must be 0 or more")
    );
    assert!(
        err(&with("ipfix_domain_id = 4294967296"))
            .contains("ipfix_domain_id: 4294967296 is out of range 0..=4294967295")
    );
    assert_eq!(
        ok(&with("ipfix_domain_id = 0x1_0000")).ipfix_domain_id,
        65536
    );
    assert_eq!(ok(&with("stats_interval = 1_000")).stats_interval, 1000);
    // Per-stream domain ids: each its own when given, else ipfix_domain_id.
    let c = ok(&with("ipfix_domain_id = 7\nipfix_dns_domain_id = 9"));
    assert_eq!(
        (
            c.ipfix_clickstream_domain_id,
            c.ipfix_meta_domain_id,
            c.ipfix_dns_domain_id
        ),
        (7, 7, 9)
    );
    let c = ok(&with("ipfix_meta_domain_id = 2\nipfix_domain_id = 5"));
    assert_eq!(
        (c.ipfix_clickstream_domain_id, c.ipfix_meta_domain_id),
        (5, 2)
    );
    assert!(
        err(&with("ipfix_clickstream_domain_id = -1"))
            .contains("ipfix_clickstream_domain_id: -1 is out of range 0..=4294967295")
    );
    assert_eq!(ok(&with("ajb_dns_ftimeout = 0")).ajb_dns_ftimeout, 0);
}

#[test]
fn wrong_types_name_key_and_found_value() {
    let e = err(&with("netflow_timeout = \"30\""));
    assert_eq!(
        e,
        "metaprobe.toml:2: netflow_timeout: expected an integer (seconds), found the string \"30\" (write numbers without quotes)"
    );
    let e = err(&with("ipfix_mtu = 1500.0"));
    assert!(
        e.contains("ipfix_mtu: expected an integer (octets), found the float 1500.0"),
        "{e}"
    );
    let e = err(&with("eal_args = \"-l 0-1\""));
    assert!(e.contains("eal_args: expected an array of strings"), "{e}");
    let e = err(&with("eal_args = [\"-l\", 1]"));
    assert!(
        e.contains("eal_args[1]: expected a string, found the integer 1"),
        "{e}"
    );
    let e = err(&with("log_dir = 5"));
    assert!(
        e.contains("log_dir: expected a path (a string), found the integer 5"),
        "{e}"
    );
    let e = err(&with("log_dir = \"\""));
    assert!(e.contains("log_dir: the path is empty"), "{e}");
    let e = err(&with("ajb_dns_path = \"/var/log/\""));
    assert!(
        e.contains("ajb_dns_path: \"/var/log/\" names a directory"),
        "{e}"
    );
}

#[test]
fn subscribers_file_is_a_path_or_empty() {
    assert_eq!(ok(&with("subscribers_file = \"\"")).subscribers_file, None);
    assert_eq!(
        ok(&with("subscribers_file = \"subs.txt\"")).subscribers_file,
        Some(PathBuf::from("subs.txt"))
    );
    let e = err(&with("subscribers_file = \"/etc/\""));
    assert!(
        e.contains("subscribers_file: \"/etc/\" names a directory"),
        "{e}"
    );
}

#[test]
fn block_keys_take_a_path_and_an_http_url() {
    let c = ok(&with(
        "block_list = \"blocked.txt\"\nblock_redirect_url = \"https://stop.example/x\"",
    ));
    assert_eq!(c.block_list, Some(PathBuf::from("blocked.txt")));
    assert_eq!(
        c.block_redirect_url.as_deref(),
        Some("https://stop.example/x")
    );
    assert_eq!(
        ok(&with("block_redirect_url = \"\"")).block_redirect_url,
        None
    );
    for (url, why) in [
        ("ftp://x/", "is not an http:// or https:// URL"),
        ("http://x/a b", "holds a space"),
    ] {
        let e = err(&with(&format!("block_redirect_url = \"{url}\"")));
        assert!(e.contains("block_redirect_url: ") && e.contains(why), "{e}");
    }
    let long = format!("block_redirect_url = \"http://x/{}\"", "a".repeat(1100));
    assert!(err(&with(&long)).contains("longer than 1024 octets"));
}

#[test]
fn flags_accept_0_1_true_false_only() {
    for (text, want) in [("0", false), ("1", true), ("false", false), ("true", true)] {
        let c = ok(&with(&format!(
            "http_parse_reply = {text}\nssl_parse_reply = {text}\najb_save_dns = {text}"
        )));
        assert_eq!(
            (c.http_parse_reply, c.ssl_parse_reply, c.ajb_save_dns),
            (want, want, want)
        );
    }
    let e = err(&with("http_parse_reply = 2"));
    assert_eq!(
        e,
        "metaprobe.toml:2: http_parse_reply: expected 0, 1, true or false, found the integer 2"
    );
    let e = err(&with("ssl_parse_reply = \"1\""));
    assert!(e.contains("ssl_parse_reply: expected 0, 1, true or false, found the string \"1\" (write it without quotes)"), "{e}");
    let e = err(&with("ajb_save_dns = \"yes\""));
    assert!(
        e.contains("ajb_save_dns: expected 0, 1, true or false"),
        "{e}"
    );
}

#[test]
fn dbg_log_mask_integer_or_string() {
    for text in [
        "0x80",
        "128",
        "\"0x80\"",
        "\"128\"",
        "\"0X80\"",
        "0b1000_0000",
        "\"0o200\"",
    ] {
        assert_eq!(
            ok(&with(&format!("dbg_log_mask = {text}"))).dbg_log_mask,
            0x80,
            "{text}"
        );
    }
    assert_eq!(
        ok(&with("dbg_log_mask = 0xffffffff")).dbg_log_mask,
        u32::MAX
    );
    let e = err(&with("dbg_log_mask = \"0xzz\""));
    assert!(
        e.contains("dbg_log_mask: \"0xzz\" is not a number (expected e.g. 0x80 or 128)"),
        "{e}"
    );
    let e = err(&with("dbg_log_mask = 0x1_0000_0000"));
    assert!(
        e.contains("dbg_log_mask: 4294967296 does not fit in 32 bits"),
        "{e}"
    );
    let e = err(&with("dbg_log_mask = -1"));
    assert!(
        e.contains("dbg_log_mask: -1 does not fit in 32 bits"),
        "{e}"
    );
    let e = err(&with("dbg_log_mask = true"));
    assert!(
        e.contains("dbg_log_mask: expected an integer bit mask (e.g. 0x80), found `true`"),
        "{e}"
    );
}

#[test]
fn byte_sizes() {
    for (text, want) in [
        ("1048576", 1 << 20),
        ("\"4096\"", 4096),
        ("\"64K\"", 64 << 10),
        ("\"64k\"", 64 << 10),
        ("\"64M\"", 64 << 20),
        ("\"64 MiB\"", 64 << 20),
        ("\"2G\"", 2 << 30),
        ("\"1gib\"", 1 << 30),
    ] {
        let c = ok(&with(&format!(
            "ajb_dns_bufsize = {text}\najb_dns_fsize = {text}"
        )));
        assert_eq!((c.ajb_dns_bufsize, c.ajb_dns_fsize), (want, want), "{text}");
    }
    let e = err(&with("ajb_dns_fsize = \"64X\""));
    assert!(e.contains("ajb_dns_fsize: \"64X\" is not a size (expected bytes, or a number with K, M or G, e.g. \"64M\")"), "{e}");
    let e = err(&with("ajb_dns_fsize = 0"));
    assert!(
        e.contains("ajb_dns_fsize: 0 is not allowed: must be greater than 0"),
        "{e}"
    );
    let e = err(&with("ajb_dns_bufsize = \"0M\""));
    assert!(e.contains("ajb_dns_bufsize: 0 is not allowed"), "{e}");
    let e = err(&with("ajb_dns_bufsize = -5"));
    assert!(
        e.contains("ajb_dns_bufsize: a size cannot be negative"),
        "{e}"
    );
    let e = err(&with("ajb_dns_bufsize = \"99999999999G\""));
    assert!(e.contains("is not a size"), "{e}");
    let e = err(&with("ajb_dns_bufsize = 1.5"));
    assert!(e.contains("ajb_dns_bufsize: expected a size"), "{e}");
}

#[test]
fn tcp_backlog_is_a_size_of_at_most_a_gibibyte() {
    assert_eq!(ok(&with("")).ipfix_tcp_backlog, 16 << 20);
    assert_eq!(
        ok(&with("ipfix_tcp_backlog = \"64M\"")).ipfix_tcp_backlog,
        64 << 20
    );
    assert_eq!(
        ok(&with("ipfix_tcp_backlog = \"1G\"")).ipfix_tcp_backlog,
        1 << 30
    );
    let e = err(&with("ipfix_tcp_backlog = \"2G\""));
    assert!(
        e.contains("ipfix_tcp_backlog: 2147483648 bytes is too large: at most 1073741824 (\"1G\")"),
        "{e}"
    );
    let e = err(&with("ipfix_tcp_backlog = 0"));
    assert!(e.contains("ipfix_tcp_backlog: 0 is not allowed"), "{e}");
}

#[test]
fn dns_log_format() {
    let c = ok(&with("ajb_save_dns_format = \"ts:host:rdata\""));
    assert_eq!(
        c.ajb_save_dns_format,
        [DnsLogField::Ts, DnsLogField::Host, DnsLogField::Rdata]
    );
    let a = ok(&with("ajb_save_dns_format = [\"ts\", \"host\", \"rdata\"]"));
    assert_eq!(a, c);
    let e = err(&with("ajb_save_dns_format = \"ts:hots:rdata\""));
    assert_eq!(
        e,
        "metaprobe.toml:2: ajb_save_dns_format: unknown field `hots` (did you mean `host`?); \
         valid fields: ts, ssid, login, ipsrc, ipdst, psrc, pdst, transport, host, rrtype, \
         rrclass, ttl, rdlen, rdata"
    );
    let e = err(&with("ajb_save_dns_format = \"ts:color\""));
    assert!(
        e.contains("unknown field `color`; valid fields: ts, ssid"),
        "{e}"
    );
    let e = err(&with("ajb_save_dns_format = \"ts::host\""));
    assert!(e.contains("empty field name"), "{e}");
    let e = err(&with("ajb_save_dns_format = \"ts:host:ts\""));
    assert!(
        e.contains("ajb_save_dns_format: field `ts` is listed twice"),
        "{e}"
    );
    let e = err(&with("ajb_save_dns_format = \"\""));
    assert!(
        e.contains("ajb_save_dns_format: the list of fields is empty"),
        "{e}"
    );
}

#[test]
fn dns_log_field_names() {
    for f in DnsLogField::ALL {
        assert_eq!(DnsLogField::from_name(f.name()), Some(f));
        assert_eq!(f.to_string(), f.name());
    }
    assert_eq!(DnsLogField::from_name("TS"), None);
}

#[test]
fn ipfix_dev() {
    assert_eq!(ok(&with("ipfix_dev = \"enp3s0f1\"")).ipfix_dev, "enp3s0f1");
    for bad in ["\"eth 0\"", "\"a/b\"", "\"abcdefghijklmnop\""] {
        let e = err(&with(&format!("ipfix_dev = {bad}")));
        assert!(e.contains("is not a network interface name"), "{e}");
    }
}

// ---- the serde schema ------------------------------------------------------------------

#[test]
fn keys_are_the_fields_of_the_schema() {
    assert_eq!(crate::schema::field_names::<crate::schema::File>(), KEYS);
}

#[test]
fn several_unknown_keys_are_each_named_with_the_other_problems() {
    let e = parse("bridgse = [[0, 1]]\nipfix_mtu = 1\ncolour = 2\n[export]\nx = 1\n").unwrap_err();
    let text = e.to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            "metaprobe.toml:1: unknown key `bridgse` (did you mean `bridges`?)",
            "metaprobe.toml:2: ipfix_mtu: 1 is out of range 576..=9216",
            "metaprobe.toml:3: unknown key `colour` (docs/configuration.md lists every key)",
            "metaprobe.toml:4: unknown key `export` (there are no sections: every key is at the top level)",
            "metaprobe.toml: missing required key `bridges` (the port pairs to forward, \
             subscriber port first, e.g. bridges = [[0, 1]])",
        ],
        "{text}"
    );
}

#[test]
fn values_of_every_toml_type_are_named_when_wrong() {
    let e = err(&with("ipfix_mtu = 1979-05-27T07:32:00Z"));
    assert_eq!(
        e,
        "metaprobe.toml:2: ipfix_mtu: expected an integer (octets), found the date-time 1979-05-27T07:32:00Z"
    );
    let e = err(&with("log_dir = [\"/var/log\"]"));
    assert!(
        e.contains("log_dir: expected a path (a string), found an array"),
        "{e}"
    );
    let e = err(&with("ipfix_dev = { name = \"eth0\" }"));
    assert!(
        e.contains("ipfix_dev: expected a network interface name (a string), found a table"),
        "{e}"
    );
    let e = err(&with("eal_args = [\"-l\", true, 1.5]"));
    assert!(
        e.contains("eal_args[1]: expected a string, found `true`"),
        "{e}"
    );
    assert!(
        e.contains("eal_args[2]: expected a string, found the float 1.5"),
        "{e}"
    );
}

/// A list of many collectors: every one parsed, the one duplicate (the last) named at
/// its line. Duplicates are found through a hash set, so this is linear in the list
/// (700 000 collectors took 284 s when each was compared with those before it).
#[test]
fn a_long_collector_list_is_checked_whole_and_its_duplicate_found() {
    const N: usize = 200_000;
    let addr_of = |i: usize| format!("10.{}.{}.{}:4739", (i >> 16) & 255, (i >> 8) & 255, i & 255);
    let mut text = String::from("bridges = [[0, 1]]\nipfix_udp_collectors = [\n");
    for i in 0..N {
        text.push_str(&format!("  \"{}\",\n", addr_of(i)));
    }
    let good = format!("{text}]\n");
    let c = ok(&good);
    assert_eq!(c.ipfix_udp_collectors.len(), N);
    assert_eq!(c.ipfix_udp_collectors[N - 1], addr(&addr_of(N - 1)));
    // The printed configuration holds them all and reads back.
    assert_eq!(ok(&c.to_toml()), c);

    text.push_str(&format!("  \"{}\",\n]\n", addr_of(12_345)));
    let e = err(&text);
    assert_eq!(
        e,
        format!(
            "metaprobe.toml:{}: ipfix_udp_collectors[{N}]: {} is listed twice",
            N + 3,
            addr_of(12_345)
        )
    );
}

#[test]
fn bridge_tables_name_their_own_key_lines() {
    let e = err("[[bridges]]\nsubscriber = 0\ninternat = 1\n");
    assert_eq!(
        e,
        "metaprobe.toml:1: bridges[0]: missing `internet`\n\
         metaprobe.toml:3: bridges[0]: unknown key `internat` (a bridge has `subscriber` and `internet`)"
    );
    let c = ok(
        "[[bridges]]\nsubscriber = 2\ninternet = 3\n[[bridges]]\ninternet = 1\nsubscriber = 0\n",
    );
    assert_eq!(c.all_ports().collect::<Vec<_>>(), [2, 3, 0, 1]);
    let e = err("bridges = [[0, 1979-05-27]]");
    assert!(
        e.contains(
            "bridges[0][1]: expected a port id (an integer), found the date-time 1979-05-27"
        ),
        "{e}"
    );
}

#[test]
fn metrics_listen_address() {
    assert_eq!(
        ok(&with("metrics_listen = \"127.0.0.1:9156\"")).metrics_listen,
        Some(addr("127.0.0.1:9156"))
    );
    assert_eq!(
        ok(&with("metrics_listen = \"[::]:0\"")).metrics_listen,
        Some(addr("[::]:0")),
        "port 0: any free port"
    );
    assert_eq!(ok(&with("metrics_listen = \"\"")).metrics_listen, None);
    let e = err(&with("metrics_listen = \"localhost:9156\""));
    assert_eq!(
        e,
        "metaprobe.toml:2: metrics_listen: `localhost:9156` is not ip:port \
         (expected e.g. 127.0.0.1:9156 or [::]:9156); host names are not resolved: give an IP address"
    );
    let e = err(&with("metrics_listen = 9156"));
    assert!(
        e.contains("metrics_listen: expected an address \"ip:port\" to listen on (a string), found the integer 9156"),
        "{e}"
    );
}

#[test]
fn pool_sizes_follow_the_flow_table_unless_given() {
    let c = ok("bridges = [[0, 1]]");
    assert_eq!(
        (
            c.reassembly_slots_effective(),
            c.quic_slots_effective(),
            c.ip_fragment_slots_effective()
        ),
        (4096, 256, 256)
    );
    let small = ok("bridges = [[0, 1]]\nflow_table_size = 1024");
    assert_eq!(
        (
            small.reassembly_slots_effective(),
            small.quic_slots_effective(),
            small.ip_fragment_slots_effective()
        ),
        (1024, 64, 64)
    );
    let given = ok("bridges = [[0, 1]]\nreassembly_slots = 2\nquic_slots = 1");
    assert_eq!(
        (
            given.reassembly_slots_effective(),
            given.quic_slots_effective()
        ),
        (2, 1)
    );
    let e = err("bridges = [[0, 1]]\nreassembly_slot_bytes = 100");
    assert!(
        e.contains("reassembly_slot_bytes") && e.contains(":2:"),
        "{e}"
    );
}

#[test]
fn meta_raw_protocols() {
    let c = ok("bridges = [[0, 1]]");
    assert!(c.ipfix_meta_raw.is_empty());
    assert_eq!(c.ipfix_meta_raw_max_bytes, 1400);
    let c = ok(&with("ipfix_meta_raw = [\"sip\", \"h323\", \"ftp\"]"));
    assert_eq!(
        c.ipfix_meta_raw,
        [
            MetaRawProtocol::Sip,
            MetaRawProtocol::H323,
            MetaRawProtocol::Ftp
        ]
    );
    // The source's form: one comma-separated string.
    assert_eq!(ok(&with("ipfix_meta_raw = \"sip, h323,ftp\"")), c);
    assert!(ok(&with("ipfix_meta_raw = \"\"")).ipfix_meta_raw.is_empty());
    assert!(ok(&with("ipfix_meta_raw = []")).ipfix_meta_raw.is_empty());
    let every: Vec<&str> = MetaRawProtocol::ALL.iter().map(|p| p.name()).collect();
    let c = ok(&with(&format!("ipfix_meta_raw = {every:?}")));
    assert_eq!(c.ipfix_meta_raw, MetaRawProtocol::ALL);
    // Unknown names are refused with the key and its line.
    let e = err("bridges = [[0, 1]]\nlog_dir = \"/tmp\"\nipfix_meta_raw = [\"sip\", \"sipp\"]\n");
    assert_eq!(
        e,
        "metaprobe.toml:3: ipfix_meta_raw: unknown protocol `sipp` (did you mean `sip`?); \
         valid protocols: sip, ftp, smtp, pop3, imap, xmpp, icq, nntp, h323"
    );
    let e = err(&with("ipfix_meta_raw = \"sip,,ftp\""));
    assert!(
        e.contains("ipfix_meta_raw: empty protocol name (two commas in a row?)"),
        "{e}"
    );
    let e = err(&with("ipfix_meta_raw = [\"SIP\"]"));
    assert!(
        e.contains("unknown protocol `SIP` (did you mean `sip`?)"),
        "{e}"
    );
    let e = err(&with("ipfix_meta_raw = [\"sip\", \"sip\"]"));
    assert!(
        e.contains("ipfix_meta_raw: protocol `sip` is listed twice"),
        "{e}"
    );
    let e = err(&with("ipfix_meta_raw = [\"sip\", 3]"));
    assert!(e.contains("ipfix_meta_raw[1]: expected a string"), "{e}");
    let e = err(&with("ipfix_meta_raw = 3"));
    assert!(
        e.contains("ipfix_meta_raw: expected an array of protocol names"),
        "{e}"
    );
}

#[test]
fn meta_raw_max_bytes() {
    assert_eq!(
        ok(&with("ipfix_meta_raw_max_bytes = 65535")).ipfix_meta_raw_max_bytes,
        65535
    );
    assert_eq!(
        ok(&with("ipfix_meta_raw_max_bytes = 1")).ipfix_meta_raw_max_bytes,
        1
    );
    for bad in ["0", "65536", "-1"] {
        let e = err(&with(&format!("ipfix_meta_raw_max_bytes = {bad}")));
        assert!(e.contains("ipfix_meta_raw_max_bytes: "), "{e}");
    }
    let e = err(&with("ipfix_meta_raw_max_bytes = 0"));
    assert!(e.contains("must be greater than 0"), "{e}");
}

#[test]
fn meta_raw_protocol_names() {
    for p in MetaRawProtocol::ALL {
        assert_eq!(MetaRawProtocol::from_name(p.name()), Some(p));
        assert_eq!(p.to_string(), p.name());
    }
    assert_eq!(MetaRawProtocol::from_name("rss"), None);
}

#[test]
fn vchannels_map_vlan_ranges_of_a_bridge() {
    let c = ok("bridges = [[0, 1], [2, 3]]\n\
         vchannels = [{ bridge = 1, vlans = \"100-199, 300\", channel = 7 },\n\
                      { bridge = 0, vlans = 100, channel = 8 }]");
    assert_eq!(
        c.vchannels,
        vec![
            VChannel {
                bridge: 1,
                vlans: vec![(100, 199), (300, 300)],
                channel: 7
            },
            VChannel {
                bridge: 0,
                vlans: vec![(100, 100)],
                channel: 8
            },
        ]
    );
}

#[test]
fn bad_vchannels_name_the_entry_and_the_reason() {
    let cases = [
        (
            "vchannels = [{ bridge = 1, vlans = \"1\", channel = 7 }]",
            "vchannels[0].bridge: there is no bridge 1 (`bridges` has 1)",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"0-10\", channel = 7 }]",
            "vchannels[0].vlans: \"0\" is not a VLAN id (1..=4094)",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"20-10\", channel = 7 }]",
            "the range 20-10 is empty",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"10,,11\", channel = 7 }]",
            "an empty item",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"10-20\", channel = 7 },\n\
             { bridge = 0, vlans = \"15\", channel = 8 }]",
            "vchannels[1]: VLAN 15 of bridge 0 is already in vchannels[0]",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"10\" }]",
            "vchannels[0]: missing `channel`",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"10\", channel = 7, vlan = 3 }]",
            "unknown key `vlan`",
        ),
        (
            "vchannels = [{ bridge = 0, vlans = \"10\", channel = 70000 }]",
            "vchannels[0].channel: 70000 is out of range 0..=65535",
        ),
    ];
    for (text, want) in cases {
        let e = err(&with(text));
        assert!(e.contains(want), "{text}: {e}");
    }
}

#[test]
fn the_radius_listener_needs_a_secret() {
    let e = err(&with("radius_accounting_listen = \"127.0.0.1:1813\""));
    assert!(e.contains("a listener needs `radius_secret`"), "{e}");
    let c = ok(&with(
        "radius_accounting_listen = \"127.0.0.1:1813\"\nradius_secret = \"x\"\nradius_snoop = 0",
    ));
    assert_eq!(c.radius_accounting_listen, Some(addr("127.0.0.1:1813")));
    assert!(!c.radius_snoop);
    assert!(ok(&with("")).radius_snoop, "on by default");
}
