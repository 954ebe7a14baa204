"""Threat intelligence: STIX 2.x / MISP / CSV feeds, vectorised matching, decay, warning-lists.

>>> import polars as pl
>>> from datetime import datetime, UTC
>>> from mirrorguard.detect.intel import IntelMatcher, hits_to_alerts, load_text
>>> matcher = IntelMatcher(load_text("evil.example\\n198.51.100.0/24", feed="demo"))
>>> events = pl.DataFrame({"event.id": ["e1"], "@timestamp": [datetime(2024, 5, 1, tzinfo=UTC)],
...                        "dns.question.name": ["cdn.evil.example"]})
>>> hits = matcher.match(events)
>>> hits_to_alerts(hits, events)["title"].to_list()
['Threat intel match: domain evil.example']
"""

from mirrorguard.detect.intel.alerts import hits_to_alerts
from mirrorguard.detect.intel.decay import DecayModel
from mirrorguard.detect.intel.feeds import FORMATS, detect_format, load_feed
from mirrorguard.detect.intel.lists import load_csv, load_text
from mirrorguard.detect.intel.matcher import IntelMatcher, MatchStats
from mirrorguard.detect.intel.misp import load_misp
from mirrorguard.detect.intel.model import (
    INDICATOR_SCHEMA,
    INDICATOR_TYPES,
    SIGHTING_SCHEMA,
    IntelFormatError,
    IntelSet,
    LoadProblem,
    LoadReport,
)
from mirrorguard.detect.intel.stix import load_stix
from mirrorguard.detect.intel.stix_pattern import PatternError, compile_pattern
from mirrorguard.detect.intel.store import load_intel, save_intel
from mirrorguard.detect.intel.warninglists import WarningList, WarningLists, builtin_lists

__all__ = [
    "FORMATS",
    "INDICATOR_SCHEMA",
    "INDICATOR_TYPES",
    "SIGHTING_SCHEMA",
    "DecayModel",
    "IntelFormatError",
    "IntelMatcher",
    "IntelSet",
    "LoadProblem",
    "LoadReport",
    "MatchStats",
    "PatternError",
    "WarningList",
    "WarningLists",
    "builtin_lists",
    "compile_pattern",
    "detect_format",
    "hits_to_alerts",
    "load_csv",
    "load_feed",
    "load_intel",
    "load_misp",
    "load_stix",
    "load_text",
    "save_intel",
]
