import typer

from cqt.sim.cli import sim

typer.run(sim)
