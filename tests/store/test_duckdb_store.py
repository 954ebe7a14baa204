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


def ds_frame(datasets, **cols):
    n = len(datasets)
    base = {"@timestamp": [datetime(2024, 1, 1, tzinfo=UTC)] * n,
            "event.id": [f"e:{i}" for i in range(n)], "event.dataset": datasets}
    return pl.DataFrame({**base, **cols}).with_columns(pl.col("@timestamp").cast(TS))


def table_columns(st, table):
    return [r[0] for r in st.con.execute(f'DESCRIBE "{table}"').fetchall()]


def test_each_dataset_gets_its_own_table_and_the_view_shows_the_union(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["zeek.conn", "windows.sysmon", "zeek.conn"],
                                  **{"source.port": [1, None, 3],
                                     "winlog.event_data.Image": [None, "a.exe", None]}))
        tables = st.event_tables()
        assert tables == {"zeek.conn": "events__zeek_conn",
                          "windows.sysmon": "events__windows_sysmon"}
        # each table holds only its own dataset's columns
        assert "winlog.event_data.Image" not in table_columns(st, "events__zeek_conn")
        assert "source.port" not in table_columns(st, "events__windows_sysmon")
        assert st.query("SELECT count(*) AS n FROM events__zeek_conn")["n"][0] == 2
        df = st.query('SELECT "event.dataset" AS d, "source.port" AS p, '
                      '"winlog.event_data.Image" AS i FROM events ORDER BY "event.id"')
        assert df.rows() == [("zeek.conn", 1, None), ("windows.sysmon", None, "a.exe"),
                             ("zeek.conn", 3, None)]
        assert {"source.port", "winlog.event_data.Image"} <= set(st.event_columns())
        reg = st.query("SELECT dataset, table_name, created_at FROM event_tables ORDER BY 2")
        assert reg["table_name"].to_list() == ["events__windows_sysmon", "events__zeek_conn"]
        assert reg["created_at"].null_count() == 0


def test_columns_added_to_a_table_later_show_up_through_the_view(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["a"]))
        st.append_events(ds_frame(["b"]))
        # DuckDB rebinds views at query time: plain DDL on a dataset table, no view refresh
        st.con.execute('ALTER TABLE events__a ADD COLUMN "late.col" VARCHAR')
        st.con.execute("UPDATE events__a SET \"late.col\" = 'x'")
        df = st.query('SELECT "event.dataset" AS d, "late.col" AS c FROM events ORDER BY 1')
        assert df.rows() == [("a", "x"), ("b", None)]
        # and columns added through the store are visible to event_columns and information_schema
        st.append_events(ds_frame(["b"], **{"new.field": [7]}))
        assert st.event_columns()["new.field"] == "BIGINT"
        info = st.query("SELECT column_name FROM information_schema.columns "
                        "WHERE table_name = 'events'")["column_name"].to_list()
        assert "new.field" in info


def test_empty_store_has_an_events_view_with_the_core_columns(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        df = st.query("SELECT * FROM events")
        assert df.height == 0 and df.columns == ["@timestamp", "event.id", "event.dataset"]
        assert st.event_columns()["@timestamp"] == "TIMESTAMP WITH TIME ZONE"
        assert st.stats()["datasets"] == []
    with DuckDBStore(tmp_path / "s.duckdb", read_only=True) as st:
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 0


def test_a_type_clash_across_datasets_widens_every_table_so_the_view_keeps_one_type(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["a"], **{"x.port": [80]}))
        st.append_events(ds_frame(["b"], **{"x.port": [["h", "i"]]}))
        st.append_events(ds_frame(["c"], **{"x.port": [443]}))
        types = {t: dict(st.con.execute(f'SELECT column_name, column_type FROM '
                                        f'(DESCRIBE "{t}")').fetchall())["x.port"]
                 for t in st.event_tables().values()}
        assert set(types.values()) == {"VARCHAR"}
        df = st.query('SELECT "event.dataset" AS d, "x.port" AS p FROM events ORDER BY 1')
        assert df.rows() == [("a", "80"), ("b", "h,i"), ("c", "443")]


def test_case_folding_holds_across_dataset_tables(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["sec"], **{"w.SourceProcessGuid": ["a"]}))
        st.append_events(ds_frame(["sys", "sys"], **{"w.SourceProcessGUID": ["b", None],
                                                      "w.sourceprocessguid": [None, "c"]}))
        assert "w.SourceProcessGuid" in table_columns(st, "events__sys")
        df = st.query('SELECT "w.SourceProcessGuid" AS g FROM events ORDER BY 1')
        assert df["g"].to_list() == ["a", "b", "c"]
        assert [c for c in st.event_columns() if c.lower() == "w.sourceprocessguid"] == [
            "w.SourceProcessGuid"]


def test_rollback_leaves_no_partial_tables_rows_or_registry_entries(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["kept"]))
        with pytest.raises(KeyboardInterrupt), st.transaction():
            st.append_events(ds_frame(["kept", "new.ds"], **{"q.col": [1, 2]}))
            st.append_events(ds_frame(["other"]))
            raise KeyboardInterrupt("killed")
        assert st.event_tables() == {"kept": "events__kept"}
        rels = st.query("SELECT table_name FROM information_schema.tables "
                        "WHERE table_name LIKE 'events%' ORDER BY 1")["table_name"].to_list()
        assert rels == ["events", "events__kept"]
        assert "q.col" not in st.event_columns()
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 1
        # the caches were dropped with the rollback: the same dataset can be created again
        st.append_events(ds_frame(["new.ds"], **{"q.col": [5]}))
        assert st.query('SELECT "q.col" AS q FROM events WHERE "q.col" IS NOT NULL')["q"][0] == 5


def test_export_partitions_every_dataset_table(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["zeek.conn", "windows.sysmon"], **{"a.b": [1, None]}))
        assert st.export_parquet(tmp_path / "pq") == 2
    dirs = sorted(p.parent.parent.name for p in (tmp_path / "pq").rglob("*.parquet"))
    assert dirs == ["dataset=windows.sysmon", "dataset=zeek.conn"]


def test_frames_without_a_dataset_go_to_the_unset_table(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(pl.DataFrame({"event.id": ["x"], "k.v": [1]}))
        st.append_events(ds_frame([None, "d"]))
        assert st.event_tables() == {None: "events__unset", "d": "events__d"}
        assert st.query("SELECT count(*) AS n FROM events__unset")["n"][0] == 2


def test_reopening_keeps_the_layout_and_appends_to_the_same_tables(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["a"], **{"f.x": ["1"]}))
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["a"], **{"f.y": ["2"]}))
        assert st.event_tables() == {"a": "events__a"}
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 2
    with DuckDBStore(tmp_path / "s.duckdb", read_only=True) as st:
        assert {"f.x", "f.y"} <= set(st.event_columns())


def test_split_keeps_all_null_columns_but_not_other_datasets_columns(tmp_path):
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        st.append_events(ds_frame(["a", "b"], **{"only.a": ["x", None],
                                                 "nobody": pl.Series([None, None], dtype=pl.Int64)}))
        assert "only.a" in table_columns(st, "events__a")
        assert "only.a" not in table_columns(st, "events__b")
        assert "nobody" in table_columns(st, "events__a")
        assert "nobody" in table_columns(st, "events__b")
        assert st.event_columns()["nobody"] == "BIGINT"
