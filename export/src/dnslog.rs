//! The DNS text log (spec §8, `ajb_save_dns`): one line per DNS record, the fields of
//! `ajb_save_dns_format` in their order, separated by a TAB (IPv6 addresses hold
//! colons, so the colon of the format key cannot separate fields).
//!
//! Written by the export lcore, never by a worker. Sans-clock: every call that may
//! rotate takes `now` (Unix seconds, as the IPFIX session does).
//!
//! * **Buffering**: lines collect in one buffer of `ajb_dns_bufsize` octets (allocated
//!   once), written out when full, on rotation, on [`DnsLog::flush`], and by
//!   [`DnsLog::poll`] once they have waited [`FLUSH_AFTER_SECS`].
//! * **Rotation**: when the file's size (written plus buffered) reaches `ajb_dns_fsize`,
//!   or when it is non-empty and `ajb_dns_ftimeout` minutes have passed since its first
//!   line (0: by size only), the file is closed and renamed `<path>.<YYYYMMDD-HHMMSS>`
//!   (UTC time of its first line); when that name exists, `.1`, `.2`, … is added — a
//!   closed file is never overwritten. The next line starts a new file at `<path>`.
//! * **Failures** (unwritable path, full disk, failed rename) never panic and never
//!   buffer without bound: the buffered lines are dropped and counted, the call
//!   returns a [`DnsLogError`] for the alert log, and the next flush tries again
//!   (reopening the file). A failed rename is retried after [`RENAME_RETRY_SECS`];
//!   meanwhile lines go on into the unrenamed file.

use core::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use metaprobe_ipfix::dns_record::DnsRecordView;
use metaprobe_ipfix::dns_text::RdataText;

/// Buffered lines are written out by [`DnsLog::poll`] once they are this old.
pub const FLUSH_AFTER_SECS: u32 = 1;
/// A rotation whose rename failed is tried again after this long.
pub const RENAME_RETRY_SECS: u32 = 60;
/// Most `.N` suffixes tried for one rotated name.
pub const COLLISION_MAX: u32 = 10_000;
/// Field separator of a line.
pub const SEPARATOR: u8 = b'\t';

/// A field of a line (`ajb_save_dns_format`, spec §8). The binary translates
/// the configuration's field list into these; the log only writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LineField {
    /// Time, Unix seconds.
    Ts,
    /// Session id.
    Ssid,
    /// Subscriber login (escaped).
    Login,
    /// Source address.
    IpSrc,
    /// Destination address.
    IpDst,
    /// Source port.
    PSrc,
    /// Destination port.
    PDst,
    /// `udp` or `tcp`.
    Transport,
    /// The record's owner name (escaped).
    Host,
    /// Resource record type.
    RrType,
    /// Resource record class.
    RrClass,
    /// Time to live.
    Ttl,
    /// RDATA length.
    RdLen,
    /// RDATA, readable.
    Rdata,
}

impl LineField {
    /// Every field, in the spec's default order
    /// (`ts:ssid:login:ipsrc:ipdst:psrc:pdst:transport:host:rrtype:rrclass:ttl:rdlen:rdata`).
    pub const ALL: [LineField; 14] = [
        LineField::Ts,
        LineField::Ssid,
        LineField::Login,
        LineField::IpSrc,
        LineField::IpDst,
        LineField::PSrc,
        LineField::PDst,
        LineField::Transport,
        LineField::Host,
        LineField::RrType,
        LineField::RrClass,
        LineField::Ttl,
        LineField::RdLen,
        LineField::Rdata,
    ];
}

/// The settings of the log (the binary fills them from the `ajb_*` keys).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsLogConfig {
    /// `ajb_dns_path`: the file being written.
    pub path: PathBuf,
    /// `ajb_save_dns_format`.
    pub format: Vec<LineField>,
    /// `ajb_dns_bufsize`, octets (at least 1).
    pub bufsize: usize,
    /// `ajb_dns_fsize`, octets.
    pub fsize: u64,
    /// `ajb_dns_ftimeout` in seconds; 0 = rotate by size only.
    pub ftimeout_secs: u64,
}

