//! End to end, records: every corpus capture of `dataplane/tests/fixtures` whose tshark truth
//! (`<capture>.truth.tsv`) has TLS, QUIC, DNS or HTTP rows goes through the real binary —
//! EAL with `--no-huge --no-pci`, a bridge of two `net_pcap` ports, the capture on port 0
//! (the subscriber side), an empty capture on port 1 — with the clickstream and dns
//! streams exported over UDP to sockets this test owns on 127.0.0.1 and decoded in-process
//! with `metaprobe_ipfix::collect` (templates per exporter session, sequence numbers
//! checked: nothing lost). `ssl_parse_reply = 1` and `http_parse_reply = 1`.
//!
//! Every truth row must have a record with equal fields (recall 1.0) and every record must
//! be some truth row's (precision 1.0):
//!
//! * `tls_client_hello` with a server name → clickstream, HOST_TYPE 3: HOSTNAME = SNI,
//!   CipherSuitesLen = 2 × the suites tshark lists, CipherSuites = the first 16 of them,
//!   TCP_SEQUENCE = the sequence number of the segment that starts the ClientHello record.
//!   Without a server name: a clickstream record with HOST_TYPE 2 and the leaf
//!   certificate's subject CN (`tls_certificate`, `x509.cert_index` 0) when the server
//!   shows one (TLS ≤ 1.2), client → server like the request it stands for (MACs, VLANs
//!   of the ClientHello's frame; TCP_SEQUENCE of the segment that starts the server's
//!   flight, whose certificate carried the name); else none.
//! * `tls_server_hello` → tls_reply: SSL_VERSION = supported_versions when present (TLS 1.3)
//!   else the version, CIPHER_SUITE, COMPRESSION_METHOD 0 (the truth has no column for it;
//!   every capture here negotiates null compression), HOST_TYPE 2 + the leaf CN when the
//!   certificate is visible, else 0 + empty.
//! * `quic_initial` rows of the client whose TLS handshake type is 1 (tshark saw the whole
//!   ClientHello there) → clickstream HOST_TYPE 4 as for TLS, TCP_SEQUENCE 0. Client
//!   Initials before that (a ClientHello over two Initials) give nothing. `quic_initial`
//!   rows of the server whose TLS handshake type is 2 (the ServerHello complete there) →
//!   tls_reply as for TLS 1.3 over TCP: SSL_VERSION = supported_versions (0x0304: the
//!   truth has no version column for these rows; QUIC is TLS 1.3, RFC 9001 §4.2),
//!   CIPHER_SUITE, COMPRESSION_METHOD 0, HOST_TYPE 0 and an empty name (the certificate
//!   is in Handshake packets, encrypted), the session of the client's record.
//! * DNS: `<capture>.dns_answers.tsv` (answer-section RRs, from the shared
//!   `tools/pcap_truth.py`, see `dataplane/tests/fixtures/dns_answers_tsv.py`) → one dns
//!   record each: TRANSPORT, DOMAIN, RRTYPE, RRCLASS, TTL, RDATA (tshark's on-the-wire bytes
//!   or its alternative with the names uncompressed). A response without answers (from the
//!   `dns` rows of `truth.tsv`) → one record with the question's name and type, class 1,
//!   TTL 0, empty RDATA. Known limit, asserted: UDP responses in IP fragments (no IP
//!   reassembly) give the answers that are whole in the first fragment.
//! * `http_request` → clickstream HOST_TYPE 1 (Host, target, Referer, User-Agent, Cookie,
//!   METHOD, TCP_SEQUENCE of the segment holding the request line); `http_response` →
//!   http_reply (status, Content-Length or 0, Content-Type, Location).
//! * Every record: addresses and ports of the packet that carried the data (IPv4 or IPv6
//!   template), VLAN ids (outer, inner; from the truth's `ieee8021ad.id`/`vlan.id`), MACs and
//!   MPLS label stack entries of that frame's bytes (labels checked against the truth's
//!   `mpls.label`), LOGIN empty, LOCKED 0, BRIDGE_CHANNEL_NUM 0, TIME_STAMP within the run
//!   (or the capture time of the frame); SESSION_ID: one per transport flow, the same for
//!   both directions, different flows different ids.
//!
//! Captures that are not Ethernet (raw IP, BSD loopback; Linux cooked would be handled the
//! same way) are re-encapsulated before they are fed: the IP packet behind an Ethernet
//! header with fixed MACs, one per side (`common::ethernet_frames_of`); their records
//! must carry those MACs. Every other capture is fed as it is (pcapng rewritten as pcap).
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ffi::OsString;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{
    MAC_NET, MAC_SUB, Packet, RUN_TIMEOUT, RunOutput, Running, TestDir, decode_all, dpdk_lock,
    eal_args, eth, ethernet_frames_of, inet_checksum, ipv4_header, ipv6_header, read_capture,
    run_args, run_metaprobe, tcp_header, udp_header, write_config, write_pcap,
};
use metaprobe_ipfix::collect::render::to_json;
use metaprobe_ipfix::collect::{DecodedRecord, Value};
use metaprobe_test_support::capture::read_frames;
use metaprobe_test_support::fixtures_dir;
use metaprobe_test_support::hex::unhex;
use metaprobe_test_support::truth::{Row, col, read_tsv, unescape};
use metaprobe_test_support::udp::UdpCollector;

// ---------------------------------------------------------------------------------------
// Frames: a small header walker of our own (not the dataplane's decoder)
// ---------------------------------------------------------------------------------------

/// What the test needs of a frame: L2 fields, addresses, ports, TCP sequence, payload.
#[derive(Clone, Debug, Default)]
struct Layers {
    dst_mac: [u8; 6],
    src_mac: [u8; 6],
    /// Tag ids, outermost first.
    vlans: Vec<u16>,
    /// MPLS label stack entries as on the wire.
    mpls: Vec<u8>,
    ip: Option<(IpAddr, IpAddr)>,
    /// Offset of the IP header in the frame.
    l3: usize,
    /// A fragment other than the first: no L4 header.
    later_fragment: bool,
    tcp: bool,
    ports: Option<(u16, u16)>,
    seq: u32,
    syn: bool,
    /// TCP control bits (NS and the eight of octet 13).
    flags: u16,
    payload: Vec<u8>,
}

fn be16(f: &[u8], at: usize) -> Option<u16> {
    f.get(at..at + 2).map(|b| u16::from_be_bytes([b[0], b[1]]))
}

