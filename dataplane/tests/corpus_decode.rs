//! Golden test: real captures from `../shared/corpus` (copied into `fixtures/`, see
//! `fixtures/SOURCES.md`) decoded with `wire::decode`, every frame compared with the
//! capture's tshark ground truth (`*.truth.tsv`).
//!
//! Compared on every truth row (any section): `ip.src/dst`, `ipv6.src/dst`, TCP/UDP
//! ports, `vlan.id` (802.1Q tags) and `ieee8021ad.id` (S-tags), `mpls.label`,
//! `pppoe.session_id`. On `encap` rows also: `eth.type`, `vlan.etype`, `ip.proto`,
//! `ip.id`, `ip.flags.mf`, `ip.frag_offset`, the IPv6 fragment header, and the
//! transport named in `frame.protocols`.
//!
//! Where the decoder and tshark differ by design, the rule is explicit below and
//! counted: tshark reports TCP/UDP on the *last* fragment (after reassembly) and not on
//! the first, we parse the first and count the later ones; tshark follows Ethernet
//! over MPLS pseudowires, we stop at the control word (`MplsPayloadNotIp`).
//!
//! Link types: Ethernet frames go to `decode`; raw IP (LINKTYPE_RAW) to `decode_ip`
//! (`http_ipv6_4streams.pcap`, whose header says DLT_RAW = 12). No fixture uses
//! another link type; the corpus's BSD-loopback and Linux-cooked files are not copied.
#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::panic)]

mod common;

use std::net::IpAddr;

use common::{fixtures, read_capture};
use metaprobe_dataplane::wire::{EtherType, Packet, StopReason, decode, decode_ip};
use metaprobe_test_support::truth::{Row, read_tsv_sparse};
use pcap_file::DataLink;

fn list(row: &Row, key: &str) -> Vec<String> {
    row.get(key)
        .map(|v| v.split('|').map(str::to_string).collect())
        .unwrap_or_default()
}

fn first(row: &Row, key: &str) -> Option<String> {
    list(row, key).into_iter().next()
}

fn hex(s: &str) -> u64 {
    u64::from_str_radix(s.trim_start_matches("0x"), 16).unwrap()
}

/// What one comparison run found.
#[derive(Default, Debug)]
struct Tally {
    rows: usize,
    fields: usize,
    mismatches: Vec<String>,
    /// Frames by feature, to show the run covered what it should.
    vlan: usize,
    qinq: usize,
    mpls: usize,
    pppoe: usize,
    ipv6: usize,
    fragments: usize,
    /// Differences by design (see the module doc), counted.
    deferred_to_reassembly: usize,
    pseudowire: usize,
}

impl Tally {
    fn check<T: PartialEq + std::fmt::Debug>(&mut self, what: &str, ours: T, truth: T) {
        self.fields += 1;
        if ours != truth {
            self.mismatches
                .push(format!("{what}: decoded {ours:?}, tshark {truth:?}"));
        }
    }
}

