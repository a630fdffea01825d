//! Leak-safe labels on one-second bars: fixed-horizon and triple-barrier, with a fixed or a
//! dynamic threshold `r_t`.
//!
//! Decisions (DESIGN §4 leaves them to this module):
//! * Input rows are bars sorted by (symbol, ts), `ts` on the 1 s grid and strictly increasing
//!   within a symbol. Missing seconds are allowed and simply break coverage.
//! * `r_t` dynamic = `min(r_max, max(r_min, cost_mult * cost_roundtrip, k * sigma_1s * sqrt(H)))`,
//!   i.e. `clip(x, lo, hi)` read as numpy's `min(max(x, lo), hi)`: the cost-aware floor and the
//!   volatility term compete, the larger wins, and `r_max` caps the result.
//!   * `sigma_1s` = root mean square (zero-mean estimator) of the 1 s log returns
//!     `ln(close_j / close_{j-1})` whose both bars lie in `(t0 - W, t0]`, are exactly 1 s apart
//!     and are not gap bars. Fewer than `min_returns` such returns -> `r_t` is NaN (no label).
//!   * `cost_roundtrip` = `2 * fee + 2 * slippage + median(spread_bps) / 10_000` over the
//!     non-gap bars in `(t0 - W, t0]` with a finite spread; without a spread column the spread
//!     term is 0, with one but no finite value in the window `r_t` is NaN.
//!   * Only rows with `ts <= t0` enter `r_t`, so it is invariant to deleting later rows.
//! * `fwd_return` = `close(t0 + H) / close(t0) - 1` for both kinds.
//! * Fixed horizon: UP if `fwd_return >= r_t`, DOWN if `<= -r_t`, else NONE.
//! * Triple barrier: barriers `close(t0) * (1 + r_t)` and `close(t0) * (1 - r_t)`; the first bar
//!   `j` in `(t0, t0 + H]` with `high_j >= upper` or `low_j <= lower` decides, `touch_ts = ts_j`.
//!   A bar touching both is `ambiguous` and resolved by its close: UP if `close_j >= close(t0)`
//!   else DOWN. No touch -> NONE.
//! * A row is labelled (`valid`) only when every second of `[t0, t0 + H]` is present, none of
//!   them is a gap bar and `r_t` is finite. Otherwise `valid = false`, `y = 0`, `fwd_return`
//!   NaN, `label_ts = touch_ts = -1`: no label, never NONE. When valid, `label_ts = t0 + H`
//!   (the label is known only once the whole horizon is over, also after an early touch).

use crate::error::{check_len, positive, KernelError};
use crate::tables::{check_key, BAR_MS};
use crate::window::{RollingMedian, RollingRms};

/// Label classes.
pub const UP: i8 = 1;
/// Label classes.
pub const DOWN: i8 = -1;
/// Label classes.
pub const NONE: i8 = 0;

/// Rows per work piece; pieces start at fixed multiples of it, so results never depend on the
/// number of threads.
const PIECE_ROWS: usize = 1 << 16;

/// Bars as parallel columns.
#[derive(Debug, Clone, Copy)]
pub struct BarSeries<'a> {
    /// Dense symbol id per row, non-decreasing; `None` for a single symbol.
    pub symbol: Option<&'a [u32]>,
    /// Bar end in ms, multiple of 1000, strictly increasing within a symbol.
    pub ts: &'a [i64],
    /// Close price, finite and > 0 (may be anything on a gap bar).
    pub close: &'a [f64],
    /// High price, finite and > 0 (may be anything on a gap bar).
    pub high: &'a [f64],
    /// Low price, finite and > 0 (may be anything on a gap bar).
    pub low: &'a [f64],
    /// Gap flag per row; `None` means no gaps.
    pub gap: Option<&'a [bool]>,
    /// Spread at close in bps; non-finite values are ignored.
    pub spread_bps: Option<&'a [f64]>,
}

/// Kind of label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Close at `t0` to close at `t0 + H` against `±r_t`.
    FixedHorizon,
    /// First touch of `±r_t` by bar high/low in `(t0, t0 + H]`.
    TripleBarrier,
}

