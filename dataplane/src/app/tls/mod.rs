//! TLS over TCP: the ClientHello's server name → clickstream (HOST_TYPE 3),
//! the ServerHello → TLS reply (spec §6, `ssl_parse_reply`), and for a
//! ClientHello without a server name the certificate's CN → clickstream
//! (HOST_TYPE 2).
//!
//! Signature: a TLS handshake record header (type 22, version 3.x) in the
//! first payload; also a ClientHello after a cleartext start (STARTTLS, STLS),
//! which the dispatch switches to. Per flow: the client's MACs while a
//! server name is awaited from the certificate. Each end holds its reassembly
//! slot until its message is read. Grammar: [`grammar`] (hellos, the
//! handshake reader across records, the certificate's DER walk).

mod grammar;

pub use grammar::*;

use metaprobe_ipfix::field::{Mac, Octets, Text};
use metaprobe_ipfix::template::Clickstream;

use super::record::{HOST_CNAME, HOST_SNI};
use super::{AppConfig, Common, Cx, Ends, L4, Outcome, Seen, Segment, Signature};
use crate::counters::AppCount;

/// Per flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The ClientHello had no server name (the certificate's CN names the
    /// host): its packet's source and destination MAC, for that record.
    no_sni: Option<[Mac; 2]>,
}

/// Nothing per worker: TLS lives in the reassembly slots.
pub struct Worker;

impl Worker {
    pub fn new(_: &AppConfig) -> Worker {
        Worker
    }

    pub fn memory_bytes(&self) -> usize {
        0
    }
}

/// A TLS handshake record header, type 22 and version 3.x, at the start of
/// either end's stream (cut after 1 or 2 octets: `Incomplete`).
pub(super) fn detect(seen: &Seen<'_>, first: &[u8]) -> Signature<State> {
    if seen.transport() != Some(L4::Tcp) {
        return Outcome::NotThis;
    }
    match first {
        [22] | [22, 3] => Outcome::Incomplete,
        [22, 3, minor, ..] if *minor <= 4 => Outcome::Done(State::default()),
        _ => Outcome::NotThis,
    }
}

/// A TLS handshake record starting with a ClientHello (type 1).
pub(super) fn starts_client_hello(p: &[u8]) -> bool {
    matches!(p, [22, 3, minor, _, _, 1, ..] if *minor <= 4)
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.clickstream
}

pub(super) fn on_payload(
    st: &mut State,
    _: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let Some(seq) = seen.tcp_seq() else {
        return;
    };
    let end = seen.obs.sender.index();
    let r = match cx.stream(ends, end, seq, seen.payload) {
        Segment::Grew(r) => r,
        Segment::Nothing => return,
        // The hello's first octets went with the reclaimed slot.
        Segment::Lost(_) => return cx.finish_stream(ends, end),
    };
    let base = cx.streams.base(r).unwrap_or(seq);
    let window = cx.streams.contiguous(r);
    let full = cx.streams.is_full(r);
    if seen.from_client {
        match client_hello(window) {
            Outcome::Incomplete if !full => return,
            Outcome::Done(hello) => on_client_hello(st, cx, seen, &hello, base),
            Outcome::Incomplete => cx.count(AppCount::TlsTooLong),
            Outcome::NotThis | Outcome::Malformed(_) => cx.count(AppCount::TlsMalformed),
        }
    } else {
        // The server's flight: the reply record and, for TLS <= 1.2, the certificate.
        let flight = match server_flight(window) {
            Outcome::Incomplete if !full => return,
            Outcome::Incomplete => {
                cx.count(AppCount::TlsTooLong);
                server_hello(window).done().map(|hello| ServerFlight {
                    hello,
                    certificate: Certificate::Absent,
                })
            }
            Outcome::Done(f) => Some(f),
            Outcome::NotThis | Outcome::Malformed(_) => {
                cx.count(AppCount::TlsMalformed);
                None
            }
        };
        if let Some(f) = flight {
            on_server_flight(st, cx, seen, &f, base);
        }
    }
    cx.finish_stream(ends, end);
}

pub(super) fn on_end(_: &State, _: &mut Worker) {}

fn on_client_hello(
    st: &mut State,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
    hello: &ClientHello,
    seq: u32,
) {
    let Some(sni) = hello.server_name.as_ref().filter(|n| !n.is_empty()) else {
        st.no_sni = Some(
            seen.packet
                .ethernet
                .map_or([[0; 6]; 2], |e| [e.src.octets(), e.dst.octets()]),
        );
        return;
    };
    let Some(common) = seen.common() else {
        return;
    };
    let record = Clickstream {
        cipher_suites_len: hello.cipher_suites_len,
        cipher_suites: Octets(hello.cipher_suites_raw()),
        ..common.clickstream(sni.as_bytes(), HOST_SNI, seq)
    };
    cx.emit(&record);
}

fn on_server_flight(st: &State, cx: &mut Cx<'_>, seen: &Seen<'_>, f: &ServerFlight, seq: u32) {
    let Some(common) = seen.common() else {
        return;
    };
    let cname = f.certificate.common_name();
    if cx.cfg.tls_replies {
        let record = reply_record(&common, &f.hello, cname.map(|n| n.as_bytes()));
        cx.emit(&record);
    }
    // No SNI: the certificate names the host. The record is the client's
    // request, so it carries the client → server view of the packet.
    if let Some(macs) = st.no_sni
        && let Some(name) = cname
    {
        let client = common.reversed(macs);
        let record = client.clickstream(name.as_bytes(), HOST_CNAME, seq);
        cx.emit(&record);
    }
}

/// The TLS reply record of a ServerHello (spec §6), over TCP or QUIC;
/// `cname`, the server certificate's subject CN when it was visible
/// (HOST_TYPE 2), else 0 / empty.
pub(super) fn reply_record<'a>(
    common: &'a Common,
    hello: &ServerHello,
    cname: Option<&'a [u8]>,
) -> metaprobe_ipfix::template::TlsReply<'a> {
    metaprobe_ipfix::template::TlsReply {
        ssl_version: hello.version,
        cipher_suite: hello.cipher_suite,
        compression_method: hello.compression_method,
        host_type: if cname.is_some() { HOST_CNAME } else { 0 },
        cname: Text::new(cname.unwrap_or_default()),
        ..common.tls_reply()
    }
}
