"""`cqt check ...`: the pipeline checks (same as `python -m cqt.checks.<name>`) and `all` of them."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from cqt.checks.registry import CHECKS, overall, run_all
from cqt.checks.run import emit, execute
from cqt.cli.common import SourceOption, settings_or_exit

app = typer.Typer(
    help="Pipeline checks: altdata, feature, leak, coinglass. Exit 0 pass, 1 fail, 2 could not run.",
    no_args_is_help=True,
)

WINDOW = typer.Option(..., "--window", min=1, help="Seconds back from the database's now().")
AS_JSON = typer.Option(False, "--json", help="Print a machine-readable JSON document.")
SYMBOL = typer.Option(None, "--symbol", help="One Binance symbol (and its KRW market) or one Upbit market.")
DATASET = typer.Option(None, "--dataset", help="Leak check: also audit this exported Parquet file.")


def _command(name: str) -> None:
    def run(
        window: int = WINDOW,
        as_json: bool = AS_JSON,
        symbol: str | None = SYMBOL,
        source: SourceOption = "live",
    ) -> None:
        result = execute(name, CHECKS[name], settings_or_exit(source), window, symbol)
        raise typer.Exit(emit(result, as_json))

    run.__doc__ = f"The {name} check over the last --window seconds."
    app.command(name)(run)


for _name in ("altdata", "feature", "coinglass"):
    _command(_name)


@app.command("leak")
def leak(
    window: int = WINDOW,
    as_json: bool = AS_JSON,
    symbol: str | None = SYMBOL,
    dataset: Path | None = DATASET,
    source: SourceOption = "live",
) -> None:
    """The leak check over the last --window seconds (and an exported dataset with --dataset)."""
    result = execute("leak", CHECKS["leak"], settings_or_exit(source), window, symbol, dataset)
    raise typer.Exit(emit(result, as_json))


@app.command("all")
def all_checks(
    window: int = WINDOW,
    as_json: bool = AS_JSON,
    symbol: str | None = SYMBOL,
    dataset: Path | None = DATASET,
    source: SourceOption = "live",
) -> None:
    """Every check; one summary line each, then PIPELINE OVERALL: PASS|FAIL."""
    results = run_all(settings_or_exit(source), window, symbol, dataset)
    line, code = overall(results)
    if as_json:
        docs = [json.loads(r.to_json()) for r in results]
        typer.echo(json.dumps({"status": "PASS" if code == 0 else "FAIL", "exit_code": code, "checks": docs}))
    else:
        for r in results:
            typer.echo(r.summary())
        typer.echo(line)
    raise typer.Exit(code)
