"""`cqt env ...`: the environment/key activation commands."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cqt.envfile import init_env

app = typer.Typer(help="Manage the .env file (settings and API keys).", no_args_is_help=True)


@app.command("init")
def init(
    example: Annotated[Path, typer.Option(help="Template to build .env from.")] = Path(".env.example"),
    target: Annotated[Path, typer.Option(help="The .env file to write.")] = Path(".env"),
) -> None:
    """Create .env from .env.example, backing up an existing .env and keeping every real key.

    A real secret exported in the environment (e.g. COINGLASS_API_KEY=... cqt env init) is written into
    .env. Prints for each secret only whether it is present, its length and whether it is a placeholder.
    """
    try:
        result = init_env(example, target)
    except (FileNotFoundError, PermissionError) as exc:
        typer.echo(f"env init failed: {exc}", err=True)
        raise typer.Exit(2) from None
    if result.backup is not None:
        typer.echo(f"backed up the previous {target} to {result.backup}")
    typer.echo(f"wrote {result.target} (mode 600)")
    for status in result.secrets:
        typer.echo(status.line())
