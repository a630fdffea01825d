"""Running one check: settings, context, errors -> :class:`CheckResult`, and the ``python -m`` entry point.

``python -m cqt.checks.<name> --window N [--json] [--symbol S] [--dataset PATH]`` prints one line per
measurement and the summary line (or the JSON document with ``--json``) and exits 0 / 1 / 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import psycopg

from cqt.checks.context import CannotRun, CheckContext, open_context
from cqt.checks.result import CheckResult, Measurement
from cqt.config import SOURCES, ConfigError, Settings, load_settings

CheckFn = Callable[[CheckContext], list[Measurement]]


def execute(
    name: str,
    fn: CheckFn,
    settings: Settings,
    window_s: int,
    symbol: str | None = None,
    dataset: Path | None = None,
) -> CheckResult:
    """Run ``fn`` over the window; a database that cannot be reached gives an ERROR result, not a raise."""
    result = CheckResult(name, window_s)
    if window_s <= 0:
        result.error = f"--window must be a positive number of seconds, got {window_s}"
        return result
    try:
        with open_context(settings, window_s, symbol, dataset) as ctx:
            result.now = ctx.window.now
            result.measurements = fn(ctx)
    except CannotRun as exc:
        result.error = str(exc)
    except psycopg.OperationalError as exc:
        result.error = f"database connection lost: {str(exc).strip().splitlines()[0]}; fix: check the server"
    return result


def load_or_error(
    name: str, window_s: int, source: str = "live"
) -> tuple[Settings | None, CheckResult | None]:
    """Settings of `source`'s database, or an ERROR result naming the bad setting."""
    try:
        return load_settings().for_source(source), None
    except ConfigError as exc:
        return None, CheckResult(name, window_s, error=f"configuration error: {exc}")


def emit(result: CheckResult, as_json: bool) -> int:
    """Print the result (errors also to stderr) and return its exit code."""
    print(result.to_json() if as_json else result.text())
    if result.error is not None:
        print(f"{result.check}: could not run: {result.error}", file=sys.stderr)
    return result.exit_code


def parser(name: str, with_dataset: bool = False) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m cqt.checks.{name}", description=f"The {name} pipeline check."
    )
    p.add_argument("--window", type=int, required=True, help="seconds back from the database's now()")
    p.add_argument("--json", action="store_true", help="print a machine-readable JSON document")
    p.add_argument("--symbol", help="one Binance symbol (and its KRW market) or one Upbit KRW market")
    p.add_argument(
        "--source", choices=SOURCES, default="live", help="whose database: live (default) or the simulator's"
    )
    if with_dataset:
        p.add_argument("--dataset", type=Path, help="also audit this exported Parquet file")
    return p


def main(name: str, fn: CheckFn, argv: Sequence[str] | None = None, *, with_dataset: bool = False) -> int:
    """The ``python -m cqt.checks.<name>`` entry point; returns the exit code."""
    args = parser(name, with_dataset).parse_args(argv)
    settings, failed = load_or_error(name, args.window, args.source)
    if settings is None:
        assert failed is not None
        return emit(failed, args.json)
    dataset = getattr(args, "dataset", None)
    return emit(execute(name, fn, settings, args.window, args.symbol, dataset), args.json)
