//! Blocking through the real binary (`docs/blocking.md`): captures into a
//! `net_pcap` bridge, what comes out of each port read back and checked — by
//! our own reading of the frames and by tshark's checksum validation.
//!
//! * a listed HTTP request is not forwarded; the subscriber port gets a 302
//!   with the configured Location and a FIN, the internet port a RST with the
//!   request's sequence number; its retransmission is dropped too; LOCKED 2;
//! * the same in 802.1Q, QinQ, PPPoE, MPLS and over IPv6: each answer in the
//!   request's own encapsulation;
//! * without `block_redirect_url` both sides are reset, LOCKED 3;
//! * a ClientHello with a listed SNI is reset both ways, LOCKED 1;
//! * an unlisted host crosses unchanged; without `block_list` everything does.

mod common;

use std::path::Path;
use std::process::Command;

use common::{
    MAC_NET, MAC_SUB, Packet, RUN_TIMEOUT, RunOutput, TestDir, decode_all, dpdk_lock, eal_args,
    fixtures_dir, inet_checksum, read_capture, run_args, run_metaprobe, toml_string, write_config,
    write_pcap,
};
use metaprobe_ipfix::collect::{DecodedRecord, Value};
use metaprobe_test_support::udp::UdpCollector;

const CLIENT4: [u8; 4] = [10, 7, 0, 1];
const SERVER4: [u8; 4] = [192, 0, 2, 80];
const CLIENT6: [u8; 16] = [0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
const SERVER6: [u8; 16] = [
    0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80,
];
/// The client's first sequence number and the server's (as the client acknowledges it).
const CLIENT_ISN: u32 = 1000;
const SERVER_NEXT: u32 = 7001;
const REDIRECT: &str = "http://stop.example.net/blocked?by=metaprobe";
const LIST: &str = "# test registry\nblocked.example\n*.banned.example\n";

const SYN: u8 = 0x02;
const ACK: u8 = 0x10;
const PSH_ACK: u8 = 0x18;
const FIN: u8 = 0x01;
const RST: u8 = 0x04;

/// How the subscriber's frames are carried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encap {
    Plain,
    Vlan,
    QinQ,
    Pppoe,
    Mpls,
    Ipv6,
}

impl Encap {
    /// The L2 header up to the IP header; `ip_len` sets PPPoE's length.
    fn l2(self, ip_len: usize) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&MAC_NET);
        f.extend_from_slice(&MAC_SUB);
        match self {
            Encap::Plain => f.extend_from_slice(&[0x08, 0x00]),
            Encap::Ipv6 => f.extend_from_slice(&[0x86, 0xdd]),
            Encap::Vlan => f.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]),
            Encap::QinQ => {
                f.extend_from_slice(&[0x88, 0xa8, 0x00, 0xc8, 0x81, 0x00, 0x01, 0x2c, 0x08, 0x00])
            }
            Encap::Pppoe => {
                f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, 0x00, 0x2a]);
                f.extend_from_slice(&((ip_len + 2) as u16).to_be_bytes());
                f.extend_from_slice(&[0x00, 0x21]);
            }
            // One label, 1001, bottom of stack, TTL 64.
            Encap::Mpls => f.extend_from_slice(&[0x88, 0x47, 0x00, 0x3e, 0x91, 0x40]),
        }
        f
    }

    fn v6(self) -> bool {
        self == Encap::Ipv6
    }
}

