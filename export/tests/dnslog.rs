//! The DNS text log on a real file system: line format, buffering, rotation by size
//! and by time, never overwriting a rotated file, and failures (full disk, missing
//! directory) reported and counted.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use metaprobe_export::dnslog::LineField;
use metaprobe_export::dnslog::{DnsLog, DnsLogConfig, DnsLogLine, DnsLogOp};

/// A fresh directory under the system temp dir.
fn tempdir(tag: &str) -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    let d = std::env::temp_dir().join(format!(
        "metaprobe-dnslog-{tag}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = fs::remove_dir_all(&d);
    fs::create_dir_all(&d).unwrap();
    d
}

fn cfg(path: &Path, bufsize: usize, fsize: u64, ftimeout_min: u64) -> DnsLogConfig {
    DnsLogConfig {
        path: path.to_path_buf(),
        format: LineField::ALL.to_vec(),
        bufsize,
        fsize,
        ftimeout_secs: ftimeout_min * 60,
    }
}

struct Text(&'static str);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

const RDATA: Text = Text("93.184.216.34");

fn line(ts: u32) -> DnsLogLine<'static> {
    DnsLogLine {
        ts,
        session_id: 0x0123_4567_89ab_cdef,
        login: b"alice",
        src: "2001:db8::53".parse::<IpAddr>().unwrap(),
        dst: "2001:db8::1".parse::<IpAddr>().unwrap(),
        psrc: 53,
        pdst: 40000,
        transport: 0,
        host: b"example.com",
        rrtype: 1,
        rrclass: 1,
        ttl: 300,
        rdlen: 4,
        rdata: &RDATA,
    }
}

const LINE: &str = "1700000000\t81985529216486895\talice\t2001:db8::53\t2001:db8::1\t53\t40000\tudp\texample.com\t1\t1\t300\t4\t93.184.216.34\n";

/// Files in `dir`, sorted, with their contents.
fn files(dir: &Path) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            (
                p.file_name().unwrap().to_string_lossy().into_owned(),
                fs::read_to_string(&p).unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn default_format_line_and_buffering() {
    let d = tempdir("fmt");
    let path = d.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1 << 20, 1 << 30, 0));
    log.write(1_700_000_000, &line(1_700_000_000)).unwrap();
    // Buffered: nothing on disk yet.
    assert!(!path.exists());
    log.poll(1_700_000_000).unwrap();
    assert!(!path.exists());
    // Written once it has waited a second.
    log.poll(1_700_000_001).unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), LINE);
    assert_eq!(log.stats().lines, 1);

    // A chosen subset and order; escapes in names; TCP.
    let path = d.join("sub.log");
    let mut c = cfg(&path, 1, 1 << 30, 0);
    c.format = vec![
        LineField::Rdata,
        LineField::Transport,
        LineField::Host,
        LineField::Login,
    ];
    let mut log = DnsLog::new(c);
    let mut l = line(1);
    l.transport = 1;
    l.host = b"a b\n.com";
    l.login = b"";
    log.write(1, &l).unwrap(); // bufsize 1: written at once
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        "93.184.216.34\ttcp\ta\\032b\\010.com\t\n"
    );
}

#[test]
fn rotation_by_size() {
    let d = tempdir("size");
    let path = d.join("dns.log");
    // Three lines per file.
    let fsize = 3 * LINE.len() as u64;
    let mut log = DnsLog::new(cfg(&path, 2 * LINE.len(), fsize, 0));
    let t0 = 1_700_000_000;
    for i in 0..7 {
        log.write(t0 + i, &line(t0)).unwrap();
    }
    log.flush().unwrap();
    let f = files(&d);
    // Two full files renamed (each with the time of its first line), one of one line.
    assert_eq!(
        f.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        [
            "dns.log",
            "dns.log.20231114-221320",
            "dns.log.20231114-221323"
        ]
    );
    assert_eq!(f[0].1, LINE);
    assert_eq!(f[1].1, LINE.repeat(3));
    assert_eq!(f[2].1, LINE.repeat(3));
    assert_eq!(log.stats().rotations, 2);
    assert_eq!(log.stats().lines, 7);
    assert_eq!(log.stats().dropped_lines, 0);
}

#[test]
fn rotation_by_time_only_when_non_empty() {
    let d = tempdir("time");
    let path = d.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1 << 20, 1 << 30, 5));
    let t0 = 1_700_000_000;
    // Empty: time passing rotates nothing.
    log.poll(t0).unwrap();
    log.poll(t0 + 3600).unwrap();
    assert!(files(&d).is_empty());
    log.write(t0 + 3600, &line(1)).unwrap();
    log.poll(t0 + 3600 + 299).unwrap();
    assert_eq!(files(&d).len(), 1);
    assert_eq!(log.stats().rotations, 0);
    // Five minutes after the first line: closed and renamed.
    log.poll(t0 + 3600 + 300).unwrap();
    let f = files(&d);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, "dns.log.20231114-231320");
    assert_eq!(f[0].1, LINE.replace("1700000000", "1"));
    // Next line starts a new file; a write after the timeout rotates first.
    log.write(t0 + 4000, &line(2)).unwrap();
    log.write(t0 + 4000 + 300, &line(3)).unwrap();
    log.flush().unwrap();
    let names: Vec<String> = files(&d).into_iter().map(|(n, _)| n).collect();
    assert_eq!(
        names,
        [
            "dns.log",
            "dns.log.20231114-231320",
            "dns.log.20231114-232000"
        ]
    );
    assert_eq!(log.stats().rotations, 2);
}

