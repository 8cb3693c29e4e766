//! The SIP and FTP parsers on real captures (`tests/fixtures`, from the
//! shared corpus) and on mkpcap's generated flows in every encapsulation,
//! compared with tshark's ground truth: every SIP message and every FTP
//! login and mode setting tshark shows is found (recall 1.0), with the same
//! fields, and nothing else is.
//!
//! Truth files: `<capture>.truth.tsv` (tshark's own fields, from the corpus),
//! `<capture>.sip_records.tsv` (the SIP records `shared/tools/pcap_truth.py`
//! expects, plus tshark's Status-Line and Via hosts) and, for the generated
//! capture, `<capture>.ftp_logins.tsv`; `fixtures/sip_ftp_tsv.py` made them.
//!
//! The test plays the driver: frames are decoded with `wire::decode`; SIP
//! datagrams go through the signature and then `sip::parse`; an FTP control
//! connection is found by its greeting, each direction is reassembled in a
//! `reasm::StreamPool` slot that holds only the unconsumed octets (the
//! consumed prefix leaves the slot after each call), and the two directions
//! are fed to one `FtpState` in the order their segments arrived.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::IpAddr;

use common::{Tuple, decoded_frames, fixtures};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::ftp::{
    Endpoint, Event, FtpRecord, FtpState, Mode, looks_like_greeting,
};
use metaprobe_dataplane::app::sip::{
    FixedText, Framing, Message, SipStream, join_hosts, looks_like_sip, name_addr_uri, parse,
};
use metaprobe_dataplane::reasm::{StreamPool, StreamRef};
use metaprobe_dataplane::wire::TcpFlags;
use metaprobe_test_support::truth::{Row, read_tsv_unescaped};

const SIP_CAPTURES: &[&str] = &[
    "sip_invite_200_ack_bye_t38_fax.pcap",
    "sip_register_invite_cancel_auth.pcap",
];
const FTP_CAPTURES: &[&str] = &[
    "ftp_active_port_nlst_retr.pcap",
    "ftp_passive_pasv_list_retr.pcap",
    "ftp_ipv6_eprt_epsv_all_data.pcap",
];
/// mkpcap's SIP and FTP flows, plain and in VLAN, QinQ, MPLS (1 and 3
/// labels), PPPoE, VLAN+PPPoE and VLAN+MPLS, over IPv4 and IPv6.
const GENERATED: &str = "mkpcap_sip_ftp_encaps.pcap";
/// The reassembly slot size the FTP driver has (the line cap).
const SLOT: u32 = 2048;

// ---------------------------------------------------------------------------
// Captures and truth
// ---------------------------------------------------------------------------

