//! One collector of one stream: its socket (UDP, or TCP with reconnects),
//! its sans-IO [`Session`], and its backpressure — a socket that is full
//! (EAGAIN) makes the rest of the cycle's records for it skipped and counted,
//! never queued.

use super::config::CollectorSpec;
use super::stats::CollectorStats;
use crate::transport::{SendOutcome, TcpEvent, TcpTransport, UdpTransport};
use metaprobe_ipfix::session::{PushError, Session};
use metaprobe_ipfix::template::{RELIABILITY_TEMPLATE_ID, TemplateId};

#[derive(Debug)]
pub(super) enum Tx {
    Udp(UdpTransport),
    Tcp(TcpTransport),
}

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct CollectorCounters {
    pub(super) exported: u64,
    pub(super) backpressure: u64,
    pub(super) down: u64,
    pub(super) octets_dropped: u64,
    pub(super) messages: u64,
    pub(super) templates_lost: u64,
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
}

#[derive(Debug)]
pub(super) struct Collector {
    pub(super) spec: CollectorSpec,
    pub(super) tx: Tx,
    pub(super) session: Session,
    /// The socket was full this cycle: the rest of the cycle's records are skipped.
    congested: bool,
    pub(super) c: CollectorCounters,
    /// Records skipped for backpressure since the last alert.
    pub(super) alert_skipped: u64,
    /// Events to log (connect, loss).
    pub(super) events: Vec<String>,
    last_failed: bool,
    pub(super) reported_not_sent: u64,
}

/// True when `msg` carries only options records (a template round message
/// or a reliability report).
fn options_only(msg: &[u8], templates: bool) -> bool {
    templates
        || msg
            .get(16..18)
            .is_some_and(|b| b == RELIABILITY_TEMPLATE_ID.0.to_be_bytes())
}

impl Collector {
    pub(super) fn new(spec: CollectorSpec, tx: Tx, session: Session) -> Self {
        Collector {
            spec,
            tx,
            session,
            congested: false,
            c: CollectorCounters::default(),
            alert_skipped: 0,
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

    /// Start of a cycle: drive the connection.
    pub(super) fn maintain(&mut self, now_us: u64) {
        let now_s = (now_us / 1_000_000) as u32;
        let Tx::Tcp(t) = &mut self.tx else {
            self.congested = false;
            return;
        };
        let ev = t.maintain(now_us);
        self.congested = t.has_tail();
        if let Some(ev) = ev {
            self.event(now_us, now_s, ev);
        }
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
                self.events
                    .push(format!("[NFLW] collector {who}: connected"));
            }
            TcpEvent::Lost { reason, retry_at } => {
                self.last_failed = false;
                self.events.push(format!(
                    "[NFLW] collector {who}: connection lost ({reason}); records dropped until it is back, next attempt in {} ms",
                    retry_at.saturating_sub(now_us) / 1000
                ));
            }
            TcpEvent::ConnectFailed { reason, retry_at } => {
                if !self.last_failed {
                    self.events.push(format!(
                        "[NFLW] collector {who}: cannot connect ({reason}); retrying with backoff, next attempt in {} ms",
                        retry_at.saturating_sub(now_us) / 1000
                    ));
                }
                self.last_failed = true;
            }
        }
    }

    /// One record for this collector.
    #[inline]
    pub(super) fn deliver(
        &mut self,
        now_s: u32,
        now_us: u64,
        id: TemplateId,
        rec: &[u8],
        buf: &mut Vec<u8>,
    ) {
        if !self.is_up() {
            self.c.down += 1;
            self.c.octets_dropped += rec.len() as u64;
            self.c.drop_at(now_s);
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
            if !self.is_up() {
                self.c.down += 1;
                self.c.octets_dropped += rec.len() as u64;
                self.c.drop_at(now_s);
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
        while self.is_up() && !self.congested {
            let Some(t) = self.session.poll_transmit(now_s, buf) else {
                break;
            };
            let opts = options_only(buf, t.templates);
            let (outcome, ev) = match &mut self.tx {
                Tx::Udp(u) => (u.send(buf), None),
                Tx::Tcp(tcp) => tcp.send(now_us, buf),
            };
            match outcome {
                SendOutcome::Sent | SendOutcome::Partial => {
                    self.c.messages += 1;
                    if !opts {
                        self.c.exported += u64::from(t.records);
                    }
                    if outcome == SendOutcome::Partial {
                        self.congested = true;
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
                    } else if !opts {
                        self.skip(now_s, u64::from(t.records), t.len);
                    }
                }
                SendOutcome::Failed => {
                    if t.templates {
                        self.c.templates_lost += 1;
                    } else if !opts {
                        self.c.down += u64::from(t.records);
                        self.c.octets_dropped += t.len as u64;
                        self.c.drop_at(now_s);
                    }
                    if ev.is_none() {
                        // UDP send error: give up for this cycle.
                        self.congested = true;
                    }
                }
            }
            if let Some(ev) = ev {
                self.event(now_us, now_s, ev);
            }
        }
    }

    pub(super) fn stats(&self) -> CollectorStats {
        let (connects, losses) = match &self.tx {
            Tx::Udp(_) => (0, 0),
            Tx::Tcp(t) => (t.connects(), t.losses()),
        };
        CollectorStats {
            spec: self.spec,
            up: self.is_up(),
            exported: self.c.exported,
            dropped_backpressure: self.c.backpressure,
            dropped_down: self.c.down,
            messages: self.c.messages,
            templates_lost: self.c.templates_lost,
            connects,
            losses,
        }
    }
}
