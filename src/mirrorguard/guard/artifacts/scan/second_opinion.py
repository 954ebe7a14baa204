"""Second-opinion scanners (picklescan, fickling) through their Python APIs.

picklescan's command line exits 0 even when it reports infected files, so its API is used;
fickling needs ``typing_extensions``. Both are optional (the ``bench`` extra): when one is not
installed, :func:`available` leaves it out. A verdict is ``flagged`` (the scanner reported the
file unsafe), ``clean``, or ``error`` (the scanner failed on the file).

>>> sorted(SCANNERS)
['fickling', 'picklescan']
"""

from __future__ import annotations

import importlib.util
import zipfile
from collections.abc import Callable
from pathlib import Path

Verdict = str  # "flagged" | "clean" | "error"


def _picklescan(path: Path) -> Verdict:
    from picklescan.scanner import scan_file_path

    result = scan_file_path(str(path))
    if result.infected_files > 0 or result.issues_count > 0:
        return "flagged"
    return "error" if result.scan_err else "clean"


def _fickling(path: Path) -> Verdict:
    from fickling.loader import scan_file, scan_zip_archive

    if zipfile.is_zipfile(path):
        results = list(scan_zip_archive(str(path), graceful=True).values())
    else:
        results = [scan_file(str(path), graceful=True)]
    if any(not r.is_safe for r in results):
        return "flagged"
    return "error" if any(r.errors for r in results) else "clean"


SCANNERS: dict[str, tuple[str, Callable[[Path], Verdict]]] = {
    "picklescan": ("picklescan", _picklescan),
    "fickling": ("fickling", _fickling),
}


def available() -> list[str]:
    """Second-opinion scanners importable here."""
    return [name for name, (module, _fn) in SCANNERS.items()
            if importlib.util.find_spec(module) is not None]


def verdict(scanner: str, path: Path) -> Verdict:
    """Run one second-opinion scanner on one file; its exceptions become ``error``."""
    fn = SCANNERS[scanner][1]
    try:
        return fn(path)
    except Exception:  # a third-party scanner failing on a hostile file is a data point
        return "error"
