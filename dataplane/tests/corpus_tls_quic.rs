//! The TLS and QUIC parsers on real captures (`tests/fixtures`, from the shared
//! corpus), compared with tshark's ground truth: every ClientHello, ServerHello,
//! leaf certificate name and QUIC Initial ClientHello tshark shows is found, at
//! the frame tshark reports it (or earlier, when the parser needed fewer bytes),
//! with the same fields — and nothing else is found.
//!
//! The test plays the flow layer: it decodes each frame with
//! `wire::decode`/`decode_ip` (the captures that are not Ethernet — raw IP, BSD
//! loopback — are fed to `decode_ip` directly), reassembles each TCP direction
//! in sequence order, and calls the stateless TLS parsers with the contiguous
//! stream so far after every segment; UDP datagrams go to one
//! `QuicInitialState` per 5-tuple, the client's (the first sender's) and the
//! server's. STARTTLS captures (SMTP, POP3, IMAP) are
//! handed to the TLS parsers from the first segment that starts a TLS record,
//! which is what the mail parsers will do when they see STARTTLS succeed.
#![allow(clippy::indexing_slicing, clippy::unwrap_used)]

mod common;

use std::collections::{BTreeMap, HashMap};

use common::{Frame, Tuple, decoded_frames, fixtures, row_tuple, tuple_of};
use metaprobe_dataplane::app::Outcome;
use metaprobe_dataplane::app::quic::{QuicError, QuicInitialState, VERSION_1, VERSION_2};
use metaprobe_dataplane::app::tls::{self, Certificate, ClientHello, ServerFlight, ServerHello};
use metaprobe_dataplane::wire::TcpFlags;
use metaprobe_test_support::truth::{Row, read_tsv};
use proptest::prelude::*;

// ---------------------------------------------------------------------------
// Captures and truth
// ---------------------------------------------------------------------------

fn truth(name: &str) -> Vec<Row> {
    read_tsv(&fixtures().join(format!("{name}.truth.tsv")))
}

fn hex16(v: &str) -> u16 {
    u16::from_str_radix(v.trim_start_matches("0x"), 16).unwrap()
}

