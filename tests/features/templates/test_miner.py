"""Behaviour of the streaming template miner: meaning guard, ids, history, JSON state."""

from __future__ import annotations

import gzip
import json

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.errors import FormatError
from mirrorguard.features.templates import LOGHUB_FORMATS, TemplateMiner, parse_headers


def test_different_words_do_not_merge() -> None:
    miner = TemplateMiner()
    ids = miner.add(["VM 1 started", "VM 2 paused", "VM 3 started"] * 3)
    assert ids.tolist() == [0, 1, 0] * 3
    assert miner.template(0) == "VM <*> started"
    assert miner.template(1) == "VM <*> paused"


def test_lifecycle_verbs_stay_apart_but_usernames_generalise() -> None:
    miner = TemplateMiner(min_variants=4)
    verbs = [f"instance {i} was {v} by the scheduler" for i, v in enumerate(
        ["started", "stopped", "paused"])]
    users = [f"session opened for user {u} by uid {i}" for i, u in enumerate(
        ["alice", "bob", "carol", "dave", "erin"])]
    ids = miner.resolve(miner.add(verbs + users))
    assert len(set(ids[:3].tolist())) == 3
    assert len(set(ids[3:].tolist())) == 1
    assert miner.template(int(ids[3])) == "session opened for user <*> by uid <*>"
    absorbed = miner.templates().filter(pl.col("merged_into").is_not_null())
    assert absorbed.height == 3  # bob, carol, dave were absorbed by alice's template


def test_template_history_kept_when_template_changes() -> None:
    miner = TemplateMiner()
    miner.add(["Connected to host-a1 on port 1"])
    miner.add(["Connected to host-b2 on port 2"])
    row = miner.templates().row(0, named=True)
    assert row["template"] == "Connected to <*> on port <*>"
    assert row["history"] == ["Connected to host-a1 on port <*>"]
    assert row["size"] == 2


def test_masked_value_does_not_swallow_a_word() -> None:
    miner = TemplateMiner()
    ids = miner.add(["Fan speeds ( 10 20 30 )", "Fan speeds ( 10 **** 30 )"])
    assert ids[0] != ids[1]


def test_match_does_not_learn() -> None:
    miner = TemplateMiner()
    miner.add(["Deleting block blk_1 file /data/a/b"])
    before = miner.to_json()
    out = miner.match(["Deleting block blk_99 file /data/c/d", "something new entirely"])
    assert out.tolist() == [0, -1]
    assert miner.to_json() == before


def test_parameters_per_line() -> None:
    miner = TemplateMiner()
    lines = ["Accepted password for root from 10.0.0.1 port 22 ssh2",
             "Accepted password for root from 10.0.0.2 port 2201 ssh2"]
    ids = miner.add(lines)
    assert miner.parameters(lines, ids).to_list() == [["10.0.0.1", "22"], ["10.0.0.2", "2201"]]


def _contents(system: str) -> pl.Series:
    path = need_data("loghub_2k_corrected", system, f"{system}_2k.log.gz")
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        lines = pl.Series(fh.read().splitlines())
    return parse_headers(lines, LOGHUB_FORMATS[system])["Content"]


@pytest.mark.parametrize("system", ["OpenSSH", "Linux", "OpenStack"])
def test_restart_from_json_continues_exactly(system: str) -> None:
    contents = _contents(system)
    whole = TemplateMiner()
    ids_whole = whole.add(contents)
    first = TemplateMiner()
    ids_a = first.add(contents[:1000])
    text = first.to_json()
    assert "py/object" not in text and json.loads(text)["kind"] == "mirrorguard.template_miner"
    second = TemplateMiner.from_json(text)
    ids_b = second.add(contents[1000:])
    assert np.array_equal(np.concatenate([ids_a, ids_b]), ids_whole)
    assert second.to_json() == whole.to_json()


def test_from_json_rejects_foreign_state() -> None:
    with pytest.raises(FormatError):
        TemplateMiner.from_json('{"kind": "other"}')
    with pytest.raises(FormatError):
        TemplateMiner.from_json('{"kind": "mirrorguard.template_miner", "version": 1}')
    with pytest.raises(FormatError):
        TemplateMiner.from_json("not json")


def test_loghub_grouping_accuracy_on_hard_systems() -> None:
    from mirrorguard.features.templates import grouping_accuracy

    for system, floor in (("Proxifier", 0.95), ("Windows", 0.95), ("Linux", 0.8)):
        truth = pl.read_csv(need_data("loghub_2k_corrected", system,
                                      f"{system}_2k.log_structured_corrected.csv.gz"),
                            infer_schema=False)["EventTemplate"]
        miner = TemplateMiner()
        ids = miner.resolve(miner.add(_contents(system)))
        assert grouping_accuracy(ids, truth) >= floor, system
