//! The HTTP parser on real captures (`tests/fixtures`, from the shared corpus),
//! compared with tshark's ground truth: every HTTP request and reply tshark
//! shows is found (recall 1.0), with the same fields, and nothing else.
//!
//! The test plays the flow layer the way it is meant to drive
//! [`HttpState`]: frames are decoded with `wire::decode` (Ethernet) or
//! `wire::decode_ip` (the raw-IP IPv6 capture); a connection is HTTP when the
//! first payload is a request line (`request_start`) or a status line;
//! each direction keeps the sequence number of the parser's next octet and a
//! `reasm::StreamPool` slot that holds **only the unconsumed bytes** (a partial
//! head): after each call the consumed prefix is dropped (the slot is re-based
//! at the new position — what a `StreamPool::advance` would do in place), and
//! when the parser says a body of `n` octets is next and nothing is buffered,
//! the body is skipped by count: the expected sequence number moves by `n` and
//! every segment before it is dropped unseen.
//!
//! tshark reports a message on the frame where it finished reassembling it,
//! body included; the parser reports a message when its head is complete. So
//! a request (no corpus request has a body) is found on tshark's frame, a
//! reply on that frame or an earlier one.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use common::{Frame, Tuple, decoded_frames, fixtures, row_tuple, tuple_of};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::http::{
    Direction, Flags, HttpState, Reason, Reply, Request, Status, Want, request_start,
};
use metaprobe_dataplane::reasm::{StreamPool, StreamRef};
use metaprobe_dataplane::wire::TcpFlags;
use metaprobe_test_support::truth::{Row, read_tsv};
use proptest::prelude::*;

/// Every HTTP capture of the corpus but the IP-fragmented one (see
/// `a_request_in_ip_fragments_needs_ip_reassembly`).
const CAPTURES: &[&str] = &[
    "http_301_location.pcapng",
    "http_basic_auth_401.pcap",
    "http_headers_split_2seg_cookies_37req.pcapng",
    "http_ipv6_4streams.pcap",
    "http_pipelined_2req_1seg.pcap",
    "http_request_lines_split_across_segments.pcap",
    "http_webdav_methods_status_codes.pcapng",
    "http_wrapped_header_referer_cookie.pcap",
    "mpls_qinq_http_and_2label_eompls.pcap",
    "pppoe_session_http.pcap",
    "qinq_8100_8100_http_get.pcap",
    "vlan_8021q_http_jpeg_download.pcap",
];

/// The flow layer's reassembly slot size in these tests: the head cap.
const SLOT: u32 = 8192;

// ---------------------------------------------------------------------------
// Captures and truth
// ---------------------------------------------------------------------------

fn truth(name: &str) -> Vec<Row> {
    read_tsv(&fixtures().join(format!("{name}.truth.tsv")))
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

// ---------------------------------------------------------------------------
// The flow layer, as the test plays it
// ---------------------------------------------------------------------------

/// A message found, owned (the bytes it borrowed are dropped right after).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Msg {
    Request {
        method: String,
        code: u8,
        target: String,
        version: Option<u8>,
        host: String,
        path: String,
        user_agent: String,
        referer: String,
        /// The Cookie lines joined with `|`, as tshark prints them.
        cookie: String,
        flags: Flags,
    },
    Reply {
        status: u16,
        content_length: u64,
        content_type: String,
        location: String,
        flags: Flags,
    },
}

fn request_msg(r: &Request) -> Msg {
    Msg::Request {
        method: text(r.method_token),
        code: r.method_code(),
        target: text(r.target),
        version: r.version,
        host: text(r.host),
        path: text(r.path),
        user_agent: text(r.user_agent),
        referer: text(r.referer),
        cookie: r
            .cookie
            .lines()
            .iter()
            .map(|c| text(c))
            .collect::<Vec<_>>()
            .join("|"),
        flags: r.flags,
    }
}

