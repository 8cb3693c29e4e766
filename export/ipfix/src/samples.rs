//! Example records of every template (both address families), for tests,
//! benches and demos. Values are plausible and distinct per field.

use crate::field::{IpPair, Octets, Text};
use crate::session::NamedCount;
use crate::template::{
    Clickstream, Dns, Ftp, HttpReply, Im, Mail, RawMeta, Record, Sip, Template, TlsReply,
};
use core::net::IpAddr;

const MAC_A: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x01];
const MAC_B: [u8; 6] = [0x02, 0x00, 0x5e, 0x10, 0x00, 0x02];
const MPLS: [u8; 8] = [0x00, 0x3e, 0x81, 0x00, 0x00, 0x3e, 0x91, 0xff];

/// A client → server address pair of the family asked for.
pub fn addrs(ipv6: bool) -> IpPair {
    if ipv6 {
        IpPair::new(
            IpAddr::V6(
                "2001:db8::10"
                    .parse()
                    .unwrap_or(core::net::Ipv6Addr::LOCALHOST),
            ),
            IpAddr::V6(
                "2001:db8:1::20"
                    .parse()
                    .unwrap_or(core::net::Ipv6Addr::LOCALHOST),
            ),
        )
    } else {
        IpPair::new(
            IpAddr::V4(core::net::Ipv4Addr::new(198, 18, 0, 10)),
            IpAddr::V4(core::net::Ipv4Addr::new(198, 19, 0, 20)),
        )
    }
}

/// An HTTP request record.
pub fn clickstream(ts: u32, ipv6: bool) -> Clickstream<'static> {
    Clickstream {
        time_stamp: ts,
        login: Text::from_str("subscriber-1"),
        addrs: addrs(ipv6),
        hostname: Text::from_str("www.example.com"),
        path: Text::from_str("/index.html?q=ünïcödé"),
        refer: Text::from_str("http://example.org/"),
        user_agent: Text::from_str("Mozilla/5.0 (X11; Linux x86_64) metaprobe-test"),
        cookie: Text::from_str("sid=abc123; theme=dark"),
        session_id: 0x0001_0203_0405_0607,
        locked: 0,
        host_type: 1,
        method: 1,
        port_source: 40001,
        port_destination: 80,
        bridge_channel_num: 1,
        cipher_suites_len: 4,
        cipher_suites: Octets(&[0x13, 0x01, 0x13, 0x02]),
        vlan_id: 100,
        post_vlan_id: 200,
        source_mac: MAC_A,
        destination_mac: MAC_B,
        mpls_labels: Octets(&MPLS),
        tcp_sequence: 0x1234_5678,
        ..Default::default()
    }
}

/// An HTTP reply record.
pub fn http_reply(ts: u32, ipv6: bool) -> HttpReply<'static> {
    HttpReply {
        time_stamp: ts,
        login: Text::from_str("subscriber-1"),
        addrs: addrs(ipv6),
        result_code: 302,
        content_length: 1234,
        content_type: Text::from_str("text/html; charset=utf-8"),
        session_id: 0x0001_0203_0405_0607,
        location: Text::from_str("https://www.example.com/"),
        bridge_channel_num: 1,
        vlan_id: 100,
        post_vlan_id: 0,
        source_mac: MAC_B,
        destination_mac: MAC_A,
        mpls_labels: Octets(&[]),
        ..Default::default()
    }
}

/// A TLS reply record.
pub fn tls_reply(ts: u32, ipv6: bool) -> TlsReply<'static> {
    TlsReply {
        time_stamp: ts,
        login: Text::EMPTY,
        addrs: addrs(ipv6),
        session_id: 7,
        ssl_version: 0x0304,
        cipher_suite: 0x1301,
        compression_method: 0,
        bridge_channel_num: 2,
        vlan_id: 0,
        post_vlan_id: 0,
        source_mac: MAC_B,
        destination_mac: MAC_A,
        mpls_labels: Octets(&MPLS),
        host_type: 2,
        cname: Text::from_str("cdn.example.net"),
        ..Default::default()
    }
}

/// A SIP record.
pub fn sip(ts: u32, ipv6: bool) -> Sip<'static> {
    Sip {
        time_stamp: ts,
        login: Text::from_str("subscriber-2"),
        addrs: addrs(ipv6),
        session_id: 8,
        msg_code: Text::from_str("INVITE"),
        status_code: 0,
        uri: Text::from_str("sip:bob@example.com"),
        from: Text::from_str("\"Alice\" <sip:alice@example.com>;tag=1"),
        to: Text::from_str("<sip:bob@example.com>"),
        callid: Text::from_str("a84b4c76e66710@pc33.example.com"),
        uagent: Text::from_str("softphone/1.0"),
        ctype: Text::from_str("application/sdp"),
        gateways: Text::from_str("pc33.example.com,198.18.0.1"),
        vlan_id: 5,
        ..Default::default()
    }
}

/// An FTP record.
pub fn ftp(ts: u32, ipv6: bool) -> Ftp<'static> {
    Ftp {
        time_stamp: ts,
        login: Text::EMPTY,
        addrs: addrs(ipv6),
        session_id: 9,
        server_name: Text::from_str("ftp.example.com"),
        user: Text::from_str("anonymous"),
        password: Text::from_str("guest@"),
        mode: 1,
        result_code: 230,
        ..Default::default()
    }
}

