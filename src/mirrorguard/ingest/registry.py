"""The explicit table of parsers. Adding a format = a module + one line here.

Detection is by content: each parser's ``sniff`` scores the first bytes of the decompressed
stream; the highest score at or above :data:`MIN_CONFIDENCE` wins (ties go to the earlier entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from mirrorguard.errors import FormatError
from mirrorguard.ingest.base import Parser
from mirrorguard.ingest.parsers.cicflow import CicFlowParser
from mirrorguard.ingest.parsers.evtx import EvtxParser
from mirrorguard.ingest.parsers.fieldmap import load_field_map, parser_for
from mirrorguard.ingest.parsers.suricata import SuricataEveParser
from mirrorguard.ingest.parsers.syslog import SyslogParser
from mirrorguard.ingest.parsers.weblog import WebAccessParser
from mirrorguard.ingest.parsers.winjson import WinJsonParser
from mirrorguard.ingest.parsers.zeek import ZeekJsonParser, ZeekTsvParser

MIN_CONFIDENCE = 0.5

PARSERS: tuple[type[Parser], ...] = (
    EvtxParser,
    ZeekTsvParser,
    ZeekJsonParser,
    SuricataEveParser,
    WinJsonParser,
    CicFlowParser,
    SyslogParser,
    WebAccessParser,
)


def with_field_maps(paths: Sequence[Path]) -> tuple[type[Parser], ...]:
    """The built-in parsers plus one parser per YAML field map (``fieldmap:<name>``)."""
    return PARSERS + tuple(parser_for(load_field_map(p)) for p in paths)


def parser_names(parsers: Sequence[type[Parser]] = PARSERS) -> list[str]:
    return [p.name for p in parsers]


def get_parser(name: str, parsers: Sequence[type[Parser]] = PARSERS) -> type[Parser]:
    """A parser class by its name."""
    for p in parsers:
        if p.name == name:
            return p
    raise FormatError(f"unknown format {name!r}; known: {', '.join(parser_names(parsers))}")


def detect_format(
    head: bytes, source: str = "", parsers: Sequence[type[Parser]] = PARSERS
) -> type[Parser]:
    """The parser whose ``sniff`` is most confident about ``head``."""
    best: type[Parser] | None = None
    best_score = MIN_CONFIDENCE
    for p in parsers:
        score = p.sniff(head)
        if score > best_score or (best is None and score >= best_score):
            best, best_score = p, score
    if best is None:
        raise FormatError(
            "format not recognised from content", file=source,
            hint=f"force one with --format ({', '.join(parser_names(parsers))})",
        )
    return best
