"""What a scan produces: findings, scanner errors and skipped files, kept apart.

The split follows modelscan: a *finding* is something unsafe in a file (data, not an exception);
a *scan error* means part of a file could not be checked (the file is not known to be clean);
a *skipped* file is one that is not a model format this scanner reads. Exit codes:

* 0 — everything scanned, no findings
* 1 — at least one finding
* 2 — no findings, but at least one scan error
* 3 — nothing scanned (every path skipped or no paths)

>>> report = ScanReport()
>>> report.exit_code
3
>>> report.scanned.append("model.pkl")
>>> report.exit_code
0
>>> report.findings.append(Finding("model.pkl", None, Severity.CRITICAL, "import",
...                                "os.system", global_name="os.system", offset=2))
>>> report.exit_code, report.max_severity().name
(1, 'CRITICAL')
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import IntEnum
from typing import Any

EXIT_CLEAN = 0
EXIT_FINDINGS = 1
EXIT_ERRORS = 2
EXIT_NOTHING = 3


class Severity(IntEnum):
    """How bad a finding is; ordered so that ``max`` gives the worst."""

    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True)
class Finding:
    """One unsafe construction.

    ``member`` is the path inside a container (``archive/data.pkl``, ``arr_0.npy``; nested
    containers are joined with ``!``), ``global_name`` the exact ``module.name`` imported or
    called (when the finding is about one), ``opcode`` the pickle opcode and ``offset`` its byte
    offset in the member's pickle stream.
    """

    path: str
    member: str | None
    severity: Severity
    kind: str
    detail: str
    global_name: str | None = None
    opcode: str | None = None
    offset: int | None = None

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.name
        return data


@dataclass(frozen=True)
class ScanErrorRecord:
    """A part of a file that could not be checked, and why."""

    path: str
    member: str | None
    error: str
    message: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Skipped:
    """A file that was not scanned, and why (not a model format, too large, ...)."""

    path: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ScanReport:
    """Everything one scan found, with the documented exit code."""

    findings: list[Finding] = field(default_factory=list)
    errors: list[ScanErrorRecord] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    scanned: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """0 clean, 1 findings, 2 errors, 3 nothing scanned."""
        if self.findings:
            return EXIT_FINDINGS
        if self.errors:
            return EXIT_ERRORS
        if not self.scanned:
            return EXIT_NOTHING
        return EXIT_CLEAN

    def max_severity(self) -> Severity | None:
        """The worst severity among the findings, or ``None`` when there are none."""
        return max((f.severity for f in self.findings), default=None)

    def flagged_paths(self) -> set[str]:
        """Files with at least one finding."""
        return {f.path for f in self.findings}

    def merge(self, other: ScanReport) -> None:
        """Add another report's contents to this one."""
        self.findings.extend(other.findings)
        self.errors.extend(other.errors)
        self.skipped.extend(other.skipped)
        self.scanned.extend(other.scanned)

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape printed by ``mirrorguard guard scan --json``."""
        worst = self.max_severity()
        return {
            "exit_code": self.exit_code,
            "summary": {
                "scanned": len(self.scanned),
                "findings": len(self.findings),
                "errors": len(self.errors),
                "skipped": len(self.skipped),
                "max_severity": worst.name if worst is not None else None,
            },
            "findings": [f.to_dict() for f in self.findings],
            "errors": [e.to_dict() for e in self.errors],
            "skipped": [s.to_dict() for s in self.skipped],
            "scanned": list(self.scanned),
        }
