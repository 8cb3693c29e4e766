//! Golden test: the DNS captures of `../shared/corpus` (copied into `fixtures/`, see
//! `fixtures/SOURCES.md`), every frame decoded with `wire::decode`, UDP port-53
//! payloads given to `app::dns::Answers`, TCP port-53 streams reassembled in order per
//! direction and cut by `app::dns::tcp_frame`; every record compared with tshark.
//!
//! Truth, two files per capture, both from TShark 4.0.17 (the corpus's version):
//! * `<capture>.dns_answers.tsv`: one row per answer-section RR, made by the shared
//!   `tools/pcap_truth.py` (tshark `-T json -x`) and flattened by
//!   `fixtures/dns_answers_tsv.py`: frame, transport, addresses, ports, DOMAIN, RRTYPE,
//!   RRCLASS, TTL, RDATA as on the wire, and the accepted alternatives (the same RDATA
//!   with names uncompressed). `*.truth.tsv` alone cannot say which `dns.resp.*` are
//!   answers (it lists authority and additional records too).
//! * `<capture>.truth.tsv` (the corpus truth): which frames carry responses, with
//!   their question name and type — the expected stand-in record of a response without
//!   answers (pcap_truth.py emits none for those); and, for fragments, which frame
//!   tshark reassembled them in.
//!
//! Compared on every record: frame (tshark's: the last segment of a TCP message),
//! transport, source and destination address and port, DOMAIN, RRTYPE, RRCLASS, TTL,
//! RDATA (equal to tshark's bytes or to an alternative). Recall must be 1.0 and there
//! must be no extra record, except for what the decoder cannot see by design and is
//! counted here: UDP responses in IP fragments (the decoder parses first fragments only
//! and IP reassembly is not built). For those the records our parser still gets from
//! the first fragment (complete RRs before the cut) must equal the first truth rows of
//! the reassembled message; the remaining truth rows are listed as needing reassembly.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

mod common;

use std::collections::HashMap;
use std::net::IpAddr;

use common::{fixtures, read_capture};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::dns::{
    Answers, DnsError, RecordBuf, RecordKind, TCP_MESSAGE_MAX, TooLong, tcp_frame,
};
use metaprobe_dataplane::wire::{Packet, TcpFlags, decode};
use metaprobe_test_support::hex::hex;
use metaprobe_test_support::truth::{Row, read_tsv_sparse};
use pcap_file::DataLink;

/// A record as compared: every field the IPFIX DNS template takes from the message.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Rec {
    frame: usize,
    transport: u8,
    src: IpAddr,
    dst: IpAddr,
    psrc: u16,
    pdst: u16,
    domain: String,
    rrtype: u16,
    rrclass: u16,
    ttl: u32,
    rdata: String,
}

/// A truth record and the RDATA it also accepts.
#[derive(Clone, Debug)]
struct Want {
    rec: Rec,
    alts: Vec<String>,
}

impl Want {
    fn matches(&self, got: &Rec) -> bool {
        let mut g = got.clone();
        if self.alts.contains(&g.rdata) {
            g.rdata.clone_from(&self.rec.rdata);
        }
        g == self.rec
    }
}

fn list(row: &Row, key: &str) -> Vec<String> {
    row.get(key)
        .map(|v| v.split('|').map(str::to_string).collect())
        .unwrap_or_default()
}

fn answers_truth(name: &str) -> Vec<Want> {
    read_tsv_sparse(&fixtures().join(format!("{name}.dns_answers.tsv")))
        .iter()
        .map(|r| Want {
            rec: Rec {
                frame: r["frame"].parse().unwrap(),
                transport: r["transport"].parse().unwrap(),
                src: r["src"].parse().unwrap(),
                dst: r["dst"].parse().unwrap(),
                psrc: r["psrc"].parse().unwrap(),
                pdst: r["pdst"].parse().unwrap(),
                domain: r.get("domain").cloned().unwrap_or_default(),
                rrtype: r["rrtype"].parse().unwrap(),
                rrclass: r["rrclass"].parse().unwrap(),
                ttl: r["ttl"].parse().unwrap(),
                rdata: r.get("rdata").cloned().unwrap_or_default(),
            },
            alts: list(r, "rdata_alt"),
        })
        .collect()
}

/// What the run found.
#[derive(Default, Debug)]
struct Tally {
    expected: usize,
    matched: usize,
    /// Records of responses without answers (question stand-ins) among `matched`.
    questions: usize,
    /// Our records with no truth row.
    extras: Vec<String>,
    /// Truth rows with no record of ours.
    missing: Vec<String>,
    /// UDP messages over TCP/UDP that our parser saw (responses and queries).
    messages: usize,
    tcp_messages: usize,
    /// IP-fragmented responses: (frame tshark reassembled them in, truth rows, rows
    /// our parser got from the first fragment alone).
    fragmented: Vec<(usize, usize, usize)>,
    /// Records our parser got from first fragments, each equal to a truth row.
    from_first_fragments: usize,
    /// Truth rows only IP reassembly can give: past the end of the first fragment.
    needs_reassembly: Vec<String>,
    /// Parser errors by name.
    errors: HashMap<&'static str, usize>,
}