/// Parameters of the dynamic threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Dynamic {
    /// Look-back window `W` in seconds.
    pub window_s: u32,
    /// Minimum number of 1 s returns in the window.
    pub min_returns: u32,
    /// Multiplier of `sigma_1s * sqrt(H)`.
    pub k: f64,
    /// Lower bound of the floor.
    pub r_min: f64,
    /// Cap of `r_t`.
    pub r_max: f64,
    /// Multiplier of the round-trip cost.
    pub cost_mult: f64,
    /// Fee per side, as a fraction.
    pub fee: f64,
    /// Slippage per side, as a fraction.
    pub slippage: f64,
}

/// How `r_t` is chosen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// The same `r_t` everywhere.
    Fixed(f64),
    /// `r_t` from past volatility and costs.
    Dynamic(Dynamic),
}

/// Label parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LabelParams {
    /// Horizon `H` in seconds (>= 1).
    pub horizon_s: u32,
    /// Fixed horizon or triple barrier.
    pub kind: Kind,
    /// Threshold rule.
    pub threshold: Threshold,
    /// Worker threads (1 = run on the calling thread).
    pub threads: usize,
}

/// Labels, one row per input bar.
#[derive(Debug, Clone, PartialEq)]
pub struct Labels {
    /// True when the row has a label.
    pub valid: Vec<bool>,
    /// [`UP`], [`DOWN`] or [`NONE`]; 0 on invalid rows.
    pub y: Vec<i8>,
    /// `close(t0 + H) / close(t0) - 1`; NaN on invalid rows.
    pub fwd_return: Vec<f64>,
    /// Threshold at `t0` (NaN when it cannot be computed), reported on every row.
    pub r_t: Vec<f64>,
    /// `t0 + H` on valid rows, -1 otherwise.
    pub label_ts: Vec<i64>,
    /// Bar end of the first barrier touch, -1 when none (always -1 for fixed horizon).
    pub touch_ts: Vec<i64>,
    /// True when the deciding bar touched both barriers.
    pub ambiguous: Vec<bool>,
}

/// Mutable views of one contiguous range of the output columns.
struct Out<'a> {
    valid: &'a mut [bool],
    y: &'a mut [i8],
    fwd_return: &'a mut [f64],
    r_t: &'a mut [f64],
    label_ts: &'a mut [i64],
    touch_ts: &'a mut [i64],
    ambiguous: &'a mut [bool],
}

impl<'a> Out<'a> {
    fn split_at(self, mid: usize) -> (Out<'a>, Out<'a>) {
        let (v0, v1) = self.valid.split_at_mut(mid);
        let (y0, y1) = self.y.split_at_mut(mid);
        let (f0, f1) = self.fwd_return.split_at_mut(mid);
        let (r0, r1) = self.r_t.split_at_mut(mid);
        let (l0, l1) = self.label_ts.split_at_mut(mid);
        let (t0, t1) = self.touch_ts.split_at_mut(mid);
        let (a0, a1) = self.ambiguous.split_at_mut(mid);
        (
            Out {
                valid: v0,
                y: y0,
                fwd_return: f0,
                r_t: r0,
                label_ts: l0,
                touch_ts: t0,
                ambiguous: a0,
            },
            Out {
                valid: v1,
                y: y1,
                fwd_return: f1,
                r_t: r1,
                label_ts: l1,
                touch_ts: t1,
                ambiguous: a1,
            },
        )
    }
}

/// Rows `[a, b)` of the symbol segment `[s, e)`.
#[derive(Debug, Clone, Copy)]
struct Piece {
    s: usize,
    e: usize,
    a: usize,
    b: usize,
}

fn check_params(p: &LabelParams) -> Result<(), KernelError> {
    let bad = |name, reason: &str| {
        Err(KernelError::InvalidParam {
            name,
            reason: reason.into(),
        })
    };
    if p.horizon_s == 0 {
        return bad("horizon_s", "must be >= 1");
    }
    match p.threshold {
        Threshold::Fixed(r) if !(r.is_finite() && r > 0.0) => {
            bad("r_fixed", "must be finite and > 0")
        }
        Threshold::Dynamic(d) => {
            let fin = [d.k, d.r_min, d.r_max, d.cost_mult, d.fee, d.slippage];
            if fin.iter().any(|v| !v.is_finite() || *v < 0.0) {
                bad(
                    "k/r_min/r_max/cost_mult/fee/slippage",
                    "must be finite and >= 0",
                )
            } else if d.r_max <= 0.0 || d.r_min > d.r_max {
                bad("r_max", "must be > 0 and >= r_min")
            } else if d.window_s == 0 || d.window_s > 1 << 24 {
                bad("window_s", "must be in [1, 2^24]")
            } else {
                Ok(())
            }
        }
        Threshold::Fixed(_) => Ok(()),
    }
}

