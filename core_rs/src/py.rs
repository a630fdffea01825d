//! PyO3 bindings: the only place that knows about Python. Each function here converts
//! arguments, calls a plain-Rust kernel and converts the result back.
//!
//! Inputs are borrowed numpy arrays (no copy; they must be C-contiguous with the exact dtype);
//! outputs are dicts of numpy arrays that take ownership of the Rust vectors (no copy).

use numpy::{IntoPyArray, PyReadonlyArray1};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::acc::Bars;
use crate::bars::aggregate_with_threads;
use crate::error::KernelError;
use crate::labels::{label, BarSeries, Dynamic, Kind, LabelParams, Threshold};
use crate::stream::{Emitted, StreamAggregator, StreamConfig};
use crate::tables::{Gaps, Quotes, Trades};

type Arr<'py, T> = PyReadonlyArray1<'py, T>;
type QuoteArrays<'py> = (
    Arr<'py, u32>,
    Arr<'py, i64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
    Arr<'py, f64>,
);
type GapArrays<'py> = (Arr<'py, u32>, Arr<'py, i64>, Arr<'py, i64>);

fn value_error(e: KernelError) -> PyErr {
    PyValueError::new_err(e.to_string())
}

fn slice<'a, T: numpy::Element>(a: &'a Arr<'_, T>, name: &str) -> PyResult<&'a [T]> {
    a.as_slice()
        .map_err(|_| PyValueError::new_err(format!("{name} must be a C-contiguous 1-d array")))
}

/// Moves every column of `bars` into `d` as numpy arrays.
fn put_bars(d: &Bound<'_, PyDict>, bars: Bars) -> PyResult<()> {
    let py = d.py();
    d.set_item("symbol", bars.symbol.into_pyarray(py))?;
    d.set_item("ts", bars.ts.into_pyarray(py))?;
    let t = bars.trade;
    for (name, col) in [
        ("open", t.open),
        ("high", t.high),
        ("low", t.low),
        ("close", t.close),
        ("volume", t.volume),
        ("notional", t.notional),
        ("vwap", t.vwap),
        ("buy_volume", t.buy_volume),
        ("sell_volume", t.sell_volume),
    ] {
        d.set_item(name, col.into_pyarray(py))?;
    }
    d.set_item("n_trades", t.n_trades.into_pyarray(py))?;
    d.set_item("first_trade_ts", t.first_trade_ts.into_pyarray(py))?;
    d.set_item("last_trade_ts", t.last_trade_ts.into_pyarray(py))?;
    if let Some(q) = bars.quote {
        for (name, col) in [
            ("bid_open", q.bid_open),
            ("bid_high", q.bid_high),
            ("bid_low", q.bid_low),
            ("bid_close", q.bid_close),
            ("ask_open", q.ask_open),
            ("ask_high", q.ask_high),
            ("ask_low", q.ask_low),
            ("ask_close", q.ask_close),
            ("spread_bps", q.spread_bps),
            ("mid", q.mid),
            ("imbalance", q.imbalance),
        ] {
            d.set_item(name, col.into_pyarray(py))?;
        }
        d.set_item("n_quotes", q.n_quotes.into_pyarray(py))?;
    }
    d.set_item("stale", bars.stale.into_pyarray(py))?;
    d.set_item("gap", bars.gap.into_pyarray(py))?;
    Ok(())
}

fn emitted_dict(py: Python<'_>, e: Emitted) -> PyResult<Bound<'_, PyDict>> {
    let d = PyDict::new(py);
    put_bars(&d, e.bars)?;
    d.set_item("revision", e.revision.into_pyarray(py))?;
    Ok(d)
}

/// One-second bars from trades, optionally merged with quote bars and flagged with gaps.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (symbol, ts, price, qty, taker_buy, quotes=None, gaps=None, threads=1))]
fn aggregate_bars<'py>(
    py: Python<'py>,
    symbol: Arr<'py, u32>,
    ts: Arr<'py, i64>,
    price: Arr<'py, f64>,
    qty: Arr<'py, f64>,
    taker_buy: Arr<'py, bool>,
    quotes: Option<QuoteArrays<'py>>,
    gaps: Option<GapArrays<'py>>,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let trades = Trades {
        symbol: slice(&symbol, "symbol")?,
        ts: slice(&ts, "ts")?,
        price: slice(&price, "price")?,
        qty: slice(&qty, "qty")?,
        taker_buy: slice(&taker_buy, "taker_buy")?,
    };
    let quotes = match &quotes {
        Some((s, t, b, bq, a, aq)) => Some(Quotes {
            symbol: slice(s, "quote symbol")?,
            ts: slice(t, "quote ts")?,
            bid: slice(b, "bid")?,
            bid_qty: slice(bq, "bid_qty")?,
            ask: slice(a, "ask")?,
            ask_qty: slice(aq, "ask_qty")?,
        }),
        None => None,
    };
    let gaps = match &gaps {
        Some((s, a, b)) => Some(Gaps {
            symbol: slice(s, "gap symbol")?,
            start: slice(a, "gap start")?,
            end: slice(b, "gap end")?,
        }),
        None => None,
    };
    let bars = py
        .detach(|| aggregate_with_threads(&trades, quotes.as_ref(), gaps.as_ref(), threads))
        .map_err(value_error)?;
    let d = PyDict::new(py);
    put_bars(&d, bars)?;
    Ok(d)
}

/// Streaming one-second bar aggregator (see `core_rs::stream` for the time rules).
#[pyclass(name = "StreamAggregator", module = "cqt._core")]
struct PyStreamAggregator {
    inner: StreamAggregator,
}

