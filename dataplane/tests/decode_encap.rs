//! Byte-level tests of `wire::decode` for every encapsulation issue 3 lists, and for
//! a truncation at every octet of each layer.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use metaprobe_dataplane::wire::{
    EtherType, IpProtocol, Layer, LenSource, MacAddr, PppProtocol, StopKind, StopReason, TcpFlags,
    VLAN_MAX_DEPTH, decode, decode_ip,
};

// ---- building blocks, each field annotated ------------------------------------

const DST: [u8; 6] = [0x00, 0x11, 0x22, 0x33, 0x44, 0x55];
const SRC: [u8; 6] = [0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb];

fn eth(ethertype: u16) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&DST); // destination MAC
    b.extend_from_slice(&SRC); // source MAC
    b.extend_from_slice(&ethertype.to_be_bytes()); // ether type / first TPID
    b
}

/// A VLAN tag after its TPID: TCI (PCP 3, DEI, id), then the next ether type.
fn tag(pcp: u8, id: u16, next: u16) -> [u8; 4] {
    let tci = (u16::from(pcp) << 13) | id;
    let [a, b] = tci.to_be_bytes();
    let [c, d] = next.to_be_bytes();
    [a, b, c, d]
}

/// An MPLS label stack entry: label 20, TC 3, S 1, TTL 8.
fn label(label: u32, bottom: bool, ttl: u8) -> [u8; 4] {
    ((label << 12) | (u32::from(bottom) << 8) | u32::from(ttl)).to_be_bytes()
}

/// An IPv4 header with `options` (multiple of 4) announcing `payload_len` octets.
fn ipv4(protocol: u8, options: &[u8], payload_len: usize, flags_frag: u16) -> Vec<u8> {
    let ihl = 5 + options.len() / 4;
    let total = (ihl * 4 + payload_len) as u16;
    let mut b = vec![0x40 | ihl as u8, 0x00]; // version 4, IHL; TOS
    b.extend_from_slice(&total.to_be_bytes()); // total length
    b.extend_from_slice(&[0xbe, 0xef]); // identification
    b.extend_from_slice(&flags_frag.to_be_bytes()); // flags, fragment offset
    b.extend_from_slice(&[64, protocol, 0, 0]); // TTL, protocol, checksum
    b.extend_from_slice(&[192, 0, 2, 1]); // source
    b.extend_from_slice(&[198, 51, 100, 7]); // destination
    b.extend_from_slice(options);
    b
}

/// An IPv6 header announcing `payload_len` octets after it.
fn ipv6(next: u8, payload_len: usize) -> Vec<u8> {
    let mut b = vec![0x60, 0x00, 0x00, 0x00]; // version 6, traffic class 0, flow label 0
    b.extend_from_slice(&(payload_len as u16).to_be_bytes()); // payload length
    b.extend_from_slice(&[next, 64]); // next header, hop limit
    b.extend_from_slice(&"2001:db8::1".parse::<Ipv6Addr>().unwrap().octets());
    b.extend_from_slice(&"2001:db8::2".parse::<Ipv6Addr>().unwrap().octets());
    b
}

/// A TCP header with `options` (multiple of 4).
fn tcp(sport: u16, dport: u16, seq: u32, flags: u8, options: &[u8]) -> Vec<u8> {
    let doff = 5 + options.len() / 4;
    let mut b = Vec::new();
    b.extend_from_slice(&sport.to_be_bytes()); // source port
    b.extend_from_slice(&dport.to_be_bytes()); // destination port
    b.extend_from_slice(&seq.to_be_bytes()); // sequence
    b.extend_from_slice(&[0, 0, 0, 0]); // acknowledgment
    b.extend_from_slice(&[(doff as u8) << 4, flags, 0xff, 0xff]); // data offset, flags, window
    b.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
    b.extend_from_slice(options);
    b
}

fn udp(sport: u16, dport: u16, payload_len: usize) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&sport.to_be_bytes());
    b.extend_from_slice(&dport.to_be_bytes());
    b.extend_from_slice(&((8 + payload_len) as u16).to_be_bytes()); // length
    b.extend_from_slice(&[0, 0]); // checksum
    b
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

const GET: &[u8] = b"GET / HTTP/1.1\r\n";
const MSS: [u8; 4] = [0x02, 0x04, 0x05, 0xb4];
const ROUTER_ALERT: [u8; 4] = [0x94, 0x04, 0x00, 0x00];

