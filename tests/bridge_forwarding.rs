//! End to end: the `metaprobe` binary with a real EAL (`--no-huge --no-pci`) bridging two
//! `net_pcap` ports. What is read from one port's `rx_pcap` must come out of the other
//! port's `tx_pcap` byte-identical, packet for packet, in order, and the final counters must
//! equal the packet counts with nothing dropped.
//!
//! Port 0 is the subscriber side, port 1 the internet side: `in0` comes out in `out1` and
//! `in1` in `out0`. Each test is one process run of the binary (see `common`).

mod common;

use std::path::PathBuf;

use common::{
    BridgeRun, FinalSummary, Packet, TestDir, assert_bridge_forwarded, bridge_capture_files,
    fixtures_dir, gen_bulk, gen_malformed, read_capture, run_bridge, write_pcap,
};

/// Every packet of `files`, one file after the other.
fn concat_captures<'a>(files: impl IntoIterator<Item = &'a PathBuf>) -> Vec<Packet> {
    let mut all = Vec::new();
    for f in files {
        let packets = read_capture(f);
        assert!(!packets.is_empty(), "{} has no packets", f.display());
        for (i, p) in packets.iter().enumerate() {
            assert_eq!(
                p.data.len() as u64,
                u64::from(p.orig_len),
                "{} packet {i} is truncated (caplen != len): not a usable input",
                f.display()
            );
        }
        all.extend(packets);
    }
    all
}

/// Writes the two inputs, runs the bridge, checks forwarding and counters.
fn bridge_generated(name: &str, sent0: &[Packet], sent1: &[Packet]) -> BridgeRun {
    let dir = TestDir::new(name);
    let in0 = dir.join("in0.pcap");
    let in1 = dir.join("in1.pcap");
    write_pcap(&in0, sent0);
    write_pcap(&in1, sent1);
    let run = run_bridge(&dir, &in0, &in1);
    assert_bridge_forwarded(&run, sent0, sent1);
    run
}

/// ≥ 100 000 packets: 100 000 from the subscriber side and 50 000 from the internet side,
/// mixed IPv4/IPv6/VLAN/ARP frames of 60..1514 bytes, each numbered.
#[test]
fn bulk_150k_packets_cross_unchanged_in_order() {
    let sent0 = gen_bulk(100_000, 0, 0x5eed_0001);
    let sent1 = gen_bulk(50_000, 1, 0x5eed_0002);
    let run = bridge_generated("bulk", &sent0, &sent1);
    eprintln!(
        "bulk: 150000 packets in {:.1} s (incl. EAL start and {} s idle exit)",
        run.out.elapsed.as_secs_f64(),
        common::IDLE_EXIT_SECS
    );
}

/// Runts (0..59 bytes), truncated and bogus L3/L4 headers, bogus length fields, deep tag
/// stacks, non-IP ethertypes, garbage on well-known application ports, and jumbo frames of
/// ~9000 bytes: all forwarded unchanged, in both directions.
#[test]
fn malformed_frames_cross_unchanged() {
    let sent0 = gen_malformed();
    assert!(
        sent0.iter().any(|p| p.data.len() < 14),
        "the set must contain runts"
    );
    assert!(
        sent0.iter().any(|p| p.data.len() >= 9000),
        "the set must contain jumbo frames"
    );
    let mut sent1 = sent0.clone();
    sent1.reverse();
    bridge_generated("malformed", &sent0, &sent1);
}

/// Real traffic (HTTP, TLS 1.3, QUIC, DNS over UDP/TCP, IPv4/IPv6 fragments, VLAN, QinQ,
/// PPPoE, MPLS, ARP) crosses the bridge byte-identical both ways: every committed capture,
/// one after the other, is fed into the subscriber side, and the same in reverse file order
/// into the internet side.
#[test]
fn real_traffic_mix_crosses_unchanged_both_ways() {
    let files = bridge_capture_files();
    let sent0 = concat_captures(files.iter());
    let sent1 = concat_captures(files.iter().rev());
    assert!(sent0.len() >= 200, "only {} real packets", sent0.len());
    bridge_generated("realmix", &sent0, &sent1);
}

/// pcapng captures given to `net_pcap` as they are (libpcap reads pcapng): the packets come
/// out unchanged in the classic pcap the port writes.
#[test]
fn pcapng_captures_cross_unchanged() {
    let dir = TestDir::new("pcapng");
    let in0 = fixtures_dir().join("http_301_location.pcapng");
    let in1 = fixtures_dir().join("tls13_ech_ipv6.pcapng");
    let sent0 = read_capture(&in0);
    let sent1 = read_capture(&in1);
    assert!(!sent0.is_empty() && !sent1.is_empty());
    let run = run_bridge(&dir, &in0, &in1);
    assert_bridge_forwarded(&run, &sent0, &sent1);
}

