"""Load any supported feed by path, recognising its format.

``auto`` picks: a directory or ``manifest.json`` → MISP feed; ``.csv`` → CSV list; ``.json`` →
STIX when the document is a bundle / STIX object(s), MISP when it holds ``Event`` objects;
anything else → a one-value-per-line text list with inferred types.

>>> import tempfile, pathlib
>>> with tempfile.TemporaryDirectory() as d:
...     p = pathlib.Path(d) / "iocs.csv"
...     _ = p.write_text("value,type\\n198.51.100.1,ip-dst\\n")
...     load_feed(p).indicators["indicator.value"].to_list()
['198.51.100.1']
"""

from __future__ import annotations

import json
from pathlib import Path

from mirrorguard.detect.intel.lists import load_csv, load_text
from mirrorguard.detect.intel.misp import load_misp
from mirrorguard.detect.intel.model import IntelFormatError, IntelSet
from mirrorguard.detect.intel.stix import load_stix

FORMATS = ("auto", "stix", "misp", "csv", "text")


def _json_kind(path: Path) -> str:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise IntelFormatError(f"cannot read JSON feed: {exc}", file=str(path),
                               line=getattr(exc, "lineno", None)) from exc
    first = data[0] if isinstance(data, list) and data else data
    if isinstance(first, dict) and ("Event" in first or "response" in first):
        return "misp"
    if isinstance(first, dict) and "type" in first:
        return "stix"
    raise IntelFormatError("JSON is neither a STIX bundle nor MISP events", file=str(path))


def detect_format(path: Path) -> str:
    """The feed format ``auto`` would choose for ``path``."""
    if path.is_dir() or path.name == "manifest.json":
        return "misp"
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix == ".json":
        return _json_kind(path)
    return "text"


def load_feed(path: Path, *, fmt: str = "auto", type: str | None = None,
              feed: str | None = None, subdomains: bool = True) -> IntelSet:
    """Load one feed file or MISP feed directory (see module docstring for ``auto``)."""
    if fmt not in FORMATS:
        raise IntelFormatError(f"unknown feed format {fmt!r}; one of {', '.join(FORMATS)}",
                               file=str(path))
    if not path.exists():
        raise IntelFormatError("feed not found", file=str(path))
    kind = detect_format(path) if fmt == "auto" else fmt
    if kind == "stix":
        return load_stix(path, feed=feed, subdomains=subdomains)
    if kind == "misp":
        return load_misp(path, feed=feed)
    if kind == "csv":
        return load_csv(path, type=type, feed=feed)
    return load_text(path, type=type or "auto", feed=feed)
