"""The Parquet segment write path: same ``events`` for readers, transactional, crash-safe."""

import shutil
from datetime import UTC, datetime

import polars as pl
import pytest

from mirrorguard.store import DuckDBStore
from mirrorguard.store.segments import TARGET_ROWS, Pending

TS = pl.Datetime("us", "UTC")


def batch(n: int, start: int = 0, ingest: str = "i1", dataset: str = "zeek.conn",
          **cols: list[object]) -> pl.DataFrame:
    base = {
        "@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)] * n,
        "event.id": [f"{ingest}:{start + i}" for i in range(n)],
        "event.dataset": [dataset] * n,
        "mirrorguard.ingest_id": [ingest] * n,
        "source.bytes": list(range(start, start + n)),
    }
    return pl.DataFrame({**base, **cols}).with_columns(pl.col("@timestamp").cast(TS))


def files(tmp_path):
    return sorted((tmp_path / "s.duckdb.segments").rglob("*.parquet"))


def count(st: DuckDBStore) -> int:
    return int(st.query("SELECT count(*) AS n FROM events")["n"][0])


def test_large_batches_become_segments_read_through_the_events_view(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=100) as st:
        st.append_events(batch(150))
        st.append_events(batch(20, start=150, ingest="i2"))  # small: a DuckDB table insert
        assert count(st) == 170
        segs = st.query("SELECT table_name, ingest_id, rows FROM event_segments")
        assert segs.rows() == [("events__zeek_conn", "i1", 150)]
        table = st.query('SELECT count(*) AS n FROM "events__zeek_conn"')["n"][0]
        assert table == 20
        types = dict(st.query("SELECT column_name, column_type FROM (DESCRIBE events)").rows())
        assert types["source.bytes"] == "BIGINT" and types["@timestamp"].startswith("TIMESTAMP")
        total = st.query('SELECT sum("source.bytes") AS s FROM events')["s"][0]
        assert total == sum(range(170))
    assert len(files(tmp_path)) == 1


def test_constant_text_is_stored_compactly_and_read_back_as_text(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(5, **{"network.transport": ["tcp"] * 5}))
        row = st.query('SELECT "event.dataset", "network.transport" FROM events LIMIT 1')
        assert row.rows() == [("zeek.conn", "tcp")]
        assert row.schema["network.transport"] == pl.String


def test_read_only_open_and_a_moved_store_still_read_segments(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(10))
    with DuckDBStore(tmp_path / "s.duckdb", read_only=True) as st:
        assert count(st) == 10
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    shutil.move(tmp_path / "s.duckdb", moved / "s.duckdb")
    shutil.move(tmp_path / "s.duckdb.segments", moved / "s.duckdb.segments")
    with DuckDBStore(moved / "s.duckdb", read_only=True) as st:
        assert count(st) == 10


def test_rollback_removes_the_files_it_wrote(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        with pytest.raises(RuntimeError), st.transaction():
            st.append_events(batch(10))
            st.checkpoint()  # committed: stays
            st.append_events(batch(10, start=10, ingest="i2"))
            st.event_columns()  # a read flushes pending rows to a file inside the transaction
            raise RuntimeError("killed")
        assert count(st) == 10
        assert st.query("SELECT ingest_id FROM event_segments")["ingest_id"].to_list() == ["i1"]
    assert len(files(tmp_path)) == 1


def test_files_nobody_lists_are_swept_when_the_store_is_opened_for_writing(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(10))
    stray = tmp_path / "s.duckdb.segments" / "events__zeek_conn" / "crashed.parquet"
    batch(3).write_parquet(stray)  # as if a crash came between writing and committing
    with DuckDBStore(tmp_path / "s.duckdb", read_only=True) as st:
        assert stray.exists()  # readers never delete
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        assert count(st) == 10
    assert not stray.exists() and len(files(tmp_path)) == 1


def test_discarding_an_ingest_removes_its_segments_after_commit(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(10, ingest="keep"))
        st.append_events(batch(7, start=10, ingest="drop"))
        assert len(files(tmp_path)) == 2
        assert st.discard_ingest("drop") == 7
        assert count(st) == 10
    assert len(files(tmp_path)) == 1


def test_a_column_widened_to_text_later_reads_as_text_from_old_segments(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(2, **{"x.port": [80, 443]}))
        st.append_events(batch(1, start=2, ingest="i2", **{"x.port": ["http-alt"]}))
        got = st.query('SELECT "x.port" FROM events ORDER BY "source.bytes"')["x.port"]
        assert got.to_list() == ["80", "443", "http-alt"]


def test_parts_of_one_transaction_are_gathered_into_one_segment(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=10) as st:
        with st.transaction():
            for k in range(4):
                st.append_events(batch(5, start=5 * k))
        assert st.query("SELECT rows FROM event_segments")["rows"].to_list() == [20]
        with st.transaction():
            st.append_events(batch(5, start=100, ingest="small"))  # under the minimum
        assert st.query("SELECT count(*) AS n FROM event_segments")["n"][0] == 1
        assert count(st) == 25


def test_pending_hands_over_a_segment_once_a_table_reaches_the_target():
    pending = Pending()
    half = batch(TARGET_ROWS // 2)
    assert pending.add("t", "i", half) is None
    full = pending.add("t", "i", half.with_columns(pl.lit(1).alias("extra")))
    assert full is not None and full[2].height == 2 * (TARGET_ROWS // 2)
    assert "extra" in full[2].columns and not pending


def test_columns_without_values_are_left_out_of_the_file_and_read_as_null(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(3, **{"x.empty": [None, None, None], "x.some": [1, None, 2]}))
        cols = st.query("SELECT columns FROM event_segments")["columns"][0].to_list()
        assert "x.empty" not in cols and "x.some" in cols
        got = st.query('SELECT "x.empty", "x.some" FROM events ORDER BY "source.bytes"')
        assert got["x.empty"].to_list() == [None] * 3 and got["x.some"].to_list() == [1, None, 2]


def test_compaction_merges_small_segments_of_complete_ingests_only(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        for k in range(4):
            st.append_events(batch(5, start=5 * k, ingest=f"done{k}",
                                   **{"x.port": [k] * 5} if k == 3 else {}))
            st.record_manifest(ingest_id=f"done{k}", status="complete")
        st.append_events(batch(5, start=20, ingest="killed"))
        st.record_manifest(ingest_id="killed", status="partial")
        before = st.query('SELECT * FROM events ORDER BY "source.bytes"')
        report = st.compact()
        assert report.merged == {"events__zeek_conn": (4, 1)}
        segs = st.query("SELECT ingest_id, rows FROM event_segments ORDER BY rows DESC").rows()
        assert segs == [(None, 20), ("killed", 5)]
        after = st.query('SELECT * FROM events ORDER BY "source.bytes"')
        assert after.equals(before)
        assert st.discard_ingest("killed") == 5  # a killed run can still be undone
    assert len(files(tmp_path)) == 1


def test_compaction_keeps_a_widened_column_as_text(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=1) as st:
        st.append_events(batch(2, ingest="a", **{"x.port": [80, 443]}))
        st.append_events(batch(1, start=2, ingest="b", **{"x.port": ["http-alt"]}))
        for i in ("a", "b"):
            st.record_manifest(ingest_id=i, status="complete")
        st.compact()
        got = st.query('SELECT "x.port" FROM events ORDER BY "source.bytes"')["x.port"]
        assert got.to_list() == ["80", "443", "http-alt"]