/// One side silent (an empty capture): the other side's traffic still crosses, the silent
/// side's output is a valid capture with no packets, and its counters are 0.
#[test]
fn one_silent_side_still_forwards_the_other() {
    let dir = TestDir::new("silent");
    let in0 = fixtures_dir().join("dns_udp_google_a_aaaa_mx.pcap");
    let in1 = dir.join("empty.pcap");
    write_pcap(&in1, &[]);
    let sent0 = read_capture(&in0);
    assert_eq!(sent0.len(), 6);
    let run = run_bridge(&dir, &in0, &in1);
    assert_bridge_forwarded(&run, &sent0, &[]);
    // The same facts, said directly, so a failure reads plainly.
    assert!(read_capture(&run.out0).is_empty());
    let summary = FinalSummary::parse(&run.out.stdout).expect("summary parsed above");
    let port1 = summary.ports.get(&1).expect("port 1 line");
    assert_eq!(port1.u64("rx"), Ok(0), "{}", port1.line);
    assert_eq!(port1.u64("tx"), Ok(6), "{}", port1.line);
}

/// The harness itself: the summary parser reads the documented line shape and refuses
/// lines it cannot read (so the counter checks above cannot pass vacuously).
#[test]
fn summary_parser_reads_the_documented_lines() {
    let stdout = "EAL: something\n\
        final port 0 (net_pcap0): rx 1000 tx 400 tx-dropped 0 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0\n\
        final port 1 (net_pcap1): rx 400 tx 1000 tx-dropped 0 rx-missed 0 rx-nombuf 0 rx-errors 0 tx-errors 0\n\
        final worker 0 (lcore 1): rx 1400 tx 1400 tx-dropped 0 cycles/pkt 123.4\n";
    let s = FinalSummary::parse(stdout).expect("documented shape");
    let p0 = s.ports.get(&0).expect("port 0");
    assert_eq!(p0.label, "net_pcap0");
    assert_eq!(p0.u64("rx"), Ok(1000));
    assert_eq!(p0.u64("tx"), Ok(400));
    let w0 = s.workers.get(&0).expect("worker 0");
    assert_eq!(w0.label, "lcore 1");
    assert_eq!(w0.f64("cycles/pkt"), Ok(123.4));
    assert_eq!(s.check_bridge_counts(1000, 400), Ok(()));
    assert!(
        s.check_bridge_counts(1000, 401).is_err(),
        "a wrong count must fail the check"
    );
    assert!(
        s.check_bridge_counts(400, 1000).is_err(),
        "crossed directions must fail the check"
    );
    let dropped = stdout.replace("tx 1400 tx-dropped 0", "tx 1400 tx-dropped 3");
    let dropped = FinalSummary::parse(&dropped).expect("still the documented shape");
    assert!(
        dropped.check_bridge_counts(1000, 400).is_err(),
        "a worker drop must fail the check"
    );

    assert!(FinalSummary::parse("nothing here\n").is_err());
    assert!(
        FinalSummary::parse("final port 0 (net_pcap0): rx 1 tx\n").is_err(),
        "odd key/value list"
    );
    assert!(
        FinalSummary::parse(
            "final port 0 (net_pcap0): rx 1 tx 1 tx-dropped 0\nfinal worker 0 (lcore 1): rx 1 tx 1 tx-dropped 0 cycles/pkt 1\n"
        )
        .is_err(),
        "port line without the error counters"
    );
}

/// The harness itself: the packet comparison catches a changed byte, a lost packet, an
/// extra packet, a reordering and a changed wire length.
#[test]
fn packet_comparison_catches_every_difference() {
    let sent = gen_malformed();
    let check = |got: Vec<Packet>| common::compare_packets(&sent, &got);
    assert!(check(sent.clone()).is_ok(), "identical packets must pass");

    let mut changed = sent.clone();
    if let Some(b) = changed.get_mut(10).and_then(|p| p.data.get_mut(20)) {
        *b ^= 1;
    }
    assert!(check(changed).is_err(), "a changed byte must fail");

    let mut lost = sent.clone();
    lost.pop();
    assert!(check(lost).is_err(), "a lost packet must fail");

    let mut extra = sent.clone();
    extra.push(Packet::whole(vec![1, 2, 3]));
    assert!(check(extra).is_err(), "an extra packet must fail");

    let mut reordered = sent.clone();
    reordered.swap(3, 4);
    assert!(check(reordered).is_err(), "a reordering must fail");

    let mut longer = sent.clone();
    if let Some(p) = longer.get_mut(7) {
        p.orig_len += 4;
    }
    assert!(check(longer).is_err(), "a changed wire length must fail");
}
