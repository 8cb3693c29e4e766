//! Unit tests of the DNS grammar, with real messages.

use super::*;
use metaprobe_ipfix::dns_text::{RdataText, write_name_text, write_rdata_text};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[derive(Debug, PartialEq, Eq)]
struct Owned {
    name: String,
    rrtype: u16,
    rrclass: u16,
    ttl: u32,
    rdata: Vec<u8>,
    kind: RecordKind,
}

fn all(msg: &[u8]) -> Vec<Result<Owned, DnsError>> {
    let mut buf = RecordBuf::new();
    let mut it = Answers::new(msg);
    let mut out = Vec::new();
    while let Some(r) = it.next(&mut buf) {
        out.push(r.map(|r| Owned {
            name: String::from_utf8(r.name.to_vec()).unwrap(),
            rrtype: r.rrtype.0,
            rrclass: r.rrclass.0,
            ttl: r.ttl,
            rdata: r.rdata.to_vec(),
            kind: r.kind,
        }));
        assert!(out.len() < 70_000, "no end");
    }
    // Fused.
    assert!(it.next(&mut buf).is_none());
    out
}

fn ok(msg: &[u8]) -> Vec<Owned> {
    all(msg).into_iter().map(|r| r.unwrap()).collect()
}

fn text(t: u16, rdata: &[u8]) -> String {
    RdataText { rrtype: t, rdata }.to_string()
}

// Real responses from `dns_udp_a_aaaa_cname_mx_txt_ptr_srv.pcap` (Wireshark's
// dns.cap) and `dns_udp_cname_chains.pcap` (nDPI), UDP payloads as captured.

/// Frame 2: google.com TXT "v=spf1 ptr ?all".
const TXT: &str = "10328180000100010000000006676f6f676c6503636f6d0000100001
    c00c 0010 0001 0000010e 0010 0f763d7370663120707472203f616c6c";
/// Frame 4: google.com MX, 6 answers (targets compressed against the question),
/// 6 additional A records.
const MX: &str = "f76f8180000100060000000606676f6f676c6503636f6d00000f0001
    c00c000f000100000228000a002805736d747034c00c
    c00c000f000100000228000a000a05736d747035c00c
    c00c000f000100000228000a000a05736d747036c00c
    c00c000f000100000228000a000a05736d747031c00c
    c00c000f000100000228000a000a05736d747032c00c
    c00c000f000100000228000a002805736d747033c00c
    c02a00010001000002580004d8ef251ac0400001000100000258000440e9a719
    c0560001000100000258000442660919c06c00010001000002580004d8ef3919
    c08200010001000002580004d8ef2519c09800010001000002580004d8ef391a";
/// Frame 8: 104.9.192.66.in-addr.arpa PTR 66-192-9-104.gen.twtelecom.net.
const PTR: &str = "9bbb818000010001000000000331303401390331393202363607696e2d616464720461727061
    00000c0001c00c000c00010001512500200c36362d3139322d392d3130340367656e09747774656c65636f6d036e657400";
/// Frame 10: www.netbsd.org A 204.152.190.12.
const A: &str = "75c08180000100010000000003777777066e6574627364036f72670000010001
    c00c 0001 0001 000140ef 0004 cc98be0c";
/// Frame 12: www.netbsd.org AAAA 2001:4f8:4:7:2e0:81ff:fe52:9a6b.
const AAAA: &str = "f0d48180000100010000000003777777066e6574627364036f726700001c0001
    c00c001c0001000151800010200104f80004000702e081fffe529a6b";
/// Frame 16: www.google.com AAAA answered by CNAME www.l.google.com (compressed).
const CNAME: &str = "8db3818000010001000000000377777706676f6f676c6503636f6d00001c0001
    c00c 0005 0001 00000279 0008 03777777016cc010";
/// Frame 22: www.example.notginh AAAA, NXDOMAIN, nothing else.
const NXDOMAIN: &str = "266d8583000100000000000003777777076578616d706c65076e6f7467696e6800001c0001";
/// Frame 29: isc.org NS, 4 answers.
const NS: &str = "208a8180000100040000000003697363036f72670000020001
    c00c0002000100000e10000e066e732d657874046e727431c00c
    c00c0002000100000e10000e066e732d6578740473746831c00c
    c00c0002000100000e100009066e732d657874c00c
    c00c0002000100000e10000e066e732d657874046c676131c00c";
