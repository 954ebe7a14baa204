import duckdb
import pytest

from mirrorguard.store.partitions import Partitions, slug, table_name_for, view_sql


@pytest.mark.parametrize(("dataset", "want"), [
    ("zeek.conn", "zeek_conn"),
    ("windows.sysmon", "windows_sysmon"),
    ("Windows.Security", "windows_security"),
    ("a--b..c", "a_b_c"),
    ("..", "x"),
    ("", "x"),
    (None, "unset"),
    ('x"; DROP TABLE events; --', "x_drop_table_events"),
])
def test_slug_is_lower_alnum_and_underscores(dataset, want):
    assert slug(dataset) == want


def test_slug_is_bounded():
    assert len(slug("windows.microsoft_windows_terminalservices_remoteconnectionmanager")) <= 40


def test_names_never_collide_even_when_slugs_do():
    taken: set[str] = set()
    datasets = ["zeek.conn", "zeek_conn", "ZEEK.CONN", "zeek-conn", None, "unset"]
    names = []
    for ds in datasets:
        name = table_name_for(ds, taken)
        taken.add(name)
        names.append(name)
    assert names[0] == "events__zeek_conn" and names[4] == "events__unset"
    assert len(set(names)) == len(names)
    assert all(n.startswith("events__zeek_conn_") for n in names[1:4])
    # a name taken by something else (even the hashed one) gets a counter
    again = table_name_for("zeek_conn", taken | {names[1]})
    assert again not in taken and again.startswith(names[1] + "_")


def test_view_sql_without_tables_has_core_columns_and_no_rows():
    con = duckdb.connect()
    con.execute(view_sql([]))
    rows = con.execute("DESCRIBE events").fetchall()
    assert [r[0] for r in rows] == ["@timestamp", "event.id", "event.dataset"]
    assert con.execute("SELECT count(*) FROM events").fetchall() == [(0,)]


def test_partitions_avoid_names_of_other_relations():
    con = duckdb.connect()
    con.execute("CREATE TABLE event_tables (dataset VARCHAR, table_name VARCHAR, "
                "created_at TIMESTAMPTZ)")
    con.execute("CREATE TABLE events__a (x INT)")  # not registered, not ours
    parts = Partitions(con)
    name = parts.table_for("a", {"x.y": "BIGINT"})
    assert name != "events__a" and name.startswith("events__a_")
    assert parts.tables() == {"a": name}
    assert parts.columns()[name] == {"@timestamp": "TIMESTAMPTZ", "event.id": "VARCHAR",
                                     "event.dataset": "VARCHAR", "x.y": "BIGINT"}
    parts.reset()  # read back from the catalog
    assert parts.columns()[name]["@timestamp"] == "TIMESTAMP WITH TIME ZONE"
    assert parts.tables() == {"a": name}
    parts.add_columns(name, {"x.y": "BIGINT", "x.z": "VARCHAR"})
    assert list(parts.columns()[name])[-2:] == ["x.y", "x.z"]
    assert parts.merged()["x.z"] == "VARCHAR"