/// A client → server segment with valid IP and TCP checksums.
fn segment(
    encap: Encap,
    sport: u16,
    dport: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    data: &[u8],
) -> Packet {
    let mut tcp = Vec::new();
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&dport.to_be_bytes());
    tcp.extend_from_slice(&seq.to_be_bytes());
    tcp.extend_from_slice(&ack.to_be_bytes());
    tcp.extend_from_slice(&[0x50, flags, 0xfa, 0xf0, 0, 0, 0, 0]);
    tcp.extend_from_slice(data);
    let tcp_len = tcp.len();
    let (ip, pseudo) = if encap.v6() {
        let mut h = vec![0x60, 0, 0, 0];
        h.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        h.extend_from_slice(&[6, 64]);
        h.extend_from_slice(&CLIENT6);
        h.extend_from_slice(&SERVER6);
        let mut p = [CLIENT6, SERVER6].concat();
        p.extend_from_slice(&(tcp_len as u32).to_be_bytes());
        p.extend_from_slice(&[0, 0, 0, 6]);
        (h, p)
    } else {
        let mut h = vec![0x45, 0];
        h.extend_from_slice(&((20 + tcp_len) as u16).to_be_bytes());
        h.extend_from_slice(&[0, 1, 0x40, 0, 64, 6, 0, 0]);
        h.extend_from_slice(&CLIENT4);
        h.extend_from_slice(&SERVER4);
        let ck = inet_checksum(&h);
        h[10..12].copy_from_slice(&ck.to_be_bytes());
        let mut p = [CLIENT4, SERVER4].concat();
        p.extend_from_slice(&[0, 6]);
        p.extend_from_slice(&(tcp_len as u16).to_be_bytes());
        (h, p)
    };
    let ck = inet_checksum(&[pseudo, tcp.clone()].concat());
    tcp[16..18].copy_from_slice(&ck.to_be_bytes());
    let mut f = encap.l2(ip.len() + tcp_len);
    f.extend(ip);
    f.extend(tcp);
    Packet::whole(f)
}

/// The client's side of a connection: SYN, the handshake's ACK, the request
/// in one segment, and that segment again (a retransmission).
fn connection(encap: Encap, sport: u16, dport: u16, request: &[u8]) -> Vec<Packet> {
    let s = |seq, ack, flags, data: &[u8]| segment(encap, sport, dport, seq, ack, flags, data);
    let req = s(CLIENT_ISN + 1, SERVER_NEXT, PSH_ACK, request);
    vec![
        s(CLIENT_ISN, 0, SYN, &[]),
        s(CLIENT_ISN + 1, SERVER_NEXT, ACK, &[]),
        req.clone(),
        req,
    ]
}

fn get(host: &str) -> Vec<u8> {
    format!("GET /page?x=1 HTTP/1.1\r\nHost: {host}\r\nUser-Agent: test\r\nAccept: */*\r\n\r\n")
        .into_bytes()
}

/// A TLS 1.2 ClientHello record with one cipher suite and the server name `sni`.
fn client_hello(sni: &str) -> Vec<u8> {
    let name = sni.as_bytes();
    let mut sni_ext = Vec::new();
    sni_ext.extend_from_slice(&((name.len() + 3) as u16).to_be_bytes());
    sni_ext.push(0); // host_name
    sni_ext.extend_from_slice(&(name.len() as u16).to_be_bytes());
    sni_ext.extend_from_slice(name);
    let mut exts = vec![0, 0]; // server_name
    exts.extend_from_slice(&(sni_ext.len() as u16).to_be_bytes());
    exts.extend(sni_ext);
    let mut body = vec![3, 3];
    body.extend_from_slice(&[0x5a; 32]); // random
    body.push(0); // session id
    body.extend_from_slice(&[0, 2, 0xc0, 0x2f]); // one cipher suite
    body.extend_from_slice(&[1, 0]); // null compression
    body.extend_from_slice(&(exts.len() as u16).to_be_bytes());
    body.extend(exts);
    let mut hs = vec![1];
    hs.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
    hs.extend(body);
    let mut rec = vec![0x16, 3, 1];
    rec.extend_from_slice(&(hs.len() as u16).to_be_bytes());
    rec.extend(hs);
    rec
}

/// What one bridge run gave.
struct Run {
    out: RunOutput,
    /// Out of the subscriber port (what the subscriber receives) and the internet port.
    to_subscriber: Vec<Packet>,
    to_internet: Vec<Packet>,
    paths: [std::path::PathBuf; 2],
    clickstream: Vec<DecodedRecord>,
    _dir: TestDir,
}

