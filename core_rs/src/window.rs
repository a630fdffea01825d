//! Rolling-window statistics used by the dynamic label threshold. Both are exact functions of
//! the multiset of values in the window, never of the path by which the window was reached, so
//! a threshold does not change when the series is cut after `t0` or computed in parallel pieces.

use std::collections::VecDeque;

/// Fixed-point scale for squared log returns: 2^80. With positive finite prices, |ln ratio| <
/// 1420, so a scaled square stays below 2^101 and an i128 sum of up to 2^26 of them is exact.
const SQ_SCALE: f64 = 1_208_925_819_614_629_174_706_176.0;

/// Squared value in fixed point (truncated toward zero, as Python's `int()` does).
#[inline]
pub fn fixed_square(r: f64) -> i128 {
    (r * r * SQ_SCALE) as i128
}

/// Root mean square of the values in a time window, from an exact fixed-point sum of squares.
#[derive(Debug, Default)]
pub struct RollingRms {
    items: VecDeque<(i64, i128)>,
    sum: i128,
}

impl RollingRms {
    /// Adds a value keyed by time `key`.
    #[inline]
    pub fn push(&mut self, key: i64, value: f64) {
        let sq = fixed_square(value);
        self.items.push_back((key, sq));
        self.sum += sq;
    }

    /// Drops values with `key <= cutoff`.
    #[inline]
    pub fn evict(&mut self, cutoff: i64) {
        while let Some(&(key, sq)) = self.items.front() {
            if key > cutoff {
                break;
            }
            self.sum -= sq;
            self.items.pop_front();
        }
    }

    /// Number of values in the window.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// True when the window holds no value.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// sqrt(sum of squares / count); NaN when empty.
    pub fn rms(&self) -> f64 {
        ((self.sum as f64) / SQ_SCALE / self.items.len() as f64).sqrt()
    }
}

/// Median of the values in a time window: a sorted copy of the window updated by shifting only
/// the elements between the leaving and the entering value.
#[derive(Debug, Default)]
pub struct RollingMedian {
    items: VecDeque<(i64, f64)>,
    sorted: Vec<f64>,
}

impl RollingMedian {
    /// Adds a finite value keyed by time `key`, then drops values with `key <= cutoff`.
    #[inline]
    pub fn push_evict(&mut self, key: i64, value: Option<f64>, cutoff: i64) {
        let mut entering = value;
        while let Some(&(k, old)) = self.items.front() {
            if k > cutoff {
                break;
            }
            self.items.pop_front();
            match entering.take() {
                Some(new) => self.replace(old, new),
                None => self.remove(old),
            }
        }
        if let Some(new) = entering {
            let q = self.sorted.partition_point(|&x| x < new);
            self.sorted.insert(q, new);
        }
        if let Some(new) = value {
            self.items.push_back((key, new));
        }
    }

    fn remove(&mut self, old: f64) {
        let p = self.sorted.partition_point(|&x| x < old);
        self.sorted.remove(p);
    }

    /// Removes one `old` and inserts `new`, shifting only the values between them: among equal
    /// copies of `old` the one nearest to `new`'s place is taken.
    fn replace(&mut self, old: f64, new: f64) {
        if old == new {
            return;
        }
        let q = self.sorted.partition_point(|&x| x < new);
        let p = if new > old {
            self.sorted.partition_point(|&x| x <= old) - 1
        } else {
            self.sorted.partition_point(|&x| x < old)
        };
        if q > p {
            self.sorted.copy_within(p + 1..q, p);
            self.sorted[q - 1] = new;
        } else {
            self.sorted.copy_within(q..p, q + 1);
            self.sorted[q] = new;
        }
    }

    /// True when the window holds no value.
    pub fn is_empty(&self) -> bool {
        self.sorted.is_empty()
    }

    /// Median (mean of the two middle values for an even count); NaN when empty.
    pub fn median(&self) -> f64 {
        let m = self.sorted.len();
        match m {
            0 => f64::NAN,
            _ if m % 2 == 1 => self.sorted[m / 2],
            _ => (self.sorted[m / 2 - 1] + self.sorted[m / 2]) / 2.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_matches_sorting_after_every_step() {
        let values = [5.0, 1.0, 4.0, 4.0, 9.0, 2.0, 7.0, 3.0, 3.0, 8.0, 0.5, 6.0];
        let mut m = RollingMedian::default();
        for (i, &v) in values.iter().enumerate() {
            let key = i as i64;
            let value = (i % 5 != 3).then_some(v);
            m.push_evict(key, value, key - 4);
            let mut window: Vec<f64> = (i.saturating_sub(3)..=i)
                .filter(|j| j % 5 != 3)
                .map(|j| values[j])
                .collect();
            window.sort_by(f64::total_cmp);
            let n = window.len();
            let expect = if n % 2 == 1 {
                window[n / 2]
            } else {
                (window[n / 2 - 1] + window[n / 2]) / 2.0
            };
            assert_eq!(m.median(), expect, "step {i}");
        }
    }

    #[test]
    fn rms_sum_returns_to_exact_zero() {
        let mut r = RollingRms::default();
        r.push(0, 0.013);
        r.push(1, -0.007);
        r.evict(1);
        assert!(r.is_empty());
        r.push(2, 0.0);
        assert_eq!(r.rms(), 0.0);
    }
}
