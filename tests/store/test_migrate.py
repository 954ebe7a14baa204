from datetime import UTC, datetime

import duckdb
import pytest

from mirrorguard.store import DuckDBStore
from mirrorguard.store import partitions as parts_mod

# What DuckDBStore created before events were split per dataset.
_OLD_DDL = """
CREATE TABLE ingest_manifest (
    ingest_id VARCHAR PRIMARY KEY, path VARCHAR, member VARCHAR, sha256 VARCHAR,
    format VARCHAR, status VARCHAR, offered BIGINT, accepted BIGINT, rejected BIGINT,
    reason VARCHAR, started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, schema_version INTEGER);
CREATE TABLE quarantine (
    ingest_id VARCHAR, file VARCHAR, member VARCHAR, line BIGINT, "offset" BIGINT,
    reason VARCHAR, raw BLOB, quarantined_at TIMESTAMPTZ);
CREATE TABLE events (
    "@timestamp" TIMESTAMPTZ, "event.id" VARCHAR, "event.dataset" VARCHAR,
    "source.port" BIGINT, "winlog.event_data.Image" VARCHAR, "tags.x" VARCHAR[],
    "never.set" VARCHAR);
CREATE TABLE store_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
"""


def old_store(path, rows=True):
    con = duckdb.connect(str(path))
    con.execute(_OLD_DDL)
    if rows:
        ts = datetime(2024, 1, 1, tzinfo=UTC)
        con.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, NULL)", [
            [ts, "z:1", "zeek.conn", 80, None, ["a"]],
            [ts, "z:2", "zeek.conn", 443, None, None],
            [ts, "w:1", "windows.sysmon", None, "a.exe", None],
            [ts, "n:1", None, 5, None, None],
        ])
    con.execute("INSERT INTO ingest_manifest (ingest_id, status) VALUES ('src1', 'complete')")
    con.close()


def test_old_wide_table_is_split_per_dataset_on_open(tmp_path):
    path = tmp_path / "old.duckdb"
    old_store(path)
    with DuckDBStore(path) as st:
        assert st.event_tables() == {"windows.sysmon": "events__windows_sysmon",
                                     "zeek.conn": "events__zeek_conn", None: "events__unset"}
        kinds = dict(st.con.execute("SELECT table_name, table_type FROM "
                                    "information_schema.tables").fetchall())
        assert kinds["events"] == "VIEW"
        zeek = [r[0] for r in st.con.execute('DESCRIBE "events__zeek_conn"').fetchall()]
        assert zeek == ["@timestamp", "event.id", "event.dataset", "source.port", "tags.x"]
        sysmon = [r[0] for r in st.con.execute('DESCRIBE "events__windows_sysmon"').fetchall()]
        assert "source.port" not in sysmon and "winlog.event_data.Image" in sysmon
        df = st.query('SELECT "event.id" AS id, "source.port" AS p, "tags.x" AS t '
                      'FROM events ORDER BY 1')
        assert df.rows() == [("n:1", 5, None), ("w:1", None, None), ("z:1", 80, ["a"]),
                             ("z:2", 443, None)]
        assert st.is_ingested("src1")  # the manifest (re-ingest dedup) is untouched
        # types were kept, and later appends go to the migrated tables
        assert st.event_columns()["source.port"] == "BIGINT"
        st.append_events(st.query("SELECT * FROM events__zeek_conn LIMIT 1"))
        assert st.query("SELECT count(*) AS n FROM events__zeek_conn")["n"][0] == 3


def test_empty_old_store_migrates_to_the_empty_view(tmp_path):
    path = tmp_path / "old.duckdb"
    old_store(path, rows=False)
    with DuckDBStore(path) as st:
        assert st.event_tables() == {}
        assert st.query("SELECT * FROM events").columns == [
            "@timestamp", "event.id", "event.dataset"]


def test_old_store_opened_read_only_still_reads(tmp_path):
    path = tmp_path / "old.duckdb"
    old_store(path)
    with DuckDBStore(path, read_only=True) as st:
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 4
        assert "never.set" in st.event_columns()


def test_a_failed_migration_leaves_the_old_table_untouched(tmp_path, monkeypatch):
    path = tmp_path / "old.duckdb"
    old_store(path)

    def boom(self):
        raise RuntimeError("killed during migration")

    monkeypatch.setattr(parts_mod.Partitions, "refresh_view", boom)
    with pytest.raises(RuntimeError):
        DuckDBStore(path)
    con = duckdb.connect(str(path))
    names = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables")
             .fetchall()}
    assert "events" in names and not any(n.startswith("events__") for n in names)
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(4,)]
    con.close()
    monkeypatch.undo()
    with DuckDBStore(path) as st:
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 4