impl Run {
    fn analysis_count(&self, name: &str) -> u64 {
        let line = self
            .out
            .stdout
            .lines()
            .find(|l| l.starts_with("final analysis:"))
            .unwrap_or_else(|| panic!("no final analysis\n{}", self.out.describe()));
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words.iter().position(|w| *w == name);
        i.and_then(|i| words.get(i + 1)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {line}"))
    }

    /// LOCKED of the clickstream record of `host`.
    fn locked(&self, host: &str) -> u64 {
        let r = self
            .clickstream
            .iter()
            .find(|r| r.get("HOSTNAME") == Some(&Value::Str(host.into())))
            .unwrap_or_else(|| panic!("no record of {host}: {:?}", self.clickstream));
        match r.get("LOCKED") {
            Some(Value::Unsigned(v)) => *v,
            other => panic!("LOCKED of {host}: {other:?}"),
        }
    }
}

/// Feeds `frames` into the subscriber port with `extra` configuration (the
/// list file is written from `list` when given) and collects both outputs and
/// the clickstream.
fn run(tag: &str, frames: &[Packet], list: Option<&str>, extra: &str) -> Run {
    let dir = TestDir::new(tag);
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, frames);
    write_pcap(&in1, &[]);
    let mut config = String::new();
    if let Some(list) = list {
        let path = dir.join("blocked.txt");
        std::fs::write(&path, list).unwrap();
        config += &format!("block_list = {}\n", toml_string(&path.to_string_lossy()));
    }
    let click = UdpCollector::start();
    config += &format!("ipfix_udp_collectors = [\"{}\"]\n{extra}", click.addr);
    let config = write_config(&dir, 0, 1, &config);
    let args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(&args, RUN_TIMEOUT)
    };
    let (clickstream, problems) = decode_all(&click.finish());
    out.assert_success();
    assert!(problems.is_empty(), "{problems:?}");
    Run {
        to_subscriber: read_capture(&out0),
        to_internet: read_capture(&out1),
        paths: [out0, out1],
        clickstream,
        out,
        _dir: dir,
    }
}

/// A TCP segment read back from an output capture.
#[derive(Debug)]
struct Seg {
    l2: Vec<u8>,
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    payload: Vec<u8>,
}

/// `frame` is in `encap` (each has its own first ether type).
fn is_encap(encap: Encap, frame: &[u8]) -> bool {
    frame.get(12..14) == encap.l2(0).get(12..14)
}

/// Reads the segment of `frame`, whose L2 header is `encap`'s.
fn read_seg(encap: Encap, frame: &[u8]) -> Seg {
    let l3 = encap.l2(0).len();
    let (ip_len, total) = if encap.v6() {
        (
            40,
            40 + usize::from(u16::from_be_bytes([frame[l3 + 4], frame[l3 + 5]])),
        )
    } else {
        let ihl = usize::from(frame[l3] & 0xf) * 4;
        (
            ihl,
            usize::from(u16::from_be_bytes([frame[l3 + 2], frame[l3 + 3]])),
        )
    };
    let t = &frame[l3 + ip_len..l3 + total];
    let be16 = |i: usize| u16::from_be_bytes([t[i], t[i + 1]]);
    let be32 = |i: usize| u32::from_be_bytes([t[i], t[i + 1], t[i + 2], t[i + 3]]);
    Seg {
        l2: frame[..l3].to_vec(),
        src_port: be16(0),
        dst_port: be16(2),
        seq: be32(4),
        ack: be32(8),
        flags: t[13],
        payload: t[usize::from(t[12] >> 4) * 4..].to_vec(),
    }
}

