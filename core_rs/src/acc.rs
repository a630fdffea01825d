//! Per-bar accumulators and the columnar bar output shared by the batch and streaming paths.
//!
//! Order inside a bar is (event time, sequence number): the sequence number is the input row in
//! batch mode and the arrival order in streaming mode, so among trades with equal timestamps the
//! one passed first is the earlier one (stable by input position).

/// Trade part of one bar while it is being built.
#[derive(Debug, Clone, Copy)]
pub struct TradeAcc {
    first_ts: i64,
    first_seq: u64,
    last_ts: i64,
    last_seq: u64,
    open: f64,
    close: f64,
    high: f64,
    low: f64,
    volume: f64,
    notional: f64,
    buy_volume: f64,
    sell_volume: f64,
    n: u32,
}

impl TradeAcc {
    /// A bar without trades.
    pub const EMPTY: Self = Self {
        first_ts: i64::MAX,
        first_seq: u64::MAX,
        last_ts: i64::MIN,
        last_seq: 0,
        open: f64::NAN,
        close: f64::NAN,
        high: f64::NEG_INFINITY,
        low: f64::INFINITY,
        volume: 0.0,
        notional: 0.0,
        buy_volume: 0.0,
        sell_volume: 0.0,
        n: 0,
    };

    /// Number of trades added so far.
    #[inline]
    pub fn n(&self) -> u32 {
        self.n
    }

    /// Adds one validated trade.
    #[inline]
    pub fn add(&mut self, ts: i64, seq: u64, price: f64, qty: f64, taker_buy: bool) {
        if ts < self.first_ts || (ts == self.first_ts && seq < self.first_seq) {
            self.first_ts = ts;
            self.first_seq = seq;
            self.open = price;
        }
        if ts > self.last_ts || (ts == self.last_ts && seq >= self.last_seq) {
            self.last_ts = ts;
            self.last_seq = seq;
            self.close = price;
        }
        self.high = self.high.max(price);
        self.low = self.low.min(price);
        self.volume += qty;
        self.notional += price * qty;
        if taker_buy {
            self.buy_volume += qty;
        } else {
            self.sell_volume += qty;
        }
        self.n += 1;
    }
}

/// Quote (best bid/ask) part of one bar while it is being built.
#[derive(Debug, Clone, Copy)]
pub struct QuoteAcc {
    first_ts: i64,
    first_seq: u64,
    last_ts: i64,
    last_seq: u64,
    bid_open: f64,
    bid_high: f64,
    bid_low: f64,
    bid_close: f64,
    ask_open: f64,
    ask_high: f64,
    ask_low: f64,
    ask_close: f64,
    bid_qty: f64,
    ask_qty: f64,
    n: u32,
}

impl QuoteAcc {
    /// A bar without quote updates.
    pub const EMPTY: Self = Self {
        first_ts: i64::MAX,
        first_seq: u64::MAX,
        last_ts: i64::MIN,
        last_seq: 0,
        bid_open: f64::NAN,
        bid_high: f64::NEG_INFINITY,
        bid_low: f64::INFINITY,
        bid_close: f64::NAN,
        ask_open: f64::NAN,
        ask_high: f64::NEG_INFINITY,
        ask_low: f64::INFINITY,
        ask_close: f64::NAN,
        bid_qty: f64::NAN,
        ask_qty: f64::NAN,
        n: 0,
    };

    /// Number of quote updates added so far.
    #[inline]
    pub fn n(&self) -> u32 {
        self.n
    }

    /// Adds one validated best bid/ask update.
    #[inline]
    #[allow(clippy::too_many_arguments)]
    pub fn add(&mut self, ts: i64, seq: u64, bid: f64, bid_qty: f64, ask: f64, ask_qty: f64) {
        if ts < self.first_ts || (ts == self.first_ts && seq < self.first_seq) {
            self.first_ts = ts;
            self.first_seq = seq;
            self.bid_open = bid;
            self.ask_open = ask;
        }
        if ts > self.last_ts || (ts == self.last_ts && seq >= self.last_seq) {
            self.last_ts = ts;
            self.last_seq = seq;
            self.bid_close = bid;
            self.ask_close = ask;
            self.bid_qty = bid_qty;
            self.ask_qty = ask_qty;
        }
        self.bid_high = self.bid_high.max(bid);
        self.bid_low = self.bid_low.min(bid);
        self.ask_high = self.ask_high.max(ask);
        self.ask_low = self.ask_low.min(ask);
        self.n += 1;
    }
}