/// Per TCP direction: the in-order octets not framed yet, octets of an
/// over-long message still to skip, and the next expected sequence number.
struct Direction {
    window: Vec<u8>,
    skip: usize,
    next: Option<u32>,
}

impl Direction {
    fn reset(&mut self) {
        self.window.clear();
        self.skip = 0;
    }

    /// Appends in-order octets; every message they complete, in order.
    fn push(&mut self, fresh: &[u8], errors: &mut HashMap<&'static str, usize>) -> Vec<Vec<u8>> {
        let n = self.skip.min(fresh.len());
        self.skip -= n;
        self.window.extend_from_slice(&fresh[n..]);
        let mut msgs = Vec::new();
        loop {
            match tcp_frame(&self.window, TCP_MESSAGE_MAX) {
                Outcome::Done(f) => {
                    msgs.push(f.message.to_vec());
                    self.window.drain(..f.framed_len);
                }
                Outcome::Malformed(TooLong { framed_len }) => {
                    *errors
                        .entry(DnsError::TcpMessageTooLong.name())
                        .or_default() += 1;
                    let n = framed_len.min(self.window.len());
                    self.window.drain(..n);
                    self.skip = framed_len - n;
                }
                Outcome::Incomplete | Outcome::NotThis => return msgs,
            }
        }
    }
}

/// Everything our parser yields for one capture, by frame; fragment bookkeeping.
fn run_capture(name: &str, t: &mut Tally) -> (Vec<Rec>, Vec<usize>) {
    let frames = read_capture(&fixtures().join(name));
    let mut out = Vec::new();
    let mut first_fragments = Vec::new();
    let mut flows: HashMap<(IpAddr, IpAddr, u16, u16), Direction> = HashMap::new();
    let mut buf = RecordBuf::new();
    for (i, (link, data)) in frames.iter().enumerate() {
        assert_eq!(*link, DataLink::ETHERNET, "{name}");
        let frame = i + 1;
        let p = decode(data);
        let (Some(src), Some(dst), Some((psrc, pdst))) = (p.src_addr(), p.dst_addr(), p.ports())
        else {
            continue;
        };
        if psrc != 53 && pdst != 53 {
            continue;
        }
        let mut emit = |msg: &[u8], transport: u8, t: &mut Tally, out: &mut Vec<Rec>| {
            t.messages += 1;
            let mut it = Answers::new(msg);
            while let Some(r) = it.next(&mut buf) {
                match r {
                    Ok(r) => out.push(Rec {
                        frame,
                        transport,
                        src,
                        dst,
                        psrc,
                        pdst,
                        domain: String::from_utf8(r.name.to_vec()).unwrap(),
                        rrtype: r.rrtype.0,
                        rrclass: r.rrclass.0,
                        ttl: r.ttl,
                        rdata: hex(r.rdata),
                    }),
                    Err(e) => *t.errors.entry(e.name()).or_default() += 1,
                }
            }
        };
        let payload = p.payload(data);
        if p.udp().is_some() {
            if p.is_fragment() {
                first_fragments.push(frame);
            }
            emit(payload, 0, t, &mut out);
        } else if let Some(tcp) = p.tcp() {
            let d = flows.entry((src, dst, psrc, pdst)).or_insert(Direction {
                window: Vec::new(),
                skip: 0,
                next: None,
            });
            if tcp.flags.contains(TcpFlags::SYN) {
                d.reset();
                d.next = Some(tcp.seq.wrapping_add(1));
                continue;
            }
            let seq = tcp.seq;
            let len = payload.len() as u32;
            let next = *d.next.get_or_insert(seq);
            let ahead = seq.wrapping_sub(next) as i32;
            let fresh: &[u8] = if ahead == 0 {
                payload
            } else if ahead < 0 && (-ahead) as u32 >= len {
                &[] // a retransmission
            } else if ahead < 0 {
                &payload[(-ahead) as usize..]
            } else {
                d.reset(); // a gap: resynchronise on this segment
                d.next = Some(seq);
                payload
            };
            d.next = Some(d.next.unwrap().wrapping_add(fresh.len() as u32));
            for m in d.push(fresh, &mut t.errors) {
                t.tcp_messages += 1;
                emit(&m, 1, t, &mut out);
            }
        }
    }
    (out, first_fragments)
}

