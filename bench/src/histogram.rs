//! A log-linear latency histogram: fixed size, so that recording a
//! latency in the middle of a measured window allocates nothing.

use std::time::Duration;

/// Log-linear latency histogram in nanoseconds: 64 buckets per power of
/// two (about 1.6 % resolution), fixed size, no allocation when recording.
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: vec![0; 64 + 58 * 64],
            total: 0,
        }
    }
}

impl Histogram {
    fn index(ns: u64) -> usize {
        if ns < 64 {
            ns as usize
        } else {
            let e = 63 - ns.leading_zeros() as usize; // >= 6
            let top = (ns >> (e - 6)) as usize; // 64..=127
            64 + (e - 6) * 64 + (top - 64)
        }
    }

    fn value(index: usize) -> u64 {
        if index < 64 {
            index as u64
        } else {
            let k = index - 64;
            let shift = k / 64;
            let top = (k % 64 + 64) as u64;
            // The middle of the bucket.
            (top << shift) + ((1u64 << shift) >> 1)
        }
    }

    pub fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.counts[Self::index(ns)] += 1;
        self.total += 1;
    }

    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
        self.total += other.total;
    }

    /// The `q`-quantile (0..=1), `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        if self.total == 0 {
            return None;
        }
        let rank = ((self.total as f64 * q).ceil() as u64).clamp(1, self.total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(Duration::from_nanos(Self::value(i)));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_two_percent() {
        let mut h = Histogram::default();
        for us in 1..=1000u64 {
            h.record(Duration::from_micros(us));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64() * 1e6;
        let p99 = h.quantile(0.99).unwrap().as_secs_f64() * 1e6;
        assert!((p50 / 500.0 - 1.0).abs() < 0.02, "p50 {p50}");
        assert!((p99 / 990.0 - 1.0).abs() < 0.02, "p99 {p99}");
        assert!(Histogram::default().quantile(0.5).is_none());
        // Every bucket maps back into itself.
        for i in 0..Histogram::default().counts.len() {
            assert_eq!(Histogram::index(Histogram::value(i)), i);
        }
    }
}