fn be32(f: &[u8], at: usize) -> Option<u32> {
    f.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

fn walk(f: &[u8]) -> Layers {
    let mut l = Layers::default();
    let _ = walk_into(f, &mut l);
    l
}

fn walk_into(f: &[u8], l: &mut Layers) -> Option<()> {
    l.dst_mac = f.get(0..6)?.try_into().ok()?;
    l.src_mac = f.get(6..12)?.try_into().ok()?;
    let mut et = be16(f, 12)?;
    let mut off = 14;
    loop {
        match et {
            0x8100 | 0x88a8 | 0x9100 => {
                l.vlans.push(be16(f, off)? & 0x0fff);
                et = be16(f, off + 2)?;
                off += 4;
            }
            0x8847 | 0x8848 => {
                loop {
                    let e = f.get(off..off + 4)?;
                    l.mpls.extend_from_slice(e);
                    off += 4;
                    if e[2] & 1 == 1 {
                        break;
                    }
                }
                et = match f.get(off)? >> 4 {
                    4 => 0x0800,
                    6 => 0x86dd,
                    _ => return None,
                };
            }
            0x8864 => {
                // PPP protocol: two octets, or one when compressed (RFC 1661 PFC: odd).
                let (proto, len) = match *f.get(off + 6)? {
                    b if b & 1 == 1 => (u16::from(b), 1),
                    _ => (be16(f, off + 6)?, 2),
                };
                et = match proto {
                    0x0021 => 0x0800,
                    0x0057 => 0x86dd,
                    _ => return None,
                };
                off += 6 + len;
            }
            0x0800 => {
                l.l3 = off;
                return ipv4(f, off, l);
            }
            0x86dd => {
                l.l3 = off;
                return ipv6(f, off, l);
            }
            _ => return None,
        }
    }
}

fn ipv4(f: &[u8], off: usize, l: &mut Layers) -> Option<()> {
    let ihl = usize::from(f.get(off)? & 0x0f) * 4;
    let end = (off + usize::from(be16(f, off + 2)?)).min(f.len());
    let frag = be16(f, off + 6)?;
    let proto = *f.get(off + 9)?;
    let src: [u8; 4] = f.get(off + 12..off + 16)?.try_into().ok()?;
    let dst: [u8; 4] = f.get(off + 16..off + 20)?.try_into().ok()?;
    l.ip = Some((IpAddr::from(src), IpAddr::from(dst)));
    if frag & 0x1fff != 0 {
        l.later_fragment = true;
        return Some(());
    }
    l4(f, off + ihl, end, proto, l)
}

fn ipv6(f: &[u8], off: usize, l: &mut Layers) -> Option<()> {
    let end = (off + 40 + usize::from(be16(f, off + 4)?)).min(f.len());
    let mut next = *f.get(off + 6)?;
    let src: [u8; 16] = f.get(off + 8..off + 24)?.try_into().ok()?;
    let dst: [u8; 16] = f.get(off + 24..off + 40)?.try_into().ok()?;
    l.ip = Some((IpAddr::from(src), IpAddr::from(dst)));
    let mut p = off + 40;
    loop {
        match next {
            0 | 43 | 60 => {
                next = *f.get(p)?;
                p += (usize::from(*f.get(p + 1)?) + 1) * 8;
            }
            44 => {
                next = *f.get(p)?;
                if be16(f, p + 2)? >> 3 != 0 {
                    l.later_fragment = true;
                    return Some(());
                }
                p += 8;
            }
            _ => return l4(f, p, end, next, l),
        }
    }
}

fn l4(f: &[u8], p: usize, end: usize, proto: u8, l: &mut Layers) -> Option<()> {
    l.ports = Some((be16(f, p)?, be16(f, p + 2)?));
    let start = match proto {
        6 => {
            l.tcp = true;
            l.seq = be32(f, p + 4)?;
            l.syn = f.get(p + 13)? & 0x02 != 0;
            l.flags = u16::from(f.get(p + 12)? & 1) << 8 | u16::from(*f.get(p + 13)?);
            p + usize::from(f.get(p + 12)? >> 4) * 4
        }
        17 => p + 8,
        _ => {
            l.ports = None;
            return None;
        }
    };
    l.payload = f.get(start..end.max(start))?.to_vec();
    Some(())
}

/// One capture, as fed: Ethernet frames and what the walker sees in each.
struct Capture {
    name: String,
    frames: Vec<Packet>,
    layers: Vec<Layers>,
    /// Capture times (Unix seconds) of the frames.
    times: Vec<u64>,
    /// The original link type when the frames were re-encapsulated.
    reencapsulated: Option<String>,
}

impl Capture {
    fn load(name: &str) -> Capture {
        let raw = read_frames(&fixtures_dir().join(name));
        assert!(!raw.is_empty(), "{name}: no packets");
        let (frames, other) = ethernet_frames_of(&raw);
        let layers = frames.iter().map(|p| walk(&p.data)).collect();
        Capture {
            name: name.to_string(),
            times: raw.iter().map(|p| p.ts.as_secs()).collect(),
            frames,
            layers,
            reencapsulated: other.map(|l| format!("{l:?}")),
        }
    }

    /// Layers of frame `n` (1-based, as tshark numbers them).
    fn frame(&self, n: usize) -> &Layers {
        self.layers
            .get(n - 1)
            .unwrap_or_else(|| panic!("{}: no frame {n}", self.name))
    }

    /// Sequence number of the first TCP segment from `src:sp` to `dst:dp` whose payload
    /// `starts` accepts.
    fn first_seq(&self, t: Tuple, starts: impl Fn(&[u8]) -> bool) -> Option<u32> {
        self.layers
            .iter()
            .find(|l| l.tcp && tuple_of(l) == Some(t) && starts(&l.payload))
            .map(|l| l.seq)
    }
}

type Tuple = (IpAddr, u16, IpAddr, u16);

fn tuple_of(l: &Layers) -> Option<Tuple> {
    let (s, d) = l.ip?;
    let (sp, dp) = l.ports?;
    Some((s, sp, d, dp))
}

/// A transport flow whatever the direction: (TCP?, lower end, higher end).
type FlowKey = (bool, (IpAddr, u16), (IpAddr, u16));

fn flow_key(tcp: bool, t: Tuple) -> FlowKey {
    let a = (t.0, t.1);
    let b = (t.2, t.3);
    if a <= b { (tcp, a, b) } else { (tcp, b, a) }
}

// ---------------------------------------------------------------------------------------
// Truth files
// ---------------------------------------------------------------------------------------

fn list(row: &Row, key: &str) -> Vec<String> {
    let v = col(row, key);
    if v.is_empty() {
        Vec::new()
    } else {
        v.split('|').map(str::to_string).collect()
    }
}

fn frame_no(row: &Row) -> usize {
    col(row, "frame.number").parse().unwrap()
}

fn hex16(v: &str) -> u16 {
    u16::from_str_radix(v.trim_start_matches("0x"), 16)
        .unwrap_or_else(|e| panic!("not hex: {v:?}: {e}"))
}

/// Source address and port, destination address and port of a truth row (the first
/// occurrence of each column).
fn row_tuple(row: &Row) -> Tuple {
    let pick = |a: &str, b: &str| -> String {
        let v = list(row, a);
        let v = if v.is_empty() { list(row, b) } else { v };
        v.first()
            .cloned()
            .unwrap_or_else(|| panic!("row without {a}/{b}: {row:?}"))
    };
    (
        pick("ip.src", "ipv6.src").parse().unwrap(),
        pick("tcp.srcport", "udp.srcport").parse().unwrap(),
        pick("ip.dst", "ipv6.dst").parse().unwrap(),
        pick("tcp.dstport", "udp.dstport").parse().unwrap(),
    )
}

fn row_is_tcp(row: &Row) -> bool {
    !col(row, "tcp.srcport").is_empty()
}

/// The first id-at-commonName of tshark's x509.subject rendering.
fn subject_cn(subject: &str) -> Option<String> {
    let start = subject.find("id-at-commonName=")? + "id-at-commonName=".len();
    let rest = &subject[start..];
    let end = [",id-at-", ",pkcs-9-", ")"]
        .iter()
        .filter_map(|sep| rest.find(sep))
        .min()
        .unwrap_or(rest.len());
    Some(rest[..end].to_string())
}

// ---------------------------------------------------------------------------------------
// Expected records
// ---------------------------------------------------------------------------------------

/// One expected record: its template kind and, per field, the accepted values (the
/// truth's own first).
#[derive(Clone, Debug)]
struct Want {
    class: &'static str,
    frame: usize,
    kind: String,
    fields: Vec<(&'static str, Vec<Value>)>,
    flow: FlowKey,
    /// The UDP response came in IP fragments; tshark reassembled it in this frame.
    fragmented: bool,
    /// Part of an HTTP message tshark reassembled from IP fragments.
    http_fragmented: bool,
}

impl Want {
    fn field_ok(&self, r: &DecodedRecord, name: &str, accepted: &[Value]) -> bool {
        r.get(name).is_some_and(|v| accepted.contains(v))
    }

    fn matches(&self, r: &DecodedRecord) -> bool {
        r.kind.as_deref() == Some(self.kind.as_str())
            && self.fields.iter().all(|(n, acc)| self.field_ok(r, n, acc))
    }

    /// The fields of `r` that differ, as `NAME want W got G`.
    fn diff(&self, r: &DecodedRecord) -> Vec<String> {
        self.fields
            .iter()
            .filter(|(n, acc)| !self.field_ok(r, n, acc))
            .map(|(n, acc)| match (acc.as_slice(), r.get(n)) {
                ([Value::Str(w)], Some(Value::Str(g))) if w.len() + g.len() > 160 => {
                    // Long strings: where they part.
                    let at = w.bytes().zip(g.bytes()).take_while(|(a, b)| a == b).count();
                    let ctx = |t: &str| -> String {
                        t.get(at.saturating_sub(20)..)
                            .unwrap_or("")
                            .chars()
                            .take(60)
                            .collect()
                    };
                    format!(
                        "{n} (want {} octets, got {}) differ at octet {at}: want …{}… got …{}…",
                        w.len(),
                        g.len(),
                        ctx(w),
                        ctx(g)
                    )
                }
                _ => {
                    let want: Vec<String> = acc.iter().map(Value::to_text).collect();
                    let got = r.get(n).map_or("(absent)".to_string(), Value::to_text);
                    format!("{n} want {} got {got}", want.join(" or "))
                }
            })
            .collect()
    }

    fn describe(&self) -> String {
        let f: Vec<String> = self
            .fields
            .iter()
            .filter(|(n, _)| {
                !matches!(
                    *n,
                    "LOGIN" | "LOCKED" | "BRIDGE_CHANNEL_NUM" | "PATH" | "REFER" | "COOKIE"
                )
            })
            .map(|(n, acc)| format!("{n}={}", acc.first().map_or(String::new(), Value::to_text)))
            .collect();
        format!(
            "{} frame {} {}: {}",
            self.class,
            self.frame,
            self.kind,
            f.join(" ")
        )
    }
}

fn u(v: u64) -> Vec<Value> {
    vec![Value::Unsigned(v)]
}

fn s(v: &str) -> Vec<Value> {
    vec![Value::Str(v.to_string())]
}

fn b(v: Vec<u8>) -> Vec<Value> {
    vec![Value::Bytes(v)]
}

/// Everything a capture's records are checked against.
struct Truth<'a> {
    cap: &'a Capture,
    rows: Vec<Row>,
    wants: Vec<Want>,
    /// Rows of known limits that are expected to have no record, with why.
    not_exported: Vec<String>,
}

impl<'a> Truth<'a> {
    /// The truth of a capture: its tshark rows (none for a generated capture, whose truth
    /// is the generator's own TSVs).
    fn new(cap: &'a Capture) -> Truth<'a> {
        let path = fixtures_dir().join(format!("{}.truth.tsv", cap.name));
        let rows = if cap.name == GENERATED || cap.name == MAIL_GENERATED {
            Vec::new()
        } else {
            read_tsv(&path)
        };
        Truth {
            cap,
            rows,
            wants: Vec::new(),
            not_exported: Vec::new(),
        }
    }

    fn section(&self, s: &str) -> Vec<Row> {
        self.rows
            .iter()
            .filter(|r| col(r, "section") == s)
            .cloned()
            .collect()
    }

    /// A truth row of `frame` (any section: every row has the common columns).
    fn row_of_frame(&self, frame: usize) -> Option<&Row> {
        self.rows.iter().find(|r| frame_no(r) == frame)
    }

    /// Frames tshark reassembled IP fragments in.
    fn ip_reassembled_frames(&self) -> BTreeSet<usize> {
        self.rows
            .iter()
            .filter(|r| col(r, "section") == "encap")
            .flat_map(|r| {
                [col(r, "ip.reassembled_in"), col(r, "ipv6.reassembled.in")]
                    .into_iter()
                    .filter(|v| !v.is_empty())
                    .map(|v| v.parse::<usize>().unwrap())
                    .collect::<Vec<_>>()
            })
            .collect()
    }

    /// The fields every record has, for a record carried by frame `frame` from `t.0` to
    /// `t.2` (`ports`: the template has ports). VLAN ids from the truth row of `frame`
    /// (checked against the frame's bytes), MACs and MPLS entries from the frame's bytes
    /// (labels checked against the truth).
    fn common(&self, frame: usize, t: Tuple, ports: bool) -> Vec<(&'static str, Vec<Value>)> {
        let l = self.cap.frame(frame);
        let v6 = t.0.is_ipv6();
        let mut f: Vec<(&'static str, Vec<Value>)> = Vec::new();
        let addr = |a: IpAddr| match a {
            IpAddr::V4(a) => vec![Value::Ipv4(a)],
            IpAddr::V6(a) => vec![Value::Ipv6(a)],
        };
        if v6 {
            f.push(("IP_SOURCE_V6", addr(t.0)));
            f.push(("IP_DESTINATION_V6", addr(t.2)));
        } else {
            f.push(("IP_SOURCE", addr(t.0)));
            f.push(("IP_DESTINATION", addr(t.2)));
        }
        if ports {
            f.push(("PORT_SOURCE", u(t.1.into())));
            f.push(("PORT_DESTINATION", u(t.3.into())));
        }
        // VLANs: 802.1ad S-tag first, then the 802.1Q tags, outermost first.
        let vlans: Vec<u16> = match self.row_of_frame(frame) {
            Some(row) => list(row, "ieee8021ad.id")
                .iter()
                .chain(list(row, "vlan.id").iter())
                .map(|v| v.parse().unwrap())
                .collect(),
            None => l.vlans.clone(),
        };
        assert_eq!(
            vlans, l.vlans,
            "{} frame {frame}: truth VLANs vs the frame's tags",
            self.cap.name
        );
        f.push(("vlanId", u(vlans.first().copied().unwrap_or(0).into())));
        f.push(("postVlanId", u(vlans.get(1).copied().unwrap_or(0).into())));
        if let Some(row) = self.row_of_frame(frame) {
            let labels: Vec<u32> = list(row, "mpls.label")
                .iter()
                .map(|v| v.parse().unwrap())
                .collect();
            let ours: Vec<u32> = l
                .mpls
                .chunks(4)
                .map(|e| u32::from_be_bytes([e[0], e[1], e[2], e[3]]) >> 12)
                .collect();
            assert_eq!(labels, ours, "{} frame {frame}: MPLS labels", self.cap.name);
        }
        f.push(("sourceMacAddress", vec![Value::Mac(l.src_mac)]));
        f.push(("postDestinationMacAddress", vec![Value::Mac(l.dst_mac)]));
        f.push(("MPLS_LABELS", b(l.mpls.clone())));
        f.push(("LOGIN", s("")));
        f.push(("BRIDGE_CHANNEL_NUM", u(0)));
        f
    }

    fn push(
        &mut self,
        class: &'static str,
        frame: usize,
        kind: &str,
        tcp: bool,
        t: Tuple,
        fields: Vec<(&'static str, Vec<Value>)>,
    ) {
        let kind = if t.0.is_ipv6() {
            format!("{kind}_v6")
        } else {
            kind.to_string()
        };
        self.wants.push(Want {
            class,
            frame,
            kind,
            fields,
            flow: flow_key(tcp, t),
            fragmented: false,
            http_fragmented: false,
        });
    }

    /// Clickstream fields of a ClientHello row (TLS or QUIC).
    fn hello_fields(row: &Row) -> Vec<(&'static str, Vec<Value>)> {
        let suites: Vec<u16> = list(row, "tls.handshake.ciphersuite")
            .iter()
            .map(|v| hex16(v))
            .collect();
        let raw: Vec<u8> = suites
            .iter()
            .take(16)
            .flat_map(|s| s.to_be_bytes())
            .collect();
        vec![
            ("CipherSuitesLen", u(2 * suites.len() as u64)),
            ("CipherSuites", b(raw)),
        ]
    }

    fn request_defaults(f: &mut Vec<(&'static str, Vec<Value>)>) {
        for n in ["PATH", "REFER", "USER_AGENT", "COOKIE"] {
            f.push((n, s("")));
        }
        f.push(("LOCKED", u(0)));
        f.push(("METHOD", u(0)));
    }

    /// TLS over TCP: ClientHellos, ServerHellos, certificates.
    fn tls(&mut self) {
        let leaves: Vec<Row> = self
            .section("tls_certificate")
            .into_iter()
            .filter(|r| col(r, "x509.cert_index").split('|').next() == Some("0"))
            .collect();
        // The leaf certificate's CN of the connection whose server sent `t`.
        let leaf_cn = |t: Tuple| -> Option<String> {
            leaves
                .iter()
                .find(|r| row_tuple(r) == t)
                .and_then(|r| subject_cn(col(r, "x509.subject")))
        };
        for row in self.section("tls_client_hello") {
            let frame = frame_no(&row);
            let t = row_tuple(&row);
            let sni = col(&row, "tls.handshake.extensions_server_name").to_string();
            let reverse = (t.2, t.3, t.0, t.1);
            let mut f = self.common(frame, t, true);
            f.extend(Self::hello_fields(&row));
            Self::request_defaults(&mut f);
            if !sni.is_empty() {
                let seq = self
                    .cap
                    .first_seq(t, |p| p.starts_with(&[0x16, 0x03]) && p.get(5) == Some(&1))
                    .unwrap_or_else(|| {
                        panic!("{} frame {frame}: no ClientHello segment", self.cap.name)
                    });
                f.push(("HOSTNAME", s(&sni)));
                f.push(("HOST_TYPE", u(3)));
                f.push(("TCP_SEQUENCE", u(seq.into())));
                self.push("tls_client_hello", frame, "clickstream", true, t, f);
            } else if let Some(cn) = leaf_cn(reverse) {
                // No SNI: the certificate names the host; no cipher suites.
                let seq = self
                    .cap
                    .first_seq(reverse, |p| {
                        p.starts_with(&[0x16, 0x03]) && p.get(5) == Some(&2)
                    })
                    .unwrap_or_else(|| {
                        panic!("{} frame {frame}: no ServerHello segment", self.cap.name)
                    });
                f.retain(|(n, _)| *n != "CipherSuitesLen" && *n != "CipherSuites");
                f.push(("CipherSuitesLen", u(0)));
                f.push(("CipherSuites", b(Vec::new())));
                f.push(("HOSTNAME", s(&cn)));
                f.push(("HOST_TYPE", u(2)));
                f.push(("TCP_SEQUENCE", u(seq.into())));
                self.push("clickstream_cname", frame, "clickstream", true, t, f);
            } else {
                self.not_exported.push(format!(
                    "tls_client_hello frame {frame}: no SNI and no certificate CN in clear (no record by design)"
                ));
            }
        }
        for row in self.section("tls_server_hello") {
            let frame = frame_no(&row);
            let t = row_tuple(&row);
            let mut f = self.common(frame, t, false);
            let sv = col(&row, "tls.handshake.extensions.supported_version");
            let version = if sv.is_empty() {
                col(&row, "tls.handshake.version")
            } else {
                sv
            };
            f.push(("SSL_VERSION", u(hex16(version).into())));
            f.push((
                "CIPHER_SUITE",
                u(hex16(col(&row, "tls.handshake.ciphersuite")).into()),
            ));
            f.push(("COMPRESSION_METHOD", u(0)));
            match leaf_cn(t) {
                Some(cn) => {
                    f.push(("HOST_TYPE", u(2)));
                    f.push(("HOSTNAME", s(&cn)));
                }
                None => {
                    f.push(("HOST_TYPE", u(0)));
                    f.push(("HOSTNAME", s("")));
                }
            }
            self.push("tls_server_hello", frame, "tls_reply", true, t, f);
        }
    }

    /// QUIC Initials: client ClientHellos → HOST_TYPE 4, server ServerHellos → tls_reply.
    fn quic(&mut self) {
        for row in self.section("quic_initial") {
            let frame = frame_no(&row);
            let types = list(&row, "tls.handshake.type");
            if types.iter().any(|t| t == "2") {
                let t = row_tuple(&row);
                let mut f = self.common(frame, t, false);
                let version = [
                    "tls.handshake.extensions.supported_version",
                    "tls.handshake.version",
                ]
                .into_iter()
                .map(|c| col(&row, c))
                .find(|v| !v.is_empty())
                .map_or(0x0304, hex16);
                f.push(("SSL_VERSION", u(version.into())));
                f.push((
                    "CIPHER_SUITE",
                    u(hex16(col(&row, "tls.handshake.ciphersuite")).into()),
                ));
                f.push(("COMPRESSION_METHOD", u(0)));
                f.push(("HOST_TYPE", u(0)));
                f.push(("HOSTNAME", s("")));
                self.push("quic_server_hello", frame, "tls_reply", false, t, f);
                continue;
            }
            if !types.iter().any(|t| t == "1") {
                continue; // no ClientHello complete here (or a server Initial without one)
            }
            let t = row_tuple(&row);
            let sni = col(&row, "tls.handshake.extensions_server_name").to_string();
            assert!(
                !sni.is_empty(),
                "{} frame {frame}: QUIC without SNI",
                self.cap.name
            );
            let mut f = self.common(frame, t, true);
            f.extend(Self::hello_fields(&row));
            Self::request_defaults(&mut f);
            f.push(("HOSTNAME", s(&sni)));
            f.push(("HOST_TYPE", u(4)));
            f.push(("TCP_SEQUENCE", u(0)));
            self.push("clickstream_quic", frame, "clickstream", false, t, f);
        }
    }

    /// DNS answers, and stand-ins for responses without answers.
    fn dns(&mut self) {
        let reassembled = self.ip_reassembled_frames();
        let answers = read_tsv(&fixtures_dir().join(format!("{}.dns_answers.tsv", self.cap.name)));
        let mut with_answers = BTreeSet::new();
        for a in &answers {
            let frame: usize = col(a, "frame").parse().unwrap();
            with_answers.insert(frame);
            let transport: u64 = col(a, "transport").parse().unwrap();
            let t: Tuple = (
                col(a, "src").parse().unwrap(),
                col(a, "psrc").parse().unwrap(),
                col(a, "dst").parse().unwrap(),
                col(a, "pdst").parse().unwrap(),
            );
            let mut f = self.common(frame, t, true);
            let mut rdata = b(unhex(col(a, "rdata")));
            rdata.extend(list(a, "rdata_alt").iter().map(|h| Value::Bytes(unhex(h))));
            f.push(("TRANSPORT", u(transport)));
            f.push(("DOMAIN", s(col(a, "domain"))));
            f.push(("RRTYPE", u(col(a, "rrtype").parse().unwrap())));
            f.push(("RRCLASS", u(col(a, "rrclass").parse().unwrap())));
            f.push(("TTL", u(col(a, "ttl").parse().unwrap())));
            f.push(("RDATA", rdata));
            self.push("dns_answer", frame, "dns", transport == 1, t, f);
            if transport == 0 && reassembled.contains(&frame) {
                self.wants.last_mut().unwrap().fragmented = true;
            }
        }
        for row in self.section("dns") {
            let frame = frame_no(&row);
            if with_answers.contains(&frame) {
                continue;
            }
            let responses = list(&row, "dns.flags.response");
            let names = list(&row, "dns.qry.name");
            let types = list(&row, "dns.qry.type");
            let tcp = row_is_tcp(&row);
            let t = row_tuple(&row);
            for (k, r) in responses.iter().enumerate() {
                if r != "1" {
                    continue;
                }
                assert_eq!(
                    responses.len(),
                    names.len(),
                    "{} frame {frame}",
                    self.cap.name
                );
                let mut f = self.common(frame, t, true);
                f.push(("TRANSPORT", u(u64::from(tcp))));
                f.push(("DOMAIN", s(&names[k])));
                f.push(("RRTYPE", u(types[k].parse().unwrap())));
                f.push(("RRCLASS", u(1)));
                f.push(("TTL", u(0)));
                f.push(("RDATA", b(Vec::new())));
                self.push("dns_question", frame, "dns", tcp, t, f);
                if !tcp && reassembled.contains(&frame) {
                    self.wants.last_mut().unwrap().fragmented = true;
                }
            }
        }
    }

    /// HTTP requests and replies.
    fn http(&mut self) {
        let reassembled = self.ip_reassembled_frames();
        // Per client direction: the reassembled stream and where each segment lies in it.
        let mut streams: HashMap<Tuple, Stream> = HashMap::new();
        for l in self.cap.layers.iter().filter(|l| l.tcp) {
            let Some(t) = tuple_of(l) else { continue };
            streams.entry(t).or_default().push(l);
        }
        // Where the last request of each direction was found, to find the next after it.
        let mut cursor: HashMap<Tuple, usize> = HashMap::new();
        for row in self.section("http_request") {
            let frame = frame_no(&row);
            let t = row_tuple(&row);
            let methods = list(&row, "http.request.method");
            let n = methods.len().max(1);
            // Column values of request k: split by '|' when the column has one per request.
            let value = |key: &str, k: usize| -> Vec<Value> {
                let whole = col(&row, key);
                if n == 1 {
                    return s(whole);
                }
                let parts: Vec<&str> = whole.split('|').collect();
                if parts.len() == n {
                    s(parts[k])
                } else if whole.is_empty() {
                    s("")
                } else {
                    // Not one value per request: any of them, or absent.
                    let mut v: Vec<Value> =
                        parts.iter().map(|p| Value::Str(p.to_string())).collect();
                    v.push(Value::Str(String::new()));
                    v
                }
            };
            for (k, method) in methods.iter().enumerate() {
                let uri = value("http.request.uri", k);
                let Some(Value::Str(uri_text)) = uri.first().cloned() else {
                    unreachable!()
                };
                let code = match method.as_str() {
                    "GET" => 1,
                    "POST" => 2,
                    "PUT" => 3,
                    "DELETE" => 4,
                    _ => 0,
                };
                let mut f = self.common(frame, t, true);
                f.push(("HOSTNAME", value("http.host", k)));
                f.push(("PATH", uri));
                f.push(("REFER", value("http.referer", k)));
                f.push(("USER_AGENT", value("http.user_agent", k)));
                // Several Cookie lines: tshark joins them with its '|' aggregator; a
                // record joins them as one header would ("; ", RFC 6265 5.4).
                let mut cookie = value("http.cookie", k);
                if n == 1
                    && let Some(Value::Str(c)) = cookie.first().cloned()
                    && c.contains('|')
                {
                    cookie.push(Value::Str(c.replace('|', "; ")));
                }
                f.push(("COOKIE", cookie));
                f.push(("LOCKED", u(0)));
                f.push(("METHOD", u(code)));
                f.push(("HOST_TYPE", u(1)));
                f.push(("CipherSuitesLen", u(0)));
                f.push(("CipherSuites", b(Vec::new())));
                let fragmented = reassembled.contains(&frame);
                if !fragmented {
                    let line = format!("{method} {uri_text} ");
                    let st = streams.get(&t).unwrap_or_else(|| {
                        panic!("{} frame {frame}: no TCP stream", self.cap.name)
                    });
                    let from = cursor.get(&t).copied().unwrap_or(0);
                    let at = st.find(line.as_bytes(), from).unwrap_or_else(|| {
                        panic!(
                            "{} frame {frame}: request line {line:?} not in the stream",
                            self.cap.name
                        )
                    });
                    cursor.insert(t, at + 1);
                    f.push(("TCP_SEQUENCE", u(st.seq_at(at).into())));
                }
                self.push("http_request", frame, "clickstream", true, t, f);
                if fragmented {
                    let w = self.wants.last_mut().unwrap();
                    w.http_fragmented = true;
                }
            }
        }
        for row in self.section("http_response") {
            let frame = frame_no(&row);
            let t = row_tuple(&row);
            let codes = list(&row, "http.response.code");
            let n = codes.len();
            for (k, code) in codes.iter().enumerate() {
                let value = |key: &str| -> Vec<Value> {
                    let whole = col(&row, key);
                    if n == 1 {
                        return s(whole);
                    }
                    let parts: Vec<&str> = whole.split('|').collect();
                    if parts.len() == n {
                        s(parts[k])
                    } else if whole.is_empty() {
                        s("")
                    } else {
                        let mut v: Vec<Value> =
                            parts.iter().map(|p| Value::Str(p.to_string())).collect();
                        v.push(Value::Str(String::new()));
                        v
                    }
                };
                let lens = list(&row, "http.content_length");
                let len: Vec<Value> = if lens.len() == n {
                    u(lens[k].parse().unwrap())
                } else if lens.is_empty() {
                    u(0)
                } else {
                    let mut v: Vec<Value> = lens
                        .iter()
                        .map(|l| Value::Unsigned(l.parse().unwrap()))
                        .collect();
                    v.push(Value::Unsigned(0));
                    v
                };
                let mut f = self.common(frame, t, false);
                f.push(("RESULT_CODE", u(code.parse().unwrap())));
                f.push(("CONTENT_LENGTH", len));
                f.push(("CONTENT_TYPE", value("http.content_type")));
                f.push(("LOCATION", value("http.location")));
                self.push("http_reply", frame, "http_reply", true, t, f);
            }
        }
    }

    /// HTTP replies tshark leaves out of the truth: with `http.desegment_body` it shows a
    /// reply only once its whole body is there, so a reply whose body the capture cuts off
    /// is missing. Checked by hand with `tshark -o http.desegment_body:FALSE -Y
    /// http.response`: (capture, frame, status, Content-Length, Content-Type).
    const REPLIES_BODY_CUT: &'static [(&'static str, usize, u64, u64, &'static str)] = &[(
        "qinq_8100_8100_http_get.pcap",
        6,
        200,
        104_548,
        "text/html; charset=utf-8",
    )];

    fn replies_body_cut(&mut self) {
        for &(name, frame, code, len, ctype) in Self::REPLIES_BODY_CUT {
            if name != self.cap.name {
                continue;
            }
            let t = tuple_of(self.cap.frame(frame)).unwrap();
            let mut f = self.common(frame, t, false);
            f.push(("RESULT_CODE", u(code)));
            f.push(("CONTENT_LENGTH", u(len)));
            f.push(("CONTENT_TYPE", s(ctype)));
            f.push(("LOCATION", s("")));
            self.push("http_reply", frame, "http_reply", true, t, f);
        }
    }

    /// The rows of the capture's derived truth `<capture>.<suffix>`; none when the capture
    /// has no such file.
    fn derived(&self, suffix: &str) -> Vec<Row> {
        let path = fixtures_dir().join(format!("{}.{suffix}", self.cap.name));
        if path.exists() {
            read_tsv(&path)
        } else {
            Vec::new()
        }
    }

    /// The fields every meta record has: the common ones but ports and
    /// BRIDGE_CHANNEL_NUM (the meta templates have neither).
    fn meta_common(&self, frame: usize, t: Tuple) -> Vec<(&'static str, Vec<Value>)> {
        let mut f = self.common(frame, t, false);
        f.retain(|(n, _)| *n != "BRIDGE_CHANNEL_NUM");
        f
    }

    /// SIP: `<capture>.sip_records.tsv` (the records the shared `tools/pcap_truth.py` derives
    /// from tshark, see `dataplane/tests/fixtures/sip_ftp_tsv.py`) → one sip record each, from
    /// the packet that carried the message.
    fn sip(&mut self) {
        for row in self.derived("sip_records.tsv") {
            let frame: usize = col(&row, "frame").parse().unwrap();
            let l = self.cap.frame(frame);
            let t = tuple_of(l).unwrap();
            let addrs: (IpAddr, IpAddr) = (
                col(&row, "src").parse().unwrap(),
                col(&row, "dst").parse().unwrap(),
            );
            assert_eq!((t.0, t.2), addrs, "{} frame {frame}", self.cap.name);
            let tcp = l.tcp;
            let mut f = self.meta_common(frame, t);
            f.extend(sip_fields(&row));
            self.push("sip", frame, "sip", tcp, t, f);
        }
    }

    /// FTP: every login attempt and mode setting of the control connections in the truth's
    /// `ftp` rows, each command answered by the next final (≥ 200) reply of its connection
    /// (these captures pipeline no command). A record is the client's request: the
    /// addresses and L2 fields of the command's frame.
    fn ftp(&mut self) {
        let mut conns: BTreeMap<FlowKey, Vec<Row>> = BTreeMap::new();
        for row in self.section("ftp") {
            conns
                .entry(flow_key(true, row_tuple(&row)))
                .or_default()
                .push(row);
        }
        for rows in conns.values() {
            let reply_after = |i: usize| -> u64 {
                rows[i + 1..]
                    .iter()
                    .filter_map(|r| col(r, "ftp.response.code").parse::<u64>().ok())
                    .find(|&code| code >= 200)
                    .unwrap()
            };
            let (mut user, mut mode) = (String::new(), 0);
            for (i, row) in rows.iter().enumerate() {
                let arg = col(row, "ftp.request.arg").to_string();
                let (class, password, set, code) = match col(row, "ftp.request.command")
                    .to_ascii_uppercase()
                    .as_str()
                {
                    "USER" => {
                        user = arg;
                        match reply_after(i) {
                            331 | 332 => continue, // the attempt goes on with PASS
                            code => ("ftp_login", String::new(), mode, code),
                        }
                    }
                    "PASS" => ("ftp_login", arg, mode, reply_after(i)),
                    cmd @ ("PORT" | "EPRT" | "PASV" | "EPSV") => {
                        let set = u64::from(!matches!(cmd, "PORT" | "EPRT"));
                        let code = reply_after(i);
                        if (200..300).contains(&code) {
                            mode = set;
                        }
                        ("ftp_mode", String::new(), set, code)
                    }
                    _ => continue,
                };
                // The greetings of these captures name no host ("FTP Sandbox Ready.",
                // "(vsFTPd 3.0.3)") and no client sends HOST.
                let mut f = self.meta_common(frame_no(row), row_tuple(row));
                f.extend(ftp_fields("", &user, &password, set, code));
                self.push(class, frame_no(row), "ftp", true, row_tuple(row), f);
            }
        }
    }

    /// FTP of the generated capture: `<capture>.ftp_logins.tsv` (one row per control
    /// connection, its USER frame) and mkpcap's dialog: 220, USER → 331, PASS → 230, then
    /// PASV → 227 over IPv4 or EPSV → 229 over IPv6, QUIT.
    fn ftp_generated(&mut self) {
        for row in self.derived("ftp_logins.tsv") {
            let frame: usize = col(&row, "frame").parse().unwrap();
            let t = tuple_of(self.cap.frame(frame)).unwrap();
            let (user, password) = (col(&row, "user"), col(&row, "password"));
            let mut f = self.meta_common(frame, t);
            f.extend(ftp_fields("", user, password, 0, 230));
            self.push("ftp_login", frame, "ftp", true, t, f);
            let mut f = self.meta_common(frame, t);
            let code = if t.0.is_ipv6() { 229 } else { 227 };
            f.extend(ftp_fields("", user, "", 1, code));
            self.push("ftp_mode", frame, "ftp", true, t, f);
        }
    }

    /// Raw metadata: one record per frame with payload of each flow `of` names (with the
    /// flow its records are joined to by SESSION_ID — itself, or an FTP data connection's
    /// control connection — and its VDPI_PROTO), META_PROTO `meta`, RAW_DATA the payload's
    /// first `max` octets. Every frame enters on port 0: FLW_DIR 0. DIR_DATA: 0 from the
    /// client — the sender of the SYN (TCP) or of the flow's first packet (UDP).
    fn raw(&mut self, of: impl Fn(&FlowKey) -> Option<(FlowKey, u64)>, meta: u64, max: usize) {
        let mut clients: HashMap<FlowKey, (IpAddr, u16)> = HashMap::new();
        for l in &self.cap.layers {
            if let Some(t) = tuple_of(l)
                && (!l.tcp || l.syn)
            {
                clients.entry(flow_key(l.tcp, t)).or_insert((t.0, t.1));
            }
        }
        for (i, l) in self.cap.layers.iter().enumerate() {
            let Some(t) = tuple_of(l) else { continue };
            let flow = flow_key(l.tcp, t);
            let Some((owner, dpi)) = of(&flow) else {
                continue;
            };
            if l.payload.is_empty() || l.later_fragment {
                continue;
            }
            let frame = i + 1;
            let from_client = match clients.get(&flow) {
                Some(c) => *c == (t.0, t.1),
                // No SYN seen: the dataplane takes the end with the higher port.
                None => l.tcp && t.1 > t.3,
            };
            let data = &l.payload[..l.payload.len().min(max)];
            let mut f = self.meta_common(frame, t);
            f.extend([
                ("FLW_DIR", u(0)),
                ("DIR_DATA", u(u64::from(!from_client))),
                ("VDPI_PROTO", u(dpi)),
                ("META_PROTO", u(meta)),
                ("RAW_DATA", s(&String::from_utf8_lossy(data))),
                ("protocolIdentifier", u(if l.tcp { 6 } else { 17 })),
                ("sourceTransportPort", u(t.1.into())),
                ("destinationTransportPort", u(t.3.into())),
                ("tcpControlBits", u(l.flags.into())),
                ("TCP_SEQUENCE", u(if l.tcp { l.seq.into() } else { 0 })),
            ]);
            self.push("raw_meta", frame, "raw_meta", l.tcp, t, f);
            self.wants.last_mut().unwrap().flow = owner;
        }
    }

    /// XMPP (`xmpp` rows; tshark dissects port 5222 only, where all of these sessions are):
    /// per connection, a login record when the SASL exchange is answered — SUCCESS, given
    /// with the JID of the bind result (IM_SCREEN_NAME, RESULT_CODE 0), and FAILURE
    /// (RESULT_CODE 10: these failures say `<not-authorized/>`) — and one record per
    /// MESSAGE the client sends, IM_RECEIVERS its `xmpp.to`. IM_PROTOCOL 7. A login record
    /// is the client's (the L2 fields of its last frame before the answer); IM_LOGIN is
    /// DIGEST-MD5's `username`, inside the base64 of the RESPONSE frames, which tshark does
    /// not decode: "tom" in every session here (`base64 -d` of frames 17 and 147). On a
    /// connection picked up mid-stream, the JID is whom the server's stanzas are addressed
    /// to (its first `xmpp.to`).
    fn xmpp(&mut self) {
        let mut flows: BTreeMap<FlowKey, Vec<Row>> = BTreeMap::new();
        for row in self.section("xmpp") {
            flows
                .entry(flow_key(true, row_tuple(&row)))
                .or_default()
                .push(row);
        }
        for rows in flows.values() {
            let from_client = |r: &Row| col(r, "tcp.dstport") == "5222";
            let info = |r: &Row| col(r, "_ws.col.Info").to_string();
            let bound = rows
                .iter()
                .map(|r| col(r, "xmpp.iq.bind.jid"))
                .find(|j| !j.is_empty());
            let addressed = rows
                .iter()
                .filter(|r| !from_client(r))
                .map(|r| col(r, "xmpp.to"))
                .find(|j| !j.is_empty());
            let jid = bound.or(addressed).unwrap_or("").to_string();
            let authed = rows.iter().any(|r| info(r).starts_with("AUTH"));
            let login = if authed { "tom" } else { "" };
            let client_before = |frame: usize| {
                rows.iter()
                    .filter(|r| from_client(r) && frame_no(r) < frame)
                    .map(frame_no)
                    .next_back()
                    .unwrap()
            };
            for row in rows {
                let (frame, i) = (frame_no(row), info(row));
                let (frame, receivers, screen_name, code) = if i.contains("MESSAGE >") {
                    (frame, col(row, "xmpp.to"), jid.as_str(), 0)
                } else if i.starts_with("IQ(result) BIND") && authed {
                    (client_before(frame), "", jid.as_str(), 0)
                } else if i.starts_with("FAILURE") {
                    (client_before(frame), "", "", 10)
                } else {
                    continue;
                };
                let t = tuple_of(self.cap.frame(frame)).unwrap();
                let mut f = self.meta_common(frame, t);
                f.extend([
                    ("IM_LOGIN", s(login)),
                    ("IM_PASSW", s("")),
                    ("IM_SCREEN_NAME", s(screen_name)),
                    ("IM_UIN", s("")),
                    ("IM_PROTOCOL", u(7)),
                    ("IM_RECEIVERS", s(receivers)),
                    ("RESULT_CODE", u(code)),
                ]);
                let class = if receivers.is_empty() {
                    "im_login"
                } else {
                    "im_message"
                };
                self.push(class, frame, "im", true, t, f);
            }
        }
    }

    /// OSCAR (`oscar` rows, tshark told `-d tcp.port==443,aim`): the account the client
    /// signs on with — the server's own-info SNAC 0x0001/0x000f names it, `aim.buddyname`:
    /// IM_UIN for a number (an ICQ account), RESULT_CODE 0; the client's record, so the
    /// L2 fields of the client's last frame before — and one record per message the client
    /// sends ("Outgoing to:", SNAC 0x0004/0x0006), IM_RECEIVERS its `aim.buddyname`.
    /// IM_PROTOCOL 0.
    fn oscar(&mut self) {
        let rows = self.section("oscar");
        let server_port = |r: &Row| col(r, "tcp.srcport") == "443";
        for row in &rows {
            let frame = frame_no(row);
            let snacs: Vec<(String, String)> = list(row, "aim.fnac.family")
                .into_iter()
                .zip(list(row, "aim.fnac.subtype"))
                .collect();
            let has = |f: &str, s: &str| snacs.iter().any(|(a, b)| a == f && b == s);
            let buddy = col(row, "aim.buddyname").to_string();
            let (frame, uin, receivers) = if !server_port(row) && has("0x0004", "0x0006") {
                (frame, String::new(), buddy)
            } else if server_port(row) && has("0x0001", "0x000f") {
                let before = rows
                    .iter()
                    .filter(|r| !server_port(r) && frame_no(r) < frame)
                    .map(frame_no)
                    .next_back()
                    .unwrap();
                (before, buddy, String::new())
            } else {
                continue;
            };
            let t = tuple_of(self.cap.frame(frame)).unwrap();
            let mut f = self.meta_common(frame, t);
            f.extend([
                ("IM_LOGIN", s("")),
                ("IM_PASSW", s("")),
                ("IM_SCREEN_NAME", s("")),
                ("IM_UIN", s(&uin)),
                ("IM_PROTOCOL", u(0)),
                ("IM_RECEIVERS", s(&receivers)),
                ("RESULT_CODE", u(0)),
            ]);
            let class = if receivers.is_empty() {
                "im_login"
            } else {
                "im_message"
            };
            self.push(class, frame, "im", true, t, f);
        }
    }

    /// Mail: `<capture>.mail_records.tsv` (the messages tshark sees sent or retrieved, see
    /// `dataplane/tests/fixtures/mail_tsv.py`) → one mail record each, on the packet that
    /// carried the message; a column left empty there is not compared.
    fn mail(&mut self) {
        for row in self.derived("mail_records.tsv") {
            let frame: usize = col(&row, "frame").parse().unwrap();
            let l = self.cap.frame(frame);
            let t = tuple_of(l).unwrap();
            let addrs: (IpAddr, IpAddr) = (
                col(&row, "src").parse().unwrap(),
                col(&row, "dst").parse().unwrap(),
            );
            assert_eq!((t.0, t.2), addrs, "{} frame {frame}", self.cap.name);
            let mut f = self.meta_common(frame, t);
            f.extend(mail_fields(&row));
            self.push("mail", frame, "mail", true, t, f);
        }
    }

    fn all(cap: &'a Capture) -> Truth<'a> {
        let mut t = Truth::new(cap);
        t.tls();
        t.quic();
        if !t.section("dns").is_empty() {
            t.dns();
        }
        t.http();
        t.replies_body_cut();
        t.sip();
        t.ftp();
        t.ftp_generated();
        t.xmpp();
        t.oscar();
        t.mail();
        t
    }
}

/// The mail fields of a `mail_records.tsv` row (empty servers/reply/result: not compared).
fn mail_fields(row: &Row) -> Vec<(&'static str, Vec<Value>)> {
    let mut f: Vec<(&'static str, Vec<Value>)> = [
        ("MAIL_SENDER", "sender"),
        ("MAIL_RECEIVER", "receiver"),
        ("MAIL_CC", "cc"),
        ("MAIL_SUBJECT", "subject"),
    ]
    .into_iter()
    .map(|(f, c)| (f, s(&unescape(col(row, c)))))
    .collect();
    for (field, column) in [("EVENT", "event"), ("MAIL_PROTOCOL", "protocol")] {
        f.push((field, u(col(row, column).parse().unwrap())));
    }
    if !col(row, "servers").is_empty() {
        f.push(("MAIL_SERVERS", s(&unescape(col(row, "servers")))));
        f.push(("MAIL_REPLY", s(&unescape(col(row, "reply")))));
    }
    f.push(("RESULT_CODE", u(col(row, "result_code").parse().unwrap())));
    f
}

/// The SIP fields of a `sip_records.tsv` row.
fn sip_fields(row: &Row) -> Vec<(&'static str, Vec<Value>)> {
    let mut f: Vec<(&'static str, Vec<Value>)> = [
        ("MSG_CODE", "msg_code"),
        ("URI", "uri"),
        ("FROM", "from"),
        ("TO", "to"),
        ("CALLID", "callid"),
        ("UAGENT", "uagent"),
        ("CTYPE", "ctype"),
        ("GATEWAYS", "gateways"),
    ]
    .into_iter()
    .map(|(name, column)| (name, s(&unescape(col(row, column)))))
    .collect();
    f.push(("STATUS_CODE", u(col(row, "status_code").parse().unwrap())));
    f
}

/// The fields of an FTP record.
fn ftp_fields(
    server: &str,
    user: &str,
    password: &str,
    mode: u64,
    code: u64,
) -> Vec<(&'static str, Vec<Value>)> {
    vec![
        ("SERVER_NAME", s(server)),
        ("USER", s(user)),
        ("PASSWORD", s(password)),
        ("MODE", u(mode)),
        ("RESULT_CODE", u(code)),
    ]
}

/// One TCP direction reassembled from its first segment, with each segment's place.
#[derive(Default)]
struct Stream {
    isn: Option<u32>,
    /// (offset in the stream, sequence number, payload length) of each segment.
    segments: Vec<(usize, u32, usize)>,
    data: Vec<u8>,
    pending: BTreeMap<usize, Vec<u8>>,
}

impl Stream {
    fn push(&mut self, l: &Layers) {
        if l.syn {
            self.isn = Some(l.seq.wrapping_add(1));
            return;
        }
        if l.payload.is_empty() {
            return;
        }
        let isn = *self.isn.get_or_insert(l.seq);
        let off = l.seq.wrapping_sub(isn) as usize;
        if off > 1 << 30 {
            return;
        }
        self.segments.push((off, l.seq, l.payload.len()));
        self.pending.insert(off, l.payload.clone());
        let mut grew = true;
        while grew {
            grew = false;
            for (&o, seg) in &self.pending {
                let end = o + seg.len();
                if o <= self.data.len() && end > self.data.len() {
                    let from = self.data.len() - o;
                    self.data.extend_from_slice(&seg[from..]);
                    grew = true;
                }
            }
        }
    }

    fn find(&self, needle: &[u8], from: usize) -> Option<usize> {
        let hay = self.data.get(from..)?;
        hay.windows(needle.len())
            .position(|w| w == needle)
            .map(|p| p + from)
    }

    /// Sequence number of the first segment holding stream offset `at`.
    fn seq_at(&self, at: usize) -> u32 {
        self.segments
            .iter()
            .find(|(o, _, len)| *o <= at && at < o + len)
            .map(|(_, seq, _)| *seq)
            .unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// Collecting: UDP sockets of our own, decoded in-process
// ---------------------------------------------------------------------------------------

fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// One run of the binary over a capture.
struct Run {
    clickstream: Vec<DecodedRecord>,
    meta: Vec<DecodedRecord>,
    dns: Vec<DecodedRecord>,
    out: RunOutput,
    /// Wall clock (Unix seconds) around the run.
    window: (u64, u64),
    /// What the run wrote to `fastdpi_alert.log` (empty when nothing).
    alert_log: String,
}

impl Run {
    fn records(&self) -> impl Iterator<Item = &DecodedRecord> {
        self.clickstream.iter().chain(&self.meta).chain(&self.dns)
    }

    /// The records of the meta stream whose kind (IPv4 or IPv6 template) is `kind`.
    fn meta_of(&self, kind: &str) -> Vec<&DecodedRecord> {
        let v6 = format!("{kind}_v6");
        self.meta
            .iter()
            .filter(|r| r.kind.as_deref().is_some_and(|k| k == kind || k == v6))
            .collect()
    }

    /// The `final analysis:` line of the summary.
    fn analysis(&self) -> &str {
        self.out
            .stdout
            .lines()
            .find(|l| l.starts_with("final analysis:"))
            .unwrap_or_else(|| panic!("no final analysis line\n{}", self.out.describe_short()))
    }

    /// Counter `name` of the final analysis line.
    fn analysis_count(&self, name: &str) -> u64 {
        let words: Vec<&str> = self.analysis().split_whitespace().collect();
        words
            .iter()
            .position(|w| *w == name)
            .and_then(|i| words.get(i + 1)?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {}", self.analysis()))
    }
}

/// `(produced, exported, dropped)` of `final export STREAM:`.
fn export_totals(stdout: &str, stream: &str) -> Option<(u64, u64, u64)> {
    let line = stdout
        .lines()
        .find(|l| l.starts_with(&format!("final export {stream}:")))?;
    let words: Vec<&str> = line.split_whitespace().collect();
    let get = |k: &str| -> Option<u64> {
        let i = words.iter().position(|w| *w == k)?;
        words.get(i + 1)?.parse().ok()
    };
    Some((get("produced")?, get("exported")?, get("dropped")?))
}

/// Feeds `frames` into port 0 of a bridge (port 1 gets an empty capture); see
/// [`run_frames_on`].
fn run_frames(tag: &str, frames: &[Packet]) -> Run {
    run_frames_on(tag, [frames, &[]], "")
}

/// [`run_frames`] with more configuration lines.
fn run_frames_with(tag: &str, frames: &[Packet], config: &str) -> Run {
    run_frames_on(tag, [frames, &[]], config)
}

/// Feeds `ports[0]` into port 0 of a bridge (the subscriber side) and `ports[1]` into port 1
/// (the internet side), with `extra` lines of configuration, and collects the clickstream,
/// meta and dns streams. Checks that the run ended cleanly, that the frames crossed
/// unchanged, and that every produced record was exported and received.
fn run_frames_on(tag: &str, ports: [&[Packet]; 2], extra: &str) -> Run {
    let dir = TestDir::new(tag);
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, ports[0]);
    write_pcap(&in1, ports[1]);
    let click = UdpCollector::start();
    let meta = UdpCollector::start();
    let dns = UdpCollector::start();
    let extra = format!(
        "ipfix_udp_collectors = [\"{}\"]\nipfix_meta_udp_collectors = [\"{}\"]\n\
         ipfix_dns_udp_collectors = [\"{}\"]\n\
         ssl_parse_reply = 1\nhttp_parse_reply = 1\nipfix_mtu = 9216\n{extra}\n",
        click.addr, meta.addr, dns.addr
    );
    let config = write_config(&dir, 0, 1, &extra);
    let args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let (out, window) = {
        let _guard = dpdk_lock();
        let t0 = now_unix();
        let out = run_metaprobe(&args, RUN_TIMEOUT);
        (out, (t0, now_unix()))
    };
    let click = click.finish();
    let meta = meta.finish();
    let dns = dns.finish();
    out.assert_success();
    for (port, sent, out_path) in [(1, ports[0], &out1), (0, ports[1], &out0)] {
        let got = read_capture(out_path);
        assert_eq!(
            got.len(),
            sent.len(),
            "{tag}: frames out of port {port}\n{}",
            out.describe_short()
        );
        for (i, (a, g)) in sent.iter().zip(&got).enumerate() {
            assert!(
                a.data == g.data,
                "{tag}: frame {} to port {port} changed on the bridge",
                i + 1
            );
        }
    }
    let (clickstream, p1) = decode_all(&click);
    let (meta, p3) = decode_all(&meta);
    let (dns, p2) = decode_all(&dns);
    assert!(
        p1.is_empty() && p2.is_empty() && p3.is_empty(),
        "{tag}: collector problems: {p1:?} {p2:?} {p3:?}\n{}",
        out.describe_short()
    );
    for (stream, got) in [
        ("clickstream", clickstream.len()),
        ("meta", meta.len()),
        ("dns", dns.len()),
    ] {
        let (produced, exported, dropped) =
            export_totals(&out.stdout, stream).unwrap_or_else(|| {
                panic!(
                    "{tag}: no 'final export {stream}' line\n{}",
                    out.describe_short()
                )
            });
        assert_eq!(
            (produced, exported, dropped),
            (got as u64, got as u64, 0),
            "{tag}: {stream}: produced/exported/dropped vs records received\n{}",
            out.describe_short()
        );
    }
    Run {
        clickstream,
        meta,
        dns,
        out,
        window,
        alert_log: std::fs::read_to_string(dir.join("log").join("fastdpi_alert.log"))
            .unwrap_or_default(),
    }
}

// ---------------------------------------------------------------------------------------
// Comparison
// ---------------------------------------------------------------------------------------

/// What the comparison of one capture found.
#[derive(Default)]
struct Tally {
    name: String,
    /// Rows that must have a record (known limits excluded).
    truth: usize,
    matched: usize,
    /// Per class: (rows, matched).
    by_class: BTreeMap<&'static str, (usize, usize)>,
    missing: Vec<String>,
    extra: Vec<String>,
    /// Wrong SESSION_ID or TIME_STAMP of matched records.
    wrong: Vec<String>,
    /// IP-fragmented UDP DNS responses: (frame, truth rows, exported).
    fragmented: Vec<(usize, usize, usize)>,
    /// Truth rows of fragmented responses that need IP reassembly (not exported).
    needs_reassembly: Vec<String>,
    /// Rows with no record by design or known limit.
    not_exported: Vec<String>,
    reencapsulated: Option<String>,
    /// (SESSION_ID, kind) of every matched record, by flow.
    sessions: BTreeMap<FlowKey, BTreeSet<(u64, String)>>,
}

impl Tally {
    fn ok(&self) -> bool {
        self.missing.is_empty() && self.extra.is_empty() && self.wrong.is_empty()
    }

    fn summary(&self) -> String {
        let classes: Vec<String> = self
            .by_class
            .iter()
            .map(|(c, (n, m))| format!("{c} {m}/{n}"))
            .collect();
        let mut s = format!(
            "{}: truth {} matched {} missing {} extra {} wrong {} [{}]",
            self.name,
            self.truth,
            self.matched,
            self.missing.len(),
            self.extra.len(),
            self.wrong.len(),
            classes.join(", ")
        );
        if let Some(l) = &self.reencapsulated {
            s.push_str(&format!(" (re-encapsulated from {l})"));
        }
        if !self.fragmented.is_empty() {
            s.push_str(&format!(
                "; IP-fragmented responses (frame, rows, exported) {:?}, {} rows need reassembly",
                self.fragmented,
                self.needs_reassembly.len()
            ));
        }
        if !self.not_exported.is_empty() {
            s.push_str(&format!(
                "; no record by design/known limit: {}",
                self.not_exported.len()
            ));
        }
        s
    }

    fn details(&self) -> String {
        let mut s = self.summary();
        for (what, list) in [
            ("missing", &self.missing),
            ("extra", &self.extra),
            ("wrong", &self.wrong),
        ] {
            for m in list {
                s.push_str(&format!("\n  {what}: {m}"));
            }
        }
        s
    }
}

fn compare(cap: &Capture, truth: &Truth<'_>, run: &Run) -> Tally {
    let mut t = Tally {
        name: cap.name.clone(),
        not_exported: truth.not_exported.clone(),
        reencapsulated: cap.reencapsulated.clone(),
        ..Tally::default()
    };
    let records: Vec<&DecodedRecord> = run.records().collect();
    let mut used = vec![false; records.len()];
    let mut matched_row: Vec<Option<usize>> = vec![None; truth.wants.len()];
    // Rows of the first fragments first (they are matched in order), then the rest.
    for (k, w) in truth.wants.iter().enumerate() {
        if let Some(i) = (0..records.len()).find(|&i| !used[i] && w.matches(records[i])) {
            used[i] = true;
            matched_row[k] = Some(i);
        }
    }
    // IP-fragmented UDP responses: the rows of one response, in order; the exported ones
    // must be a prefix (the answers whole in the first fragment).
    let mut frag_frames: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (k, w) in truth.wants.iter().enumerate() {
        if w.fragmented {
            frag_frames.entry(w.frame).or_default().push(k);
        }
    }
    for (frame, rows) in &frag_frames {
        let got = rows
            .iter()
            .take_while(|&&k| matched_row[k].is_some())
            .count();
        for &k in &rows[got..] {
            if let Some(i) = matched_row[k] {
                t.wrong.push(format!(
                    "fragmented response frame {frame}: row {} exported although an earlier one is not",
                    truth.wants[k].describe()
                ));
                used[i] = true;
            }
            t.needs_reassembly.push(truth.wants[k].describe());
        }
        t.fragmented.push((*frame, rows.len(), got));
    }
    for (k, w) in truth.wants.iter().enumerate() {
        if w.fragmented && matched_row[k].is_none() {
            continue; // counted in needs_reassembly
        }
        if w.http_fragmented && matched_row[k].is_none() {
            t.not_exported.push(format!(
                "{} frame {}: request in IP fragments (no IP reassembly)",
                w.class, w.frame
            ));
            continue;
        }
        let e = t.by_class.entry(w.class).or_default();
        e.0 += 1;
        t.truth += 1;
        match matched_row[k] {
            Some(i) => {
                e.1 += 1;
                t.matched += 1;
                let r = records[i];
                let sid = match r.get("SESSION_ID") {
                    Some(Value::Unsigned(v)) => *v,
                    other => {
                        t.wrong
                            .push(format!("{}: SESSION_ID {other:?}", w.describe()));
                        0
                    }
                };
                t.sessions
                    .entry(w.flow)
                    .or_default()
                    .insert((sid, w.kind.clone()));
                let ts = match r.get("TIME_STAMP") {
                    Some(Value::Unsigned(v)) => *v,
                    _ => 0,
                };
                let in_run = ts + 1 >= run.window.0 && ts <= run.window.1 + 1;
                let cap_ts = cap.times.get(w.frame - 1).copied().unwrap_or(0);
                if !(in_run || ts.abs_diff(cap_ts) <= 1) {
                    t.wrong.push(format!(
                        "{}: TIME_STAMP {ts} neither in the run {:?} nor the capture time {cap_ts}",
                        w.describe(),
                        run.window
                    ));
                }
            }
            None => {
                // The closest record of the same kind, for the report.
                let closest = records
                    .iter()
                    .enumerate()
                    .filter(|(i, r)| !used[*i] && r.kind.as_deref() == Some(w.kind.as_str()))
                    .map(|(_, r)| w.diff(r))
                    .min_by_key(Vec::len);
                let why = match closest {
                    Some(d) => format!(
                        "closest unmatched {} record differs: {}",
                        w.kind,
                        d.join("; ")
                    ),
                    None => format!("no unmatched {} record at all", w.kind),
                };
                t.missing.push(format!("{} — {why}", w.describe()));
            }
        }
    }
    for (i, r) in records.iter().enumerate() {
        if !used[i] {
            t.extra.push(to_json(r));
        }
    }
    // SESSION_ID: one per flow, both directions and every kind alike; flows differ.
    let mut owner: HashMap<u64, FlowKey> = HashMap::new();
    for (flow, ids) in &t.sessions {
        let distinct: BTreeSet<u64> = ids.iter().map(|(s, _)| *s).collect();
        if distinct.len() != 1 || distinct.contains(&0) {
            t.wrong.push(format!("flow {flow:?}: SESSION_IDs {ids:?}"));
        }
        for sid in distinct {
            if let Some(other) = owner.insert(sid, *flow) {
                t.wrong.push(format!(
                    "SESSION_ID {sid} shared by flows {other:?} and {flow:?}"
                ));
            }
        }
    }
    t
}

/// Runs every capture and compares; prints one line per capture; returns the tallies.
fn check_captures(names: &[&str]) -> Vec<Tally> {
    names
        .iter()
        .map(|name| {
            let cap = Capture::load(name);
            let truth = Truth::all(&cap);
            check(&cap, &truth, "").0
        })
        .collect()
}

/// Runs `cap` (into port 0) with `extra` configuration and compares its records with
/// `truth`; prints the result.
fn check(cap: &Capture, truth: &Truth<'_>, extra: &str) -> (Tally, Run) {
    let name = &cap.name;
    assert!(
        !truth.wants.is_empty() || !truth.not_exported.is_empty(),
        "{name}: the truth has no rows of ours"
    );
    let tag = name.split('.').next().unwrap_or(name);
    let run = run_frames_on(tag, [&cap.frames, &[]], extra);
    let t = compare(cap, truth, &run);
    eprintln!(
        "records_e2e: {} (run {:.1} s)",
        t.details(),
        run.out.elapsed.as_secs_f64()
    );
    (t, run)
}

/// Fails with every capture's details when any capture has a missing, extra or wrong
/// record.
fn assert_exact(tallies: &[Tally]) {
    let bad: Vec<String> = tallies
        .iter()
        .filter(|t| !t.ok())
        .map(Tally::details)
        .collect();
    assert!(
        bad.is_empty(),
        "records differ from the truth:\n{}",
        bad.join("\n")
    );
    for t in tallies {
        assert!(
            t.truth > 0 || !t.not_exported.is_empty(),
            "{}: nothing compared",
            t.name
        );
        assert_eq!(t.matched, t.truth, "{}", t.name);
    }
}

fn tally<'a>(tallies: &'a [Tally], name: &str) -> &'a Tally {
    tallies.iter().find(|t| t.name == name).unwrap()
}

fn class(t: &Tally, c: &str) -> (usize, usize) {
    t.by_class.get(c).copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// DNS
// ---------------------------------------------------------------------------------------

#[test]
fn dns_over_udp_incl_vlan_qinq_pppoe() {
    let names = [
        "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap",
        "dns_udp_cname_chains.pcap",
        "dns_udp_google_a_aaaa_mx.pcap",
        "dns_udp_txt.pcap",
        "vlan_8021q_dns_mx.pcapng",
        "qinq_pppoe_dns.pcapng",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    // dns.cap: 19 answers and 9 responses without answers.
    let dnscap = tally(&t, names[0]);
    assert_eq!(class(dnscap, "dns_answer"), (19, 19));
    assert_eq!(class(dnscap, "dns_question"), (9, 9));
    assert!(tally(&t, names[1]).matched >= 41);
}

#[test]
fn dns_over_tcp() {
    let names = [
        "dns_tcp_a_with_authority.pcap",
        "dns_tcp_multiple_queries_per_segment.pcap",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    assert_eq!(tally(&t, names[0]).matched, 2);
    // 20 length-prefixed queries in one segment, 20 NXDOMAIN responses.
    assert_eq!(class(tally(&t, names[1]), "dns_question"), (20, 20));
}

/// Seven UDP responses arrive in IP fragments (IPv4 and IPv6; tshark reassembles them in
/// frames 3, 6, 9, 12, 17, 39, 42). The worker reassembles them too: every answer is
/// exported, including the last RRSIG of each of the four DNSKEY responses, which lies
/// past the first fragment. Everything else — DNS over TCP, unfragmented UDP, stand-ins
/// for responses without answers — is exact as well.
#[test]
fn dns_ip_fragmented_udp_and_tcp() {
    let name = "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap";
    let t = check_captures(&[name]);
    assert_exact(&t);
    let t = &t[0];
    assert_eq!(
        t.fragmented,
        [
            (3, 4, 4),
            (6, 2, 2),
            (9, 2, 2),
            (12, 2, 2),
            (17, 4, 4),
            (39, 4, 4),
            (42, 4, 4)
        ]
    );
    assert!(t.needs_reassembly.is_empty(), "{:#?}", t.needs_reassembly);
    // 21 rows outside the fragments and the 22 of the fragmented responses.
    assert_eq!((t.truth, t.matched), (43, 43));
}

// ---------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------

#[test]
fn tls12_client_hello_server_hello_certificate() {
    let names = [
        "tls12_curl_ecdhe_rsa_cert_chain.pcap",
        "tls12_cert_name_mismatch_badssl.pcap",
        "tls12_selfsigned_cert.pcap",
        "tls12_very_long_certificate_multiseg.pcap",
        "qinq_8100_8100_tls12_many_ciphersuites.pcap",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    for x in &t[..4] {
        assert_eq!(class(x, "tls_client_hello"), (1, 1), "{}", x.name);
        assert_eq!(class(x, "tls_server_hello"), (1, 1), "{}", x.name);
    }
    // BSD loopback capture, fed re-encapsulated.
    assert_eq!(t[2].reencapsulated.as_deref(), Some("NULL"));
    // No SNI: the certificate's CN as HOST_TYPE 2 (QinQ 93/258, 175 cipher suites).
    assert_eq!(class(&t[4], "clickstream_cname"), (1, 1));
    assert_eq!(class(&t[4], "tls_server_hello"), (1, 1));
}

#[test]
fn tls13_sessions_and_split_client_hellos() {
    let names = [
        "tls13_chrome_6sessions.pcap",
        "tls13_ech_ipv6.pcapng",
        "tls13_curl_with_dns.pcap",
        "tls13_clienthello_mlkem_split_2seg.pcap",
        "tls13_clienthello_split_2seg_small_mss.pcap",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    assert_eq!(class(&t[0], "tls_client_hello"), (6, 6));
    assert_eq!(class(&t[0], "tls_server_hello"), (6, 6));
    for x in &t[1..] {
        assert_eq!(class(x, "tls_client_hello"), (1, 1), "{}", x.name);
        assert_eq!(class(x, "tls_server_hello"), (1, 1), "{}", x.name);
    }
    assert_eq!(
        class(&t[2], "dns_answer").1 + class(&t[2], "dns_question").1,
        4
    );
    assert_eq!(t[4].reencapsulated.as_deref(), Some("RAW"));
}

/// TLS after STARTTLS (SMTP, POP3, IMAP): the handshake starts mid-stream, after the
/// mail dialogue.
#[test]
fn tls_after_starttls() {
    let names = ["smtp_starttls.pcap", "pop3_stls.pcap", "imap_starttls.pcap"];
    let t = check_captures(&names);
    assert_exact(&t);
    // SMTP: TLS 1.3 without SNI, certificate encrypted: only the reply.
    assert_eq!(class(&t[0], "tls_server_hello"), (1, 1));
    assert_eq!(t[0].not_exported.len(), 1);
    assert_eq!(class(&t[1], "tls_client_hello"), (1, 1));
    assert_eq!(class(&t[1], "tls_server_hello"), (1, 1));
    // IMAP: no SNI, TLS 1.2 certificate: HOST_TYPE 2.
    assert_eq!(class(&t[2], "clickstream_cname"), (1, 1));
    assert_eq!(class(&t[2], "tls_server_hello"), (1, 1));
}

// ---------------------------------------------------------------------------------------
// QUIC
// ---------------------------------------------------------------------------------------

/// Every QUIC Initial ClientHello (clickstream) and every ServerHello of the server's
/// Initials (tls_reply; three captures have the server's side), one session per
/// connection.
#[test]
fn quic_client_and_server_initials() {
    let names = [
        "quic_v1_chrome_ch_2initials_mlkem_unordered.pcap",
        "quic_v1_firefox_ch_2initials_mlkem.pcap",
        "quic_v1_chrome_meet_1initial.pcapng",
        "quic_v1_ipv6_gstatic_1initial.pcap",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    for x in &t {
        assert_eq!(class(x, "clickstream_quic"), (1, 1), "{}", x.name);
        assert!(x.not_exported.is_empty(), "{}", x.name);
    }
    assert_eq!(
        t.iter()
            .map(|x| class(x, "quic_server_hello"))
            .collect::<Vec<_>>(),
        [(1, 1), (1, 1), (1, 1), (0, 0)]
    );
    // The client's record and the server's reply share the connection's session.
    for x in &t[..3] {
        let udp: Vec<_> = x.sessions.iter().filter(|(f, _)| !f.0).collect();
        assert_eq!(udp.len(), 1, "{}", x.name);
        let kinds: BTreeSet<&str> = udp[0].1.iter().map(|(_, k)| k.as_str()).collect();
        assert!(
            kinds.contains("clickstream") && kinds.contains("tls_reply"),
            "{}: {kinds:?}",
            x.name
        );
    }
    assert_eq!(t[0].reencapsulated.as_deref(), Some("RAW"));
    // Google Meet also has a TLS 1.3 session over TCP.
    assert_eq!(class(&t[2], "tls_client_hello"), (1, 1));
    assert_eq!(class(&t[2], "tls_server_hello"), (1, 1));
}

// ---------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------

const HTTP_CAPTURES: [&str; 13] = [
    "http_301_location.pcapng",
    "http_basic_auth_401.pcap",
    "http_headers_split_2seg_cookies_37req.pcapng",
    "http_ipv6_4streams.pcap",
    "http_pipelined_2req_1seg.pcap",
    "http_request_ipv4_fragmented.pcap",
    "http_request_lines_split_across_segments.pcap",
    "http_webdav_methods_status_codes.pcapng",
    "http_wrapped_header_referer_cookie.pcap",
    "mpls_qinq_http_and_2label_eompls.pcap",
    "pppoe_session_http.pcap",
    "qinq_8100_8100_http_get.pcap",
    "vlan_8021q_http_jpeg_download.pcap",
];

/// Every HTTP request and reply of the HTTP captures (IPv6 raw-IP capture re-encapsulated;
/// MPLS, QinQ, PPPoE, VLAN), the GET carried in 11 IPv4 fragments included (the worker
/// reassembles IP fragments).
#[test]
fn http_requests_and_replies() {
    let names = &HTTP_CAPTURES;
    let t = check_captures(names);
    assert_exact(&t);
    let frag = tally(&t, "http_request_ipv4_fragmented.pcap");
    assert!(frag.not_exported.is_empty(), "{:?}", frag.not_exported);
    assert_eq!(class(frag, "http_request"), (1, 1));
    assert_eq!(class(tally(&t, names[2]), "http_request"), (37, 37));
    assert_eq!(class(tally(&t, names[2]), "http_reply"), (37, 37));
    assert_eq!(class(tally(&t, names[4]), "http_request"), (2, 2));
    assert_eq!(class(tally(&t, names[4]), "http_reply"), (2, 2));
    assert_eq!(class(tally(&t, names[7]), "http_request"), (16, 16));
    assert_eq!(class(tally(&t, names[3]), "http_request"), (9, 9));
    assert_eq!(
        tally(&t, names[3]).reencapsulated.as_deref(),
        Some("Unknown(12)")
    );
}

// ---------------------------------------------------------------------------------------
// Cross-record properties
// ---------------------------------------------------------------------------------------

/// SESSION_ID is the flow's in both directions: each TLS connection's clickstream request
/// (client → server) and tls_reply (server → client) carry the same id, and the six
/// connections six different ids (also checked for every capture above, per flow).
#[test]
fn session_id_same_both_directions_of_a_flow() {
    for name in [
        "tls13_chrome_6sessions.pcap",
        "tls12_curl_ecdhe_rsa_cert_chain.pcap",
        "tls12_cert_name_mismatch_badssl.pcap",
    ] {
        let cap = Capture::load(name);
        let truth = Truth::all(&cap);
        let run = run_frames(
            &format!("sid-{}", name.split('.').next().unwrap()),
            &cap.frames,
        );
        let t = compare(&cap, &truth, &run);
        assert!(t.ok(), "{}", t.details());
        let mut seen = BTreeSet::new();
        let tls_flows: Vec<_> = t.sessions.iter().filter(|(f, _)| f.0).collect();
        assert!(!tls_flows.is_empty(), "{name}");
        for (flow, ids) in tls_flows {
            let kinds: BTreeSet<&str> = ids.iter().map(|(_, k)| k.as_str()).collect();
            assert_eq!(
                kinds,
                BTreeSet::from(["clickstream", "tls_reply"]),
                "{name} flow {flow:?}: {ids:?}"
            );
            let sids: BTreeSet<u64> = ids.iter().map(|(s, _)| *s).collect();
            assert_eq!(sids.len(), 1, "{name} flow {flow:?}: {ids:?}");
            assert!(seen.insert(*sids.first().unwrap()), "{name}: id reused");
        }
        if name.starts_with("tls13_chrome") {
            assert_eq!(seen.len(), 6);
        }
    }
}

/// The same DNS messages over UDP and over TCP give the same records but for TRANSPORT
/// (0, 1), SESSION_ID and TIME_STAMP. The TCP capture is made from the UDP one (Wireshark's
/// dns.cap): per client address and port one connection (SYN, SYN-ACK, ACK) with the same
/// addresses, ports and Ethernet headers, every query and response in capture order with
/// its 2-octet length prefix, each response split over two segments (the prefix and 10
/// octets, then the rest).
#[test]
fn dns_records_equal_over_udp_and_tcp_but_transport() {
    let name = "dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap";
    let cap = Capture::load(name);
    let tcp_frames = udp_dns_as_tcp(&cap);
    let udp = run_frames("dns-udp", &cap.frames);
    let tcp = run_frames("dns-tcp", &tcp_frames);
    let strip = |recs: &[DecodedRecord], transport: u64| -> Vec<String> {
        let mut out: Vec<String> = recs
            .iter()
            .map(|r| {
                assert_eq!(
                    r.get("TRANSPORT"),
                    Some(&Value::Unsigned(transport)),
                    "{}",
                    to_json(r)
                );
                let f: Vec<String> = r
                    .fields
                    .iter()
                    .filter(|(n, _)| {
                        !matches!(n.as_str(), "TRANSPORT" | "SESSION_ID" | "TIME_STAMP")
                    })
                    .map(|(n, v)| format!("{n}={}", v.to_text()))
                    .collect();
                format!("{} {}", r.kind.as_deref().unwrap_or("?"), f.join(" "))
            })
            .collect();
        out.sort();
        out
    };
    let a = strip(&udp.dns, 0);
    let b = strip(&tcp.dns, 1);
    assert_eq!(a.len(), 28, "dns.cap: 19 answers, 9 stand-ins over UDP");
    assert_eq!(a, b, "UDP vs TCP records");
    assert!(udp.clickstream.is_empty() && tcp.clickstream.is_empty());
}

/// The DNS messages of `cap` (UDP, port 53) over TCP; see the test above.
fn udp_dns_as_tcp(cap: &Capture) -> Vec<Packet> {
    struct Conn {
        client_seq: u32,
        server_seq: u32,
    }
    let mut conns: HashMap<Tuple, Conn> = HashMap::new();
    let mut out = Vec::new();
    for (p, l) in cap.frames.iter().zip(&cap.layers) {
        let (Some(t), false) = (tuple_of(l), l.tcp) else {
            continue;
        };
        if l.later_fragment || (t.1 != 53 && t.3 != 53) {
            continue;
        }
        let from_client = t.3 == 53;
        let client_t = if from_client { t } else { (t.2, t.3, t.0, t.1) };
        // Everything before the IP header: Ethernet (and any tags) as captured.
        let l2 = &p.data[..l.l3];
        let seg = |src: Tuple, seq: u32, flags: u8, data: &[u8]| -> Packet {
            let mut f = l2.to_vec();
            let tcp_len = 20 + data.len();
            match (src.0, src.2) {
                (IpAddr::V4(a), IpAddr::V4(b)) => f.extend(ipv4_header(
                    a.octets(),
                    b.octets(),
                    6,
                    (20 + tcp_len) as u16,
                    1,
                )),
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    f.extend(ipv6_header(a.octets(), b.octets(), 6, tcp_len as u16))
                }
                _ => unreachable!(),
            }
            f.extend(tcp_header(src.1, src.3, seq, flags));
            f.extend_from_slice(data);
            Packet::whole(f)
        };
        let server_t = (client_t.2, client_t.3, client_t.0, client_t.1);
        let conn = conns.entry(client_t).or_insert_with(|| {
            let c = Conn {
                client_seq: 1000,
                server_seq: 5000,
            };
            // The handshake, each packet with the L2 header of its direction: taken from
            // this frame, swapped for the other direction.
            out.push(seg(client_t, c.client_seq, 0x02, &[]));
            out.push(seg(server_t, c.server_seq, 0x12, &[]));
            out.push(seg(client_t, c.client_seq + 1, 0x10, &[]));
            Conn {
                client_seq: c.client_seq + 1,
                server_seq: c.server_seq + 1,
            }
        });
        let mut msg = (l.payload.len() as u16).to_be_bytes().to_vec();
        msg.extend_from_slice(&l.payload);
        if from_client {
            out.push(seg(client_t, conn.client_seq, 0x18, &msg));
            conn.client_seq += msg.len() as u32;
        } else {
            let cut = msg.len().min(12);
            out.push(seg(server_t, conn.server_seq, 0x18, &msg[..cut]));
            out.push(seg(
                server_t,
                conn.server_seq + cut as u32,
                0x18,
                &msg[cut..],
            ));
            conn.server_seq += msg.len() as u32;
        }
    }
    // L2 headers: the handshake packets above reuse the frame's Ethernet header whatever
    // their direction; give each packet the MACs of its direction.
    let macs = direction_macs(cap);
    for p in &mut out {
        let l = walk(&p.data);
        if let Some((s, d)) = l.ip.and_then(|(s, d)| macs.get(&(s, d))) {
            p.data[0..6].copy_from_slice(d);
            p.data[6..12].copy_from_slice(s);
        }
    }
    out
}

/// (source MAC, destination MAC) of each (source IP, destination IP) direction of `cap`.
fn direction_macs(cap: &Capture) -> HashMap<(IpAddr, IpAddr), ([u8; 6], [u8; 6])> {
    let mut m = HashMap::new();
    for l in &cap.layers {
        if let Some((s, d)) = l.ip {
            m.entry((s, d)).or_insert((l.src_mac, l.dst_mac));
        }
    }
    m
}

/// A TCP connection whose ClientHello has a cipher-suite list of odd length: malformed,
/// `tls-malformed` counts it and no record is made.
fn malformed_client_hello_frames() -> [Packet; 4] {
    let (client, server) = ([10, 0, 0, 1], [10, 0, 0, 2]);
    let mut hello = vec![
        0x01, 0x00, 0x00, 0x00, // ClientHello, length patched below
        0x03, 0x03, // legacy_version
    ];
    hello.extend_from_slice(&[0x11; 32]); // random
    hello.push(0); // session id
    hello.extend_from_slice(&[0x00, 0x03, 0x13, 0x01, 0x13]); // 3 octets of suites: odd
    hello.extend_from_slice(&[0x01, 0x00]); // compression
    let body_len = hello.len() - 4;
    hello[1..4].copy_from_slice(&(body_len as u32).to_be_bytes()[1..]);
    let mut record = vec![22, 3, 1];
    record.extend_from_slice(&(hello.len() as u16).to_be_bytes());
    record.extend_from_slice(&hello);
    let seg = |src: [u8; 4], dst: [u8; 4], sport, dport, seq, flags, data: &[u8]| {
        let mut f = eth(MAC_NET, MAC_SUB, 0x0800);
        f.extend(ipv4_header(src, dst, 6, (40 + data.len()) as u16, 1));
        f.extend(tcp_header(sport, dport, seq, flags));
        f.extend_from_slice(data);
        Packet::whole(f)
    };
    [
        seg(client, server, 40000, 443, 1000, 0x02, &[]),
        seg(server, client, 443, 40000, 5000, 0x12, &[]),
        seg(client, server, 40000, 443, 1001, 0x10, &[]),
        seg(client, server, 40000, 443, 1001, 0x18, &record),
    ]
}

/// The run's final summary names the malformed ClientHello (`final analysis: …
/// tls-malformed 1`) and no record is made.
#[test]
fn a_malformed_client_hello_is_counted_by_name_in_the_summary() {
    let run = run_frames("tls-malformed", &malformed_client_hello_frames());
    assert!(run.clickstream.is_empty(), "{:?}", run.clickstream);
    let line = run
        .out
        .stdout
        .lines()
        .find(|l| l.starts_with("final analysis:"))
        .unwrap_or_else(|| panic!("no final analysis line\n{}", run.out.describe_short()));
    assert!(
        line.contains(" tls-malformed 1 ") && line.contains(" streams-exhausted 0 "),
        "{line}"
    );
}

/// (family, name) → value of the last counter record of each counter among the JSON lines
/// of `metaprobe collect --options`.
fn last_counter_values(jsonl: &str) -> BTreeMap<(String, String), u64> {
    let text = |line: &str, key: &str| -> String {
        let (_, rest) = line
            .split_once(&format!("\"{key}\":\""))
            .unwrap_or_else(|| panic!("no {key} in {line}"));
        rest.split('"').next().unwrap_or_default().to_owned()
    };
    jsonl
        .lines()
        .filter(|l| l.contains("\"kind\":\"counter\""))
        .map(|l| {
            let (_, rest) = l
                .split_once("\"COUNTER_VALUE\":")
                .unwrap_or_else(|| panic!("no COUNTER_VALUE in {l}"));
            let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
            let value = digits.parse().unwrap_or_else(|_| panic!("{l}"));
            ((text(l, "COUNTER_FAMILY"), text(l, "COUNTER_NAME")), value)
        })
        .collect()
}

/// The same connection, the clickstream stream exported to `metaprobe collect --options`:
/// the counter records (options template 282) it receives carry `analysis tls-malformed 1`,
/// and every counter of the `final analysis` line with the summary's value — the probe's
/// losses reach the collector, not only its stdout.
#[test]
fn a_malformed_client_hello_is_counted_in_the_options_records() {
    let dir = TestDir::new("tls-malformed-options");
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, &malformed_client_hello_frames());
    write_pcap(&in1, &[]);
    let collect_args: Vec<OsString> = ["collect", "--udp", "127.0.0.1:0", "--options"]
        .iter()
        .map(OsString::from)
        .collect();
    let mut collect = Running::spawn(&collect_args);
    let line = collect.wait_for_stderr("listening on udp ", Duration::from_secs(20));
    let collect_addr = line.rsplit(' ').next().unwrap_or_default().to_owned();
    let config = write_config(
        &dir,
        0,
        1,
        &format!("ipfix_udp_collectors = [\"{collect_addr}\"]\n"),
    );
    let out = {
        let _guard = dpdk_lock();
        run_metaprobe(
            &run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1)),
            RUN_TIMEOUT,
        )
    };
    out.assert_success();
    // The collector has what was sent (loopback) once the run is over.
    std::thread::sleep(Duration::from_millis(300));
    collect.signal(libc::SIGINT);
    let collected = collect.wait(Duration::from_secs(20));
    let counters = last_counter_values(&collected.stdout);
    let analysis = |name: &str| counters.get(&("analysis".to_owned(), name.to_owned()));
    assert_eq!(
        analysis("tls-malformed"),
        Some(&1),
        "{counters:?}\n{}",
        collected.describe()
    );
    let summary = out
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("final analysis: "))
        .unwrap_or_else(|| panic!("no final analysis line\n{}", out.describe_short()));
    let words: Vec<&str> = summary.split_whitespace().collect();
    for pair in words.chunks(2) {
        let [name, value] = pair else {
            panic!("{summary}")
        };
        assert_eq!(
            analysis(name).map(u64::to_string).as_deref(),
            Some(*value),
            "{name}: the options records and the final summary agree"
        );
    }
    assert_eq!(
        counters.keys().filter(|(f, _)| f == "analysis").count(),
        words.len() / 2,
        "every analysis counter, and no other"
    );
    for family in [
        "flows",
        "ip-reassembly",
        "decode-stops",
        "dns-errors",
        "subscribers",
    ] {
        assert!(
            counters.keys().any(|(f, _)| f == family),
            "{family}: {counters:?}"
        );
    }
}

/// The first client payload of `capture` that `starts` accepts: a real request.
fn first_client_payload(capture: &str, starts: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    Capture::load(capture)
        .layers
        .into_iter()
        .find(|l| l.tcp && starts(&l.payload))
        .map(|l| l.payload)
        .unwrap_or_else(|| panic!("{capture}: no such payload"))
}

/// One TCP connection per cut of `message` (client port `base_port + i`): the
/// handshake, then the message in the pieces `cuts[i]` gives (cut points).
fn cut_connections(message: &[u8], dport: u16, base_port: u16, cuts: &[Vec<usize>]) -> Vec<Packet> {
    connections_from([10, 9, 0, 1], message, dport, base_port, cuts)
}

/// [`cut_connections`] from the client address `client` (to 10.9.0.2).
fn connections_from(
    client: [u8; 4],
    message: &[u8],
    dport: u16,
    base_port: u16,
    cuts: &[Vec<usize>],
) -> Vec<Packet> {
    let server = [10, 9, 0, 2];
    let seg = |src: [u8; 4], dst: [u8; 4], sport, dport, seq, flags, data: &[u8]| {
        let mut f = eth(MAC_NET, MAC_SUB, 0x0800);
        f.extend(ipv4_header(src, dst, 6, (40 + data.len()) as u16, 1));
        f.extend(tcp_header(sport, dport, seq, flags));
        f.extend_from_slice(data);
        Packet::whole(f)
    };
    let mut frames = Vec::new();
    for (i, points) in cuts.iter().enumerate() {
        let sport = base_port + i as u16;
        frames.push(seg(client, server, sport, dport, 1000, 0x02, &[]));
        frames.push(seg(server, client, dport, sport, 5000, 0x12, &[]));
        frames.push(seg(client, server, sport, dport, 1001, 0x10, &[]));
        let mut from = 0;
        for &to in points.iter().chain(std::iter::once(&message.len())) {
            let piece = &message[from..to];
            frames.push(seg(
                client,
                server,
                sport,
                dport,
                1001 + from as u32,
                0x18,
                piece,
            ));
            from = to;
        }
    }
    frames
}

/// Every cut a DPI-evasion tool makes: the first segment ends after octet k
/// (k = 1..=64), and octet-by-octet segments throughout; entry 0 is uncut.
fn evasion_cuts(len: usize) -> Vec<Vec<usize>> {
    let mut cuts = vec![Vec::new()];
    cuts.extend((1..=64.min(len - 1)).map(|k| vec![k]));
    cuts.push((1..len).collect());
    cuts
}

/// The records of the cut connections, each compared with the uncut one's
/// (every field but the client port and the session id), one per connection.
fn assert_cuts_give_the_uncut_record(tag: &str, message: &[u8], dport: u16) {
    let base_port = 30000;
    let cuts = evasion_cuts(message.len());
    let run = run_frames(tag, &cut_connections(message, dport, base_port, &cuts));
    let by_port: BTreeMap<u64, &DecodedRecord> = run
        .clickstream
        .iter()
        .map(|r| match r.get("PORT_SOURCE") {
            Some(Value::Unsigned(p)) => (*p, r),
            other => panic!("{tag}: PORT_SOURCE {other:?}"),
        })
        .collect();
    assert_eq!(
        run.clickstream.len(),
        cuts.len(),
        "{tag}: one record per connection"
    );
    let uncut = by_port[&u64::from(base_port)];
    assert_eq!(
        uncut.get("TCP_SEQUENCE"),
        Some(&Value::Unsigned(1001)),
        "{tag}"
    );
    let same = |r: &DecodedRecord| {
        uncut
            .fields
            .iter()
            .filter(|(name, _)| {
                !matches!(name.as_str(), "PORT_SOURCE" | "SESSION_ID" | "TIME_STAMP")
            })
            .all(|(name, v)| r.get(name) == Some(v))
    };
    for (i, points) in cuts.iter().enumerate() {
        let r = by_port
            .get(&u64::from(base_port + i as u16))
            .unwrap_or_else(|| panic!("{tag}: no record for cuts {points:?}"));
        assert!(
            same(r),
            "{tag}: cuts {points:?} gave\n{}\nnot\n{}",
            to_json(r),
            to_json(uncut)
        );
    }
}

#[test]
fn an_http_request_cut_at_any_octet_gives_the_same_record() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    assert_cuts_give_the_uncut_record("cut-http", &get, 80);
}

#[test]
fn a_client_hello_cut_at_any_octet_gives_the_same_record() {
    let hello = first_client_payload("tls13_curl_with_dns.pcap", |p| p.starts_with(&[22, 3]));
    assert_cuts_give_the_uncut_record("cut-tls", &hello, 443);
}

/// A copy of TCP segment `l` (of a capture) with `payload` instead of its own:
/// the same MACs, addresses, ports and sequence number.
fn resegment(l: &Layers, payload: &[u8], flags: u8) -> Packet {
    let (Some((IpAddr::V4(src), IpAddr::V4(dst))), Some((sport, dport))) = (l.ip, l.ports) else {
        panic!("an IPv4 TCP segment");
    };
    let mut f = eth(l.dst_mac, l.src_mac, 0x0800);
    f.extend(ipv4_header(
        src.octets(),
        dst.octets(),
        6,
        (40 + payload.len()) as u16,
        1,
    ));
    f.extend(tcp_header(sport, dport, l.seq, flags));
    f.extend_from_slice(payload);
    Packet::whole(f)
}

/// tls12_very_long_certificate_multiseg.pcap up to the ServerHello, the
/// server's segment cut after it: the certificate segments are lost. Also
/// the cut segment.
fn server_hello_without_certificate() -> (Capture, Vec<Packet>, Layers) {
    let cap = Capture::load("tls12_very_long_certificate_multiseg.pcap");
    let at = cap
        .layers
        .iter()
        .position(|l| l.payload.get(5) == Some(&2))
        .expect("a ServerHello segment");
    let sh = &cap.layers[at];
    let hello_len =
        5 + 4 + u32::from_be_bytes([0, sh.payload[6], sh.payload[7], sh.payload[8]]) as usize;
    let mut frames: Vec<Packet> = cap.frames[..at].to_vec();
    let cut = Layers {
        payload: sh.payload[..hello_len].to_vec(),
        ..sh.clone()
    };
    frames.push(resegment(&cut, &cut.payload, 0x18));
    (cap, frames, cut)
}

/// The reply record the whole capture gives (with its certificate's CN).
fn tls_reply_of(records: &[DecodedRecord]) -> &DecodedRecord {
    let replies: Vec<&DecodedRecord> = records
        .iter()
        .filter(|r| {
            r.kind
                .as_deref()
                .is_some_and(|k| k.starts_with("tls_reply"))
        })
        .collect();
    assert_eq!(replies.len(), 1, "{replies:?}");
    replies[0]
}

#[test]
fn a_server_hello_whose_certificate_is_lost_is_exported_without_cn() {
    let (cap, hello_only, cut) = server_hello_without_certificate();
    let whole = run_frames("tls-whole", &cap.frames);
    let full = tls_reply_of(&whole.clickstream);
    assert!(
        matches!(full.get("HOSTNAME"), Some(Value::Str(s)) if !s.is_empty()),
        "{}",
        to_json(full)
    );
    let client_next = cap
        .layers
        .iter()
        .find(|l| l.payload.first() == Some(&22) && l.payload.get(5) == Some(&16))
        .expect("the client's ClientKeyExchange");
    let server_fin = resegment(
        &Layers {
            seq: cut.seq.wrapping_add(cut.payload.len() as u32),
            ..cut.clone()
        },
        &[],
        0x11,
    );
    // The client's next record, a FIN from the server, or the end of the run.
    let cases = [
        (
            "tls-lost-cert-client",
            vec![resegment(client_next, &client_next.payload, 0x18)],
        ),
        ("tls-lost-cert-fin", vec![server_fin]),
        ("tls-lost-cert-exit", vec![]),
    ];
    for (tag, after) in cases {
        let mut frames = hello_only.clone();
        frames.extend(after);
        let run = run_frames(tag, &frames);
        let reply = tls_reply_of(&run.clickstream);
        for field in [
            "SSL_VERSION",
            "CIPHER_SUITE",
            "COMPRESSION_METHOD",
            "IP_SOURCE",
            "IP_DESTINATION",
        ] {
            assert_eq!(reply.get(field), full.get(field), "{tag}: {field}");
        }
        assert_eq!(
            reply.get("HOSTNAME"),
            Some(&Value::Str(String::new())),
            "{tag}"
        );
        assert_eq!(reply.get("HOST_TYPE"), Some(&Value::Unsigned(0)), "{tag}");
        let line = run
            .out
            .stdout
            .lines()
            .find(|l| l.starts_with("final analysis:"))
            .unwrap();
        assert!(
            line.contains(" tls-reply-without-certificate 1 "),
            "{tag}: {line}"
        );
    }
}

#[test]
fn an_sslv2_client_hello_gets_the_certificate_cn_as_host() {
    let cap = Capture::load("tls12_very_long_certificate_multiseg.pcap");
    let whole = run_frames("sslv2-whole", &cap.frames);
    let cn = match tls_reply_of(&whole.clickstream).get("HOSTNAME") {
        Some(Value::Str(s)) if !s.is_empty() => s.clone(),
        other => panic!("no CN: {other:?}"),
    };
    // The ClientHello in the SSLv2 format (RFC 6101 E.2): no room for a server name.
    let mut v2 = vec![0x80, 0, 1, 3, 1, 0, 3, 0, 0, 0, 16];
    v2.extend_from_slice(&[0x00, 0x00, 0x2f]);
    v2.extend_from_slice(&[0x42; 16]);
    v2[1] = (v2.len() - 2) as u8;
    let frames: Vec<Packet> = cap
        .layers
        .iter()
        .zip(&cap.frames)
        .map(|(l, f)| {
            if l.payload.get(5) == Some(&1) {
                resegment(l, &v2, 0x18)
            } else {
                f.clone()
            }
        })
        .collect();
    let run = run_frames("sslv2", &frames);
    let hosts: Vec<&DecodedRecord> = run
        .clickstream
        .iter()
        .filter(|r| {
            r.kind
                .as_deref()
                .is_some_and(|k| k.starts_with("clickstream"))
        })
        .collect();
    assert_eq!(hosts.len(), 1, "{hosts:?}");
    assert_eq!(hosts[0].get("HOST_TYPE"), Some(&Value::Unsigned(2)));
    assert_eq!(hosts[0].get("HOSTNAME"), Some(&Value::Str(cn)));
}

/// The fields of a record that do not depend on the run (no session id, no time).
fn record_fields(r: &DecodedRecord) -> Vec<(String, Value)> {
    r.fields
        .iter()
        .filter(|(name, _)| !matches!(name.as_str(), "SESSION_ID" | "TIME_STAMP"))
        .cloned()
        .collect()
}

#[test]
fn a_connection_picked_up_mid_stream_gives_its_later_requests_and_replies() {
    let cap = Capture::load("http_headers_split_2seg_cookies_37req.pcapng");
    let whole = run_frames("midstream-whole", &cap.frames);
    let kinds = |run: &Run, kind: &str| -> Vec<Vec<(String, Value)>> {
        run.clickstream
            .iter()
            .filter(|r| r.kind.as_deref() == Some(kind))
            .map(record_fields)
            .collect()
    };
    let (requests, replies) = (kinds(&whole, "clickstream"), kinds(&whole, "http_reply"));
    assert_eq!((requests.len(), replies.len()), (37, 37));
    // The probe starts inside the first request (its second segment): the
    // handshake and the request line were not seen.
    let second_half = cap
        .layers
        .iter()
        .position(|l| !l.payload.is_empty() && !l.payload.starts_with(b"GET "))
        .expect("a segment inside a request");
    let picked_up = run_frames("midstream", &cap.frames[second_half..]);
    assert_eq!(
        kinds(&picked_up, "clickstream"),
        requests[1..],
        "the later requests"
    );
    assert_eq!(kinds(&picked_up, "http_reply"), replies, "every reply");
}

#[test]
fn a_tiny_reassembly_pool_reclaims_and_says_so_by_name() {
    // Twelve connections open at once, each with its request cut after "GET":
    // two slots cannot hold every first octets, so the oldest are reclaimed.
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let cuts: Vec<Vec<usize>> = (0..12).map(|_| vec![3]).collect();
    let frames = cut_connections(&get, 80, 31000, &cuts);
    // Per connection: SYN, SYN-ACK, ACK, "GET", the rest. Send every
    // connection's first four packets, then every rest.
    let per = frames.len() / cuts.len();
    let mut interleaved: Vec<Packet> = frames
        .chunks(per)
        .flat_map(|c| c[..per - 1].to_vec())
        .collect();
    interleaved.extend(frames.chunks(per).map(|c| c[per - 1].clone()));
    let run = run_frames_with("tiny-pool", &interleaved, "reassembly_slots = 2\n");
    let line = run
        .out
        .stdout
        .lines()
        .find(|l| l.starts_with("final analysis:"))
        .unwrap();
    let count = |name: &str| -> u64 {
        let words: Vec<&str> = line.split_whitespace().collect();
        let i = words
            .iter()
            .position(|w| *w == name)
            .unwrap_or_else(|| panic!("{name}: {line}"));
        words[i + 1].parse().unwrap()
    };
    let (reclaimed, lost) = (count("streams-reclaimed"), count("streams-lost"));
    assert_eq!(reclaimed, 10, "{line}");
    assert_eq!(lost, 10, "{line}");
    // Every request is either exported or one of the counted losses.
    assert_eq!(run.clickstream.len() as u64 + lost, 12, "{line}");
    // And the operator is told, by name, in the alert log.
    assert!(
        run.alert_log
            .lines()
            .any(|l| l.starts_with("[ANALYSIS][") && l.contains("] streams-lost 10 ")),
        "{}",
        run.alert_log
    );
}

// ---------------------------------------------------------------------------------------
// Subscriber map (LOGIN)
// ---------------------------------------------------------------------------------------

fn login_of(r: &DecodedRecord) -> &str {
    match r.get("LOGIN") {
        Some(Value::Str(s)) => s,
        other => panic!("LOGIN: {other:?}"),
    }
}

#[test]
fn records_carry_the_login_of_the_longest_prefix() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    // The client is 10.9.0.1: its /32 beats the /16; the server's own entry is
    // not the subscriber's.
    let frames = cut_connections(&get, 80, 32000, &[vec![]]);
    let dir = TestDir::new("subscribers-map");
    let map = dir.join("subscribers.txt");
    std::fs::write(
        &map,
        "# test map\n10.9.0.0/16 net\n10.9.0.1 alice\n10.9.0.2 server\n2001:db8::/32 six\n",
    )
    .unwrap();
    let config = format!(
        "subscribers_file = {}\n",
        common::toml_string(&map.to_string_lossy())
    );
    let run = run_frames_with("subscribers-map", &frames, &config);
    assert_eq!(run.clickstream.len(), 1, "{}", run.out.describe_short());
    assert_eq!(login_of(&run.clickstream[0]), "alice");
    run.out
        .assert_stdout_line(&format!("subscribers: 4 prefixes from {}", map.display()));
}

#[test]
fn without_a_map_login_is_empty() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let frames = cut_connections(&get, 80, 32100, &[vec![]]);
    let run = run_frames_with("subscribers-none", &frames, "");
    assert_eq!(run.clickstream.len(), 1);
    assert_eq!(login_of(&run.clickstream[0]), "");
}

#[test]
fn a_bad_map_line_stops_the_start_naming_file_line_and_reason() {
    let dir = TestDir::new("subscribers-bad");
    let map = dir.join("subscribers.txt");
    std::fs::write(&map, "10.0.0.0/8 ok\n\n10.1.0.0/40 bad\n").unwrap();
    let (in0, in1) = (dir.join("in0.pcap"), dir.join("in1.pcap"));
    let (out0, out1) = (dir.join("out0.pcap"), dir.join("out1.pcap"));
    write_pcap(&in0, &[]);
    write_pcap(&in1, &[]);
    let extra = format!(
        "subscribers_file = {}\n",
        common::toml_string(&map.to_string_lossy())
    );
    let config = write_config(&dir, 0, 1, &extra);
    let args = run_args(&config, eal_args(&dir, &in0, &out0, &in1, &out1));
    let out = run_metaprobe(&args, RUN_TIMEOUT);
    out.assert_clean_failure();
    let want = format!(
        "subscribers_file {}:3: prefix length out of range",
        map.display()
    );
    assert!(out.stderr.contains(&want), "{}", out.describe());
}

/// HTTP connections whose client port is a service's well-known port (any source
/// port happens, behind a CGNAT all of them): a port names the service only on the
/// server's end, so each is HTTP, with its record.
#[test]
fn a_service_port_on_the_client_end_does_not_take_the_flow() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let ports = [21u16, 25, 110, 119, 143, 587, 1720, 5060, 5190, 5222];
    let frames: Vec<Packet> = ports
        .iter()
        .flat_map(|&p| cut_connections(&get, 80, p, &[vec![]]))
        .collect();
    let run = run_frames("client-service-ports", &frames);
    let mut got: Vec<u64> = run
        .clickstream
        .iter()
        .map(|r| match r.get("PORT_SOURCE") {
            Some(Value::Unsigned(p)) => *p,
            other => panic!("PORT_SOURCE {other:?}"),
        })
        .collect();
    got.sort();
    let want: Vec<u64> = ports.iter().map(|&p| u64::from(p)).collect();
    assert_eq!(got, want, "{}", run.out.describe_short());
    assert!(run.meta.is_empty(), "{:?}", run.meta);
}

/// `frame` with an 802.1Q tag of `vlan` after its MAC addresses.
fn tagged(frame: &Packet, vlan: u16) -> Packet {
    let mut f = frame.data.clone();
    let tag = [[0x81, 0x00], vlan.to_be_bytes()].concat();
    f.splice(12..12, tag);
    Packet::whole(f)
}

/// vchannels: a connection in a listed VLAN carries its channel, one in an unlisted
/// VLAN and an untagged one carry the bridge's number (0).
#[test]
fn records_of_a_vchannel_vlan_carry_its_channel() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let base = 32200u16;
    let plain = cut_connections(&get, 80, base, &[vec![], vec![], vec![]]);
    // Four frames per connection: SYN, SYN-ACK, ACK, the request.
    let frames: Vec<Packet> = plain
        .iter()
        .enumerate()
        .map(|(i, f)| match i / 4 {
            1 => tagged(f, 150),
            2 => tagged(f, 250),
            _ => f.clone(),
        })
        .collect();
    let run = run_frames_with(
        "vchannels",
        &frames,
        "vchannels = [{ bridge = 0, vlans = \"100-199,300\", channel = 7 }]\n",
    );
    let channels: BTreeMap<u64, (Option<Value>, Option<Value>)> = run
        .clickstream
        .iter()
        .map(|r| match r.get("PORT_SOURCE") {
            Some(Value::Unsigned(p)) => (
                *p,
                (
                    r.get("BRIDGE_CHANNEL_NUM").cloned(),
                    r.get("vlanId").cloned(),
                ),
            ),
            other => panic!("PORT_SOURCE {other:?}"),
        })
        .collect();
    let want =
        |channel: u64, vlan: u64| (Some(Value::Unsigned(channel)), Some(Value::Unsigned(vlan)));
    let b = u64::from(base);
    assert_eq!(
        channels,
        BTreeMap::from([
            (b, want(0, 0)),
            (b + 1, want(7, 150)),
            (b + 2, want(0, 250))
        ]),
        "{}",
        run.out.describe_short()
    );
}