/// Checks column lengths and symbol order; returns the symbol segments as `(start, end)` rows.
fn segments(bars: &BarSeries<'_>) -> Result<Vec<(usize, usize)>, KernelError> {
    let n = bars.ts.len();
    for (column, len) in [
        ("close", bars.close.len()),
        ("high", bars.high.len()),
        ("low", bars.low.len()),
    ] {
        check_len("bars", column, n, len)?;
    }
    for (column, len) in [
        ("symbol", bars.symbol.map(<[u32]>::len)),
        ("gap", bars.gap.map(<[bool]>::len)),
        ("spread_bps", bars.spread_bps.map(<[f64]>::len)),
    ] {
        if let Some(len) = len {
            check_len("bars", column, n, len)?;
        }
    }
    let Some(symbol) = bars.symbol else {
        return Ok(if n > 0 { vec![(0, n)] } else { Vec::new() });
    };
    let mut segs = Vec::new();
    let mut start = 0;
    for i in 1..n {
        if symbol[i] < symbol[i - 1] {
            let rule = "rows must be sorted by (symbol, ts)";
            return Err(KernelError::InvalidKey {
                table: "bars",
                row: i,
                field: "symbol",
                value: i64::from(symbol[i]),
                rule,
            });
        }
        if symbol[i] > symbol[i - 1] {
            segs.push((start, i));
            start = i;
        }
    }
    if n > 0 {
        segs.push((start, n));
    }
    Ok(segs)
}

/// Validates rows `[p.a, p.b)`: times on the 1 s grid and strictly increasing within the
/// symbol, prices finite and > 0 except on gap bars.
fn check_piece(bars: &BarSeries<'_>, p: Piece) -> Result<(), KernelError> {
    let key = |field, row: usize, value: i64, rule| {
        Err(KernelError::InvalidKey {
            table: "bars",
            row,
            field,
            value,
            rule,
        })
    };
    for i in p.a..p.b {
        check_key("bars", i, bars.symbol.map_or(0, |s| s[i]), bars.ts[i])?;
        if bars.ts[i] % BAR_MS != 0 {
            return key("ts", i, bars.ts[i], "must be a multiple of 1000 ms");
        }
        if i > p.s && bars.ts[i] <= bars.ts[i - 1] {
            return key(
                "ts",
                i,
                bars.ts[i],
                "must increase strictly within a symbol",
            );
        }
        if !bars.gap.is_some_and(|g| g[i]) {
            for (field, v) in [
                ("close", bars.close[i]),
                ("high", bars.high[i]),
                ("low", bars.low[i]),
            ] {
                positive("bars", i, field, v)?;
            }
        }
    }
    Ok(())
}

/// Computes labels for every bar. Rows keep the input order.
pub fn label(bars: &BarSeries<'_>, params: &LabelParams) -> Result<Labels, KernelError> {
    check_params(params)?;
    let segs = segments(bars)?;
    let n = bars.ts.len();
    let mut pieces = Vec::new();
    for &(s, e) in &segs {
        let mut a = s;
        while a < e {
            let b = e.min((a / PIECE_ROWS + 1) * PIECE_ROWS);
            pieces.push(Piece { s, e, a, b });
            a = b;
        }
    }
    // Zeroed allocations are lazy, so the pages are first touched (in parallel) by the workers,
    // which write every field of every row.
    let mut labels = Labels {
        valid: vec![false; n],
        y: vec![NONE; n],
        fwd_return: vec![0.0; n],
        r_t: vec![0.0; n],
        label_ts: vec![0; n],
        touch_ts: vec![0; n],
        ambiguous: vec![false; n],
    };
    let out = Out {
        valid: &mut labels.valid,
        y: &mut labels.y,
        fwd_return: &mut labels.fwd_return,
        r_t: &mut labels.r_t,
        label_ts: &mut labels.label_ts,
        touch_ts: &mut labels.touch_ts,
        ambiguous: &mut labels.ambiguous,
    };
    let threads = params.threads.clamp(1, pieces.len().max(1));
    if threads == 1 {
        run_pieces(bars, params, &pieces, out, 0)?;
        return Ok(labels);
    }
    // Contiguous groups of pieces with about n / threads rows each.
    let mut groups: Vec<&[Piece]> = Vec::with_capacity(threads);
    let mut rest: &[Piece] = &pieces;
    for g in 1..threads {
        let target = n * g / threads;
        let cut = rest.iter().position(|p| p.b > target).unwrap_or(rest.len());
        let (head, tail) = rest.split_at(cut);
        groups.push(head);
        rest = tail;
    }
    groups.push(rest);
    let results: Vec<Result<(), KernelError>> = std::thread::scope(|scope| {
        let mut out = out;
        let mut offset = 0;
        let mut handles = Vec::with_capacity(groups.len());
        for group in groups {
            let end = group.last().map_or(offset, |p| p.b);
            let (mine, others) = out.split_at(end - offset);
            out = others;
            let base = offset;
            offset = end;
            handles.push(scope.spawn(move || run_pieces(bars, params, group, mine, base)));
        }
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
            })
            .collect()
    });
    // Groups are in row order and each stops at its first error: the first error is the lowest row.
    results.into_iter().collect::<Result<Vec<()>, _>>()?;
    Ok(labels)
}

