//! The lines of `fastdpi_alert.log` the exporter writes: overrun cycles,
//! collectors that do not keep up or come and go, DNS log failures, the logs
//! reopened on SIGHUP —
//! accumulated between writes and written at most once per alert interval.

use super::Exporter;
use super::collector::FAULT_HOLD_US;
use crate::logs;
use crate::transport::Fault;
use metaprobe_ipfix::session::Transport;

/// What happened since the last alert line about overrun cycles.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AlertAccum {
    /// Cycles that ran past their period.
    pub(super) overrun_cycles: u64,
    /// The longest of them, µs.
    pub(super) longest_us: u64,
    /// Chunks they skipped.
    pub(super) chunks: u64,
    /// Records of those chunks, per stream.
    pub(super) records: [u64; 3],
    /// The log files were reopened (SIGHUP) since the last alert lines.
    pub(super) reopened: bool,
}

impl Exporter {
    /// Writes the pending alert lines, at most once per alert interval
    /// (`force`: now, at shutdown).
    pub(super) fn alerts(&mut self, now: u64, force: bool) {
        let pending = self.alert.overrun_cycles > 0
            || self.alert.reopened
            || self.dns.pending.is_some()
            || self
                .collectors
                .iter()
                .any(|c| c.alert_skipped > 0 || !c.alert_faults.is_empty() || !c.events.is_empty());
        if !pending {
            return;
        }
        if !force
            && self
                .last_alert
                .is_some_and(|t| now.saturating_sub(t) < self.cfg.alert_interval_us)
        {
            return;
        }
        let when = logs::format_time(now);
        let mut text = String::new();
        let mut lines = 0;
        let a = core::mem::take(&mut self.alert);
        if a.reopened {
            text.push_str(&format!(
                "[LOGS] log files reopened (SIGHUP): {}, {} and the DNS text log [{when}]\n",
                logs::ALERT_LOG,
                logs::STAT_LOG
            ));
            lines += 1;
        }
        if a.overrun_cycles > 0 {
            let [c, m, d] = a.records;
            text.push_str(&format!(
                "[NFLW] very long operation: {} send cycle(s) ran past the {}us period (longest {}us): skipped {} chunk(s) = {} records (clickstream {c}, meta {m}, dns {d}) [{when}]\n",
                a.overrun_cycles,
                self.cfg.cycle_period_us,
                a.longest_us,
                a.chunks,
                c + m + d,
            ));
            lines += 1;
        }
        for c in &mut self.collectors {
            for e in c.events.drain(..) {
                text.push_str(&format!("{e} [{when}]\n"));
                lines += 1;
            }
            for a in c.alert_faults.drain(..) {
                let what = match a.fault {
                    Fault::Unreachable => "unreachable",
                    Fault::Refused => {
                        "refused: nothing listens on its port (ICMP port unreachable)"
                    }
                    Fault::Down => "send failed",
                };
                text.push_str(&format!(
                    "[NFLW] collector {} {what} ({}): {} records dropped, tried again every {} ms [{when}]\n",
                    c.spec,
                    a.error,
                    a.records,
                    FAULT_HOLD_US / 1000
                ));
                lines += 1;
            }
            if c.alert_skipped > 0 {
                text.push_str(&format!(
                    "[NFLW] very long operation: collector {} is not keeping up ({}): skipped {} records [{when}]\n",
                    c.spec,
                    match c.spec.transport {
                        Transport::Udp => "socket buffer full",
                        Transport::Tcp => "socket buffer and backlog full",
                    },
                    c.alert_skipped
                ));
                c.alert_skipped = 0;
                lines += 1;
            }
        }
        if let Some(line) = self.dns.alert(&when) {
            text.push_str(&line);
            lines += 1;
        }
        match logs::append(&self.cfg.log_dir, logs::ALERT_LOG, &text) {
            Ok(()) => self.alert_lines += lines,
            Err(_) => self.log_errors += 1,
        }
        self.last_alert = Some(now);
    }
}
