"""A migrated database per test."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from cqt.db.connect import with_utc
from cqt.db.migrate import migrate


@pytest.fixture
def conn(fresh_db: str) -> Iterator[psycopg.Connection[Any]]:
    """An autocommit UTC connection to a freshly migrated database."""
    with psycopg.connect(with_utc(fresh_db, 5), autocommit=True) as c:
        migrate(c)
        yield c
