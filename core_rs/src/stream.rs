//! Streaming one-second bar aggregator with a watermark, revisions and late-trade accounting.
//!
//! Time rules (all on exchange event time):
//! * `max_ts` is the largest event time seen so far over all symbols of the aggregator, and the
//!   watermark is `max_ts - grace_ms`. A bar `[T - 1 s, T)` is emitted once `watermark >= T`.
//! * An emitted bar stays open for revision while `T + lateness_ms > watermark`. A trade (or
//!   quote) landing in such a bar is applied and the bar is emitted again with `revision + 1`.
//!   This is the "late within grace" case; `lateness_ms = 0` means an emitted bar is final.
//! * An event whose bar is already final (`T + lateness_ms <= watermark` at the moment the
//!   event is processed, or `T` at or before a bar already dropped from memory) is not applied
//!   and is counted in `late_dropped` / `late_dropped_quotes`. It still belongs in the trades
//!   table; a batch rebuild over stored trades reproduces the exact bars.
//! * Empty seconds between two bars of a symbol are emitted as stale rows, exactly as the batch
//!   kernel does; a revision that changes a close also re-emits the stale rows that carry it.
//! * Events are processed in the order passed (the arrival order), which is also the tie order
//!   for equal timestamps, so the last revision of every bar equals [`crate::bars::aggregate`]
//!   over the applied events in arrival order.
//!
//! Declared gaps are a batch-only concept (`cqt bars rebuild`); streamed rows carry `gap = false`.

use std::collections::VecDeque;

use crate::acc::{Bars, Carry, QuoteAcc, TradeAcc};
use crate::error::KernelError;
use crate::tables::{bar_end, Quotes, Trades, BAR_MS, MAX_TS_MS};

/// Settings of a [`StreamAggregator`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamConfig {
    /// Watermark lag: bars are emitted once `max_ts - grace_ms >= T`.
    pub grace_ms: i64,
    /// How long (in watermark time) an emitted bar still accepts late events.
    pub lateness_ms: i64,
    /// Whether quote columns are produced (and `push_quotes` accepted).
    pub with_quotes: bool,
}

/// Bars emitted by one call: new rows have `revision = 0`, revised rows a higher number.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Emitted {
    /// The rows, grouped by symbol in first-seen order, ascending `ts` within a symbol.
    pub bars: Bars,
    /// Revision number per row.
    pub revision: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Slot {
    trade: TradeAcc,
    quote: QuoteAcc,
    revision: Option<u32>,
    dirty_trade: bool,
    dirty_quote: bool,
}

impl Slot {
    const EMPTY: Self = Self {
        trade: TradeAcc::EMPTY,
        quote: QuoteAcc::EMPTY,
        revision: None,
        dirty_trade: false,
        dirty_quote: false,
    };
}

#[derive(Debug)]
struct SymbolState {
    id: u32,
    /// Bar end of `slots[0]`.
    base: i64,
    slots: VecDeque<Slot>,
    /// Carry state just before `slots[0]`.
    carry: Carry,
    /// Last bar end dropped from memory (final); `i64::MIN` when none.
    sealed: i64,
}

impl SymbolState {
    fn slot_mut(&mut self, end: i64) -> &mut Slot {
        if self.slots.is_empty() {
            self.base = if self.sealed == i64::MIN {
                end
            } else {
                self.sealed + BAR_MS
            };
        }
        while end < self.base {
            self.slots.push_front(Slot::EMPTY);
            self.base -= BAR_MS;
        }
        let k = ((end - self.base) / BAR_MS) as usize;
        if k >= self.slots.len() {
            self.slots.resize(k + 1, Slot::EMPTY);
        }
        &mut self.slots[k]
    }
}

/// Stateful one-second bar builder fed with batches of trades and quotes.
#[derive(Debug)]
pub struct StreamAggregator {
    cfg: StreamConfig,
    symbols: Vec<SymbolState>,
    /// Dense symbol id -> index into `symbols` (`u32::MAX` when unseen).
    index: Vec<u32>,
    max_ts: i64,
    seq: u64,
    late_dropped: u64,
    late_dropped_quotes: u64,
}

impl StreamAggregator {
    /// Creates an aggregator; `grace_ms` and `lateness_ms` must be in `[0, 2^50]`.
    pub fn new(cfg: StreamConfig) -> Result<Self, KernelError> {
        for (name, v) in [("grace_ms", cfg.grace_ms), ("lateness_ms", cfg.lateness_ms)] {
            if !(0..=MAX_TS_MS).contains(&v) {
                return Err(KernelError::InvalidParam {
                    name,
                    reason: format!("{v} is not in [0, 2^50]"),
                });
            }
        }
        Ok(Self {
            cfg,
            symbols: Vec::new(),
            index: Vec::new(),
            max_ts: i64::MIN,
            seq: 0,
            late_dropped: 0,
            late_dropped_quotes: 0,
        })
    }