fn reply_msg(r: &Reply) -> Msg {
    Msg::Reply {
        status: r.status,
        content_length: r.content_length,
        content_type: text(r.content_type),
        location: text(r.location),
        flags: r.flags,
    }
}

/// One direction of a connection.
#[derive(Default)]
struct Half {
    /// Sequence number of the parser's next octet.
    next: Option<u32>,
    /// Holds the unconsumed bytes from `next` on (a partial head), if any.
    slot: Option<StreamRef>,
    /// The parser is done with this direction.
    over: bool,
    /// Sender and receiver.
    tuple: Option<Tuple>,
    /// One past the last sequence number seen.
    end: Option<u32>,
}

struct Conn {
    /// The client's address and port: the SYN's sender, else decided by the
    /// first payload.
    client: Option<(IpAddr, u16)>,
    /// The first payload decided: HTTP or not.
    http: Option<bool>,
    state: HttpState,
    halves: [Half; 2],
}

/// What a capture gave: messages per sending tuple with their frame numbers,
/// and how each direction ended.
#[derive(Default)]
struct Found {
    msgs: BTreeMap<Tuple, Vec<(usize, Msg)>>,
    ends: Vec<(Tuple, &'static str)>,
    /// Directions the capture leaves inside a body: tshark, which reports a
    /// message once its body is reassembled, does not show their last one.
    unfinished: Vec<Tuple>,
}

struct Flows {
    pool: StreamPool,
    conns: HashMap<(Tuple, Tuple), Conn>,
    /// Connections whose first payload was not HTTP.
    not_http: usize,
    found: Found,
}

impl Flows {
    fn new(slot: u32) -> Flows {
        Flows {
            pool: StreamPool::new(64, slot),
            conns: HashMap::new(),
            not_http: 0,
            found: Found::default(),
        }
    }