/// A RADIUS Accounting-Request from a NAS (10.0.0.1) to its server (10.0.0.2:1813):
/// Acct-Status-Type `status`, Framed-IP-Address `framed`, User-Name `user` (when
/// not empty).
fn accounting_request(status: u32, framed: [u8; 4], user: &str) -> Packet {
    let mut attrs = vec![40, 6];
    attrs.extend_from_slice(&status.to_be_bytes());
    attrs.extend_from_slice(&[8, 6]);
    attrs.extend_from_slice(&framed);
    if !user.is_empty() {
        attrs.extend_from_slice(&[1, user.len() as u8 + 2]);
        attrs.extend_from_slice(user.as_bytes());
    }
    let mut radius = vec![4, 1];
    radius.extend_from_slice(&(20 + attrs.len() as u16).to_be_bytes());
    radius.extend_from_slice(&[0x5a; 16]);
    radius.extend_from_slice(&attrs);
    let mut f = eth(MAC_NET, MAC_SUB, 0x0800);
    f.extend(ipv4_header(
        [10, 0, 0, 1],
        [10, 0, 0, 2],
        17,
        28 + radius.len() as u16,
        9,
    ));
    f.extend(udp_header(40000, 1813, 8 + radius.len() as u16));
    f.extend_from_slice(&radius);
    Packet::whole(f)
}