    /// Trades not applied because their bar was already final.
    pub fn late_dropped(&self) -> u64 {
        self.late_dropped
    }

    /// Quote updates not applied because their bar was already final.
    pub fn late_dropped_quotes(&self) -> u64 {
        self.late_dropped_quotes
    }

    /// Current watermark (`max_ts - grace_ms`), `None` before the first event.
    pub fn watermark(&self) -> Option<i64> {
        (self.max_ts != i64::MIN).then(|| self.max_ts - self.cfg.grace_ms)
    }

    /// Applies a batch of trades in the given order and returns the bars it closed or revised.
    /// The batch is validated first: an invalid row rejects the whole batch and changes nothing.
    pub fn push_trades(&mut self, t: &Trades<'_>) -> Result<Emitted, KernelError> {
        let n = t.rows()?;
        for i in 0..n {
            t.check_row(i)?;
        }
        for i in 0..n {
            let (ts, end, seq) = (t.ts[i], bar_end(t.ts[i]), self.seq);
            let Some(state) = self.accepting(t.symbol[i], end) else {
                self.late_dropped += 1;
                continue;
            };
            let slot = state.slot_mut(end);
            slot.trade
                .add(ts, seq, t.price[i], t.qty[i], t.taker_buy[i]);
            slot.dirty_trade = true;
            self.seq += 1;
            self.max_ts = self.max_ts.max(ts);
        }
        Ok(self.emit(self.watermark().unwrap_or(i64::MIN)))
    }

    /// Applies a batch of best bid/ask updates; requires `with_quotes`.
    pub fn push_quotes(&mut self, q: &Quotes<'_>) -> Result<Emitted, KernelError> {
        if !self.cfg.with_quotes {
            return Err(KernelError::InvalidParam {
                name: "with_quotes",
                reason: "quotes pushed to an aggregator created without quotes".into(),
            });
        }
        let n = q.rows()?;
        for i in 0..n {
            q.check_row(i)?;
        }
        for i in 0..n {
            let (ts, end, seq) = (q.ts[i], bar_end(q.ts[i]), self.seq);
            let Some(state) = self.accepting(q.symbol[i], end) else {
                self.late_dropped_quotes += 1;
                continue;
            };
            let slot = state.slot_mut(end);
            slot.quote
                .add(ts, seq, q.bid[i], q.bid_qty[i], q.ask[i], q.ask_qty[i]);
            slot.dirty_quote = true;
            self.seq += 1;
            self.max_ts = self.max_ts.max(ts);
        }
        Ok(self.emit(self.watermark().unwrap_or(i64::MIN)))
    }

    /// Closes every open bar (end of stream). Later events for these bars count as dropped.
    pub fn flush(&mut self) -> Emitted {
        self.emit(i64::MAX)
    }

    /// The state of `symbol` if an event in bar `end` may still be applied.
    #[inline]
    fn accepting(&mut self, symbol: u32, end: i64) -> Option<&mut SymbolState> {
        if self.max_ts != i64::MIN && end + self.cfg.lateness_ms <= self.max_ts - self.cfg.grace_ms
        {
            return None;
        }
        let s = symbol as usize;
        if s >= self.index.len() {
            self.index.resize(s + 1, u32::MAX);
        }
        if self.index[s] == u32::MAX {
            self.index[s] = self.symbols.len() as u32;
            self.symbols.push(SymbolState {
                id: symbol,
                base: end,
                slots: VecDeque::new(),
                carry: Carry::START,
                sealed: i64::MIN,
            });
        }
        let state = &mut self.symbols[self.index[s] as usize];
        (end > state.sealed).then_some(state)
    }

