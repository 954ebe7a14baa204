"""The ``intel`` suite's parts at a tiny size: real pools, planted overlap, exact vs reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.bench.harness import BenchContext
from mirrorguard.bench.registry import get_suite
from mirrorguard.bench.suites import intel as suite
from mirrorguard.detect.intel import IntelMatcher


@pytest.mark.data
def test_small_run_is_exact_and_plants_every_type(tmp_path: Path) -> None:
    data = need_data("zeek_wrccdc2018", "zeek-default").parents[1]
    ctx = BenchContext(data_dir=data, work_dir=tmp_path, seed=3)
    rng = np.random.default_rng(3)
    pools = suite._pools(ctx, rng, 0.02)
    events = suite.make_events(pools, 4000, rng)
    assert set(events["event.dataset"].unique()) == {f"zeek.{k}" for k in suite.MIX}
    ind = suite.make_indicators(pools, 3000, rng)
    intel, _ = suite._load(suite.write_feeds(ind, tmp_path))
    assert {p.kind for p in intel.report.problems} == {
        "invalid_pattern", "unsupported_pattern", "unknown_object_type"}
    exact = suite.check_exact(intel, ind, events)
    assert exact["equal"] and exact["reference_pairs"] > 20
    hits = IntelMatcher(intel).match(events)
    assert hits.height > 0 and set(hits["status"].unique()) >= {"alert"}
    types = set(hits["indicator.type"].unique())
    assert {"ipv4", "domain", "url", "md5", "email"} <= types


def test_suite_is_registered() -> None:
    assert get_suite("intel") is suite.run


def test_reference_url_key_matches_matcher_normalisation() -> None:
    from mirrorguard.detect.intel.normalize import norm_url
    urls = ["HTTP://A.Example:80/x?y", "https://b.example:443", "c.example/p", "/rel"]
    assert norm_url(pl.Series(urls)).to_list() == [suite._url_key(u) for u in urls]