/// The corpus's Interim-Update (User-Name `xxxxxxxxx`, Framed-IP-Address 10.0.0.3)
/// read on the bridge, then an HTTP request from 10.0.0.3: its record carries that
/// login, though the map file gives the address another.
#[test]
fn radius_accounting_on_the_bridge_gives_the_login() {
    let radius: Vec<Packet> = Capture::load("radius_accounting_interim.pcap").frames;
    assert_eq!(radius.len(), 2);
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let frames: Vec<Packet> = radius
        .into_iter()
        .chain(connections_from([10, 0, 0, 3], &get, 80, 32300, &[vec![]]))
        .collect();
    let dir = TestDir::new("radius-snoop-map");
    let map = dir.join("subscribers.txt");
    std::fs::write(&map, "10.0.0.0/24 from-the-file\n").unwrap();
    let config = format!(
        "subscribers_file = {}\n",
        common::toml_string(&map.to_string_lossy())
    );
    let run = run_frames_with("radius-snoop", &frames, &config);
    assert_eq!(run.clickstream.len(), 1, "{}", run.out.describe_short());
    assert_eq!(login_of(&run.clickstream[0]), "xxxxxxxxx");
    let line = run
        .out
        .stdout
        .lines()
        .find(|l| l.starts_with("final subscribers:"))
        .unwrap_or_else(|| panic!("{}", run.out.describe_short()));
    for part in [
        "file-prefixes 1 radius-bindings 1 radius-bound 1 ",
        " radius-interim 1 ",
        " radius-responses 1 ",
        " radius-malformed 0 ",
        // The HTTP flow's, and the RADIUS flow's own (its NAS, 10.0.0.1, is in the file).
        " lookups-with-login 2 ",
    ] {
        assert!(line.contains(part), "{part:?} in {line}");
    }

    // radius_snoop = 0: the file's login.
    let off = run_frames_with(
        "radius-snoop-off",
        &frames,
        &format!("{config}radius_snoop = 0\n"),
    );
    assert_eq!(login_of(&off.clickstream[0]), "from-the-file");
}