/// One DNS record as the log writes it. `rdata` renders the RDATA readably
/// ([`RdataText`]: addresses as text, names dotted, other types hex); `rdlen` is
/// the length of the exported RDATA. The exporter makes it from the encoded IPFIX
/// record ([`DnsLogLine::of`]).
#[derive(Clone, Copy)]
pub struct DnsLogLine<'a> {
    pub ts: u32,
    pub session_id: u64,
    pub login: &'a [u8],
    pub src: IpAddr,
    pub dst: IpAddr,
    pub psrc: u16,
    pub pdst: u16,
    /// 0 UDP, 1 TCP (element 3200).
    pub transport: u8,
    /// The record's owner name, dotted (the DOMAIN of the IPFIX record).
    pub host: &'a [u8],
    pub rrtype: u16,
    pub rrclass: u16,
    pub ttl: u32,
    pub rdlen: usize,
    pub rdata: &'a dyn fmt::Display,
}

impl<'a> DnsLogLine<'a> {
    /// The line of a DNS data record read back from its bytes; `rdata` is
    /// [`DnsRecordView::rdata_text`], kept by the caller (the line borrows it).
    pub fn of(v: &'a DnsRecordView<'_>, rdata: &'a RdataText<'_>) -> Self {
        DnsLogLine {
            ts: v.time_stamp,
            session_id: v.session_id,
            login: v.login,
            src: v.src,
            dst: v.dst,
            psrc: v.port_source,
            pdst: v.port_destination,
            transport: v.transport,
            host: v.domain,
            rrtype: v.rrtype,
            rrclass: v.rrclass,
            ttl: v.ttl,
            rdlen: v.rdata.len(),
            rdata,
        }
    }
}

/// What failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DnsLogOp {
    Open,
    Write,
    Rename,
}

/// A failure to report as an alert-log line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DnsLogError {
    pub op: DnsLogOp,
    pub kind: io::ErrorKind,
    /// The OS error number, when there was one (its message is what the alert says).
    pub os_error: Option<i32>,
    /// The file concerned (the rename target for [`DnsLogOp::Rename`]).
    pub path: PathBuf,
    /// Lines dropped by this failure.
    pub dropped: u64,
}

impl fmt::Display for DnsLogError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let op = match self.op {
            DnsLogOp::Open => "cannot open",
            DnsLogOp::Write => "cannot write",
            DnsLogOp::Rename => "cannot rotate to",
        };
        write!(
            f,
            "[DNSLOG] {op} {}: {} ({} lines dropped)",
            self.path.display(),
            self.os_error
                .map_or_else(|| io::Error::from(self.kind), io::Error::from_raw_os_error),
            self.dropped
        )
    }
}

impl std::error::Error for DnsLogError {}

/// Counters of the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DnsLogStats {
    /// Lines written to a file.
    pub lines: u64,
    /// Lines lost to a failure.
    pub dropped_lines: u64,
    /// Files closed and renamed.
    pub rotations: u64,
    /// Failures reported.
    pub errors: u64,
}

/// The DNS text log writer.
#[derive(Debug)]
pub struct DnsLog {
    cfg: DnsLogConfig,
    buf: Vec<u8>,
    /// Lines in `buf`.
    buffered: u64,
    /// When the oldest buffered line was added.
    buffered_since: Option<u32>,
    file: Option<File>,
    /// Octets in the file at `path` (written, not buffered).
    file_size: u64,
    /// When the current file got its first line (its time suffix).
    started: Option<u32>,
    /// No rotation before this (after a failed rename).
    rename_hold: Option<u32>,
    stats: DnsLogStats,
}

impl DnsLog {
    /// A log with these settings; no file is touched until the first flush.
    pub fn new(cfg: DnsLogConfig) -> Self {
        let bufsize = cfg.bufsize.max(1);
        Self {
            buf: Vec::with_capacity(bufsize.min(64 << 20)),
            cfg: DnsLogConfig { bufsize, ..cfg },
            buffered: 0,
            buffered_since: None,
            file: None,
            file_size: 0,
            started: None,
            rename_hold: None,
            stats: DnsLogStats::default(),
        }
    }

    pub fn config(&self) -> &DnsLogConfig {
        &self.cfg
    }

