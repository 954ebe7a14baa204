"""Errors of the Sigma engine: a rule that cannot be loaded or compiled.

``kind`` is a short, stable category (counted in reports as ``failed_by_reason``); the message
gives the detail, and the location names the rule file and line.

>>> err = SigmaRuleError("field 'Foo' not mapped for logsource linux/auditd",
...                      kind="field not mapped", file="r.yml", line=7)
>>> str(err), err.kind
("r.yml:7: field 'Foo' not mapped for logsource linux/auditd", 'field not mapped')
"""

from __future__ import annotations

from mirrorguard.errors import MirrorguardError


class SigmaRuleError(MirrorguardError):
    """A Sigma rule failed to load or compile; ``kind`` is its reason category."""

    def __init__(self, message: str, *, kind: str, file: str | None = None,
                 line: int | None = None, record: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(message, file=file, line=line, record=record, hint=hint)
        self.kind = kind