/// A derived table of the fixtures.
fn tsv(file: &str) -> Vec<Row> {
    read_tsv_unescaped(&fixtures().join(file))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn frame_no(row: &Row) -> usize {
    row["frame.number"].parse().unwrap()
}

// ---------------------------------------------------------------------------
// SIP
// ---------------------------------------------------------------------------

/// The SIP record fields of a message, owned, in the truth's column names.
fn sip_fields(m: &Message<'_>) -> BTreeMap<&'static str, String> {
    let mut gateways = FixedText::<512>::new();
    assert!(join_hosts(m.via_hosts(), &mut gateways));
    BTreeMap::from([
        ("msg_code", text(m.msg_code())),
        ("status_code", m.status_code().to_string()),
        ("uri", text(m.uri())),
        ("from", text(m.from.raw)),
        ("to", text(m.to.raw)),
        ("callid", text(m.call_id.raw)),
        ("uagent", text(m.user_agent.raw)),
        ("ctype", text(m.content_type.raw)),
        ("from_addr", text(name_addr_uri(m.from.raw))),
        ("to_addr", text(name_addr_uri(m.to.raw))),
        ("gateways", text(gateways.as_bytes())),
    ])
}

/// Every UDP datagram the signature takes for SIP, parsed: frame number,
/// the datagram, the fields.
fn sip_messages(name: &str) -> Vec<(usize, Vec<u8>, BTreeMap<&'static str, String>)> {
    let mut out = Vec::new();
    let (mut datagrams, mut refused) = (0, 0);
    for f in decoded_frames(name) {
        if f.packet.udp().is_none() || f.payload().is_empty() {
            continue;
        }
        datagrams += 1;
        match looks_like_sip(f.payload()) {
            Outcome::Done(()) => {}
            Outcome::NotThis => {
                refused += 1;
                continue;
            }
            other => panic!("{name} frame {}: {other:?}", f.number),
        }
        let m = match parse(f.payload(), Framing::Datagram) {
            Outcome::Done(m) => m,
            other => panic!("{name} frame {}: {other:?}", f.number),
        };
        // Every corpus datagram is one whole message.
        assert_eq!(
            m.total_len(),
            f.payload().len() as u64,
            "{name} frame {}",
            f.number
        );
        out.push((f.number, f.payload().to_vec(), sip_fields(&m)));
    }
    assert!(
        datagrams > out.len() || name == GENERATED,
        "{name}: non-SIP datagrams too"
    );
    assert_eq!(datagrams, out.len() + refused);
    out
}

/// The messages found equal the truth's, frame by frame, every field.
fn compare_sip(name: &str) {
    let found = sip_messages(name);
    let truth = tsv(&format!("{name}.sip_records.tsv"));
    let got: BTreeSet<usize> = found.iter().map(|(n, _, _)| *n).collect();
    let want: BTreeSet<usize> = truth.iter().map(|r| r["frame"].parse().unwrap()).collect();
    assert_eq!(
        got, want,
        "{name}: the SIP messages (recall and precision 1.0)"
    );
    let by_frame: HashMap<usize, &Row> = truth
        .iter()
        .map(|r| (r["frame"].parse().unwrap(), r))
        .collect();
    for (n, _, fields) in &found {
        let row = by_frame[n];
        for (k, v) in fields {
            assert_eq!(v, &row[*k], "{name} frame {n}: {k}");
        }
    }
}

#[test]
fn sip_corpus_messages_equal_the_truth() {
    for name in SIP_CAPTURES {
        compare_sip(name);
        // tshark's own fields (the corpus truth.tsv).
        let found: HashMap<usize, BTreeMap<&str, String>> = sip_messages(name)
            .into_iter()
            .map(|(n, _, f)| (n, f))
            .collect();
        let rows: Vec<Row> = tsv(&format!("{name}.truth.tsv"))
            .into_iter()
            .filter(|r| r["section"] == "sip")
            .collect();
        assert_eq!(rows.len(), found.len(), "{name}");
        for row in rows {
            let n = frame_no(&row);
            let f = &found[&n];
            let request = !row["sip.Method"].is_empty();
            if request {
                assert_eq!(f["msg_code"], row["sip.Method"], "{name} {n}");
                assert_eq!(f["uri"], row["sip.r-uri"], "{name} {n}");
                assert_eq!(f["status_code"], "0");
            } else {
                assert_eq!(f["status_code"], row["sip.Status-Code"], "{name} {n}");
                assert!(f["msg_code"].starts_with(&row["sip.Status-Code"]));
                assert_eq!(f["uri"], "");
            }
            assert_eq!(f["callid"], row["sip.Call-ID"], "{name} {n}");
            assert_eq!(f["from_addr"], row["sip.from.addr"], "{name} {n}");
            assert_eq!(f["to_addr"], row["sip.to.addr"], "{name} {n}");
            assert_eq!(f["uagent"], row["sip.User-Agent"], "{name} {n}");
        }
    }
}

#[test]
fn sip_generated_in_every_encapsulation_equals_the_truth() {
    compare_sip(GENERATED);
    let found = sip_messages(GENERATED);
    // Both address families, and IPv6 Via hosts without their brackets.
    assert!(found.iter().any(|(_, _, f)| f["gateways"].contains(':')));
    assert!(found.iter().any(|(_, _, f)| f["gateways"].contains('.')));
}

/// The corpus SIP messages, back to back as on a TCP connection (each has a
/// Content-Length), with keep-alives between some.
fn sip_stream() -> (Vec<u8>, Vec<BTreeMap<&'static str, String>>) {
    let mut stream = Vec::new();
    let mut want = Vec::new();
    for name in SIP_CAPTURES {
        for (i, (_, bytes, fields)) in sip_messages(name).into_iter().enumerate() {
            stream.extend_from_slice(&bytes);
            if i % 7 == 3 {
                stream.extend_from_slice(b"\r\n\r\n");
            }
            want.push(fields);
        }
    }
    (stream, want)
}

/// Feeds `segments` to a `SipStream` through a `StreamPool` slot, as a TCP
/// driver would: the slot holds the unconsumed octets; a body the slot does
/// not hold is skipped by count (the pool drops it on arrival).
fn sip_over_tcp(segments: &[&[u8]], slot: u32) -> Vec<BTreeMap<&'static str, String>> {
    let mut pool = StreamPool::new(1, slot);
    let r: StreamRef = pool.open(0).unwrap();
    let mut st = SipStream::new();
    let mut seq = 0u32;
    let mut out = Vec::new();
    for seg in segments {
        let pushed = pool.push(r, seq, seg);
        // (Octets of a body skipped by count are ignored on arrival.)
        assert!(!pushed.cut, "the slot holds a head and a segment");
        seq = seq.wrapping_add(seg.len() as u32);
        loop {
            let data = pool.contiguous(r);
            let step = st.next(data, slot as usize);
            let consumed = step.consumed;
            let more = match step.outcome {
                Outcome::Done(m) => {
                    out.push(sip_fields(&m));
                    true
                }
                Outcome::Incomplete => false,
                other => panic!("{other:?}"),
            };
            pool.consume(r, consumed as u32);
            let pending = st.pending_body();
            if pending > 0 {
                pool.consume(r, pending as u32);
                st.skipped(pending);
            }
            if !more {
                break;
            }
        }
    }
    out
}

#[test]
fn sip_over_tcp_several_messages_a_segment_and_one_over_several() {
    let (stream, want) = sip_stream();
    assert!(want.len() > 170);
    // One segment with every message.
    assert_eq!(sip_over_tcp(&[&stream], 1 << 20), want);
    // Segments of 1 to 1400 octets, cut anywhere.
    let mut cuts = Vec::new();
    let mut x = 0x2545_f491_u32;
    let mut at = 0;
    while at < stream.len() {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let len = 1 + (x as usize % 1400);
        let end = (at + len).min(stream.len());
        cuts.push(&stream[at..end]);
        at = end;
    }
    // Bodies cut by a segment's end are skipped by count (dropped on arrival).
    assert_eq!(sip_over_tcp(&cuts, 4096), want);
    // Octet by octet.
    let octets: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(sip_over_tcp(&octets, 4096), want);
}

#[test]
fn sip_start_line_cut_at_every_offset_across_two_segments() {
    for name in SIP_CAPTURES {
        let mut seen = BTreeSet::new();
        for (n, bytes, fields) in sip_messages(name) {
            let line_end = bytes.iter().position(|&b| b == b'\n').unwrap() + 1;
            if !seen.insert(bytes[..line_end].to_vec()) {
                continue;
            }
            let mut done_at = None;
            for k in 0..=line_end {
                // The signature waits (Incomplete) until it can tell, then
                // stays sure; it never refuses a cut start line.
                match looks_like_sip(&bytes[..k]) {
                    Outcome::Incomplete => {
                        assert!(done_at.is_none(), "{name} frame {n} cut at {k}")
                    }
                    Outcome::Done(()) => {
                        done_at.get_or_insert(k);
                    }
                    other => panic!("{name} frame {n} cut at {k}: {other:?}"),
                }
                // And the message read from the two segments is the uncut one.
                let got = sip_over_tcp(&[&bytes[..k], &bytes[k..]], 4096);
                assert_eq!(
                    got,
                    std::slice::from_ref(&fields),
                    "{name} frame {n} cut at {k}"
                );
            }
            assert_eq!(done_at.map(|k| k <= line_end), Some(true));
        }
        assert!(seen.len() > 10, "{name}: distinct start lines");
    }
}

// ---------------------------------------------------------------------------
// FTP
// ---------------------------------------------------------------------------

/// An FTP record, owned, with the frame whose segment completed it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rec {
    frame: usize,
    kind: String,
    server_name: String,
    user: String,
    password: String,
    mode: u8,
    code: u16,
    data: Option<(Option<IpAddr>, u16)>,
}