/// Fills `out`, whose first element is row `base`, for every piece of `pieces`.
fn run_pieces(
    bars: &BarSeries<'_>,
    params: &LabelParams,
    pieces: &[Piece],
    mut out: Out<'_>,
    base: usize,
) -> Result<(), KernelError> {
    let mut at = base;
    let mut scratch = Extremes::default();
    for &p in pieces {
        check_piece(bars, p)?;
        let (mine, rest) = out.split_at(p.b - at);
        out = rest;
        at = p.b;
        thresholds(bars, &params.threshold, params.horizon_s, p, mine.r_t);
        outcomes(bars, params, p, mine, &mut scratch);
    }
    Ok(())
}

/// `r_t` for rows `[p.a, p.b)` into `r_t` (which has `p.b - p.a` elements).
fn thresholds(
    bars: &BarSeries<'_>,
    threshold: &Threshold,
    horizon_s: u32,
    p: Piece,
    r_t: &mut [f64],
) {
    let d = match *threshold {
        Threshold::Fixed(r) => {
            r_t.fill(r);
            return;
        }
        Threshold::Dynamic(d) => d,
    };
    let w_ms = i64::from(d.window_s) * BAR_MS;
    let (ts, close) = (bars.ts, bars.close);
    let gap = |j: usize| bars.gap.is_some_and(|g| g[j]);
    let sqrt_h = f64::from(horizon_s).sqrt();
    let cost_fixed = 2.0 * d.fee + 2.0 * d.slippage;
    // Warm up from the first row that is inside the window of row `a`.
    let lo = p.s + ts[p.s..p.a].partition_point(|&t| t <= ts[p.a] - w_ms);
    let mut rets = RollingRms::default();
    let mut spreads = RollingMedian::default();
    for i in lo..p.b {
        let cutoff = ts[i] - w_ms;
        if i > lo && ts[i] - ts[i - 1] == BAR_MS && !gap(i) && !gap(i - 1) {
            rets.push(ts[i - 1], (close[i] / close[i - 1]).ln());
        }
        rets.evict(cutoff);
        if let Some(spread) = bars.spread_bps {
            let v = Some(spread[i]).filter(|v| v.is_finite() && !gap(i));
            spreads.push_evict(ts[i], v, cutoff);
        }
        if i < p.a {
            continue;
        }
        let no_spread = bars.spread_bps.is_some() && spreads.is_empty();
        let r = if rets.len() < d.min_returns as usize || rets.is_empty() || no_spread {
            f64::NAN
        } else {
            let spread = if bars.spread_bps.is_some() {
                spreads.median() / 10_000.0
            } else {
                0.0
            };
            let floor = d.r_min.max(d.cost_mult * (cost_fixed + spread));
            floor.max(d.k * rets.rms() * sqrt_h).min(d.r_max)
        };
        r_t[i - p.a] = r;
    }
}

/// Highest high and lowest low over `(t0, t0 + H]` for every row of a piece, by the van
/// Herk/Gil-Werman block prefix/suffix scheme: O(1) per row whatever `H` is.
#[derive(Debug, Default)]
struct Extremes {
    prefix_max: Vec<f64>,
    suffix_max: Vec<f64>,
    prefix_min: Vec<f64>,
    suffix_min: Vec<f64>,
}

