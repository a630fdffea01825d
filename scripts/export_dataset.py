"""`python scripts/export_dataset.py --output data/datasets/btc_1h.parquet --horizon 120` (the command
the ALT reports use): the same as `cqt export`."""

from __future__ import annotations

import typer

from cqt.cli.export import export

if __name__ == "__main__":
    typer.run(export)
