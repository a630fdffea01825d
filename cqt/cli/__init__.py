"""The `cqt` command line: one entry point, one subcommand group per concern.

Exit codes (every subcommand): 0 success, 1 the command ran and found a failure (a check failed),
2 the command could not run (bad input, database unreachable, missing file); the message says why and
how to fix it.
"""

from __future__ import annotations

import typer

from cqt.cli import bars as bars_cli
from cqt.cli import bot as bot_cli
from cqt.cli import check as check_cli
from cqt.cli import dashboard as dashboard_cli
from cqt.cli import db as db_cli
from cqt.cli import env as env_cli
from cqt.cli import export as export_cli
from cqt.cli import gate as gate_cli
from cqt.sim import cli as sim_cli

EXIT_CODES_HELP = "Exit codes: 0 success; 1 a check failed; 2 could not run (the message says how to fix it)."

app = typer.Typer(
    name="cqt",
    help="cqt: crypto market data into PostgreSQL, 1 s bars, point-in-time features, leak-safe labels.\n\n"
    + EXIT_CODES_HELP,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(bars_cli.app, name="bars")
app.add_typer(check_cli.app, name="check")
app.add_typer(db_cli.app, name="db")
app.add_typer(env_cli.app, name="env")
# subcommands owned by other modules register here
app.command("sim", help="Run the local exchange simulator.")(sim_cli.sim)
app.command("bot", help="Run the bot: collectors, bars, predictor, settler (same as python -m cqt.bot).")(
    bot_cli.bot
)
app.command("dashboard", help="Serve the Streamlit dashboard (binds 127.0.0.1 unless told otherwise).")(
    dashboard_cli.dashboard
)
app.command(
    "export", help="Export a leak-safe labelled dataset to Parquet (same as scripts/export_dataset.py)."
)(export_cli.export)
app.add_typer(export_cli.labels_app, name="labels")
app.command(
    "gate",
    help="Run the ALT-5 / ALT-6 acceptance gates; write reports/gate.md, gate.json, ALT-5.md, ALT-6.md.",
)(gate_cli.gate)


@app.command("version")
def version() -> None:
    """Print the package and Rust core versions."""
    import cqt

    typer.echo(f"cqt {cqt.__version__} (core {cqt.core_version()})")


def main() -> None:
    """Console-script entry point."""
    app()
