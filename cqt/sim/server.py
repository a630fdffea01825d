"""`SimServer`: the three venues on loopback ports, fed from one market run against the wall clock."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType

from aiohttp import web

from cqt.sim import binance_ws, upbit_ws
from cqt.sim.binance_rest import BinanceRest
from cqt.sim.binance_ws import BinanceHub
from cqt.sim.coinglass import CoinglassRest
from cqt.sim.config import SimConfig
from cqt.sim.faults import Fault, FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.market import MarketModel, MarketRun
from cqt.sim.upbit_rest import UpbitRest
from cqt.sim.upbit_ws import UpbitHub
from cqt.sim.view import MarketView, now_ms

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SimUrls:
    """Base URLs with the meaning of the live defaults; collectors append the paths themselves."""

    upbit_ws: str  # wss://api.upbit.com/websocket/v1
    upbit_rest: str  # https://api.upbit.com
    binance_ws_market: str  # wss://fstream.binance.com/market
    binance_ws_public: str  # wss://fstream.binance.com/public
    binance_rest: str  # https://fapi.binance.com
    coinglass_rest: str  # https://open-api-v4.coinglass.com

    def as_env(self) -> dict[str, str]:
        return {
            "UPBIT_WS_URL": self.upbit_ws,
            "UPBIT_REST_URL": self.upbit_rest,
            "BINANCE_WS_MARKET_URL": self.binance_ws_market,
            "BINANCE_WS_PUBLIC_URL": self.binance_ws_public,
            "BINANCE_REST_URL": self.binance_rest,
            "COINGLASS_REST_URL": self.coinglass_rest,
        }


class SimServer:
    """`async with SimServer(cfg) as sim:` in a running loop, or `with SimServer.in_thread(cfg) as sim:`."""

    def __init__(self, cfg: SimConfig | None = None) -> None:
        self.cfg = cfg or SimConfig()
        self.model = MarketModel(
            self.cfg.seed,
            binance_symbols=self.cfg.binance_symbols,
            upbit_symbols=self.cfg.upbit_symbols,
            rate=self.cfg.rate,
            liquidation_rate=self.cfg.liquidation_rate,
        )
        retention = self.cfg.ledger_retention_s
        self.ledger = Ledger(
            self.cfg.binance_symbols,
            self.cfg.upbit_symbols,
            None if retention is None else int(retention * 1000),
        )
        self.faults = FaultPlan()
        self._runners: list[web.AppRunner] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._urls: SimUrls | None = None
        self.run: MarketRun | None = None

    @property
    def urls(self) -> SimUrls:
        if self._urls is None:
            raise RuntimeError("the simulator is not running")
        return self._urls

    @property
    def start_ms(self) -> int:
        """When this run's market opened: with the seed, rate and symbols, it determines the market."""
        if self.run is None:
            raise RuntimeError("the simulator is not running")
        return self.run.start_ms

    async def __aenter__(self) -> SimServer:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    async def start(self) -> None:
        cfg = self.cfg
        # The market opens at the next whole second, never before this call: an earlier run (same database,
        # same seed) only emitted events timed before now, so none of its times or ids is replayed.
        start_ms = -(-now_ms() // 1000) * 1000
        self.run = self.model.run(start_ms)
        view = MarketView(self.model, self.ledger, start_ms)
        self.binance_hub = BinanceHub(cfg, self.ledger, self.faults)
        self.upbit_hub = UpbitHub(cfg, self.model, self.ledger, self.faults, start_ms)
        # Serving begins once the market is open, so the first tick already carries the opening mark prices.
        await asyncio.sleep(max(start_ms - now_ms(), 0) / 1000)
        self._tick()
        # Seed, rate, symbols and this start time determine the whole market: enough to regenerate it.
        opened = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start_ms // 1000))
        log.info(
            "simulator market: seed %d, %g msg/s, opened at %d ms (%s)", cfg.seed, cfg.rate, start_ms, opened
        )

        upbit_app = web.Application()
        upbit_ws.add_routes(upbit_app, self.upbit_hub)
        for path, handler in UpbitRest(cfg, self.upbit_hub, self.ledger, self.faults).routes():
            upbit_app.router.add_get(path, handler)
        binance_app = web.Application()
        binance_ws.add_routes(binance_app, self.binance_hub)
        for path, handler in BinanceRest(cfg, view, self.ledger, self.faults).routes():
            binance_app.router.add_get(path, handler)
        coinglass_app = web.Application()
        for path, handler in CoinglassRest(cfg, view, self.faults).routes():
            coinglass_app.router.add_get(path, handler)

        upbit_port = await self._serve(upbit_app, cfg.upbit_port)
        binance_port = await self._serve(binance_app, cfg.binance_port)
        coinglass_port = await self._serve(coinglass_app, cfg.coinglass_port)
        host = cfg.host
        self._urls = SimUrls(
            upbit_ws=f"ws://{host}:{upbit_port}/websocket/v1",
            upbit_rest=f"http://{host}:{upbit_port}",
            binance_ws_market=f"ws://{host}:{binance_port}/market",
            binance_ws_public=f"ws://{host}:{binance_port}/public",
            binance_rest=f"http://{host}:{binance_port}",
            coinglass_rest=f"http://{host}:{coinglass_port}",
        )
        self.faults.attach(asyncio.get_running_loop(), self._connection_fault)
        self._tasks = [asyncio.create_task(self._feed_loop())]

    async def _serve(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()
        site = web.TCPSite(runner, self.cfg.host, port)
        await site.start()
        self._runners.append(runner)
        address = runner.addresses[0]
        return int(address[1])

    def _tick(self) -> None:
        assert self.run is not None
        now = now_ms()
        batch = self.run.advance(now)
        self.ledger.record(batch)
        self.binance_hub.feed(batch, now)
        self.upbit_hub.feed(batch)

    async def _feed_loop(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.cfg.tick_ms / 1000
        next_at = loop.time()
        while True:
            try:
                self._tick()
            except (
                Exception
            ):  # a rendering bug must not silence every venue; it is logged and the feed goes on
                log.exception("simulator tick failed")
            next_at = max(next_at + period, loop.time())
            await asyncio.sleep(next_at - loop.time())

    def open_connections(self, venue: str) -> list[str]:
        """The WebSocket paths of `venue`'s open client connections, sorted (one entry per connection)."""
        hub = self.binance_hub if venue == "binance" else self.upbit_hub
        # a copy first: the set changes on the simulator's thread while a test reads it from another
        return sorted(c.path for c in list(hub.conns) if c.alive)

    def _connection_fault(self, fault: Fault) -> None:
        if fault.venue in (None, "binance"):
            self.binance_hub.apply(fault)
        if fault.venue in (None, "upbit"):
            self.upbit_hub.apply(fault)

    async def stop(self) -> None:
        self.faults.detach()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        conns = [*self.binance_hub.conns, *self.upbit_hub.conns] if self._urls else []
        for conn in conns:
            if conn.alive:
                conn.transport.abort()
        for runner in self._runners:
            await runner.cleanup()
        self._runners = []
        self._urls = None

    @classmethod
    @contextlib.contextmanager
    def in_thread(cls, cfg: SimConfig | None = None) -> Iterator[SimServer]:
        """Run the simulator on its own event loop in a background thread (for sync tests and the CLI)."""
        sim = cls(cfg)
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=loop.run_forever, name="cqt-sim", daemon=True)
        thread.start()
        try:
            asyncio.run_coroutine_threadsafe(sim.start(), loop).result(timeout=30)
            yield sim
        finally:
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(sim.stop(), loop).result(timeout=30)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()