#[test]
fn ftimeout_zero_rotates_by_size_only() {
    let d = tempdir("t0");
    let path = d.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1, 1 << 30, 0));
    log.write(0, &line(0)).unwrap();
    log.poll(u32::MAX).unwrap();
    assert_eq!(files(&d).len(), 1);
    assert_eq!(log.stats().rotations, 0);
}

#[test]
fn rotated_files_are_never_overwritten() {
    let d = tempdir("collide");
    let path = d.join("dns.log");
    fs::write(d.join("dns.log.20231114-221320"), "old\n").unwrap();
    fs::write(d.join("dns.log.20231114-221320.1"), "older\n").unwrap();
    let mut log = DnsLog::new(cfg(&path, 1, LINE.len() as u64, 0));
    let t0 = 1_700_000_000;
    // Each line fills a file; all three files start in the same second.
    for _ in 0..3 {
        log.write(t0, &line(t0)).unwrap();
    }
    let f = files(&d);
    assert_eq!(
        f,
        [
            ("dns.log.20231114-221320".to_string(), "old\n".to_string()),
            (
                "dns.log.20231114-221320.1".to_string(),
                "older\n".to_string()
            ),
            ("dns.log.20231114-221320.2".to_string(), LINE.to_string()),
            ("dns.log.20231114-221320.3".to_string(), LINE.to_string()),
            ("dns.log.20231114-221320.4".to_string(), LINE.to_string()),
        ]
    );
}

#[test]
fn existing_file_is_appended_and_counts_towards_size() {
    let d = tempdir("append");
    let path = d.join("dns.log");
    fs::write(&path, "x".repeat(100)).unwrap();
    let mut log = DnsLog::new(cfg(&path, 1, 100 + LINE.len() as u64, 0));
    log.write(0, &line(1_700_000_000)).unwrap();
    let f = files(&d);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, "dns.log.19700101-000000");
    assert_eq!(f[0].1, format!("{}{LINE}", "x".repeat(100)));
}

#[test]
fn missing_directory_is_an_error_and_counted_drops() {
    let d = tempdir("missing");
    let path = d.join("no/such/dir/dns.log");
    let mut log = DnsLog::new(cfg(&path, 3 * LINE.len(), 1 << 30, 0));
    let t = 1_700_000_000;
    log.write(t, &line(t)).unwrap();
    log.write(t, &line(t)).unwrap();
    let e = log.write(t, &line(t)).unwrap_err();
    assert_eq!(
        (e.op, e.kind, e.dropped),
        (DnsLogOp::Open, ErrorKind::NotFound, 3)
    );
    assert!(e.to_string().contains("cannot open"), "{e}");
    assert_eq!(log.stats().dropped_lines, 3);
    assert_eq!(log.stats().errors, 1);
    // The directory appears: the next flush writes.
    fs::create_dir_all(path.parent().unwrap()).unwrap();
    log.write(2, &line(2)).unwrap();
    log.flush().unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        LINE.replace("1700000000", "2")
    );
    assert_eq!(log.stats().lines, 1);
}

#[test]
fn full_disk_is_an_error_and_counted_drops() {
    // /dev/full: opens, and every write fails with ENOSPC.
    let full = Path::new("/dev/full");
    if !full.exists() {
        eprintln!("no /dev/full here; skipped");
        return;
    }
    let mut log = DnsLog::new(cfg(full, 1, 1 << 40, 0));
    for i in 0..5 {
        let e = log.write(i, &line(i)).unwrap_err();
        assert_eq!(
            (e.op, e.kind, e.dropped),
            (DnsLogOp::Write, ErrorKind::StorageFull, 1)
        );
    }
    assert_eq!(log.stats().dropped_lines, 5);
    assert_eq!(log.stats().lines, 0);
    // Memory stays bounded: nothing is kept after a failure.
    assert_eq!(log.size(), 0);
}

