//! The DNS text log as the export lcore drives it: every DNS record the cycle
//! drains is read back from its encoded bytes and written as a line; failures
//! wait for the next alert line.

use crate::dnslog::{DnsLog, DnsLogError, DnsLogLine};
use metaprobe_ipfix::dns_record::DnsRecordView;
use metaprobe_ipfix::template::TemplateId;

#[derive(Debug, Default)]
pub(super) struct DnsLogState {
    pub(super) log: Option<DnsLog>,
    /// The second of the last [`DnsLog::poll`].
    pub(super) polled: Option<u32>,
    /// Records not of the DNS layout.
    pub(super) unreadable: u64,
    /// The last failure since the last alert line.
    pub(super) pending: Option<DnsLogError>,
    /// The log's error and dropped-line counts at the last alert line.
    pub(super) reported_errors: u64,
    pub(super) reported_dropped: u64,
}

impl DnsLogState {
    /// Writes the line of one DNS record.
    #[inline]
    pub(super) fn write(&mut self, now_s: u32, id: TemplateId, rec: &[u8]) {
        let Some(log) = self.log.as_mut() else { return };
        let Some(v) = DnsRecordView::parse(id, rec) else {
            self.unreadable += 1;
            return;
        };
        let rdata = v.rdata_text();
        if let Err(e) = log.write(now_s, &DnsLogLine::of(&v, &rdata)) {
            self.pending = Some(e);
        }
    }

    /// Timers, about once a second.
    pub(super) fn poll(&mut self, now_s: u32) {
        let Some(log) = self.log.as_mut() else { return };
        if self.polled == Some(now_s) {
            return;
        }
        self.polled = Some(now_s);
        if let Err(e) = log.poll(now_s) {
            self.pending = Some(e);
        }
    }

    pub(super) fn flush(&mut self) {
        if let Some(Err(e)) = self.log.as_mut().map(DnsLog::flush) {
            self.pending = Some(e);
        }
    }

    pub(super) fn reopen(&mut self) {
        if let Some(Err(e)) = self.log.as_mut().map(DnsLog::reopen) {
            self.pending = Some(e);
        }
    }

    /// The alert line of the failures since the last one, if any.
    pub(super) fn alert(&mut self, when: &str) -> Option<String> {
        let e = self.pending.take()?;
        let st = self.log.as_ref().map(DnsLog::stats).unwrap_or_default();
        let errors = st.errors.saturating_sub(self.reported_errors);
        let dropped = st.dropped_lines.saturating_sub(self.reported_dropped);
        self.reported_errors = st.errors;
        self.reported_dropped = st.dropped_lines;
        Some(if errors > 1 {
            format!(
                "{e}; {errors} failures, {dropped} lines dropped since the last report [{when}]\n"
            )
        } else {
            format!("{e} [{when}]\n")
        })
    }
}
