"""Coinglass v4 poller: open interest (aggregated), funding rate, liquidations and global long/short ratio.

Every call — and every cycle in which no call could be made — is recorded in `coinglass_call_status`,
so a missing key, a placeholder key or a disabled collector is loud evidence, never silent success.
`ok` means HTTP 200 **and** body code "0" (Coinglass reports key and plan errors with HTTP 200).
Each poll asks for the last `limit` completed buckets; re-reading them is idempotent (natural keys).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime

import aiohttp

from cqt.collect import coinglass_parse as cp
from cqt.collect.rows import MalformedFrame, Row, Sink
from cqt.collect.stopping import until_stopped
from cqt.config import is_placeholder

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoinglassTarget:
    """What to poll: the coin for aggregated series, the pair and exchange for per-pair series."""

    coin: str
    pair: str
    exchange: str
    interval: str
    limit: int = 10

    def calls(self) -> list[tuple[str, str, dict[str, str]]]:
        """(endpoint, stored symbol, query) for each series."""
        pair_q = {
            "exchange": self.exchange,
            "symbol": self.pair,
            "interval": self.interval,
            "limit": str(self.limit),
        }
        return [
            (
                "/api/futures/open-interest/aggregated-history",
                self.coin,
                {"symbol": self.coin, "interval": self.interval, "limit": str(self.limit)},
            ),
            ("/api/futures/funding-rate/history", self.pair, pair_q),
            ("/api/futures/liquidation/history", self.pair, pair_q),
            ("/api/futures/global-long-short-account-ratio/history", self.pair, pair_q),
        ]


def status_row(
    symbol: str, endpoint: str, outcome: cp.CallOutcome | None, error: str | None, latency_ms: float | None
) -> Row:
    """A `coinglass_call_status` row (ts = now)."""
    now = datetime.now(UTC)
    if outcome is None:
        return (now, symbol, endpoint, False, None, None, error, latency_ms)
    return (
        now,
        symbol,
        endpoint,
        outcome.ok,
        outcome.http_status,
        outcome.body_code,
        outcome.error,
        latency_ms,
    )


class CoinglassPoller:
    """Polls the series of `target` every `period_s` seconds into `sink`."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        target: CoinglassTarget,
        sink: Sink,
        *,
        enabled: bool = True,
        period_s: float = 60.0,
    ) -> None:
        if target.interval not in cp.INTERVAL_S:
            raise ValueError(f"unknown Coinglass interval {target.interval!r}")
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self.target = target
        self.sink = sink
        self.enabled = enabled
        self.period_s = period_s
        self.calls_ok = 0
        self.calls_failed = 0
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    def _refusal(self) -> str | None:
        if not self.enabled:
            return "Coinglass collection is disabled (COINGLASS_ENABLED=false): no call made"
        if is_placeholder(self._key):
            return (
                f"COINGLASS_API_KEY is missing or a placeholder (length {len(self._key.strip())}): no call made;"
                " set a real key (cqt env init)"
            )
        return None

    async def run(self) -> None:
        """Poll until `stop()`; a call in flight at stop is cancelled (a slow answer may take the whole
        30 s timeout, four of them a cycle), so the poller stops at once."""
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http:
            await until_stopped(self._stop, self._every_period(http))

    async def _every_period(self, http: aiohttp.ClientSession) -> None:
        while True:
            await self.poll_once(http)
            await asyncio.sleep(self.period_s)

    async def poll_once(self, http: aiohttp.ClientSession) -> None:
        """One cycle: every series once, each outcome recorded; after `stop()` no further call starts."""
        refusal = self._refusal()
        if refusal is not None:
            log.error(refusal)
            self.sink("coinglass_call_status", [status_row(self.target.pair, "-", None, refusal, None)])
            return
        for endpoint, symbol, query in self.target.calls():
            if self._stop.is_set():
                return
            await self._call(http, endpoint, symbol, query)

    async def _call(
        self, http: aiohttp.ClientSession, endpoint: str, symbol: str, query: dict[str, str]
    ) -> None:
        started = time.perf_counter()
        try:
            async with http.get(
                self.base_url + endpoint, params=query, headers={"CG-API-KEY": self._key}
            ) as resp:
                status = resp.status
                body = await resp.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            latency = (time.perf_counter() - started) * 1000
            self.calls_failed += 1
            log.warning("coinglass %s: %s", endpoint, exc)
            self.sink(
                "coinglass_call_status",
                [status_row(symbol, endpoint, None, f"{type(exc).__name__}: {exc}", latency)],
            )
            return
        latency = (time.perf_counter() - started) * 1000
        outcome = cp.outcome(status, body)
        rows: list[Row] = []
        if outcome.ok:
            try:
                rows = cp.series_rows(endpoint, symbol, self.target.interval, body, datetime.now(UTC))
            except MalformedFrame as exc:
                outcome = cp.CallOutcome(False, status, outcome.body_code, f"malformed data: {exc}")
        if outcome.ok:
            self.calls_ok += 1
            self.sink("metrics", rows)
        else:
            self.calls_failed += 1
            log.warning("coinglass %s failed: %s", endpoint, outcome.error)
        self.sink("coinglass_call_status", [status_row(symbol, endpoint, outcome, None, latency)])
