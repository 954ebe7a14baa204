"""The Sigma engine as one object: load rules, run over frames, get alerts.

:class:`SigmaRunner` is the Python API behind ``mirrorguard sigma``; :class:`SigmaDetector`
puts the same engine behind the :class:`~mirrorguard.detect.base.Detector` contract (``fit``
loads and compiles the rules; ``score`` is the highest matched rule level per event, 0 when
none; ``explain`` names the matched rules, fields and values).

>>> import polars as pl
>>> from pathlib import Path
>>> import tempfile
>>> d = Path(tempfile.mkdtemp())
>>> _ = (d / "r.yml").write_text('''
... title: Whoami
... id: 11111111-2222-3333-4444-555555555555
... level: high
... tags: [attack.discovery, attack.t1033]
... logsource: {product: windows, category: process_creation}
... detection: {sel: {Image|endswith: '\\\\whoami.exe'}, condition: sel}
... ''')
>>> runner = SigmaRunner.from_paths([d])
>>> frame = pl.DataFrame({"@timestamp": [None], "event.id": ["e1"],
...     "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"], "winlog.event_id": [1],
...     "winlog.event_data.Image": ["C:\\\\Windows\\\\System32\\\\whoami.exe"]})
>>> res = runner.run(frame)
>>> res.alerts["title"].to_list(), res.alerts["attack.techniques"].to_list()
(['Whoami'], [['T1033']])
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import numpy as np
import polars as pl

from mirrorguard.detect.base import Detector, JSONValue
from mirrorguard.detect.sigma.alerts import (
    LEVEL_SCORE,
    alerts_from_matches,
    correlation_alert,
)
from mirrorguard.detect.sigma.correlation import Firing, evaluate_correlation
from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.loader import RuleSet, iter_rule_files, load_rules
from mirrorguard.detect.sigma.pipeline import PipelineSet, default_pipelines
from mirrorguard.errors import IntegrityError
from mirrorguard.schema.alerts import ALERT_SCHEMA, Alert, Explanation, alerts_to_frame


@dataclass
class SigmaResult:
    """Matches (rule index, row), explanation rows, correlation firings and the alert frame."""

    matches: pl.DataFrame
    explained: pl.DataFrame
    firings: list[Firing] = field(default_factory=list)
    alerts: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=ALERT_SCHEMA))


class SigmaRunner:
    """A loaded rule set and its engine."""

    def __init__(self, ruleset: RuleSet, batch_rows: int = 1 << 20) -> None:
        self.ruleset = ruleset
        self.engine = SigmaEngine(ruleset.rules, batch_rows=batch_rows)

    @classmethod
    def from_paths(cls, paths: Sequence[Path | str],
                   pipelines: PipelineSet | None = None) -> SigmaRunner:
        return cls(load_rules(paths, pipelines or default_pipelines()))

    def run(self, frame: pl.DataFrame, *, alerts: bool = True) -> SigmaResult:
        """Match every rule, evaluate correlations, build alerts (``alerts=False``: skip)."""
        matches = self.engine.match(frame)
        explained = self.engine.explain(frame, matches) if alerts else pl.DataFrame()
        firings = [f for c in self.ruleset.correlations
                   for f in evaluate_correlation(c, self.engine.rules, frame, matches)]
        res = SigmaResult(matches, explained, firings)
        if alerts:
            base = alerts_from_matches(self.engine.rules, frame, matches, explained)
            hidden = {r for c in self.ruleset.correlations if not c.generate for r in c.rules}
            kept = [a for a in base if a.model_version not in hidden]
            res.alerts = alerts_to_frame(kept + [correlation_alert(f, frame) for f in firings])
        return res

    def alert_objects(self, frame: pl.DataFrame) -> list[Alert]:
        """Alerts as objects (for small frames and tests)."""
        res = self.run(frame, alerts=False)
        explained = self.engine.explain(frame, res.matches)
        return alerts_from_matches(self.engine.rules, frame, res.matches, explained) + [
            correlation_alert(f, frame) for f in res.firings]


def rules_digest(paths: Sequence[str | Path]) -> str:
    """SHA-256 over the rule files under ``paths`` (relative names and contents, sorted)."""
    h = hashlib.sha256()
    for f in iter_rule_files(Path(p) for p in paths):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    return h.hexdigest()


class SigmaDetector(Detector):
    """Sigma rules behind the detector contract; ``fit`` compiles ``rule_paths``."""

    name = "sigma"

    def __init__(self, rule_paths: Sequence[str] = ()) -> None:
        self.rule_paths = list(rule_paths)

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        self.runner_ = SigmaRunner.from_paths(self.rule_paths)
        self.digest_ = rules_digest(self.rule_paths)
        return self

    def get_state(self) -> tuple[dict[str, JSONValue], dict[str, np.ndarray]]:
        """No arrays: the rules are the model; their digest pins which rules were compiled."""
        return {"rules_sha256": self.digest_, "rules": len(self.runner_.ruleset.rules)}, {}

    @classmethod
    def from_state(cls, params: dict[str, JSONValue], meta: dict[str, JSONValue],
                   arrays: dict[str, np.ndarray]) -> Self:
        """Recompile the rules; refuse when the rule files changed since the state was saved."""
        det = cls(**params).fit(pl.DataFrame())
        if det.digest_ != meta.get("rules_sha256"):
            raise IntegrityError("Sigma rule files changed since this detector was saved",
                                 hint="re-fit and save the detector again")
        return det

    def score(self, X: pl.DataFrame) -> np.ndarray:
        out = np.zeros(X.height, dtype=np.float64)
        m = self.runner_.engine.match(X)
        if m.height:
            levels = np.array([LEVEL_SCORE.get(r.level, 0.5) for r in self.runner_.engine.rules])
            rows = m["row"].to_numpy().astype(np.int64)
            np.maximum.at(out, rows, levels[m["rule"].to_numpy().astype(np.int64)])
        return out

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        sub = X[list(rows)]
        by_row: dict[int, list[Alert]] = {}
        for i, a in zip(self.runner_.engine.match(sub)["row"].to_list(),
                        self.runner_.alert_objects(sub), strict=False):
            by_row.setdefault(int(i), []).append(a)
        out = []
        for i in range(len(rows)):
            hits = by_row.get(i, [])
            text = "; ".join(a.explanation.text for a in hits) or "no Sigma rule matched"
            contribs = tuple(c for a in hits for c in a.explanation.contributions)
            out.append(Explanation(text, contribs, {"rules": [a.model_version for a in hits]}))
        return out