fn compare_row(t: &mut Tally, ctx: &str, row: &Row, p: &Packet) {
    t.rows += 1;
    let protocols = row.get("frame.protocols").cloned().unwrap_or_default();
    let pseudowire = p
        .stop
        .is_some_and(|s| s.reason == StopReason::MplsPayloadNotIp);
    if pseudowire {
        // Everything tshark reports past the control word is inside the pseudowire.
        t.pseudowire += 1;
        if row.contains_key("frame.protocols") {
            t.check(
                &format!("{ctx} pseudowire"),
                protocols.contains(":pweth"),
                true,
            );
        }
        let labels: Vec<String> = p
            .mpls
            .entries()
            .iter()
            .map(|e| e.label().to_string())
            .collect();
        t.check(
            &format!("{ctx} mpls.label"),
            labels,
            list(row, "mpls.label"),
        );
        return;
    }

    // IP addresses.
    let v4 = p.ipv4();
    t.check(
        &format!("{ctx} ip.src"),
        v4.map(|r| r.src.to_string()),
        first(row, "ip.src"),
    );
    t.check(
        &format!("{ctx} ip.dst"),
        v4.map(|r| r.dst.to_string()),
        first(row, "ip.dst"),
    );
    let v6 = p.ipv6();
    let v6s = first(row, "ipv6.src").map(|s| s.parse::<IpAddr>().unwrap());
    let v6d = first(row, "ipv6.dst").map(|s| s.parse::<IpAddr>().unwrap());
    t.check(
        &format!("{ctx} ipv6.src"),
        v6.map(|r| IpAddr::V6(r.src)),
        v6s,
    );
    t.check(
        &format!("{ctx} ipv6.dst"),
        v6.map(|r| IpAddr::V6(r.dst)),
        v6d,
    );
    if v6.is_some() {
        t.ipv6 += 1;
    }

    // Ports. tshark names TCP/UDP on the last fragment (reassembled) and not on the
    // first; we parse the first and stop at the later ones.
    let truth_tcp = first(row, "tcp.srcport").zip(first(row, "tcp.dstport"));
    let truth_udp = first(row, "udp.srcport").zip(first(row, "udp.dstport"));
    let ours_tcp = p
        .tcp()
        .map(|r| (r.src_port.to_string(), r.dst_port.to_string()));
    let ours_udp = p
        .udp()
        .map(|r| (r.src_port.to_string(), r.dst_port.to_string()));
    if p.is_fragment() {
        t.fragments += 1;
        let later = p.stop.is_some_and(|s| {
            matches!(
                s.reason,
                StopReason::Ipv4LaterFragment | StopReason::Ipv6LaterFragment
            )
        });
        if later {
            t.check(
                &format!("{ctx} later fragment has no transport"),
                p.ports(),
                None,
            );
        } else {
            t.check(
                &format!("{ctx} first fragment has a transport"),
                p.ports().is_some(),
                true,
            );
        }
        if truth_tcp.is_some() || truth_udp.is_some() || ours_tcp.is_some() || ours_udp.is_some() {
            t.deferred_to_reassembly += 1;
        }
    } else {
        t.check(&format!("{ctx} tcp ports"), ours_tcp, truth_tcp);
        t.check(&format!("{ctx} udp ports"), ours_udp, truth_udp);
    }

    // VLAN tags: tshark lists 802.1ad S-tags as ieee8021ad.id and the others as vlan.id.
    let tags = [p.vlan.outer, p.vlan.inner];
    let ids = |s_tag: bool| -> Vec<String> {
        tags.iter()
            .flatten()
            .filter(|t| (t.tpid == EtherType::PROVIDER_BRIDGING) == s_tag)
            .map(|t| t.id.value().to_string())
            .collect()
    };
    t.check(&format!("{ctx} vlan.id"), ids(false), list(row, "vlan.id"));
    t.check(
        &format!("{ctx} ieee8021ad.id"),
        ids(true),
        list(row, "ieee8021ad.id"),
    );
    if p.vlan.outer.is_some() {
        t.vlan += 1;
    }
    if p.vlan.inner.is_some() {
        t.qinq += 1;
    }

    let labels: Vec<String> = p
        .mpls
        .entries()
        .iter()
        .map(|e| e.label().to_string())
        .collect();
    t.check(
        &format!("{ctx} mpls.label"),
        labels,
        list(row, "mpls.label"),
    );
    if !p.mpls.is_empty() {
        t.mpls += 1;
    }
    t.check(
        &format!("{ctx} pppoe.session_id"),
        p.pppoe.map(|s| u64::from(s.session_id)),
        first(row, "pppoe.session_id").map(|s| hex(&s)),
    );
    if p.pppoe.is_some() {
        t.pppoe += 1;
    }

    if row.get("section").map(String::as_str) == Some("encap") {
        compare_encap(t, ctx, row, p, &protocols);
    }
}

