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

use super::raw::Raw;
use super::record::{HOST_CNAME, HOST_SNI};
use super::{AppConfig, Close, Common, Cx, Ends, L4, Outcome, Seen, Segment, Signature};
use crate::counters::AppCount;
use crate::reasm::StreamRef;

/// Per flow.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State {
    /// The ClientHello had no server name (the certificate's CN names the
    /// host): its packet's source and destination MAC, for that record.
    no_sni: Option<[Mac; 2]>,
    /// The server's ServerHello is whole, its certificate not yet: the end
    /// (`Endpoint::index`) whose slot holds it, until the reply is exported.
    reply_pending: Option<u8>,
}

/// The common fields of each ServerHello whose reply waits for its
/// certificate, by the server end's reassembly slot: the reply record is
/// that packet's, whenever it is exported (the certificate may never come).
pub struct Worker {
    /// Held without the login (the flow's is put back when the reply goes out).
    pending: Box<[Option<(StreamRef, Common<'static>)>]>,
}

impl Worker {
    pub fn new(cfg: &AppConfig) -> Worker {
        let n = if cfg.tls_replies { cfg.stream_slots } else { 0 };
        Worker {
            pending: vec![None; n as usize].into_boxed_slice(),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of_val(&*self.pending)
    }

    fn keep(&mut self, r: StreamRef, common: Common<'_>) -> bool {
        match self.pending.get_mut(r.index()) {
            Some(entry) => {
                *entry = Some((r, common.with_login(&[])));
                true
            }
            None => false,
        }
    }

    fn take(&mut self, r: StreamRef) -> Option<Common<'static>> {
        let entry = self.pending.get_mut(r.index())?;
        match *entry {
            Some((held, common)) if held == r => {
                *entry = None;
                Some(common)
            }
            _ => None,
        }
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
        [len_hi, _, 1, 3, minor, ..] if len_hi & 0x80 != 0 && *minor <= 4 => {
            Outcome::Done(State::default())
        }
        _ => Outcome::NotThis,
    }
}

/// A TLS handshake record starting with a ClientHello (type 1).
/// The first octet of a segment that starts a ClientHello: a handshake record.
pub(super) const CLIENT_HELLO_FIRST_OCTET: u8 = 22;

pub(super) fn starts_client_hello(p: &[u8]) -> bool {
    matches!(p, [CLIENT_HELLO_FIRST_OCTET, 3, minor, _, _, 1, ..] if *minor <= 4)
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.clickstream || cfg.block
}

/// No raw metadata records (spec §7 names no such protocol).
pub(super) fn raw(_: &State) -> Option<Raw> {
    None
}

pub(super) fn on_payload(
    st: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    let Some(seq) = seen.tcp_seq() else {
        return;
    };
    if seen.from_client {
        // The client answers only the server's whole flight: a certificate
        // not seen by now never will be (lost before the probe).
        export_pending_reply(st, w, ends, cx);
        if let Some(macs) = sslv2_client_hello(seen) {
            // An SSLv2-format ClientHello cannot carry a server name.
            st.no_sni = Some(macs);
            return cx.finish_stream(ends, seen.obs.sender.index());
        }
    }
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
            Outcome::Incomplete if !full => {
                if cx.cfg.tls_replies
                    && st.reply_pending.is_none()
                    && server_hello(window).done().is_some()
                    && let Some(common) = seen.common()
                    && w.keep(r, common)
                {
                    st.reply_pending = Some(end as u8);
                }
                return;
            }
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
        if st.reply_pending.take().is_some() {
            w.take(r);
        }
        if let Some(f) = flight {
            on_server_flight(st, cx, seen, &f, base);
        }
    }
    cx.finish_stream(ends, end);
}

/// A FIN or RST: the certificate will not come.
pub(super) fn on_close(st: &mut State, w: &mut Worker, ends: &mut Ends, cx: &mut Cx<'_>, _: Close) {
    export_pending_reply(st, w, ends, cx);
}

/// The flow ends (idle, evicted, the run stops): the certificate did not come.
pub(super) fn on_end(st: &State, w: &mut Worker, ends: &Ends, cx: &mut Cx<'_>) {
    let mut st = *st;
    let mut ends = *ends;
    export_pending_reply(&mut st, w, &mut ends, cx);
}

/// The reply record of a ServerHello whose certificate did not follow,
/// without a CN, dated and addressed as its own packet.
fn export_pending_reply(st: &mut State, w: &mut Worker, ends: &mut Ends, cx: &mut Cx<'_>) {
    let Some(end) = st.reply_pending.take().map(usize::from) else {
        return;
    };
    let Some(r) = ends.streams.get(end).copied().flatten() else {
        return;
    };
    let common = w.take(r);
    if let (Some(common), Some(hello)) = (common, server_hello(cx.streams.contiguous(r)).done()) {
        cx.count(AppCount::TlsReplyWithoutCertificate);
        let common = common.with_login(cx.login);
        let record = reply_record(&common, &hello, None);
        cx.emit(&record);
    }
    cx.finish_stream(ends, end);
}

/// An SSLv2-format ClientHello (RFC 6101 appendix E.2, what old clients send
/// for compatibility): a 2-octet record length with the high bit set,
/// message type 1, a version of 3.x. Its packet's MACs, when it is one.
fn sslv2_client_hello(seen: &Seen<'_>) -> Option<[Mac; 2]> {
    match seen.payload {
        [len_hi, _, 1, 3, minor, ..] if len_hi & 0x80 != 0 && *minor <= 4 => Some(
            seen.packet
                .ethernet
                .map_or([[0; 6]; 2], |e| [e.src.octets(), e.dst.octets()]),
        ),
        _ => None,
    }
}

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
        locked: cx.lock_server_name(sni.as_bytes()),
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
    common: &'a Common<'a>,
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
