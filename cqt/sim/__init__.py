"""`cqt.sim`: a local exchange speaking the Upbit, Binance USD-M and Coinglass v4 wire protocols on
loopback, from one seeded synthetic market, with fault injection. See `SimServer` and `MarketModel`."""

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