/// nDPI frame 2: 41-courier.push.apple.com A: CNAME → CNAME → 8 × A, an OPT.
const CHAIN: &str = "663181800001000a000000010a34312d636f75726965720470757368056170706c6503636f6d0000010001
    c00c00050001000024d7002602343112636f75726965722d707573682d6170706c6503636f6d06616b61646e73036e657400
    c037000500010000003b00201265752d6e6f7274682d636f75726965722d340a707573682d6170706c65c04d
    c069000100010000001100041139928b c069000100010000001100041139928a
    c0690001000100000011000411399287 c0690001000100000011000411399288
    c0690001000100000011000411399289 c0690001000100000011000411399284
    c0690001000100000011000411399286 c0690001000100000011000411399285
    0000290200000000000000";
/// nDPI frame 12: *.teams.microsoft.com A, NXDOMAIN, SOA in the authority section.
const NX_SOA: &str = "b56281830001000000010001012a057465616d73096d6963726f736f667403636f6d0000010001
    c014000600010000012b003e076e73312d32303509617a7572652d646e73c01e13617a757265646e732d686f73746d6173746572c014
    0000000100000e100000012c0024ea000000012c
    0000290200000000000000";

#[test]
fn txt() {
    let r = ok(&hex(TXT));
    assert_eq!(
        r,
        [Owned {
            name: "google.com".into(),
            rrtype: 16,
            rrclass: 1,
            ttl: 270,
            rdata: b"\x0fv=spf1 ptr ?all".to_vec(),
            kind: RecordKind::Answer,
        }]
    );
    assert_eq!(text(16, &r[0].rdata), "0f763d7370663120707472203f616c6c");
}

#[test]
fn mx_names_uncompressed_additionals_not_read() {
    let r = ok(&hex(MX));
    assert_eq!(r.len(), 6);
    let prefs_targets: Vec<(String, u16)> = r
        .iter()
        .map(|x| {
            assert_eq!(
                (x.name.as_str(), x.rrtype, x.rrclass, x.ttl),
                ("google.com", 15, 1, 552)
            );
            let t = text(15, &x.rdata);
            let (p, n) = t.split_once(' ').unwrap();
            (n.to_string(), p.parse().unwrap())
        })
        .collect();
    assert_eq!(
        prefs_targets,
        [
            ("smtp4.google.com".to_string(), 40),
            ("smtp5.google.com".to_string(), 10),
            ("smtp6.google.com".to_string(), 10),
            ("smtp1.google.com".to_string(), 10),
            ("smtp2.google.com".to_string(), 10),
            ("smtp3.google.com".to_string(), 40),
        ]
    );
    assert_eq!(
        r[0].rdata,
        hex("0028 05736d747034 06676f6f676c65 03636f6d 00")
    );
}

#[test]
fn ptr() {
    let r = ok(&hex(PTR));
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].name, "104.9.192.66.in-addr.arpa");
    assert_eq!((r[0].rrtype, r[0].ttl), (12, 86309));
    // Not compressed on the wire: RDATA unchanged.
    assert_eq!(r[0].rdata, hex(PTR)[hex(PTR).len() - 32..]);
    assert_eq!(text(12, &r[0].rdata), "66-192-9-104.gen.twtelecom.net");
}

#[test]
fn a_and_aaaa() {
    let r = ok(&hex(A));
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].name.as_str(), r[0].rrtype, r[0].ttl),
        ("www.netbsd.org", 1, 82159)
    );
    assert_eq!(r[0].rdata, [204, 152, 190, 12]);
    assert_eq!(text(1, &r[0].rdata), "204.152.190.12");
    let r = ok(&hex(AAAA));
    assert_eq!((r[0].rrtype, r[0].ttl), (28, 86400));
    assert_eq!(text(28, &r[0].rdata), "2001:4f8:4:7:2e0:81ff:fe52:9a6b");
    // An A of the wrong length is not an address: hex.
    assert_eq!(text(1, &[1, 2, 3]), "010203");
}

#[test]
fn cname_compressed_in_rdata() {
    let r = ok(&hex(CNAME));
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].name.as_str(), r[0].rrtype, r[0].ttl),
        ("www.google.com", 5, 633)
    );
    assert_eq!(r[0].rdata, hex("03777777 016c 06676f6f676c65 03636f6d 00"));
    assert_eq!(text(5, &r[0].rdata), "www.l.google.com");
}

