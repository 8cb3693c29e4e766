//! `[ANALYSIS]` lines in `fastdpi_alert.log`: the first time a loss counter of
//! the analysis moves, and then at most once a minute per counter while it
//! keeps moving, so an operator learns of every kind of loss without a line
//! per lost record.

use std::time::{Duration, Instant};

use metaprobe_dataplane::counters::AppCount;

/// Least time between two lines of one counter.
const EVERY: Duration = Duration::from_secs(60);

/// What was last said of each analysis counter.
pub struct LossAlerts {
    said: [u64; AppCount::COUNT],
    said_at: [Option<Instant>; AppCount::COUNT],
}

impl LossAlerts {
    pub fn new() -> LossAlerts {
        LossAlerts {
            said: [0; AppCount::COUNT],
            said_at: [None; AppCount::COUNT],
        }
    }

    /// The alert lines due for `counts` (summed over workers, by
    /// [`AppCount`] index) at `now`; `stamp` is the log's time field.
    pub fn due(
        &mut self,
        counts: &[u64; AppCount::COUNT],
        now: Instant,
        stamp: &str,
    ) -> Vec<String> {
        let mut lines = Vec::new();
        for &what in AppCount::ALL {
            if !what.is_loss() {
                continue;
            }
            let i = what.index();
            let (Some(&n), Some(said), Some(at)) =
                (counts.get(i), self.said.get_mut(i), self.said_at.get_mut(i))
            else {
                continue;
            };
            if n <= *said || at.is_some_and(|t| now.duration_since(t) < EVERY) {
                continue;
            }
            lines.push(format!(
                "[ANALYSIS][{stamp}] {} {n} (+{} since the last line): {}\n",
                what.name(),
                n - *said,
                what.meaning()
            ));
            *said = n;
            *at = Some(now);
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_loss_is_said_at_once_then_at_most_once_a_minute() {
        let mut a = LossAlerts::new();
        let mut counts = [0u64; AppCount::COUNT];
        let t0 = Instant::now();
        for work in AppCount::ALL.iter().filter(|c| !c.is_loss()) {
            counts[work.index()] = 100;
        }
        assert!(
            a.due(&counts, t0, "T").is_empty(),
            "records, messages read and data connections bound are no loss"
        );
        counts[AppCount::StreamsLost.index()] = 3;
        let lines = a.due(&counts, t0, "T");
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("[ANALYSIS][T] streams-lost 3 (+3 since the last line): "));
        counts[AppCount::StreamsLost.index()] = 5;
        assert!(a.due(&counts, t0 + Duration::from_secs(30), "T").is_empty());
        let later = a.due(&counts, t0 + Duration::from_secs(61), "T");
        assert_eq!(later.len(), 1);
        assert!(later[0].contains("streams-lost 5 (+2 "), "{later:?}");
        // Another counter moving is said at once, whatever the first one did.
        counts[AppCount::TlsMalformed.index()] = 1;
        assert_eq!(a.due(&counts, t0 + Duration::from_secs(62), "T").len(), 1);
    }
}