fn ipv4_tcp_get() -> Vec<u8> {
    let t = tcp(54422, 80, 1000, 0x18, &MSS);
    cat(&[&ipv4(6, &[], t.len() + GET.len(), 0x4000), &t, GET])
}

// ---- L2 ------------------------------------------------------------------------

#[test]
fn plain_ethernet_ipv4_tcp() {
    let f = cat(&[&eth(0x0800), &ipv4_tcp_get()]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    let e = p.ethernet.unwrap();
    assert_eq!((e.dst, e.src), (MacAddr(DST), MacAddr(SRC)));
    assert_eq!(e.ethertype, EtherType::IPV4);
    assert!(p.vlan.is_empty() && p.mpls.is_empty() && p.pppoe.is_none());
    assert_eq!(p.l3_offset, 14);
    let ip = p.ipv4().unwrap();
    assert_eq!(ip.src, Ipv4Addr::new(192, 0, 2, 1));
    assert!(ip.dont_fragment && !ip.is_fragment());
    let t = p.tcp().unwrap();
    assert_eq!(
        (t.src_port, t.dst_port, t.seq, t.header_len),
        (54422, 80, 1000, 24)
    );
    assert_eq!(t.flags, TcpFlags::PSH.union(TcpFlags::ACK));
    assert_eq!(p.ip_payload.offset, 34);
    assert_eq!(p.payload.offset, 58);
    assert_eq!(p.payload(&f), GET);
}

#[test]
fn single_vlan() {
    let f = cat(&[&eth(0x8100), &tag(5, 77, 0x0800), &ipv4_tcp_get()]);
    let p = decode(&f);
    assert!(p.is_complete());
    let outer = p.vlan.outer.unwrap();
    assert_eq!(
        (outer.id.value(), outer.pcp, outer.tpid),
        (77, 5, EtherType::VLAN)
    );
    assert_eq!(p.vlan.inner, None);
    assert_eq!(p.vlan.deeper, 0);
    assert_eq!(p.ethertype, EtherType::IPV4);
    assert_eq!(p.l3_offset, 18);
    assert_eq!(p.payload(&f), GET);
}

#[test]
fn qinq_with_each_outer_ethertype() {
    for outer_tpid in [0x8100u16, 0x88a8, 0x9100] {
        let f = cat(&[
            &eth(outer_tpid),
            &tag(1, 201, 0x8100), // S-tag (or outer C-tag), next: C-tag
            &tag(0, 200, 0x0800), // C-tag, next: IPv4
            &ipv4_tcp_get(),
        ]);
        let p = decode(&f);
        assert!(p.is_complete(), "{outer_tpid:#x}: {:?}", p.stop);
        let (o, i) = (p.vlan.outer.unwrap(), p.vlan.inner.unwrap());
        assert_eq!(o.tpid, EtherType(outer_tpid));
        assert_eq!((o.id.value(), o.pcp), (201, 1));
        assert_eq!((i.tpid, i.id.value()), (EtherType::VLAN, 200));
        assert_eq!(p.vlan.deeper, 0);
        assert_eq!(p.ethernet.unwrap().ethertype, EtherType(outer_tpid));
        assert_eq!(p.l3_offset, 22);
        assert_eq!(p.payload(&f), GET);
    }
}

#[test]
fn deeper_tags_are_counted_and_bounded() {
    let f = cat(&[
        &eth(0x88a8),
        &tag(0, 10, 0x8100),
        &tag(0, 20, 0x8100),
        &tag(0, 30, 0x8100),
        &tag(0, 40, 0x0800),
        &ipv4_tcp_get(),
    ]);
    let p = decode(&f);
    assert!(p.is_complete());
    assert_eq!(p.vlan.outer.unwrap().id.value(), 10);
    assert_eq!(p.vlan.inner.unwrap().id.value(), 20);
    assert_eq!((p.vlan.deeper, p.vlan.len()), (2, 4));
    assert_eq!(p.payload(&f), GET);

    let mut f = eth(0x8100);
    for _ in 0..=VLAN_MAX_DEPTH {
        f.extend_from_slice(&tag(0, 1, 0x8100));
    }
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.reason.kind()),
        (StopReason::VlanTooDeep, StopKind::Limit)
    );
    assert_eq!(s.offset as usize, 14 + 4 * VLAN_MAX_DEPTH);
    assert_eq!(p.vlan.len(), VLAN_MAX_DEPTH);
}