fn rec(frame: usize, r: &FtpRecord<'_>) -> Rec {
    Rec {
        frame,
        kind: format!("{:?}", r.kind),
        server_name: text(r.server_name),
        user: text(r.user),
        password: text(r.password),
        mode: r.mode.code(),
        code: r.result_code,
        data: r.data.map(|Endpoint { addr, port }| (addr, port)),
    }
}

/// One direction of a control connection.
struct Half {
    slot: StreamRef,
}

struct Control {
    client: (IpAddr, u16),
    server: IpAddr,
    state: FtpState,
    /// [client → server, server → client]
    halves: [Option<Half>; 2],
    records: Vec<Rec>,
}

/// Every TCP connection of a capture: its client (SYN sender), whether the
/// signature took it for FTP, and for FTP connections the records.
struct FtpRun {
    control: HashMap<(Tuple, Tuple), Control>,
    /// Connections whose first server octets the signature refused.
    not_ftp: BTreeSet<(Tuple, Tuple)>,
}

fn key(t: Tuple) -> (Tuple, Tuple) {
    let r = (t.2, t.3, t.0, t.1);
    if t < r { (t, r) } else { (r, t) }
}

fn run_ftp(name: &str) -> FtpRun {
    let mut pool = StreamPool::new(256, SLOT);
    let mut clients: HashMap<(Tuple, Tuple), (IpAddr, u16)> = HashMap::new();
    let mut isn: HashMap<(IpAddr, u16, IpAddr, u16), u32> = HashMap::new();
    let mut run = FtpRun {
        control: HashMap::new(),
        not_ftp: BTreeSet::new(),
    };
    for f in decoded_frames(name) {
        let (Some(tcp), Some(t)) = (f.packet.tcp().copied(), f.tuple()) else {
            continue;
        };
        let k = key(t);
        if tcp.flags.contains(TcpFlags::SYN) {
            if !tcp.flags.contains(TcpFlags::ACK) {
                clients.insert(k, (t.0, t.1));
            }
            isn.insert(t, tcp.seq.wrapping_add(1));
            continue;
        }
        let payload = f.payload();
        if payload.is_empty() || run.not_ftp.contains(&k) {
            continue;
        }
        let client = clients[&k];
        let from_client = client == (t.0, t.1);
        if !run.control.contains_key(&k) {
            // The signature reads the server's first octets (one segment
            // holds the whole greeting line in these captures).
            if from_client {
                run.not_ftp.insert(k);
                continue;
            }
            match looks_like_greeting(payload) {
                Outcome::Done(()) => {}
                Outcome::NotThis => {
                    run.not_ftp.insert(k);
                    continue;
                }
                other => panic!("{name} frame {}: {other:?}", f.number),
            }
            run.control.insert(
                k,
                Control {
                    client,
                    server: t.0,
                    state: FtpState::new(),
                    halves: [None, None],
                    records: Vec::new(),
                },
            );
        }
        let c = run.control.get_mut(&k).unwrap();
        let dir = usize::from(!from_client);
        let half = c.halves[dir].get_or_insert_with(|| Half {
            slot: pool.open(isn[&t]).unwrap(),
        });
        let pushed = pool.push(half.slot, tcp.seq, payload);
        assert!(!pushed.ignored && !pushed.cut, "{name} frame {}", f.number);
        if !pushed.grew {
            continue;
        }
        loop {
            let data = pool.contiguous(half.slot);
            let step = if from_client {
                c.state.client(data, SLOT as usize)
            } else {
                c.state.server(data, SLOT as usize)
            };
            let consumed = step.consumed;
            let more = match step.outcome {
                Outcome::Done(Event::Record(r)) => {
                    c.records.push(rec(f.number, &r));
                    true
                }
                Outcome::Done(_) => true,
                Outcome::Incomplete => false,
                other => panic!("{name} frame {}: {other:?}", f.number),
            };
            pool.consume(half.slot, consumed as u32);
            if !more {
                break;
            }
        }
    }
    for c in run.control.values() {
        assert_eq!(c.state.finish(), None, "{name}: every attempt was answered");
    }
    run
}