    pub fn stats(&self) -> DnsLogStats {
        self.stats
    }

    /// Adds one line; may flush and rotate. A failure returns the first error of the
    /// call (every failure is counted in [`DnsLog::stats`]); a failed rotation does not
    /// lose the line, which goes on into the current file.
    pub fn write(&mut self, now: u32, line: &DnsLogLine<'_>) -> Result<(), DnsLogError> {
        let rotated = self.rotate_if_old(now);
        if self.started.is_none() {
            self.started = Some(now);
        }
        self.buffered_since.get_or_insert(now);
        format_line(&mut self.buf, &self.cfg.format, line);
        self.buffered += 1;
        let flushed = if self.buf.len() >= self.cfg.bufsize {
            self.flush()
        } else {
            Ok(())
        };
        // By size now, so the file does not outgrow `fsize` by more than a line.
        let after = self.rotate_if_old(now);
        rotated.and(flushed).and(after)
    }

    /// Timers: rotation by `ajb_dns_ftimeout`, and writing out lines that have waited
    /// [`FLUSH_AFTER_SECS`]. Call it every second or so.
    pub fn poll(&mut self, now: u32) -> Result<(), DnsLogError> {
        self.rotate_if_old(now)?;
        if self
            .buffered_since
            .is_some_and(|t| now.saturating_sub(t) >= FLUSH_AFTER_SECS)
        {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes the buffered lines to the file (opening it if needed).
    pub fn flush(&mut self) -> Result<(), DnsLogError> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let r = self.write_out();
        let lines = core::mem::take(&mut self.buffered);
        self.buffered_since = None;
        self.buf.clear();
        match r {
            Ok(()) => {
                self.stats.lines += lines;
                Ok(())
            }
            Err(mut e) => {
                self.file = None;
                self.stats.dropped_lines += lines;
                self.stats.errors += 1;
                e.dropped = lines;
                Err(e)
            }
        }
    }

    /// Writes the buffered lines, closes the file and opens `path` again, creating it
    /// when it is not there (SIGHUP after logrotate moved the file away). The moved
    /// file keeps every line written to it; a new file is timed by its first line.
    pub fn reopen(&mut self) -> Result<(), DnsLogError> {
        let flushed = self.flush();
        self.file = None;
        let opened = self.open();
        if opened.is_err() {
            self.stats.errors += 1;
        }
        flushed.and(opened)
    }

    /// Closes the current file and renames it with its time suffix (when non-empty).
    pub fn rotate(&mut self, now: u32) -> Result<(), DnsLogError> {
        self.flush()?;
        self.file = None;
        let started = self.started.unwrap_or(now);
        if self.file_size == 0 {
            self.started = None;
            return Ok(());
        }
        match rotated_name(&self.cfg.path, started) {
            Ok(target) => {
                if let Err(e) = fs::rename(&self.cfg.path, &target) {
                    return Err(self.rename_failed(now, target, e.kind(), e.raw_os_error()));
                }
            }
            Err((target, kind)) => return Err(self.rename_failed(now, target, kind, None)),
        }
        self.file_size = 0;
        self.started = None;
        self.rename_hold = None;
        self.stats.rotations += 1;
        Ok(())
    }

    /// Octets of the current file, written and buffered.
    pub fn size(&self) -> u64 {
        self.file_size + self.buf.len() as u64
    }

    fn rename_failed(
        &mut self,
        now: u32,
        path: PathBuf,
        kind: io::ErrorKind,
        os_error: Option<i32>,
    ) -> DnsLogError {
        self.stats.errors += 1;
        self.rename_hold = Some(now.saturating_add(RENAME_RETRY_SECS));
        DnsLogError {
            op: DnsLogOp::Rename,
            kind,
            os_error,
            path,
            dropped: 0,
        }
    }

    fn rotate_if_old(&mut self, now: u32) -> Result<(), DnsLogError> {
        if self.rename_hold.is_some_and(|t| now < t) {
            return Ok(());
        }
        let timeout = self.cfg.ftimeout_secs;
        let old = timeout > 0
            && self
                .started
                .is_some_and(|t| u64::from(now.saturating_sub(t)) >= timeout);
        let big = self.size() >= self.cfg.fsize && self.size() > 0;
        if (old && self.size() > 0) || big {
            self.rotate(now)?;
        }
        Ok(())
    }

    /// Opens `path` for appending (created if needed), unless open already.
    fn open(&mut self) -> Result<(), DnsLogError> {
        if self.file.is_some() {
            return Ok(());
        }
        let f = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.cfg.path)
            .map_err(|e| self.error(DnsLogOp::Open, &e))?;
        self.file_size = f.metadata().map(|m| m.len()).unwrap_or(0);
        if self.file_size == 0 {
            // A new file: its time is that of its first line.
            self.started = self.buffered_since;
        }
        self.file = Some(f);
        Ok(())
    }

