//! One collector of one stream: its socket (UDP, or TCP with reconnects),
//! its sans-IO [`Session`], and its backpressure — a socket that is full
//! (EAGAIN; TCP: and its backlog, `ipfix_tcp_backlog`) makes the rest
//! of the cycle's records for it skipped and counted, never queued without
//! bound.
//!
//! Faults are counted by what they are ([`Fault`]): a UDP collector the
//! routing table cannot reach, or whose port is closed, is held off for
//! [`FAULT_HOLD_US`] (its records counted `unreachable` or `refused`, one
//! alert line per alert interval), then tried again; records of a TCP
//! collector count as exported when it acknowledged them, and those it had
//! not when the connection died count as `unacked`.

use super::config::CollectorSpec;
use super::stats::CollectorStats;
use crate::transport::{Fault, SendOutcome, TcpEvent, TcpTransport, UdpTransport};
use metaprobe_ipfix::refit::refit;
use metaprobe_ipfix::session::{PushError, Session};
use metaprobe_ipfix::template::{self, TemplateId};

#[derive(Debug)]
pub(super) enum Tx {
    Udp(UdpTransport),
    Tcp(TcpTransport),
}

/// How long a UDP collector that is unreachable or refuses is left alone before
/// the next try, µs. While held off its records are counted, not sent: one
/// datagram a second draws the ICMP error that says it is still so.
pub const FAULT_HOLD_US: u64 = 1_000_000;

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CollectorCounters {
    pub(super) exported: u64,
    pub(super) backpressure: u64,
    pub(super) down: u64,
    pub(super) unreachable: u64,
    pub(super) refused: u64,
    pub(super) unacked: u64,
    pub(super) octets_dropped: u64,
    pub(super) messages: u64,
    pub(super) templates_lost: u64,
    /// Records cut again to fit this (UDP) collector's messages.
    pub(super) refitted: u64,
    pub(super) first_drop: u32,
    pub(super) last_drop: u32,
}

impl CollectorCounters {
    pub(super) fn drop_at(&mut self, now_s: u32) {
        if self.first_drop == 0 {
            self.first_drop = now_s;
        }
        self.last_drop = now_s;
    }

    /// Records dropped for `fault`.
    fn faulted(&mut self, fault: Fault, records: u64, octets: usize, now_s: u32) {
        match fault {
            Fault::Unreachable => self.unreachable += records,
            Fault::Refused => self.refused += records,
            Fault::Down => self.down += records,
        }
        self.octets_dropped += octets as u64;
        self.drop_at(now_s);
    }

    /// Every record that did not reach the collector (the reliability records'
    /// count).
    pub(super) fn not_sent(&self) -> u64 {
        self.backpressure + self.down + self.unreachable + self.refused + self.unacked
    }
}

/// A fault that holds a collector off: its records are dropped and counted
/// until `until` (µs).
#[derive(Clone, Copy, Debug)]
struct Hold {
    fault: Fault,
    until: u64,
}

/// A fault to report in the next alert lines, with its records since the last.
#[derive(Clone, Debug)]
pub(super) struct FaultAlert {
    pub(super) fault: Fault,
    /// The last error of this fault, as the OS put it.
    pub(super) error: String,
    pub(super) records: u64,
}

#[derive(Debug)]
pub(super) struct Collector {
    pub(super) spec: CollectorSpec,
    pub(super) tx: Tx,
    pub(super) session: Session,
    /// The socket (TCP: and its backlog) was full this cycle: the rest of the
    /// cycle's records are skipped.
    congested: bool,
    /// A fault that holds the collector off (UDP), or why it is down (TCP).
    hold: Option<Hold>,
    /// Why the TCP collector is down (its last connect failure).
    down_fault: Fault,
    pub(super) c: CollectorCounters,
    /// Where a record longer than this collector's messages take is cut again.
    refit_buf: Vec<u8>,
    /// Records skipped for backpressure since the last alert.
    pub(super) alert_skipped: u64,
    /// The faults since the last alert lines (one entry per fault, at most 3).
    pub(super) alert_faults: Vec<FaultAlert>,
    /// The error of the last fault, as the OS put it.
    fault_error: String,
    /// Events to log (connect, loss).
    pub(super) events: Vec<String>,
    last_failed: bool,
    pub(super) reported_not_sent: u64,
}

impl Collector {
    pub(super) fn new(spec: CollectorSpec, tx: Tx, session: Session) -> Self {
        let refit_cap = session.max_record_len();
        Collector {
            spec,
            tx,
            session,
            congested: false,
            hold: None,
            down_fault: Fault::Down,
            c: CollectorCounters::default(),
            refit_buf: Vec::with_capacity(refit_cap),
            alert_skipped: 0,
            alert_faults: Vec::new(),
            fault_error: String::new(),
            events: Vec::new(),
            last_failed: false,
            reported_not_sent: 0,
        }
    }

    pub(super) fn is_up(&self) -> bool {
        match &self.tx {
            Tx::Udp(_) => true,
            Tx::Tcp(t) => t.is_up(),
        }
    }