    /// Emits new and revised bars with `T <= w`, then forgets bars that became final.
    fn emit(&mut self, w: i64) -> Emitted {
        let with_quotes = self.cfg.with_quotes;
        let final_until = w.saturating_sub(self.cfg.lateness_ms);
        let mut out = Emitted {
            bars: Bars::with_capacity(0, with_quotes),
            revision: Vec::new(),
        };
        for state in &mut self.symbols {
            let mut carry = state.carry;
            let (mut moved_close, mut moved_book) = (false, false);
            for (k, slot) in state.slots.iter_mut().enumerate() {
                let end = state.base + k as i64 * BAR_MS;
                if end > w {
                    break;
                }
                let (has_trades, has_quotes) = (slot.trade.n() > 0, slot.quote.n() > 0);
                let revision = match slot.revision {
                    None => Some(0),
                    Some(r)
                        if slot.dirty_trade
                            || slot.dirty_quote
                            || (moved_close && !has_trades)
                            || (moved_book && !has_quotes) =>
                    {
                        Some(r + 1)
                    }
                    Some(_) => None,
                };
                // The carry leaving this bar changed iff its own data changed, or it has none of
                // its own and the carry entering it changed.
                moved_close = if has_trades {
                    slot.dirty_trade
                } else {
                    moved_close
                };
                moved_book = if has_quotes {
                    slot.dirty_quote
                } else {
                    moved_book
                };
                slot.dirty_trade = false;
                slot.dirty_quote = false;
                let quote = with_quotes.then_some(&slot.quote);
                match revision {
                    Some(r) => {
                        slot.revision = Some(r);
                        out.bars
                            .push(state.id, end, false, &slot.trade, quote, &mut carry);
                        out.revision.push(r);
                    }
                    None => carry.advance(&slot.trade, quote),
                }
            }
            while state.base <= final_until {
                let Some(slot) = state.slots.pop_front() else {
                    break;
                };
                state
                    .carry
                    .advance(&slot.trade, with_quotes.then_some(&slot.quote));
                state.sealed = state.base;
                state.base += BAR_MS;
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn agg(grace_ms: i64, lateness_ms: i64) -> Result<StreamAggregator, KernelError> {
        StreamAggregator::new(StreamConfig {
            grace_ms,
            lateness_ms,
            with_quotes: false,
        })
    }

    fn push(a: &mut StreamAggregator, ts: &[i64], price: &[f64]) -> Result<Emitted, KernelError> {
        let n = ts.len();
        let (symbol, qty, buy) = (vec![7u32; n], vec![1.0; n], vec![true; n]);
        a.push_trades(&Trades {
            symbol: &symbol,
            ts,
            price,
            qty: &qty,
            taker_buy: &buy,
        })
    }

    #[test]
    fn bar_is_emitted_exactly_when_watermark_reaches_its_end() -> Result<(), KernelError> {
        let mut a = agg(500, 0)?;
        assert!(push(&mut a, &[100], &[1.0])?.bars.is_empty());
        // max_ts 1499 -> watermark 999 < 1000: still open.
        assert!(push(&mut a, &[1499], &[2.0])?.bars.is_empty());
        // max_ts 1500 -> watermark 1000 == bar end: emitted.
        let e = push(&mut a, &[1500], &[3.0])?;
        assert_eq!((e.bars.ts.clone(), e.revision), (vec![1000], vec![0]));
        Ok(())
    }

    #[test]
    fn late_trade_within_lateness_revises_bar_and_carried_stale_rows() -> Result<(), KernelError> {
        let mut a = agg(0, 3000)?;
        push(&mut a, &[100, 3100], &[1.0, 5.0])?;
        // Bars 1000 (close 1.0), 2000 and 3000 (stale, carry 1.0) are out; 4000 is open.
        let e = push(&mut a, &[900], &[2.0])?;
        assert_eq!(e.bars.ts, vec![1000, 2000, 3000]);
        assert_eq!(e.revision, vec![1, 1, 1]);
        assert_eq!(e.bars.trade.close, vec![2.0, 2.0, 2.0]);
        assert_eq!(a.late_dropped(), 0);
        Ok(())
    }

    #[test]
    fn trade_after_lateness_is_counted_and_not_applied() -> Result<(), KernelError> {
        let mut a = agg(0, 1000)?;
        push(&mut a, &[100, 2000], &[1.0, 5.0])?;
        // Watermark 2000: bar 1000 is final (1000 + 1000 <= 2000), bar 2000 still revisable.
        let e = push(&mut a, &[999, 1000], &[9.0, 4.0])?;
        assert_eq!(a.late_dropped(), 1);
        assert_eq!((e.bars.ts.clone(), e.revision), (vec![2000], vec![1]));
        assert_eq!(e.bars.trade.open, vec![4.0]);
        Ok(())
    }

    #[test]
    fn flush_closes_all_and_seals_them() -> Result<(), KernelError> {
        let mut a = agg(10_000, 0)?;
        assert!(push(&mut a, &[100, 2500], &[1.0, 2.0])?.bars.is_empty());
        let e = a.flush();
        assert_eq!(e.bars.ts, vec![1000, 2000, 3000]);
        assert_eq!(e.bars.stale, vec![false, true, false]);
        push(&mut a, &[2999], &[3.0])?;
        assert_eq!(a.late_dropped(), 1);
        Ok(())
    }

    #[test]
    fn invalid_row_rejects_whole_batch() -> Result<(), KernelError> {
        let mut a = agg(0, 0)?;
        assert!(push(&mut a, &[100, 200], &[1.0, -1.0]).is_err());
        assert_eq!(a.watermark(), None);
        Ok(())
    }

    #[test]
    fn earlier_first_bar_extends_the_symbol_backwards() -> Result<(), KernelError> {
        let mut a = agg(0, 5000)?;
        push(&mut a, &[3100, 3200], &[5.0, 6.0])?;
        let e = push(&mut a, &[1100], &[1.0])?;
        assert_eq!(e.bars.ts, vec![2000, 3000]);
        assert_eq!(e.revision, vec![0, 0]);
        assert_eq!(e.bars.stale, vec![false, true]);
        Ok(())
    }
}