impl Extremes {
    /// Prepares windows of `h` rows over `high[first..last]` / `low[first..last]`.
    fn fill(&mut self, high: &[f64], low: &[f64], h: usize) {
        let len = high.len();
        for v in [
            &mut self.prefix_max,
            &mut self.suffix_max,
            &mut self.prefix_min,
            &mut self.suffix_min,
        ] {
            v.clear();
            v.resize(len, 0.0);
        }
        for start in (0..len).step_by(h) {
            let end = len.min(start + h);
            let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
            for k in start..end {
                hi = hi.max(high[k]);
                lo = lo.min(low[k]);
                self.prefix_max[k] = hi;
                self.prefix_min[k] = lo;
            }
            let (mut hi, mut lo) = (f64::NEG_INFINITY, f64::INFINITY);
            for k in (start..end).rev() {
                hi = hi.max(high[k]);
                lo = lo.min(low[k]);
                self.suffix_max[k] = hi;
                self.suffix_min[k] = lo;
            }
        }
    }

    /// (max high, min low) over the `h` rows starting at offset `k`.
    #[inline]
    fn window(&self, k: usize, h: usize) -> (f64, f64) {
        let last = k + h - 1;
        (
            self.suffix_max[k].max(self.prefix_max[last]),
            self.suffix_min[k].min(self.prefix_min[last]),
        )
    }
}

/// Labels for rows `[p.a, p.b)`, given `out.r_t` already filled. Writes every field of every row.
fn outcomes(
    bars: &BarSeries<'_>,
    params: &LabelParams,
    p: Piece,
    out: Out<'_>,
    ext: &mut Extremes,
) {
    let h = params.horizon_s as usize;
    let h_ms = i64::from(params.horizon_s) * BAR_MS;
    let (ts, close, high, low) = (bars.ts, bars.close, bars.high, bars.low);
    let is_gap = |j: usize| bars.gap.is_some_and(|g| g[j]);
    // Horizon windows start at row a + 1 and may reach up to row b - 1 + h (inside the segment).
    let span_end = p.e.min(p.b + h);
    let barrier = params.kind == Kind::TripleBarrier;
    if barrier && p.a + 1 < span_end {
        ext.fill(&high[p.a + 1..span_end], &low[p.a + 1..span_end], h);
    }
    // First gap row at or after the current row.
    let mut next_gap = (p.a..p.e).find(|&j| is_gap(j)).unwrap_or(p.e);
    for i in p.a..p.b {
        if next_gap < i {
            next_gap = (i..p.e).find(|&j| is_gap(j)).unwrap_or(p.e);
        }
        let k = i - p.a;
        let j_end = i + h;
        let r = out.r_t[k];
        out.ambiguous[k] = false;
        out.touch_ts[k] = -1;
        out.y[k] = NONE;
        if j_end >= p.e || ts[j_end] - ts[i] != h_ms || next_gap <= j_end || !r.is_finite() {
            out.valid[k] = false;
            out.fwd_return[k] = f64::NAN;
            out.label_ts[k] = -1;
            continue;
        }
        let c0 = close[i];
        let fwd = close[j_end] / c0 - 1.0;
        out.valid[k] = true;
        out.fwd_return[k] = fwd;
        out.label_ts[k] = ts[i] + h_ms;
        if !barrier {
            out.y[k] = direction(fwd, r);
            continue;
        }
        let (upper, lower) = (c0 * (1.0 + r), c0 * (1.0 - r));
        let (hi, lo) = ext.window(k, h);
        if hi < upper && lo > lower {
            continue;
        }
        if let Some(off) = first_touch(&high[i + 1..=j_end], &low[i + 1..=j_end], upper, lower) {
            let j = i + 1 + off;
            let (up, down) = (high[j] >= upper, low[j] <= lower);
            out.touch_ts[k] = ts[j];
            out.ambiguous[k] = up && down;
            out.y[k] = if up && (!down || close[j] >= c0) {
                UP
            } else {
                DOWN
            };
        }
    }
}

#[inline]
fn direction(fwd: f64, r: f64) -> i8 {
    if fwd >= r {
        UP
    } else if fwd <= -r {
        DOWN
    } else {
        NONE
    }
}

