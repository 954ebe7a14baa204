"""Baselines for the ingest suite, run in the same process as mirrorguard's own pipeline.

* *raw parse* — the fastest native reader for the format with no normalisation and no storage
  (``polars.read_ndjson``, ``polars.read_csv``, the ``evtx`` package's record iterator, reading
  lines): the ceiling normalising and storing is compared against.
* *naive* — what a script would do: decode each record in a Python loop (``json.loads`` / split /
  regex), map fields with a dict, then one bulk insert into DuckDB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

_ZEEK_TO_ECS = {
    "ts": "@timestamp", "uid": "zeek.session_id", "id.orig_h": "source.ip",
    "id.orig_p": "source.port", "id.resp_h": "destination.ip", "id.resp_p": "destination.port",
    "proto": "network.transport", "service": "network.protocol", "orig_bytes": "source.bytes",
    "resp_bytes": "destination.bytes", "orig_pkts": "source.packets",
    "resp_pkts": "destination.packets",
}


def _store_rows(rows: list[dict[str, Any]], db: Path) -> None:
    frame = pl.DataFrame(rows, infer_schema_length=None)
    con = duckdb.connect(str(db))
    con.register("b", frame.to_arrow())
    con.execute("CREATE TABLE IF NOT EXISTS events AS SELECT * FROM b LIMIT 0")
    con.execute("INSERT INTO events BY NAME SELECT * FROM b")
    con.close()


def _map(rec: dict[str, Any]) -> dict[str, Any]:
    return {_ZEEK_TO_ECS.get(k, f"zeek.conn.{k}"): v for k, v in rec.items()}


def naive_zeek_json(path: Path, db: Path) -> int:
    """json.loads per line + dict mapping, then a bulk insert."""
    rows = []
    with path.open("rb") as f:
        for line in f:
            if line.strip():
                rows.append(_map(json.loads(line)))
    _store_rows(rows, db)
    return len(rows)


def naive_zeek_tsv(path: Path, db: Path) -> int:
    """split per line using the #fields header + dict mapping, then a bulk insert."""
    rows: list[dict[str, Any]] = []
    fields: list[str] = []
    with path.open("r", encoding="utf-8") as f:
        for line in f:
            if line.startswith("#fields"):
                fields = line.rstrip("\n").split("\t")[1:]
            elif not line.startswith("#"):
                rows.append(_map(dict(zip(fields, line.rstrip("\n").split("\t"), strict=False))))
    _store_rows(rows, db)
    return len(rows)


_SYSLOG = re.compile(
    r"^(?P<ts>\S+|\w{3} +\d+ \d\d:\d\d:\d\d) (?P<host>\S+) (?P<app>[^\[:]+)(?:\[(?P<pid>\d+)\])?: "
    r"(?P<msg>.*)$"
)
_SSHD = re.compile(r"(?P<action>Failed|Accepted) \S+ for (?:invalid user )?(?P<user>\S+) from "
                   r"(?P<ip>\S+) port (?P<port>\d+)")


def naive_syslog(path: Path, db: Path) -> int:
    """One regex per line for the header and one for sshd, dict mapping, bulk insert."""
    rows = []
    with path.open("r", encoding="utf-8", errors="replace") as f:
        for line in f:
            m = _SYSLOG.match(line.rstrip("\n"))
            if not m:
                continue
            rec: dict[str, Any] = {"@timestamp": m["ts"], "host.name": m["host"],
                                   "log.syslog.appname": m["app"], "message": m["msg"]}
            s = _SSHD.search(m["msg"])
            if s:
                rec.update({"user.name": s["user"], "source.ip": s["ip"],
                            "event.outcome": "success" if s["action"] == "Accepted" else "failure"})
            rows.append(rec)
    _store_rows(rows, db)
    return len(rows)


def naive_evtx(paths: list[Path], db: Path) -> int:
    """The evtx package's JSON records, json.loads + dict flattening per record, bulk insert."""
    import evtx

    rows = []
    for p in paths:
        for rec in evtx.PyEvtxParser(str(p)).records_json():
            ev = json.loads(str(rec["data"]))["Event"]  # type: ignore[index]
            system, data = ev.get("System", {}), ev.get("EventData") or {}
            row = {"winlog.event_id": str(system.get("EventID")),
                   "winlog.channel": system.get("Channel"),
                   "host.name": system.get("Computer")}
            if isinstance(data, dict):
                row.update({f"winlog.event_data.{k}": str(v) for k, v in data.items()})
            rows.append(row)
    _store_rows(rows, db)
    return len(rows)


def raw_zeek_json(path: Path) -> int:
    return pl.read_ndjson(path).height


def raw_zeek_tsv(path: Path) -> int:
    return pl.read_csv(path, separator="\t", has_header=False, comment_prefix="#",
                       quote_char=None, infer_schema=False).height


def raw_lines(path: Path) -> int:
    return pl.read_csv(path, separator="\x01", has_header=False, quote_char=None,
                       infer_schema=False).height


def raw_evtx(paths: list[Path]) -> int:
    import evtx

    return sum(1 for p in paths for _ in evtx.PyEvtxParser(str(p)).records_json())


RAW: dict[str, Callable[[Path], int]] = {
    "zeek_json": raw_zeek_json, "zeek_tsv": raw_zeek_tsv, "syslog": raw_lines,
}
NAIVE: dict[str, Callable[[Path, Path], int]] = {
    "zeek_json": naive_zeek_json, "zeek_tsv": naive_zeek_tsv, "syslog": naive_syslog,
}
