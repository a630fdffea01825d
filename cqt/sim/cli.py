"""`cqt sim`: run the local exchange simulator until Ctrl-C or `--duration`."""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cqt.sim.config import SIM_COINGLASS_KEY, SimConfig
from cqt.sim.faults import CLI_HELP, Fault
from cqt.sim.server import SimServer


def sim(
    seed: Annotated[
        int,
        typer.Option(
            help="Seed of the synthetic market. Runs continue from their start time: the same seed gives"
            " the same market only for the same start, and ids keep growing from run to run."
        ),
    ] = 7,
    rate: Annotated[
        float,
        typer.Option(
            help="Target market-data messages per second over all venues; e.g. 50000 for load tests."
        ),
    ] = 300.0,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    upbit_port: Annotated[int, typer.Option(help="Upbit WebSocket + REST port (0 = a free port).")] = 0,
    binance_port: Annotated[
        int, typer.Option(help="Binance USD-M WebSocket (/market, /public) + REST port (0 = a free port).")
    ] = 0,
    coinglass_port: Annotated[int, typer.Option(help="Coinglass v4 REST port (0 = a free port).")] = 0,
    binance_symbols: Annotated[
        str, typer.Option(help="Comma-separated Binance USD-M symbols.")
    ] = "BTCUSDT,ETHUSDT",
    upbit_symbols: Annotated[
        str, typer.Option(help="Comma-separated Upbit KRW markets.")
    ] = "KRW-BTC,KRW-ETH",
    binance_lifetime: Annotated[
        float, typer.Option(help="Seconds before Binance closes a WebSocket.")
    ] = 86_400.0,
    ping_interval: Annotated[float, typer.Option(help="Seconds between Binance server pings.")] = 180.0,
    upbit_idle_timeout: Annotated[
        float, typer.Option(help="Seconds without traffic before Upbit closes a WebSocket.")
    ] = 120.0,
    weight_limit: Annotated[
        int, typer.Option(help="Binance REST weight per minute before 429 / 418.")
    ] = 2400,
    coinglass_plan: Annotated[
        str,
        typer.Option(help="Plan of the built-in Coinglass key: HOBBYIST, STARTUP, STANDARD, PROFESSIONAL."),
    ] = "STANDARD",
    fault: Annotated[list[str] | None, typer.Option("--fault", help=CLI_HELP)] = None,
    duration: Annotated[
        float, typer.Option(help="Stop after this many seconds (0 = run until Ctrl-C).")
    ] = 0.0,
) -> None:
    """Local exchange simulator: Upbit, Binance USD-M and Coinglass v4 wire protocols on loopback.

    Prints the base URLs and the environment lines that point cqt at it, then serves until Ctrl-C.
    """
    try:
        faults = [Fault.parse(spec) for spec in fault or []]
        cfg = SimConfig(
            seed=seed,
            rate=rate,
            host=host,
            upbit_port=upbit_port,
            binance_port=binance_port,
            coinglass_port=coinglass_port,
            binance_symbols=tuple(s.strip().upper() for s in binance_symbols.split(",") if s.strip()),
            upbit_symbols=tuple(s.strip().upper() for s in upbit_symbols.split(",") if s.strip()),
            binance_lifetime_s=binance_lifetime,
            binance_ping_interval_s=ping_interval,
            upbit_idle_timeout_s=upbit_idle_timeout,
            binance_weight_limit=weight_limit,
            coinglass_keys={SIM_COINGLASS_KEY: coinglass_plan.upper()},
        )
    except ValueError as exc:
        typer.echo(f"cqt sim: {exc}", err=True)
        raise typer.Exit(2) from exc
    with SimServer.in_thread(cfg) as server:
        for spec in faults:
            server.faults.schedule(spec)
        typer.echo(
            f"cqt sim running (seed {seed}, ~{rate:g} msg/s, market opened at {server.start_ms} ms). Base URLs:"
        )
        for name, url in server.urls.as_env().items():
            typer.echo(f"{name}={url}")
        typer.echo(f"COINGLASS_API_KEY={SIM_COINGLASS_KEY}")
        deadline = time.monotonic() + duration if duration > 0 else None
        try:
            while deadline is None or time.monotonic() < deadline:
                time.sleep(0.2)
        except KeyboardInterrupt:
            typer.echo("stopping")
        typer.echo(
            f"frames sent: {dict(server.ledger.frames_sent)}; faults applied: {dict(server.ledger.faults_applied)}"
        )
