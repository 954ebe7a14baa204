from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mirrorguard.guard.ledger import LedgerError
from mirrorguard.guard.ledger.encoding import (
    canonical_bytes,
    canonical_column,
    canonical_payload,
    check_name,
    entries_to_table,
    entry_hash,
    format_time,
    genesis_entry_hash,
    hash_column,
    make_entry,
    table_to_entries,
)


def test_canonical_payload_sorted_compact_utf8() -> None:
    assert canonical_payload({"b": [1, {"d": 1, "c": 2}], "a": "é"}) == \
        '{"a":"é","b":[1,{"c":2,"d":1}]}'


def test_payload_must_be_json() -> None:
    with pytest.raises(LedgerError):
        canonical_payload({"x": object()})
    with pytest.raises(LedgerError):
        canonical_payload({1: "non-string key"})


def test_time_must_be_aware_and_is_normalised_to_utc() -> None:
    with pytest.raises(LedgerError):
        format_time(datetime(2026, 1, 1))
    t = datetime.fromisoformat("2026-01-01T02:00:00+02:00")
    assert format_time(t) == "2026-01-01T00:00:00.000000Z"


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "new\nline"])
def test_names_are_restricted(bad: str) -> None:
    with pytest.raises(LedgerError):
        check_name(bad, "actor")


def test_length_prefixes_make_the_encoding_unambiguous() -> None:
    a = canonical_bytes(1, "t", "ab", "c", "{}", "0" * 64)
    b = canonical_bytes(1, "t", "a", "bc", "{}", "0" * 64)
    c = canonical_bytes(1, "t", "a|2:b", "c", "{}", "0" * 64)
    assert len({a, b, c}) == 3
    assert a.startswith(b"\x00mgl1|1|t|2:ab|1:c|2:{}|")


def test_bulk_encoding_equals_single_entry_encoding() -> None:
    prev = genesis_entry_hash("L")
    entries = []
    for i, payload in enumerate([{"a": 1}, {"msg": "ünï|2:x"}, [], "s", None]):
        e = make_entry(i, "2026-01-01T00:00:00.000000Z", "alert", "automation", payload,
                       prev_hash=prev)
        entries.append(e)
        prev = e.entry_hash
    table = entries_to_table(entries)
    singles = [canonical_bytes(e.seq, e.time, e.kind, e.actor, e.payload, e.prev_hash)
               for e in entries]
    assert canonical_column(table) == singles
    assert [d.hex() for d in hash_column(table)] == [e.entry_hash for e in entries]
    assert table_to_entries(table) == entries
    assert all(entry_hash(e) == e.entry_hash for e in entries)


def test_genesis_depends_on_ledger_id() -> None:
    assert genesis_entry_hash("a") != genesis_entry_hash("b")
    assert len(genesis_entry_hash("a")) == 64
    assert datetime.now(UTC).tzinfo is not None
