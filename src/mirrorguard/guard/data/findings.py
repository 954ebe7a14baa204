"""Findings, reports and the policy of the training-data screen.

Findings are data with a severity (they never raise); the policy decides what a ``fit`` does
with them:

* ``block`` — raise :class:`PoisoningBlocked` (carrying the report) when any finding reaches
  ``block_severity``;
* ``quarantine`` — drop the rows of quarantinable findings (label flips, backdoor patterns) and
  fit on the rest;
* ``warn`` — fit on everything and return the report.

>>> f = Finding("duplicate", Severity.LOW, "3 exact duplicate rows", np.array([1, 2, 3]))
>>> f.to_dict()["rows"], f.quarantine
([1, 2, 3], False)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from mirrorguard.errors import MirrorguardError
from mirrorguard.schema.alerts import Severity

SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class Policy(StrEnum):
    BLOCK = "block"
    QUARANTINE = "quarantine"
    WARN = "warn"


@dataclass
class Finding:
    """One screen result: what, how bad, which rows (positions in the screened frame)."""

    kind: str
    severity: Severity
    title: str
    rows: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    quarantine: bool = False
    evidence: dict[str, Any] = field(default_factory=dict)

    def to_dict(self, max_rows: int = 200) -> dict[str, Any]:
        rows = np.asarray(self.rows, dtype=np.int64)
        return {
            "kind": self.kind, "severity": str(self.severity), "title": self.title,
            "n_rows": int(rows.size), "rows": rows[:max_rows].tolist(),
            "rows_truncated": bool(rows.size > max_rows), "quarantine": self.quarantine,
            "evidence": self.evidence,
        }


@dataclass
class ScreenReport:
    """Everything the screen found, plus the per-row verdict."""

    n_rows: int
    classes: list[str]
    findings: list[Finding]
    quarantined: np.ndarray  # bool per row
    policy: Policy
    timings_s: dict[str, float] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def worst(self) -> Severity | None:
        """Highest severity among the findings (``None`` when clean)."""
        if not self.findings:
            return None
        return max((f.severity for f in self.findings), key=SEVERITY_ORDER.__getitem__)

    def has_findings(self, at_least: Severity = Severity.LOW) -> bool:
        return any(SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[at_least] for f in self.findings)

    def reasons(self) -> list[list[str]]:
        """For every row, the kinds of quarantinable findings that name it."""
        out: list[list[str]] = [[] for _ in range(self.n_rows)]
        for f in self.findings:
            if f.quarantine:
                for r in np.asarray(f.rows).tolist():
                    out[r].append(f.kind)
        return out

    def to_dict(self, max_rows: int = 200) -> dict[str, Any]:
        return {
            "schema_version": 1, "n_rows": self.n_rows, "classes": self.classes,
            "policy": str(self.policy), "worst_severity": str(self.worst) if self.worst else None,
            "quarantined_rows": int(self.quarantined.sum()),
            "quarantined_share": float(self.quarantined.mean()) if self.n_rows else 0.0,
            "findings": [f.to_dict(max_rows) for f in self.findings],
            "timings_s": self.timings_s, "params": self.params,
        }

    def summary(self) -> str:
        """A few readable lines."""
        lines = [f"screened {self.n_rows:,} rows ({len(self.classes)} classes), policy "
                 f"{self.policy}: {int(self.quarantined.sum()):,} rows quarantinable "
                 f"({100 * self.quarantined.mean():.2f} %)"]
        for f in sorted(self.findings, key=lambda f: -SEVERITY_ORDER[f.severity]):
            lines.append(f"  [{f.severity}] {f.kind}: {f.title}")
        if not self.findings:
            lines.append("  no findings")
        return "\n".join(lines)


class PoisoningBlocked(MirrorguardError):
    """A fit was refused because the training data failed the screen (policy ``block``)."""

    exit_code = 1

    def __init__(self, message: str, report: ScreenReport, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.report = report
