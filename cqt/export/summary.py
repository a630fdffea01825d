"""The export's printed summary, shaped like the ALT-5 export table (size, rows, label_ts violations,
UP/DOWN/NONE distribution, volatility of the period)."""

from __future__ import annotations

from cqt.export.dataset import ExportResult
from cqt.export.spec import ExportParams, iso
from cqt.export.stats import VIOLATION


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def summary_lines(params: ExportParams, result: ExportResult) -> list[str]:
    s = result.stats
    dist = s.distribution()
    total = sum(dist.values())
    share = "  ".join(f"{k} {v} ({100 * v / total:.1f} %)" if total else f"{k} 0" for k, v in dist.items())
    vol = s.realised_vol()
    vol_text = (
        "no 1 s returns in the range"
        if vol["sigma_1s"] is None
        else f"sigma_1s {vol['sigma_1s']:.3e}; over H {100 * float(vol['horizon'] or 0):.4f} %;"
        f" period {100 * float(vol['period'] or 0):.3f} %; annualised {100 * float(vol['annualised'] or 0):.1f} %"
    )
    where = str(result.paths[0]) if len(result.paths) == 1 else f"{len(result.paths)} day partitions"
    dropped = ", ".join(f"{k} {v}" for k, v in s.dropped_by_reason().items())
    stale = s.stale_share
    return [
        f"export {params.symbol} {iso(params.start)} .. {iso(params.end)}: horizon {params.horizon_s} s,"
        f" label {params.label}, r_t {params.r_policy}, every {params.every_s} s",
        f"file           {where} ({human_bytes(result.size_bytes)})",
        f"rows           {s.rows}",
        f"label_ts violations dropped  {s.dropped[VIOLATION]} (on the written file: {result.file_violations})",
        f"dropped        {dropped}",
        f"labels         {share}",
        f"realised vol   {vol_text}",
        f"quality        bars {s.bars}, gap bars {s.gap_bars}, stale share "
        f"{'n/a' if stale is None else f'{100 * stale:.1f} %'}, grid times without a bar {s.grid_without_bar}",
        f"time           {result.seconds:.2f} s ({s.rows / result.seconds if result.seconds else 0:,.0f} rows/s)",
    ]
