"""Every ALT-5 / ALT-6 gate item (reference: alt_gates.md): what it requires and what to do when it fails.

The feature files name their scenarios by these ids (`ALT-6.7 ...`); the matrix and the reports list every
item here, so an item whose scenario did not run shows up as a failure instead of disappearing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ITEM_ID = re.compile(r"\bALT-[56]\.\d+\b")

# The failure guide of alt_gates.md, one entry per kind of failure; gate messages end with the matching one.
GUIDES: dict[str, str] = {
    "database": "start the database: with DB_URL unset `cqt db up` starts the embedded server; otherwise start"
    " the server DB_URL names (or correct DB_URL), then `cqt db check`",
    "altdata": "altdata: look at stream lag and fill (stream_status lag per stream, open gaps, reconnects);"
    " a silent or lagging stream is a collector, network or venue problem",
    "feature": "feature: look at the null rates and value ranges in the measurements; a null-heavy feature"
    " means its source series is missing or late in the window",
    "leak": "leak: a value was used before it was known (ts or recv_ts > t0, or label_ts < t0 + H); fix the"
    " time alignment at once and do not use the dataset",
    "coinglass": "coinglass: check COINGLASS_ENABLED=true, a real COINGLASS_API_KEY (`COINGLASS_API_KEY=..."
    " cqt env init`) and coinglass_call_status (http_status, body_code, error) for the plan's limits",
    "export": "empty export: run the bot longer (a 1 h export needs 1 h + the horizon of bars)",
    "entrypoint": "an entry point is missing or does not start: install the project (`pip install -e .`)"
    " and check that the module or script exists",
    "bot": "start the bot (`python -m cqt.bot`) and keep it running; `cqt db status` shows the database",
}


@dataclass(frozen=True)
class GateItem:
    """One row of an ALT report's table."""

    id: str
    section: str
    title: str
    required: str

    @property
    def report(self) -> str:
        """`ALT-5` or `ALT-6`."""
        return self.id.split(".")[0]

    @property
    def number(self) -> int:
        """The item's number within its report."""
        return int(self.id.split(".")[1])


ITEMS: tuple[GateItem, ...] = (
    GateItem("ALT-5.1", "Preconditions", "Database answers and Coinglass is enabled with a real key",
             "SELECT 1 on the configured database; COINGLASS_ENABLED=true and a non-placeholder"
             " COINGLASS_API_KEY (presence, length, placeholder status only)"),
    GateItem("ALT-5.2", "Operation", "The bot ran 24 h continuously",
             "a bot_runs row with 24 h between start and last heartbeat without a heartbeat gap; otherwise"
             " the longest run with its stop cause"),
    GateItem("ALT-5.3", "Operation", "The dashboard health endpoint answers",
             "`cqt dashboard` started; GET /_stcore/health answers `ok` (and an unknown /_stcore path does not answer `ok`)"),
    GateItem("ALT-5.4", "Operation", "Pipeline checks pass at +10 min, +1 h and +24 h of the run",
             "altdata, feature, leak, coinglass checks PASS over the last 10 min, 1 h and 24 h of a run at"
             " least that long (per-module results recorded)"),
    GateItem("ALT-5.5", "Dataset", "1 h export is non-empty and drops no label_ts violations",
             "btc_1h.parquet --horizon 120 readable with rows > 0; rows dropped for label_ts < t0 + horizon"
             " at most 0.1 % of the rows"),
    GateItem("ALT-5.6", "Dataset", "24 h export btc_24h.parquet",
             "a 24 h bot run; btc_24h.parquet --horizon 120 readable and non-empty; file size, rows,"
             " label_ts violations dropped, UP/DOWN/NONE distribution, realised volatility"),
    GateItem("ALT-5.7", "Dataset", "An all-NONE label distribution is reported, not failed",
             "`cqt labels study --last 24h` over a 24 h run prints the distribution with the volatility and"
             " r_t used, and the fixed vs dynamic r_t comparison"),
    GateItem("ALT-5.8", "Operations record", "Operations record of the run",
             "start, stop, continuous duration, stop cause of the longest run; top 5 error/warning messages"
             " (bot_events and the bot log)"),
    GateItem("ALT-5.9", "Report", "The filled ALT-5 report is written",
             "reports/ALT-5.md written from this session's results, one row per item"),
    GateItem("ALT-6.1", "Static", "Every Python source file compiles",
             "every .py file of the checkout compiles (syntax errors listed by file and line)"),
    GateItem("ALT-6.2", "Static", "The required entry points exist and start",
             "bot, dashboard, the four diagnostics, the dataset export, `cqt env init` and"
             " scripts/run_pipeline_checks.sh each start with --help and exit 0"),
    GateItem("ALT-6.3", "Static", "No SQL is built by string interpolation of values",
             "no f-string, %-format, .format() or + concatenation building SQL text in cqt/"),
    GateItem("ALT-6.4", "Static", ".gitignore covers .env, .env.bak*, data/datasets/*, logs/",
             "`git check-ignore` ignores each of them and none is tracked"),
    GateItem("ALT-6.5", "Runtime", "DB_CONNECT_OK: the configured database answers SELECT 1",
             "SELECT 1 = 1 on the configured database"),
    GateItem("ALT-6.6", "Runtime", "Coinglass enabled with a real API key",
             "COINGLASS_ENABLED=true and COINGLASS_API_KEY present and not a placeholder (presence, length,"
             " placeholder status printed; never the value)"),
    GateItem("ALT-6.7", "Runtime", "The bot has run at least 10 minutes continuously",
             "a bot_runs row spanning 10 min from start to last heartbeat without a heartbeat gap"),
    GateItem("ALT-6.8", "Runtime", "run_pipeline_checks.sh --window 600 exits 0",
             "exit 0 with altdata, feature, leak and coinglass all PASS over a window the bot was running in"),
    GateItem("ALT-6.9", "Runtime", "Coinglass collection evidence in the window",
             "coinglass_call_status rows with ok = true (HTTP 200 and body code 0) in the check window"),
    GateItem("ALT-6.10", "Runtime", "A 1-hour export is a non-empty, readable Parquet file",
             "export_dataset.py --horizon 120 --last 1h exits 0 and writes btc_1h.parquet with rows > 0"),
)  # fmt: skip

BY_ID: dict[str, GateItem] = {item.id: item for item in ITEMS}


def item_of(scenario_name: str) -> GateItem | None:
    """The gate item a scenario encodes, from the id its name starts with."""
    found = ITEM_ID.search(scenario_name)
    return BY_ID.get(found.group(0)) if found else None