/// State carried from one bar of a symbol to the next: empty seconds repeat it.
#[derive(Debug, Clone, Copy)]
pub struct Carry {
    close: f64,
    bid: f64,
    ask: f64,
    bid_qty: f64,
    ask_qty: f64,
}

impl Carry {
    /// Before the first bar of a symbol nothing is known: carried prices are NaN.
    pub const START: Self = Self {
        close: f64::NAN,
        bid: f64::NAN,
        ask: f64::NAN,
        bid_qty: f64::NAN,
        ask_qty: f64::NAN,
    };

    /// Moves the carry past one bar.
    #[inline]
    pub fn advance(&mut self, trade: &TradeAcc, quote: Option<&QuoteAcc>) {
        if trade.n > 0 {
            self.close = trade.close;
        }
        if let Some(q) = quote.filter(|q| q.n > 0) {
            self.bid = q.bid_close;
            self.ask = q.ask_close;
            self.bid_qty = q.bid_qty;
            self.ask_qty = q.ask_qty;
        }
    }
}

/// Trade columns of finished bars. For a second without trades, o/h/l/c repeat the previous
/// close (NaN before the symbol's first trade), volumes are 0, `vwap` is NaN and
/// `first_trade_ts`/`last_trade_ts` are -1 (mask with `n_trades > 0`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TradeColumns {
    /// First trade price.
    pub open: Vec<f64>,
    /// Highest trade price.
    pub high: Vec<f64>,
    /// Lowest trade price.
    pub low: Vec<f64>,
    /// Last trade price.
    pub close: Vec<f64>,
    /// Sum of quantities.
    pub volume: Vec<f64>,
    /// Sum of price * quantity.
    pub notional: Vec<f64>,
    /// notional / volume.
    pub vwap: Vec<f64>,
    /// Volume where the taker bought.
    pub buy_volume: Vec<f64>,
    /// Volume where the taker sold.
    pub sell_volume: Vec<f64>,
    /// Number of trades.
    pub n_trades: Vec<u32>,
    /// Event time of the first trade.
    pub first_trade_ts: Vec<i64>,
    /// Event time of the last trade.
    pub last_trade_ts: Vec<i64>,
}

/// Quote columns of finished bars. A second without updates repeats the previous book (all four
/// of o/h/l/c equal to it); before the first update of a symbol everything is NaN.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QuoteColumns {
    /// First best bid.
    pub bid_open: Vec<f64>,
    /// Highest best bid.
    pub bid_high: Vec<f64>,
    /// Lowest best bid.
    pub bid_low: Vec<f64>,
    /// Last best bid.
    pub bid_close: Vec<f64>,
    /// First best ask.
    pub ask_open: Vec<f64>,
    /// Highest best ask.
    pub ask_high: Vec<f64>,
    /// Lowest best ask.
    pub ask_low: Vec<f64>,
    /// Last best ask.
    pub ask_close: Vec<f64>,
    /// 10_000 * (ask - bid) / mid at close.
    pub spread_bps: Vec<f64>,
    /// (bid + ask) / 2 at close.
    pub mid: Vec<f64>,
    /// (bid_qty - ask_qty) / (bid_qty + ask_qty) at close; NaN when both are 0.
    pub imbalance: Vec<f64>,
    /// Number of quote updates.
    pub n_quotes: Vec<u32>,
}

/// Finished bars, one row per (symbol, second), in columns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bars {
    /// Dense symbol id.
    pub symbol: Vec<u32>,
    /// Bar end in ms: the bar covers `[ts - 1000, ts)`.
    pub ts: Vec<i64>,
    /// True when the second had no trade.
    pub stale: Vec<bool>,
    /// True when the second overlaps a declared collection gap.
    pub gap: Vec<bool>,
    /// Trade fields.
    pub trade: TradeColumns,
    /// Quote fields, present when quotes were part of the input.
    pub quote: Option<QuoteColumns>,
}