/// The records tshark's rows imply: each command is answered by the next
/// final (≥ 200) reply of its connection (none of these captures pipelines
/// commands).
fn expected_ftp(rows: &[Row]) -> HashMap<(Tuple, Tuple), Vec<Rec>> {
    let mut by_conn: HashMap<(Tuple, Tuple), Vec<&Row>> = HashMap::new();
    for row in rows.iter().filter(|r| r["section"] == "ftp") {
        let addr = |v4: &str, v6: &str| -> IpAddr {
            let v = if row[v4].is_empty() {
                &row[v6]
            } else {
                &row[v4]
            };
            v.parse().unwrap()
        };
        let t = (
            addr("ip.src", "ipv6.src"),
            row["tcp.srcport"].parse().unwrap(),
            addr("ip.dst", "ipv6.dst"),
            row["tcp.dstport"].parse().unwrap(),
        );
        by_conn.entry(key(t)).or_default().push(row);
    }
    let mut out = HashMap::new();
    for (k, rows) in by_conn {
        let reply_after = |i: usize| -> (usize, u16, &Row) {
            rows[i + 1..]
                .iter()
                .filter_map(|r| Some((r, r["ftp.response.code"].parse::<u16>().ok()?)))
                .find(|&(_, code)| code >= 200)
                .map(|(r, code)| (frame_no(r), code, *r))
                .unwrap()
        };
        let mut recs = Vec::new();
        let (mut user, mut mode) = (String::new(), Mode::Active.code());
        for (i, row) in rows.iter().enumerate() {
            let arg = row["ftp.request.arg"].clone();
            let base = |frame, kind: &str, code, user: &str, mode| Rec {
                frame,
                kind: kind.into(),
                server_name: String::new(),
                user: user.into(),
                password: String::new(),
                mode,
                code,
                data: None,
            };
            match row["ftp.request.command"].to_ascii_uppercase().as_str() {
                "USER" => {
                    user = arg;
                    let (frame, code, _) = reply_after(i);
                    if code != 331 && code != 332 {
                        recs.push(base(frame, "Login", code, &user, mode));
                    }
                }
                "PASS" => {
                    let (frame, code, _) = reply_after(i);
                    recs.push(Rec {
                        password: arg,
                        ..base(frame, "Login", code, &user, mode)
                    });
                }
                cmd @ ("PORT" | "EPRT" | "PASV" | "EPSV") => {
                    let (frame, code, reply) = reply_after(i);
                    let active = cmd == "PORT" || cmd == "EPRT";
                    let ip = |s: &str| s.parse::<IpAddr>().ok();
                    let data = match cmd {
                        "PORT" => Some((
                            ip(&row["ftp.active.cip"]),
                            row["ftp.active.port"].parse().unwrap(),
                        )),
                        "EPRT" => {
                            let a = if row["ftp.eprt.ip"].is_empty() {
                                &row["ftp.eprt.ipv6"]
                            } else {
                                &row["ftp.eprt.ip"]
                            };
                            Some((ip(a), row["ftp.eprt.port"].parse().unwrap()))
                        }
                        "PASV" => Some((
                            ip(&reply["ftp.passive.ip"]),
                            reply["ftp.passive.port"].parse().unwrap(),
                        )),
                        _ => Some((None, reply["ftp.epsv.port"].parse().unwrap())),
                    };
                    let positive = (200..300).contains(&code);
                    let set = if active { Mode::Active } else { Mode::Passive }.code();
                    let r = Rec {
                        mode: set,
                        data: data.filter(|_| positive),
                        ..base(frame, "Mode", code, &user, mode)
                    };
                    if positive {
                        mode = set;
                    }
                    recs.push(r);
                }
                _ => {}
            }
        }
        out.insert(k, recs);
    }
    out
}