/// Start binds, Stop unbinds: the request between carries the login, the one after
/// none (the worker that reads the accounting uses it at once).
#[test]
fn radius_start_and_stop_around_a_flow() {
    let get = first_client_payload("http_301_location.pcapng", |p| p.starts_with(b"GET "));
    let client = [10, 0, 0, 7];
    let mut frames = vec![accounting_request(1, client, "bob")];
    frames.extend(connections_from(client, &get, 80, 32400, &[vec![]]));
    frames.push(accounting_request(2, client, ""));
    frames.extend(connections_from(client, &get, 80, 32401, &[vec![]]));
    let run = run_frames_with("radius-start-stop", &frames, "");
    let by_port: BTreeMap<u64, String> = run
        .clickstream
        .iter()
        .map(|r| match r.get("PORT_SOURCE") {
            Some(Value::Unsigned(p)) => (*p, login_of(r).to_owned()),
            other => panic!("PORT_SOURCE {other:?}"),
        })
        .collect();
    assert_eq!(
        by_port,
        BTreeMap::from([(32400, "bob".to_owned()), (32401, String::new())]),
        "{}",
        run.out.describe_short()
    );
    let line = run
        .out
        .stdout
        .lines()
        .find(|l| l.starts_with("final subscribers:"))
        .unwrap();
    assert!(
        line.contains(" radius-start 1 ") && line.contains(" radius-stop 1 "),
        "{line}"
    );
    assert!(
        line.contains("radius-bindings 0 radius-bound 1 radius-unbound 1 "),
        "{line}"
    );
}