    /// True while a fault holds the collector off (UDP).
    pub(super) fn held(&self, now_us: u64) -> bool {
        self.hold.is_some_and(|h| now_us < h.until)
    }

    /// Records of the collector's TCP connection not acknowledged yet.
    pub(super) fn unacked(&self) -> u64 {
        match &self.tx {
            Tx::Udp(_) => 0,
            Tx::Tcp(t) => t.unacked_records(),
        }
    }

    /// Start of a cycle: drive the connection, count what the collector
    /// acknowledged (TCP), take an ICMP error that came back (UDP).
    pub(super) fn maintain(&mut self, now_us: u64) {
        let now_s = (now_us / 1_000_000) as u32;
        self.congested = false;
        match &mut self.tx {
            Tx::Udp(u) => {
                if self.hold.is_some_and(|h| now_us >= h.until) {
                    self.hold = None;
                }
                if let Some(fault) = u.pending_fault() {
                    let error = u.last_error().map(ToString::to_string).unwrap_or_default();
                    self.hold_off(fault, now_us, error);
                }
            }
            Tx::Tcp(t) => {
                let ev = t.maintain(now_us);
                self.c.exported += t.take_acked();
                self.congested = t.is_congested();
                if let Some(ev) = ev {
                    self.event(now_us, now_s, ev);
                }
            }
        }
    }

    /// A UDP fault: the collector is left alone (records counted) until the
    /// next cycle (an unclassified error) or for [`FAULT_HOLD_US`].
    fn hold_off(&mut self, fault: Fault, now_us: u64, error: String) {
        let until = match fault {
            Fault::Down => now_us.saturating_add(1),
            Fault::Unreachable | Fault::Refused => now_us.saturating_add(FAULT_HOLD_US),
        };
        self.hold = Some(Hold { fault, until });
        self.fault_alert(fault).error.clone_from(&error);
        self.fault_error = error;
    }

    /// The alert entry of `fault`, made when there is none since the last lines.
    fn fault_alert(&mut self, fault: Fault) -> &mut FaultAlert {
        let i = match self.alert_faults.iter().position(|a| a.fault == fault) {
            Some(i) => i,
            None => {
                self.alert_faults.push(FaultAlert {
                    fault,
                    error: self.fault_error.clone(),
                    records: 0,
                });
                self.alert_faults.len() - 1
            }
        };
        #[expect(clippy::indexing_slicing, reason = "i is a position in the list")]
        &mut self.alert_faults[i]
    }

    /// Counts records dropped for `fault`, for the counters and the alert line.
    fn drop_for(&mut self, fault: Fault, records: u64, octets: usize, now_s: u32) {
        self.c.faulted(fault, records, octets, now_s);
        self.fault_alert(fault).records += records;
    }

    fn event(&mut self, now_us: u64, now_s: u32, ev: TcpEvent) {
        let who = self.spec;
        match ev {
            TcpEvent::Connected => {
                // Templates first, sequence from 0 (RFC 7011 §10.4.2.1).
                let n = self.session.restart();
                if n > 0 {
                    self.c.down += u64::from(n);
                    self.c.drop_at(now_s);
                }
                self.congested = false;
                self.last_failed = false;
                self.down_fault = Fault::Down;
                self.events
                    .push(format!("[NFLW] collector {who}: connected"));
            }
            TcpEvent::Lost {
                reason,
                retry_at,
                acked_records,
                unacked_records,
            } => {
                self.last_failed = false;
                self.down_fault = Fault::Down;
                self.c.exported += acked_records;
                let lost = if unacked_records > 0 {
                    self.c.unacked += unacked_records;
                    self.c.drop_at(now_s);
                    format!(
                        "; {unacked_records} records written to it were never acknowledged (lost)"
                    )
                } else {
                    String::new()
                };
                self.events.push(format!(
                    "[NFLW] collector {who}: connection lost ({reason}){lost}; records dropped until it is back, next attempt in {} ms",
                    retry_at.saturating_sub(now_us) / 1000
                ));
            }
            TcpEvent::ConnectFailed {
                reason,
                fault,
                retry_at,
            } => {
                // Records dropped while it is down count as unreachable when
                // that is why it is down.
                self.down_fault = match fault {
                    Fault::Unreachable => Fault::Unreachable,
                    Fault::Refused | Fault::Down => Fault::Down,
                };
                if !self.last_failed {
                    let what = match self.down_fault {
                        Fault::Unreachable => "unreachable",
                        _ => "cannot connect",
                    };
                    self.events.push(format!(
                        "[NFLW] collector {who}: {what} ({reason}); retrying with backoff, next attempt in {} ms",
                        retry_at.saturating_sub(now_us) / 1000
                    ));
                }
                self.last_failed = true;
            }
        }
    }

