//! ffmpeg's `-progress` report, read line by line.
//!
//! ffmpeg writes a block of `key=value` lines about twice a second, each ending with
//! `progress=continue`, and a last one ending with `progress=end`:
//!
//! ```text
//! frame=30
//! out_time_us=1024000
//! out_time_ms=1024000
//! out_time=00:00:01.024000
//! speed=7.36x
//! progress=end
//! ```
//!
//! `out_time_ms` is in microseconds too (an old ffmpeg misnomer, kept in 5.1), and any of the
//! three may be `N/A` (before the first frame is written) or slightly negative at the start.

/// Where ffmpeg's output stood at the end of one report block.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Seconds of output written so far.
    pub out_time_secs: f64,
    /// `progress=end`: ffmpeg has finished writing (it may still exit with an error).
    pub done: bool,
}

impl Progress {
    /// The percent to show: 100 only once ffmpeg said it is done.
    pub fn percent(&self, duration_secs: f64) -> u8 {
        if self.done {
            100
        } else {
            percent(self.out_time_secs, duration_secs).min(99)
        }
    }
}

/// Reads ffmpeg's `-progress` lines, one at a time.
#[derive(Debug, Clone, Default)]
pub struct ProgressParser {
    /// From `out_time_us` or `out_time_ms`, which say the same in microseconds.
    micros: Option<f64>,
    /// From `out_time`, used only when neither microsecond key had a value.
    clock_secs: Option<f64>,
    /// The last time reported, carried into blocks that report `N/A`.
    last_secs: f64,
}

impl ProgressParser {
    /// Takes one line; returns the progress at the end of each block (its `progress=` line).
    pub fn feed(&mut self, line: &str) -> Option<Progress> {
        let (key, value) = line.trim().split_once('=')?;
        let value = value.trim();
        match key.trim() {
            "out_time_us" | "out_time_ms" => {
                if let Ok(micros) = value.parse::<f64>() {
                    if micros.is_finite() {
                        self.micros = Some(micros);
                    }
                }
                None
            }
            "out_time" => {
                self.clock_secs = parse_clock(value);
                None
            }
            "progress" => {
                let reported = self.micros.map(|us| us / 1e6).or(self.clock_secs);
                if let Some(secs) = reported {
                    self.last_secs = secs.max(0.0);
                }
                self.micros = None;
                self.clock_secs = None;
                Some(Progress {
                    out_time_secs: self.last_secs,
                    done: value == "end",
                })
            }
            _ => None,
        }
    }
}

/// `HH:MM:SS.micros`, possibly with a leading `-`.
fn parse_clock(text: &str) -> Option<f64> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let mut parts = text.split(':');
    let hours: f64 = parts.next()?.parse().ok()?;
    let minutes: f64 = parts.next()?.parse().ok()?;
    let seconds: f64 = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    let secs = hours * 3600.0 + minutes * 60.0 + seconds;
    secs.is_finite()
        .then_some(if negative { -secs } else { secs })
}

/// How far `out_time_secs` is into `duration_secs`, as a whole percent from 0 to 100 (rounded
/// down, so 100 means the whole duration is written). 0 when the duration is unknown.
pub fn percent(out_time_secs: f64, duration_secs: f64) -> u8 {
    let measurable = duration_secs.is_finite() && duration_secs > 0.0 && out_time_secs.is_finite();
    if !measurable {
        return 0;
    }
    let share = (out_time_secs / duration_secs * 100.0).floor();
    share.clamp(0.0, 100.0) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(parser: &mut ProgressParser, text: &str) -> Vec<Progress> {
        text.lines().filter_map(|line| parser.feed(line)).collect()
    }

    #[test]
    fn reads_ffmpeg_5_blocks() {
        let mut parser = ProgressParser::default();
        let seen = feed_all(
            &mut parser,
            "frame=0\nfps=0.00\nstream_0_0_q=0.0\nbitrate=N/A\ntotal_size=48\n\
             out_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\ndup_frames=0\ndrop_frames=0\n\
             speed=N/A\nprogress=continue\n\
             frame=15\nout_time_us=500000\nout_time_ms=500000\nout_time=00:00:00.500000\n\
             progress=continue\n\
             frame=30\nout_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\nprogress=continue\n\
             frame=30\nout_time_us=1024000\nout_time_ms=1024000\nout_time=00:00:01.024000\r\n\
             speed=7.36x\nprogress=end\n",
        );
        let times: Vec<f64> = seen.iter().map(|p| p.out_time_secs).collect();
        assert_eq!(times, [0.0, 0.5, 0.5, 1.024]);
        let done: Vec<bool> = seen.iter().map(|p| p.done).collect();
        assert_eq!(done, [false, false, false, true]);
    }

    #[test]
    fn falls_back_to_the_clock_form_and_ignores_negative_starts() {
        let mut parser = ProgressParser::default();
        let seen = feed_all(
            &mut parser,
            "out_time_us=-23220\nprogress=continue\n\
             out_time=01:02:03.500000\nprogress=continue\n\
             out_time=-00:00:00.023220\nprogress=continue\n\
             garbage line\n=\nprogress=end\n",
        );
        let times: Vec<f64> = seen.iter().map(|p| p.out_time_secs).collect();
        assert_eq!(times, [0.0, 3723.5, 0.0, 0.0]);
        assert!(seen[3].done);
    }

    #[test]
    fn percent_is_clamped_and_waits_for_the_end() {
        assert_eq!(percent(0.0, 10.0), 0);
        assert_eq!(percent(5.0, 10.0), 50);
        assert_eq!(percent(9.999, 10.0), 99);
        assert_eq!(percent(10.0, 10.0), 100);
        assert_eq!(percent(12.0, 10.0), 100);
        assert_eq!(percent(-1.0, 10.0), 0);
        assert_eq!(percent(5.0, 0.0), 0);
        assert_eq!(percent(f64::NAN, 10.0), 0);
        let running = Progress {
            out_time_secs: 10.2,
            done: false,
        };
        assert_eq!(running.percent(10.0), 99);
        let done = Progress {
            out_time_secs: 9.9,
            done: true,
        };
        assert_eq!(done.percent(10.0), 100);
    }
}