fn suites(row: &Row) -> Vec<u16> {
    row["tls.handshake.ciphersuite"]
        .split('|')
        .filter(|s| !s.is_empty())
        .map(hex16)
        .collect()
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

// ---------------------------------------------------------------------------
// The flow layer, as a test plays it
// ---------------------------------------------------------------------------

/// One TCP direction: segments by offset from the initial sequence number, the
/// contiguous stream built from them, and where TLS starts in it.
#[derive(Default)]
struct Direction {
    isn: Option<u32>,
    segments: BTreeMap<usize, Vec<u8>>,
    stream: Vec<u8>,
    tls_start: Option<usize>,
    client_hello: bool,
    server_hello: bool,
    server_flight: bool,
}

impl Direction {
    /// Adds a segment; true when the contiguous stream grew.
    fn push(&mut self, seq: u32, syn: bool, payload: &[u8]) -> bool {
        if syn {
            self.isn = Some(seq.wrapping_add(1));
        }
        if payload.is_empty() {
            return false;
        }
        let isn = *self.isn.get_or_insert(seq);
        let off = seq.wrapping_sub(isn) as usize;
        if off > 1 << 30 {
            return false;
        }
        if payload.starts_with(&[0x16, 0x03]) && self.tls_start.is_none_or(|s| off < s) {
            self.tls_start = Some(off);
        }
        self.segments.insert(off, payload.to_vec());
        let before = self.stream.len();
        let mut grew = true;
        while grew {
            grew = false;
            for (&o, seg) in &self.segments {
                let end = o + seg.len();
                if o <= self.stream.len() && end > self.stream.len() {
                    let from = self.stream.len() - o;
                    self.stream.extend_from_slice(&seg[from..]);
                    grew = true;
                }
            }
        }
        self.stream.len() > before
    }

    fn tls(&self) -> &[u8] {
        match self.tls_start {
            Some(s) if s <= self.stream.len() => &self.stream[s..],
            _ => &[],
        }
    }
}

#[derive(Default)]
struct Found {
    client_hellos: Vec<(usize, Tuple, ClientHello)>,
    server_hellos: Vec<(usize, Tuple, ServerHello)>,
    flights: Vec<(usize, Tuple, ServerFlight)>,
    quic: Vec<(usize, Tuple, ClientHello)>,
    quic_server_hellos: Vec<(usize, Tuple, ServerHello)>,
    quic_connections: HashMap<Tuple, u32>,
}

fn run(name: &str) -> Found {
    let mut tcp: HashMap<Tuple, Direction> = HashMap::new();
    let mut quic: HashMap<Tuple, Box<QuicInitialState>> = HashMap::new();
    let mut found = Found::default();
    for f in decoded_frames(name) {
        let Some(t) = tuple_of(&f.packet) else {
            continue;
        };
        if let Some(h) = f.packet.tcp() {
            let d = tcp.entry(t).or_default();
            if !d.push(h.seq, h.flags.contains(TcpFlags::SYN), f.payload()) {
                continue;
            }
            let s = d.tls().to_vec();
            let s = &s[..];
            if !d.client_hello {
                match tls::client_hello(s) {
                    Outcome::Done(ch) => {
                        d.client_hello = true;
                        found.client_hellos.push((f.number, t, ch));
                    }
                    Outcome::Malformed(m) => panic!("{name} frame {}: {m:?}", f.number),
                    Outcome::NotThis | Outcome::Incomplete => {}
                }
            }
            if !d.server_hello {
                match tls::server_hello(s) {
                    Outcome::Done(sh) => {
                        d.server_hello = true;
                        found.server_hellos.push((f.number, t, sh));
                    }
                    Outcome::Malformed(m) => panic!("{name} frame {}: {m:?}", f.number),
                    Outcome::NotThis | Outcome::Incomplete => {}
                }
            }
            if !d.server_flight {
                match tls::server_flight(s) {
                    Outcome::Done(fl) => {
                        d.server_flight = true;
                        found.flights.push((f.number, t, fl));
                    }
                    Outcome::Malformed(m) => panic!("{name} frame {}: {m:?}", f.number),
                    Outcome::NotThis | Outcome::Incomplete => {}
                }
            }
        } else if f.packet.udp().is_some() {
            // The client is the side that sent the flow's first datagram.
            let reverse = (t.2, t.3, t.0, t.1);
            if let Some(st) = quic.get_mut(&reverse) {
                match st.on_server_datagram(f.payload()) {
                    Outcome::Done(sh) => found.quic_server_hellos.push((f.number, t, sh)),
                    Outcome::Malformed(e) => panic!("{name} frame {}: {e:?}", f.number),
                    Outcome::NotThis | Outcome::Incomplete => {}
                }
                continue;
            }
            let st = quic
                .entry(t)
                .or_insert_with(|| Box::new(QuicInitialState::new()));
            match st.on_client_datagram(f.payload()) {
                Outcome::Done(ch) => found.quic.push((f.number, t, ch)),
                Outcome::Malformed(e) => panic!("{name} frame {}: {e:?}", f.number),
                Outcome::NotThis | Outcome::Incomplete => {}
            }
            found.quic_connections.insert(t, st.connections());
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Comparison with the truth
// ---------------------------------------------------------------------------

fn check_client_hello(ctx: &str, row: &Row, ch: &ClientHello) {
    let sni = &row["tls.handshake.extensions_server_name"];
    match &ch.server_name {
        Some(n) => assert_eq!(n.as_bytes(), sni.as_bytes(), "{ctx}: SNI"),
        None => assert!(sni.is_empty(), "{ctx}: SNI {sni} not found"),
    }
    let want = suites(row);
    assert_eq!(
        usize::from(ch.cipher_suites_len),
        2 * want.len(),
        "{ctx}: suites length"
    );
    let got: Vec<u16> = ch.cipher_suites().collect();
    assert_eq!(got, want[..want.len().min(16)], "{ctx}: suites");
    assert_eq!(
        ch.cipher_suites_raw().len(),
        2 * got.len(),
        "{ctx}: raw suites"
    );
}

/// Checks every TLS row of a capture; returns (client hellos, server hellos,
/// certificates) compared.
fn check_tls(name: &str) -> (usize, usize, usize) {
    let found = run(name);
    let rows = truth(name);
    let section = |s: &'static str| rows.iter().filter(move |r| r["section"] == s);

    // ClientHello: one per truth row, same direction, no later than tshark.
    let chs: Vec<&Row> = section("tls_client_hello").collect();
    assert_eq!(found.client_hellos.len(), chs.len(), "{name}: ClientHellos");
    for row in &chs {
        let frame: usize = row["frame.number"].parse().unwrap();
        let ctx = format!("{name} ClientHello frame {frame}");
        let (at, _, ch) = found
            .client_hellos
            .iter()
            .find(|(_, t, _)| *t == row_tuple(row))
            .unwrap_or_else(|| panic!("{ctx}: not found"));
        assert!(*at <= frame, "{ctx}: found at {at}");
        check_client_hello(&ctx, row, ch);
    }

    // ServerHello: at the frame tshark shows it.
    let shs: Vec<&Row> = section("tls_server_hello").collect();
    assert_eq!(found.server_hellos.len(), shs.len(), "{name}: ServerHellos");
    for row in &shs {
        let frame: usize = row["frame.number"].parse().unwrap();
        let ctx = format!("{name} ServerHello frame {frame}");
        let (at, _, sh) = found
            .server_hellos
            .iter()
            .find(|(_, t, _)| *t == row_tuple(row))
            .unwrap_or_else(|| panic!("{ctx}: not found"));
        assert_eq!(*at, frame, "{ctx}: frame");
        let sv = &row["tls.handshake.extensions.supported_version"];
        let version = if sv.is_empty() {
            &row["tls.handshake.version"]
        } else {
            sv
        };
        assert_eq!(sh.version, hex16(version), "{ctx}: version");
        assert_eq!(
            sh.legacy_version,
            hex16(&row["tls.handshake.version"]),
            "{ctx}: legacy"
        );
        assert_eq!(
            sh.cipher_suite,
            hex16(&row["tls.handshake.ciphersuite"]),
            "{ctx}: suite"
        );
        assert_eq!(sh.compression_method, 0, "{ctx}: compression");
        assert!(!sh.hello_retry_request);
    }

    // Server flights: every ServerHello's, with the leaf certificate's name.
    assert_eq!(found.flights.len(), shs.len(), "{name}: server flights");
    let leaves: Vec<&Row> = section("tls_certificate")
        .filter(|r| r["x509.cert_index"] == "0")
        .collect();
    for (at, t, flight) in &found.flights {
        let ctx = format!("{name} server flight done at frame {at}");
        let sh = found
            .server_hellos
            .iter()
            .find(|(_, st, _)| st == t)
            .unwrap();
        assert_eq!(flight.hello, sh.2, "{ctx}: hello");
        assert!(*at >= sh.0, "{ctx}: before its ServerHello");
        match leaves.iter().find(|r| row_tuple(r) == *t) {
            Some(row) => {
                let frame: usize = row["frame.number"].parse().unwrap();
                assert!(*at <= frame, "{ctx}: certificate at {frame}");
                match (subject_cn(&row["x509.subject"]), &flight.certificate) {
                    (Some(cn), Certificate::CommonName(n)) => {
                        assert_eq!(n.as_bytes(), cn.as_bytes(), "{ctx}: CN")
                    }
                    (None, Certificate::NoCommonName) => {}
                    (want, got) => panic!("{ctx}: CN {want:?}, got {got:?}"),
                }
            }
            None => assert_eq!(flight.certificate, Certificate::Encrypted, "{ctx}"),
        }
    }
    (chs.len(), shs.len(), leaves.len())
}

/// Checks every QUIC Initial row with a ClientHello or a ServerHello; returns
/// (client hellos, server hellos) compared.
fn check_quic(name: &str) -> (usize, usize) {
    let found = run(name);
    let initials: Vec<Row> = truth(name)
        .into_iter()
        .filter(|r| r["section"] == "quic_initial")
        .collect();
    let with_type = |ty: &str| -> Vec<&Row> {
        initials
            .iter()
            .filter(|r| r["tls.handshake.type"].split('|').any(|t| t == ty))
            .collect()
    };
    let rows = with_type("1");
    assert_eq!(found.quic.len(), rows.len(), "{name}: QUIC ClientHellos");
    for row in &rows {
        let frame: usize = row["frame.number"].parse().unwrap();
        let ctx = format!("{name} QUIC frame {frame}");
        let (at, _, ch) = found
            .quic
            .iter()
            .find(|(_, t, _)| *t == row_tuple(row))
            .unwrap_or_else(|| panic!("{ctx}: not found"));
        assert!(*at <= frame, "{ctx}: found at {at}");
        check_client_hello(&ctx, row, ch);
        assert_eq!(
            found.quic_connections[&row_tuple(row)],
            1,
            "{ctx}: connections"
        );
    }
    // ServerHellos of the server's Initials: at the frame tshark shows them (the
    // CRYPTO stream of the server's Initials is the ServerHello alone).
    let shs = with_type("2");
    assert_eq!(
        found.quic_server_hellos.len(),
        shs.len(),
        "{name}: QUIC ServerHellos"
    );
    for row in &shs {
        let frame: usize = row["frame.number"].parse().unwrap();
        let ctx = format!("{name} QUIC ServerHello frame {frame}");
        let (at, _, sh) = found
            .quic_server_hellos
            .iter()
            .find(|(_, t, _)| *t == row_tuple(row))
            .unwrap_or_else(|| panic!("{ctx}: not found"));
        assert_eq!(*at, frame, "{ctx}: frame");
        // QUIC is TLS 1.3 (RFC 9001 §4.2): supported_versions 0x0304, legacy
        // 0x0303; the truth has no version columns for these rows (tshark -V
        // shows 0x0304 / 0x0303 on all three).
        let column = |c: &str| row.get(c).filter(|v| !v.is_empty()).map(|v| hex16(v));
        let version = column("tls.handshake.extensions.supported_version").unwrap_or(0x0304);
        let legacy = column("tls.handshake.version").unwrap_or(0x0303);
        assert_eq!(sh.version, version, "{ctx}: version");
        assert_eq!(sh.legacy_version, legacy, "{ctx}: legacy");
        assert_eq!(
            sh.cipher_suite,
            hex16(&row["tls.handshake.ciphersuite"]),
            "{ctx}: suite"
        );
        assert_eq!(sh.compression_method, 0, "{ctx}: compression");
        assert!(!sh.hello_retry_request, "{ctx}");
    }
    (rows.len(), shs.len())
}

// ---------------------------------------------------------------------------
// Golden tests
// ---------------------------------------------------------------------------

#[test]
fn tls12_certificates() {
    assert_eq!(check_tls("tls12_curl_ecdhe_rsa_cert_chain.pcap"), (1, 1, 1));
    assert_eq!(check_tls("tls12_cert_name_mismatch_badssl.pcap"), (1, 1, 1));
    assert_eq!(check_tls("tls12_selfsigned_cert.pcap"), (1, 1, 1));
    assert_eq!(
        check_tls("qinq_8100_8100_tls12_many_ciphersuites.pcap"),
        (1, 1, 1)
    );
}

#[test]
fn tls12_very_long_certificate_name_from_a_prefix() {
    assert_eq!(
        check_tls("tls12_very_long_certificate_multiseg.pcap"),
        (1, 1, 1)
    );
    // The name comes from the first part of a certificate spread over many
    // segments: a stream cut long before the certificate's end is enough.
    let found = run("tls12_very_long_certificate_multiseg.pcap");
    let (at, _, flight) = &found.flights[0];
    assert!(
        *at < 11,
        "name found at frame {at}, the certificate ends at frame 11"
    );
    assert_eq!(
        flight.certificate.common_name().unwrap().as_bytes(),
        b"p2.shared.global.fastly.net"
    );
}

#[test]
fn tls13_sessions() {
    assert_eq!(check_tls("tls13_chrome_6sessions.pcap"), (6, 6, 0));
    assert_eq!(check_tls("tls13_ech_ipv6.pcapng"), (1, 1, 0));
    assert_eq!(check_tls("tls13_curl_with_dns.pcap"), (1, 1, 0));
    assert_eq!(check_tls("quic_v1_chrome_meet_1initial.pcapng"), (1, 1, 0));
}

#[test]
fn client_hello_split_over_two_segments() {
    assert_eq!(
        check_tls("tls13_clienthello_mlkem_split_2seg.pcap"),
        (1, 1, 0)
    );
    assert_eq!(
        check_tls("tls13_clienthello_split_2seg_small_mss.pcap"),
        (1, 1, 0)
    );
}

#[test]
fn starttls_handshakes() {
    assert_eq!(check_tls("smtp_starttls.pcap"), (1, 1, 0));
    assert_eq!(check_tls("pop3_stls.pcap"), (1, 1, 1));
    assert_eq!(check_tls("imap_starttls.pcap"), (1, 1, 1));
}

#[test]
fn quic_initials() {
    assert_eq!(
        check_quic("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap"),
        (1, 1)
    );
    assert_eq!(
        check_quic("quic_v1_firefox_ch_2initials_mlkem.pcap"),
        (1, 1)
    );
    assert_eq!(check_quic("quic_v1_chrome_meet_1initial.pcapng"), (1, 1));
    // Only the client's Initial was captured.
    assert_eq!(check_quic("quic_v1_ipv6_gstatic_1initial.pcap"), (1, 0));
}

// ---------------------------------------------------------------------------
// The hard cases, one at a time, on the real bytes
// ---------------------------------------------------------------------------

/// The TCP payloads of the direction that carries the capture's first
/// ClientHello, in sequence order, from the first TLS record on.
fn client_segments(name: &str) -> Vec<Vec<u8>> {
    let row = truth(name)
        .into_iter()
        .find(|r| r["section"] == "tls_client_hello")
        .unwrap();
    let t = row_tuple(&row);
    let mut segs: Vec<(u32, Vec<u8>)> = decoded_frames(name)
        .iter()
        .filter(|f| tuple_of(&f.packet) == Some(t) && !f.payload().is_empty())
        .map(|f| (f.packet.tcp().unwrap().seq, f.payload().to_vec()))
        .collect();
    segs.sort_by_key(|(seq, _)| *seq);
    segs.dedup_by_key(|(seq, _)| *seq);
    let first = segs
        .iter()
        .position(|(_, p)| p.starts_with(&[0x16, 0x03]))
        .unwrap();
    segs.into_iter().skip(first).map(|(_, p)| p).collect()
}

/// The handshake message of a ClientHello carried in one record.
fn hello_message(stream: &[u8]) -> Vec<u8> {
    let rec = usize::from(u16::from_be_bytes([stream[3], stream[4]]));
    let msg = &stream[5..5 + rec];
    let len = (usize::from(msg[1]) << 16) | (usize::from(msg[2]) << 8) | usize::from(msg[3]);
    assert!(4 + len <= msg.len(), "ClientHello spans records already");
    msg[..4 + len].to_vec()
}

/// Wraps handshake bytes in records of the given sizes (the last repeated).
fn reframe(hs: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut out = vec![];
    let mut rest = hs;
    let mut i = 0;
    while !rest.is_empty() {
        let n = sizes[i.min(sizes.len() - 1)].clamp(1, rest.len());
        i += 1;
        out.extend([0x16, 0x03, 0x01]);
        out.extend((n as u16).to_be_bytes());
        out.extend(&rest[..n]);
        rest = &rest[n..];
    }
    out
}

fn mlkem_stream() -> (Vec<Vec<u8>>, Vec<u8>) {
    let segs = client_segments("tls13_clienthello_mlkem_split_2seg.pcap");
    let stream = segs.concat();
    (segs, stream)
}

#[test]
fn mlkem_client_hello_needs_both_segments() {
    let (segs, stream) = mlkem_stream();
    assert_eq!(segs[0].len(), 1392);
    assert_eq!(tls::client_hello(&segs[0]), Outcome::Incomplete);
    let ch = tls::client_hello(&stream).done().unwrap();
    assert_eq!(ch.server_name.unwrap().as_bytes(), b"clients2.google.com");
    assert_eq!(ch.cipher_suites_len, 32);
    assert_eq!(ch.cipher_suites().next(), Some(0x1a1a));
    // Every cut before the server name's end is a valid prefix, never an error.
    for cut in 0..stream.len() {
        match tls::client_hello(&stream[..cut]) {
            Outcome::Incomplete => {}
            Outcome::Done(c) => assert_eq!(c, ch, "cut {cut}"),
            other => panic!("cut {cut}: {other:?}"),
        }
    }
}

#[test]
fn client_hello_over_several_records() {
    let (_, stream) = mlkem_stream();
    let want = tls::client_hello(&stream).done().unwrap();
    let msg = hello_message(&stream);
    for sizes in [&[860usize][..], &[100], &[1], &[5, 1000, 3], &[4, 16384]] {
        let framed = reframe(&msg, sizes);
        assert_eq!(
            tls::client_hello(&framed).done(),
            Some(want),
            "records {sizes:?}"
        );
    }
    // A record cut by the end of the stream is read as far as it goes: two
    // records, the second one split across TCP segments.
    let framed = reframe(&msg, &[900]);
    for cut in [905, 910, 1200, framed.len() - 1] {
        assert!(matches!(
            tls::client_hello(&framed[..cut]),
            Outcome::Incomplete | Outcome::Done(_)
        ));
    }
}

#[test]
fn segments_out_of_order_are_reordered_by_the_caller() {
    let name = "tls13_clienthello_mlkem_split_2seg.pcap";
    let row = truth(name)
        .into_iter()
        .find(|r| r["section"] == "tls_client_hello")
        .unwrap();
    let t = row_tuple(&row);
    let mut segs: Vec<(u32, bool, Vec<u8>)> = decoded_frames(name)
        .iter()
        .filter(|f| tuple_of(&f.packet) == Some(t))
        .map(|f| {
            let h = f.packet.tcp().unwrap();
            (h.seq, h.flags.contains(TcpFlags::SYN), f.payload().to_vec())
        })
        .collect();
    // SYN first, then the data segments last to first.
    let syn = segs.remove(0);
    assert!(syn.1);
    segs.reverse();
    let mut d = Direction::default();
    d.push(syn.0, true, &syn.2);
    let mut results = vec![];
    for (seq, _, p) in &segs {
        d.push(*seq, false, p);
        results.push(tls::client_hello(d.tls()));
    }
    let done: Vec<_> = results.iter().filter_map(|r| r.done()).collect();
    assert_eq!(
        done.len(),
        results
            .iter()
            .rev()
            .take_while(|r| r.done().is_some())
            .count()
    );
    assert!(
        matches!(results[0], Outcome::Incomplete),
        "{:?}",
        results[0]
    );
    assert_eq!(
        done[0].server_name.unwrap().as_bytes(),
        b"clients2.google.com"
    );
    assert_eq!(Some(done[0]), tls::client_hello(&mlkem_stream().1).done());
}

#[test]
fn garbage_on_tls_ports_yields_nothing() {
    let http = b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n";
    for p in [
        &http[..],
        &[0u8; 64],
        &[0x16, 0x03, 0x03, 0xff, 0xff, 0x01, 0, 0],
        &[0x80, 0x2e, 0x01],
    ] {
        assert!(tls::client_hello(p).done().is_none());
        assert!(tls::server_flight(p).done().is_none());
    }
    assert_eq!(tls::client_hello(http), Outcome::NotThis);
    assert_eq!(tls::server_hello(http), Outcome::NotThis);
    // A server stream is not a ClientHello, and the reverse.
    let segs = client_segments("tls12_curl_ecdhe_rsa_cert_chain.pcap");
    assert_eq!(tls::server_hello(&segs.concat()), Outcome::NotThis);
}

// ---------------------------------------------------------------------------
// QUIC
// ---------------------------------------------------------------------------

/// UDP payloads of the client (the first sender) and of the server.
fn datagrams(name: &str) -> (Vec<Vec<u8>>, Vec<Vec<u8>>) {
    let fs = decoded_frames(name);
    let udp: Vec<&Frame> = fs.iter().filter(|f| f.packet.udp().is_some()).collect();
    let client = tuple_of(&udp[0].packet).unwrap();
    let (c, s): (Vec<&Frame>, Vec<&Frame>) = udp
        .into_iter()
        .partition(|f| tuple_of(&f.packet) == Some(client));
    let bytes = |v: Vec<&Frame>| v.iter().map(|f| f.payload().to_vec()).collect();
    (bytes(c), bytes(s))
}

fn initial_len(d: &[u8]) -> usize {
    // v1 Initial: flags, version, DCID, SCID, token length, Length (2-octet varint here).
    let dl = usize::from(d[5]);
    let sl = usize::from(d[6 + dl]);
    let mut p = 7 + dl + sl;
    assert!(d[p] < 0x40, "token length");
    p += 1 + usize::from(d[p]);
    assert_eq!(d[p] >> 6, 1, "2-octet Length");
    let len = usize::from(u16::from_be_bytes([d[p] & 0x3f, d[p + 1]]));
    p + 2 + len
}

#[test]
fn quic_client_hello_over_two_initials_in_any_order() {
    let (client, _) = datagrams("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let mut s = QuicInitialState::new();
    assert_eq!(s.on_client_datagram(&client[1]), Outcome::Incomplete);
    let ch = match s.on_client_datagram(&client[0]) {
        Outcome::Done(ch) => ch,
        other => panic!("{other:?}"),
    };
    assert_eq!(ch.server_name.unwrap().as_bytes(), b"mastodon.social");
    assert_eq!(
        ch.cipher_suites().collect::<Vec<_>>(),
        [0x1301, 0x1302, 0x1303]
    );
    assert_eq!(s.on_client_datagram(&client[0]), Outcome::NotThis);
    assert_eq!(s.connections(), 1);
    assert_eq!(s.version(), VERSION_1);
    assert_eq!(
        s.original_dcid(),
        [0x2c, 0x8b, 0xb3, 0xcb, 0x5c, 0x59, 0xaf, 0xd7]
    );

    // Both Initials coalesced into one datagram.
    let mut s = QuicInitialState::new();
    let both = [&client[0][..initial_len(&client[0])], &client[1][..]].concat();
    assert_eq!(s.on_client_datagram(&both), Outcome::Done(ch));
}

#[test]
fn quic_coalesced_initial_and_handshake() {
    let (client, server) = datagrams("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    // The server's second datagram is Initial (144 octets) + Handshake (1136):
    // its Handshake packet, walked by its Length, then the client's Initials.
    let s4 = &server[1];
    let hs_packet = &s4[initial_len(s4)..];
    assert_eq!(hs_packet[0] & 0xb0, 0xa0, "a v1 Handshake packet");
    let mut s = QuicInitialState::new();
    let d1 = [hs_packet, &client[0][..]].concat();
    assert_eq!(s.on_client_datagram(&d1), Outcome::Incomplete);
    let d2 = [&client[1][..initial_len(&client[1])], hs_packet].concat();
    assert!(matches!(s.on_client_datagram(&d2), Outcome::Done(_)));
    // A server Initial is not decrypted by client keys: reported, state unchanged.
    assert_eq!(
        QuicInitialState::new().on_client_datagram(s4),
        Outcome::Malformed(QuicError::Decrypt)
    );
}

#[test]
fn quic_new_connection_on_the_same_five_tuple() {
    let (chrome, _) = datagrams("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
    let (firefox, _) = datagrams("quic_v1_firefox_ch_2initials_mlkem.pcap");
    let mut s = QuicInitialState::new();
    s.on_client_datagram(&chrome[0]);
    assert!(matches!(s.on_client_datagram(&chrome[1]), Outcome::Done(_)));
    // A new DCID that the current keys do not open: a new connection.
    let ch = match s.on_client_datagram(&firefox[0]) {
        Outcome::Done(ch) => ch,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        ch.server_name.unwrap().as_bytes(),
        b"token.services.mozilla.com"
    );
    assert_eq!(s.connections(), 2);
    assert_eq!(s.on_client_datagram(&firefox[1]), Outcome::NotThis);
    // Later client datagrams of that connection (Handshake, 1-RTT) carry no Initial.
    for d in &firefox[2..] {
        assert!(matches!(s.on_client_datagram(d), Outcome::NotThis));
    }
    assert_eq!(s.connections(), 2);
}

// A test-side sealer (RFC 9001 §5, written from the RFC, independent of the
// parser's code): builds client Initials of either version from chosen frames.

fn initial_keys(version: u32, dcid: &[u8]) -> ([u8; 16], [u8; 12], [u8; 16]) {
    use hkdf::Hkdf;
    use sha2::Sha256;
    let (salt, pre) = if version == VERSION_1 {
        ("38762cf7f55934b34d179ae6a4c80cadccbb7f0a", "quic ")
    } else {
        ("0dede3def700a6db819381be6e269dcbf9bd2ed9", "quicv2 ")
    };
    let salt: Vec<u8> = (0..40)
        .step_by(2)
        .map(|i| u8::from_str_radix(&salt[i..i + 2], 16).unwrap())
        .collect();
    let label = |prk: &Hkdf<Sha256>, l: &str, out: &mut [u8]| {
        let full = format!("tls13 {l}");
        let mut info = (out.len() as u16).to_be_bytes().to_vec();
        info.push(full.len() as u8);
        info.extend(full.as_bytes());
        info.push(0);
        prk.expand(&info, out).unwrap();
    };
    let (_, initial) = Hkdf::<Sha256>::extract(Some(&salt), dcid);
    let mut secret = [0u8; 32];
    label(&initial, "client in", &mut secret);
    let s = Hkdf::<Sha256>::from_prk(&secret).unwrap();
    let (mut k, mut iv, mut hp) = ([0u8; 16], [0u8; 12], [0u8; 16]);
    label(&s, &format!("{pre}key"), &mut k);
    label(&s, &format!("{pre}iv"), &mut iv);
    label(&s, &format!("{pre}hp"), &mut hp);
    (k, iv, hp)
}

fn seal_initial(version: u32, dcid: &[u8], pn: u16, payload: &[u8]) -> Vec<u8> {
    use aes::cipher::{BlockEncrypt, KeyInit, generic_array::GenericArray};
    use aes_gcm::{AeadInPlace, Aes128Gcm, Nonce};
    let (k, iv, hp) = initial_keys(version, dcid);
    let ty = if version == VERSION_1 { 0 } else { 1 };
    let mut p = vec![0xc0 | (ty << 4) | 0x01];
    p.extend(version.to_be_bytes());
    p.push(dcid.len() as u8);
    p.extend(dcid);
    p.push(0); // SCID
    p.push(0); // token
    let len = 2 + payload.len() + 16;
    p.extend((0x4000 | len as u16).to_be_bytes());
    let pn_offset = p.len();
    p.extend(pn.to_be_bytes());
    let mut nonce = iv;
    for (n, b) in nonce[4..].iter_mut().zip(u64::from(pn).to_be_bytes()) {
        *n ^= b;
    }
    let mut body = payload.to_vec();
    let tag = Aes128Gcm::new(GenericArray::from_slice(&k))
        .encrypt_in_place_detached(Nonce::from_slice(&nonce), &p, &mut body)
        .unwrap();
    p.extend(body);
    p.extend(tag);
    let mut mask = GenericArray::clone_from_slice(&p[pn_offset + 4..pn_offset + 20]);
    aes::Aes128::new(GenericArray::from_slice(&hp)).encrypt_block(&mut mask);
    p[0] ^= mask[0] & 0x0f;
    p[pn_offset] ^= mask[1];
    p[pn_offset + 1] ^= mask[2];
    p
}

fn varint(v: u64) -> Vec<u8> {
    if v < 64 {
        vec![v as u8]
    } else if v < 16384 {
        (0x4000 | v as u16).to_be_bytes().to_vec()
    } else {
        (0x8000_0000 | v as u32).to_be_bytes().to_vec()
    }
}

fn crypto_frame(offset: usize, data: &[u8]) -> Vec<u8> {
    let mut f = vec![0x06];
    f.extend(varint(offset as u64));
    f.extend(varint(data.len() as u64));
    f.extend(data);
    f
}

fn padded(mut frames: Vec<u8>) -> Vec<u8> {
    frames.resize(frames.len().max(1100), 0);
    frames
}

#[test]
fn quic_v2_and_v1_scattered_crypto_frames_with_ack_ping_close() {
    let (_, stream) = mlkem_stream();
    let hello = hello_message(&stream);
    let want = tls::client_hello(&stream).done().unwrap();
    let dcid = [0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08];
    for version in [VERSION_1, VERSION_2] {
        // Three packets, chunks in reverse order, with PING, ACK (2 ranges,
        // ECN) and padding between them.
        let cut = [0, 500, 1000, 1300, hello.len()];
        let chunks: Vec<Vec<u8>> = (0..4)
            .map(|i| crypto_frame(cut[i], &hello[cut[i]..cut[i + 1]]))
            .collect();
        let ack = [0x03, 0x05, 0x00, 0x01, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00];
        let p0 = padded([&chunks[3][..], &[0x01], &chunks[2]].concat());
        let p1 = padded([&ack[..], &chunks[1]].concat());
        let p2 = padded([&chunks[0][..], &[0x01, 0x00, 0x00]].concat());
        let mut s = QuicInitialState::new();
        assert_eq!(
            s.on_client_datagram(&seal_initial(version, &dcid, 0, &p0)),
            Outcome::Incomplete
        );
        assert_eq!(
            s.on_client_datagram(&seal_initial(version, &dcid, 1, &p1)),
            Outcome::Incomplete
        );
        assert_eq!(
            s.on_client_datagram(&seal_initial(version, &dcid, 2, &p2)),
            Outcome::Done(want)
        );
        assert_eq!(s.version(), version);
        // An Initial carrying CONNECTION_CLOSE after the ClientHello: nothing new.
        let close = padded(vec![0x1c, 0x0a, 0x06, 0x03, b'b', b'y', b'e']);
        assert_eq!(
            s.on_client_datagram(&seal_initial(version, &dcid, 3, &close)),
            Outcome::NotThis
        );
    }
    // A frame type not allowed in Initial packets (STREAM).
    let mut s = QuicInitialState::new();
    let bad = padded(vec![0x08, 0x00, 0x01, 0xff]);
    assert_eq!(
        s.on_client_datagram(&seal_initial(VERSION_1, &dcid, 0, &bad)),
        Outcome::Malformed(QuicError::Frame)
    );
}

// ---------------------------------------------------------------------------
// Fuzzing (proptest): arbitrary and mutated inputs never panic
// ---------------------------------------------------------------------------

fn tls_seeds() -> Vec<Vec<u8>> {
    let mut seeds = vec![mlkem_stream().1];
    for name in [
        "tls12_curl_ecdhe_rsa_cert_chain.pcap",
        "tls12_cert_name_mismatch_badssl.pcap",
    ] {
        seeds.push(client_segments(name).concat());
        // The server's stream: ServerHello, Certificate.
        let row = truth(name)
            .into_iter()
            .find(|r| r["section"] == "tls_server_hello")
            .unwrap();
        let t = row_tuple(&row);
        let mut segs: Vec<(u32, Vec<u8>)> = decoded_frames(name)
            .iter()
            .filter(|f| tuple_of(&f.packet) == Some(t) && !f.payload().is_empty())
            .map(|f| (f.packet.tcp().unwrap().seq, f.payload().to_vec()))
            .collect();
        segs.sort_by_key(|(s, _)| *s);
        segs.dedup_by_key(|(s, _)| *s);
        let stream: Vec<u8> = segs.into_iter().flat_map(|(_, p)| p).collect();
        seeds.push(stream[..stream.len().min(6000)].to_vec());
    }
    seeds
}

fn all_tls(bytes: &[u8]) {
    let _ = tls::client_hello(bytes);
    let _ = tls::server_hello(bytes);
    let _ = tls::server_flight(bytes);
    let _ = tls::client_hello_crypto(bytes);
    let _ = tls::server_hello_crypto(bytes);
    if bytes.len() > 5 {
        let _ = tls::client_hello_crypto(&bytes[5..]);
    }
}

fn mutate(seed: &[u8], edits: &[(usize, u8)], cut: usize) -> Vec<u8> {
    let mut m = seed.to_vec();
    for &(at, b) in edits {
        let i = at % m.len().max(1);
        if let Some(x) = m.get_mut(i) {
            *x = b;
        }
    }
    m.truncate(cut % (m.len() + 1));
    m
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn tls_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        all_tls(&bytes);
        let mut framed = vec![0x16, 0x03, 0x03];
        framed.extend(((bytes.len() as u16).wrapping_add(1)).to_be_bytes());
        framed.extend(&bytes);
        all_tls(&framed);
    }

    #[test]
    fn tls_mutated_real_streams(
        which in 0usize..5,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        thread_local!(static SEEDS: Vec<Vec<u8>> = tls_seeds());
        SEEDS.with(|seeds| {
            let m = mutate(&seeds[which % seeds.len()], &edits, cut);
            all_tls(&m);
        });
    }

    #[test]
    fn tls_any_record_framing_gives_the_same_hello(sizes in proptest::collection::vec(1usize..700, 1..12)) {
        thread_local!(static MLKEM: (Vec<u8>, ClientHello) = {
            let s = mlkem_stream().1;
            let ch = tls::client_hello(&s).done().unwrap();
            (hello_message(&s), ch)
        });
        MLKEM.with(|(msg, want)| {
            let framed = reframe(msg, &sizes);
            prop_assert_eq!(tls::client_hello(&framed).done(), Some(*want));
            Ok(())
        })?;
    }

    #[test]
    fn quic_arbitrary_datagrams(bytes in proptest::collection::vec(any::<u8>(), 0..1500), first in any::<u8>()) {
        let mut s = QuicInitialState::new();
        let _ = s.on_client_datagram(&bytes);
        // Make it look like a v1/v2 long header so the later stages run.
        let mut d = vec![0xc0 | (first & 0x3f), 0, 0, 0, 1];
        d.extend(&bytes);
        let _ = s.on_client_datagram(&d);
        d[1..5].copy_from_slice(&VERSION_2.to_be_bytes());
        let _ = s.on_client_datagram(&d);
    }

    #[test]
    fn quic_mutated_real_datagrams(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        thread_local!(static SEEDS: Vec<Vec<u8>> = {
            let (c, _) = datagrams("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap");
            c
        });
        SEEDS.with(|seeds| {
            let mut s = QuicInitialState::new();
            let _ = s.on_client_datagram(&seeds[0]);
            let m = mutate(&seeds[which], &edits, cut);
            let _ = s.on_client_datagram(&m);
            let _ = QuicInitialState::new().on_client_datagram(&m);
        });
    }

    /// Mutated server datagrams (the coalesced Initial + Handshake of the
    /// ServerHello, the ACK-only Initial) on a state that has the ClientHello.
    #[test]
    fn quic_mutated_real_server_datagrams(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        thread_local!(static SEEDS: (Vec<Vec<u8>>, Vec<Vec<u8>>) =
            datagrams("quic_v1_chrome_ch_2initials_mlkem_unordered.pcap"));
        SEEDS.with(|(client, server)| {
            let mut s = QuicInitialState::new();
            let _ = s.on_client_datagram(&client[0]);
            let _ = s.on_client_datagram(&client[1]);
            let m = mutate(&server[which], &edits, cut);
            let _ = s.on_server_datagram(&m);
            let _ = s.on_server_datagram(&server[1]);
            let _ = s.on_client_datagram(&m);
            let _ = QuicInitialState::new().on_server_datagram(&m);
        });
    }

    /// Arbitrary plaintext sealed into a valid Initial: the frame walker, the
    /// CRYPTO buffer and the ClientHello parser see whatever a client could send.
    #[test]
    fn quic_arbitrary_sealed_frames(
        payload in proptest::collection::vec(any::<u8>(), 20..1200),
        crypto in proptest::collection::vec((0u64..9000, proptest::collection::vec(any::<u8>(), 0..300)), 0..6),
        v2 in any::<bool>(),
    ) {
        let version = if v2 { VERSION_2 } else { VERSION_1 };
        let dcid = [7u8; 8];
        let mut s = QuicInitialState::new();
        let _ = s.on_client_datagram(&seal_initial(version, &dcid, 0, &payload));
        let mut frames = vec![];
        for (off, data) in &crypto {
            frames.extend(crypto_frame(*off as usize, data));
        }
        frames.resize(frames.len().max(40), 0);
        let mut s = QuicInitialState::new();
        let r = s.on_client_datagram(&seal_initial(version, &dcid, 1, &frames));
        prop_assert!(!matches!(r, Outcome::NotThis | Outcome::Malformed(QuicError::Decrypt)));
    }
}
