"""Each process spools into a locked directory of its own under SPOOL_DIR; a directory whose lock is free
(its bot is gone) and the flat layout of earlier versions are adopted by the next process, never shared."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cqt.store.spool import Spool

COLUMNS = {"t": ("a", "b")}


def ids(spool: Spool) -> list[object]:
    return [row[0] for batch in spool.batches() for row in batch.tables["t"]]


def spool_and_exit(root: Path, *values: int) -> None:
    """Another process claims a spool under `root`, spools one batch per value and exits (a crash, say)."""
    code = (
        "import sys; from pathlib import Path; from cqt.store.spool import Spool\n"
        "s = Spool.claim(Path(sys.argv[1]), 10**6)\n"
        "for v in sys.argv[2:]: s.append({'t': [(int(v), 'x')]}, {'t': ('a', 'b')})\n"
    )
    subprocess.run([sys.executable, "-c", code, str(root), *map(str, values)], check=True, timeout=60)


def test_two_claims_never_share_a_directory_or_a_file(tmp_path: Path) -> None:
    first, second = Spool.claim(tmp_path, 10**6), Spool.claim(tmp_path, 10**6)
    assert first.directory != second.directory and first.directory.parent == tmp_path
    first.append({"t": [(1, "first")]}, COLUMNS)
    second.append({"t": [(2, "second")]}, COLUMNS)
    assert ids(first) == [1] and ids(second) == [2]
    # a running neighbour's batches are not adopted
    third = Spool.claim(tmp_path, 10**6)
    assert third.depth == 0 and first.depth == 1 and second.depth == 1


def test_a_gone_process_leaves_its_batches_to_the_next_one_in_order(tmp_path: Path) -> None:
    spool_and_exit(tmp_path, 10, 11, 12)
    (orphan,) = [d for d in tmp_path.iterdir() if d.is_dir()]
    adopter = Spool.claim(tmp_path, 10**6)
    assert ids(adopter) == [10, 11, 12]
    assert not orphan.exists()  # emptied and removed, so it is adopted once
    adopter.append({"t": [(13, "new")]}, COLUMNS)
    assert ids(adopter) == [10, 11, 12, 13]
    assert ids(Spool.claim(tmp_path, 10**6)) == []


def test_the_flat_layout_of_earlier_versions_is_adopted(tmp_path: Path) -> None:
    legacy = Spool(tmp_path, 10**6)
    legacy.append({"t": [(1, "old")]}, COLUMNS)
    assert ids(Spool.claim(tmp_path, 10**6)) == [1]
    assert list(tmp_path.glob("*.batch")) == []


def test_release_removes_an_empty_directory_and_leaves_a_full_one(tmp_path: Path) -> None:
    empty, full = Spool.claim(tmp_path, 10**6), Spool.claim(tmp_path, 10**6)
    full.append({"t": [(7, "kept")]}, COLUMNS)
    empty.release()
    full.release()
    assert not empty.directory.exists() and full.directory.exists()
    # released: the next process adopts it
    assert ids(Spool.claim(tmp_path, 10**6)) == [7]


def test_rejected_rows_go_beside_the_process_directories(tmp_path: Path) -> None:
    spool = Spool.claim(tmp_path, 10**6)
    assert spool.rejected_dir == tmp_path / "rejected" / spool.directory.name
    (spool.directory / "000000000001.batch").write_text("not json\n")
    assert list(spool.batches()) == []
    assert [p.suffix for p in sorted(spool.rejected_dir.iterdir())] == [".batch", ".error"]
    # the rejected directory is not mistaken for an orphan spool
    assert Spool.claim(tmp_path, 10**6).depth == 0 and spool.rejected_dir.exists()
