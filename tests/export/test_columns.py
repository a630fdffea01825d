"""The column dictionary: one entry per exported column, and the README shows exactly it."""

from __future__ import annotations

import pytest

from cqt.export.columns import COLUMNS, describe, known, markdown_table
from cqt.export.spec import LABEL_COLUMNS, PRED_COLUMNS
from tests.conftest import REPO_ROOT


def test_readme_export_section_shows_the_dictionary() -> None:
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme, (
        "README's column table differs from cqt.export.columns.markdown_table()"
    )


def test_every_name_has_one_entry_with_a_meaning_and_a_unit() -> None:
    names = [c.name for c in COLUMNS]
    assert len(names) == len(set(names))
    assert all(c.meaning and c.unit for c in COLUMNS)
    for name in ("t0", "symbol", "bn_close", "ub_close", "mk_mark_price", *PRED_COLUMNS, *LABEL_COLUMNS):
        assert known(name), name


def test_coinglass_columns_take_the_entry_of_their_metric_for_any_symbol() -> None:
    pair = describe("cg_ethusdt_funding_close")
    assert pair.name == "cg_ethusdt_funding_close" and pair.unit == "percent per interval"
    assert describe("cg_btc_oi_agg_close").unit == "USD"
    assert known("cg_sol_liq_long_usd")


def test_an_unknown_metric_is_marked_as_such_and_a_non_column_is_an_error() -> None:
    assert not known("bm_something_new") and describe("bm_something_new").unit == "as stored"
    assert not known("cg_btc_not_a_series")
    with pytest.raises(KeyError, match="no entry"):
        describe("not_a_column")