#[test]
fn cname_chain() {
    let r = ok(&hex(CHAIN));
    assert_eq!(r.len(), 10);
    assert_eq!(r[0].name, "41-courier.push.apple.com");
    assert_eq!(text(5, &r[0].rdata), "41.courier-push-apple.com.akadns.net");
    assert_eq!(r[1].name, "41.courier-push-apple.com.akadns.net");
    assert_eq!(
        text(5, &r[1].rdata),
        "eu-north-courier-4.push-apple.com.akadns.net"
    );
    for a in &r[2..] {
        assert_eq!(a.name, "eu-north-courier-4.push-apple.com.akadns.net");
        assert_eq!((a.rrtype, a.ttl, a.rdata.len()), (1, 17, 4));
    }
    let addrs: Vec<String> = r[2..].iter().map(|a| text(1, &a.rdata)).collect();
    assert_eq!(addrs[0], "17.57.146.139");
    assert_eq!(addrs[7], "17.57.146.133");
}

#[test]
fn ns() {
    let r = ok(&hex(NS));
    let names: Vec<String> = r.iter().map(|x| text(2, &x.rdata)).collect();
    assert_eq!(
        names,
        [
            "ns-ext.nrt1.isc.org",
            "ns-ext.sth1.isc.org",
            "ns-ext.isc.org",
            "ns-ext.lga1.isc.org"
        ]
    );
}

#[test]
fn nxdomain_gives_the_question() {
    for (m, name, t) in [
        (NXDOMAIN, "www.example.notginh", 28),
        (NX_SOA, "*.teams.microsoft.com", 1),
    ] {
        let msg = hex(m);
        assert_eq!(Header::parse(&msg).unwrap().rcode(), 3);
        assert_eq!(
            ok(&msg),
            [Owned {
                name: name.into(),
                rrtype: t,
                rrclass: 1,
                ttl: 0,
                rdata: vec![],
                kind: RecordKind::Question,
            }]
        );
    }
}

#[test]
fn soa_answer_uncompressed() {
    // The real SOA RR of NX_SOA moved to the answer section (ANCOUNT 1, NSCOUNT 0).
    let mut msg = hex(NX_SOA);
    msg[6..10].copy_from_slice(&[0, 1, 0, 0]);
    let r = ok(&msg);
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].name.as_str(), r[0].rrtype, r[0].ttl),
        ("microsoft.com", 6, 299)
    );
    assert_eq!(
        r[0].rdata,
        hex("076e73312d323035 09617a7572652d646e73 03636f6d 00
             13617a757265646e732d686f73746d6173746572 096d6963726f736f6674 03636f6d 00
             00000001 00000e10 0000012c 0024ea00 0000012c")
    );
    assert_eq!(
        text(6, &r[0].rdata),
        "ns1-205.azure-dns.com azuredns-hostmaster.microsoft.com 1 3600 300 2419200 300"
    );
}

#[test]
fn srv_target_compressed() {
    // _sip._udp.example.com SRV 0 5 5060 sip.example.com, target compressed to
    // "example.com" at offset 22.
    let msg = hex("abcd 8580 0001 0001 0000 0000
        045f736970 045f756470 076578616d706c65 03636f6d 00 0021 0001
        c00c 0021 0001 00000e10 000c 0000 0005 13c4 03736970 c016");
    let r = ok(&msg);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].name, "_sip._udp.example.com");
    assert_eq!(
        r[0].rdata,
        hex("0000 0005 13c4 03736970 076578616d706c65 03636f6d 00")
    );
    assert_eq!(text(33, &r[0].rdata), "0 5 5060 sip.example.com");
}

#[test]
fn truncated_tc_response() {
    // TC set, ANCOUNT 3, only the first answer present: one record, no error.
    let mut msg = hex(A);
    msg[2] |= 0x02;
    msg[7] = 3;
    let r = all(&msg);
    assert_eq!(r.len(), 1);
    assert_eq!(text(1, &r[0].as_ref().unwrap().rdata), "204.152.190.12");
    // The same without TC: the missing answers are a bad count.
    msg[2] &= !0x02;
    let r = all(&msg);
    assert_eq!(r.len(), 2);
    assert_eq!(r[1], Err(DnsError::BadCount));
    // TC response without answers (the usual shape): the question.
    let mut msg = hex(NXDOMAIN);
    msg[2] |= 0x02;
    msg[3] &= 0xf0;
    assert_eq!(ok(&msg)[0].kind, RecordKind::Question);
    // Cut inside an RR: truncated, whatever TC says.
    let mut msg = hex(A);
    msg[2] |= 0x02;
    msg.truncate(msg.len() - 2);
    assert_eq!(all(&msg), [Err(DnsError::Truncated)]);
}

