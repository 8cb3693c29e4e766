//! End to end, multi-queue: a bridge of two `net_af_packet` ports with two queue pairs each
//! (`qpairs=2`: two sockets per interface in a `PACKET_FANOUT_HASH` group, so the kernel
//! spreads flows over the queues by its symmetric flow hash, as RSS with a symmetric key
//! does on a NIC) polled by two workers, carrying 240 flows (HTTP, TLS, DNS over UDP and
//! TCP; IPv4 and IPv6; plain and 802.1Q) replayed from `dataplane/tests/fixtures/rss_240_flows.pcap`:
//! each frame is sent on the side it came from (the client's on the subscriber side), in
//! capture order, through veth pairs from a namespace of its own, and before a frame of the
//! other direction the replay waits until the bridge has forwarded what was sent (as real
//! hosts do: a reply follows the request it got).
//!
//! What must hold:
//! * both workers start, worker N polling queue N of both ports, and both get traffic;
//! * nothing is lost, every frame crosses to the other port, and the ports' per-queue
//!   counters (`q0-rx`, `q1-rx`, … of the final summary) add up to the port's and, queue by
//!   queue, to the worker that polls that queue;
//! * **both directions of every flow reach the same worker**: the flow tables of the two
//!   workers together created exactly one flow per flow of the capture (a flow whose two
//!   directions went to different workers would have been created twice), every flow's
//!   records carry one SESSION_ID, different flows different ids, and the ids name both
//!   workers (the worker id is the id's top byte);
//! * the records are complete: the multiset of (kind, addresses, ports, VLAN, Host/SNI or
//!   DNS name, DNS type and A/AAAA answer, HTTP status) equals the generator's truth
//!   (`rss_240_flows.records.tsv`), requests and the replies that only a worker that saw
//!   the request can pair.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::thread;
use std::time::Duration;

use common::{
    FinalSummary, Netns, Packet, PortCounts, RUN_TIMEOUT, Running, TestDir, WorkerStart,
    assert_same_packets, bridge_capture_files, decode_all, dpdk_lock, eal_base, fixtures_dir,
    read_capture, require_tool, run_args, run_args_idle, run_metaprobe, write_config, write_pcap,
};
use metaprobe_ipfix::collect::{DecodedRecord, Value};
use metaprobe_test_support::udp::UdpCollector;

/// Flows in the capture.
const FLOWS: usize = 240;
/// How long the replay waits for metaprobe to forward what was sent before a frame of the
/// other direction.
const FORWARD_TIMEOUT: Duration = Duration::from_secs(10);

/// Runs `f` on a thread that has entered network namespace `ns` (a socket made there stays
/// in that namespace, whatever thread uses it later).
fn in_netns<T: Send>(ns: &str, f: impl FnOnce() -> T + Send) -> T {
    thread::scope(|s| {
        s.spawn(|| {
            let file = File::open(format!("/var/run/netns/{ns}"))
                .unwrap_or_else(|e| panic!("open namespace {ns}: {e}"));
            // SAFETY: setns on this thread only, with an open namespace file.
            let ret = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(ret, 0, "setns({ns}): {}", std::io::Error::last_os_error());
            f()
        })
        .join()
        .unwrap()
    })
}

/// A raw AF_PACKET socket bound to one interface, for sending whole frames (protocol 0:
/// it receives nothing).
struct FrameSender(OwnedFd);

