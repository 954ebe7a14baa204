"""Shared fixtures. Tests needing ../shared/data fail (not skip) when CI=true and it is missing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]


def _data_dir() -> Path:
    env = os.environ.get("MIRRORGUARD_DATA_DIR")
    if env:
        return Path(env).resolve()
    for cand in (_ROOT.parent / "shared" / "data", Path("/work/shared/data")):
        if cand.exists():
            return cand.resolve()
    return (_ROOT.parent / "shared" / "data").resolve()


DATA_DIR = _data_dir()


def need_data(*parts: str) -> Path:
    """Path under the shared data dir; skip locally, fail under CI, when it is missing."""
    path = DATA_DIR.joinpath(*parts)
    if not path.exists():
        msg = f"shared dataset missing: {path} (set MIRRORGUARD_DATA_DIR)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    return path


@pytest.fixture
def data_dir() -> Path:
    return need_data()