/// The L2 header an answer to `request` must have: the request's, MACs
/// swapped when it goes `back`, PPPoE's length that of the answer.
fn answer_l2(encap: Encap, request: &Seg, back: bool, payload: usize) -> Vec<u8> {
    let mut l2 = request.l2.clone();
    if back {
        l2[..6].copy_from_slice(&MAC_SUB);
        l2[6..12].copy_from_slice(&MAC_NET);
    }
    if encap == Encap::Pppoe {
        let len = (2 + 20 + 20 + payload) as u16;
        l2[18..20].copy_from_slice(&len.to_be_bytes());
    }
    l2
}

/// tshark's checksum verdicts (`ip.checksum.status`, `tcp.checksum.status`:
/// 1 = good) and HTTP Location of every frame of `capture`.
fn tshark(capture: &Path) -> Vec<(String, String, String)> {
    let out = Command::new("tshark")
        .args(["-n", "-r"])
        .arg(capture)
        .args([
            "-o",
            "ip.check_checksum:TRUE",
            "-o",
            "tcp.check_checksum:TRUE",
        ])
        .args([
            "-T",
            "fields",
            "-E",
            "separator=\t",
            "-e",
            "ip.checksum.status",
        ])
        .args(["-e", "tcp.checksum.status", "-e", "http.location"])
        .output()
        .expect("tshark runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split('\t').map(str::to_owned);
            let mut next = || f.next().unwrap_or_default();
            (next(), next(), next())
        })
        .collect()
}

/// Every TCP frame of `capture` has a good TCP checksum, and a good IPv4 one
/// when it is IPv4.
fn assert_checksums_good(capture: &Path) {
    for (i, (ip, tcp, _)) in tshark(capture).iter().enumerate() {
        assert_eq!(
            tcp,
            "1",
            "frame {} of {}: tcp.checksum.status",
            i + 1,
            capture.display()
        );
        assert!(
            ip.is_empty() || ip == "1",
            "frame {}: ip.checksum.status {ip}",
            i + 1
        );
    }
}

const ENCAPS: [Encap; 6] = [
    Encap::Plain,
    Encap::Vlan,
    Encap::QinQ,
    Encap::Pppoe,
    Encap::Mpls,
    Encap::Ipv6,
];

/// The client port of the blocked connection in `encap`.
fn port_of(i: usize) -> u16 {
    40000 + i as u16
}