    fn frame(&mut self, f: &Frame) {
        let Some(tcp) = f.packet.tcp().copied() else {
            return;
        };
        let Some(t) = tuple_of(&f.packet) else {
            return;
        };
        let key = if (t.0, t.1) < (t.2, t.3) {
            (t, (t.2, t.3, t.0, t.1))
        } else {
            ((t.2, t.3, t.0, t.1), t)
        };
        let payload = f.payload();
        let syn = tcp.flags.contains(TcpFlags::SYN);
        let conn = self.conns.entry(key).or_insert_with(|| Conn {
            client: None,
            http: None,
            state: HttpState::new(),
            halves: [Half::default(), Half::default()],
        });
        if syn && !tcp.flags.contains(TcpFlags::ACK) {
            conn.client = Some((t.0, t.1));
        }
        if conn.http.is_none() && !payload.is_empty() {
            // The dispatcher: a request line from the client (or from either
            // side when the handshake was not seen), or a status line from the
            // server, makes the connection HTTP.
            let from_client = conn.client.is_none_or(|c| c == (t.0, t.1));
            let http = if from_client && request_start(payload) != Outcome::NotThis {
                conn.client = Some((t.0, t.1));
                true
            } else if conn.client != Some((t.0, t.1)) && payload.starts_with(b"HTTP/1.") {
                conn.client = Some((t.2, t.3));
                true
            } else {
                self.not_http += 1;
                false
            };
            conn.http = Some(http);
        }
        let dir = if conn.client == Some((t.0, t.1)) {
            Direction::Requests
        } else {
            Direction::Replies
        };
        let half = &mut conn.halves[dir as usize];
        half.tuple = Some(t);
        if syn {
            half.next = Some(tcp.seq.wrapping_add(1));
            return;
        }
        if payload.is_empty() || half.over || conn.http != Some(true) {
            return;
        }
        let next = *half.next.get_or_insert(tcp.seq);
        half.end = Some(tcp.seq.wrapping_add(payload.len() as u32));
        // Drop what lies before the parser's position (retransmissions, skipped bodies).
        let behind = next.wrapping_sub(tcp.seq);
        let (seq, payload) = if behind < 1 << 31 {
            if behind as usize >= payload.len() {
                return;
            }
            (next, &payload[behind as usize..])
        } else {
            (tcp.seq, payload)
        };
        let r = match half.slot {
            Some(r) => r,
            None => {
                let r = self.pool.open(next).expect("pool slots");
                half.slot = Some(r);
                r
            }
        };
        let pushed = self.pool.push(r, seq, payload);
        assert!(!pushed.ignored, "{t:?} frame {}", f.number);
        if pushed.grew {
            feed(&mut self.pool, conn, dir, t, f.number, &mut self.found);
        }
    }
}

/// Gives the buffered bytes of one direction to the parser until it needs
/// more, then drops the consumed prefix and skips a body by count.
fn feed(
    pool: &mut StreamPool,
    conn: &mut Conn,
    dir: Direction,
    t: Tuple,
    number: usize,
    found: &mut Found,
) {
    let half = &mut conn.halves[dir as usize];
    let r = half.slot.unwrap();
    let cap = pool.slot_size() as usize;
    let mut pos = 0;
    loop {
        let data = &pool.contiguous(r)[pos..];
        let (consumed, done, end) = match dir {
            Direction::Requests => {
                let step = conn.state.requests(data, cap - pos);
                let msg = step.status.done().map(|m| request_msg(&m));
                (step.consumed, msg, end_of(step.status))
            }
            Direction::Replies => {
                let step = conn.state.replies(data, cap - pos);
                let msg = step.status.done().map(|m| reply_msg(&m));
                (step.consumed, msg, end_of(step.status))
            }
        };
        assert!(consumed <= data.len());
        pos += consumed;
        if let Some(msg) = done {
            found.msgs.entry(t).or_default().push((number, msg));
            continue;
        }
        if let Some(why) = end {
            found.ends.push((t, why));
            half.over = true;
        }
        break;
    }
    let next = half.next.unwrap().wrapping_add(pos as u32);
    half.next = Some(next);
    let rest = pool.contiguous(r)[pos..].to_vec();
    if pos > 0 || half.over {
        pool.close(r);
        half.slot = None;
        if !rest.is_empty() && !half.over {
            let r = pool.open(next).unwrap();
            pool.push(r, next, &rest);
            half.slot = Some(r);
        }
    }
    // Nothing buffered and a body next: skip it by count.
    if half.slot.is_none() {
        match conn.state.want(dir) {
            Want::Skip(u64::MAX) | Want::Nothing => half.over = true,
            Want::Skip(n) => {
                conn.state.skipped(dir, n);
                half.next = Some(next.wrapping_add(n as u32));
            }
            Want::Head | Want::Framing | Want::Hold | Want::Resync => {}
        }
    }
}

fn end_of<T>(s: Status<T>) -> Option<&'static str> {
    match s {
        Outcome::Done(_) | Outcome::Incomplete => None,
        Outcome::Malformed(m) if m.reason == Reason::NotHttp => Some("not http"),
        Outcome::Malformed(m) => Some(m.reason.as_str()),
        Outcome::NotThis => Some("tunnel"),
    }
}

fn run(name: &str, slot: u32) -> (Found, usize) {
    let mut flows = Flows::new(slot);
    for f in decoded_frames(name) {
        flows.frame(&f);
    }
    for conn in flows.conns.values() {
        for dir in [Direction::Requests, Direction::Replies] {
            let half = &conn.halves[dir as usize];
            // Inside a body, or a body skipped by count beyond the last segment.
            let skipped_past = match (half.next, half.end) {
                (Some(next), Some(end)) => (next.wrapping_sub(end) as i32) > 0,
                _ => false,
            };
            let inside =
                skipped_past || matches!(conn.state.want(dir), Want::Skip(_) | Want::Framing);
            if let (Some(t), true) = (half.tuple, inside) {
                flows.found.unfinished.push(t);
            }
        }
    }
    (flows.found, flows.not_http)
}