#[test]
fn other_ethertypes_stop_with_the_ethernet_layer_kept() {
    let f = cat(&[&eth(0x8100), &tag(0, 9, 0x0806), &[0u8; 28]]); // ARP in VLAN 9
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value, s.offset),
        (StopReason::UnsupportedEtherType, 0x0806, 18)
    );
    assert_eq!(s.reason.kind(), StopKind::NotDecoded);
    assert_eq!(p.vlan.outer.unwrap().id.value(), 9);
    assert_eq!(p.ethernet.unwrap().src, MacAddr(SRC));
    assert_eq!(p.ethertype, EtherType::ARP);
}

// ---- MPLS ------------------------------------------------------------------------

#[test]
fn three_mpls_labels_then_ipv4() {
    let u = udp(5000, 53, 4);
    let f = cat(&[
        &eth(0x8847),
        &label(100, false, 255),
        &label(200, false, 254),
        &label(300, true, 253),
        &ipv4(17, &[], u.len() + 4, 0),
        &u,
        b"dns!",
    ]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    let labels: Vec<u32> = p.mpls.entries().iter().map(|e| e.label()).collect();
    assert_eq!(labels, [100, 200, 300]);
    let bottoms: Vec<bool> = p.mpls.entries().iter().map(|e| e.bottom()).collect();
    assert_eq!(bottoms, [false, false, true]);
    assert_eq!(p.mpls.entries()[0].to_bytes(), label(100, false, 255));
    assert_eq!(p.mpls.entries()[2].ttl(), 253);
    assert_eq!(p.l3_offset, 26);
    assert_eq!(p.udp().unwrap().dst_port, 53);
    assert_eq!(p.payload(&f), b"dns!");
}

#[test]
fn mpls_then_ipv6() {
    let t = tcp(443, 50000, 7, 0x12, &[]);
    let f = cat(&[&eth(0x8848), &label(16000, true, 64), &ipv6(6, t.len()), &t]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    assert_eq!(p.mpls.top().unwrap().label(), 16000);
    let ip = p.ipv6().unwrap();
    assert_eq!(ip.dst, "2001:db8::2".parse::<Ipv6Addr>().unwrap());
    assert_eq!(ip.protocol(), IpProtocol::TCP);
    assert_eq!(p.tcp().unwrap().flags, TcpFlags::SYN.union(TcpFlags::ACK));
    assert_eq!(p.payload.len, 0);
}

#[test]
fn mpls_pseudowire_and_depth_limit_stop_with_the_stack_kept() {
    // Control word (first nibble 0) after the bottom of stack: Ethernet over MPLS.
    let f = cat(&[
        &eth(0x8847),
        &label(18, false, 1),
        &label(16, true, 1),
        &[0, 0, 0, 0],
        &eth(0x0800),
    ]);
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value, s.offset),
        (StopReason::MplsPayloadNotIp, 0, 22)
    );
    assert_eq!(p.mpls.entries().len(), 2);

    let mut f = eth(0x8847);
    for _ in 0..20 {
        f.extend_from_slice(&label(1, false, 1));
    }
    let p = decode(&f);
    assert_eq!(p.stop.unwrap().reason, StopReason::MplsTooDeep);
    assert_eq!(p.mpls.depth(), metaprobe_dataplane::wire::MPLS_MAX_DEPTH);
    assert_eq!(p.mpls.entries().len(), metaprobe_dataplane::wire::MPLS_CAP);
}

// ---- PPPoE -----------------------------------------------------------------------

fn pppoe(session: u16, protocol: u16, payload_len: usize) -> Vec<u8> {
    let mut b = vec![0x11, 0x00]; // version 1 type 1, code session data
    b.extend_from_slice(&session.to_be_bytes()); // session id
    b.extend_from_slice(&((payload_len + 2) as u16).to_be_bytes()); // length
    b.extend_from_slice(&protocol.to_be_bytes()); // PPP protocol
    b
}

