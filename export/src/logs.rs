//! The export side's text logs in `log_dir`, in the formats of spec §9:
//!
//! ```text
//! fastdpi_stat.log   (dbg_log_mask & 0x80, every netflow_timeout seconds)
//!   [STAT    ][2022/11/20-17:55:03:213770] Statistics on NFLW_export :
//!   {7/0/0.00%/45297us/30008163us}
//! fastdpi_alert.log  (backpressure, rate-limited)
//!   [NFLW] very long operation: ...
//! ```
//!
//! Times are UTC. A line is written with one `write` on a file opened in
//! append mode, so other writers of the same file never split it.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// File name of the statistics log.
pub const STAT_LOG: &str = "fastdpi_stat.log";
/// File name of the alert log.
pub const ALERT_LOG: &str = "fastdpi_alert.log";

/// `YYYY/MM/DD-HH:MM:SS:micro` (UTC) of Unix microseconds `us`.
pub fn format_time(us: u64) -> String {
    let secs = us / 1_000_000;
    let micro = us % 1_000_000;
    let days = (secs / 86_400) as i64;
    let sod = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}/{m:02}/{d:02}-{:02}:{:02}:{:02}:{micro:06}",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian
/// (H. Hinnant's `civil_from_days`).
pub fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// The send-cycle statistics of one period (spec §9).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CycleStats {
    /// a: send cycles run.
    pub cycles: u64,
    /// b: cycles whose send time exceeded the cycle period.
    pub over: u64,
    /// d: longest send cycle, µs.
    pub longest_us: u64,
}

impl CycleStats {
    /// Counts one cycle of `us` microseconds against a period of `period_us`.
    pub fn record(&mut self, us: u64, period_us: u64) {
        self.cycles += 1;
        if us > period_us {
            self.over += 1;
        }
        self.longest_us = self.longest_us.max(us);
    }
}

/// The section of `fastdpi_stat.log`, two lines with their newlines:
/// `[STAT    ][time] Statistics on NFLW_export :` and
/// `{a/b/c%/dus/eus}` where c = 100·b/a with two decimals and e is the
/// period as measured, µs.
pub fn stat_section(now_us: u64, s: &CycleStats, period_us: u64) -> String {
    let pct = if s.cycles == 0 {
        0.0
    } else {
        100.0 * s.over as f64 / s.cycles as f64
    };
    let mut out = String::with_capacity(96);
    let _ = write!(
        out,
        "[STAT    ][{}] Statistics on NFLW_export :\n{{{}/{}/{:.2}%/{}us/{}us}}\n",
        format_time(now_us),
        s.cycles,
        s.over,
        pct,
        s.longest_us,
        period_us
    );
    out
}

/// Appends `text` to `dir/name` with one write. Errors are returned, never
/// fatal to the caller's loop.
pub fn append(dir: &Path, name: &str, text: &str) -> std::io::Result<()> {
    let path: PathBuf = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    f.write_all(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_format() {
        // 2022-11-20 17:55:03.213770 UTC
        assert_eq!(
            format_time(1_668_966_903_213_770),
            "2022/11/20-17:55:03:213770"
        );
        assert_eq!(format_time(0), "1970/01/01-00:00:00:000000");
        assert_eq!(
            format_time(951_782_400_000_001),
            "2000/02/29-00:00:00:000001"
        );
        assert_eq!(
            format_time(4_102_444_799_999_999),
            "2099/12/31-23:59:59:999999"
        );
    }

    #[test]
    fn stat_section_as_in_the_spec() {
        let s = CycleStats {
            cycles: 7,
            over: 0,
            longest_us: 45297,
        };
        assert_eq!(
            stat_section(1_668_966_903_213_770, &s, 30_008_163),
            "[STAT    ][2022/11/20-17:55:03:213770] Statistics on NFLW_export :\n\
             {7/0/0.00%/45297us/30008163us}\n"
        );
        let s = CycleStats {
            cycles: 3,
            over: 1,
            longest_us: 12,
        };
        assert!(stat_section(0, &s, 5).ends_with("{3/1/33.33%/12us/5us}\n"));
        assert!(stat_section(0, &CycleStats::default(), 5).ends_with("{0/0/0.00%/0us/5us}\n"));
        let mut c = CycleStats::default();
        c.record(10, 10);
        c.record(11, 10);
        assert_eq!(
            c,
            CycleStats {
                cycles: 2,
                over: 1,
                longest_us: 11
            }
        );
    }
}