#[test]
fn queries_give_nothing() {
    let mut msg = hex(A);
    msg[2] &= 0x7f;
    assert!(all(&msg).is_empty());
    assert!(all(&hex("1234 0100 0001 0000 0000 0000 03777777 00 0001 0001")).is_empty());
}

#[test]
fn header_and_counts() {
    assert_eq!(all(&[]), [Err(DnsError::HeaderTruncated)]);
    assert_eq!(
        all(&hex("1234 8180 0001")),
        [Err(DnsError::HeaderTruncated)]
    );
    // A response with neither question nor answer.
    assert_eq!(
        all(&hex("1234 8180 0000 0000 0000 0000")),
        [Err(DnsError::BadCount)]
    );
    // QDCOUNT larger than the questions present.
    let mut msg = hex(NXDOMAIN);
    msg[5] = 9;
    assert_eq!(all(&msg), [Err(DnsError::Truncated)]);
    // ANCOUNT 65535 on a message with one answer.
    let mut msg = hex(A);
    msg[6..8].copy_from_slice(&[0xff, 0xff]);
    let r = all(&msg);
    assert_eq!((r.len(), &r[1]), (2, &Err(DnsError::BadCount)));
    // UPDATE response: not read.
    let mut msg = hex(A);
    msg[2] = 0x80 | 5 << 3;
    assert_eq!(all(&msg), [Err(DnsError::NotQuery)]);
}

