"""Sessions by key, by pattern and by window; count vectors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from mirrorguard.errors import SchemaError
from mirrorguard.features.sessions import (
    count_matrix,
    count_vectors,
    sessions_by_key,
    sessions_by_pattern,
    sessions_by_window,
)

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def _events() -> pl.DataFrame:
    return pl.DataFrame({
        "@timestamp": [T0 + timedelta(seconds=s) for s in (5, 1, 2, 70, 3)],
        "user.name": ["a", "a", "b", "a", "b"],
        "host.name": ["h1", "h1", "h1", "h2", "h1"],
        "message": ["x blk_1", "y blk_1 blk_-2", "z", "w blk_-2", "v blk_1"],
        "template_id": [10, 11, 12, 13, 14],
    })


def test_by_key_orders_by_time_and_keeps_rows() -> None:
    s = sessions_by_key(_events(), ["user.name", "host.name"], time_col="@timestamp")
    got = {r["session"]: (r["templates"], r["rows"]) for r in s.iter_rows(named=True)}
    assert got == {"a|h1": ([11, 10], [1, 0]), "b|h1": ([12, 14], [2, 4]), "a|h2": ([13], [3])}
    assert s["n_events"].sum() == 5
    assert "start" in s.columns and "end" in s.columns


def test_by_pattern_joins_every_id_once() -> None:
    s = sessions_by_pattern(_events(), r"blk_-?\d+")
    got = dict(s.select("session", "templates").rows())
    assert got == {"blk_1": [10, 11, 14], "blk_-2": [11, 13]}


def test_tumbling_and_sliding_windows() -> None:
    tumbling = sessions_by_window(_events(), every="1m")
    assert tumbling["templates"].to_list() == [[11, 12, 14, 10], [13]]
    sliding = sessions_by_window(_events(), every="30s", period="2m", by=["host.name"])
    assert sliding.filter(pl.col("host.name") == "h1")["n_events"].max() == 4
    assert all(name.startswith(("h1|", "h2|")) for name in sliding["session"].to_list())


def test_count_vectors_with_fixed_vocabulary() -> None:
    s = pl.DataFrame({"session": ["a", "b"], "templates": [[1, 1, 2], [3, 9]]})
    cv = count_vectors(s, vocabulary=[3, 1, 2])
    assert cv.columns == ["session", "t3", "t1", "t2", "t_other"]
    assert cv.rows() == [("a", 0, 2, 1, 0), ("b", 1, 0, 0, 1)]
    assert np.array_equal(count_matrix(s["templates"], np.array([], dtype=np.int64)),
                          [[3.0], [2.0]])


def test_missing_columns_raise() -> None:
    with pytest.raises(SchemaError):
        sessions_by_key(pl.DataFrame({"x": [1]}), "user.name")