#[test]
fn ftp_corpus_logins_and_modes_equal_the_truth() {
    let mut totals = (0, 0);
    for name in FTP_CAPTURES {
        let rows = tsv(&format!("{name}.truth.tsv"));
        let want = expected_ftp(&rows);
        let run = run_ftp(name);
        let got: HashMap<_, _> = run
            .control
            .iter()
            .map(|(k, c)| (*k, c.records.clone()))
            .collect();
        assert_eq!(
            got.keys().collect::<BTreeSet<_>>(),
            want.keys().collect::<BTreeSet<_>>(),
            "{name}: the control connections"
        );
        for (k, recs) in &want {
            assert_eq!(&got[k], recs, "{name}");
            totals.0 += recs.iter().filter(|r| r.kind == "Login").count();
            totals.1 += recs.iter().filter(|r| r.kind == "Mode").count();
        }
        // The greetings name no host ("FTP Sandbox Ready.", "(vsFTPd 3.0.3)").
        assert!(got.values().flatten().all(|r| r.server_name.is_empty()));
        // Every data connection tshark saw was announced by a mode record,
        // and none of them was taken for a control connection.
        let announced: Vec<(IpAddr, u16)> = run
            .control
            .values()
            .flat_map(|c| {
                c.records.iter().filter_map(move |r| {
                    let (addr, port) = r.data?;
                    // EPSV names no address: the control connection's server.
                    Some((addr.unwrap_or(c.server), port))
                })
            })
            .collect();
        let data_rows: Vec<&Row> = rows.iter().filter(|r| r["section"] == "ftp_data").collect();
        assert!(!data_rows.is_empty());
        for row in data_rows {
            let ports: [u16; 2] = [
                row["tcp.srcport"].parse().unwrap(),
                row["tcp.dstport"].parse().unwrap(),
            ];
            let addrs: Vec<IpAddr> = ["ip.src", "ip.dst", "ipv6.src", "ipv6.dst"]
                .iter()
                .filter_map(|c| row[*c].parse().ok())
                .collect();
            let bound = announced
                .iter()
                .any(|(addr, port)| ports.contains(port) && addrs.contains(addr));
            assert!(
                bound,
                "{name}: data connection of frame {} announced",
                row["frame.number"]
            );
        }
        assert!(run.not_ftp.len() >= rows.iter().filter(|r| r["section"] == "ftp_data").count());
    }
    // 4 logins (one per control connection) and 3 PORT, 2 PASV, 7 EPSV and
    // 7 EPRT mode settings.
    assert_eq!(totals, (4, 3 + 2 + 7 + 7));
}

