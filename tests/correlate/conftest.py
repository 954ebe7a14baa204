"""Helpers to build alert frames for correlation tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from mirrorguard.schema.alerts import Alert, Explanation, Severity, alerts_to_frame

T0 = datetime(2024, 3, 1, 8, 0, tzinfo=UTC)

MakeAlert = Callable[..., Alert]


def make_alert(minutes: float, detector: str = "sigma", score: float = 0.7,
               techniques: tuple[str, ...] = (), title: str = "", **entities: str | tuple[str, ...]
               ) -> Alert:
    ents = {k: (v,) if isinstance(v, str) else tuple(v) for k, v in entities.items()}
    return Alert(T0 + timedelta(minutes=minutes), detector, score, Severity.MEDIUM,
                 Explanation(f"{detector} {title}"), ents, techniques,
                 evidence=(f"ev-{minutes}-{title}",), title=title or f"{detector}-{minutes}")


def frame(*alerts: Alert) -> pl.DataFrame:
    return alerts_to_frame(list(alerts))


@pytest.fixture
def mk() -> MakeAlert:
    return make_alert