#[test]
fn pppoe_ipv4() {
    let ip = ipv4_tcp_get();
    let f = cat(&[&eth(0x8864), &pppoe(0x002d, 0x0021, ip.len()), &ip]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    let s = p.pppoe.unwrap();
    assert_eq!((s.session_id, s.protocol), (0x002d, PppProtocol::IPV4));
    assert_eq!(p.l3_offset, 22);
    assert_eq!(p.payload(&f), GET);
}

#[test]
fn pppoe_ipv6_behind_qinq() {
    let u = udp(32795, 53, 3);
    let ip = cat(&[&ipv6(17, u.len() + 3), &u, b"abc"]);
    let f = cat(&[
        &eth(0x8100),
        &tag(0, 421, 0x8100),
        &tag(0, 785, 0x8864),
        &pppoe(0x556a, 0x0057, ip.len()),
        &ip,
    ]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    assert_eq!(p.vlan.outer.unwrap().id.value(), 421);
    assert_eq!(p.vlan.inner.unwrap().id.value(), 785);
    assert_eq!(p.pppoe.unwrap().protocol, PppProtocol::IPV6);
    assert_eq!(
        p.src_addr(),
        Some(IpAddr::V6("2001:db8::1".parse().unwrap()))
    );
    assert_eq!(p.ports(), Some((32795, 53)));
    assert_eq!(p.payload(&f), b"abc");
}

#[test]
fn pppoe_control_and_discovery_are_counted_not_decoded() {
    let f = cat(&[&eth(0x8864), &pppoe(7, 0xc021, 4), &[1, 1, 0, 4]]); // LCP
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value),
        (StopReason::UnsupportedPppProtocol, 0xc021)
    );
    assert_eq!(p.pppoe.unwrap().session_id, 7);
    let f = cat(&[&eth(0x8863), &[0x11, 0x09, 0, 0, 0, 0]]); // PADI
    assert_eq!(decode(&f).stop.unwrap().reason, StopReason::PppoeDiscovery);
}

// ---- L3 --------------------------------------------------------------------------

#[test]
fn ipv4_with_options() {
    let t = tcp(1, 2, 3, 0x02, &[]);
    let f = cat(&[
        &eth(0x0800),
        &ipv4(6, &[ROUTER_ALERT, ROUTER_ALERT].concat(), t.len() + 2, 0),
        &t,
        b"hi",
    ]);
    let p = decode(&f);
    assert!(p.is_complete());
    assert_eq!(p.ipv4().unwrap().header_len, 28);
    assert_eq!(p.ip_payload.offset, 14 + 28);
    assert_eq!(p.tcp().unwrap().src_port, 1);
    assert_eq!(p.payload(&f), b"hi");
}

#[test]
fn ethernet_padding_is_trimmed_by_the_ip_length() {
    let t = tcp(1, 2, 3, 0x10, &[]);
    let mut f = cat(&[&eth(0x0800), &ipv4(6, &[], t.len(), 0), &t]);
    f.resize(60, 0); // minimum frame
    let p = decode(&f);
    assert!(p.is_complete());
    assert_eq!(p.payload.len, 0);
    assert_eq!(p.ipv4().unwrap().len_source, LenSource::Header);
}

#[test]
fn ipv4_first_fragment_is_parsed_later_ones_counted() {
    // First fragment: MF, offset 0; the UDP length covers the whole datagram.
    let mut u = udp(2049, 800, 3000);
    u.extend_from_slice(&[0xab; 16]);
    let f = cat(&[&eth(0x0800), &ipv4(17, &[], u.len(), 0x2000), &u]);
    let p = decode(&f);
    assert!(p.is_complete());
    assert!(p.is_fragment());
    let ud = p.udp().unwrap();
    assert_eq!((ud.length, ud.len_source), (3008, LenSource::Slice));
    assert_eq!(p.payload.len, 16);

    // Later fragment: offset 185 (1480 octets), MF clear.
    let f = cat(&[&eth(0x0800), &ipv4(17, &[], 24, 185), &[0xcd; 24]]);
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value, s.offset),
        (StopReason::Ipv4LaterFragment, 185, 14)
    );
    assert_eq!(s.reason.kind(), StopKind::NotDecoded);
    assert!(p.is_fragment());
    assert_eq!(p.ipv4().unwrap().frag_offset, 185);
    assert_eq!(p.transport, Default::default());
    assert_eq!((p.ip_payload.offset, p.ip_payload.len), (34, 24));
}

