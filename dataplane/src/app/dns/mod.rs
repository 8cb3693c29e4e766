//! DNS: the answers of every response over UDP and TCP → the `dns` stream
//! (spec §8), one record per answer.
//!
//! Signature: port 53 on either side. Per flow: nothing (UDP datagrams are
//! whole messages; a TCP end's messages are framed in its reassembly window).
//! Grammar: [`grammar`] (the answer walk, names decompressed, the TCP framing).

mod grammar;

pub use grammar::*;

use metaprobe_ipfix::field::{Octets, Text};

use super::raw::Raw;
use super::{AppConfig, Close, Cx, Ends, L4, Outcome, Output, Seen, Segment, Signature};
use crate::counters::{AppCount, AppCounters};

/// Nothing per flow: the framing state is the reassembly window itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct State;

/// The names of the record being built (one per worker).
pub struct Worker {
    buf: RecordBuf,
}

impl Worker {
    pub fn new(_: &AppConfig) -> Worker {
        Worker {
            buf: RecordBuf::new(),
        }
    }

    pub fn memory_bytes(&self) -> usize {
        std::mem::size_of::<RecordBuf>()
    }
}

/// Port 53 on either side, UDP or TCP.
pub(super) fn detect(seen: &Seen<'_>, _first: &[u8]) -> Signature<State> {
    let (sport, dport) = seen.ports();
    if seen.transport().is_some() && (sport == 53 || dport == 53) {
        Outcome::Done(State)
    } else {
        Outcome::NotThis
    }
}

pub(super) fn wanted(cfg: &AppConfig) -> bool {
    cfg.dns
}

/// No raw metadata records (spec §7 names no such protocol).
pub(super) fn raw(_: &State) -> Option<Raw> {
    None
}

pub(super) fn on_payload(
    _: &mut State,
    w: &mut Worker,
    ends: &mut Ends,
    cx: &mut Cx<'_>,
    seen: &Seen<'_>,
) {
    match seen.transport() {
        Some(L4::Udp) => emit_answers(seen.payload, 0, seen, w, cx.out, cx.counters),
        Some(L4::Tcp) => {
            let end = seen.obs.sender.index();
            let Some(seq) = seen.tcp_seq() else {
                return;
            };
            let r = match cx.stream(ends, end, seq, seen.payload) {
                Segment::Grew(r) => r,
                Segment::Nothing => return,
                // The framing is lost with the octets the slot held.
                Segment::Lost(_) => return cx.finish_stream(ends, end),
            };
            let cap = cx.streams.slot_size() as usize;
            // Every whole message of the window, parsed in place.
            loop {
                let consumed = match tcp_frame(cx.streams.contiguous(r), cap) {
                    Outcome::Done(frame) => {
                        emit_answers(frame.message, 1, seen, w, cx.out, cx.counters);
                        frame.framed_len
                    }
                    Outcome::Malformed(TooLong { framed_len }) => {
                        cx.count(AppCount::DnsTooLong);
                        framed_len
                    }
                    Outcome::Incomplete | Outcome::NotThis => break,
                };
                cx.streams.consume(r, consumed as u32);
            }
            // Between messages: the slot goes back until the next one starts.
            cx.release_if_empty(ends, end, r);
        }
        None => {}
    }
}

pub(super) fn on_close(_: &mut State, _: &mut Worker, _: &mut Ends, _: &mut Cx<'_>, _: Close) {}

pub(super) fn on_end(_: &State, _: &mut Worker, _: &Ends, _: &mut Cx<'_>) {}

/// One DNS record per answer of a response message (`transport` 0 UDP, 1 TCP)
/// of the packet `seen`.
fn emit_answers(
    message: &[u8],
    transport: u8,
    seen: &Seen<'_>,
    w: &mut Worker,
    out: &mut Output,
    c: &AppCounters,
) {
    if !out.exporting() {
        return;
    }
    let mut answers = Answers::new(message);
    // The records' common fields, built at the first answer (~130
    // instructions): a query, half of what DNS carries, has none.
    let mut common = None;
    while let Some(item) = answers.next(&mut w.buf) {
        match item {
            Ok(rr) => {
                if common.is_none() {
                    common = seen.common();
                }
                let Some(common) = &common else {
                    return;
                };
                let record = metaprobe_ipfix::template::Dns {
                    domain: Text::new(rr.name),
                    rrclass: rr.rrclass.0,
                    rrtype: rr.rrtype.0,
                    ttl: rr.ttl,
                    rdata: Octets(rr.rdata),
                    ..common.dns(transport)
                };
                out.emit(&record, c);
            }
            Err(e) => c.add_dns_error(e),
        }
    }
}