impl FrameSender {
    fn open(ifname: &str) -> FrameSender {
        let name = CString::new(ifname).unwrap();
        // SAFETY: plain socket calls with valid arguments; the fd is owned below.
        unsafe {
            let fd = libc::socket(libc::AF_PACKET, libc::SOCK_RAW, 0);
            assert!(
                fd >= 0,
                "AF_PACKET socket: {}",
                std::io::Error::last_os_error()
            );
            let fd = OwnedFd::from_raw_fd(fd);
            let index = libc::if_nametoindex(name.as_ptr());
            assert!(index > 0, "no interface {ifname}");
            let mut addr: libc::sockaddr_ll = std::mem::zeroed();
            addr.sll_family = libc::AF_PACKET as u16;
            addr.sll_ifindex = index as i32;
            let ret = libc::bind(
                fd.as_raw_fd(),
                (&addr as *const libc::sockaddr_ll).cast(),
                std::mem::size_of::<libc::sockaddr_ll>() as u32,
            );
            assert_eq!(
                ret,
                0,
                "bind to {ifname}: {}",
                std::io::Error::last_os_error()
            );
            FrameSender(fd)
        }
    }

    fn send(&self, frame: &[u8]) {
        // SAFETY: the buffer is valid for its length.
        let n = unsafe { libc::send(self.0.as_raw_fd(), frame.as_ptr().cast(), frame.len(), 0) };
        assert_eq!(
            n,
            frame.len() as isize,
            "send: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// Frames received so far by interface `ifname` of the calling thread's network namespace
/// (`/proc/thread-self/net/dev`: the thread's namespace, not the process's).
fn rx_frames(ifname: &str) -> u64 {
    let dev = std::fs::read_to_string("/proc/thread-self/net/dev").unwrap();
    dev.lines()
        .find_map(|l| l.trim().strip_prefix(ifname)?.strip_prefix(':'))
        .and_then(|counts| counts.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or_else(|| panic!("no {ifname} in /proc/thread-self/net/dev"))
}

/// Sends the frames in capture order, each on its side (true: the client's, `hosta`), the
/// way the two hosts would: before a frame that goes the other way than the one before it,
/// it waits until metaprobe has forwarded everything sent so far (a server answers a
/// request once it got it). Without that, a replay could hand the bridge a reply before
/// the bridge saw the request, which no real pair of hosts can do.
fn replay(frames: &[(bool, &[u8])]) {
    let (a, b) = (FrameSender::open("hosta"), FrameSender::open("hostb"));
    let (rx_a0, rx_b0) = (rx_frames("hosta"), rx_frames("hostb"));
    let (mut sent_a, mut sent_b) = (0u64, 0u64);
    let mut last = None;
    for (client, frame) in frames {
        if last.is_some_and(|l| l != *client) {
            let waited = std::time::Instant::now();
            while rx_frames("hostb") - rx_b0 < sent_a || rx_frames("hosta") - rx_a0 < sent_b {
                assert!(
                    waited.elapsed() < FORWARD_TIMEOUT,
                    "metaprobe forwarded {} of {sent_a} client frames and {} of {sent_b} \
                     server frames within {FORWARD_TIMEOUT:?}",
                    rx_frames("hostb") - rx_b0,
                    rx_frames("hosta") - rx_a0
                );
                thread::sleep(Duration::from_micros(100));
            }
        }
        if *client {
            a.send(frame);
            sent_a += 1;
        } else {
            b.send(frame);
            sent_b += 1;
        }
        last = Some(*client);
    }
}

/// One end of a flow: address and port bytes.
type Endpoint = Vec<u8>;

/// The VLAN and the two endpoints (source first) of a frame of the capture: Ethernet, an
/// optional 802.1Q tag, IPv4 or IPv6 (no extension headers), TCP or UDP.
fn endpoints(frame: &[u8]) -> Option<(u16, Endpoint, Endpoint)> {
    let mut ethertype = u16::from_be_bytes([*frame.get(12)?, *frame.get(13)?]);
    let (mut l3, mut vlan) = (14, 0);
    if ethertype == 0x8100 {
        vlan = u16::from_be_bytes([*frame.get(14)?, *frame.get(15)?]) & 0x0fff;
        ethertype = u16::from_be_bytes([*frame.get(16)?, *frame.get(17)?]);
        l3 = 18;
    }
    let ip = frame.get(l3..)?;
    let (proto, src, dst, l4) = match ethertype {
        0x0800 => (
            *ip.get(9)?,
            ip.get(12..16)?,
            ip.get(16..20)?,
            usize::from(ip.first()? & 0x0f) * 4,
        ),
        0x86dd => (*ip.get(6)?, ip.get(8..24)?, ip.get(24..40)?, 40),
        _ => return None,
    };
    if proto != 6 && proto != 17 {
        return None;
    }
    let ports = ip.get(l4..l4 + 4)?;
    Some((
        vlan,
        [src, ports.get(..2)?].concat(),
        [dst, ports.get(2..)?].concat(),
    ))
}

/// The capture's frames, each with the side it is sent on (true: the client's, subscriber
/// side), and the number of distinct flows.
fn frames_by_side(packets: &[Packet]) -> (Vec<(bool, &[u8])>, usize) {
    let mut clients: HashMap<(u16, Endpoint, Endpoint), Endpoint> = HashMap::new();
    let frames = packets
        .iter()
        .map(|p| {
            let (vlan, src, dst) = endpoints(&p.data)
                .unwrap_or_else(|| panic!("a frame of the capture is not TCP/UDP over IP"));
            let key = if src < dst {
                (vlan, src.clone(), dst)
            } else {
                (vlan, dst, src.clone())
            };
            // A flow's first frame is its client's (a SYN, a DNS query).
            let client = clients.entry(key).or_insert_with(|| src.clone());
            (*client == src, p.data.as_slice())
        })
        .collect();
    (frames, clients.len())
}

/// The columns of `rss_240_flows.records.tsv` for one decoded record.
fn record_row(r: &DecodedRecord) -> Vec<String> {
    let text = |names: &[&str]| {
        names
            .iter()
            .find_map(|n| r.get(n))
            .map(Value::to_text)
            .unwrap_or_default()
    };
    let kind = r.kind.clone().unwrap_or_default();
    // Replies are compared without ports (the truth has none for them).
    let ports = !kind.contains("reply");
    let rrtype = text(&["RRTYPE"]);
    vec![
        kind,
        text(&["IP_SOURCE", "IP_SOURCE_V6"]),
        text(&["IP_DESTINATION", "IP_DESTINATION_V6"]),
        if ports {
            text(&["PORT_SOURCE"])
        } else {
            String::new()
        },
        if ports {
            text(&["PORT_DESTINATION"])
        } else {
            String::new()
        },
        text(&["vlanId"]),
        text(&["HOSTNAME", "DOMAIN"]),
        rrtype.clone(),
        // Answers compared byte for byte where they hold no name (A, AAAA); a name in an
        // answer may be exported compressed or not.
        if rrtype == "1" || rrtype == "28" {
            text(&["RDATA"])
        } else {
            String::new()
        },
        text(&["RESULT_CODE"]),
    ]
}

fn truth_rows() -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(fixtures_dir().join("rss_240_flows.records.tsv")).unwrap();
    text.lines()
        .skip(1)
        .map(|l| {
            let mut row: Vec<String> = l.split('\t').map(str::to_owned).collect();
            if row[7] != "1" && row[7] != "28" {
                row[8].clear();
            }
            row
        })
        .collect()
}

#[test]
fn two_workers_on_two_af_packet_queues_keep_each_flow_on_one_worker() {
    require_tool("ethtool", "ethtool");
    let packets = read_capture(&fixtures_dir().join("rss_240_flows.pcap"));
    let (frames, flows) = frames_by_side(&packets);
    assert_eq!(flows, FLOWS, "flows in rss_240_flows.pcap");
    let sent_client = frames.iter().filter(|(client, _)| *client).count() as u64;
    let sent_server = frames.len() as u64 - sent_client;

    // Namespace `h` holds both hosts' ends (frames are injected, no IP stack is involved),
    // `br` the bridge's ends and metaprobe.
    let ns = Netns::create(&["h", "br"]);
    let (h, br) = (ns.name("h"), ns.name("br"));
    Netns::veth(br, "bra", h, "hosta");
    Netns::veth(br, "brb", h, "hostb");
    for (n, dev) in [(h, "hosta"), (h, "hostb"), (br, "bra"), (br, "brb")] {
        // No frame of the kernel's own (IPv6 neighbour discovery, MLD) on the bridge.
        Netns::exec(
            n,
            "sysctl",
            &["-qw", &format!("net.ipv6.conf.{dev}.disable_ipv6=1")],
        );
        Netns::wire_like_up(n, dev);
    }

    let collector = in_netns(br, UdpCollector::start);
    let dir = TestDir::new("rss-af-packet");
    let sink = collector.addr;
    let config = write_config(
        &dir,
        0,
        1,
        &format!(
            "queues_per_port = 2\nipfix_udp_collectors = \"{sink}\"\n\
             ipfix_dns_udp_collectors = \"{sink}\"\nhttp_parse_reply = 1\nssl_parse_reply = 1\n"
        ),
    );
    // Main lcore on CPU 0, the two workers on CPU 1 (this machine may have two CPUs).
    let mut eal = eal_base(&dir, &["--lcores", "0@0,1@1,2@1"]);
    eal.push("--vdev=net_af_packet0,iface=bra,qpairs=2".into());
    eal.push("--vdev=net_af_packet1,iface=brb,qpairs=2".into());
    let args = run_args_idle(&config, None, eal);
    let prefix: Vec<OsString> = ["ip", "netns", "exec", br].map(OsString::from).to_vec();

    let out = {
        let _guard = dpdk_lock();
        let mut running = Running::spawn_with_prefix(&prefix, &args);
        running.wait_for_stdout("worker 1 on lcore", Duration::from_secs(60));
        in_netns(h, || replay(&frames));
        // Let the workers drain their rings and the export thread send.
        thread::sleep(Duration::from_millis(1500));
        running.signal(libc::SIGTERM);
        running.wait(common::RUN_TIMEOUT)
    };
    out.assert_success();
    let why = out.describe_short();

    // Two workers, worker N on queue N, both ports with two queues and symmetric RSS.
    let starts = WorkerStart::parse_all(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{why}"));
    assert_eq!(starts.len(), 2, "two workers should start\n{why}");
    assert_two_queues_two_workers(
        &out.stdout,
        "net_af_packet",
        "the kernel's symmetric fanout hash",
        &why,
    );

    // Nothing lost; per-queue counters add up to the port's and to the worker's.
    let s = FinalSummary::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{why}"));
    s.check_no_loss().unwrap_or_else(|e| panic!("{e}\n{why}"));
    s.check_ports(&[
        PortCounts::new(0, "net_af_packet0", sent_client, sent_server),
        PortCounts::new(1, "net_af_packet1", sent_server, sent_client),
    ])
    .unwrap_or_else(|e| panic!("{e}\n{why}"));
    let value = |line: Result<&common::SummaryLine, String>, key: &str| {
        line.and_then(|l| l.u64(key))
            .unwrap_or_else(|e| panic!("{e}\n{why}"))
    };
    for port in 0..2 {
        let per_queue: Vec<u64> = (0..2)
            .map(|q| value(s.port(port), &format!("q{q}-rx")))
            .collect();
        assert_eq!(
            per_queue.iter().sum::<u64>(),
            value(s.port(port), "rx"),
            "port {port}: q0-rx + q1-rx should be its rx\n{why}"
        );
        assert!(
            per_queue.iter().all(|&n| n > 0),
            "port {port}: both queues should receive (the fanout hash spreads 240 flows): \
             {per_queue:?}\n{why}"
        );
    }
    for w in 0..2u32 {
        let polled: u64 = (0..2)
            .map(|port| value(s.port(port), &format!("q{w}-rx")))
            .sum();
        assert_eq!(
            value(s.worker(w), "rx"),
            polled,
            "worker {w} should have received exactly what queue {w} of both ports did\n{why}"
        );
    }

    // One flow-table entry per flow: no flow had its directions on two workers.
    let flows_line = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("final flows: "))
        .unwrap_or_else(|| panic!("no 'final flows' line\n{why}"));
    let created: Vec<&str> = flows_line.split_whitespace().collect();
    let created = created
        .windows(2)
        .find(|w| w[0] == "created")
        .map(|w| w[1].parse::<usize>().unwrap())
        .unwrap();
    assert_eq!(
        created, FLOWS,
        "the two workers should have created one flow per flow of the capture\n{why}"
    );

    // Records complete, one session id per flow.
    let (records, problems) = decode_all(&collector.finish());
    assert!(problems.is_empty(), "collector: {problems:?}\n{why}");
    let mut got: Vec<Vec<String>> = records.iter().map(record_row).collect();
    let mut want = truth_rows();
    got.sort();
    want.sort();
    if got != want {
        let (g, w): (BTreeSet<_>, BTreeSet<_>) = (got.iter().collect(), want.iter().collect());
        let by_kind = |rows: &[Vec<String>]| {
            rows.iter()
                .fold(BTreeMap::<String, usize>::new(), |mut m, r| {
                    *m.entry(r[0].clone()).or_default() += 1;
                    m
                })
        };
        panic!(
            "records differ from the truth ({} records {:?}, {} expected {:?})\nmissing: {:#?}\nunexpected: {:#?}\n{why}",
            got.len(),
            by_kind(&got),
            want.len(),
            by_kind(&want),
            w.difference(&g).take(10).collect::<Vec<_>>(),
            g.difference(&w).take(10).collect::<Vec<_>>()
        );
    }
    // Every flow of the capture is one pair of hosts (asserted by the generator's truth:
    // 240 flows, 240 address pairs), so records group by their unordered address pair.
    let mut sessions: BTreeMap<(String, String), BTreeSet<u64>> = BTreeMap::new();
    for (r, row) in records.iter().zip(records.iter().map(record_row)) {
        let pair = if row[1] < row[2] {
            (row[1].clone(), row[2].clone())
        } else {
            (row[2].clone(), row[1].clone())
        };
        let Some(Value::Unsigned(id)) = r.get("SESSION_ID") else {
            panic!("record without SESSION_ID: {r:?}");
        };
        sessions.entry(pair).or_default().insert(*id);
    }
    assert_eq!(
        sessions.len(),
        FLOWS,
        "records should name every flow\n{why}"
    );
    let mut ids: BTreeSet<u64> = BTreeSet::new();
    for (pair, set) in &sessions {
        assert_eq!(
            set.len(),
            1,
            "the records of flow {pair:?} should carry one SESSION_ID, not {set:?}\n{why}"
        );
        ids.extend(set);
    }
    assert_eq!(
        ids.len(),
        FLOWS,
        "different flows should have different ids"
    );
    let workers: BTreeMap<u64, usize> = ids.iter().fold(BTreeMap::new(), |mut m, id| {
        *m.entry(id >> 56).or_default() += 1;
        m
    });
    assert_eq!(
        workers.keys().copied().collect::<Vec<_>>(),
        [0, 1],
        "session ids should come from both workers: flows per worker {workers:?}\n{why}"
    );
    eprintln!(
        "rss: {} frames, {FLOWS} flows; flows per worker {workers:?}; port 0 queues {}/{}, port 1 queues {}/{}",
        frames.len(),
        value(s.port(0), "q0-rx"),
        value(s.port(0), "q1-rx"),
        value(s.port(1), "q0-rx"),
        value(s.port(1), "q1-rx"),
    );
}

/// The start lines of a two-queue run: both ports (`driver`0 and 1) have 2 queues spread
/// by `spreading`, and worker N polls queue N of bridge 0.
fn assert_two_queues_two_workers(stdout: &str, driver: &str, spreading: &str, why: &str) {
    for port in 0..2 {
        let head = format!("port {port} ({driver}{port}, driver {driver}):");
        let line = stdout.lines().find(|l| l.starts_with(&head));
        assert!(
            line.is_some_and(|l| l.contains(&format!("2 queue(s) with {spreading}"))),
            "port {port} should have 2 queues: {line:?}\n{why}"
        );
    }
    for (w, queue) in [(0, "bridge 0 queue 0"), (1, "bridge 0 queue 1")] {
        assert!(
            stdout
                .lines()
                .any(|l| l.starts_with(&format!("worker {w} on lcore")) && l.ends_with(queue)),
            "worker {w} should poll {queue}\n{why}"
        );
    }
}

/// Two `net_pcap` ports with two RX files each (`rx_pcap=…,rx_pcap=…`): RX queue N replays
/// file N, so whoever split the files chose which flows meet on which worker, as the
/// throughput bench's `--workers 2` does. metaprobe takes such a port as spreading flows:
/// two workers start, worker N polls queue N of both ports, and what arrives on queue N of
/// one port leaves on queue N of the other, byte-identical and in order.
#[test]
fn two_workers_on_two_pcap_files_per_port_forward_each_file_on_its_queue() {
    let dir = TestDir::new("pcap-queues");
    let captures: Vec<Vec<Packet>> = bridge_capture_files()
        .iter()
        .map(|f| read_capture(f))
        .collect();
    let (first, second) = captures.split_at(captures.len() / 2);
    // rx[port][queue]: port 0 gets the first half of the captures on queue 0 and the second
    // on queue 1; port 1 the other way round.
    let halves = [first.concat(), second.concat()];
    let rx = [[&halves[0], &halves[1]], [&halves[1], &halves[0]]];
    let mut vdevs = Vec::new();
    for (port, queues) in rx.iter().enumerate() {
        let mut vdev = format!("--vdev=net_pcap{port}");
        for (q, packets) in queues.iter().enumerate() {
            let file = dir.join(&format!("in{port}q{q}.pcap"));
            write_pcap(&file, packets);
            vdev += &format!(",rx_pcap={}", file.display());
        }
        for q in 0..2 {
            vdev += &format!(
                ",tx_pcap={}",
                dir.join(&format!("out{port}q{q}.pcap")).display()
            );
        }
        vdevs.push(OsString::from(vdev));
    }
    let config = write_config(&dir, 0, 1, "queues_per_port = 2\n");
    // Main lcore on CPU 0, the two workers on CPU 1 (this machine may have two CPUs).
    let mut eal = eal_base(&dir, &["--lcores", "0@0,1@1,2@1"]);
    eal.extend(vdevs);
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&run_args(&config, eal), RUN_TIMEOUT)
    };
    out.assert_success();
    let why = out.describe_short();
    assert_two_queues_two_workers(&out.stdout, "net_pcap", "one rx_pcap file each", &why);
    for (port, queues) in rx.iter().enumerate() {
        let peer = 1 - port;
        for (q, sent) in queues.iter().enumerate() {
            let got = read_capture(&dir.join(&format!("out{peer}q{q}.pcap")));
            assert_same_packets(
                &format!("port {port} queue {q} -> port {peer} queue {q}"),
                sent,
                &got,
                &out,
            );
        }
    }
    let n = |p: &[Packet]| p.len() as u64;
    let (a, b) = (n(&halves[0]), n(&halves[1]));
    let s = FinalSummary::parse(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{why}"));
    s.check_ports(&[
        PortCounts::new(0, "net_pcap0", a + b, a + b),
        PortCounts::new(1, "net_pcap1", a + b, a + b),
    ])
    .unwrap_or_else(|e| panic!("{e}\n{why}"));
    // Worker N polled queue N of both ports: file N of port 0 and file N of port 1.
    for (w, (port0, port1)) in rx[0].iter().zip(rx[1]).enumerate() {
        let want = n(port0) + n(port1);
        let got = s.worker(w as u32).and_then(|l| l.u64("rx"));
        assert_eq!(got, Ok(want), "worker {w}'s rx\n{why}");
    }
}