fn compare_encap(t: &mut Tally, ctx: &str, row: &Row, p: &Packet, protocols: &str) {
    let eth_type = first(row, "eth.type").map(|s| hex(&s));
    // An 802.3 frame (`eth:llc:…`) has a length, not a type; tshark leaves eth.type empty.
    let ours_type = p
        .ethernet
        .map(|e| u64::from(e.ethertype.0))
        .filter(|t| *t >= 0x600);
    t.check(&format!("{ctx} eth.type"), ours_type, eth_type);
    let vlan_next: Vec<u64> = [p.vlan.outer, p.vlan.inner]
        .iter()
        .flatten()
        .filter(|t| t.tpid != EtherType::PROVIDER_BRIDGING)
        .map(|t| u64::from(t.next.0))
        .collect();
    let truth_next: Vec<u64> = list(row, "vlan.etype").iter().map(|s| hex(s)).collect();
    t.check(&format!("{ctx} vlan.etype"), vlan_next, truth_next);

    let v4 = p.ipv4();
    t.check(
        &format!("{ctx} ip.proto"),
        v4.map(|r| r.protocol.0.to_string()),
        first(row, "ip.proto"),
    );
    t.check(
        &format!("{ctx} ip.id"),
        v4.map(|r| u64::from(r.ident)),
        first(row, "ip.id").map(|s| hex(&s)),
    );
    t.check(
        &format!("{ctx} ip.flags.mf"),
        v4.map(|r| u8::from(r.more_fragments).to_string()),
        first(row, "ip.flags.mf"),
    );
    t.check(
        &format!("{ctx} ip.frag_offset"),
        v4.map(|r| r.frag_offset.to_string()),
        first(row, "ip.frag_offset"),
    );
    let frag = p.ipv6().and_then(|r| r.ext.fragment);
    t.check(
        &format!("{ctx} ipv6.fraghdr"),
        frag.map(|f| {
            (
                u64::from(f.ident),
                u8::from(f.more).to_string(),
                f.offset.to_string(),
            )
        }),
        first(row, "ipv6.fraghdr.ident").map(|i| {
            (
                hex(&i),
                first(row, "ipv6.fraghdr.more").unwrap_or_default(),
                first(row, "ipv6.fraghdr.offset").unwrap_or_default(),
            )
        }),
    );

    // The transport tshark names right after the (first) IP layer.
    let tokens: Vec<&str> = protocols.split(':').collect();
    let after_ip = tokens
        .iter()
        .position(|t| *t == "ip" || *t == "ipv6")
        .and_then(|i| tokens[i + 1..].iter().find(|t| !t.starts_with("ipv6.")))
        .copied();
    let ours = if p.tcp().is_some() {
        Some("tcp")
    } else if p.udp().is_some() {
        Some("udp")
    } else {
        None
    };
    match after_ip {
        // Fragments: tshark names the transport on the last one (after reassembly),
        // "data" on the others; checked above against our first/later rule.
        Some(_) if p.is_fragment() => {}
        Some(tr @ ("tcp" | "udp")) => t.check(&format!("{ctx} transport"), ours, Some(tr)),
        Some(other) => {
            t.check(&format!("{ctx} transport ({other})"), ours, None);
            t.check(
                &format!("{ctx} stop for {other}"),
                p.stop.map(|s| s.reason),
                Some(StopReason::UnsupportedTransport),
            );
        }
        None => {
            t.check(&format!("{ctx} no IP"), p.ip, Default::default());
            t.check(
                &format!("{ctx} stop without IP"),
                p.stop.map(|s| s.reason),
                Some(StopReason::UnsupportedEtherType),
            );
        }
    }
}