fn check(name: &str) -> Tally {
    let mut t = Tally::default();
    let truth_rows = read_tsv_sparse(&fixtures().join(format!("{name}.truth.tsv")));
    let mut want = answers_truth(name);

    // Responses without answers: one stand-in per response in a frame without answer
    // rows, with the question's name and type (class IN: the corpus truth has no
    // question class, and every capture here asks IN), TTL 0, empty RDATA; transport,
    // addresses and ports from the same truth row.
    let frames_with_answers: std::collections::HashSet<usize> =
        want.iter().map(|w| w.rec.frame).collect();
    let mut reassembled_in: HashMap<usize, usize> = HashMap::new();
    for row in &truth_rows {
        let frame: usize = row["frame.number"].parse().unwrap();
        if row["section"] == "encap" {
            let r = row
                .get("ip.reassembled_in")
                .or_else(|| row.get("ipv6.reassembled.in"));
            if let Some(r) = r {
                reassembled_in.insert(frame, r.parse().unwrap());
            }
            continue;
        }
        if row["section"] != "dns" {
            continue;
        }
        let responses = list(row, "dns.flags.response");
        let names = list(row, "dns.qry.name");
        let types = list(row, "dns.qry.type");
        let n_resp = responses.iter().filter(|r| *r == "1").count();
        if frames_with_answers.contains(&frame) {
            assert_eq!(
                n_resp, 1,
                "{name} frame {frame}: answers of several responses"
            );
            continue;
        }
        let addr = |v4: &str, v6: &str| -> IpAddr {
            row.get(v4)
                .or_else(|| row.get(v6))
                .unwrap()
                .parse()
                .unwrap()
        };
        let tcp = row.contains_key("tcp.srcport");
        let port = |k: &str| -> u16 {
            let key = format!("{}.{k}", if tcp { "tcp" } else { "udp" });
            list(row, &key)[0].parse().unwrap()
        };
        for (k, r) in responses.iter().enumerate() {
            if r == "1" {
                assert_eq!(responses.len(), names.len(), "{name} frame {frame}");
                want.push(Want {
                    rec: Rec {
                        frame,
                        transport: u8::from(tcp),
                        src: addr("ip.src", "ipv6.src"),
                        dst: addr("ip.dst", "ipv6.dst"),
                        psrc: port("srcport"),
                        pdst: port("dstport"),
                        domain: names[k].clone(),
                        rrtype: types[k].parse().unwrap(),
                        rrclass: 1,
                        ttl: 0,
                        rdata: String::new(),
                    },
                    alts: vec![],
                });
            }
        }
    }

    let (got, first_fragments) = run_capture(name, &mut t);

    // Fragmented responses: the truth rows of their reassembled frame.
    let mut frag_frames: HashMap<usize, usize> = HashMap::new(); // first → reassembled
    for f in &first_fragments {
        let r = *reassembled_in
            .get(f)
            .unwrap_or_else(|| panic!("{name} frame {f}: fragment not reassembled by tshark"));
        frag_frames.insert(*f, r);
    }

    let mut used = vec![false; want.len()];
    for (first, re) in &frag_frames {
        let rows: Vec<usize> = (0..want.len())
            .filter(|&k| want[k].rec.frame == *re)
            .collect();
        let ours: Vec<&Rec> = got.iter().filter(|g| g.frame == *first).collect();
        assert!(ours.len() <= rows.len(), "{name} frame {first}");
        for (g, &k) in ours.iter().zip(&rows) {
            let mut g = (*g).clone();
            g.frame = *re;
            assert!(
                want[k].matches(&g),
                "{name}: first fragment {first} gave {g:?}, tshark {:?}",
                want[k]
            );
            used[k] = true;
            t.from_first_fragments += 1;
        }
        for &k in &rows[ours.len()..] {
            t.needs_reassembly.push(format!("{:?}", want[k].rec));
        }
        for &k in &rows {
            used[k] = true;
        }
        t.fragmented.push((*re, rows.len(), ours.len()));
    }

    t.expected = used.iter().filter(|u| !**u).count();
    for g in got.iter().filter(|g| !frag_frames.contains_key(&g.frame)) {
        match (0..want.len()).find(|&k| !used[k] && want[k].matches(g)) {
            Some(k) => {
                used[k] = true;
                t.matched += 1;
                if want[k].rec.ttl == 0 && want[k].rec.rdata.is_empty() {
                    t.questions += 1;
                }
            }
            None => t.extras.push(format!("{g:?}")),
        }
    }
    for (k, w) in want.iter().enumerate() {
        if !used[k] {
            t.missing.push(format!("{:?}", w.rec));
        }
    }
    t.fragmented.sort();
    t
}

