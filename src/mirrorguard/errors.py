"""One exception root for the whole project, carrying where things went wrong.

Findings (alerts, scan results, red-team results) are data, not exceptions; exceptions are for
conditions that stop a piece of work: bad configuration, unreadable input, tampered artifacts.

>>> err = ParseError("bad JSON", file="conn.log", line=12)
>>> str(err)
'conn.log:12: bad JSON'
"""

from __future__ import annotations


class MirrorguardError(Exception):
    """Root of every error mirrorguard raises on purpose.

    ``file``, ``line`` and ``record`` say where the problem is, when known.
    """

    exit_code: int = 2

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        record: str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.record = record
        self.hint = hint

    def location(self) -> str:
        """``file:line`` (or ``file record R``) when known, else an empty string."""
        parts = []
        if self.file is not None:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.record is not None:
            parts.append(f"record {self.record}")
        return " ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        return f"{text} (hint: {self.hint})" if self.hint else text

    def to_dict(self) -> dict[str, object]:
        """The one JSON error shape used by the CLI and the API."""
        return {
            "error": type(self).__name__,
            "message": self.message,
            "file": self.file,
            "line": self.line,
            "record": self.record,
            "hint": self.hint,
        }


class ConfigError(MirrorguardError):
    """Settings could not be loaded or validated."""


class ParseError(MirrorguardError):
    """A record or file could not be parsed (normally quarantined, not raised)."""


class FormatError(MirrorguardError):
    """A file's format could not be recognised or is not supported."""


class SchemaError(MirrorguardError):
    """A frame does not conform to the event vocabulary."""


class StoreError(MirrorguardError):
    """The embedded store could not be opened, written or queried."""


class BenchError(MirrorguardError):
    """A benchmark suite could not run (missing data, unknown suite)."""


class DataMissingError(BenchError):
    """A dataset under the shared data directory is missing."""


class IntegrityError(MirrorguardError):
    """A signature, digest or hash chain did not verify."""


class UnsafeArtifactError(IntegrityError):
    """A model file is unsigned, tampered, or uses a forbidden construction."""


class PrivacyError(MirrorguardError):
    """Pseudonymisation was requested but cannot be done safely (e.g. key missing)."""
