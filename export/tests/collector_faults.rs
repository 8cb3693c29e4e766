//! Collector faults named by what the kernel said, on real sockets (the transports,
//! then the exporter's counters and alert lines): a UDP port
//! nothing listens on (ICMP port unreachable → ECONNREFUSED on the next send or
//! at the next look), collectors the routing table cannot reach (a fresh network
//! namespace with no route, an `unreachable` route, a `blackhole` route), and the
//! records of a TCP connection that were never acknowledged when the collector
//! died (`SIOCOUTQ`).
//!
//! The network namespace tests need CAP_SYS_ADMIN (they run as root, like the
//! end-to-end tests) and `ip` (iproute2); they fail, not pass, without them.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod common;

use common::T0;
use std::io::Read;
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::process::Command;
use std::time::{Duration, Instant};

use metaprobe_export::transport::{Fault, SendOutcome, TcpEvent, TcpTransport, UdpTransport};

/// A loopback UDP port nobody listens on (bound, then closed).
fn closed_udp_port(ip: &str) -> SocketAddr {
    let s = UdpSocket::bind(format!("{ip}:0")).unwrap();
    s.local_addr().unwrap()
}

/// Polls `f` for up to 2 s.
fn within_2s<T>(mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let t = Instant::now();
    while t.elapsed() < Duration::from_secs(2) {
        if let Some(v) = f() {
            return Some(v);
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

#[test]
fn a_closed_udp_port_is_refused_not_full() {
    for ip in ["127.0.0.1", "[::1]"] {
        let addr = closed_udp_port(ip);
        let mut tx = UdpTransport::new(addr, "", "ipfix_udp_collectors").unwrap();
        // The first datagram goes out; its ICMP port unreachable comes back.
        assert_eq!(tx.send(b"one"), SendOutcome::Sent, "{ip}");
        // Taken at the next look (the start of a cycle)...
        assert_eq!(
            within_2s(|| tx.pending_fault()),
            Some(Fault::Refused),
            "{ip}"
        );
        assert_eq!(
            tx.last_error().and_then(std::io::Error::raw_os_error),
            Some(libc::ECONNREFUSED)
        );
        // ... or by the next send, which then sends nothing.
        assert_eq!(tx.send(b"two"), SendOutcome::Sent);
        let refused = within_2s(|| match tx.send(b"three") {
            SendOutcome::Failed(f) => Some(f),
            _ => None,
        });
        assert_eq!(refused, Some(Fault::Refused), "{ip}");
        assert!(tx.errors() >= 2);
    }
}

#[test]
fn a_listening_udp_port_is_not_refused() {
    let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
    let mut tx = UdpTransport::new(rx.local_addr().unwrap(), "", "ipfix_udp_collectors").unwrap();
    for _ in 0..10 {
        assert_eq!(tx.send(b"x"), SendOutcome::Sent);
    }
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(tx.pending_fault(), None);
    assert_eq!(tx.errors(), 0);
}

/// Runs `f` in a thread of its own in a new network namespace (no interface up,
/// no route), after `setup` commands (`ip …`) run in that namespace.
fn in_fresh_netns(setup: &[&[&str]], f: impl FnOnce() + Send + 'static) {
    let setup: Vec<Vec<String>> = setup
        .iter()
        .map(|c| c.iter().map(|s| (*s).to_owned()).collect())
        .collect();
    std::thread::spawn(move || {
        // SAFETY: unshare(2) with CLONE_NEWNET moves only this thread into a new
        // network namespace; no memory is involved.
        let ret = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        assert_eq!(
            ret,
            0,
            "unshare(CLONE_NEWNET) needs CAP_SYS_ADMIN (run as root): {}",
            std::io::Error::last_os_error()
        );
        // Children of this thread are in its namespace.
        for cmd in setup {
            let out = Command::new(&cmd[0]).args(&cmd[1..]).output().unwrap();
            assert!(out.status.success(), "{cmd:?}: {out:?}");
        }
        f();
    })
    .join()
    .unwrap();
}

fn refused_send(tx: &mut UdpTransport) -> (SendOutcome, Option<i32>) {
    let o = tx.send(b"message");
    (o, tx.last_error().and_then(std::io::Error::raw_os_error))
}

#[test]
fn no_route_an_unreachable_route_and_a_blackhole_are_unreachable() {
    in_fresh_netns(
        &[
            &["ip", "route", "add", "unreachable", "198.51.100.0/24"],
            &["ip", "route", "add", "blackhole", "203.0.113.0/24"],
        ],
        || {
            let cases = [
                ("192.0.2.1:4739", libc::ENETUNREACH),
                ("198.51.100.1:4739", libc::EHOSTUNREACH),
                ("203.0.113.1:4739", libc::EINVAL),
            ];
            for (addr, errno) in cases {
                let mut tx =
                    UdpTransport::new(addr.parse().unwrap(), "", "ipfix_udp_collectors").unwrap();
                assert_eq!(
                    refused_send(&mut tx),
                    (SendOutcome::Failed(Fault::Unreachable), Some(errno)),
                    "{addr}"
                );
            }
            // TCP: the connect fails the same way, named the same way.
            let mut t = TcpTransport::new(
                "192.0.2.1:4739".parse().unwrap(),
                "",
                "ipfix_tcp_collectors",
                1500,
                0,
            )
            .unwrap();
            match t.maintain(0) {
                Some(TcpEvent::ConnectFailed { fault, reason, .. }) => {
                    assert_eq!(fault, Fault::Unreachable, "{reason}");
                    assert!(reason.contains("unreachable"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        },
    );
}

/// A TCP listener on loopback whose connections have a 4 KiB receive buffer, so
/// that a collector that stops reading fills up quickly.
fn small_listener() -> TcpListener {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    sock.bind(&"127.0.0.1:0".parse::<SocketAddr>().unwrap().into())
        .unwrap();
    sock.listen(1).unwrap();
    sock.into()
}

/// Unread octets in a socket's receive queue (`FIONREAD`).
fn unread(s: &impl AsRawFd) -> u64 {
    let mut n: libc::c_int = 0;
    // SAFETY: a valid descriptor, and FIONREAD writes one int through a pointer to
    // a live int.
    let ret = unsafe { libc::ioctl(s.as_raw_fd(), libc::FIONREAD, &raw mut n) };
    assert_eq!(ret, 0);
    u64::try_from(n).unwrap()
}

/// A collector that stops reading with our send queue full, then dies with data
/// unread (a reset): the records of the messages in its receive buffer were
/// acknowledged (exported), those in our send queue and our backlog were not
/// (lost), whole messages only.
#[test]
fn tcp_records_never_acknowledged_are_lost_not_exported() {
    const LEN: usize = 1000;
    const RECORDS: u32 = 3;
    let l = small_listener();
    // A backlog of four messages, beside the socket's send queue.
    let mut t = TcpTransport::new(
        l.local_addr().unwrap(),
        "",
        "ipfix_tcp_collectors",
        LEN,
        4 * LEN,
    )
    .unwrap();
    t.set_send_buffer(Some(8192));
    within_2s(|| {
        t.maintain(0);
        t.is_up().then_some(())
    })
    .unwrap();
    let (mut peer, _) = l.accept().unwrap();
    // The collector reads the first 5 messages, then no more.
    let msg = vec![0xab_u8; LEN];
    for _ in 0..5 {
        assert_eq!(t.send(0, &msg, RECORDS).0, SendOutcome::Sent);
    }
    let mut got = vec![0u8; 5 * LEN];
    peer.read_exact(&mut got).unwrap();
    let mut taken = 5u64;
    let mut acked = 0u64;
    let mut blocked = 0;
    while blocked < 20 {
        match t.send(0, &msg, RECORDS).0 {
            SendOutcome::Sent | SendOutcome::Queued => taken += 1,
            SendOutcome::WouldBlock => {
                blocked += 1;
                std::thread::sleep(Duration::from_millis(5));
                t.maintain(0);
            }
            SendOutcome::Failed(f) => panic!("{f:?}"),
        }
        acked += t.take_acked();
    }
    std::thread::sleep(Duration::from_millis(50));
    acked += t.take_acked();
    let unread = unread(&peer);
    // Everything acknowledged is in the collector: read (5 messages) or unread.
    assert_eq!(acked, (5 + unread / LEN as u64) * u64::from(RECORDS));
    assert_eq!(t.unacked_records() + acked, taken * u64::from(RECORDS));
    assert!(t.unacked_records() > 0, "the send queue is not empty");
    assert!(t.backlog_octets() > 3 * LEN, "the backlog is full");

    // The collector dies with data unread: a reset.
    drop(peer);
    let ev = within_2s(|| t.maintain(0)).expect("the loss is noticed");
    let TcpEvent::Lost {
        acked_records,
        unacked_records,
        ..
    } = ev
    else {
        panic!("{ev:?}")
    };
    assert_eq!(
        acked_records, 0,
        "nothing was acknowledged after the last look"
    );
    assert_eq!(
        acked + unacked_records,
        taken * u64::from(RECORDS),
        "every record taken is either acknowledged or lost"
    );
    assert!(unacked_records > 0);
    assert_eq!(t.unacked_records(), 0);
    eprintln!(
        "{taken} messages taken: {} acknowledged ({unread} octets unread by the collector), {} lost",
        acked / u64::from(RECORDS),
        unacked_records / u64::from(RECORDS)
    );
}

/// A collector that closes cleanly after reading everything: all acknowledged,
/// counted at the loss, nothing lost.
#[test]
fn tcp_records_read_before_a_clean_close_are_all_acknowledged() {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut t =
        TcpTransport::new(l.local_addr().unwrap(), "", "ipfix_tcp_collectors", 64, 0).unwrap();
    within_2s(|| {
        t.maintain(0);
        t.is_up().then_some(())
    })
    .unwrap();
    let (mut peer, _) = l.accept().unwrap();
    for _ in 0..10 {
        assert_eq!(t.send(0, b"0123456789", 2).0, SendOutcome::Sent);
    }
    let mut got = [0u8; 100];
    peer.read_exact(&mut got).unwrap();
    drop(peer);
    let ev = within_2s(|| t.maintain(0)).expect("the close is noticed");
    assert!(
        matches!(
            ev,
            TcpEvent::Lost {
                acked_records: 20,
                unacked_records: 0,
                ..
            }
        ),
        "{ev:?}"
    );
}

// ---- the exporter: counted by fault, alerted by name -----------------------------------

use metaprobe_export::exporter::{ExportStats, Exporter, ExporterConfig};
use metaprobe_ipfix::ring::RecordSender;
use metaprobe_ipfix::samples;
use metaprobe_ipfix::session::Transport;
use metaprobe_ipfix::template::Stream;
use metaprobe_test_support::TestDir;
use std::cell::Cell;

/// `n` DNS records into the worker's ring, handed over.
fn push_dns(tx: &mut RecordSender, n: usize) -> u64 {
    for i in 0..n {
        assert!(tx.push(&samples::dns(1_700_000_000, i % 2 == 1)));
    }
    tx.flush();
    n as u64
}

fn alerts(dir: &std::path::Path) -> String {
    std::fs::read_to_string(dir.join("fastdpi_alert.log")).unwrap_or_default()
}

/// What every delivery of the stream became.
fn accounted(s: &ExportStats, stream: Stream) -> u64 {
    let st = s.stream(stream);
    st.exported
        + st.dropped_backpressure
        + st.dropped_down
        + st.dropped_unreachable
        + st.dropped_refused
        + st.dropped_unacked
        + st.dropped_before_export()
}

/// A UDP collector whose port is closed: after the first datagram (which draws
/// the ICMP error; the records of that one are counted exported) its records are
/// counted `refused` and alerted as such, never as a full socket buffer; it is
/// tried again a second later and, listening by then, gets the records.
#[test]
fn a_closed_udp_collector_is_refused_and_tried_again() {
    let dir = TestDir::new("faults-refused");
    let addr = closed_udp_port("127.0.0.1");
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Udp, &[addr]);
    let now = Cell::new(T0);
    let clock = || now.get();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    let mut produced = push_dns(&mut senders[0], 3);
    ex.poll(&clock);
    // The templates go first; their datagram draws the ICMP error, which loopback
    // returns at once, so the data message after it is refused by its send.
    let st = *ex.stats().stream(Stream::Dns);
    let first = st.exported;
    assert_eq!(first + st.dropped_refused, 3, "{st:?}");
    std::thread::sleep(Duration::from_millis(20));
    for _ in 0..50 {
        now.set(now.get() + 10_000);
        produced += push_dns(&mut senders[0], 4);
        ex.poll(&clock);
    }
    let s = ex.stats();
    let st = *s.stream(Stream::Dns);
    assert_eq!(st.exported, first, "nothing more sent while refused");
    assert_eq!(st.dropped_refused, produced - first);
    assert_eq!(st.dropped_backpressure, 0, "not a full socket buffer");
    assert_eq!(s.collectors[0].dropped_refused, produced - first);
    assert_eq!(accounted(&s, Stream::Dns), produced);
    let text = alerts(dir.path());
    assert!(
        text.contains(&format!(
            "[NFLW] collector udp {addr} (dns) refused: nothing listens on its port (ICMP port unreachable) (Connection refused (os error 111)): "
        )),
        "{text}"
    );
    assert!(!text.contains("is not keeping up"), "{text}");

    // The collector starts; at the next try (after the hold) records flow again.
    let rx = UdpSocket::bind(addr).unwrap();
    now.set(now.get() + 1_000_000);
    produced += push_dns(&mut senders[0], 2);
    ex.poll(&clock);
    let st = *ex.stats().stream(Stream::Dns);
    assert_eq!(st.exported, first + 2);
    rx.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    let mut buf = [0u8; 9000];
    assert!(rx.recv(&mut buf).unwrap() > 16, "an IPFIX message arrived");
    assert_eq!(accounted(&ex.stats(), Stream::Dns), produced);
}

/// Collectors the routing table cannot reach (a fresh network namespace with no
/// route): every record counted `unreachable`, none `backpressure`, and the
/// alert lines say unreachable with the OS's words — for UDP and for TCP.
#[test]
fn unreachable_collectors_are_counted_and_alerted_as_unreachable() {
    let dir = TestDir::new("faults-unreachable");
    let d = dir.path().to_path_buf();
    in_fresh_netns(&[], move || {
        let udp: SocketAddr = "192.0.2.1:4739".parse().unwrap();
        let tcp: SocketAddr = "192.0.2.1:4740".parse().unwrap();
        let mut cfg = ExporterConfig::new(&d);
        cfg.add(Stream::Dns, Transport::Udp, &[udp]);
        cfg.add(Stream::Dns, Transport::Tcp, &[tcp]);
        let now = Cell::new(T0);
        let clock = || now.get();
        let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
        let mut produced = 0;
        for _ in 0..30 {
            produced += push_dns(&mut senders[0], 5);
            ex.poll(&clock);
            now.set(now.get() + 100_000);
        }
        let s = ex.stats();
        let (u, t) = (s.collectors[0], s.collectors[1]);
        assert_eq!(u.dropped_unreachable, produced, "{u:?}");
        assert_eq!(t.dropped_unreachable, produced, "{t:?}");
        for c in [u, t] {
            assert_eq!(
                (c.exported, c.dropped_backpressure, c.dropped_down),
                (0, 0, 0),
                "{c:?}"
            );
        }
        assert_eq!(s.stream(Stream::Dns).dropped_unreachable, 2 * produced);
        let text = alerts(&d);
        assert!(
            text.contains(&format!(
                "[NFLW] collector udp {udp} (dns) unreachable (Network is unreachable (os error 101)): "
            )),
            "{text}"
        );
        assert!(
            text.contains(&format!(
                "[NFLW] collector tcp {tcp} (dns): unreachable (Network is unreachable (os error 101)); retrying"
            )),
            "{text}"
        );
        assert!(!text.contains("is not keeping up"), "{text}");
    });
}

/// A TCP collector that stops reading and then dies: the records it had not
/// acknowledged are counted `unacked` (lost), not exported, and said so.
#[test]
fn a_dead_tcp_collector_loses_its_unacknowledged_records() {
    let dir = TestDir::new("faults-unacked");
    let l = small_listener();
    let addr = l.local_addr().unwrap();
    let mut cfg = ExporterConfig::new(dir.path());
    cfg.add(Stream::Dns, Transport::Tcp, &[addr]);
    cfg.tcp_send_buffer = Some(4096);
    let now = Cell::new(T0);
    let clock = || now.get();
    let (mut ex, mut senders) = Exporter::new(cfg).unwrap();
    within_2s(|| {
        ex.poll(&clock);
        ex.stats().collectors[0].up.then_some(())
    })
    .unwrap();
    let (peer, _) = l.accept().unwrap();
    let mut produced = 0;
    for _ in 0..100 {
        produced += push_dns(&mut senders[0], 20);
        now.set(now.get() + 10_000);
        ex.poll(&clock);
    }
    std::thread::sleep(Duration::from_millis(50));
    ex.poll(&clock);
    let s = ex.stats();
    let (c, st) = (s.collectors[0], *s.stream(Stream::Dns));
    assert!(c.unacked > 0, "records wait in the send queue: {c:?}");
    assert!(st.dropped_backpressure > 0, "{st:?}");
    assert_eq!(st.exported + c.unacked + st.dropped_backpressure, produced);
    let exported_before = st.exported;
    assert!(
        unread(&peer) > 0,
        "the collector holds acknowledged, unread data"
    );

    drop(peer); // dies with data unread: a reset
    let s = within_2s(|| {
        ex.poll(&clock);
        let s = ex.stats();
        (!s.collectors[0].up).then_some(s)
    })
    .expect("the loss is noticed");
    let (c, st) = (s.collectors[0], *s.stream(Stream::Dns));
    assert_eq!(
        st.exported, exported_before,
        "no record became exported by dying"
    );
    assert!(st.dropped_unacked > 0, "{st:?}");
    assert_eq!(c.unacked, 0);
    assert_eq!(accounted(&s, Stream::Dns), produced, "{st:?}");
    now.set(now.get() + 2_000_000);
    ex.poll(&clock);
    let text = alerts(dir.path());
    assert!(
        text.contains(&format!(
            "[NFLW] collector tcp {addr} (dns): connection lost (Connection reset by peer (os error 104)); {} records written to it were never acknowledged (lost)",
            st.dropped_unacked
        )),
        "{text}"
    );
}