#[test]
fn a_listed_http_request_is_redirected_in_its_own_encapsulation() {
    let mut frames = Vec::new();
    let mut requests = Vec::new();
    for (i, &encap) in ENCAPS.iter().enumerate() {
        let host = if i % 2 == 0 {
            "blocked.example"
        } else {
            "www.banned.example"
        };
        let conn = connection(encap, port_of(i), 80, &get(host));
        requests.push(conn[2].clone());
        frames.extend(conn);
    }
    let open = connection(Encap::Vlan, 41000, 80, &get("open.example"));
    frames.extend(open.iter().cloned());
    let run = run(
        "block-redirect",
        &frames,
        Some(LIST),
        &format!("block_redirect_url = {}\n", toml_string(REDIRECT)),
    );
    let n = ENCAPS.len();

    // The internet side: every frame but the blocked requests (and their
    // retransmissions), unchanged and in order, then one RST per blocked request.
    let forwarded: Vec<&Packet> = frames.iter().filter(|p| !requests.contains(p)).collect();
    let (passed, resets) = run
        .to_internet
        .split_at(forwarded.len().min(run.to_internet.len()));
    assert_eq!(
        passed.iter().collect::<Vec<_>>(),
        forwarded,
        "{}",
        run.out.describe()
    );
    assert_eq!(resets.len(), n, "one RST per blocked request");
    for (i, &encap) in ENCAPS.iter().enumerate() {
        let rst = resets
            .iter()
            .filter(|p| is_encap(encap, &p.data))
            .map(|p| read_seg(encap, &p.data))
            .find(|s| s.src_port == port_of(i))
            .unwrap_or_else(|| panic!("{encap:?}: no RST to the server"));
        assert_eq!(rst.flags & RST, RST, "{encap:?}");
        assert_eq!(
            rst.seq,
            CLIENT_ISN + 1,
            "{encap:?}: the seq the server expects"
        );
        let request = read_seg(encap, &requests[i].data);
        assert_eq!(rst.l2, answer_l2(encap, &request, false, 0), "{encap:?}");
    }
    for p in &run.to_internet {
        let text = String::from_utf8_lossy(&p.data);
        assert!(
            !text.contains("banned.example") && !text.contains("blocked.example"),
            "a blocked request leaked"
        );
    }

    // The subscriber side: a 302 with the Location and a FIN for each, from
    // the server, in the request's encapsulation with the MACs swapped.
    assert_eq!(run.to_subscriber.len(), n, "{}", run.out.describe());
    for (i, &encap) in ENCAPS.iter().enumerate() {
        let reply = run
            .to_subscriber
            .iter()
            .filter(|p| is_encap(encap, &p.data))
            .map(|p| read_seg(encap, &p.data))
            .find(|s| s.dst_port == port_of(i))
            .unwrap_or_else(|| panic!("{encap:?}: no reply"));
        let request = read_seg(encap, &requests[i].data);
        let l2 = answer_l2(encap, &request, true, reply.payload.len());
        assert_eq!(
            reply.l2, l2,
            "{encap:?}: the request's encapsulation, MACs swapped"
        );
        assert_eq!((reply.src_port, reply.seq), (80, SERVER_NEXT), "{encap:?}");
        let whole_request = CLIENT_ISN + 1 + request.payload.len() as u32;
        assert_eq!(
            reply.ack, whole_request,
            "{encap:?}: acknowledges the request"
        );
        assert_eq!(reply.flags & (FIN | ACK), FIN | ACK, "{encap:?}");
        let text = String::from_utf8(reply.payload).unwrap();
        assert!(text.starts_with("HTTP/1.1 302 Found\r\n"), "{text}");
        assert!(
            text.contains(&format!("\r\nLocation: {REDIRECT}\r\n")),
            "{text}"
        );
    }
    // tshark agrees: valid checksums on both sides, the Location of every 302.
    for path in &run.paths {
        assert_checksums_good(path);
    }
    let locations: Vec<String> = tshark(&run.paths[0]).into_iter().map(|t| t.2).collect();
    assert_eq!(locations, vec![REDIRECT.to_owned(); n]);

    assert_eq!(run.locked("blocked.example"), 2);
    assert_eq!(run.locked("www.banned.example"), 2);
    assert_eq!(run.locked("open.example"), 0);
    assert_eq!(run.analysis_count("block-http-redirected"), n as u64);
    assert_eq!(run.analysis_count("block-injected"), 2 * n as u64);
    assert_eq!(
        run.analysis_count("block-flow-dropped"),
        n as u64,
        "the retransmissions"
    );
}

#[test]
fn without_a_redirect_url_both_sides_are_reset() {
    let frames = connection(Encap::QinQ, 42000, 80, &get("blocked.example"));
    let run = run("block-reset", &frames, Some(LIST), "");
    let to_client: Vec<Seg> = run
        .to_subscriber
        .iter()
        .map(|p| read_seg(Encap::QinQ, &p.data))
        .collect();
    assert_eq!(to_client.len(), 1, "{}", run.out.describe());
    let r = &to_client[0];
    assert_eq!(
        (r.flags & RST, r.seq, r.dst_port),
        (RST, SERVER_NEXT, 42000)
    );
    assert!(r.payload.is_empty());
    // SYN and ACK crossed; the request and its retransmission did not; the RST follows.
    assert_eq!(run.to_internet.len(), 3);
    assert_eq!(run.to_internet[..2], frames[..2]);
    let rst = read_seg(Encap::QinQ, &run.to_internet[2].data);
    assert_eq!((rst.flags & RST, rst.seq), (RST, CLIENT_ISN + 1));
    for path in &run.paths {
        assert_checksums_good(path);
    }
    assert_eq!(run.locked("blocked.example"), 3);
    assert_eq!(run.analysis_count("block-http-reset"), 1);
}