#[test]
fn pointer_loops_and_forward_pointers() {
    // The answer's owner name (offset 32) is a pointer to itself.
    let mut msg = hex(A);
    assert_eq!(msg[32..34], [0xc0, 12]);
    msg[33] = 32;
    assert_eq!(all(&msg), [Err(DnsError::PointerLoop)]);
    // A forward pointer (to the answer's own RDATA at 44).
    msg[33] = 44;
    assert_eq!(all(&msg), [Err(DnsError::PointerLoop)]);
    // Two names pointing at each other: the question ends with a pointer to the
    // answer's owner, which points back at the question.
    let msg = hex("0001 8180 0001 0001 0000 0000
        03777777 c01b 0001 0001
        03616263 c00c 0001 0001 00000010 0004 01020304");
    assert_eq!(all(&msg), [Err(DnsError::PointerLoop)]);
    // A pointer into the middle of its own labels.
    let msg = hex("0001 8180 0001 0000 0000 0000 03777777 03616263 c00f 0001 0001");
    assert_eq!(all(&msg), [Err(DnsError::PointerLoop)]);
    // A pointer past the end of the message.
    let msg = hex("0001 8180 0001 0000 0000 0000 03777777 c0ff 0001 0001");
    assert_eq!(all(&msg), [Err(DnsError::PointerLoop)]);
    // Pointer cut after its first octet.
    assert_eq!(
        all(&hex("0001 8180 0001 0000 0000 0000 03777777 c0")),
        [Err(DnsError::Truncated)]
    );
}

#[test]
fn pointer_chains_are_bounded() {
    // Question "a." at 12. Answer 1 (owner "a." by pointer) is a NULL record whose
    // RDATA is a chain of pointers, each to the one before it, the first to 12;
    // answer 2's owner is the last pointer of the chain. Every pointer moves
    // backwards, but the name would need 201 of them.
    let mut msg = hex("0001 8180 0001 0002 0000 0000 0161 00 0001 0001");
    let chain_at = 19 + 12;
    let mut chain = Vec::new();
    let mut prev = 12u16;
    for i in 0..200u16 {
        chain.extend_from_slice(&(0xc000 | prev).to_be_bytes());
        prev = chain_at + 2 * i;
    }
    msg.extend_from_slice(&hex("c00c 000a 0001 00000000"));
    msg.extend_from_slice(&(chain.len() as u16).to_be_bytes());
    msg.extend_from_slice(&chain);
    msg.extend_from_slice(&(0xc000 | prev).to_be_bytes());
    msg.extend_from_slice(&hex("0001 0001 00000000 0004 01020304"));
    let r = all(&msg);
    assert_eq!(r.len(), 2);
    assert_eq!(r[0].as_ref().unwrap().rdata.len(), 400);
    assert_eq!(r[1], Err(DnsError::TooManyPointers));
    // The same chain, 100 long, is followed to the end.
    let at = chain_at + 2 * 99;
    let n = msg.len();
    msg[n - 16..n - 14].copy_from_slice(&(0xc000 | at).to_be_bytes());
    let r = all(&msg);
    assert_eq!(r[1].as_ref().unwrap().name, "a");
}

#[test]
fn label_and_name_limits() {
    // 0x40 label type.
    assert_eq!(
        all(&hex("0001 8180 0001 0000 0000 0000 40 00 0001 0001")),
        [Err(DnsError::LabelTooLong)]
    );
    // 0x80 label type.
    assert_eq!(
        all(&hex("0001 8180 0001 0000 0000 0000 80 00 0001 0001")),
        [Err(DnsError::LabelTooLong)]
    );
    // Four labels of 63: 4 × 64 + 1 = 257 > 255.
    let mut msg = hex("0001 8180 0001 0000 0000 0000");
    for _ in 0..4 {
        msg.push(63);
        msg.extend_from_slice(&[b'x'; 63]);
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    assert_eq!(all(&msg), [Err(DnsError::NameTooLong)]);
    // Three labels of 63 and one of 61: exactly 255, fine; 253 characters dotted.
    let mut msg = hex("0001 8180 0001 0000 0000 0000");
    for n in [63, 63, 63, 61] {
        msg.push(n);
        msg.extend_from_slice(&vec![b'x'; n as usize]);
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]);
    let r = ok(&msg);
    assert_eq!(r[0].name.len(), 253);
    // Too long through a pointer: 200 octets of labels, then a pointer to them.
    let mut msg = hex("0001 8180 0001 0001 0000 0000");
    for _ in 0..4 {
        msg.push(49);
        msg.extend_from_slice(&[b'y'; 49]);
    }
    msg.extend_from_slice(&[0, 0, 1, 0, 1]); // question: 201 octets
    msg.push(60);
    msg.extend_from_slice(&[b'z'; 60]);
    msg.extend_from_slice(&hex("c00c 0001 0001 00000000 0004 01020304"));
    assert_eq!(all(&msg), [Err(DnsError::NameTooLong)]);
}

#[test]
fn root_owner() {
    let r = ok(&hex(
        "0001 8180 0001 0001 0000 0000 00 0002 0001
        00 0002 0001 00000e10 0014 01610c726f6f742d73657276657273036e657400",
    ));
    assert_eq!((r[0].name.as_str(), r[0].rrtype), ("", 2));
    assert_eq!(text(2, &r[0].rdata), "a.root-servers.net");
    let mut s = String::new();
    write_name_text(&mut s, b"").unwrap();
    assert_eq!(s, ".");
}

#[test]
fn bad_rdata_skips_one_record_only() {
    // CNAME whose name runs past its RDLENGTH (no root octet); then a good A.
    let msg = hex("0001 8180 0001 0002 0000 0000 0161 00 0001 0001
        c00c 0005 0001 00000001 0004 03777777
        c00c 0001 0001 00000001 0004 0a000001");
    let r = all(&msg);
    assert_eq!(r[0], Err(DnsError::BadRdata));
    assert_eq!(text(1, &r[1].as_ref().unwrap().rdata), "10.0.0.1");
    // MX with a trailing octet after the name.
    let msg = hex("0001 8180 0001 0001 0000 0000 0161 00 0001 0001
        c00c 000f 0001 00000001 0006 000a c00c 00 ff");
    assert_eq!(all(&msg), [Err(DnsError::BadRdata)]);
    // A loop inside RDATA: also one record.
    let msg = hex("0001 8180 0001 0002 0000 0000 0161 00 0001 0001
        c00c 0005 0001 00000001 0002 c01f
        c00c 0001 0001 00000001 0004 0a000001");
    let r = all(&msg);
    assert_eq!(r[0], Err(DnsError::PointerLoop));
    assert!(r[1].is_ok());
    // RDLENGTH past the end: the framing is lost.
    let msg = hex("0001 8180 0001 0002 0000 0000 0161 00 0001 0001
        c00c 0001 0001 00000001 0040 0a000001");
    assert_eq!(all(&msg), [Err(DnsError::Truncated)]);
}

#[test]
fn rendering() {
    // Escapes in names, hex for unknown types and for bad layouts.
    let mut s = String::new();
    write_name_text(&mut s, b"a b.c\\d:e\x01").unwrap();
    assert_eq!(s, "a\\032b.c\\\\d:e\\001");
    assert_eq!(text(5, &hex("03 612e62 00")), "a\\.b");
    assert_eq!(text(5, &hex("00")), ".");
    assert_eq!(text(5, &hex("03 6162")), "036162");
    assert_eq!(text(5, &hex("01 61 00 ff")), "016100ff");
    assert_eq!(text(48, &hex("0101 03 08")), "01010308");
    assert_eq!(text(1234, &[]), "");
    assert_eq!(
        text(35, &hex("0064 000a 0155 07452e3249552b73 00 01 61 00")),
        "100 10 \"U\" \"E.2IU+s\" \"\" a"
    );
}

#[test]
fn errors_index_densely() {
    for (i, e) in DnsError::ALL.iter().enumerate() {
        assert_eq!(e.index(), i);
    }
    assert_eq!(DnsError::COUNT, DnsError::ALL.len());
    assert_eq!(DnsError::PointerLoop.name(), "pointer_loop");
    assert_eq!(format!("{:?}", RrType::MX), "RrType(15 MX)");
}

/// Frames a stream cut into `segs` the way a worker does: octets gathered
/// in order, every whole message taken from the front, an over-long one
/// skipped by count.
fn frames(cap: usize, segs: &[&[u8]]) -> Vec<Result<Vec<u8>, DnsError>> {
    let (mut out, mut window, mut skip) = (Vec::new(), Vec::new(), 0usize);
    for s in segs {
        let n = skip.min(s.len());
        skip -= n;
        window.extend_from_slice(&s[n..]);
        loop {
            match tcp_frame(&window, cap) {
                Outcome::Done(f) => {
                    out.push(Ok(f.message.to_vec()));
                    window.drain(..f.framed_len);
                }
                Outcome::Malformed(TooLong { framed_len }) => {
                    out.push(Err(DnsError::TcpMessageTooLong));
                    let n = framed_len.min(window.len());
                    window.drain(..n);
                    skip = framed_len - n;
                }
                Outcome::Incomplete | Outcome::NotThis => break,
            }
        }
    }
    out
}

fn framed(msgs: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for m in msgs {
        b.extend_from_slice(&(m.len() as u16).to_be_bytes());
        b.extend_from_slice(m);
    }
    b
}

#[test]
fn tcp_several_messages_per_segment() {
    let (a, mx, nx) = (hex(A), hex(MX), hex(NXDOMAIN));
    let stream = framed(&[&a, &mx, &nx]);
    let got = frames(TCP_MESSAGE_MAX, &[&stream]);
    assert_eq!(got, [Ok(a.clone()), Ok(mx.clone()), Ok(nx.clone())]);
    // The frame borrows the message from the window.
    let Outcome::Done(f) = tcp_frame(&stream, TCP_MESSAGE_MAX) else {
        panic!("a whole message");
    };
    assert_eq!(
        (f.message, f.framed_len),
        (&stream[2..2 + a.len()], 2 + a.len())
    );
}

#[test]
fn tcp_split_at_every_point() {
    let (a, mx) = (hex(A), hex(MX));
    let stream = framed(&[&a, &mx]);
    for i in 0..=stream.len() {
        for j in i..=stream.len() {
            let got = frames(
                TCP_MESSAGE_MAX,
                &[&stream[..i], &stream[i..j], &stream[j..]],
            );
            assert_eq!(got, [Ok(a.clone()), Ok(mx.clone())], "split {i} {j}");
        }
    }
    // Octet by octet, and the records come out of the gathered message.
    let segs: Vec<&[u8]> = stream.iter().map(std::slice::from_ref).collect();
    let mut n = 0;
    let mut buf = RecordBuf::new();
    for m in frames(TCP_MESSAGE_MAX, &segs) {
        let m = m.unwrap();
        let mut it = Answers::new(&m);
        while let Some(r) = it.next(&mut buf) {
            r.unwrap();
            n += 1;
        }
    }
    assert_eq!(n, 7);
}

#[test]
fn tcp_over_cap_is_skipped_and_counted() {
    let (a, mx) = (hex(A), hex(MX));
    let stream = framed(&[&mx, &a, &mx]);
    assert!(mx.len() + 2 > 100 && a.len() + 2 <= 100);
    let got = frames(100, &[&stream[..50], &stream[50..]]);
    assert_eq!(
        got,
        [
            Err(DnsError::TcpMessageTooLong),
            Ok(a.clone()),
            Err(DnsError::TcpMessageTooLong)
        ]
    );
    // A length prefix alone, or a cut message, waits for more.
    let s = framed(&[&a]);
    assert_eq!(tcp_frame(&s[..1], TCP_MESSAGE_MAX), Outcome::Incomplete);
    assert_eq!(tcp_frame(&s[..10], TCP_MESSAGE_MAX), Outcome::Incomplete);
    // A zero-length message is passed on (and is a truncated header).
    assert_eq!(frames(10, &[&[0, 0]]), [Ok(vec![])]);
    assert_eq!(all(&[]), [Err(DnsError::HeaderTruncated)]);
}

/// Walks everything a message can give: records, rendering, and the framer.
fn exercise(msg: &[u8]) -> usize {
    let mut buf = RecordBuf::new();
    let mut it = Answers::new(msg);
    let mut n = 0;
    while let Some(r) = it.next(&mut buf) {
        n += 1;
        if let Ok(r) = r {
            assert!(r.name.len() <= 253);
            assert!(r.rdata.len() <= msg.len().max(RDATA_CAP));
            let mut s = String::new();
            write_rdata_text(&mut s, r.rrtype.0, r.rdata).unwrap();
            write_name_text(&mut s, r.name).unwrap();
            assert!(!s.contains(['\t', '\n', '\r']));
        }
        assert!(n <= usize::from(it.header().ancount) + 1);
    }
    n
}

fn seeds() -> Vec<Vec<u8>> {
    [TXT, MX, PTR, A, AAAA, CNAME, NXDOMAIN, NS, CHAIN, NX_SOA]
        .iter()
        .map(|m| hex(m))
        .collect()
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..600)) {
        exercise(&b);
        // As a response with plausible counts.
        let mut m = b.clone();
        if m.len() >= 12 {
            m[2] |= 0x80;
            m[2] &= 0x87;
            m[4] = 0;
            m[5] %= 3;
            m[6] = 0;
            m[7] %= 8;
        }
        exercise(&m);
        let cut = b.len() / 3;
        let cap = usize::from(b.first().copied().unwrap_or(0)) * 4;
        for m in frames(cap, &[&b[..cut], &b[cut..]]).into_iter().flatten() {
            exercise(&m);
        }
    }

    #[test]
    fn mutated_real_messages_never_panic(
        which in 0usize..10,
        edits in proptest::collection::vec((proptest::prelude::any::<u16>(), proptest::prelude::any::<u8>()), 1..8),
        cut in proptest::prelude::any::<u16>(),
    ) {
        let mut m = seeds().swap_remove(which);
        for (at, v) in edits {
            let i = usize::from(at) % m.len();
            m[i] = v;
        }
        exercise(&m);
        m.truncate(usize::from(cut) % (m.len() + 1));
        exercise(&m);
    }

    #[test]
    fn framer_splits_are_transparent(
        which in proptest::collection::vec(0usize..10, 1..5),
        cuts in proptest::collection::vec(proptest::prelude::any::<u16>(), 0..6),
    ) {
        let all_seeds = seeds();
        let msgs: Vec<&[u8]> = which.iter().map(|&i| all_seeds[i].as_slice()).collect();
        let stream = framed(&msgs);
        let mut points: Vec<usize> = cuts.iter().map(|&c| usize::from(c) % (stream.len() + 1)).collect();
        points.sort_unstable();
        let mut segs = Vec::new();
        let mut last = 0;
        for p in points {
            segs.push(&stream[last..p]);
            last = p;
        }
        segs.push(&stream[last..]);
        let got = frames(TCP_MESSAGE_MAX, &segs);
        let want: Vec<Result<Vec<u8>, DnsError>> = msgs.iter().map(|m| Ok(m.to_vec())).collect();
        proptest::prop_assert_eq!(got, want);
    }
}