#[test]
fn failed_rename_is_reported_and_held_off() {
    let d = tempdir("rename");
    let path = d.join("dns.log");
    // Lines of single-digit times are 9 octets shorter than LINE; two fill a file.
    let mut log = DnsLog::new(cfg(&path, 1, 2 * (LINE.len() as u64 - 9), 0));
    let t0 = 1_700_000_000;
    log.write(t0, &line(1)).unwrap();
    // Someone removes the file: the rotation that the second line triggers cannot
    // rename it.
    fs::remove_file(&path).unwrap();
    let e = log.write(t0, &line(2)).unwrap_err();
    assert_eq!(
        (e.op, e.kind, e.dropped),
        (DnsLogOp::Rename, ErrorKind::NotFound, 0)
    );
    assert_eq!(log.stats().errors, 1);
    // Held off for a minute: lines go on into a new file at the path, past fsize.
    log.write(t0 + 1, &line(3)).unwrap();
    log.write(t0 + 2, &line(4)).unwrap();
    log.write(t0 + 3, &line(5)).unwrap();
    assert_eq!(log.stats().rotations, 0);
    assert_eq!(files(&d).len(), 1);
    // Then rotated (named after its first line), and the next line starts a new file.
    log.write(t0 + 61, &line(6)).unwrap();
    let f = files(&d);
    let l = |n: u32| LINE.replace("1700000000", &n.to_string());
    assert_eq!(
        f,
        [
            ("dns.log".to_string(), l(6)),
            (
                "dns.log.20231114-221321".to_string(),
                format!("{}{}{}", l(3), l(4), l(5))
            ),
        ]
    );
    assert_eq!(log.stats().rotations, 1);
    assert_eq!(log.stats().lines, 6);
}

#[test]
fn a_failed_time_rotation_does_not_lose_the_line() {
    let d = tempdir("rename-time");
    let path = d.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1, 1 << 30, 1));
    let t0 = 1_700_000_000;
    log.write(t0, &line(1)).unwrap();
    fs::remove_file(&path).unwrap();
    // The file is a minute old: this write rotates first, and the rename fails.
    let e = log.write(t0 + 60, &line(2)).unwrap_err();
    assert_eq!(
        (e.op, e.kind, e.dropped),
        (DnsLogOp::Rename, ErrorKind::NotFound, 0)
    );
    // The line still went out, into a new file at the path.
    let l = |n: u32| LINE.replace("1700000000", &n.to_string());
    assert_eq!(files(&d), [("dns.log".to_string(), l(2))]);
    let s = log.stats();
    assert_eq!((s.lines, s.dropped_lines, s.errors), (2, 0, 1));
}

/// SIGHUP after logrotate moved the file: the buffered lines go to the moved file, the
/// path is created again at once, and the next lines go there. The new file is timed by
/// its own first line (rotation by time counts from it).
#[test]
fn reopen_after_the_file_was_moved_away() {
    let dir = tempdir("reopen");
    let path = dir.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1 << 20, 1 << 20, 1));
    log.write(1_700_000_000, &line(1_700_000_000)).unwrap();
    log.flush().unwrap();
    log.write(1_700_000_001, &line(1_700_000_000)).unwrap(); // buffered
    let moved = dir.join("dns.log.1");
    fs::rename(&path, &moved).unwrap();
    log.reopen().unwrap();
    assert_eq!(fs::read_to_string(&moved).unwrap(), LINE.repeat(2));
    assert_eq!(fs::read_to_string(&path).unwrap(), "", "created at once");
    log.write(1_700_000_030, &line(1_700_000_000)).unwrap();
    log.flush().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), LINE);
    // 59 s after the new file's first line (not the old one's): no rotation yet.
    log.poll(1_700_000_089).unwrap();
    assert!(path.exists());
    // 60 s: closed and renamed with the time of its own first line (22:13:50).
    log.poll(1_700_000_090).unwrap();
    let names: Vec<String> = files(&dir).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["dns.log.1", "dns.log.20231114-221350"]);
    let s = log.stats();
    assert_eq!(
        (s.lines, s.dropped_lines, s.rotations, s.errors),
        (3, 0, 1, 0)
    );
    let _ = fs::remove_dir_all(&dir);
}

/// SIGHUP with the file where it was: lines keep going to the same file, none lost or
/// written twice.
#[test]
fn reopen_in_place_appends() {
    let dir = tempdir("reopen-in-place");
    let path = dir.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1 << 20, 1 << 20, 0));
    log.write(1_700_000_000, &line(1_700_000_000)).unwrap();
    log.reopen().unwrap();
    log.reopen().unwrap();
    log.write(1_700_000_001, &line(1_700_000_000)).unwrap();
    log.flush().unwrap();
    assert_eq!(fs::read_to_string(&path).unwrap(), LINE.repeat(2));
    assert_eq!(log.stats().lines, 2);
    let _ = fs::remove_dir_all(&dir);
}

/// A directory that went away: reopening fails, is counted, and the next reopen after
/// it is back works.
#[test]
fn reopen_into_a_missing_directory_is_an_error() {
    let dir = tempdir("reopen-missing");
    let sub = dir.join("gone");
    fs::create_dir_all(&sub).unwrap();
    let path = sub.join("dns.log");
    let mut log = DnsLog::new(cfg(&path, 1 << 20, 1 << 20, 0));
    fs::remove_dir_all(&sub).unwrap();
    let e = log.reopen().unwrap_err();
    assert_eq!((e.op, e.kind), (DnsLogOp::Open, ErrorKind::NotFound));
    assert_eq!(log.stats().errors, 1);
    fs::create_dir_all(&sub).unwrap();
    log.reopen().unwrap();
    assert!(path.exists());
    let _ = fs::remove_dir_all(&dir);
}