    fn write_out(&mut self) -> Result<(), DnsLogError> {
        self.open()?;
        let Some(f) = self.file.as_mut() else {
            return Ok(());
        };
        let r = f.write_all(&self.buf);
        match r {
            Ok(()) => {
                self.file_size += self.buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Whatever part was written still counts against the file size.
                self.file_size = f.metadata().map(|m| m.len()).unwrap_or(self.file_size);
                Err(self.error(DnsLogOp::Write, &e))
            }
        }
    }

    fn error(&self, op: DnsLogOp, e: &io::Error) -> DnsLogError {
        DnsLogError {
            op,
            kind: e.kind(),
            os_error: e.raw_os_error(),
            path: self.cfg.path.clone(),
            dropped: 0,
        }
    }
}

/// `<path>.<YYYYMMDD-HHMMSS>`, or with `.1`, `.2`, … when taken.
fn rotated_name(path: &Path, started: u32) -> Result<PathBuf, (PathBuf, io::ErrorKind)> {
    let mut base = path.as_os_str().to_owned();
    base.push(format!(".{}", utc_suffix(started)));
    let first = PathBuf::from(&base);
    if !first.exists() {
        return Ok(first);
    }
    for n in 1..=COLLISION_MAX {
        let mut name = base.clone();
        name.push(format!(".{n}"));
        let p = PathBuf::from(name);
        if !p.exists() {
            return Ok(p);
        }
    }
    Err((first, io::ErrorKind::AlreadyExists))
}

/// `YYYYMMDD-HHMMSS` in UTC.
fn utc_suffix(secs: u32) -> String {
    let days = i64::from(secs / 86_400);
    let rem = secs % 86_400;
    let (y, m, d) = crate::logs::civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Appends one line (fields, separators, `\n`).
fn format_line(out: &mut Vec<u8>, format: &[LineField], l: &DnsLogLine<'_>) {
    let mut w = VecWriter(out);
    for (i, f) in format.iter().enumerate() {
        if i > 0 {
            w.0.push(SEPARATOR);
        }
        // Writing into a Vec cannot fail; a Display that fails leaves what it wrote.
        let _ = match f {
            LineField::Ts => write_num(&mut w, l.ts),
            LineField::Ssid => write_num(&mut w, l.session_id),
            LineField::Login => {
                write_escaped(w.0, l.login);
                Ok(())
            }
            LineField::IpSrc => write_ip(&mut w, l.src),
            LineField::IpDst => write_ip(&mut w, l.dst),
            LineField::PSrc => write_num(&mut w, l.psrc),
            LineField::PDst => write_num(&mut w, l.pdst),
            LineField::Transport => {
                w.0.extend_from_slice(if l.transport == 1 { b"tcp" } else { b"udp" });
                Ok(())
            }
            LineField::Host => {
                write_escaped(w.0, l.host);
                Ok(())
            }
            LineField::RrType => write_num(&mut w, l.rrtype),
            LineField::RrClass => write_num(&mut w, l.rrclass),
            LineField::Ttl => write_num(&mut w, l.ttl),
            LineField::RdLen => write_num(&mut w, l.rdlen),
            LineField::Rdata => fmt::Write::write_fmt(&mut w, format_args!("{}", l.rdata)),
        };
    }
    w.0.push(b'\n');
}

fn write_num(w: &mut VecWriter<'_>, n: impl itoa::Integer) -> fmt::Result {
    w.0.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    Ok(())
}

/// An IPv4 address as four decimal octets; IPv6 in its RFC 5952 form (`Display`).
fn write_ip(w: &mut VecWriter<'_>, a: IpAddr) -> fmt::Result {
    match a {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    w.0.push(b'.');
                }
                write_num(w, octet)?;
            }
            Ok(())
        }
        IpAddr::V6(v6) => fmt::Write::write_fmt(w, format_args!("{v6}")),
    }
}