#[test]
fn a_listed_tls_server_name_is_reset_both_ways() {
    let mut frames = connection(Encap::Vlan, 43000, 443, &client_hello("cdn.banned.example"));
    frames.extend(connection(
        Encap::Vlan,
        43001,
        443,
        &client_hello("open.example"),
    ));
    let run = run(
        "block-sni",
        &frames,
        Some(LIST),
        &format!("block_redirect_url = {}\n", toml_string(REDIRECT)),
    );
    // The listed hello is not forwarded: 4 + 4 frames in, 2 held back, one RST out.
    let passed: Vec<Packet> = frames
        .iter()
        .filter(|p| *p != &frames[2])
        .cloned()
        .collect();
    assert_eq!(
        run.to_internet.len(),
        passed.len() + 1,
        "{}",
        run.out.describe()
    );
    assert_eq!(run.to_internet[..passed.len()], passed[..]);
    let rst = read_seg(Encap::Vlan, &run.to_internet[passed.len()].data);
    assert_eq!(
        (rst.flags & RST, rst.seq, rst.src_port),
        (RST, CLIENT_ISN + 1, 43000)
    );
    assert_eq!(run.to_subscriber.len(), 1);
    let r = read_seg(Encap::Vlan, &run.to_subscriber[0].data);
    assert_eq!(
        (r.flags & RST, r.seq, r.dst_port),
        (RST, SERVER_NEXT, 43000),
        "never a 302 over TLS"
    );
    for path in &run.paths {
        assert_checksums_good(path);
    }
    assert_eq!(run.locked("cdn.banned.example"), 1);
    assert_eq!(run.locked("open.example"), 0);
    assert_eq!(run.analysis_count("block-tls-reset"), 1);
}

#[test]
fn an_unlisted_host_and_a_run_without_a_list_cross_unchanged() {
    let mut frames = Vec::new();
    for (i, &encap) in ENCAPS.iter().enumerate() {
        frames.extend(connection(
            encap,
            44000 + i as u16,
            80,
            &get("blocked.example"),
        ));
    }
    frames.extend(connection(
        Encap::Plain,
        44100,
        443,
        &client_hello("blocked.example"),
    ));
    // No list: the listed-looking hosts go through, byte for byte.
    let run_none = run("block-none", &frames, None, "");
    assert_eq!(run_none.to_internet, frames, "{}", run_none.out.describe());
    assert!(run_none.to_subscriber.is_empty());
    assert_eq!(run_none.locked("blocked.example"), 0);
    // A list that names none of them: the same.
    let run_other = run("block-other", &frames, Some("elsewhere.example\n"), "");
    assert_eq!(
        run_other.to_internet,
        frames,
        "{}",
        run_other.out.describe()
    );
    assert!(run_other.to_subscriber.is_empty());
    assert_eq!(run_other.analysis_count("block-injected"), 0);
}

#[test]
fn a_bad_list_line_stops_the_start_naming_file_and_line() {
    let dir = TestDir::new("block-bad-list");
    let list = dir.join("blocked.txt");
    std::fs::write(&list, "ok.example\nhttp://bad.example/\n").unwrap();
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    write_pcap(&in0, &[]);
    write_pcap(&in1, &[]);
    let extra = format!("block_list = {}\n", toml_string(&list.to_string_lossy()));
    let config = write_config(&dir, 0, 1, &extra);
    let args = run_args(
        &config,
        eal_args(&dir, &in0, &dir.join("o0.pcap"), &in1, &dir.join("o1.pcap")),
    );
    let out = run_metaprobe(&args, RUN_TIMEOUT);
    out.assert_clean_failure();
    let want = format!("block_list {}:2: a URL", list.display());
    assert!(out.stderr.contains(&want), "{}", out.describe());
}

