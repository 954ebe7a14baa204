import polars as pl

from mirrorguard.ingest.normalize import RECORD, checked_cast, require_timestamp


def test_checked_cast_converts_when_nothing_fails():
    frame = pl.DataFrame({RECORD: [1, 2, 3], "p": [80, None, 443]})
    good, bad = checked_cast(frame, {"p": pl.Int32()})
    assert good.schema["p"] == pl.Int32 and good["p"].to_list() == [80, None, 443]
    assert bad.height == 0 and bad.columns == [RECORD, "reason"]


def test_checked_cast_rejects_only_the_failing_rows_with_a_reason():
    frame = pl.DataFrame({RECORD: [1, 2, 3, 4], "p": ["80", None, "http", "22"],
                          "q": ["1", "x", "2", "3"]})
    good, bad = checked_cast(frame, {"p": pl.Int64(), "q": pl.Int64()})
    assert good[RECORD].to_list() == [1, 4] and good["p"].to_list() == [80, 22]
    assert bad[RECORD].to_list() == [2, 3]
    assert "field q: cannot convert 'x'" in bad["reason"][0]
    assert "field p: cannot convert 'http'" in bad["reason"][1]


def test_require_timestamp_keeps_the_frame_when_every_row_has_one():
    ts = pl.Series("@timestamp", [1, 2]).cast(pl.Datetime("us", "UTC"))
    frame = pl.DataFrame({RECORD: [1, 2]}).with_columns(ts)
    good, bad = require_timestamp(frame)
    assert good.height == 2 and bad.height == 0
    good, bad = require_timestamp(frame.with_columns(pl.lit(None).cast(ts.dtype).alias("@timestamp")))
    assert good.height == 0 and bad["reason"].to_list() == ["missing or unparsable timestamp"] * 2