#[test]
fn ipv6_with_extension_headers() {
    let t = tcp(40000, 443, 99, 0x02, &MSS);
    #[rustfmt::skip]
    let exts: Vec<u8> = cat(&[
        &[60, 0, 1, 4, 0, 0, 0, 0],          // hop-by-hop: next dest-opts, 8 octets, PadN
        &[43, 1, 1, 12, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], // dest opts: next routing, 16 octets
        &[6, 2, 4, 1, 0, 0, 0, 0],            // routing type 4 (SRH) header start: next TCP
        &[0u8; 16],                           //   one segment (24 octets total)
    ]);
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(0, exts.len() + t.len() + 4),
        &exts,
        &t,
        b"ciao",
    ]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    let ip = p.ipv6().unwrap();
    assert_eq!(ip.next_header, IpProtocol::HOPOPT);
    assert_eq!((ip.ext.count, ip.ext.len), (3, 48));
    assert!(ip.ext.routing && ip.ext.fragment.is_none());
    assert_eq!(ip.protocol(), IpProtocol::TCP);
    assert_eq!(p.ip_payload.offset, 14 + 40 + 48);
    assert_eq!(p.tcp().unwrap().dst_port, 443);
    assert_eq!(p.payload(&f), b"ciao");
}

#[test]
fn ipv6_fragments_first_parsed_later_counted() {
    let u = udp(53, 5353, 100);
    let frag_first = [17, 0, 0x00, 0x01, 0x12, 0x34, 0x56, 0x78]; // next UDP, offset 0, M, ident
    let f = cat(&[
        &eth(0x86dd),
        &ipv6(44, 8 + u.len() + 10),
        &frag_first,
        &u,
        &[0; 10],
    ]);
    let p = decode(&f);
    assert!(p.is_complete(), "{:?}", p.stop);
    let fr = p.ipv6().unwrap().ext.fragment.unwrap();
    assert_eq!((fr.ident, fr.offset, fr.more), (0x12345678, 0, true));
    assert_eq!(p.udp().unwrap().len_source, LenSource::Slice);
    assert_eq!(p.payload.len, 10);

    let frag_later = [17, 0, 0x00, 0xa8, 0x12, 0x34, 0x56, 0x78]; // offset 21 (168 octets), last
    let f = cat(&[&eth(0x86dd), &ipv6(44, 8 + 12), &frag_later, &[0xee; 12]]);
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value, s.offset),
        (StopReason::Ipv6LaterFragment, 21, 54)
    );
    assert_eq!(s.layer(), Layer::Ipv6Ext);
    assert!(p.is_fragment());
    assert_eq!((p.ip_payload.offset, p.ip_payload.len), (62, 12));
}

#[test]
fn other_transports_are_counted_with_ip_kept() {
    let f = cat(&[&eth(0x0800), &ipv4(1, &[], 8, 0), &[8, 0, 0, 0, 0, 1, 0, 1]]); // ICMP echo
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.value, s.offset),
        (StopReason::UnsupportedTransport, 1, 34)
    );
    assert_eq!(p.protocol(), Some(IpProtocol::ICMP));
    assert_eq!(p.ip_payload.len, 8);
}

#[test]
fn raw_ip_entry_point() {
    let p = decode_ip(&ipv4_tcp_get());
    assert!(p.is_complete());
    assert_eq!(p.ethernet, None);
    assert_eq!(p.l3_offset, 0);
    assert_eq!(p.ports(), Some((54422, 80)));
    assert_eq!(
        decode_ip(&[0x50, 0]).stop.unwrap().reason,
        StopReason::IpBadVersion
    );
    assert_eq!(decode_ip(&[]).stop.unwrap().reason, StopReason::IpTruncated);
}

// ---- truncated at every layer ------------------------------------------------------

