"""Authentication detectors: brute force, password spraying, success after failures, new
source for a user, sudo/su abuse.

All read EventFrames classified by :mod:`mirrorguard.features.authevents` (they classify on the
fly when ``auth.kind`` is missing) and score every event at once with trailing windows per
entity (:func:`mirrorguard.detect.auth_common.windowed`). Score, threshold and verdict are
separate: ``score`` gives the evidence count, ``fit`` on benign events sets ``threshold_`` as
the larger of the detector's ``floor`` and a :class:`~mirrorguard.detect.policy.ThresholdPolicy`
fitted for ``target_fpr``; ``alerts`` turns scores above it into :class:`Alert` records whose
explanations name the evidence.

ATT&CK: T1110.001 (password guessing), T1110.003 (password spraying), T1078 (valid accounts),
T1548.003 (sudo and sudo caching).

>>> from datetime import datetime, timedelta
>>> import polars as pl
>>> t0 = datetime(2024, 5, 1, 3, 0)
>>> msgs = [f"Failed password for invalid user u{i} from 203.0.113.66 port 22 ssh2"
...         for i in range(12)] + ["Accepted password for oracle from 203.0.113.66 port 22 ssh2"]
>>> X = pl.DataFrame({"@timestamp": [t0 + timedelta(seconds=10 * i) for i in range(13)],
...                   "message": msgs})
>>> det = SuccessAfterFailures().fit(X.head(0))
>>> det.explain(X, [12])[0].text
'12 failed logons for 12 users from 203.0.113.66 in 10 min; then success for oracle'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.auth_common import (
    ROW,
    ThresholdedDetector,
    column,
    ensure_classified,
    fit_threshold,
    minutes,
    scatter,
    windowed,
)
from mirrorguard.detect.common import benign_mask, check_fitted
from mirrorguard.schema.alerts import Alert, Contribution, Explanation

#: kinds that are a failed logon attempt (counted by the brute-force family)
LOGON_FAILURES = ("failure", "invalid_user", "denied")


class _WindowDetector(ThresholdedDetector):
    """Shared fit/score/alert plumbing; subclasses define ``_evidence`` and ``_text``."""

    key: ClassVar[str] = "source.ip"
    title: ClassVar[str] = ""
    techniques: ClassVar[tuple[str, ...]] = ()

    def __init__(self, window: str = "10m", floor: float = 4.0,
                 target_fpr: float = 1e-3) -> None:
        self.window = window
        self.floor = floor
        self.target_fpr = target_fpr

    def _prepare(self, X: pl.DataFrame) -> pl.DataFrame:
        f = ensure_classified(X).with_row_index(ROW)
        if "@timestamp" not in f.columns:
            f = f.with_columns(pl.lit(None, pl.Datetime("us", "UTC")).alias("@timestamp"))
        kind = column(f, "auth.kind")
        return f.with_columns(
            kind.is_in(list(LOGON_FAILURES)).fill_null(False).alias("__fail"),
            kind.is_in(["success", "session"]).fill_null(False).alias("__ok"),
            column(f, "user.name").alias("__user"), column(f, "source.ip").alias("__src"))

    def _evidence(self, f: pl.DataFrame) -> pl.DataFrame:
        raise NotImplementedError

    def _text(self, ev: dict[str, Any]) -> str:
        raise NotImplementedError

    def score(self, X: pl.DataFrame) -> np.ndarray:
        ev = self._evidence(self._prepare(X))
        return scatter(X.height, ev[ROW], ev["score"])

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        benign = X.filter(pl.Series(benign_mask(X.height, y))) if X.height else X
        self.threshold_, self.policy_ = fit_threshold(self.score(benign), self.floor,
                                                      self.target_fpr)
        return self

    def predict(self, X: pl.DataFrame) -> np.ndarray:
        """Alert decision per event (``score > threshold_``)."""
        check_fitted(self, "threshold_")
        return np.asarray(self.score(X) > self.threshold_, dtype=bool)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        ev = self._evidence(self._prepare(X))
        by_row = {int(r[ROW]): r for r in ev.iter_rows(named=True)}
        out = []
        for r in rows:
            e = by_row.get(int(r), {"score": 0.0})
            contrib = tuple(Contribution(k, v, None, 0.0) for k, v in e.items()
                            if k not in (ROW, "score") and not isinstance(v, list))
            out.append(Explanation(self._text(e) if ROW in e else "no evidence in window",
                                   contrib, {"score": e["score"]}))
        return out

    def alerts(self, X: pl.DataFrame) -> list[Alert]:
        """Alerts above ``threshold_``: one per entity, at its strongest event."""
        key = self.key if self.key in X.columns else "source.ip"
        return self._threshold_alerts(X, ensure_classified(X), key, self.title)


class BruteForce(_WindowDetector):
    """Failed logons from one source address in a trailing window (password guessing)."""

    name: ClassVar[str] = "auth_bruteforce"
    title: ClassVar[str] = "Brute force"
    techniques: ClassVar[tuple[str, ...]] = ("T1110.001",)

    def _evidence(self, f: pl.DataFrame) -> pl.DataFrame:
        fails = f.filter(pl.col("__fail"))
        return windowed(fails, "__src", self.window, [
            pl.len().cast(pl.Float64).alias("score"),
            pl.col("__user").n_unique().alias("users"),
            pl.col("__src").last().alias("source"),
            pl.col("auth.family").last().alias("service")])

    def _text(self, ev: dict[str, Any]) -> str:
        return (f"{int(ev['score'])} failed logons ({ev['service']}) for {ev['users']} users "
                f"from {ev['source']} in {minutes(self.window)}")


class PasswordSpray(_WindowDetector):
    """Distinct accounts that failed from one source in a window (one password, many users)."""

    name: ClassVar[str] = "auth_password_spray"
    title: ClassVar[str] = "Password spraying"
    techniques: ClassVar[tuple[str, ...]] = ("T1110.003",)

    def __init__(self, window: str = "30m", floor: float = 4.0,
                 target_fpr: float = 1e-3) -> None:
        super().__init__(window, floor, target_fpr)

    def _evidence(self, f: pl.DataFrame) -> pl.DataFrame:
        fails = f.filter(pl.col("__fail") & pl.col("__user").is_not_null())
        return windowed(fails, "__src", self.window, [
            pl.col("__user").n_unique().cast(pl.Float64).alias("score"),
            pl.len().alias("failures"), pl.col("__src").last().alias("source"),
            pl.col("__user").unique(maintain_order=True).head(5).alias("examples")])

    def _text(self, ev: dict[str, Any]) -> str:
        ex = ", ".join(ev["examples"])
        return (f"{ev['failures']} failed logons for {int(ev['score'])} distinct users "
                f"({ex}, …) from {ev['source']} in {minutes(self.window)}")


class SuccessAfterFailures(_WindowDetector):
    """A successful logon preceded by failures from the same source (guessing that worked)."""

    name: ClassVar[str] = "auth_success_after_failures"
    title: ClassVar[str] = "Successful logon after failures"
    techniques: ClassVar[tuple[str, ...]] = ("T1110", "T1078")

    def _evidence(self, f: pl.DataFrame) -> pl.DataFrame:
        rel = f.filter(pl.col("__fail") | pl.col("__ok"))
        ev = windowed(rel, "__src", self.window, [
            pl.col("__fail").sum().alias("failures"),
            pl.col("__user").filter(pl.col("__fail")).n_unique().alias("users"),
            pl.col("__ok").last().alias("ok"), pl.col("__user").last().alias("user"),
            pl.col("__src").last().alias("source")])
        ev = ev.filter(pl.col("ok") & (pl.col("failures") > 0))
        return ev.with_columns(pl.col("failures").cast(pl.Float64).alias("score"))

    def _text(self, ev: dict[str, Any]) -> str:
        return (f"{ev['failures']} failed logons for {ev['users']} users from {ev['source']} "
                f"in {minutes(self.window)}; then success for {ev['user']}")


class SudoSuAbuse(_WindowDetector):
    """Failed sudo/su per user in a window, plus privileged commands that spawn shells or edit
    credentials (``sudo /bin/bash``, ``visudo``, ``/etc/shadow``, set-uid ``chmod``)."""

    name: ClassVar[str] = "auth_sudo_su_abuse"
    key: ClassVar[str] = "user.name"
    title: ClassVar[str] = "sudo/su abuse"
    techniques: ClassVar[tuple[str, ...]] = ("T1548.003",)
    SENSITIVE = (r"(?:^|/)(?:ba|z|da|k|c|tc)?sh(?:\s|$)|(?:^|/)su(?:\s|$)|visudo|/etc/(?:sudoers|"
                 r"shadow|passwd|gshadow)|chmod\s+(?:[0-7]?[4-7][0-7]{3}|[ug]?\+s)|useradd|"
                 r"usermod\s.*-a?G\s*\S*(?:sudo|wheel|root)|passwd\s+root|nc\s.*-e\s|pty\.spawn")

    def __init__(self, window: str = "10m", floor: float = 2.0, target_fpr: float = 1e-3,
                 sensitive_weight: float = 3.0) -> None:
        super().__init__(window, floor, target_fpr)
        self.sensitive_weight = sensitive_weight

    def _evidence(self, f: pl.DataFrame) -> pl.DataFrame:
        action = column(f, "event.action")
        outcome = column(f, "event.outcome")
        priv = f.filter(action.is_in(["sudo_command", "su"]).fill_null(False))
        cmd = column(priv, "process.command_line").fill_null("")
        priv = priv.with_columns(
            (outcome == "failure").fill_null(False).alias("__pfail"),
            (cmd.str.contains(self.SENSITIVE) & (outcome != "failure").fill_null(True))
            .alias("__sens"), cmd.alias("__cmd"))
        ev = windowed(priv, "__user", self.window, [
            pl.col("__pfail").sum().alias("failures"), pl.col("__sens").last().alias("sens"),
            pl.col("__cmd").last().alias("command"), pl.col("__user").last().alias("user")])
        return ev.with_columns((pl.col("failures").cast(pl.Float64)
                                + pl.col("sens").cast(pl.Float64) * self.sensitive_weight)
                               .alias("score"))

    def _text(self, ev: dict[str, Any]) -> str:
        parts = [f"{ev['failures']} failed sudo/su by {ev['user']} in {minutes(self.window)}"]
        if ev["sens"]:
            parts.append(f"privileged command {ev['command']!r}")
        return "; ".join(parts)
