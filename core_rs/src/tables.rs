//! Borrowed columnar input tables (trades, quotes, gaps) and their row validation.
//!
//! Columns are plain slices so that numpy arrays reach the kernels without a copy.

use crate::error::{check_len, non_negative, positive, KernelError};

/// Length of one bar in milliseconds.
pub const BAR_MS: i64 = 1000;
/// Largest accepted event time (ms since the Unix epoch); keeps bar arithmetic far from overflow.
pub const MAX_TS_MS: i64 = 1 << 50;
/// Symbol ids are dense small integers chosen by the caller (the Python layer maps names to ids).
pub const MAX_SYMBOL_ID: u32 = 1 << 20;

/// End of the bar that holds an event at `ts`: the bar `[T - 1 s, T)` is stamped `T`, so an event
/// exactly on a second boundary opens the next bar.
#[inline]
pub fn bar_end(ts: i64) -> i64 {
    ts.div_euclid(BAR_MS) * BAR_MS + BAR_MS
}

/// Checks an event time and a symbol id of row `row`.
pub(crate) fn check_key(
    table: &'static str,
    row: usize,
    symbol: u32,
    ts: i64,
) -> Result<(), KernelError> {
    if !(0..=MAX_TS_MS).contains(&ts) {
        return Err(KernelError::InvalidKey {
            table,
            row,
            field: "ts",
            value: ts,
            rule: "must be in [0, 2^50] ms",
        });
    }
    if symbol >= MAX_SYMBOL_ID {
        return Err(KernelError::InvalidKey {
            table,
            row,
            field: "symbol",
            value: i64::from(symbol),
            rule: "symbol ids must be < 2^20",
        });
    }
    Ok(())
}

/// Trades as parallel columns; `taker_buy` is true when the aggressor bought.
#[derive(Debug, Clone, Copy)]
pub struct Trades<'a> {
    /// Dense symbol id per trade.
    pub symbol: &'a [u32],
    /// Exchange event time in ms.
    pub ts: &'a [i64],
    /// Trade price, finite and > 0.
    pub price: &'a [f64],
    /// Trade quantity, finite and > 0.
    pub qty: &'a [f64],
    /// True when the taker was the buyer.
    pub taker_buy: &'a [bool],
}

impl Trades<'_> {
    /// Number of rows, after checking that every column has the same length.
    pub fn rows(&self) -> Result<usize, KernelError> {
        let n = self.symbol.len();
        check_len("trades", "ts", n, self.ts.len())?;
        check_len("trades", "price", n, self.price.len())?;
        check_len("trades", "qty", n, self.qty.len())?;
        check_len("trades", "taker_buy", n, self.taker_buy.len())?;
        Ok(n)
    }

    /// Validates row `i` (which must be in bounds).
    #[inline]
    pub(crate) fn check_row(&self, i: usize) -> Result<(), KernelError> {
        check_key("trades", i, self.symbol[i], self.ts[i])?;
        positive("trades", i, "price", self.price[i])?;
        positive("trades", i, "qty", self.qty[i])
    }
}

/// Best bid/ask updates as parallel columns.
#[derive(Debug, Clone, Copy)]
pub struct Quotes<'a> {
    /// Dense symbol id per update.
    pub symbol: &'a [u32],
    /// Exchange event time in ms.
    pub ts: &'a [i64],
    /// Best bid price, finite and > 0.
    pub bid: &'a [f64],
    /// Quantity at the best bid, finite and >= 0.
    pub bid_qty: &'a [f64],
    /// Best ask price, finite and > 0 (a crossed book is accepted: feeds do cross briefly).
    pub ask: &'a [f64],
    /// Quantity at the best ask, finite and >= 0.
    pub ask_qty: &'a [f64],
}

impl Quotes<'_> {
    /// Number of rows, after checking that every column has the same length.
    pub fn rows(&self) -> Result<usize, KernelError> {
        let n = self.symbol.len();
        check_len("quotes", "ts", n, self.ts.len())?;
        check_len("quotes", "bid", n, self.bid.len())?;
        check_len("quotes", "bid_qty", n, self.bid_qty.len())?;
        check_len("quotes", "ask", n, self.ask.len())?;
        check_len("quotes", "ask_qty", n, self.ask_qty.len())?;
        Ok(n)
    }

    /// Validates row `i` (which must be in bounds).
    #[inline]
    pub(crate) fn check_row(&self, i: usize) -> Result<(), KernelError> {
        check_key("quotes", i, self.symbol[i], self.ts[i])?;
        positive("quotes", i, "bid", self.bid[i])?;
        positive("quotes", i, "ask", self.ask[i])?;
        non_negative("quotes", i, "bid_qty", self.bid_qty[i])?;
        non_negative("quotes", i, "ask_qty", self.ask_qty[i])
    }
}

/// Known collection gaps: `[start, end)` in ms per symbol. A bar `[T - 1 s, T)` that overlaps a
/// gap is flagged `gap = true`.
#[derive(Debug, Clone, Copy)]
pub struct Gaps<'a> {
    /// Dense symbol id per gap.
    pub symbol: &'a [u32],
    /// Inclusive start in ms.
    pub start: &'a [i64],
    /// Exclusive end in ms; must be > start.
    pub end: &'a [i64],
}

impl Gaps<'_> {
    /// Number of rows, after checking lengths and that every interval is well formed.
    pub fn validate(&self) -> Result<usize, KernelError> {
        let n = self.symbol.len();
        check_len("gaps", "start", n, self.start.len())?;
        check_len("gaps", "end", n, self.end.len())?;
        for i in 0..n {
            check_key("gaps", i, self.symbol[i], self.start[i])?;
            check_key("gaps", i, self.symbol[i], self.end[i])?;
            if self.end[i] <= self.start[i] {
                return Err(KernelError::InvalidKey {
                    table: "gaps",
                    row: i,
                    field: "end",
                    value: self.end[i],
                    rule: "must be > start",
                });
            }
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundary_trade_opens_next_bar() {
        assert_eq!(bar_end(5000), 6000);
        assert_eq!(bar_end(4999), 5000);
        assert_eq!(bar_end(0), 1000);
    }

    #[test]
    fn invalid_rows_are_named() {
        let t = Trades {
            symbol: &[0, 0],
            ts: &[1, 2],
            price: &[1.0, f64::NAN],
            qty: &[1.0, 1.0],
            taker_buy: &[true, false],
        };
        assert!(t.check_row(0).is_ok());
        let msg = t.check_row(1).map_err(|e| e.to_string()).err();
        assert_eq!(
            msg.as_deref(),
            Some("trades row 1: price = NaN is invalid (must be finite and > 0)")
        );
    }
}
