"""The synthetic market: one seeded model behind every venue.

Per second and per asset it draws a stochastic-volatility log-price path (OU log-volatility, a common
factor across assets), self-exciting-looking trade bursts (exponentially decaying jump intensity) and
occasional liquidation cascades that push the price and spray forced orders. Trades and quotes are placed
inside each second by Poisson counts; Upbit KRW prices are USDT prices x USD/KRW x (1 + kimchi premium),
both slowly varying. Funding settles every 8 h from the simulated premium index.

Determinism: each random quantity has its own generator and is consumed strictly in time order, so the
output for a seed depends only on the start time, not on how the range is split into `advance` calls.

Runs continue from their start time instead of replaying one market: the generators are seeded with the
seed and the start time, the opening prices lie on a stateless path of time (`MarketModel.price_level`),
and every natural key is time-based. Upbit's `sequential_id` is the trade time in ms x 10^4 plus a count
within the millisecond; the Binance ids (aggregate id `a`, trade ids `f`/`l`, book update id `u`) count on
from start time x `IDS_PER_MS`. `SimServer` opens each market at or after its wall-clock start, so two runs
on one database never emit the same key (the second run's rows are never dropped as duplicates of the
first run's) and the ids stay contiguous within a run.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np

from cqt.sim.series import smooth_noise
from cqt.sim.specs import USD_KRW, AssetSpec, asset_spec, binance_asset, upbit_asset, upbit_tick
from cqt.sim.tables import (
    F64,
    I64,
    BinanceQuotes,
    BinanceTrades,
    Fundings,
    Liquidations,
    MarketBatch,
    MarkPrices,
    Metrics,
    Table,
    UpbitBooks,
    UpbitTrades,
)

_T = TypeVar("_T", bound=Table)

SECOND_MS = 1000
_DAY_MS = 86_400_000
METRIC_PERIOD_MS = 300_000
FUNDING_PERIOD_MS = 8 * 3_600_000
INTEREST_RATE = 0.0001
# Binance ids of a run starting at s count on from s x IDS_PER_MS. A run that ended before s emitted only
# events from its own start s' on, so its ids stay below s x IDS_PER_MS while a counter takes fewer than
# IDS_PER_MS ids per ms: the fastest, the book update id (up to 40 per quote), takes about 1 200 per ms
# at 150 000 msg/s on one symbol. Start times up to the year 2262 keep every id below 2^63.
IDS_PER_MS = 1_000_000
_ID_LIMIT = 2**63  # the venues' ids are signed 64-bit integers

# Dynamics (per second). Half-lives: volatility ~20 min, bursts ~15 s, kimchi premium ~6 h.
_PHI_VOL = math.exp(-1 / 1800)
_SD_VOL = 0.4
_PHI_BURST = math.exp(-1 / 15)
_P_BURST = 1 / 240
_MEAN_BURST = 2.0
_P_CASCADE = 1 / 5400
_CASCADE_SECONDS = (8, 40)
_CASCADE_DRIFT_SIGMAS = 2.5
_RHO = 0.7
_PHI_FX = math.exp(-1 / 86_400)
_SD_FX = 0.01
_PHI_PREM = math.exp(-1 / 21_600)
_SD_PREM = 0.006
_MEAN_PREM = 0.012
_PHI_BASIS = math.exp(-1 / 900)
_SD_BASIS = 0.0006
_MEAN_BASIS = 0.00008
_MARK_AVG_ALPHA = 1 / 30
_LIQ_BACKGROUND_PER_S = 1 / 150
_LIQ_CASCADE_PER_S = 1.2


def _intensity_norm() -> float:
    """E[exp(h/2) (1 + b)] so the configured rate is the long-run mean."""
    vol_part = math.exp(0.125 * _SD_VOL**2)
    burst_part = 1 + _P_BURST * _MEAN_BURST / (1 - _PHI_BURST)
    return vol_part * burst_part


def _ar1(shocks: F64, phi: float, x0: F64) -> tuple[F64, F64]:
    """x_k = phi x_{k-1} + e_k along axis 0, vectorised in blocks short enough that phi^-k stays finite."""
    out = np.empty_like(shocks)
    prev = x0.astype(np.float64)
    block = 256
    for s in range(0, shocks.shape[0], block):
        e = shocks[s : s + block]
        k = np.arange(e.shape[0], dtype=np.float64).reshape(-1, *([1] * (e.ndim - 1)))
        up = phi**-k
        down = phi**k
        out[s : s + block] = down * (phi * prev + np.cumsum(e * up, axis=0))
        prev = out[s + e.shape[0] - 1]
    return out, prev


def next_funding_time(t_ms: I64) -> I64:
    """The next 8 h settlement strictly after each time."""
    return (np.floor_divide(t_ms, FUNDING_PERIOD_MS) + 1) * FUNDING_PERIOD_MS


@dataclass
class _SymbolState:
    next_agg_id: int
    next_trade_id: int
    next_update_id: int
    mark_avg: float = math.nan
    taker: dict[int, list[float]] = field(default_factory=dict)  # bucket start -> [buy qty, sell qty]


class MarketModel:
    """Seeded description of the market; `run(start_ms)` or `generate(start, end)` produce the events."""

    def __init__(
        self,
        seed: int = 7,
        *,
        binance_symbols: Sequence[str] = ("BTCUSDT", "ETHUSDT"),
        upbit_symbols: Sequence[str] = ("KRW-BTC", "KRW-ETH"),
        rate: float = 300.0,
        liquidation_rate: float = 1.0,
    ) -> None:
        self.seed = seed
        self.liquidation_rate = liquidation_rate
        self.binance_symbols = tuple(binance_symbols)
        self.upbit_symbols = tuple(upbit_symbols)
        assets: list[str] = []
        for name in [binance_asset(s) for s in self.binance_symbols] + [
            upbit_asset(s) for s in self.upbit_symbols
        ]:
            if name not in assets:
                assets.append(name)
        self.assets = tuple(assets)
        self.specs: tuple[AssetSpec, ...] = tuple(asset_spec(a) for a in assets)
        self.binance_asset_idx = tuple(assets.index(binance_asset(s)) for s in self.binance_symbols)
        self.upbit_asset_idx = tuple(assets.index(upbit_asset(s)) for s in self.upbit_symbols)
        # Messages per unit intensity: Binance trade + bookTicker (one per trade, one extra), Upbit trade +
        # ticker + orderbook (one per trade, one extra at half the Binance activity). Mark prices: 1/s.
        weight = sum(3 * self.specs[a].activity for a in self.binance_asset_idx) + sum(
            2 * self.specs[a].activity for a in self.upbit_asset_idx
        )
        per_unit = max(rate - len(self.binance_symbols), 0.05 * rate) / max(weight, 1e-9)
        self.trade_rate = tuple(per_unit * self.specs[a].activity for a in self.binance_asset_idx)
        self.upbit_rate = tuple(0.5 * per_unit * self.specs[a].activity for a in self.upbit_asset_idx)

    def rng(self, name: str, *salt: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(name.encode()), *salt])

    def run(self, start_ms: int) -> MarketRun:
        return MarketRun(self, start_ms)

    def generate(self, start_ms: int, end_ms: int, step_ms: int = 3_600_000) -> Iterator[MarketBatch]:
        """Every event with emission time in [start_ms, end_ms), in batches covering `step_ms` each."""
        run = self.run(start_ms)
        t = start_ms
        while t < end_ms:
            t = min(t + step_ms, end_ms)
            yield run.advance(t)

    # Stateless series: answerable for any time, used for history before a live run started and for
    # the slow metrics (open interest, account ratios) at any time.
    def open_interest(self, symbol: str, t_ms: I64) -> F64:
        spec = asset_spec(binance_asset(symbol))
        return spec.open_interest * np.exp(
            0.12 * smooth_noise(self.seed, f"oi:{symbol}", t_ms, 6 * 3_600_000)
        )

    def long_account(self, symbol: str, t_ms: I64) -> F64:
        x = 0.58 + 0.07 * smooth_noise(self.seed, f"ls:{symbol}", t_ms, 4 * 3_600_000)
        return np.clip(x, 0.2, 0.8)

    def price_level(self, asset: str, t_ms: I64) -> F64:
        """USDT price level at any time: where a run starting then opens, and the history before it."""
        spec = asset_spec(asset)
        return spec.price_usdt * np.exp(
            spec.daily_vol * 2.0 * smooth_noise(self.seed, f"px:{asset}", t_ms, _DAY_MS)
        )

    def history_price(self, asset: str, t_ms: I64, anchor_ms: int, anchor_price: float) -> F64:
        """USDT price before a run: the level path scaled to meet `anchor_price` at `anchor_ms`."""
        at = np.array([anchor_ms], dtype=np.int64)
        return anchor_price * self.price_level(asset, t_ms) / self.price_level(asset, at)

    def funding_history(self, symbol: str, t_ms: I64) -> F64:
        """Settled funding rates before a run started (stateless)."""
        basis = _MEAN_BASIS + _SD_BASIS * smooth_noise(self.seed, f"basis:{symbol}", t_ms, FUNDING_PERIOD_MS)
        return _rnd(funding_from_basis(basis), 8)


def funding_from_basis(basis: F64) -> F64:
    """Binance's formula: premium + clamp(interest - premium, +-0.05 %), capped at +-0.75 %."""
    rate = basis + np.clip(INTEREST_RATE - basis, -0.0005, 0.0005)
    return np.clip(rate, -0.0075, 0.0075)


