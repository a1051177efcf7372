//! Percentiles of a set of measured durations, for `coldstart` and `api-latency` (issue 16).

use std::time::Duration;

/// The sorted samples of one measurement.
#[derive(Debug, Clone)]
pub struct Samples(Vec<Duration>);

impl Samples {
    pub fn new(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        Self(samples)
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The nearest-rank percentile: the smallest sample with at least `p` percent of the samples
    /// at or below it (so p99 of 100 samples is the 99th smallest, and p100 the largest).
    /// `None` without samples.
    pub fn percentile(&self, p: f64) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(self.0[rank.clamp(1, self.0.len()) - 1])
    }

    pub fn max(&self) -> Option<Duration> {
        self.0.last().copied()
    }

    pub fn min(&self) -> Option<Duration> {
        self.0.first().copied()
    }

    pub fn mean(&self) -> Option<Duration> {
        let n = u32::try_from(self.0.len()).ok().filter(|n| *n > 0)?;
        Some(self.0.iter().sum::<Duration>() / n)
    }
}

/// A duration in milliseconds with one decimal, or "–" when there is none.
pub fn ms(d: Option<Duration>) -> String {
    d.map(|d| format!("{:.1}", d.as_secs_f64() * 1000.0))
        .unwrap_or_else(|| "–".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let s = Samples::new((1..=100).rev().map(Duration::from_millis).collect());
        assert_eq!(s.percentile(50.0), Some(Duration::from_millis(50)));
        assert_eq!(s.percentile(99.0), Some(Duration::from_millis(99)));
        assert_eq!(s.percentile(100.0), Some(Duration::from_millis(100)));
        assert_eq!(s.percentile(0.0), Some(Duration::from_millis(1)));
        let five = Samples::new([5, 1, 4, 2, 3].map(Duration::from_millis).to_vec());
        assert_eq!(five.percentile(50.0), Some(Duration::from_millis(3)));
        assert_eq!(five.percentile(90.0), Some(Duration::from_millis(5)));
        assert_eq!(five.mean(), Some(Duration::from_millis(3)));
        assert_eq!(Samples::new(Vec::new()).percentile(50.0), None);
        assert_eq!(ms(Some(Duration::from_micros(12_345))), "12.3");
    }
}