// ---------------------------------------------------------------------------
// Comparison with the truth
// ---------------------------------------------------------------------------

/// Values of one field over the messages of a row, as tshark prints them:
/// the non-empty ones joined with `|`.
fn joined(values: impl Iterator<Item = String>) -> String {
    values
        .filter(|v| !v.is_empty())
        .collect::<Vec<_>>()
        .join("|")
}

fn spec_code(method: &str) -> u8 {
    match method {
        "GET" => 1,
        "POST" => 2,
        "PUT" => 3,
        "DELETE" => 4,
        _ => 0,
    }
}

/// Checks a capture; returns (requests, replies) matched.
fn check(name: &str) -> (usize, usize) {
    let (found, _) = run(name, SLOT);
    let rows = truth(name);
    let mut want: BTreeMap<Tuple, Vec<&Row>> = BTreeMap::new();
    for row in rows
        .iter()
        .filter(|r| r["section"] == "http_request" || r["section"] == "http_response")
    {
        want.entry(row_tuple(row)).or_default().push(row);
    }
    let (mut requests, mut replies) = (0, 0);
    for (tuple, rows) in &want {
        let got = found.msgs.get(tuple).map(Vec::as_slice).unwrap_or(&[]);
        let mut at = 0;
        for row in rows {
            let frame: usize = row["frame.number"].parse().unwrap();
            let ctx = format!("{name} {tuple:?} frame {frame}");
            if row["section"] == "http_request" {
                let n = row["http.request.method"].split('|').count();
                assert!(at + n <= got.len(), "{ctx}: missing request(s)");
                let msgs = &got[at..at + n];
                at += n;
                let field = |f: &dyn Fn(&Msg) -> String| joined(msgs.iter().map(|(_, m)| f(m)));
                macro_rules! req {
                    ($m:expr, $f:ident) => {
                        match $m {
                            Msg::Request { $f, .. } => $f.clone(),
                            other => panic!("{ctx}: {other:?} where a request is due"),
                        }
                    };
                }
                for (number, _) in msgs {
                    assert_eq!(*number, frame, "{ctx}: request found on another frame");
                }
                assert_eq!(
                    field(&|m| req!(m, method)),
                    row["http.request.method"],
                    "{ctx}"
                );
                assert_eq!(
                    field(&|m| req!(m, target)),
                    row["http.request.uri"],
                    "{ctx}"
                );
                assert_eq!(field(&|m| req!(m, host)), row["http.host"], "{ctx}");
                assert_eq!(
                    field(&|m| req!(m, user_agent)),
                    row["http.user_agent"],
                    "{ctx}"
                );
                assert_eq!(field(&|m| req!(m, referer)), row["http.referer"], "{ctx}");
                assert_eq!(field(&|m| req!(m, cookie)), row["http.cookie"], "{ctx}");
                let versions = field(&|m| match m {
                    Msg::Request { version, .. } => format!("HTTP/1.{}", version.unwrap()),
                    _ => unreachable!(),
                });
                assert_eq!(versions, row["http.request.version"], "{ctx}");
                for ((_, m), method) in msgs.iter().zip(row["http.request.method"].split('|')) {
                    let Msg::Request {
                        code,
                        path,
                        target,
                        flags,
                        ..
                    } = m
                    else {
                        unreachable!()
                    };
                    assert_eq!(*code, spec_code(method), "{ctx}: METHOD");
                    assert_eq!(path, target, "{ctx}: origin-form PATH is the target");
                    assert_eq!(*flags, Flags::NONE, "{ctx}");
                }
                requests += n;
            } else {
                let (number, m) = got
                    .get(at)
                    .unwrap_or_else(|| panic!("{ctx}: reply missing"));
                at += 1;
                assert!(
                    *number <= frame,
                    "{ctx}: reply found late, on frame {number}"
                );
                let Msg::Reply {
                    status,
                    content_length,
                    content_type,
                    location,
                    flags,
                } = m
                else {
                    panic!("{ctx}: {m:?} where a reply is due");
                };
                assert_eq!(status.to_string(), row["http.response.code"], "{ctx}");
                let cl: u64 = row["http.content_length"].parse().unwrap_or(0);
                assert_eq!(*content_length, cl, "{ctx}: CONTENT_LENGTH");
                assert_eq!(*content_type, row["http.content_type"], "{ctx}");
                assert_eq!(*location, row["http.location"], "{ctx}");
                assert_eq!(*flags, Flags::NONE, "{ctx}");
                replies += 1;
            }
        }
        let extra = &got[at..];
        assert!(
            extra.is_empty() || (extra.len() == 1 && found.unfinished.contains(tuple)),
            "{name} {tuple:?}: extra messages {extra:?}"
        );
        replies += extra.len();
    }
    for (tuple, got) in &found.msgs {
        if !want.contains_key(tuple) {
            // Only a reply whose body the capture cuts short.
            assert!(
                got.len() == 1
                    && matches!(got[0].1, Msg::Reply { .. })
                    && found.unfinished.contains(tuple),
                "{name}: messages on {tuple:?} tshark does not show: {got:?}"
            );
            replies += 1;
        }
    }
    assert!(found.ends.is_empty(), "{name}: {:?}", found.ends);
    (requests, replies)
}

