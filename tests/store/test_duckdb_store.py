from datetime import UTC, datetime

import polars as pl
import pytest

from mirrorguard.errors import StoreError
from mirrorguard.store import DuckDBStore

TS = pl.Datetime("us", "UTC")


def frame(**cols):
    base = {"@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)], "event.id": ["a:1"],
            "event.dataset": ["t"]}
    return pl.DataFrame({**base, **cols}).with_columns(pl.col("@timestamp").cast(TS))


def test_new_columns_are_added_and_type_clash_widens_without_loss(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(frame(**{"x.port": [80]}))
        st.append_events(frame(**{"x.port": ["http-alt"], "y.list": [["a", "b"]]}))
        df = st.query('SELECT "x.port", "y.list" FROM events ORDER BY 1')
        assert df["x.port"].to_list() == ["80", "http-alt"]
        assert df["y.list"].to_list()[1] == ["a", "b"]


def test_transaction_rolls_back_everything(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        with pytest.raises(RuntimeError), st.transaction():
            st.append_events(frame(**{"z.new": [1]}))
            raise RuntimeError("killed")
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 0
        st.append_events(frame(**{"z.new": [2]}))
        assert st.query('SELECT "z.new" FROM events')["z.new"].to_list() == [2]


def test_manifest_rejects_unknown_columns(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st, pytest.raises(StoreError):
        st.record_manifest(ingest_id="x", **{"path; DROP TABLE events": 1})


def test_export_parquet_partitions_by_dataset_and_date(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(frame(**{"a.b": [1]}))
        n = st.export_parquet(tmp_path / "pq")
    assert n == 1
    files = list((tmp_path / "pq").rglob("*.parquet"))
    assert len(files) == 1 and "dataset=t" in str(files[0]) and "date=2024-01-01" in str(files[0])
    back = pl.read_parquet(files[0])
    assert back["a.b"].to_list() == [1]


def test_bad_sql_is_a_store_error(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st, pytest.raises(StoreError, match="query"):
        st.query("SELEC nonsense")


def test_column_names_differing_only_by_case_are_folded_not_lost(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(frame(**{"winlog.event_data.SourceProcessGuid": ["a"]}))
        st.append_events(frame(**{"winlog.event_data.SourceProcessGUID": ["b"],
                                  "x.Y": ["1"], "x.y": [None]}))
        df = st.query('SELECT "winlog.event_data.SourceProcessGuid" AS g, "x.Y" AS y '
                      "FROM events ORDER BY 1")
        assert df["g"].to_list() == ["a", "b"]
        assert df["y"].to_list()[1] == "1"