// ---------------------------------------------------------------------------------------
// SIP, FTP and raw metadata (the meta stream)
// ---------------------------------------------------------------------------------------

/// mkpcap's SIP and FTP flows, plain and in 802.1Q, QinQ, MPLS (1 and 3 labels), PPPoE,
/// VLAN+PPPoE and VLAN+MPLS, over IPv4 and IPv6 (`dataplane/tests/fixtures/SOURCES.md`).
const GENERATED: &str = "mkpcap_sip_ftp_encaps.pcap";
const SIP_CAPTURES: [&str; 2] = [
    "sip_invite_200_ack_bye_t38_fax.pcap",
    "sip_register_invite_cancel_auth.pcap",
];
const FTP_CAPTURES: [&str; 3] = [
    "ftp_active_port_nlst_retr.pcap",
    "ftp_passive_pasv_list_retr.pcap",
    "ftp_ipv6_eprt_epsv_all_data.pcap",
];

/// Every SIP message tshark sees in the corpus captures (over UDP: calls with re-INVITEs
/// for T.38, REGISTER and INVITE with digest authentication, CANCEL, OPTIONS) is one sip
/// record with the truth's fields; the Megaco, RTP and T.38 datagrams and the keep-alives
/// of the same captures give none.
#[test]
fn sip_messages_of_the_corpus() {
    let t = check_captures(&SIP_CAPTURES);
    assert_exact(&t);
    assert_eq!(class(&t[0], "sip"), (92, 92));
    assert_eq!(class(&t[1], "sip"), (81, 81));
}

/// Every FTP login attempt and mode setting of the corpus control connections (active
/// with PORT, passive with PASV, IPv6 with EPSV and EPRT) is one ftp record with USER,
/// PASSWORD, MODE (0 active, 1 passive) and the reply code; the data connections give none.
#[test]
fn ftp_logins_and_modes_of_the_corpus() {
    let mut logins = 0;
    let mut modes = BTreeMap::new();
    for name in FTP_CAPTURES {
        let cap = Capture::load(name);
        let truth = Truth::all(&cap);
        let (t, run) = check(&cap, &truth, "");
        assert_exact(std::slice::from_ref(&t));
        logins += class(&t, "ftp_login").1;
        for r in run.meta_of("ftp") {
            // A mode record: after the login, no password (these logins all have one).
            if text(r, "PASSWORD").as_deref() == Some("") {
                *modes.entry((name, num(r, "MODE"))).or_insert(0) += 1;
            }
        }
        // The data connections are bound to their control connection, raw or not.
        let data = announced_data_connections(&truth);
        assert_eq!(
            run.analysis_count("ftp-data-bound"),
            data.len() as u64,
            "{name}"
        );
    }
    assert_eq!(logins, 4, "one login per control connection");
    assert_eq!(
        modes,
        BTreeMap::from([
            ((FTP_CAPTURES[0], Some(0)), 3), // PORT: active
            ((FTP_CAPTURES[1], Some(1)), 2), // PASV: passive
            ((FTP_CAPTURES[2], Some(0)), 7), // EPRT: active
            ((FTP_CAPTURES[2], Some(1)), 7), // EPSV: passive
        ])
    );
}

/// mkpcap's SIP messages and FTP control connections in every encapsulation the decoder
/// handles, over IPv4 and IPv6: every message, login and mode setting, with the L2 fields
/// of its frame.
#[test]
fn sip_and_ftp_in_every_encapsulation_over_ipv4_and_ipv6() {
    let cap = Capture::load(GENERATED);
    let truth = Truth::all(&cap);
    let (t, run) = check(&cap, &truth, "");
    assert_exact(std::slice::from_ref(&t));
    assert_eq!(class(&t, "sip"), (78, 78));
    assert_eq!(class(&t, "ftp_login"), (33, 33));
    assert_eq!(class(&t, "ftp_mode"), (33, 33));
    let kinds: BTreeSet<&str> = run.meta.iter().filter_map(|r| r.kind.as_deref()).collect();
    assert_eq!(kinds, BTreeSet::from(["ftp", "ftp_v6", "sip", "sip_v6"]));
    let some = |field: &str, empty: Value| run.meta.iter().any(|r| r.get(field) != Some(&empty));
    assert!(some("vlanId", Value::Unsigned(0)) && some("postVlanId", Value::Unsigned(0)));
    assert!(some("MPLS_LABELS", Value::Bytes(Vec::new())));
}

/// The first SIP payload of a corpus capture that `starts` accepts, with its truth row.
fn sip_message(capture: &str, starts: &[u8]) -> (Vec<u8>, Row) {
    let cap = Capture::load(capture);
    let rows = read_tsv(&fixtures_dir().join(format!("{capture}.sip_records.tsv")));
    rows.into_iter()
        .find_map(|row| {
            let frame: usize = col(&row, "frame").parse().unwrap();
            let payload = &cap.frame(frame).payload;
            payload.starts_with(starts).then(|| (payload.clone(), row))
        })
        .unwrap_or_else(|| panic!("{capture}: no SIP message starting {starts:?}"))
}

/// A TCP connection written segment by segment: the handshake, then data either way,
/// each segment with the sequence number it takes.
struct Conversation {
    ends: [([u8; 4], u16); 2],
    seq: [u32; 2],
    frames: Vec<Packet>,
}

impl Conversation {
    fn open(client: ([u8; 4], u16), server: ([u8; 4], u16)) -> Conversation {
        let mut c = Conversation {
            ends: [client, server],
            seq: [1000, 5000],
            frames: Vec::new(),
        };
        c.segment(0, 0x02, &[]);
        c.seq[0] += 1;
        c.segment(1, 0x12, &[]);
        c.seq[1] += 1;
        c.segment(0, 0x10, &[]);
        c
    }

    /// One segment of `data` from end `from` (0 the client).
    fn send(&mut self, from: usize, data: &[u8]) -> &mut Self {
        self.segment(from, 0x18, data);
        self.seq[from] = self.seq[from].wrapping_add(data.len() as u32);
        self
    }

    fn segment(&mut self, from: usize, flags: u8, data: &[u8]) {
        let (src, dst) = (self.ends[from], self.ends[1 - from]);
        let macs = [MAC_NET, MAC_SUB];
        let mut f = eth(macs[from], macs[1 - from], 0x0800);
        f.extend(ipv4_header(src.0, dst.0, 6, (40 + data.len()) as u16, 1));
        f.extend(tcp_header(src.1, dst.1, self.seq[from], flags));
        f.extend_from_slice(data);
        self.frames.push(Packet::whole(f));
    }
}

/// The fields of a SIP record that come from the message.
const SIP_FIELDS: [&str; 9] = [
    "MSG_CODE",
    "STATUS_CODE",
    "URI",
    "FROM",
    "TO",
    "CALLID",
    "UAGENT",
    "CTYPE",
    "GATEWAYS",
];

/// The SIP fields of `rec` (what a message gives wherever it was carried).
fn sip_record_fields(r: &DecodedRecord) -> Vec<(String, Value)> {
    SIP_FIELDS
        .iter()
        .map(|n| {
            (
                n.to_string(),
                r.get(n).cloned().unwrap_or(Value::Str("(absent)".into())),
            )
        })
        .collect()
}

/// The SIP fields a truth row gives.
fn sip_row_fields(row: &Row) -> Vec<(String, Value)> {
    let mut f: Vec<(String, Value)> = sip_fields(row)
        .into_iter()
        .map(|(n, mut v)| (n.to_string(), v.remove(0)))
        .collect();
    f.sort_by_key(|(n, _)| SIP_FIELDS.iter().position(|m| m == n));
    f
}

/// SIP over TCP, on port 5060 and by its start line on port 5080: two messages in one
/// segment (a REGISTER and an INVITE with its SDP body), then one (a 200 with SDP) over
/// three segments. Each gives the record its UDP datagram gives.
#[test]
fn sip_over_tcp_two_messages_in_a_segment_and_one_over_three() {
    let (register, r1) = sip_message(SIP_CAPTURES[1], b"REGISTER ");
    let (invite, r2) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let (ok, r3) = sip_message(SIP_CAPTURES[0], b"SIP/2.0 200 OK");
    assert!(ok.len() > 300, "a 200 with a body");
    let mut frames = Vec::new();
    for (i, port) in [5060u16, 5080].into_iter().enumerate() {
        let mut c = Conversation::open(([10, 9, 1, 1], 40000 + i as u16), ([10, 9, 1, 2], port));
        c.send(0, &[register.as_slice(), &invite].concat())
            .send(0, &ok[..100])
            .send(0, &ok[100..250])
            .send(0, &ok[250..]);
        frames.extend(c.frames);
    }
    let run = run_frames("sip-tcp", &frames);
    let want: Vec<Vec<(String, Value)>> = [&r1, &r2, &r3].map(sip_row_fields).to_vec();
    let got: Vec<Vec<(String, Value)>> = run
        .meta_of("sip")
        .into_iter()
        .map(sip_record_fields)
        .collect();
    assert_eq!(got.len(), 6, "{got:#?}");
    assert_eq!(got[..3], want[..], "port 5060");
    assert_eq!(got[3..], want[..], "port 5080, by the start line");
    assert_eq!(run.analysis_count("sip-messages"), 6);
    assert_eq!(run.analysis_count("sip-records"), 6);
    assert!(
        run.clickstream.is_empty(),
        "never HTTP: {:?}",
        run.clickstream
    );
    assert!(
        !run.alert_log.contains("[ANALYSIS]"),
        "messages read are no loss: {}",
        run.alert_log
    );
}