#[test]
fn ftp_generated_in_every_encapsulation_logs_in() {
    let run = run_ftp(GENERATED);
    let rows = tsv(&format!("{GENERATED}.ftp_logins.tsv"));
    assert!(rows.len() > 30);
    assert_eq!(
        run.control.len(),
        rows.len(),
        "one control connection per login"
    );
    for row in &rows {
        let client: IpAddr = row["src"].parse().unwrap();
        let c = run
            .control
            .values()
            .find(|c| c.client.0 == client)
            .unwrap_or_else(|| panic!("{row:?}"));
        // mkpcap's dialog: 220, USER, 331, PASS, 230, then PASV → 227
        // (IPv4) or EPSV → 229 (IPv6), QUIT.
        let v6 = client.is_ipv6();
        let [login, mode] = &c.records[..] else {
            panic!("{:?}", c.records);
        };
        assert_eq!(
            (
                login.kind.as_str(),
                login.user.as_str(),
                login.password.as_str(),
                login.code
            ),
            ("Login", row["user"].as_str(), row["password"].as_str(), 230)
        );
        assert_eq!(
            (mode.kind.as_str(), mode.mode, mode.code),
            ("Mode", 1, if v6 { 229 } else { 227 })
        );
        let (addr, port) = mode.data.unwrap();
        assert!((30000..=40000).contains(&port));
        if v6 {
            assert_eq!(addr, None);
        } else {
            assert_eq!(addr, Some(row["dst"].parse().unwrap()));
        }
    }
}