/// Cuts `frame` at every length and checks the stop reason against the layer the cut
/// falls in (`regions`: end offset of a region and the reason a cut inside it gives),
/// and that every layer before the cut was kept.
fn check_every_cut(frame: &[u8], regions: &[(usize, StopReason)]) {
    let last = regions.last().map_or(0, |r| r.0);
    assert!(last <= frame.len());
    for n in 0..last {
        let p = decode(&frame[..n]);
        let (_, want) = regions
            .iter()
            .find(|(end, _)| n < *end)
            .unwrap_or_else(|| panic!("cut {n} is past every region"));
        let got = p.stop.unwrap_or_else(|| panic!("cut {n}: no stop"));
        assert_eq!(got.reason, *want, "cut at {n}: {got}");
        assert_eq!(got.reason.kind(), StopKind::Truncated, "cut at {n}");
        assert!(got.have < got.need, "cut at {n}: {got}");
        assert!(
            u64::from(got.offset) + u64::from(got.have) <= n as u64,
            "cut at {n}: {got}"
        );
        if n >= 14 {
            assert_eq!(p.ethernet.unwrap().src, MacAddr(SRC), "cut at {n}");
        }
    }
}

#[test]
fn truncated_at_every_layer_vlan_ipv4_tcp() {
    let t = tcp(54422, 80, 1, 0x18, &MSS);
    let f = cat(&[
        &eth(0x8100),
        &tag(0, 5, 0x0800),
        &ipv4(6, &ROUTER_ALERT, t.len() + 4, 0),
        &t,
        b"data",
    ]);
    use StopReason::*;
    check_every_cut(
        &f,
        &[
            (14, EthernetTruncated),
            (18, VlanTruncated),
            (38, Ipv4Truncated),
            (42, Ipv4OptionsTruncated),
            (62, TcpTruncated),
            (66, TcpOptionsTruncated),
        ],
    );
    for n in 66..=f.len() {
        let p = decode(&f[..n]);
        assert!(p.is_complete(), "cut at {n}");
        assert_eq!(p.payload.len as usize, n - 66);
        let want = if n == f.len() {
            LenSource::Header
        } else {
            LenSource::Slice
        };
        assert_eq!(p.ipv4().unwrap().len_source, want, "cut at {n}");
    }
    // Cut at 50: IPv4 is kept, TCP says it needed 20 and had 8.
    let p = decode(&f[..50]);
    assert_eq!(p.vlan.outer.unwrap().id.value(), 5);
    assert!(p.ipv4().is_some());
    let s = p.stop.unwrap();
    assert_eq!((s.offset, s.need, s.have), (42, 20, 8));
}

#[test]
fn truncated_at_every_layer_mpls_pppoe_ipv6_udp() {
    use StopReason::*;
    let u = udp(1, 2, 4);
    let hbh = [17, 0, 1, 4, 0, 0, 0, 0];
    let ip6 = cat(&[&ipv6(0, 8 + u.len() + 4), &hbh, &u, b"1234"]);
    let f = cat(&[&eth(0x8864), &pppoe(1, 0x0057, ip6.len()), &ip6]);
    check_every_cut(
        &f,
        &[
            (14, EthernetTruncated),
            (22, PppoeTruncated),
            (62, Ipv6Truncated),
            (70, Ipv6ExtTruncated),
            (78, UdpTruncated),
        ],
    );
    for n in 78..=f.len() {
        assert_eq!(decode(&f[..n]).payload.len as usize, n - 78);
    }

    let ip4 = cat(&[&ipv4(17, &[], u.len() + 4, 0), &u, b"1234"]);
    let f = cat(&[&eth(0x8847), &label(1, false, 9), &label(2, true, 9), &ip4]);
    check_every_cut(
        &f,
        &[
            (14, EthernetTruncated),
            (18, MplsTruncated),
            (22, MplsTruncated),
            (23, IpTruncated),
            (42, Ipv4Truncated),
            (50, UdpTruncated),
        ],
    );
}

#[test]
fn transport_is_bounded_by_the_ip_length_not_the_capture() {
    // IPv4 says 10 octets of payload; the frame has a whole TCP header after it.
    let t = tcp(1, 2, 3, 0x10, &[]);
    let f = cat(&[&eth(0x0800), &ipv4(6, &[], 10, 0), &t]);
    let p = decode(&f);
    let s = p.stop.unwrap();
    assert_eq!(
        (s.reason, s.need, s.have),
        (StopReason::TcpTruncated, 20, 10)
    );
    assert_eq!(p.ip_payload.len, 10);
}

#[test]
fn packet_summary_stays_small() {
    let size = std::mem::size_of::<metaprobe_dataplane::wire::Packet>();
    println!("size_of::<Packet>() = {size}");
    assert!(size <= 256, "{size}");
}