/// An INVITE over TCP on a port that is not SIP's, its first segment cut after every octet
/// of the start line (and after 64), and octet by octet: the signature waits for the start
/// line however it is cut, and every connection gives the record of the uncut one.
#[test]
fn a_sip_start_line_cut_at_any_octet_gives_the_same_record() {
    let (invite, row) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let line_len = invite.iter().position(|&b| b == b'\n').unwrap() + 1;
    assert!(line_len < 64, "the cuts cover the start line");
    let cuts = evasion_cuts(invite.len());
    let run = run_frames("sip-cut", &cut_connections(&invite, 5080, 30000, &cuts));
    let records = run.meta_of("sip");
    assert_eq!(records.len(), cuts.len(), "one record per connection");
    let sessions: BTreeSet<Option<u64>> = records.iter().map(|r| num(r, "SESSION_ID")).collect();
    assert_eq!(sessions.len(), cuts.len(), "one per connection");
    for r in records {
        assert_eq!(sip_record_fields(r), sip_row_fields(&row), "{}", to_json(r));
    }
}

/// `frame` (Ethernet, IPv4 at octet 14) as IP fragments of at most `size` octets of
/// payload each (a multiple of 8).
fn ipv4_fragments(frame: &[u8], size: usize) -> Vec<Packet> {
    let ihl = usize::from(frame[14] & 0x0f) * 4;
    let payload = &frame[14 + ihl..];
    payload
        .chunks(size)
        .enumerate()
        .map(|(i, piece)| {
            let mut f = frame[..14 + ihl].to_vec();
            let more = (i + 1) * size < payload.len();
            let flags_offset = u16::from(more) << 13 | (i * size / 8) as u16;
            f[16..18].copy_from_slice(&((ihl + piece.len()) as u16).to_be_bytes());
            f[20..22].copy_from_slice(&flags_offset.to_be_bytes());
            f[24..26].copy_from_slice(&[0, 0]);
            let sum = inet_checksum(&f[14..14 + ihl]);
            f[24..26].copy_from_slice(&sum.to_be_bytes());
            f.extend_from_slice(piece);
            Packet::whole(f)
        })
        .collect()
}

/// A SIP INVITE in three IPv4 fragments gives one record, that of the whole datagram.
#[test]
fn a_sip_datagram_in_ip_fragments_gives_its_record() {
    let cap = Capture::load(SIP_CAPTURES[1]);
    let (_, row) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let frame: usize = col(&row, "frame").parse().unwrap();
    let whole = &cap.frames[frame - 1].data;
    assert_eq!(cap.frame(frame).l3, 14, "plain Ethernet");
    let fragments = ipv4_fragments(whole, 320);
    assert_eq!(fragments.len(), 3);
    let run = run_frames_on(
        "sip-fragments",
        [&fragments, &[]],
        "ipfix_meta_raw = [\"sip\"]",
    );
    let sip = run.meta_of("sip");
    assert_eq!(sip.len(), 1);
    assert_eq!(sip_record_fields(sip[0]), sip_row_fields(&row));
    // Raw metadata: the datagram, once.
    let raw = run.meta_of("raw_meta");
    assert_eq!(raw.len(), 1);
    let payload = &cap.frame(frame).payload;
    assert_eq!(
        raw[0].get("RAW_DATA"),
        Some(&Value::Str(String::from_utf8(payload.clone()).unwrap()))
    );
}

/// `ipfix_meta_raw = ["sip"]`: every packet with payload of a SIP flow (the flows of the
/// truth's SIP messages, and port 5060's) gives one raw record, META_PROTO 3, RAW_DATA its
/// payload octets, besides the SIP records; nothing else does.
#[test]
fn raw_metadata_of_sip_one_record_per_payload_packet() {
    for name in SIP_CAPTURES {
        let cap = Capture::load(name);
        let mut truth = Truth::all(&cap);
        let sip_flows: BTreeSet<FlowKey> = truth.wants.iter().map(|w| w.flow).collect();
        truth.raw(
            |f| (sip_flows.contains(f) || [f.1.1, f.2.1].contains(&5060)).then_some((*f, 1)),
            3,
            1400,
        );
        let raw_wants: Vec<&Want> = truth
            .wants
            .iter()
            .filter(|w| w.class == "raw_meta")
            .collect();
        // SIP is text: RAW_DATA is the payload octets themselves.
        for w in &raw_wants {
            let payload = &cap.frame(w.frame).payload;
            assert!(
                std::str::from_utf8(payload).is_ok() && payload.len() <= 1400,
                "{name} frame {}",
                w.frame
            );
        }
        let n = raw_wants.len() as u64;
        let (t, run) = check(&cap, &truth, "ipfix_meta_raw = [\"sip\"]");
        assert_exact(std::slice::from_ref(&t));
        assert!(
            name != SIP_CAPTURES[1] || class(&t, "raw_meta").0 > class(&t, "sip").0,
            "{name}: keep-alives too"
        );
        assert_eq!(
            (
                run.analysis_count("raw-records"),
                run.analysis_count("raw-cut")
            ),
            (n, 0)
        );
    }
}

/// FLW_DIR is the side the packet came in on: the subscriber's datagrams enter on port 0
/// (FLW_DIR 0), the others on port 1 (FLW_DIR 1); the SIP records are the same.
#[test]
fn raw_metadata_flw_dir_is_the_arrival_port() {
    let cap = Capture::load(SIP_CAPTURES[1]);
    let subscriber: IpAddr = "192.168.1.2".parse().unwrap();
    let (mut sub, mut net) = (Vec::new(), Vec::new());
    for (p, l) in cap.frames.iter().zip(&cap.layers) {
        match l.ip {
            Some((src, _)) if src == subscriber => sub.push(p.clone()),
            _ => net.push(p.clone()),
        }
    }
    assert!(!sub.is_empty() && !net.is_empty());
    let run = run_frames_on("raw-flw-dir", [&sub, &net], "ipfix_meta_raw = \"sip\"");
    let raw = run.meta_of("raw_meta");
    assert!(raw.len() > 100);
    for r in &raw {
        let from_sub = r.get("IP_SOURCE")
            == Some(&Value::Ipv4(match subscriber {
                IpAddr::V4(a) => a,
                IpAddr::V6(_) => unreachable!(),
            }));
        assert_eq!(
            r.get("FLW_DIR"),
            Some(&Value::Unsigned(u64::from(!from_sub))),
            "{}",
            to_json(r)
        );
    }
    assert_eq!(run.meta_of("sip").len(), 81);
}

/// The data connections each control connection of `truth` announced (the ports of its
/// PORT/EPRT commands and 227/229 replies), by their flow: the control connection's flow.
fn announced_data_connections(truth: &Truth<'_>) -> HashMap<FlowKey, FlowKey> {
    let mut announced: Vec<(FlowKey, u16)> = Vec::new();
    for row in truth.section("ftp") {
        let control = flow_key(true, row_tuple(&row));
        for c in [
            "ftp.active.port",
            "ftp.eprt.port",
            "ftp.passive.port",
            "ftp.epsv.port",
        ] {
            if let Ok(port) = col(&row, c).parse::<u16>() {
                announced.push((control, port));
            }
        }
    }
    let mut data = HashMap::new();
    for l in &truth.cap.layers {
        let Some(t) = tuple_of(l).filter(|_| l.tcp) else {
            continue;
        };
        let flow = flow_key(true, t);
        let hosts = BTreeSet::from([t.0, t.2]);
        if let Some((control, _)) = announced.iter().find(|(c, port)| {
            *c != flow && BTreeSet::from([c.1.0, c.2.0]) == hosts && [t.1, t.3].contains(port)
        }) {
            data.insert(flow, *control);
        }
    }
    data
}

/// `ipfix_meta_raw = ["ftp"]` on the corpus FTP captures: every payload packet of a
/// control connection gives a raw record (VDPI_PROTO 2), and so does every payload packet
/// of the data connections it announced (VDPI_PROTO 3: directory listings and files, cut to
/// 1400 octets) — with the control connection's SESSION_ID, the one of its ftp records.
#[test]
fn ftp_data_connections_carry_the_control_session_id() {
    let mut bound = 0;
    for name in FTP_CAPTURES {
        let cap = Capture::load(name);
        let mut truth = Truth::all(&cap);
        let data = announced_data_connections(&truth);
        let controls: BTreeSet<FlowKey> = data.values().copied().collect();
        let data_rows = truth.section("ftp_data").len();
        assert_eq!(
            data.len(),
            data_rows,
            "{name}: every data connection tshark saw"
        );
        truth.raw(
            |f| match data.get(f) {
                Some(control) => Some((*control, 3)),
                None => controls.contains(f).then_some((*f, 2)),
            },
            4,
            1400,
        );
        let cut = truth
            .wants
            .iter()
            .filter(|w| w.class == "raw_meta" && cap.frame(w.frame).payload.len() > 1400)
            .count() as u64;
        let (t, run) = check(&cap, &truth, "ipfix_meta_raw = [\"ftp\"]");
        assert_exact(std::slice::from_ref(&t));
        assert_eq!(
            run.analysis_count("ftp-data-bound"),
            data.len() as u64,
            "{name}"
        );
        assert_eq!(run.analysis_count("raw-cut"), cut, "{name}");
        bound += data.len();
        // Every raw record of a data connection has the SESSION_ID of its control
        // connection's ftp records (compare() checks one id per owner flow).
        for control in &controls {
            assert_eq!(
                t.sessions[control]
                    .iter()
                    .map(|(s, _)| s)
                    .collect::<BTreeSet<_>>()
                    .len(),
                1
            );
        }
    }
    assert_eq!(bound, 3 + 2 + 14);
}

/// A passive data connection whose file (an upload) starts like an HTTP request: bound to
/// its control connection, it is no HTTP — no clickstream record — and its raw record has
/// the control connection's SESSION_ID. The same data connection without its control
/// connection is taken for HTTP.
#[test]
fn an_ftp_data_connection_is_not_taken_for_what_its_file_looks_like() {
    let client = ([10, 7, 0, 1], 41000);
    let server = [10, 7, 0, 2];
    let http = b"GET /index.html HTTP/1.1\r\nHost: files.example\r\n\r\n";
    let mut control = Conversation::open(client, (server, 21));
    control
        .send(1, b"220 files.example FTP server ready\r\n")
        .send(0, b"USER anna\r\n")
        .send(1, b"331 Password required\r\n")
        .send(0, b"PASS s3cret\r\n")
        .send(1, b"230 Logged in\r\n")
        .send(0, b"PASV\r\n")
        .send(1, b"227 Entering Passive Mode (10,7,0,2,117,48)\r\n")
        .send(0, b"STOR request.txt\r\n");
    let mut file = Conversation::open(([10, 7, 0, 1], 41001), (server, 30000));
    file.send(0, http);
    let mut frames = control.frames.clone();
    frames.extend(file.frames.clone());
    let run = run_frames_on(
        "ftp-data-bound",
        [&frames, &[]],
        "ipfix_meta_raw = [\"ftp\"]",
    );
    assert!(run.clickstream.is_empty(), "{:?}", run.clickstream);
    assert_eq!(run.analysis_count("ftp-data-bound"), 1);
    let ftp = run.meta_of("ftp");
    assert_eq!(ftp.len(), 2, "login and mode");
    assert_eq!(
        ftp[0].get("SERVER_NAME"),
        Some(&Value::Str("files.example".into()))
    );
    assert_eq!(ftp[0].get("USER"), Some(&Value::Str("anna".into())));
    assert_eq!(ftp[1].get("MODE"), Some(&Value::Unsigned(1)));
    let raw = run.meta_of("raw_meta");
    let of_data: Vec<&&DecodedRecord> = raw
        .iter()
        .filter(|r| r.get("VDPI_PROTO") == Some(&Value::Unsigned(3)))
        .collect();
    assert_eq!(of_data.len(), 1);
    assert_eq!(
        of_data[0].get("RAW_DATA"),
        Some(&Value::Str(String::from_utf8(http.to_vec()).unwrap()))
    );
    assert_eq!(of_data[0].get("SESSION_ID"), ftp[0].get("SESSION_ID"));
    assert_eq!(
        of_data[0].get("DIR_DATA"),
        Some(&Value::Unsigned(0)),
        "client → server"
    );
    // Alone, the data connection is HTTP.
    let alone = run_frames("ftp-data-alone", &file.frames);
    assert_eq!(alone.clickstream.len(), 1);
}

/// An FTP server that greets on another port (2121) is found by its 220 greeting.
#[test]
fn ftp_on_another_port_is_found_by_its_greeting() {
    let mut c = Conversation::open(([10, 7, 1, 1], 42000), ([10, 7, 1, 2], 2121));
    c.send(1, b"220-Welcome\r\n220 ftp.example.org ready\r\n")
        .send(0, b"USER bob\r\n")
        .send(1, b"230 No password needed\r\n")
        .send(0, b"EPSV\r\n")
        .send(1, b"229 Entering Extended Passive Mode (|||40001|)\r\n");
    let run = run_frames("ftp-2121", &c.frames);
    let ftp = run.meta_of("ftp");
    assert_eq!(ftp.len(), 2);
    let field = |r: &DecodedRecord, n: &str| r.get(n).cloned();
    assert_eq!(
        ftp.iter()
            .map(|r| (
                field(r, "SERVER_NAME"),
                field(r, "USER"),
                field(r, "MODE"),
                field(r, "RESULT_CODE")
            ))
            .collect::<Vec<_>>(),
        [
            (
                Some(Value::Str("ftp.example.org".into())),
                Some(Value::Str("bob".into())),
                Some(Value::Unsigned(0)),
                Some(Value::Unsigned(230))
            ),
            (
                Some(Value::Str("ftp.example.org".into())),
                Some(Value::Str("bob".into())),
                Some(Value::Unsigned(1)),
                Some(Value::Unsigned(229))
            ),
        ]
    );
    // Client → server: the request's addresses.
    assert_eq!(
        field(ftp[0], "IP_SOURCE"),
        Some(Value::Ipv4([10, 7, 1, 1].into()))
    );
}

/// NNTP (a 200 greeting on port 119) and H.323 call signalling (TPKT on port 1720) give raw
/// records when listed — META_PROTO 11 and 12 — and nothing when not.
#[test]
fn nntp_and_h323_give_raw_records() {
    let mut nntp = Conversation::open(([10, 8, 0, 1], 43000), ([10, 8, 0, 2], 119));
    nntp.send(
        1,
        b"200 news.example.com InterNetNews NNRP server ready (posting ok)\r\n",
    )
    .send(0, b"GROUP comp.lang.rust\r\n")
    .send(1, b"211 1234 3000234 3002322 comp.lang.rust\r\n");
    // A Q.931 SETUP and CALL PROCEEDING in TPKT.
    let setup = [3, 0, 0, 12, 0x08, 0x02, 0x00, 0x01, 0x05, 0x04, 0x03, 0x88];
    let proceeding = [3, 0, 0, 9, 0x08, 0x02, 0x80, 0x01, 0x02];
    let mut h323 = Conversation::open(([10, 8, 1, 1], 43001), ([10, 8, 1, 2], 1720));
    h323.send(0, &setup).send(1, &proceeding);
    let mut frames = nntp.frames.clone();
    frames.extend(h323.frames.clone());
    let run = run_frames_on(
        "nntp-h323",
        [&frames, &[]],
        "ipfix_meta_raw = [\"nntp\", \"h323\"]",
    );
    let raw = run.meta_of("raw_meta");
    let protos: Vec<(Option<u64>, Option<u64>)> = raw
        .iter()
        .map(|r| (num(r, "META_PROTO"), num(r, "VDPI_PROTO")))
        .collect();
    let (nntp, h323) = ((Some(11), Some(4)), (Some(12), Some(5)));
    assert_eq!(protos, [nntp, nntp, nntp, h323, h323]);
    let data: Vec<Option<&Value>> = raw.iter().map(|r| r.get("RAW_DATA")).collect();
    assert_eq!(
        data[1],
        Some(&Value::Str("GROUP comp.lang.rust\r\n".into()))
    );
    assert_eq!(
        data[3],
        Some(&Value::Str(String::from_utf8_lossy(&setup).into_owned()))
    );
    let seq = raw[3].get("TCP_SEQUENCE");
    assert_eq!(seq, Some(&Value::Unsigned(1001)));
    assert_eq!(raw[3].get("tcpControlBits"), Some(&Value::Unsigned(0x18)));
    assert_eq!(raw[4].get("DIR_DATA"), Some(&Value::Unsigned(1)));
    // Not listed: no record at all.
    let off = run_frames_on(
        "nntp-h323-off",
        [&frames, &[]],
        "ipfix_meta_raw = [\"sip\"]",
    );
    assert!(off.meta.is_empty(), "{:?}", off.meta);
}

/// A raw payload longer than `ipfix_meta_raw_max_bytes` is cut to it, and counted.
#[test]
fn raw_data_is_cut_to_ipfix_meta_raw_max_bytes() {
    let (invite, _) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let mut c = Conversation::open(([10, 9, 2, 1], 44000), ([10, 9, 2, 2], 5060));
    c.send(0, &invite);
    let run = run_frames_on(
        "raw-cut",
        [&c.frames, &[]],
        "ipfix_meta_raw = [\"sip\"]\nipfix_meta_raw_max_bytes = 100",
    );
    let raw = run.meta_of("raw_meta");
    assert_eq!(raw.len(), 1);
    assert_eq!(
        raw[0].get("RAW_DATA"),
        Some(&Value::Str(
            String::from_utf8(invite[..100].to_vec()).unwrap()
        ))
    );
    assert_eq!(run.analysis_count("raw-cut"), 1);
    assert_eq!(run.meta_of("sip").len(), 1, "the SIP record is whole");
}

/// Unsigned field `field` of `r`.
fn num(r: &DecodedRecord, field: &str) -> Option<u64> {
    match r.get(field) {
        Some(Value::Unsigned(v)) => Some(*v),
        _ => None,
    }
}

/// String field `field` of `r`.
fn text(r: &DecodedRecord, field: &str) -> Option<String> {
    match r.get(field) {
        Some(Value::Str(v)) => Some(v.clone()),
        _ => None,
    }
}

/// `AUTH TLS` accepted (234): the FTP parser stops, and the ClientHello that follows is
/// TLS's — a clickstream record with its server name, as after STARTTLS.
#[test]
fn ftp_auth_tls_hands_the_connection_to_tls() {
    let hello = first_client_payload("tls13_curl_with_dns.pcap", |p| p.starts_with(&[22, 3]));
    let mut c = Conversation::open(([10, 7, 2, 1], 45000), ([10, 7, 2, 2], 21));
    c.send(1, b"220 Service ready\r\n")
        .send(0, b"AUTH TLS\r\n")
        .send(1, b"234 Proceed with negotiation.\r\n")
        .send(0, &hello);
    let run = run_frames("ftp-auth-tls", &c.frames);
    let hosts: Vec<Option<String>> = run
        .clickstream
        .iter()
        .map(|r| text(r, "HOSTNAME"))
        .collect();
    assert_eq!(hosts, [Some("enabled.tls13.com".to_string())]);
    assert!(run.meta.is_empty(), "no login, no mode: {:?}", run.meta);
    assert_eq!(run.analysis_count("ftp-messages"), 3);
}

/// A SIP-over-TCP connection picked up mid-stream (no handshake seen, the first segment
/// inside a message's body): each direction is read from its first segment that starts a
/// message, and the later messages give their records.
#[test]
fn a_sip_connection_picked_up_mid_stream_gives_its_later_messages() {
    let (invite, _) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let (register, r2) = sip_message(SIP_CAPTURES[1], b"REGISTER ");
    let (ok, r3) = sip_message(SIP_CAPTURES[0], b"SIP/2.0 200 OK");
    let mut c = Conversation::open(([10, 9, 3, 1], 46000), ([10, 9, 3, 2], 5060));
    c.send(0, &invite[..invite.len() - 40])
        .send(0, &invite[invite.len() - 40..])
        .send(0, &register)
        .send(1, &ok[..200])
        .send(1, &ok[200..]);
    // Without the handshake and the first segment.
    let frames = &c.frames[4..];
    let run = run_frames("sip-midstream", frames);
    let got: Vec<Vec<(String, Value)>> = run
        .meta_of("sip")
        .into_iter()
        .map(sip_record_fields)
        .collect();
    assert_eq!(got, [sip_row_fields(&r2), sip_row_fields(&r3)]);
}