    /// One record for this collector. A record longer than its messages take
    /// (encoded whole for the stream's TCP collectors; this one is UDP) is cut
    /// again to fit, as the worker would have cut it (counted).
    #[inline]
    pub(super) fn deliver(
        &mut self,
        now_s: u32,
        now_us: u64,
        id: TemplateId,
        rec: &[u8],
        buf: &mut Vec<u8>,
    ) {
        let max = self.session.max_record_len();
        if rec.len() <= max {
            return self.deliver_fitting(now_s, now_us, id, rec, buf);
        }
        let mut cut = std::mem::take(&mut self.refit_buf);
        cut.clear();
        match template::by_id(id).map(|t| refit(t, rec, max, &mut cut)) {
            Some(Ok(_)) => {
                self.c.refitted += 1;
                self.deliver_fitting(now_s, now_us, id, &cut, buf);
            }
            // Not a record of a template (a worker's bug), or no cut fits:
            // the session refuses it, and it is counted as skipped.
            _ => self.deliver_fitting(now_s, now_us, id, rec, buf),
        }
        self.refit_buf = cut;
    }

    #[inline]
    fn deliver_fitting(
        &mut self,
        now_s: u32,
        now_us: u64,
        id: TemplateId,
        rec: &[u8],
        buf: &mut Vec<u8>,
    ) {
        if let Some(h) = self.hold.filter(|h| now_us < h.until) {
            self.drop_for(h.fault, 1, rec.len(), now_s);
            return;
        }
        if !self.is_up() {
            self.c.faulted(self.down_fault, 1, rec.len(), now_s);
            return;
        }
        for _ in 0..3 {
            if self.congested {
                break;
            }
            match self.session.push_record(now_s, id, rec) {
                Ok(()) => return,
                Err(PushError::Blocked) => self.transmit(now_s, now_us, buf),
                Err(PushError::WrongTemplate(_) | PushError::TooLong { .. }) => break,
            }
            if let Some(h) = self.hold.filter(|h| now_us < h.until) {
                self.drop_for(h.fault, 1, rec.len(), now_s);
                return;
            }
            if !self.is_up() {
                self.c.faulted(self.down_fault, 1, rec.len(), now_s);
                return;
            }
        }
        self.skip(now_s, 1, rec.len());
    }

    fn skip(&mut self, now_s: u32, records: u64, octets: usize) {
        self.c.backpressure += records;
        self.c.octets_dropped += octets as u64;
        self.alert_skipped += records;
        self.c.drop_at(now_s);
    }

    /// Sends every message the session has, until the socket is full.
    pub(super) fn transmit(&mut self, now_s: u32, now_us: u64, buf: &mut Vec<u8>) {
        while self.is_up() && !self.congested && !self.held(now_us) {
            let Some(t) = self.session.poll_transmit(now_s, buf) else {
                break;
            };
            let data = if t.options { 0 } else { t.records };
            let (outcome, ev) = match &mut self.tx {
                Tx::Udp(u) => (u.send(buf), None),
                Tx::Tcp(tcp) => tcp.send(now_us, buf, data),
            };
            match outcome {
                SendOutcome::Sent | SendOutcome::Queued => {
                    self.c.messages += 1;
                    match &self.tx {
                        // TCP: exported when acknowledged (`maintain`).
                        Tx::Tcp(tcp) => self.congested = tcp.is_congested(),
                        Tx::Udp(_) => self.c.exported += u64::from(data),
                    }
                }
                SendOutcome::WouldBlock => {
                    self.congested = true;
                    if t.templates {
                        self.c.templates_lost += 1;
                        if let Tx::Tcp(tcp) = &mut self.tx {
                            // A collector that cannot take the templates is
                            // of no use: reconnect (templates first again).
                            if let Some(ev) =
                                tcp.reset(now_us, "the collector does not take the templates")
                            {
                                self.event(now_us, now_s, ev);
                            }
                        }
                    } else if !t.options {
                        self.skip(now_s, u64::from(t.records), t.len);
                    }
                }
                SendOutcome::Failed(fault) => {
                    if let Tx::Udp(u) = &self.tx {
                        let error = u.last_error().map(ToString::to_string).unwrap_or_default();
                        self.hold_off(fault, now_us, error);
                    }
                    if t.templates {
                        self.c.templates_lost += 1;
                    } else if !t.options {
                        self.drop_for(fault, u64::from(t.records), t.len, now_s);
                    }
                }
            }
            if let Some(ev) = ev {
                self.event(now_us, now_s, ev);
            }
        }
    }

    pub(super) fn stats(&self) -> CollectorStats {
        let (connects, losses, backlog) = match &self.tx {
            Tx::Udp(_) => (0, 0, 0),
            Tx::Tcp(t) => (t.connects(), t.losses(), t.backlog_octets()),
        };
        CollectorStats {
            spec: self.spec,
            up: self.is_up(),
            exported: self.c.exported,
            dropped_backpressure: self.c.backpressure,
            dropped_down: self.c.down,
            dropped_unreachable: self.c.unreachable,
            dropped_refused: self.c.refused,
            dropped_unacked: self.c.unacked,
            unacked: self.unacked(),
            backlog_octets: backlog as u64,
            messages: self.c.messages,
            templates_lost: self.c.templates_lost,
            refitted: self.c.refitted,
            connects,
            losses,
        }
    }
}