/// Offset of the first bar whose high reaches `upper` or whose low reaches `lower`. Scans in
/// blocks of 8 without early exit inside a block so the compiler can vectorise the compares.
#[inline]
fn first_touch(high: &[f64], low: &[f64], upper: f64, lower: f64) -> Option<usize> {
    const B: usize = 8;
    let mut start = 0;
    for (hb, lb) in high.chunks(B).zip(low.chunks(B)) {
        let hit = hb
            .iter()
            .zip(lb)
            .fold(false, |acc, (&h, &l)| acc | (h >= upper) | (l <= lower));
        if hit {
            return hb
                .iter()
                .zip(lb)
                .position(|(&h, &l)| h >= upper || l <= lower)
                .map(|o| start + o);
        }
        start += hb.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series<'a>(ts: &'a [i64], close: &'a [f64], gap: Option<&'a [bool]>) -> BarSeries<'a> {
        BarSeries {
            symbol: None,
            ts,
            close,
            high: close,
            low: close,
            gap,
            spread_bps: None,
        }
    }

    fn fixed(kind: Kind, horizon_s: u32, r: f64) -> LabelParams {
        LabelParams {
            horizon_s,
            kind,
            threshold: Threshold::Fixed(r),
            threads: 1,
        }
    }

    #[test]
    fn barrier_touch_and_label_time() -> Result<(), KernelError> {
        let ts: Vec<i64> = (1..=5).map(|s| s * 1000).collect();
        let close = [100.0, 101.5, 100.0, 98.5, 100.0];
        let l = label(
            &series(&ts, &close, None),
            &fixed(Kind::TripleBarrier, 3, 0.01),
        )?;
        assert_eq!(l.valid, vec![true, true, false, false, false]);
        assert_eq!(l.y[..2], [UP, DOWN]);
        assert_eq!(l.touch_ts[..2], [2000, 3000]);
        assert_eq!(l.label_ts[..2], [4000, 5000]);
        Ok(())
    }

    #[test]
    fn gap_or_missing_second_in_horizon_gives_no_label() -> Result<(), KernelError> {
        let ts = [1000, 2000, 3000, 5000, 6000, 7000];
        let close = [1.0; 6];
        let gap = [false, false, false, false, true, false];
        let l = label(
            &series(&ts, &close, Some(&gap)),
            &fixed(Kind::FixedHorizon, 1, 0.01),
        )?;
        // 1000->2000 and 2000->3000 covered; 3000->4000 missing; 5000->6000 and 6000->7000 touch a gap.
        assert_eq!(l.valid, vec![true, true, false, false, false, false]);
        assert_eq!(l.y, vec![NONE; 6]);
        Ok(())
    }

    #[test]
    fn ambiguous_bar_resolves_by_its_close() -> Result<(), KernelError> {
        let ts = [1000, 2000];
        let close = [100.0, 100.0];
        let bars = BarSeries {
            high: &[100.0, 102.0],
            low: &[100.0, 98.0],
            ..series(&ts, &close, None)
        };
        let l = label(&bars, &fixed(Kind::TripleBarrier, 1, 0.01))?;
        assert_eq!((l.y[0], l.ambiguous[0]), (UP, true));
        Ok(())
    }

    #[test]
    fn thread_count_does_not_change_results() -> Result<(), KernelError> {
        let n = 3 * PIECE_ROWS + 17;
        let ts: Vec<i64> = (1..=n as i64).map(|s| s * 1000).collect();
        let close: Vec<f64> = (0..n)
            .map(|i| 100.0 + ((i * 7919) % 113) as f64 * 0.01)
            .collect();
        let d = Dynamic {
            window_s: 300,
            min_returns: 30,
            k: 1.0,
            r_min: 0.0,
            r_max: 0.05,
            cost_mult: 1.0,
            fee: 1e-4,
            slippage: 0.0,
        };
        let mut p = LabelParams {
            horizon_s: 60,
            kind: Kind::TripleBarrier,
            threshold: Threshold::Dynamic(d),
            threads: 1,
        };
        let one = label(&series(&ts, &close, None), &p)?;
        p.threads = 3;
        let three = label(&series(&ts, &close, None), &p)?;
        assert_eq!(
            one.r_t.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            three.r_t.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_eq!(one.y, three.y);
        assert_eq!(one.touch_ts, three.touch_ts);
        Ok(())
    }

    #[test]
    fn unsorted_rows_are_rejected() {
        let ts = [2000, 1000];
        let err = label(
            &series(&ts, &[1.0, 1.0], None),
            &fixed(Kind::FixedHorizon, 1, 0.01),
        )
        .err();
        assert!(err.is_some_and(|e| e.to_string().contains("bars row 1: ts = 1000")));
    }
}