/// An IM record.
pub fn im(ts: u32, ipv6: bool) -> Im<'static> {
    Im {
        time_stamp: ts,
        login: Text::EMPTY,
        addrs: addrs(ipv6),
        session_id: 10,
        im_login: Text::from_str("alice"),
        im_passw: Text::from_str("secret"),
        im_screen_name: Text::from_str("alice@example.com/phone"),
        im_uin: Text::EMPTY,
        im_protocol: 7,
        im_receivers: Text::from_str("bob@example.com"),
        result_code: 0,
        ..Default::default()
    }
}

/// A mail record.
pub fn mail(ts: u32, ipv6: bool) -> Mail<'static> {
    Mail {
        time_stamp: ts,
        login: Text::EMPTY,
        addrs: addrs(ipv6),
        session_id: 11,
        mail_sender: Text::from_str("alice@example.com"),
        mail_receiver: Text::from_str("bob@example.com,carol@example.com"),
        mail_cc: Text::from_str("dave@example.com"),
        mail_subject: Text::from_str("Привет, test"),
        mail_servers: Text::from_str("mx.example.com"),
        mail_reply: Text::from_str("250 OK"),
        event: 1,
        attachment: 0,
        mail_protocol: 0,
        result_code: 250,
        ..Default::default()
    }
}

/// A raw-metadata record.
pub fn raw_meta(ts: u32, ipv6: bool) -> RawMeta<'static> {
    RawMeta {
        time_stamp: ts,
        login: Text::EMPTY,
        addrs: addrs(ipv6),
        session_id: 12,
        flw_dir: 0,
        dir_data: 0,
        vdpi_proto: 77,
        meta_proto: 4,
        raw_data: Text::new(b"USER anonymous\r\n"),
        protocol_identifier: 6,
        source_transport_port: 40002,
        destination_transport_port: 21,
        tcp_control_bits: 0x18,
        tcp_sequence: 1000,
        ..Default::default()
    }
}

/// A DNS answer record.
pub fn dns(ts: u32, ipv6: bool) -> Dns<'static> {
    Dns {
        time_stamp: ts,
        login: Text::from_str("subscriber-1"),
        addrs: addrs(ipv6),
        port_source: 53,
        port_destination: 40003,
        session_id: 13,
        transport: 0,
        domain: Text::from_str("www.example.com"),
        rrclass: 1,
        rrtype: 1,
        ttl: 300,
        rdata: Octets(&[93, 184, 216, 34]),
        vlan_id: 100,
        post_vlan_id: 200,
        source_mac: MAC_B,
        destination_mac: MAC_A,
        mpls_labels: Octets(&[]),
        bridge_channel_num: 1,
        ..Default::default()
    }
}

/// Calls `f` with one record of every template (18: 9 kinds × 2 families),
/// as (template, encoded data record of at most `limit` octets).
pub fn for_each_encoded(ts: u32, limit: usize, mut f: impl FnMut(Template, Vec<u8>)) {
    fn go<R: Record>(r: &R, limit: usize, f: &mut impl FnMut(Template, Vec<u8>)) {
        let mut out = Vec::with_capacity(limit);
        if crate::encoder::encode(r, limit, &mut out).is_ok() {
            f(r.template(), out);
        }
    }
    for v6 in [false, true] {
        go(&clickstream(ts, v6), limit, &mut f);
        go(&http_reply(ts, v6), limit, &mut f);
        go(&tls_reply(ts, v6), limit, &mut f);
        go(&sip(ts, v6), limit, &mut f);
        go(&ftp(ts, v6), limit, &mut f);
        go(&im(ts, v6), limit, &mut f);
        go(&mail(ts, v6), limit, &mut f);
        go(&raw_meta(ts, v6), limit, &mut f);
        go(&dns(ts, v6), limit, &mut f);
    }
}

/// Counters of a few families, a name cut to fit among them, for the
/// statistics reports of [`session_messages`].
pub const COUNTERS: [NamedCount; 4] = [
    NamedCount {
        family: "analysis",
        name: "records",
        value: 12,
    },
    NamedCount {
        family: "analysis",
        name: "tls-malformed",
        value: 1,
    },
    NamedCount {
        family: "decode-stops",
        name: "ipv4-truncated",
        value: u64::MAX,
    },
    NamedCount {
        family: "flows",
        name: "a-name-longer-than-the-sixty-four-octets-a-counter-record-carries-é",
        value: 0,
    },
];

/// Every message of one session of `cfg`: its template round, one record of
/// each template of its stream (both families, `copies` times over), and a
/// statistics report with [`COUNTERS`]. Returns the messages and the data
/// records sent.
pub fn session_messages(
    cfg: crate::session::SessionConfig,
    ts: u32,
    copies: usize,
) -> (Vec<Vec<u8>>, usize) {
    use crate::session::{PushError, Session};
    let stream = cfg.stream;
    let Ok(mut s) = Session::new(cfg) else {
        return (Vec::new(), 0);
    };
    let mut records = Vec::new();
    for_each_encoded(ts, s.max_record_len(), |t, rec| {
        if t.def.stream == stream {
            records.push((t.id(), rec));
        }
    });
    let mut msgs = Vec::new();
    let mut buf = Vec::new();
    let mut sent = 0;
    for (id, rec) in records.iter().cycle().take(records.len() * copies) {
        loop {
            match s.push_record(ts, *id, rec) {
                Ok(()) => {
                    sent += 1;
                    break;
                }
                Err(PushError::Blocked) => {
                    if s.poll_transmit(ts, &mut buf).is_none() {
                        break;
                    }
                    msgs.push(buf.clone());
                }
                Err(_) => break,
            }
        }
    }
    s.set_counters(&COUNTERS);
    s.report_statistics();
    s.flush();
    while s.poll_transmit(ts, &mut buf).is_some() {
        msgs.push(buf.clone());
    }
    (msgs, sent)
}
