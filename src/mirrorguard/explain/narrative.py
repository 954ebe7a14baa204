"""One-line narratives: a value set against its baseline and percentile.

>>> describe_value("src_bytes", 48_000_000, 1_370_000, 99.95)
'src_bytes 48 MB = 35× the baseline median (1.37 MB), above its 99.9th percentile'
>>> describe_value("service", "irc", "http", None)
"service 'irc' (usually 'http')"
"""

from __future__ import annotations

import math

_BYTES_HINTS = ("bytes", "byte", "size", "load")


def format_quantity(feature: str, value: float) -> str:
    """A compact human form: SI units for byte-like features, 3 significant digits otherwise."""
    if not math.isfinite(value):
        return str(value)
    mag = abs(value)
    if any(h in feature.lower() for h in _BYTES_HINTS) and mag >= 1000:
        for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
            if mag >= size:
                return f"{value / size:.3g} {unit}"
    if mag >= 1e6 or (0 < mag < 1e-3):
        return f"{value:.3g}"
    if float(value).is_integer():
        return f"{int(value)}"
    return f"{value:.3g}"


def _percentile_clause(pct: float | None) -> str:
    if pct is None:
        return ""
    for edge in (99.9, 99.0, 95.0, 90.0):
        if pct >= edge:
            return f", above its {edge:g}th percentile"
    for edge in (0.1, 1.0, 5.0, 10.0):
        if pct <= edge:
            return f", below its {edge:g}th percentile"
    return f", at its {pct:.0f}th percentile"


def describe_value(
    feature: str,
    value: float | str | None,
    baseline: float | str | None,
    percentile: float | None,
    baseline_name: str = "the baseline median",
) -> str:
    """``feature value = k× baseline, above its p-th percentile`` (or a categorical form)."""
    if value is None:
        return f"{feature} missing"
    if isinstance(value, str) or isinstance(baseline, str):
        return f"{feature} {value!r} (usually {baseline!r})"
    v = float(value)
    text = f"{feature} {format_quantity(feature, v)}"
    if baseline is not None:
        b = float(baseline)
        ref = format_quantity(feature, b)
        if b != 0 and v / b >= 1.5:
            text += f" = {v / b:.0f}× {baseline_name} ({ref})"
        elif b != 0 and 0 <= v / b <= 0.67:
            text += f" = {v / b:.2g}× {baseline_name} ({ref})"
        else:
            text += f" (median {ref})"
    return text + _percentile_clause(percentile)
