"""Allow-lists apply to new frames, to findings and to already-stored DuckDB tables."""

from __future__ import annotations

import duckdb
import polars as pl
import pytest

from mirrorguard.detect.beacon_allow import AllowList
from mirrorguard.errors import ConfigError, StoreError

EVENTS = pl.DataFrame({
    "source.ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.9", "10.0.0.5"],
    "destination.ip": ["192.0.2.7", "198.51.100.1", "198.51.100.2", "1.1.1.1", "8.8.8.8",
                       "2001:db8::5"],
    "destination.port": pl.Series([443, 443, 443, 123, 53, 443], dtype=pl.Int32),
    "dns.question.name": [None, "ctldl.windowsupdate.com.", "badwindowsupdate.com", None, None,
                          None],
    "tls.server.name": [None, None, None, None, None, "x.example"],
})
ALLOW = AllowList(destinations=("192.0.2.0/24", "2001:db8::/32"),
                  fqdn_suffixes=("windowsupdate.com",), ports=(123,),
                  pairs=(("10.0.0.9", "8.8.8.8"),))


def test_frame_filter_matches_cidr_suffix_port_pair() -> None:
    kept = ALLOW.filter_events(EVENTS)
    assert kept["source.ip"].to_list() == ["10.0.0.3"]  # suffix needs a dot boundary


def test_stored_events_filtered_by_query_equal_frame_filter() -> None:
    con = duckdb.connect()
    con.register("v", EVENTS.to_arrow())
    con.sql("CREATE TABLE events AS SELECT * FROM v")
    # the allow-list is created after the data was stored
    stored = ALLOW.stored(con, "events")
    assert stored["source.ip"].to_list() == ALLOW.filter_events(EVENTS)["source.ip"].to_list()


def test_stored_findings_and_ports_in_destination() -> None:
    findings = pl.DataFrame({"source": ["10.0.0.1", "10.0.0.3", "10.0.0.4", "10.0.0.6"],
                             "destination": ["192.0.2.7:443", "evil.example", "1.1.1.1:123",
                                             "sub.windowsupdate.com"]})
    con = duckdb.connect()
    con.register("v", findings.to_arrow())
    con.sql("CREATE TABLE beacon_findings AS SELECT * FROM v")
    stored = ALLOW.stored(con, "beacon_findings", findings=True)
    assert stored["source"].to_list() == ["10.0.0.3"]
    assert ALLOW.filter_findings(findings)["source"].to_list() == ["10.0.0.3"]


def test_bad_entries_and_table_names_fail_closed() -> None:
    with pytest.raises(ConfigError):
        AllowList(destinations=("not-an-ip",))
    with pytest.raises(ConfigError):
        AllowList.from_dict({"destinations": [], "sources": ["x"]})
    with pytest.raises(ConfigError):
        AllowList(ports=(70000,))
    with pytest.raises(StoreError):
        ALLOW.stored(duckdb.connect(), 'events"; DROP TABLE x; --')
    with pytest.raises(StoreError):
        ALLOW.stored(duckdb.connect(), "missing_table")


def test_from_dict_normalises() -> None:
    allow = AllowList.from_dict({"fqdn_suffixes": [".Example.COM."], "pairs": [["a", "b"]]})
    assert allow.fqdn_suffixes == ("example.com",) and allow.pairs == (("a", "b"),)