fn assert_exact(name: &str, t: &Tally) {
    assert!(
        t.missing.is_empty() && t.extras.is_empty(),
        "{name}: recall {}/{}\nmissing:\n{}\nextra:\n{}",
        t.matched,
        t.expected,
        t.missing.join("\n"),
        t.extras.join("\n")
    );
    assert_eq!(t.matched, t.expected, "{name}");
    assert!(t.expected > 0, "{name}: nothing compared");
    eprintln!("{name}: {t:?}");
}

#[test]
fn udp_a_aaaa_cname_mx_txt_ptr_ns_nxdomain() {
    let t = check("dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap");
    assert_exact("dns.cap", &t);
    // 19 answers; 9 responses without answers (AAAA NODATA, NXDOMAIN, SRV NXDOMAIN).
    assert_eq!((t.matched, t.questions), (28, 9));
    assert!(t.errors.is_empty(), "{:?}", t.errors);
}

#[test]
fn udp_cname_chains() {
    let t = check("dns_udp_cname_chains.pcap");
    assert_exact("cname chains", &t);
    assert!(t.matched >= 41);
    assert!(t.errors.is_empty(), "{:?}", t.errors);
}

#[test]
fn udp_google_txt_and_tls_lookups() {
    for name in [
        "dns_udp_google_a_aaaa_mx.pcap",
        "dns_udp_txt.pcap",
        "tls13_curl_with_dns.pcap",
    ] {
        let t = check(name);
        assert_exact(name, &t);
        assert!(t.errors.is_empty(), "{name}: {:?}", t.errors);
    }
}

#[test]
fn udp_under_vlan_qinq_and_pppoe() {
    for name in ["vlan_8021q_dns_mx.pcapng", "qinq_pppoe_dns.pcapng"] {
        let t = check(name);
        assert_exact(name, &t);
        assert!(t.errors.is_empty(), "{name}: {:?}", t.errors);
    }
}

#[test]
fn tcp_with_authority() {
    let t = check("dns_tcp_a_with_authority.pcap");
    assert_exact("dns_tcp", &t);
    assert_eq!(t.matched, 2);
    assert_eq!(t.tcp_messages, 2);
}

#[test]
fn tcp_many_messages_per_segment() {
    let t = check("dns_tcp_multiple_queries_per_segment.pcap");
    assert_exact("tcp multi", &t);
    // 20 queries in one segment, 20 NXDOMAIN responses (SOA in authority): 20
    // question stand-ins.
    assert_eq!((t.tcp_messages, t.matched, t.questions), (40, 20, 20));
}

#[test]
fn fragmented_udp_and_tcp() {
    let name = "dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap";
    let t = check(name);
    assert_exact(name, &t);
    // Seven UDP responses arrive in IP fragments (tshark reassembles them in frames 3,
    // 6, 9, 12, 17, 39, 42; IPv4 and IPv6). Their 22 truth rows are not in the recall
    // above: 18 of them are complete inside the first fragment and our parser gets
    // them (each equal to tshark's row); 4 — the last RRSIG of the four DNSKEY
    // responses — lie past the first fragment and need IP reassembly.
    assert_eq!(
        t.fragmented,
        [
            (3, 4, 3),
            (6, 2, 2),
            (9, 2, 2),
            (12, 2, 2),
            (17, 4, 3),
            (39, 4, 3),
            (42, 4, 3)
        ]
    );
    assert_eq!(t.from_first_fragments, 18);
    assert_eq!(t.needs_reassembly.len(), 4, "{:#?}", t.needs_reassembly);
    assert!(t.needs_reassembly.iter().all(|r| r.contains("rrtype: 46")));
    // The four DNSKEY first fragments end inside an answer: truncated, counted.
    assert_eq!(t.errors.get(DnsError::Truncated.name()), Some(&4));
    assert_eq!(t.errors.len(), 1);
    // Outside the fragments: 21 records (DNSSEC over TCP, two messages, 8 records;
    // unfragmented UDP answers and 3 stand-ins), all matched.
    assert_eq!((t.expected, t.matched, t.questions), (21, 21, 3));
    assert_eq!(t.tcp_messages, 4);
}

#[test]
fn stand_in_kind_is_question() {
    // A direct look at one NXDOMAIN frame: the kind says it is the question.
    let frames = read_capture(&fixtures().join("dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap"));
    let p: Packet = decode(&frames[21].1);
    let mut buf = RecordBuf::new();
    let mut it = Answers::new(p.payload(&frames[21].1));
    let r = it.next(&mut buf).unwrap().unwrap();
    assert_eq!(r.kind, RecordKind::Question);
    assert_eq!(r.name, b"www.example.notginh");
    assert!(it.next(&mut buf).is_none());
}