impl Bars {
    /// Empty output with room for `rows` rows; quote columns only when `with_quotes`.
    pub fn with_capacity(rows: usize, with_quotes: bool) -> Self {
        let f = || Vec::with_capacity(rows);
        let trade = TradeColumns {
            open: f(),
            high: f(),
            low: f(),
            close: f(),
            volume: f(),
            notional: f(),
            vwap: f(),
            buy_volume: f(),
            sell_volume: f(),
            n_trades: Vec::with_capacity(rows),
            first_trade_ts: Vec::with_capacity(rows),
            last_trade_ts: Vec::with_capacity(rows),
        };
        let quote = with_quotes.then(|| QuoteColumns {
            bid_open: f(),
            bid_high: f(),
            bid_low: f(),
            bid_close: f(),
            ask_open: f(),
            ask_high: f(),
            ask_low: f(),
            ask_close: f(),
            spread_bps: f(),
            mid: f(),
            imbalance: f(),
            n_quotes: Vec::with_capacity(rows),
        });
        Self {
            symbol: Vec::with_capacity(rows),
            ts: Vec::with_capacity(rows),
            stale: Vec::with_capacity(rows),
            gap: Vec::with_capacity(rows),
            trade,
            quote,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ts.len()
    }

    /// True when there is no row.
    pub fn is_empty(&self) -> bool {
        self.ts.is_empty()
    }

    /// Appends the bar `(symbol, ts)` built from `trade` (and `quote`) and moves `carry` past it.
    pub fn push(
        &mut self,
        symbol: u32,
        ts: i64,
        gap: bool,
        trade: &TradeAcc,
        quote: Option<&QuoteAcc>,
        carry: &mut Carry,
    ) {
        self.symbol.push(symbol);
        self.ts.push(ts);
        self.gap.push(gap);
        self.stale.push(trade.n == 0);
        let t = &mut self.trade;
        if trade.n > 0 {
            t.open.push(trade.open);
            t.high.push(trade.high);
            t.low.push(trade.low);
            t.close.push(trade.close);
            t.vwap.push(trade.notional / trade.volume);
            t.first_trade_ts.push(trade.first_ts);
            t.last_trade_ts.push(trade.last_ts);
        } else {
            for col in [&mut t.open, &mut t.high, &mut t.low, &mut t.close] {
                col.push(carry.close);
            }
            t.vwap.push(f64::NAN);
            t.first_trade_ts.push(-1);
            t.last_trade_ts.push(-1);
        }
        t.volume.push(trade.volume);
        t.notional.push(trade.notional);
        t.buy_volume.push(trade.buy_volume);
        t.sell_volume.push(trade.sell_volume);
        t.n_trades.push(trade.n);
        carry.advance(trade, quote);
        if let Some(q) = self.quote.as_mut() {
            let acc = quote.unwrap_or(&QuoteAcc::EMPTY);
            let n = acc.n;
            if n > 0 {
                q.bid_open.push(acc.bid_open);
                q.bid_high.push(acc.bid_high);
                q.bid_low.push(acc.bid_low);
                q.ask_open.push(acc.ask_open);
                q.ask_high.push(acc.ask_high);
                q.ask_low.push(acc.ask_low);
            } else {
                for col in [&mut q.bid_open, &mut q.bid_high, &mut q.bid_low] {
                    col.push(carry.bid);
                }
                for col in [&mut q.ask_open, &mut q.ask_high, &mut q.ask_low] {
                    col.push(carry.ask);
                }
            }
            let (bid, ask) = (carry.bid, carry.ask);
            let mid = 0.5 * (bid + ask);
            q.bid_close.push(bid);
            q.ask_close.push(ask);
            q.mid.push(mid);
            q.spread_bps.push(10_000.0 * (ask - bid) / mid);
            let depth = carry.bid_qty + carry.ask_qty;
            q.imbalance.push(if depth > 0.0 {
                (carry.bid_qty - carry.ask_qty) / depth
            } else {
                f64::NAN
            });
            q.n_quotes.push(n);
        }
    }
}
