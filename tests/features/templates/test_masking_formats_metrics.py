"""Masks, loghub header formats and the parsing metrics."""

from __future__ import annotations

import gzip

import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.errors import ConfigError, FormatError
from mirrorguard.features.templates import (
    LOGHUB_FORMATS,
    Masker,
    grouping_accuracy,
    parse_headers,
    parsing_accuracy,
)
from mirrorguard.features.templates.formats import format_regex


@pytest.mark.parametrize(("raw", "masked"), [
    ("PacketResponder 1 for block blk_-69522958 terminating",
     "PacketResponder <*> for block blk_<*> terminating"),
    ("from 10.0.0.1:5070 via ssh2 on ext3", "from <*> via ssh2 on ext3"),
    ("id 123e4567-e89b-12d3-a456-426614174000 ok", "id <*> ok"),
    ("open /var/log/messages at 0x1F", "open <*> at <*>"),
    ("connection at Fri Jun 17 20:55:07 2005 done", "connection at <*> done"),
    ("addrs 10.1.1.1,10.1.1.2 up", "addrs <*> up"),
    ("sent 18846 bytes (18.4 KB) in <1 sec", "sent <*> in <*>"),
    ("flag=true mode=NORMAL", "flag=<*> mode=NORMAL"),
])
def test_default_masks(raw: str, masked: str) -> None:
    assert Masker().apply(pl.Series([raw])).to_list() == [masked]


def test_masks_are_configurable() -> None:
    only_ip = Masker(masks=("ip",), extra=(("user", r"user\d+"),))
    out = only_ip.apply(pl.Series(["user42 from 10.0.0.1 port 22"])).to_list()
    assert out == ["<*> from <*> port 22"]
    with pytest.raises(ConfigError):
        Masker(masks=("nope",))


def test_format_regex_needs_content() -> None:
    with pytest.raises(FormatError):
        format_regex("<Date> <Time>")


def test_unmatched_header_keeps_line() -> None:
    out = parse_headers(pl.Series(["garbage without header"]), LOGHUB_FORMATS["HDFS"])
    assert out["Content"].to_list() == ["garbage without header"]
    assert out["header_ok"].to_list() == [False]


@pytest.mark.parametrize("system", sorted(LOGHUB_FORMATS))
def test_headers_match_loghub_structured_content(system: str) -> None:
    folder = need_data("loghub_2k_corrected", system)
    with gzip.open(folder / f"{system}_2k.log.gz", "rt", encoding="utf-8") as fh:
        lines = pl.Series(fh.read().splitlines())
    truth = pl.read_csv(folder / f"{system}_2k.log_structured_corrected.csv.gz",
                        infer_schema=False)
    got = parse_headers(lines, LOGHUB_FORMATS[system])
    assert got["header_ok"].all()
    same = got["Content"].str.strip_chars() == truth["Content"].str.strip_chars()
    assert same.sum() >= 1999  # one HealthApp line differs in loghub's own CSV


def test_grouping_accuracy_counts_whole_groups() -> None:
    assert grouping_accuracy([0, 0, 1, 1], ["a", "a", "b", "b"]) == 1.0
    assert grouping_accuracy([0, 0, 0, 1], ["a", "a", "b", "c"]) == 0.25
    assert grouping_accuracy([0, 1, 2, 3], ["a", "a", "b", "b"]) == 0.0


def test_parsing_accuracy_normalises_spacing_and_runs() -> None:
    assert parsing_accuracy(["a <*><*> b", "x  y"], ["a <*> b", "x y"]) == 1.0
    assert parsing_accuracy(["a <*> b"], ["a b <*>"]) == 0.0