class MarketRun:
    """A market unrolling from `start_ms`; `advance(until)` releases events with emission time < until."""

    def __init__(self, model: MarketModel, start_ms: int) -> None:
        self.model = model
        self.start_ms = int(start_ms)
        if not 0 <= self.start_ms < _ID_LIMIT // IDS_PER_MS:
            raise ValueError(f"start time {self.start_ms} ms is outside the simulator's id range")
        self._sim_end = self.start_ms  # seconds simulated so far end here
        self._released = self.start_ms
        n_assets = len(model.assets)
        at = np.array([self.start_ms], dtype=np.int64)
        self._logmid = np.log(np.concatenate([model.price_level(a, at) for a in model.assets]))
        self._vol = np.zeros(n_assets)
        self._burst = np.zeros(n_assets)
        self._prem = np.zeros(n_assets)
        self._basis = np.zeros(n_assets)
        self._fx = np.zeros(1)
        self._cascade_left = [0] * n_assets
        self._cascade_dir = [0.0] * n_assets
        self._rngs: dict[str, np.random.Generator] = {}
        self._last_emit: dict[str, int] = {}
        first_id = self.start_ms * IDS_PER_MS
        self._sym_state = [
            _SymbolState(next_agg_id=first_id, next_trade_id=first_id, next_update_id=first_id)
            for _ in model.binance_symbols
        ]
        # Not empty before the first simulated second: a run whose start lies ahead releases empty batches.
        self._pending: dict[str, Table] = {key: kind.empty() for key, kind in _TABLE_TYPES.items()}
        self._norm = _intensity_norm()

    def _rng(self, name: str) -> np.random.Generator:
        gen = self._rngs.get(name)
        if gen is None:
            gen = self._rngs[name] = self.model.rng(name, self.start_ms)
        return gen

    def advance(self, until_ms: int) -> MarketBatch:
        """Events with emission time in [previous until, until_ms)."""
        until_ms = max(int(until_ms), self._released)
        if until_ms > self._sim_end:
            seconds = -(-(until_ms - self._sim_end) // SECOND_MS)
            fresh = self._simulate(seconds)
            for key, table in fresh.items():
                self._pending[key] = type(table).concat([self._pending[key], table])
        released: dict[str, Table] = {}
        for key, table in self._pending.items():
            table = table.ordered()
            cut = int(np.searchsorted(table.E, until_ms, side="left"))
            released[key] = table.take(slice(0, cut))
            self._pending[key] = table.take(slice(cut, None))
        batch = MarketBatch(
            start_ms=self._released,
            end_ms=until_ms,
            binance_trades=_as(released["binance_trades"], BinanceTrades),
            binance_quotes=_as(released["binance_quotes"], BinanceQuotes),
            marks=_as(released["marks"], MarkPrices),
            fundings=_as(released["fundings"], Fundings),
            liquidations=_as(released["liquidations"], Liquidations),
            upbit_trades=_as(released["upbit_trades"], UpbitTrades),
            upbit_books=_as(released["upbit_books"], UpbitBooks),
            metrics=_as(released["metrics"], Metrics),
        )
        self._released = until_ms
        return batch

    # ---- simulation of whole seconds -------------------------------------------------------------
    def _simulate(self, n: int) -> dict[str, Table]:
        m = self.model
        n_assets = len(m.assets)
        t0 = self._sim_end
        sec_start = t0 + SECOND_MS * np.arange(n, dtype=np.int64)
        sec_end = sec_start + SECOND_MS

        vol_shock = self._rng("vol").standard_normal((n, n_assets)) * _SD_VOL * math.sqrt(1 - _PHI_VOL**2)
        h, self._vol = _ar1(vol_shock, _PHI_VOL, self._vol)
        jumps = (self._rng("burst").random((n, n_assets)) < _P_BURST) * self._rng("burst_size").exponential(
            _MEAN_BURST, (n, n_assets)
        )
        burst, self._burst = _ar1(jumps, _PHI_BURST, self._burst)
        cascade = self._cascades(n, burst)

        base_sigma = np.array([s.daily_vol for s in m.specs]) / math.sqrt(86_400)
        sigma = base_sigma * np.exp(h) * np.sqrt(1 + burst)
        z_common = self._rng("ret_common").standard_normal((n, 1))
        z_own = self._rng("ret").standard_normal((n, n_assets))
        ret = (
            sigma * (_RHO * z_common + math.sqrt(1 - _RHO**2) * z_own)
            + cascade * _CASCADE_DRIFT_SIGMAS * sigma
        )
        log_end = self._logmid + np.cumsum(ret, axis=0)
        log_begin = np.vstack([self._logmid[None, :], log_end[:-1]])
        self._logmid = log_end[-1].copy()

        fx_dev, self._fx = _ar1(
            self._rng("fx").standard_normal((n, 1)) * _SD_FX * math.sqrt(1 - _PHI_FX**2), _PHI_FX, self._fx
        )
        prem_dev, self._prem = _ar1(
            self._rng("prem").standard_normal((n, n_assets)) * _SD_PREM * math.sqrt(1 - _PHI_PREM**2),
            _PHI_PREM,
            self._prem,
        )
        basis_dev, self._basis = _ar1(
            self._rng("basis").standard_normal((n, n_assets)) * _SD_BASIS * math.sqrt(1 - _PHI_BASIS**2),
            _PHI_BASIS,
            self._basis,
        )
        basis = _MEAN_BASIS + basis_dev
        krw_shift = np.log(USD_KRW) + fx_dev + np.log1p(_MEAN_PREM + prem_dev)
        intensity = np.exp(0.5 * h) * (1 + burst) * (1 + 2.0 * (cascade != 0)) / self._norm
        buy_prob = 0.5 + 0.3 * np.tanh(ret / sigma)

        path = _Path(sec_start, log_begin, log_end, sigma)
        # The run opens with a mark price at its start (the basis state starts at its mean), so a client
        # has one from the first tick on rather than a second later.
        mark_t, mark_log, mark_basis = sec_end, log_end, basis
        if t0 == self.start_ms:
            mark_t = np.r_[t0, sec_end]
            mark_log = np.vstack([log_begin[:1], log_end])
            mark_basis = np.vstack([np.full((1, n_assets), _MEAN_BASIS), basis])
        out: dict[str, list[Table]] = {k: [] for k in _TABLE_KEYS}
        for j, sym in enumerate(m.binance_symbols):
            a = m.binance_asset_idx[j]
            trades = self._binance_trades(j, sym, a, path, intensity[:, a], buy_prob[:, a])
            out["binance_trades"].append(trades)
            out["binance_quotes"].append(self._binance_quotes(j, sym, a, path, intensity[:, a], trades.T))
            out["marks"].append(self._marks(j, a, mark_t, mark_log[:, a], mark_basis[:, a]))
            out["liquidations"].append(self._liquidations(j, sym, a, path, cascade[:, a]))
            out["metrics"].append(self._metrics(j, sym, trades, sec_end, log_end[:, a], basis[:, a]))
        out["fundings"].append(self._fundings(sec_end, log_end, basis))
        for u, market in enumerate(m.upbit_symbols):
            a = m.upbit_asset_idx[u]
            krw = _Path(sec_start, log_begin + krw_shift, log_end + krw_shift, sigma)
            trades_u = self._upbit_trades(u, market, a, krw, intensity[:, a], buy_prob[:, a])
            out["upbit_trades"].append(trades_u)
            out["upbit_books"].append(self._upbit_books(u, market, a, krw, intensity[:, a], trades_u))
        self._sim_end = int(sec_end[-1])
        return {key: _TABLE_TYPES[key].concat(parts) for key, parts in out.items()}

    def _cascades(self, n: int, burst: F64) -> F64:
        """Direction (+1 squeeze / -1 flush / 0 none) of a liquidation cascade active in each second."""
        onset = self._rng("cascade").random(burst.shape) < _P_CASCADE * (1 + burst)
        out = np.zeros(burst.shape)
        for a in range(burst.shape[1]):
            draw = self._rng(f"cascade_shape:{a}")
            pos = 0
            left = self._cascade_left[a]
            if left:
                k = min(left, n)
                out[:k, a] = self._cascade_dir[a]
                left -= k
                pos = k
            for o in np.flatnonzero(onset[:, a]):
                if o < pos:
                    continue
                length = int(draw.integers(*_CASCADE_SECONDS))
                direction = -1.0 if draw.random() < 0.6 else 1.0
                k = min(length, n - int(o))
                out[o : o + k, a] = direction
                self._cascade_dir[a] = direction
                left = length - k
                pos = int(o) + length
            self._cascade_left[a] = left
        return out

    def _times(self, name: str, rates: F64, t0: int) -> tuple[I64, I64]:
        """Poisson event times inside each second: (absolute ms, second index), sorted."""
        counts = self._rng(f"{name}:n").poisson(np.maximum(rates, 0.0))
        sec = np.repeat(np.arange(rates.shape[0], dtype=np.int64), counts)
        rel = np.sort(sec * SECOND_MS + self._rng(f"{name}:off").integers(0, SECOND_MS, sec.shape[0]))
        return t0 + rel, rel // SECOND_MS

    def _latency(self, name: str, T: I64, low: int, high: int) -> I64:
        """Emission times: event time plus a delay, never earlier than the previous emission."""
        if T.shape[0] == 0:
            return T.copy()
        delay = self._rng(f"{name}:lat").integers(low, high, T.shape[0])
        emitted = np.maximum.accumulate(np.maximum(T + delay, self._last_emit.get(name, 0)))
        self._last_emit[name] = int(emitted[-1])
        return emitted

    def _binance_trades(
        self, j: int, sym: str, a: int, path: _Path, inten: F64, buy_prob: F64
    ) -> BinanceTrades:
        spec = self.model.specs[a]
        T, sec = self._times(f"bt:{sym}", self.model.trade_rate[j] * inten, path.t0)
        nn = int(T.shape[0])
        mid = path.at(T, sec, a, self._rng(f"bt:{sym}:noise").standard_normal(nn))
        bid = np.floor(mid / spec.tick) * spec.tick
        is_buy = self._rng(f"bt:{sym}:side").random(nn) < buy_prob[sec]
        price = _rnd(np.where(is_buy, bid + spec.tick, bid), spec.price_decimals)
        qty = _sizes(self._rng(f"bt:{sym}:qty"), nn, spec.mean_qty, spec.qty_step, spec.qty_decimals)
        fills = 1 + self._rng(f"bt:{sym}:fills").poisson(0.8, nn)
        st = self._sym_state[j]
        agg = st.next_agg_id + np.arange(nn, dtype=np.int64)
        last = st.next_trade_id + np.cumsum(fills) - 1
        st.next_agg_id += nn
        st.next_trade_id += int(fills.sum())
        return BinanceTrades(
            sym=np.full(nn, j, dtype=np.int16),
            E=self._latency(f"bt:{sym}", T, 2, 60),
            T=T,
            agg_id=agg,
            first_id=last - fills + 1,
            last_id=last,
            price=price,
            qty=qty,
            buyer_maker=~is_buy,
        )

    def _binance_quotes(
        self, j: int, sym: str, a: int, path: _Path, inten: F64, trade_T: I64
    ) -> BinanceQuotes:
        spec = self.model.specs[a]
        extra_T, _ = self._times(f"bq:{sym}", self.model.trade_rate[j] * inten, path.t0)
        T = np.sort(np.concatenate([trade_T, extra_T]))
        sec = (T - path.t0) // SECOND_MS
        nn = int(T.shape[0])
        mid = path.at(T, sec, a, self._rng(f"bq:{sym}:noise").standard_normal(nn))
        bid = _rnd(np.floor(mid / spec.tick) * spec.tick, spec.price_decimals)
        st = self._sym_state[j]
        upd = st.next_update_id + np.cumsum(1 + self._rng(f"bq:{sym}:u").integers(0, 40, nn))
        if nn:
            st.next_update_id = int(upd[-1])
        return BinanceQuotes(
            sym=np.full(nn, j, dtype=np.int16),
            E=self._latency(f"bq:{sym}", T, 0, 3),
            T=T,
            update_id=upd,
            bid=bid,
            bid_qty=_sizes(
                self._rng(f"bq:{sym}:bq"), nn, 40 * spec.mean_qty, spec.qty_step, spec.qty_decimals
            ),
            ask=_rnd(bid + spec.tick, spec.price_decimals),
            ask_qty=_sizes(
                self._rng(f"bq:{sym}:aq"), nn, 40 * spec.mean_qty, spec.qty_step, spec.qty_decimals
            ),
        )

    def _marks(self, j: int, a: int, at: I64, log_mark: F64, basis: F64) -> MarkPrices:
        mark = np.exp(log_mark)
        index = mark / (1 + basis)
        st = self._sym_state[j]
        if math.isnan(st.mark_avg):
            st.mark_avg = float(mark[0])
        avg, last = _ar1(_MARK_AVG_ALPHA * mark, 1 - _MARK_AVG_ALPHA, np.array(st.mark_avg))
        st.mark_avg = float(last)
        nn = int(at.shape[0])
        return MarkPrices(
            sym=np.full(nn, j, dtype=np.int16),
            E=at.copy(),
            mark=_rnd(mark, 8),
            mark_avg=_rnd(avg, 8),
            index=_rnd(index, 8),
            settle=_rnd(0.5 * (index + avg / (1 + basis)), 8),
            funding_rate=_rnd(funding_from_basis(basis), 8),
            next_funding=next_funding_time(at),
        )

    def _fundings(self, sec_end: I64, log_end: F64, basis: F64) -> Fundings:
        settle = np.flatnonzero(sec_end % FUNDING_PERIOD_MS == 0)
        m = self.model
        rows: list[Fundings] = []
        for j, _sym in enumerate(m.binance_symbols):
            a = m.binance_asset_idx[j]
            nn = int(settle.shape[0])
            at = sec_end[settle] + self._rng(f"funding:{j}").integers(0, 10, nn)
            rows.append(
                Fundings(
                    sym=np.full(nn, j, dtype=np.int16),
                    E=at,
                    funding_time=at,
                    rate=_rnd(funding_from_basis(basis[settle, a]), 8),
                    mark=_rnd(np.exp(log_end[settle, a]), 8),
                )
            )
        return Fundings.concat(rows)

    def _liquidations(self, j: int, sym: str, a: int, path: _Path, cascade: F64) -> Liquidations:
        spec = self.model.specs[a]
        rates = self.model.liquidation_rate * (_LIQ_BACKGROUND_PER_S + _LIQ_CASCADE_PER_S * (cascade != 0))
        T, sec = self._times(f"liq:{sym}", rates, path.t0)
        nn = int(T.shape[0])
        mid = path.at(T, sec, a, np.zeros(nn))
        random_side = self._rng(f"liq:{sym}:side").random(nn) < 0.5
        is_sell = np.where(cascade[sec] != 0, cascade[sec] < 0, random_side)
        sign = np.where(is_sell, -1.0, 1.0)
        qty = _sizes(self._rng(f"liq:{sym}:qty"), nn, 8 * spec.mean_qty, spec.qty_step, spec.qty_decimals)
        last = np.maximum(
            _rnd(qty * self._rng(f"liq:{sym}:fill").uniform(0.1, 1.0, nn) / spec.qty_step) * spec.qty_step,
            spec.qty_step,
        )
        return Liquidations(
            sym=np.full(nn, j, dtype=np.int16),
            E=self._latency(f"liq:{sym}", T, 100, 1000),
            T=T,
            is_sell=is_sell,
            price=_rnd(_rnd(mid * (1 + 0.01 * sign) / spec.tick) * spec.tick, spec.price_decimals),
            avg_price=_rnd(_rnd(mid * (1 + 0.002 * sign) / spec.tick) * spec.tick, spec.price_decimals),
            qty=qty,
            last_qty=_rnd(np.minimum(last, qty), spec.qty_decimals),
        )

    def _metrics(
        self, j: int, sym: str, trades: BinanceTrades, sec_end: I64, log_end: F64, basis: F64
    ) -> Metrics:
        st = self._sym_state[j]
        bucket = trades.T - trades.T % METRIC_PERIOD_MS
        for b in np.unique(bucket):
            sel = bucket == b
            acc = st.taker.setdefault(int(b), [0.0, 0.0])
            acc[0] += float(trades.qty[sel & ~trades.buyer_maker].sum())
            acc[1] += float(trades.qty[sel & trades.buyer_maker].sum())
        done = np.flatnonzero(sec_end % METRIC_PERIOD_MS == 0)
        # A bucket that began before the run is partial: emit only buckets fully inside the run.
        done = done[sec_end[done] - METRIC_PERIOD_MS >= self.start_ms]
        nn = int(done.shape[0])
        end = sec_end[done]
        flows = [st.taker.pop(int(e) - METRIC_PERIOD_MS, [0.0, 0.0]) for e in end]
        price = np.exp(log_end[done])
        oi = _rnd(self.model.open_interest(sym, end), 3)
        return Metrics(
            sym=np.full(nn, j, dtype=np.int16),
            E=end,
            period_start=end - METRIC_PERIOD_MS,
            open_interest=oi,
            oi_value=oi * price,
            long_account=_rnd(self.model.long_account(sym, end), 4),
            taker_buy_vol=np.array([f[0] for f in flows], dtype=np.float64),
            taker_sell_vol=np.array([f[1] for f in flows], dtype=np.float64),
            index_price=price / (1 + basis[done]),
            futures_price=price,
        )

    def _upbit_trades(
        self, u: int, market: str, a: int, krw: _Path, inten: F64, buy_prob: F64
    ) -> UpbitTrades:
        T, sec = self._times(f"ut:{market}", self.model.upbit_rate[u] * inten, krw.t0)
        nn = int(T.shape[0])
        mid = krw.at(T, sec, a, self._rng(f"ut:{market}:noise").standard_normal(nn))
        tick = upbit_tick(float(np.exp(krw.log_begin[0, a])))
        bid = np.floor(mid / tick) * tick
        ask = bid + tick
        is_buy = self._rng(f"ut:{market}:side").random(nn) < buy_prob[sec]
        spec = self.model.specs[a]
        qty = _sizes(self._rng(f"ut:{market}:qty"), nn, 0.5 * spec.mean_qty, 1e-8, 8)
        # sequential_id = trade_timestamp * 10000 + k, k = n x markets + u for the n-th trade of the
        # millisecond in market u: unique across markets too, as a client keying trades by id alone expects.
        first_of_ms = np.r_[True, T[1:] != T[:-1]] if nn else np.zeros(0, dtype=bool)
        starts = (
            np.maximum.accumulate(np.where(first_of_ms, np.arange(nn), 0)) if nn else np.zeros(0, np.int64)
        )
        seq = T * 10_000 + (np.arange(nn) - starts) * len(self.model.upbit_symbols) + u
        return UpbitTrades(
            sym=np.full(nn, u, dtype=np.int16),
            E=self._latency(f"ut:{market}", T, 5, 80),
            T=T,
            seq_id=seq.astype(np.int64),
            price=np.where(is_buy, ask, bid),
            qty=qty,
            is_ask=~is_buy,
            best_ask=ask,
            best_ask_size=_sizes(self._rng(f"ut:{market}:bas"), nn, 4 * spec.mean_qty, 1e-8, 8),
            best_bid=bid,
            best_bid_size=_sizes(self._rng(f"ut:{market}:bbs"), nn, 4 * spec.mean_qty, 1e-8, 8),
        )

    def _upbit_books(
        self, u: int, market: str, a: int, krw: _Path, inten: F64, trades: UpbitTrades
    ) -> UpbitBooks:
        extra_T, _ = self._times(f"ub:{market}", self.model.upbit_rate[u] * inten, krw.t0)
        extra_E = self._latency(f"ub:{market}", extra_T, 5, 80)
        nn_x = int(extra_T.shape[0])
        sec = (extra_T - krw.t0) // SECOND_MS
        mid = krw.at(extra_T, sec, a, self._rng(f"ub:{market}:noise").standard_normal(nn_x))
        tick = upbit_tick(float(np.exp(krw.log_begin[0, a])))
        bid_x = np.floor(mid / tick) * tick
        E = np.concatenate([trades.E, extra_E])
        order = np.argsort(E, kind="stable")
        nn = int(E.shape[0])
        return UpbitBooks(
            sym=np.full(nn, u, dtype=np.int16),
            E=E[order],
            best_ask=np.concatenate([trades.best_ask, bid_x + tick])[order],
            best_bid=np.concatenate([trades.best_bid, bid_x])[order],
            ask_scale=self._book_scales(f"ub:{market}:as", trades, nn_x)[order],
            bid_scale=self._book_scales(f"ub:{market}:bs", trades, nn_x)[order],
            tick=np.full(nn, tick),
        )

    def _book_scales(self, name: str, trades: UpbitTrades, n_extra: int) -> F64:
        """Depth multipliers, drawn per source stream so the result does not depend on batch splits."""
        on_trade = self._rng(f"{name}:t").lognormal(0.0, 0.3, len(trades))
        return np.concatenate([on_trade, self._rng(f"{name}:x").lognormal(0.0, 0.3, n_extra)])


@dataclass(frozen=True)
class _Path:
    """Per-second log-price path of all assets; `at` interpolates inside the second plus micro noise."""

    sec_start: I64
    log_begin: F64
    log_end: F64
    sigma: F64

    @property
    def t0(self) -> int:
        return int(self.sec_start[0])

    def at(self, T: I64, sec: I64, a: int, noise: F64) -> F64:
        frac = (T - self.sec_start[sec]) / SECOND_MS
        lb = self.log_begin[sec, a]
        return np.asarray(np.exp(lb + (self.log_end[sec, a] - lb) * frac + 0.3 * self.sigma[sec, a] * noise))


def _rnd(x: F64, decimals: int = 0) -> F64:
    return np.asarray(np.round(x, decimals), dtype=np.float64)


def _sizes(gen: np.random.Generator, n: int, mean: float, step: float, decimals: int) -> F64:
    raw = gen.lognormal(math.log(mean) - 0.72, 1.2, n)
    return _rnd(np.maximum(_rnd(raw / step) * step, step), decimals)


def _as(table: Table, kind: type[_T]) -> _T:
    assert isinstance(table, kind)
    return table


_TABLE_TYPES: dict[str, type[Table]] = {
    "binance_trades": BinanceTrades,
    "binance_quotes": BinanceQuotes,
    "marks": MarkPrices,
    "fundings": Fundings,
    "liquidations": Liquidations,
    "upbit_trades": UpbitTrades,
    "upbit_books": UpbitBooks,
    "metrics": Metrics,
}
_TABLE_KEYS = tuple(_TABLE_TYPES)
