from __future__ import annotations

from mirrorguard.explain.narrative import describe_value, format_quantity


def test_bytes_are_humanised_with_ratio_and_percentile() -> None:
    text = describe_value("bytes out", 48e6, 1.37e6, 99.95, baseline_name="this host's median")
    assert text == "bytes out 48 MB = 35× this host's median (1.37 MB), above its 99.9th percentile"


def test_low_values_and_middle_percentiles() -> None:
    assert describe_value("count", 1, 100, 0.05) == (
        "count 1 = 0.01× the baseline median (100), below its 0.1th percentile"
    )
    assert describe_value("rate", 0.5, 0.45, 60.0) == "rate 0.5 (median 0.45), at its 60th percentile"


def test_categorical_and_missing() -> None:
    assert describe_value("service", "irc", "http", None) == "service 'irc' (usually 'http')"
    assert describe_value("x", None, 1.0, None) == "x missing"


def test_format_quantity() -> None:
    assert format_quantity("src_bytes", 2_500) == "2.5 kB"
    assert format_quantity("count", 12.0) == "12"
    assert format_quantity("ratio", 0.00012) == "0.00012"
    assert format_quantity("x", float("inf")) == "inf"