fn run(name: &str) -> Tally {
    let dir = fixtures();
    let frames = read_capture(&dir.join(name));
    let truth = read_tsv_sparse(&dir.join(format!("{name}.truth.tsv")));
    assert!(!truth.is_empty(), "{name}: empty truth");
    let decoded: Vec<Packet> = frames
        .iter()
        .map(|(link, data)| match *link {
            DataLink::ETHERNET => decode(data),
            // LINKTYPE_RAW is 101; DLT_RAW is 12 (14 on OpenBSD) in older pcap files.
            DataLink::RAW
            | DataLink::IPV4
            | DataLink::IPV6
            | DataLink::Unknown(12)
            | DataLink::Unknown(14) => decode_ip(data),
            other => panic!("{name}: link type {other:?} not expected in fixtures"),
        })
        .collect();
    let mut t = Tally::default();
    for row in &truth {
        let n: usize = row["frame.number"].parse().unwrap();
        let ctx = format!("{name} frame {n} [{}]", row["section"]);
        compare_row(&mut t, &ctx, row, &decoded[n - 1]);
    }
    t
}

fn assert_clean(t: &Tally) {
    assert!(
        t.mismatches.is_empty(),
        "{} mismatches:\n{}",
        t.mismatches.len(),
        t.mismatches.join("\n")
    );
    assert!(t.rows > 0 && t.fields > t.rows * 8, "{t:?}");
}

#[test]
fn single_vlan_dns() {
    let t = run("vlan_8021q_dns_mx.pcapng");
    assert_clean(&t);
    assert_eq!(t.vlan, 8); // 4 tagged frames, each with a dns and an encap row
    assert_eq!(t.qinq, 0);
}

#[test]
fn qinq_8100_8100_http() {
    let t = run("qinq_8100_8100_http_get.pcap");
    assert_clean(&t);
    assert_eq!(t.qinq, 7);
}

#[test]
fn qinq_88a8_8100_ipv4_and_arp() {
    let t = run("qinq_88a8_8100_ipv4.pcapng");
    assert_clean(&t);
    assert_eq!(t.qinq, 1);
    let t = run("qinq_88a8_8100_arp.pcap");
    assert_clean(&t);
    assert_eq!(t.qinq, 2);
}

#[test]
fn qinq_pppoe_dns() {
    let t = run("qinq_pppoe_dns.pcapng");
    assert_clean(&t);
    assert_eq!((t.qinq, t.pppoe), (4, 4));
}

#[test]
fn pppoe_session_http() {
    let t = run("pppoe_session_http.pcap");
    assert_clean(&t);
    assert_eq!(t.pppoe, 32);
}

#[test]
fn mpls_one_label() {
    let t = run("mpls_1label_tcp_telnet.pcap");
    assert_clean(&t);
    assert_eq!(t.mpls, 17);
}

#[test]
fn mpls_under_qinq_and_pseudowire() {
    let t = run("mpls_qinq_http_and_2label_eompls.pcap");
    assert_clean(&t);
    assert_eq!((t.mpls, t.qinq, t.pseudowire), (2, 2, 1));
}

#[test]
fn ipv4_fragments() {
    let t = run("http_request_ipv4_fragmented.pcap");
    assert_clean(&t);
    assert_eq!(t.fragments, 12);
}

#[test]
fn ipv4_and_ipv6_fragments_dns() {
    let t = run("dns_large_responses_ip_fragmented_v4_v6_and_tcp.pcap");
    assert_clean(&t);
    assert!(t.ipv6 >= 40, "{t:?}");
    assert!(t.fragments >= 8, "{t:?}");
}

#[test]
fn ipv6_udp_quic() {
    let t = run("quic_v1_ipv6_gstatic_1initial.pcap");
    assert_clean(&t);
    assert_eq!(t.ipv6, 1);
}

#[test]
fn raw_ip_ipv6_http() {
    let t = run("http_ipv6_4streams.pcap");
    assert_clean(&t);
    assert_eq!(t.ipv6, 18);
}