/// The meta records carry the subscriber's login like every record: a SIP message, an FTP
/// login and mode (built from the client packet kept in the FTP slot) and the raw records
/// of both flows, server → client packets included.
#[test]
fn meta_records_carry_the_subscriber_login() {
    let (invite, _) = sip_message(SIP_CAPTURES[1], b"INVITE ");
    let mut sip = Conversation::open(([10, 6, 0, 1], 47000), ([10, 6, 0, 9], 5060));
    sip.send(0, &invite);
    let mut ftp = Conversation::open(([10, 6, 0, 1], 47001), ([10, 6, 0, 9], 21));
    ftp.send(1, b"220 ready\r\n")
        .send(0, b"USER carol\r\n")
        .send(1, b"331 Password\r\n")
        .send(0, b"PASS pw\r\n")
        .send(1, b"230 OK\r\n")
        .send(0, b"PORT 10,6,0,1,200,10\r\n")
        .send(1, b"200 PORT command successful\r\n");
    let mut frames = sip.frames.clone();
    frames.extend(ftp.frames.clone());
    let dir = TestDir::new("meta-login-map");
    let map = dir.join("subscribers.txt");
    std::fs::write(&map, "10.6.0.1 carol-home\n").unwrap();
    let config = format!(
        "subscribers_file = {}\nipfix_meta_raw = [\"sip\", \"ftp\"]\n",
        common::toml_string(&map.to_string_lossy())
    );
    let run = run_frames_with("meta-login", &frames, &config);
    let kinds: Vec<&str> = run.meta.iter().filter_map(|r| r.kind.as_deref()).collect();
    assert_eq!(
        (
            run.meta_of("sip").len(),
            run.meta_of("ftp").len(),
            run.meta_of("raw_meta").len()
        ),
        (1, 2, 1 + 7),
        "{kinds:?}"
    );
    for r in &run.meta {
        assert_eq!(login_of(r), "carol-home", "{}", to_json(r));
    }
    let ftp = run.meta_of("ftp");
    assert_eq!(num(ftp[1], "MODE"), Some(0), "PORT: active");
}

const XMPP_CAPTURE: &str = "xmpp_c2s_sasl_sessions.pcapng";

/// The corpus' XMPP sessions: the DIGEST-MD5 login that succeeds gives one im record with
/// the login and the bound JID (IM_PROTOCOL 7, RESULT_CODE 0), the one that fails one with
/// RESULT_CODE 10, and every message the client of the session picked up mid-stream sends
/// (after segments the capture lost) one with its receiver; nothing else is exported.
#[test]
fn im_xmpp_logins_and_messages_of_the_corpus() {
    let cap = Capture::load(XMPP_CAPTURE);
    let truth = Truth::all(&cap);
    let (t, run) = check(&cap, &truth, "");
    assert_exact(std::slice::from_ref(&t));
    assert_eq!(class(&t, "im_login"), (2, 2));
    assert_eq!(class(&t, "im_message"), (3, 3));
    let jids: Vec<Option<String>> = run
        .meta_of("im")
        .iter()
        .filter(|r| {
            num(r, "RESULT_CODE") == Some(0) && text(r, "IM_RECEIVERS").as_deref() == Some("")
        })
        .map(|r| text(r, "IM_SCREEN_NAME"))
        .collect();
    assert_eq!(jids, [Some("tom@cs-xmpp.lan/darkstar".to_string())]);
    assert_eq!(run.analysis_count("xmpp-records"), 5);
    assert!(run.analysis_count("xmpp-gaps") >= 1, "{}", run.analysis());
}

/// With `xmpp` in `ipfix_meta_raw`, every payload packet of the XMPP connections is one
/// raw record (META_PROTO 8, VDPI_PROTO 9) beside the im records — the session picked up
/// mid-stream of a Linux cooked capture (IQ ping, no stream header) too.
#[test]
fn im_xmpp_raw_metadata_one_record_per_payload_packet() {
    for name in [XMPP_CAPTURE, "xmpp_iq_ping_midstream.pcap"] {
        let cap = Capture::load(name);
        let mut truth = Truth::all(&cap);
        truth.raw(
            |f| [f.1.1, f.2.1].contains(&5222).then_some((*f, 9)),
            8,
            1400,
        );
        let n = truth.wants.iter().filter(|w| w.class == "raw_meta").count() as u64;
        let (t, run) = check(&cap, &truth, "ipfix_meta_raw = [\"xmpp\"]");
        assert_exact(std::slice::from_ref(&t));
        assert!(n > 0, "{name}");
        assert_eq!(run.analysis_count("raw-records"), n, "{name}");
    }
}

/// An XMPP stream on another port is found by its header; a PLAIN login gives IM_LOGIN
/// and IM_PASSW, a SCRAM one IM_LOGIN only; STARTTLS accepted hands the connection to
/// TLS (the ClientHello is a clickstream record, the message after it nothing).
#[test]
fn im_xmpp_by_stream_header_plain_scram_and_starttls() {
    let header = b"<?xml version='1.0'?><stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    let reply = b"<stream:stream from='example.com' id='s1' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    let mut plain = Conversation::open(([10, 5, 0, 1], 41000), ([10, 5, 0, 2], 15222));
    plain
        .send(0, &header[..30])
        .send(0, &header[30..])
        .send(1, reply)
        // "\0juliet\0r0m30myr0m30"
        .send(0, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>")
        .send(1, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .send(0, header)
        .send(1, reply)
        .send(0, b"<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>")
        .send(1, b"<iq type='result' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>juliet@example.com/balcony</jid></bind></iq>")
        .send(0, b"<message to='romeo@example.net'><body>wherefore</body></message>");
    let mut scram = Conversation::open(([10, 5, 0, 1], 41001), ([10, 5, 0, 2], 5222));
    // "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL" (RFC 5802 §5)
    scram
        .send(0, header)
        .send(0, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj11c2VyLHI9ZnlrbytkMmxiYkZnT05Sdjlxa3hkYXdM</auth>")
        .send(1, b"<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><temporary-auth-failure/></failure>");
    let hello = first_client_payload("tls13_curl_with_dns.pcap", |p| p.starts_with(&[22, 3]));
    let mut tls = Conversation::open(([10, 5, 0, 1], 41002), ([10, 5, 0, 2], 5222));
    tls.send(0, header)
        .send(1, reply)
        .send(0, b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .send(1, b"<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
        .send(0, &hello)
        .send(0, b"<message to='nobody@example.net'/>");
    let mut frames = plain.frames.clone();
    frames.extend(scram.frames.clone());
    frames.extend(tls.frames.clone());
    let run = run_frames("im-xmpp-synthetic", &frames);
    let got: Vec<[Option<String>; 4]> = run
        .meta_of("im")
        .iter()
        .map(|r| {
            [
                text(r, "IM_LOGIN"),
                text(r, "IM_PASSW"),
                text(r, "IM_SCREEN_NAME"),
                text(r, "IM_RECEIVERS"),
            ]
        })
        .collect();
    let o = |v: &str| Some(v.to_string());
    let jid = "juliet@example.com/balcony";
    assert_eq!(
        got,
        [
            [o("juliet"), o("r0m30myr0m30"), o(jid), o("")],
            [o("juliet"), o(""), o(jid), o("romeo@example.net")],
            [o("user"), o(""), o(""), o("")],
        ]
    );
    let codes: Vec<Option<u64>> = run
        .meta_of("im")
        .iter()
        .map(|r| num(r, "RESULT_CODE"))
        .collect();
    assert_eq!(codes, [Some(0), Some(0), Some(11)]);
    let hosts: Vec<Option<String>> = run
        .clickstream
        .iter()
        .map(|r| text(r, "HOSTNAME"))
        .collect();
    assert_eq!(hosts, [o("enabled.tls13.com")]);
}

/// The corpus' OSCAR session on port 443 (found by its FLAP sign-on; TLS does not take
/// it): the ICQ account it signs on with (IM_UIN from the server's own-info SNAC), and the
/// message the client sends after segments the capture lost, to UIN 461758769. With `icq`
/// in `ipfix_meta_raw`, one raw record per payload packet too (META_PROTO 9, VDPI_PROTO 10).
#[test]
fn im_oscar_sign_on_and_message_of_the_corpus() {
    let cap = Capture::load("oscar_aim_icq_flap_port443.pcapng");
    let mut truth = Truth::all(&cap);
    let (t, run) = check(&cap, &truth, "");
    assert_exact(std::slice::from_ref(&t));
    assert_eq!(class(&t, "im_login"), (1, 1));
    assert_eq!(class(&t, "im_message"), (1, 1));
    assert!(run.clickstream.is_empty(), "{:?}", run.clickstream);
    assert!(run.analysis_count("oscar-gaps") >= 1, "{}", run.analysis());
    truth.raw(
        |f| [f.1.1, f.2.1].contains(&443).then_some((*f, 10)),
        9,
        1400,
    );
    let n = truth.wants.iter().filter(|w| w.class == "raw_meta").count() as u64;
    let (t, run) = check(&cap, &truth, "ipfix_meta_raw = [\"icq\"]");
    assert_exact(std::slice::from_ref(&t));
    assert_eq!(run.analysis_count("raw-records"), n);
}

/// A frame of a [`Conversation`] (Ethernet, IPv4, TCP) carried over IPv6 in VLAN 100
/// instead: the last three octets of the IPv4 address end 2001:db8::/104 (10.5.1.1 →
/// 2001:db8::5:101).
fn over_ipv6_in_vlan(frame: &Packet) -> Packet {
    let f = &frame.data;
    let v6 = |a: &[u8]| {
        let mut o = [0u8; 16];
        o[..4].copy_from_slice(&[0x20, 0x01, 0x0d, 0xb8]);
        o[13..].copy_from_slice(&a[1..4]);
        o
    };
    let tcp = &f[34..];
    let mut out = f[..12].to_vec();
    out.extend_from_slice(&[0x81, 0x00, 0x00, 100, 0x86, 0xdd]);
    out.extend(ipv6_header(
        v6(&f[26..30]),
        v6(&f[30..34]),
        6,
        tcp.len() as u16,
    ));
    out.extend_from_slice(tcp);
    Packet::whole(out)
}

/// IM records over IPv6 (the `im_v6` template, 1103/1104) in a VLAN: an XMPP PLAIN login
/// and message, and an OSCAR message on port 5190, each with the tag and addresses of its
/// frames.
#[test]
fn im_records_over_ipv6_in_a_vlan() {
    let mut xmpp = Conversation::open(([10, 5, 1, 1], 42000), ([10, 5, 1, 2], 5222));
    xmpp.send(0, b"<stream:stream to='example.com' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>")
        .send(0, b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGp1bGlldAByMG0zMG15cjBtMzA=</auth>")
        .send(1, b"<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>")
        .send(1, b"<iq type='result' id='b'><bind><jid>juliet@example.com/v6</jid></bind></iq>")
        .send(0, b"<message to='romeo@example.net'/>");
    let mut oscar = Conversation::open(([10, 5, 1, 1], 42001), ([10, 5, 1, 3], 5190));
    // SNAC 04/06 to "aimbuddy": cookie, channel 1, the screen name.
    let mut msg = vec![0x2a, 2, 0, 1, 0, 29, 0, 4, 0, 6, 0, 0, 0, 0, 0, 1];
    msg.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 8]);
    msg.extend_from_slice(b"aimbuddy");
    oscar.send(0, &msg);
    let frames: Vec<Packet> = xmpp
        .frames
        .iter()
        .chain(&oscar.frames)
        .map(over_ipv6_in_vlan)
        .collect();
    let run = run_frames("im-ipv6-vlan", &frames);
    let im = run.meta_of("im");
    let got: Vec<_> = im
        .iter()
        .map(|r| {
            (
                r.kind.as_deref(),
                num(r, "vlanId"),
                text(r, "IM_LOGIN"),
                text(r, "IM_RECEIVERS"),
                num(r, "IM_PROTOCOL"),
            )
        })
        .collect();
    let o = |v: &str| Some(v.to_string());
    assert_eq!(
        got,
        [
            (Some("im_v6"), Some(100), o("juliet"), o(""), Some(7)),
            (
                Some("im_v6"),
                Some(100),
                o("juliet"),
                o("romeo@example.net"),
                Some(7)
            ),
            (Some("im_v6"), Some(100), o(""), o("aimbuddy"), Some(0)),
        ]
    );
    let client: std::net::Ipv6Addr = "2001:db8::5:101".parse().unwrap();
    assert!(
        im.iter()
            .all(|r| r.get("IP_SOURCE_V6") == Some(&Value::Ipv6(client)))
    );
}

// ---------------------------------------------------------------------------------------
// Mail
// ---------------------------------------------------------------------------------------

/// mkpcap's SMTP sessions, plain and in 802.1Q, QinQ, MPLS (1 and 3 labels), PPPoE,
/// VLAN+PPPoE and VLAN+MPLS, over IPv4 and IPv6 (`dataplane/tests/fixtures/SOURCES.md`).
const MAIL_GENERATED: &str = "mkpcap_smtp_encaps.pcap";

/// Every message of the corpus mail captures tshark sees sent (SMTP: HELO after a refused
/// EHLO and 30 RCPT TO with a 10 KiB folded To header over 8 segments; a pipelined
/// MAIL/RCPT/DATA) or retrieved (POP3 RETR in two sessions, one after AUTH PLAIN; an IMAP
/// UID FETCH of BODY.PEEK[HEADER] in a literal) is one mail record with its fields
/// (recall and precision 1.0): sender, receivers, Cc, Subject, EVENT, MAIL_PROTOCOL, and
/// for SMTP MAIL_SERVERS, MAIL_REPLY and RESULT_CODE.
#[test]
fn mail_messages_of_the_corpus() {
    let names = [
        "smtp_helo_mail_30rcpt_data.pcap",
        "smtp_pipelined_mail_rcpt_data.pcap",
        "pop3_auth_retr_sessions.pcapng",
        "imap_login_select_fetch.pcap",
    ];
    let t = check_captures(&names);
    assert_exact(&t);
    let counts: Vec<(usize, usize)> = t.iter().map(|t| class(t, "mail")).collect();
    assert_eq!(counts, [(1, 1), (1, 1), (4, 4), (1, 1)]);
}

/// mkpcap's SMTP sessions in every encapsulation, over IPv4 and IPv6: every message, with
/// the L2 fields of its frame.
#[test]
fn smtp_in_every_encapsulation_over_ipv4_and_ipv6() {
    let cap = Capture::load(MAIL_GENERATED);
    let truth = Truth::all(&cap);
    let (t, run) = check(&cap, &truth, "");
    assert_exact(std::slice::from_ref(&t));
    assert_eq!(class(&t, "mail"), (40, 40));
    let kinds: BTreeSet<&str> = run.meta.iter().filter_map(|r| r.kind.as_deref()).collect();
    assert_eq!(kinds, BTreeSet::from(["mail", "mail_v6"]));
    let some = |field: &str, empty: Value| run.meta.iter().any(|r| r.get(field) != Some(&empty));
    assert!(some("vlanId", Value::Unsigned(0)) && some("MPLS_LABELS", Value::Bytes(Vec::new())));
    assert_eq!(run.analysis_count("mail-records"), 40);
}

/// An SMTP session on another port is found by its greeting; its message (multipart with
/// an attachment and an encoded-word Subject, its DATA and terminator cut across
/// segments) gives one record, then STARTTLS ends the mail metadata and the ClientHello
/// that follows is TLS's.
#[test]
fn smtp_by_greeting_with_attachment_then_starttls() {
    let hello = first_client_payload("tls13_curl_with_dns.pcap", |p| p.starts_with(&[22, 3]));
    let message: &[u8] = b"From: <x@y>\r\nCc: \"C, D\" <cc@example.org>\r\n\
Subject: =?UTF-8?B?0J/RgNC40LLQtdGC?= world\r\n\
Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain\r\n\r\nhi\r\n\
--b1\r\nContent-Type: application/octet-stream; name=\"a.bin\"\r\n\r\nAAAA\r\n--b1--\r\n.\r\n";
    let (a, b) = message.split_at(message.len() - 3);
    let mut c = Conversation::open(([10, 8, 1, 1], 45100), ([10, 8, 1, 2], 2525));
    c.send(1, b"220 mx.example.org ESMTP\r\n")
        .send(0, b"EHLO pc.example.org\r\n")
        .send(1, b"250 mx.example.org\r\n")
        .send(
            0,
            b"MAIL FROM:<s@example.org>\r\nRCPT TO:<r@example.net>\r\nDATA\r\n",
        )
        .send(1, b"250 ok\r\n250 ok\r\n354 go\r\n")
        .send(0, &a[..40])
        .send(0, &a[40..])
        .send(0, b)
        .send(1, b"250 2.0.0 queued\r\n")
        .send(0, b"STARTTLS\r\n")
        .send(1, b"220 ready\r\n")
        .send(0, &hello);
    let run = run_frames("smtp-greeting-starttls", &c.frames);
    let mail = run.meta_of("mail");
    assert_eq!(mail.len(), 1, "{:?}", run.meta);
    let r = mail[0];
    let got: Vec<Option<String>> = [
        "MAIL_SENDER",
        "MAIL_RECEIVER",
        "MAIL_CC",
        "MAIL_SUBJECT",
        "MAIL_SERVERS",
        "MAIL_REPLY",
    ]
    .iter()
    .map(|f| text(r, f))
    .collect();
    let want = [
        "s@example.org",
        "r@example.net",
        "cc@example.org",
        "Привет world",
        "pc.example.org,mx.example.org",
        "2.0.0 queued",
    ];
    assert_eq!(got, want.map(|w| Some(w.to_string())));
    let nums: Vec<Option<u64>> = ["EVENT", "ATTACHMENT", "MAIL_PROTOCOL", "RESULT_CODE"]
        .iter()
        .map(|f| num(r, f))
        .collect();
    assert_eq!(nums, [Some(1), Some(1), Some(0), Some(250)]);
    // The client's packet carried the message.
    assert_eq!(r.get("IP_SOURCE"), Some(&Value::Ipv4([10, 8, 1, 1].into())));
    let hosts: Vec<Option<String>> = run
        .clickstream
        .iter()
        .map(|r| text(r, "HOSTNAME"))
        .collect();
    assert_eq!(hosts, [Some("enabled.tls13.com".to_string())]);
    assert_eq!(run.analysis_count("mail-tls"), 1);
}

/// With `smtp`, `pop3` and `imap` in `ipfix_meta_raw`, every payload packet of the mail
/// flows is a raw record with META_PROTO 5, 6 or 7 besides the mail records.
#[test]
fn raw_metadata_of_mail() {
    let mut by_proto = BTreeMap::new();
    for name in [
        "smtp_pipelined_mail_rcpt_data.pcap",
        "pop3_auth_retr_sessions.pcapng",
        "imap_login_select_fetch.pcap",
    ] {
        let cap = Capture::load(name);
        let payloads = cap
            .layers
            .iter()
            .filter(|l| l.tcp && !l.payload.is_empty())
            .count();
        let run = run_frames_with(
            name,
            &cap.frames,
            "ipfix_meta_raw = [\"smtp\", \"pop3\", \"imap\"]\n",
        );
        let raw = run.meta_of("raw_meta");
        assert_eq!(raw.len(), payloads, "{name}");
        for r in raw {
            *by_proto
                .entry((num(r, "META_PROTO"), num(r, "VDPI_PROTO")))
                .or_insert(0) += 1;
        }
        assert!(!run.meta_of("mail").is_empty(), "{name}");
    }
    let keys: Vec<(Option<u64>, Option<u64>)> = by_proto.keys().copied().collect();
    assert_eq!(
        keys,
        [(Some(5), Some(6)), (Some(6), Some(7)), (Some(7), Some(8))]
    );
}

/// The corpus sessions that upgrade (SMTP STARTTLS, POP3 STLS, IMAP STARTTLS) end their
/// mail metadata there: no mail record, the upgrade counted, and their TLS records are
/// `tls_after_starttls`'s.
#[test]
fn mail_metadata_stops_at_starttls() {
    for name in ["smtp_starttls.pcap", "pop3_stls.pcap", "imap_starttls.pcap"] {
        let cap = Capture::load(name);
        let truth = Truth::all(&cap);
        let (t, run) = check(&cap, &truth, "");
        assert_exact(std::slice::from_ref(&t));
        assert!(run.meta_of("mail").is_empty(), "{name}");
        assert_eq!(run.analysis_count("mail-tls"), 1, "{name}");
    }
}

/// An SMTP connection picked up mid-stream (no handshake seen, the first segment inside
/// a message) is left unparsed and counted: no mail record made of lines that may be a
/// message's.
#[test]
fn an_smtp_connection_picked_up_mid_stream_is_left_unparsed() {
    let mut c = Conversation::open(([10, 8, 2, 1], 45200), ([10, 8, 2, 2], 25));
    c.send(0, b"DATA\r\nSubject: inside a body\r\n\r\n.\r\n")
        .send(1, b"250 2.0.0 queued\r\n")
        .send(0, b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nDATA\r\n")
        .send(1, b"250 ok\r\n250 ok\r\n354 go\r\n")
        .send(0, b"Subject: x\r\n\r\n.\r\n")
        .send(1, b"250 2.0.0 queued\r\n");
    let run = run_frames("smtp-midstream", &c.frames[3..]);
    assert!(run.meta_of("mail").is_empty(), "{:?}", run.meta);
    assert_eq!(run.analysis_count("mail-midstream"), 1);
}