#[pymethods]
impl PyStreamAggregator {
    #[new]
    fn new(grace_ms: i64, lateness_ms: i64, with_quotes: bool) -> PyResult<Self> {
        let cfg = StreamConfig {
            grace_ms,
            lateness_ms,
            with_quotes,
        };
        Ok(Self {
            inner: StreamAggregator::new(cfg).map_err(value_error)?,
        })
    }

    fn push_trades<'py>(
        &mut self,
        py: Python<'py>,
        symbol: Arr<'py, u32>,
        ts: Arr<'py, i64>,
        price: Arr<'py, f64>,
        qty: Arr<'py, f64>,
        taker_buy: Arr<'py, bool>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let trades = Trades {
            symbol: slice(&symbol, "symbol")?,
            ts: slice(&ts, "ts")?,
            price: slice(&price, "price")?,
            qty: slice(&qty, "qty")?,
            taker_buy: slice(&taker_buy, "taker_buy")?,
        };
        emitted_dict(py, self.inner.push_trades(&trades).map_err(value_error)?)
    }

    #[allow(clippy::too_many_arguments)]
    fn push_quotes<'py>(
        &mut self,
        py: Python<'py>,
        symbol: Arr<'py, u32>,
        ts: Arr<'py, i64>,
        bid: Arr<'py, f64>,
        bid_qty: Arr<'py, f64>,
        ask: Arr<'py, f64>,
        ask_qty: Arr<'py, f64>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let quotes = Quotes {
            symbol: slice(&symbol, "symbol")?,
            ts: slice(&ts, "ts")?,
            bid: slice(&bid, "bid")?,
            bid_qty: slice(&bid_qty, "bid_qty")?,
            ask: slice(&ask, "ask")?,
            ask_qty: slice(&ask_qty, "ask_qty")?,
        };
        emitted_dict(py, self.inner.push_quotes(&quotes).map_err(value_error)?)
    }

    fn flush<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        emitted_dict(py, self.inner.flush())
    }

    #[getter]
    fn late_dropped(&self) -> u64 {
        self.inner.late_dropped()
    }

    #[getter]
    fn late_dropped_quotes(&self) -> u64 {
        self.inner.late_dropped_quotes()
    }

    #[getter]
    fn watermark(&self) -> Option<i64> {
        self.inner.watermark()
    }
}

/// Labels for bars sorted by (symbol, ts). `r_fixed` selects a fixed threshold; otherwise the
/// dynamic parameters apply.
#[pyfunction]
#[allow(clippy::too_many_arguments)]
#[pyo3(signature = (ts, close, high, low, symbol, gap, spread_bps, horizon_s, kind, r_fixed, window_s, min_returns, k, r_min, r_max, cost_mult, fee, slippage, threads))]
fn compute_labels<'py>(
    py: Python<'py>,
    ts: Arr<'py, i64>,
    close: Arr<'py, f64>,
    high: Arr<'py, f64>,
    low: Arr<'py, f64>,
    symbol: Option<Arr<'py, u32>>,
    gap: Option<Arr<'py, bool>>,
    spread_bps: Option<Arr<'py, f64>>,
    horizon_s: u32,
    kind: &str,
    r_fixed: Option<f64>,
    window_s: u32,
    min_returns: u32,
    k: f64,
    r_min: f64,
    r_max: f64,
    cost_mult: f64,
    fee: f64,
    slippage: f64,
    threads: usize,
) -> PyResult<Bound<'py, PyDict>> {
    let kind = match kind {
        "fixed_horizon" => Kind::FixedHorizon,
        "triple_barrier" => Kind::TripleBarrier,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown label kind {other:?}"
            )))
        }
    };
    let threshold = match r_fixed {
        Some(r) => Threshold::Fixed(r),
        None => Threshold::Dynamic(Dynamic {
            window_s,
            min_returns,
            k,
            r_min,
            r_max,
            cost_mult,
            fee,
            slippage,
        }),
    };
    let params = LabelParams {
        horizon_s,
        kind,
        threshold,
        threads,
    };
    let bars = BarSeries {
        symbol: symbol.as_ref().map(|a| slice(a, "symbol")).transpose()?,
        ts: slice(&ts, "ts")?,
        close: slice(&close, "close")?,
        high: slice(&high, "high")?,
        low: slice(&low, "low")?,
        gap: gap.as_ref().map(|a| slice(a, "gap")).transpose()?,
        spread_bps: spread_bps
            .as_ref()
            .map(|a| slice(a, "spread_bps"))
            .transpose()?,
    };
    let l = py.detach(|| label(&bars, &params)).map_err(value_error)?;
    let d = PyDict::new(py);
    d.set_item("valid", l.valid.into_pyarray(py))?;
    d.set_item("y", l.y.into_pyarray(py))?;
    d.set_item("fwd_return", l.fwd_return.into_pyarray(py))?;
    d.set_item("r_t", l.r_t.into_pyarray(py))?;
    d.set_item("label_ts", l.label_ts.into_pyarray(py))?;
    d.set_item("touch_ts", l.touch_ts.into_pyarray(py))?;
    d.set_item("ambiguous", l.ambiguous.into_pyarray(py))?;
    Ok(d)
}

/// Version of the Rust core (the `core_rs` crate version).
#[pyfunction]
fn version() -> &'static str {
    crate::version()
}

/// The `cqt._core` extension module.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(aggregate_bars, m)?)?;
    m.add_function(wrap_pyfunction!(compute_labels, m)?)?;
    m.add_class::<PyStreamAggregator>()?;
    Ok(())
}
