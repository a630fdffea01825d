"""`cqt.sim`: a local exchange speaking the Upbit, Binance USD-M and Coinglass v4 wire protocols on
loopback, from one seeded synthetic market, with fault injection.

    async with SimServer(SimConfig(seed=7, rate=300)) as sim:      # or: with SimServer.in_thread(cfg) as sim:
        env = sim.urls.as_env()                                     # UPBIT_WS_URL=ws://127.0.0.1:.../websocket/v1 ...
        sim.faults.gap("binance", "BTCUSDT", count=5)              # withheld from streams, still in REST
        sim.ledger.withheld_ids("binance", "BTCUSDT")              # what was generated vs sent

    for batch in MarketModel(seed=7).generate(start_ms, end_ms):    # no server: columnar numpy batches
        batch.binance_trades.price, batch.upbit_trades.seq_id, batch.marks, batch.metrics, ...

Venues: Upbit `/websocket/v1` (binary frames) and `/v1/trades/ticks`, `/v1/candles/{seconds,days}`,
`/v1/ticker`; Binance `/market` and `/public` WebSocket routes and `/fapi/v1/...`, `/futures/data/...`;
Coinglass `/api/futures/...` and `/api/user/account/subscription` (key `SIM_COINGLASS_KEY`).
Fault kinds and the CLI spec syntax: `cqt.sim.faults`. History before a run started is synthesised by
stateless series (`cqt.sim.series`); from the start on, REST answers from the run's own ledger.
"""

from cqt.sim.config import SIM_COINGLASS_KEY, SimConfig
from cqt.sim.faults import Fault, FaultPlan
from cqt.sim.ledger import Ledger
from cqt.sim.market import MarketModel, MarketRun
from cqt.sim.server import SimServer, SimUrls
from cqt.sim.tables import MarketBatch

__all__ = [
    "SIM_COINGLASS_KEY",
    "Fault",
    "FaultPlan",
    "Ledger",
    "MarketBatch",
    "MarketModel",
    "MarketRun",
    "SimConfig",
    "SimServer",
    "SimUrls",
]