#[test]
fn every_request_and_reply_of_the_corpus_is_found() {
    let mut total = (0, 0);
    for name in CAPTURES {
        let (q, r) = check(name);
        eprintln!("{name}: {q} requests, {r} replies");
        total.0 += q;
        total.1 += r;
    }
    // The truth files' row counts (pipelined requests of one segment share a
    // row), plus the reply of `qinq_8100_8100_http_get.pcap` whose body the
    // capture cuts short (tshark shows none; see below).
    assert_eq!(total, (72, 71));
}

#[test]
fn pipelined_requests_in_one_segment_are_both_found() {
    let (found, _) = run("http_pipelined_2req_1seg.pcap", SLOT);
    let client = found.msgs.iter().find(|(t, _)| t.3 == 80).unwrap().1;
    let paths: Vec<_> = client
        .iter()
        .map(|(n, m)| match m {
            Msg::Request { path, .. } => (*n, path.as_str()),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(paths, [(4, "/bar/"), (4, "/foo/")]);
    assert_eq!(check("http_pipelined_2req_1seg.pcap"), (2, 2));
}

#[test]
fn headers_split_across_segments_are_reassembled() {
    assert_eq!(
        check("http_headers_split_2seg_cookies_37req.pcapng"),
        (37, 37)
    );
    assert_eq!(
        check("http_request_lines_split_across_segments.pcap"),
        (1, 1)
    );
    assert_eq!(check("http_wrapped_header_referer_cookie.pcap"), (1, 1));
}

#[test]
fn chunked_replies_are_skipped_to_the_next_reply() {
    // Chunked replies (tshark: Transfer-Encoding chunked): the IPv6 capture's
    // connection from port 35995 has one (frame 25) followed by another reply
    // (frame 46); the 401 and the PPPoE capture's 200 end their connection.
    assert_eq!(check("http_basic_auth_401.pcap"), (1, 1));
    assert_eq!(check("pppoe_session_http.pcap"), (1, 1));
    assert_eq!(check("http_ipv6_4streams.pcap"), (9, 9));
}

#[test]
fn redirects_carry_their_location_and_webdav_methods_are_other() {
    assert_eq!(check("http_301_location.pcapng"), (1, 1));
    let (found, _) = run("http_webdav_methods_status_codes.pcapng", SLOT);
    let mut codes = BTreeMap::new();
    let mut locations = vec![];
    for (_, m) in found.msgs.values().flatten() {
        match m {
            Msg::Request { method, code, .. } => {
                *codes.entry((method.clone(), *code)).or_insert(0) += 1
            }
            Msg::Reply {
                status: 301,
                location,
                ..
            } => locations.push(location.clone()),
            Msg::Reply { .. } => {}
        }
    }
    let methods: Vec<_> = codes.keys().map(|(m, c)| (m.as_str(), *c)).collect();
    assert_eq!(
        methods,
        [
            ("COPY", 0),
            ("LOCK", 0),
            ("MKCOL", 0),
            ("MOVE", 0),
            ("PROPFIND", 0),
            ("PROPPATCH", 0),
            ("UNLOCK", 0)
        ]
    );
    assert_eq!(locations, ["http://104.156.149.6/webdav/"]);
    assert_eq!(check("http_webdav_methods_status_codes.pcapng"), (16, 16));
}

#[test]
fn a_reply_is_reported_at_its_head_even_when_the_capture_cuts_its_body() {
    // The capture ends in the first of the reply's body segments: tshark never
    // finishes reassembling it and shows no reply; the probe reports it.
    let (found, _) = run("qinq_8100_8100_http_get.pcap", SLOT);
    let reply = &found.msgs.iter().find(|(t, _)| t.1 == 80).unwrap().1;
    assert_eq!(reply.len(), 1);
    assert_eq!(reply[0].0, 6);
    assert!(matches!(reply[0].1, Msg::Reply { status: 200, .. }));
    assert_eq!(check("qinq_8100_8100_http_get.pcap"), (1, 1));
}

#[test]
fn a_long_body_is_skipped_by_count() {
    // 400 frames of JPEG: the reply's body never enters the reassembly buffer.
    assert_eq!(check("vlan_8021q_http_jpeg_download.pcap"), (1, 1));
}

#[test]
fn a_head_longer_than_the_slot_is_truncated_and_counted() {
    // The ~2 KB request line of this capture in a 1 KiB slot.
    let (found, _) = run("http_wrapped_header_referer_cookie.pcap", 1024);
    let row = truth("http_wrapped_header_referer_cookie.pcap")
        .into_iter()
        .find(|r| r["section"] == "http_request")
        .unwrap();
    let msgs = &found.msgs[&row_tuple(&row)];
    assert_eq!(msgs.len(), 1);
    let Msg::Request {
        path, flags, host, ..
    } = &msgs[0].1
    else {
        panic!("{msgs:?}")
    };
    assert!(flags.contains(Flags::TRUNCATED));
    assert!(row["http.request.uri"].starts_with(path.as_str()));
    assert!(path.len() > 900 && path.len() < 1024, "{}", path.len());
    assert_eq!(host, "", "the Host header lies beyond the cut");
    // The reply that follows the truncated request is still found.
    let replies: Vec<_> = found.msgs.iter().filter(|(t, _)| t.1 == 80).collect();
    assert_eq!(replies.len(), 1);
    assert!(matches!(replies[0].1[0].1, Msg::Reply { status: 200, .. }));
}

#[test]
fn a_request_in_ip_fragments_needs_ip_reassembly() {
    // Known gap, not faked: the GET of this capture is carried in 11 IPv4
    // fragments. Without IP reassembly the first fragment's TCP payload is a
    // prefix of the request and the later fragments carry no TCP header, so
    // the parser sees an incomplete head and reports nothing.
    let name = "http_request_ipv4_fragmented.pcap";
    let fr = decoded_frames(name);
    assert!(fr.iter().all(|f| f.packet.is_fragment()));
    let (found, _) = run(name, SLOT);
    assert!(found.msgs.is_empty());
    assert!(found.ends.is_empty());
    let want = truth(name)
        .iter()
        .filter(|r| r["section"] == "http_request")
        .count();
    assert_eq!(want, 1);
}

// ---------------------------------------------------------------------------
// Garbage
// ---------------------------------------------------------------------------

/// Every TCP payload stream (per sending tuple, in sequence order) of a capture.
fn tcp_streams(name: &str) -> Vec<(Tuple, Vec<u8>)> {
    let mut segs: BTreeMap<Tuple, (u32, BTreeMap<u32, Vec<u8>>)> = BTreeMap::new();
    for f in decoded_frames(name) {
        let (Some(tcp), Some(t)) = (f.packet.tcp().copied(), tuple_of(&f.packet)) else {
            continue;
        };
        let e = segs.entry(t).or_insert((tcp.seq, BTreeMap::new()));
        if tcp.flags.contains(TcpFlags::SYN) {
            e.0 = tcp.seq.wrapping_add(1);
        }
        if !f.payload().is_empty() {
            let off = tcp.seq.wrapping_sub(e.0);
            e.1.entry(off).or_insert_with(|| f.payload().to_vec());
        }
    }
    segs.into_iter()
        .filter_map(|(t, (_, m))| {
            let mut out = Vec::new();
            for (off, p) in m {
                let off = off as usize;
                if off > out.len() || off >= 1 << 31 {
                    break;
                }
                let skip = out.len() - off;
                if skip < p.len() {
                    out.extend_from_slice(&p[skip..]);
                }
            }
            (!out.is_empty()).then_some((t, out))
        })
        .collect()
}

#[test]
fn garbage_on_port_80_makes_no_record_and_no_panic() {
    // Real non-HTTP streams — TLS, DNS over TCP, STARTTLS mail — presented to
    // the HTTP parser as if they arrived on port 80, whole and byte by byte.
    let mut streams = 0;
    for name in [
        "tls13_clienthello_mlkem_split_2seg.pcap",
        "tls12_curl_ecdhe_rsa_cert_chain.pcap",
        "dns_tcp_multiple_queries_per_segment.pcap",
        "smtp_starttls.pcap",
        "imap_starttls.pcap",
        "pop3_stls.pcap",
    ] {
        for (t, stream) in tcp_streams(name) {
            assert_eq!(request_start(&stream), Outcome::NotThis, "{name} {t:?}");
            for pieces in [stream.chunks(stream.len()), stream.chunks(1)] {
                let mut st = HttpState::new();
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let mut reqs = 0;
                let mut reps = 0;
                let mut ended = (None, None);
                for piece in pieces {
                    a.extend_from_slice(piece);
                    b.extend_from_slice(piece);
                    let s = st.requests(&a, SLOT as usize);
                    assert!(s.consumed <= a.len());
                    reqs += usize::from(s.status.done().is_some());
                    ended.0 = ended.0.or(end_of(s.status));
                    a.drain(..s.consumed);
                    let s = st.replies(&b, SLOT as usize);
                    assert!(s.consumed <= b.len());
                    reps += usize::from(s.status.done().is_some());
                    ended.1 = ended.1.or(end_of(s.status));
                    b.drain(..s.consumed);
                }
                assert_eq!((reqs, reps), (0, 0), "{name} {t:?}");
                // Mail greetings and commands are refused at their first line.
                assert_eq!(ended, (Some("not http"), Some("not http")), "{name} {t:?}");
            }
            streams += 1;
        }
    }
    assert!(streams >= 12, "{streams}");
    // And the dispatcher leaves such connections alone.
    let (found, not_http) = run("tls12_curl_ecdhe_rsa_cert_chain.pcap", SLOT);
    assert!(found.msgs.is_empty());
    assert!(not_http >= 1);
}

// ---------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------

/// Both directions of every HTTP connection of the corpus.
fn http_streams() -> &'static [Vec<u8>] {
    static STREAMS: std::sync::OnceLock<Vec<Vec<u8>>> = std::sync::OnceLock::new();
    STREAMS.get_or_init(|| {
        CAPTURES
            .iter()
            .flat_map(|name| tcp_streams(name))
            .map(|(_, s)| s)
            .collect()
    })
}

/// Feeds `stream` in pieces of the given sizes (cycled) to both parsers,
/// keeping unconsumed bytes like the flow layer; checks consumed ≤ given and
/// returns the messages.
fn drive(stream: &[u8], sizes: &[usize], cap: usize) -> (Vec<Msg>, Vec<Msg>) {
    let mut st = HttpState::new();
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let (mut reqs, mut reps) = (Vec::new(), Vec::new());
    let mut at = 0;
    for size in sizes.iter().cycle() {
        if at >= stream.len() {
            break;
        }
        let end = (at + size.max(&1)).min(stream.len());
        let piece = &stream[at..end];
        at = end;
        a.extend_from_slice(piece);
        b.extend_from_slice(piece);
        loop {
            let s = st.requests(&a, cap);
            assert!(s.consumed <= a.len().min(cap));
            let m = s.status.done().map(|m| request_msg(&m));
            a.drain(..s.consumed);
            match m {
                Some(m) => reqs.push(m),
                None => break,
            }
        }
        loop {
            let s = st.replies(&b, cap);
            assert!(s.consumed <= b.len().min(cap));
            let m = s.status.done().map(|m| reply_msg(&m));
            b.drain(..s.consumed);
            match m {
                Some(m) => reps.push(m),
                None => break,
            }
        }
        // The flow layer never buffers more than its cap.
        a.truncate(cap);
        b.truncate(cap);
    }
    (reqs, reps)
}

fn mutate(stream: &mut Vec<u8>, edits: &[(u16, u8, u8)]) {
    for &(at, op, byte) in edits {
        if stream.is_empty() {
            stream.push(byte);
            continue;
        }
        let i = usize::from(at) % stream.len();
        match op % 4 {
            0 => stream[i] = byte,
            1 => stream.insert(i, byte),
            2 => {
                stream.remove(i);
            }
            _ => {
                // Splice in a framing-relevant token.
                let tokens: [&[u8]; 6] = [
                    b"\r\n\r\n",
                    b"Content-Length: 99999999999\r\n",
                    b"Transfer-Encoding: chunked\r\n",
                    b"\r\nffffffff\r\n",
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                    b"CONNECT a:1 HTTP/1.1\r\n\r\n",
                ];
                let tok = tokens[usize::from(byte) % tokens.len()];
                stream.splice(i..i, tok.iter().copied());
            }
        }
    }
}

// Cases per property: proptest's default (256), or `PROPTEST_CASES`.
proptest! {
    /// Arbitrary bytes in arbitrary pieces, arbitrary cap: no panic, consumed ≤ given.
    #[test]
    fn arbitrary_streams_never_panic(
        stream in proptest::collection::vec(any::<u8>(), 0..3000),
        sizes in proptest::collection::vec(1usize..700, 1..12),
        cap in 0usize..4096,
    ) {
        drive(&stream, &sizes, cap);
    }

    /// Real HTTP streams with random edits, in random pieces, with a random cap.
    #[test]
    fn mutated_corpus_streams_never_panic(
        pick in any::<prop::sample::Index>(),
        edits in proptest::collection::vec((any::<u16>(), any::<u8>(), any::<u8>()), 0..12),
        sizes in proptest::collection::vec(1usize..1500, 1..12),
        cap in 16usize..9000,
    ) {
        let mut stream = pick.get(http_streams()).clone();
        mutate(&mut stream, &edits);
        drive(&stream, &sizes, cap);
    }

    /// Unchanged real streams give the same messages whatever the pieces.
    #[test]
    fn messages_do_not_depend_on_segmentation(
        pick in any::<prop::sample::Index>(),
        sizes in proptest::collection::vec(1usize..1500, 1..12),
    ) {
        let stream = pick.get(http_streams());
        let whole = drive(stream, &[stream.len()], 1 << 16);
        prop_assert!(!whole.0.is_empty() || !whole.1.is_empty());
        prop_assert_eq!(drive(stream, &sizes, 1 << 16), whole);
    }
}