#[test]
fn a_listed_quic_server_name_is_dropped_with_the_rest_of_its_connection() {
    // Chrome opening meet.google.com over TCP (TLS, frames 1-6) and QUIC (7-):
    // the subscriber's frames only, so the order on the internet port is theirs.
    let capture = read_capture(&fixtures_dir().join("quic_v1_chrome_meet_1initial.pcapng"));
    let client = [192, 168, 88, 231];
    let frames: Vec<Packet> = capture
        .into_iter()
        .filter(|p| {
            p.data.get(12..14) == Some(&[0x08, 0x00]) && p.data.get(26..30) == Some(&client)
        })
        .collect();
    let is_quic =
        |p: &Packet| p.data.get(23) == Some(&17) && p.data.get(36..38) == Some(&[1, 0xbb]);
    let quic = frames.iter().filter(|p| is_quic(p)).count();
    assert!(
        quic >= 2,
        "the capture has the Initial and later client packets"
    );
    let run = run("block-quic", &frames, Some("*.google.com\n"), "");
    // Every QUIC packet of the subscriber is held back; of TCP, the ClientHello
    // (the one segment with a TLS handshake record), answered by a RST.
    let hello = |p: &Packet| {
        let payload = 34 + usize::from(p.data.get(46).map_or(0, |o| o >> 4)) * 4;
        p.data.get(23) == Some(&6) && p.data.get(payload) == Some(&0x16)
    };
    let passed: Vec<Packet> = frames
        .iter()
        .filter(|p| !is_quic(p) && !hello(p))
        .cloned()
        .collect();
    assert_eq!(
        run.to_internet.len(),
        passed.len() + 1,
        "{}",
        run.out.describe()
    );
    assert_eq!(run.to_internet[..passed.len()], passed[..]);
    assert_eq!(
        run.to_internet[passed.len()].data[47] & RST,
        RST,
        "the server's RST"
    );
    assert_eq!(run.analysis_count("block-quic-dropped"), 1);
    assert_eq!(run.analysis_count("block-tls-reset"), 1);
    assert!(run.analysis_count("block-flow-dropped") >= quic as u64 - 1);
    let locked: Vec<&Value> = run
        .clickstream
        .iter()
        .filter(|r| r.get("HOSTNAME") == Some(&Value::Str("meet.google.com".into())))
        .filter_map(|r| r.get("LOCKED"))
        .collect();
    assert_eq!(
        locked,
        [&Value::Unsigned(1), &Value::Unsigned(1)],
        "TLS and QUIC"
    );
}

#[test]
fn a_request_split_over_two_segments_is_blocked_at_the_second() {
    let request = get("blocked.example");
    let cut = 20; // inside the Host line
    let s =
        |seq, flags, data: &[u8]| segment(Encap::Plain, 45000, 80, seq, SERVER_NEXT, flags, data);
    let first = s(CLIENT_ISN + 1, PSH_ACK, &request[..cut]);
    let second = s(CLIENT_ISN + 1 + cut as u32, PSH_ACK, &request[cut..]);
    let frames = vec![
        segment(Encap::Plain, 45000, 80, CLIENT_ISN, 0, SYN, &[]),
        s(CLIENT_ISN + 1, ACK, &[]),
        first,
        second,
    ];
    let run = run(
        "block-split",
        &frames,
        Some(LIST),
        &format!("block_redirect_url = {}\n", toml_string(REDIRECT)),
    );
    // What the server got before the Host was known crossed; the segment
    // that completed the head did not, and the RST takes its place.
    assert_eq!(run.to_internet.len(), 4, "{}", run.out.describe());
    assert_eq!(run.to_internet[..3], frames[..3]);
    let rst = read_seg(Encap::Plain, &run.to_internet[3].data);
    assert_eq!(
        (rst.flags & RST, rst.seq),
        (RST, CLIENT_ISN + 1 + cut as u32)
    );
    let reply = read_seg(Encap::Plain, &run.to_subscriber[0].data);
    assert_eq!(
        reply.ack,
        CLIENT_ISN + 1 + request.len() as u32,
        "the whole head acknowledged"
    );
    assert_eq!(run.locked("blocked.example"), 2);
}