/// Octets outside `!`..`~` and `\` as `\DDD` (master-file style): a line never holds a
/// separator or a line break that is not ours.
fn write_escaped(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'!'..=b'~' => out.push(b),
            _ => {
                out.push(b'\\');
                out.extend_from_slice(&[b'0' + b / 100, b'0' + b / 10 % 10, b'0' + b % 10]);
            }
        }
    }
}

struct VecWriter<'a>(&'a mut Vec<u8>);

impl fmt::Write for VecWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(utc_suffix(0), "19700101-000000");
        assert_eq!(utc_suffix(951_782_400), "20000229-000000");
        assert_eq!(utc_suffix(1_668_966_903), "20221120-175503");
        assert_eq!(utc_suffix(u32::MAX), "21060207-062815");
    }

    /// A record read back from its bytes gives the line's fields.
    #[test]
    fn numbers_and_addresses_are_written_in_full() {
        let rdata = "203.0.113.9";
        let mut l = DnsLogLine {
            ts: u32::MAX,
            session_id: u64::MAX,
            login: b"",
            src: "0.0.0.0".parse().unwrap(),
            dst: "255.10.1.100".parse().unwrap(),
            psrc: 0,
            pdst: 65535,
            transport: 1,
            host: b"example.org",
            rrtype: 1,
            rrclass: 1,
            ttl: 0,
            rdlen: 4,
            rdata: &rdata,
        };
        let format = [
            LineField::Ts,
            LineField::Ssid,
            LineField::IpSrc,
            LineField::IpDst,
            LineField::PSrc,
            LineField::PDst,
            LineField::Ttl,
            LineField::Rdata,
        ];
        let mut out = Vec::new();
        format_line(&mut out, &format, &l);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "4294967295\t18446744073709551615\t0.0.0.0\t255.10.1.100\t0\t65535\t0\t203.0.113.9\n"
        );
        l.src = "2001:db8::1".parse().unwrap();
        l.dst = "::ffff:192.0.2.1".parse().unwrap();
        let mut out = Vec::new();
        format_line(&mut out, &[LineField::IpSrc, LineField::IpDst], &l);
        assert_eq!(out, b"2001:db8::1\t::ffff:192.0.2.1\n");
    }

    #[test]
    fn a_line_of_an_encoded_record() {
        use metaprobe_ipfix::field::{Octets, Text};
        use metaprobe_ipfix::template::Record;
        let rdata = vec![0xab; 300];
        let name = "a".repeat(260);
        let mut s = metaprobe_ipfix::samples::dns(7, true);
        s.rdata = Octets(&rdata);
        s.domain = Text::from_str(&name);
        s.rrtype = 16;
        let mut rec = Vec::with_capacity(65_000);
        metaprobe_ipfix::encoder::encode(&s, 65_000, &mut rec).unwrap();
        let v = DnsRecordView::parse(s.template().id(), &rec).unwrap();
        let text = v.rdata_text();
        let l = DnsLogLine::of(&v, &text);
        assert_eq!((l.ts, l.session_id, l.rrtype, l.rdlen), (7, 13, 16, 300));
        assert_eq!(l.host, name.as_bytes());
        assert_eq!(l.login, b"subscriber-1");
        let mut out = Vec::new();
        format_line(&mut out, &[LineField::RdLen, LineField::Rdata], &l);
        assert_eq!(out, format!("300\t{}\n", "ab".repeat(300)).into_bytes());
    }

    #[test]
    fn escapes() {
        let mut v = Vec::new();
        write_escaped(&mut v, b"a b\t\\\xff.");
        assert_eq!(v, b"a\\032b\\009\\\\\\255.");
    }
}
