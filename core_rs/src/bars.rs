//! Batch one-second bars for one or many symbols, from unsorted or sorted input.
//!
//! No sort is needed: a first pass finds each symbol's first and last bar, a second pass adds
//! every trade (and quote) to its bar slot directly. Open/close are chosen by (event time,
//! input row), so the result does not depend on the input order except that among events with
//! equal timestamps the earlier input row comes first. Sums are accumulated in input order.
//!
//! Output rows: symbols ascending, then `ts` ascending; every second between a symbol's first
//! and last bar (trade or quote) gets a row.

use crate::acc::{Bars, Carry, QuoteAcc, TradeAcc};
use crate::error::KernelError;
use crate::tables::{bar_end, Gaps, Quotes, Trades, BAR_MS};

/// First and last bar end per symbol, indexed by dense symbol id.
#[derive(Debug, Default)]
struct Spans {
    first: Vec<i64>,
    last: Vec<i64>,
}

impl Spans {
    #[inline]
    fn see(&mut self, symbol: u32, end: i64) {
        let s = symbol as usize;
        if s >= self.first.len() {
            self.first.resize(s + 1, i64::MAX);
            self.last.resize(s + 1, i64::MIN);
        }
        self.first[s] = self.first[s].min(end);
        self.last[s] = self.last[s].max(end);
    }

    fn merge(&mut self, other: &Spans) {
        for (s, (&f, &l)) in other.first.iter().zip(&other.last).enumerate() {
            if f <= l {
                self.see(s as u32, f);
                self.see(s as u32, l);
            }
        }
    }

    /// Row offset of each symbol's first bar in the output (`usize::MAX` for absent symbols)
    /// and the total number of rows.
    fn offsets(&self) -> (Vec<usize>, usize) {
        let mut total = 0usize;
        let offsets = self
            .first
            .iter()
            .zip(&self.last)
            .map(|(&f, &l)| {
                if f > l {
                    return usize::MAX;
                }
                let at = total;
                total += ((l - f) / BAR_MS) as usize + 1;
                at
            })
            .collect();
        (offsets, total)
    }
}

/// Validation and spans of trade rows `[lo, hi)`, and whether each of them is sorted by
/// (symbol, ts) after the row before it.
fn scan_trades(t: &Trades<'_>, lo: usize, hi: usize) -> Result<(Spans, bool), KernelError> {
    let mut spans = Spans::default();
    let mut sorted = true;
    for i in lo..hi {
        t.check_row(i)?;
        spans.see(t.symbol[i], bar_end(t.ts[i]));
        if i > 0 {
            sorted &= (t.symbol[i - 1], t.ts[i - 1]) <= (t.symbol[i], t.ts[i]);
        }
    }
    Ok((spans, sorted))
}

/// First row in `0..n` where the monotone predicate `at_or_after` holds (`n` if none).
fn first_row(n: usize, at_or_after: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if at_or_after(mid) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    lo
}

