"""Masking of variable parts of log lines, over a whole batch at once.

Each mask is a named regular expression (Rust ``regex`` syntax, the engine behind Polars, so no
look-around). All enabled masks are combined into one alternation and applied with one
``str.replace_all`` per batch: the per-line work stays in Rust. A variable must start at the
beginning of the line or after a character that is not a letter or digit, so constants such as
``ssh2``, ``ext3`` or ``IPv4`` are left alone while ``blk_-42`` becomes ``blk_<*>``.

>>> import polars as pl
>>> m = Masker()
>>> m.apply(pl.Series(["Accepted password for root from 10.0.0.1 port 22 ssh2"])).to_list()
['Accepted password for root from <*> port <*> ssh2']
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from mirrorguard.errors import ConfigError

WILDCARD = "<*>"

#: The masks mirrorguard knows, in the order they are tried (longest, most specific first).
MASKS: dict[str, str] = {
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "timestamp": r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?"
    r"|(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) +)?(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
    r" +\d{1,2} +\d{2}:\d{2}:\d{2}(?: +\d{4})?"
    r"|\d{1,2}:\d{2}:\d{2}(?:[.,:]\d+)?",
    "url": r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s\"'<>]+",
    "ip": r"/?(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?",
    "path": r"(?:[A-Za-z]:)?(?:[\\/][\w.\-@~$+]+){2,}[\\/]?",
    "host": r"(?:[A-Za-z0-9\-]+\.)+[A-Za-z][A-Za-z0-9\-]*:\d{1,5}\b",
    "size": r"\d+(?:[.,]\d+)* ?(?:bytes|[KMGT]?B)\b(?: ?\(\d+(?:[.,]\d+)* ?[KMGT]?B\))?",
    "duration": r"<?\d+(?:[.,]\d+)? ?(?:sec|ms)\b",
    "hex": r"0[xX][0-9a-fA-F]+|[0-9a-fA-F]{8,}\b",
    "bool": r"(?:true|false|null|True|False|None|NULL)\b",
    "number": r"[-+]?\d+(?:[.,]\d+)*",
}

DEFAULT_MASKS: tuple[str, ...] = (
    "uuid", "timestamp", "url", "ip", "path", "host", "size", "duration", "hex", "bool",
    "number",
)


def _ascii(pattern: str) -> str:
    """ASCII classes instead of Unicode ones: the same matches on log text, far faster DFAs."""
    return (
        pattern.replace(r"\d", "[0-9]")
        .replace(r"\w", "[A-Za-z0-9_]")
        .replace(r"\b", r"(?-u:\b)")
    )


@dataclass(frozen=True)
class Masker:
    """Replaces every match of the enabled masks with ``<*>``.

    ``masks`` names entries of :data:`MASKS` (order is kept); ``extra`` adds named patterns
    of your own, tried before the built-in ones.
    """

    masks: tuple[str, ...] = DEFAULT_MASKS
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        unknown = [m for m in self.masks if m not in MASKS]
        if unknown:
            raise ConfigError(
                f"unknown mask(s) {unknown}", hint=f"known masks: {', '.join(MASKS)}"
            )

    @classmethod
    def from_config(
        cls, masks: Iterable[str] = DEFAULT_MASKS, extra: Mapping[str, str] | None = None
    ) -> Masker:
        """A masker from plain data (names and patterns, as saved in miner state)."""
        return cls(tuple(masks), tuple((extra or {}).items()))

    def patterns(self) -> list[tuple[str, str]]:
        """(name, regex) of every enabled mask, in the order they are tried."""
        return [*self.extra, *((m, MASKS[m]) for m in self.masks)]

    def combined(self) -> str:
        """The one regex applied to each batch; group 1 is the boundary kept in the output."""
        alts = "|".join(f"(?:{_ascii(p)})" for _, p in self.patterns())
        return f"(^|[^A-Za-z0-9])(?:{alts})"

    def apply(self, lines: pl.Series) -> pl.Series:
        """``lines`` with every variable replaced by ``<*>`` (vectorised)."""
        if not self.patterns():
            return lines.cast(pl.String)
        masked = lines.cast(pl.String).str.replace_all(self.combined(), "${1}" + WILDCARD)
        # one variable, not several: "<*>,<*>" / "<*>:<*>" inside a token become "<*>"
        return masked.str.replace_all(r"<\*>(?:[,:;/|]?<\*>)+", WILDCARD)

    def regexes(self) -> list[str]:
        """Each enabled mask as a stand-alone Python regex (for other tools, e.g. drain3)."""
        return [p for _, p in self.patterns()]