/// Runs `f` on `threads` contiguous row ranges of `0..n` in parallel, results in range order.
fn split_rows<R: Send>(n: usize, threads: usize, f: impl Fn(usize, usize) -> R + Sync) -> Vec<R> {
    if threads <= 1 || n < 1 << 16 {
        return vec![f(0, n)];
    }
    std::thread::scope(|scope| {
        let f = &f;
        let handles: Vec<_> = (0..threads)
            .map(|k| scope.spawn(move || f(n * k / threads, n * (k + 1) / threads)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    })
}

/// Aggregates trades (and optionally best bid/ask updates) into one-second bars, single-threaded.
///
/// `gaps` flags the bars that overlap a declared collection gap. Rejects any NaN, infinite, zero
/// or negative price/quantity and any out-of-range time or symbol id, naming the row.
pub fn aggregate(
    trades: &Trades<'_>,
    quotes: Option<&Quotes<'_>>,
    gaps: Option<&Gaps<'_>>,
) -> Result<Bars, KernelError> {
    aggregate_with_threads(trades, quotes, gaps, 1)
}

/// [`aggregate`] on up to `threads` threads. Each thread owns a contiguous range of output bars
/// and adds the trades of its bars in input order, so the result is identical for any count.
pub fn aggregate_with_threads(
    trades: &Trades<'_>,
    quotes: Option<&Quotes<'_>>,
    gaps: Option<&Gaps<'_>>,
    threads: usize,
) -> Result<Bars, KernelError> {
    let n = trades.rows()?;
    let mut spans = Spans::default();
    let mut sorted = true;
    // Each part stops at its first invalid row and parts are in row order: the first error wins.
    for part in split_rows(n, threads, |lo, hi| scan_trades(trades, lo, hi)) {
        let (part_spans, part_sorted) = part?;
        spans.merge(&part_spans);
        sorted &= part_sorted;
    }
    if let Some(q) = quotes {
        for i in 0..q.rows()? {
            q.check_row(i)?;
            spans.see(q.symbol[i], bar_end(q.ts[i]));
        }
    }
    let (offsets, total) = spans.offsets();
    let slot = |symbol: u32, ts: i64| {
        let s = symbol as usize;
        offsets[s] + ((bar_end(ts) - spans.first[s]) / BAR_MS) as usize
    };

    let mut trade_acc = vec![TradeAcc::EMPTY; total];
    // Sorted input: rows of one slot range are one row range. Otherwise every worker scans all
    // rows and keeps those in its slot range.
    let workers = if total < 1 << 12 || n < 1 << 16 {
        1
    } else {
        threads.clamp(1, 64)
    };
    std::thread::scope(|scope| {
        let mut rest: &mut [TradeAcc] = &mut trade_acc;
        let mut lo_slot = 0;
        for k in 0..workers {
            let hi_slot = total * (k + 1) / workers;
            let (mine, others) = rest.split_at_mut(hi_slot - lo_slot);
            rest = others;
            let base = lo_slot;
            lo_slot = hi_slot;
            let rows = if sorted {
                let first = first_row(n, |i| slot(trades.symbol[i], trades.ts[i]) >= base);
                let last = first_row(n, |i| slot(trades.symbol[i], trades.ts[i]) >= hi_slot);
                first..last
            } else {
                0..n
            };
            let work = move || {
                for i in rows {
                    let r = slot(trades.symbol[i], trades.ts[i]);
                    if (base..hi_slot).contains(&r) {
                        mine[r - base].add(
                            trades.ts[i],
                            i as u64,
                            trades.price[i],
                            trades.qty[i],
                            trades.taker_buy[i],
                        );
                    }
                }
            };
            if k + 1 == workers {
                work();
            } else {
                scope.spawn(work);
            }
        }
    });
    let quote_acc = quotes.map(|q| {
        let mut acc = vec![QuoteAcc::EMPTY; total];
        for i in 0..q.symbol.len() {
            acc[slot(q.symbol[i], q.ts[i])].add(
                q.ts[i],
                i as u64,
                q.bid[i],
                q.bid_qty[i],
                q.ask[i],
                q.ask_qty[i],
            );
        }
        acc
    });
    let gap_flags = match gaps {
        Some(g) => gap_flags(g, &spans, &offsets, total)?,
        None => vec![false; total],
    };

    let mut out = Bars::with_capacity(total, quotes.is_some());
    for (s, &offset) in offsets.iter().enumerate() {
        if offset == usize::MAX {
            continue;
        }
        let rows = ((spans.last[s] - spans.first[s]) / BAR_MS) as usize + 1;
        let mut carry = Carry::START;
        for k in 0..rows {
            let r = offset + k;
            let q = quote_acc.as_ref().map(|acc| &acc[r]);
            out.push(
                s as u32,
                spans.first[s] + k as i64 * BAR_MS,
                gap_flags[r],
                &trade_acc[r],
                q,
                &mut carry,
            );
        }
    }
    Ok(out)
}

/// Marks every output row whose bar `[T - 1 s, T)` overlaps a gap `[start, end)` of its symbol.
fn gap_flags(
    gaps: &Gaps<'_>,
    spans: &Spans,
    offsets: &[usize],
    total: usize,
) -> Result<Vec<bool>, KernelError> {
    let mut flags = vec![false; total];
    for i in 0..gaps.validate()? {
        let s = gaps.symbol[i] as usize;
        if offsets.get(s).is_none_or(|&o| o == usize::MAX) {
            continue;
        }
        // Overlap of [T-1000, T) and [start, end) <=> start < T < end + 1000.
        let lo = bar_end(gaps.start[i]).max(spans.first[s]);
        let hi = (gaps.end[i] + BAR_MS - 1).min(spans.last[s]);
        let mut t = lo;
        while t <= hi {
            flags[offsets[s] + ((t - spans.first[s]) / BAR_MS) as usize] = true;
            t += BAR_MS;
        }
    }
    Ok(flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trades<'a>(
        symbol: &'a [u32],
        ts: &'a [i64],
        price: &'a [f64],
        qty: &'a [f64],
        buy: &'a [bool],
    ) -> Trades<'a> {
        Trades {
            symbol,
            ts,
            price,
            qty,
            taker_buy: buy,
        }
    }

    #[test]
    fn empty_second_carries_close_and_is_stale() -> Result<(), KernelError> {
        let t = trades(
            &[0, 0, 0],
            &[5000, 5999, 7500],
            &[10.0, 11.0, 12.0],
            &[1.0, 2.0, 1.0],
            &[true, false, true],
        );
        let b = aggregate(&t, None, None)?;
        assert_eq!(b.ts, vec![6000, 7000, 8000]);
        assert_eq!(b.stale, vec![false, true, false]);
        assert_eq!(b.trade.close, vec![11.0, 11.0, 12.0]);
        assert_eq!(b.trade.open[1], 11.0);
        assert_eq!(b.trade.volume, vec![3.0, 0.0, 1.0]);
        assert_eq!(b.trade.buy_volume[0], 1.0);
        assert_eq!(b.trade.sell_volume[0], 2.0);
        Ok(())
    }

    #[test]
    fn equal_timestamps_are_ordered_by_input_row() -> Result<(), KernelError> {
        let t = trades(
            &[0, 0, 0],
            &[1500, 1200, 1500],
            &[3.0, 1.0, 2.0],
            &[1.0; 3],
            &[true; 3],
        );
        let b = aggregate(&t, None, None)?;
        assert_eq!((b.trade.open[0], b.trade.close[0]), (1.0, 2.0));
        Ok(())
    }

    #[test]
    fn gap_overlap_is_half_open() -> Result<(), KernelError> {
        let t = trades(&[0, 0], &[0, 5500], &[1.0, 1.0], &[1.0, 1.0], &[true, true]);
        let g = Gaps {
            symbol: &[0],
            start: &[2000],
            end: &[3001],
        };
        let b = aggregate(&t, None, Some(&g))?;
        // Bars [2000,3000) and [3000,4000) overlap [2000,3001); [1000,2000) does not.
        assert_eq!(b.gap, vec![false, false, true, true, false, false]);
        Ok(())
    }

    #[test]
    fn thread_count_does_not_change_bars() -> Result<(), KernelError> {
        let n = 200_000usize;
        // Pseudo-random symbols and times: unsorted, then the same rows sorted by (symbol, ts).
        let mix = |i: usize, m: usize| (i.wrapping_mul(2_654_435_761) >> 7) % m;
        let mut rows: Vec<(u32, i64, f64)> = (0..n)
            .map(|i| {
                (
                    mix(i, 7) as u32,
                    1_000_000 + mix(i + 11, 9_000_000) as i64,
                    1.0 + mix(i, 1000) as f64,
                )
            })
            .collect();
        for pass in 0..2 {
            if pass == 1 {
                rows.sort_by_key(|r| (r.0, r.1));
            }
            let symbol: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let ts: Vec<i64> = rows.iter().map(|r| r.1).collect();
            let price: Vec<f64> = rows.iter().map(|r| r.2).collect();
            let qty = vec![0.5; n];
            let buy: Vec<bool> = (0..n).map(|i| i % 3 == 0).collect();
            let t = trades(&symbol, &ts, &price, &qty, &buy);
            // Debug text compares NaN (empty-second vwap) as equal, unlike `==`.
            let one = format!("{:?}", aggregate(&t, None, None)?);
            assert!(
                one == format!("{:?}", aggregate_with_threads(&t, None, None, 3)?),
                "pass {pass}"
            );
        }
        Ok(())
    }

    #[test]
    fn zero_quantity_is_rejected_with_row() {
        let t = trades(&[0, 0], &[0, 1], &[1.0, 1.0], &[1.0, 0.0], &[true, true]);
        let err = aggregate(&t, None, None).map_err(|e| e.to_string()).err();
        assert_eq!(
            err.as_deref(),
            Some("trades row 1: qty = 0 is invalid (must be finite and > 0)")
        );
    }
}
