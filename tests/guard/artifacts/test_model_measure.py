"""The benchmark's tamper campaign (the full suite runs on NSL-KDD, outside unit tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mirrorguard.guard.artifacts.measure import _tamper_campaign, _tamper_cases
from mirrorguard.guard.keys import Signer, Verifier


def test_tamper_campaign_covers_every_file_and_refuses_all(
    saved_models: dict[str, tuple[Path, Any]], keys: tuple[Signer, Verifier],
    other_keys: tuple[Signer, Verifier], tmp_path: Path,
) -> None:
    model = saved_models["isolation_forest"][0]
    labels = [label for label, _ in _tamper_cases(model, 4, seed=0)]
    for f in ("manifest.json", "manifest.sig", "forest.json", "forest.npz"):
        assert sum(label.startswith(f"flip {f}@") for label in labels) >= 3
    res = _tamper_campaign(model, tmp_path, keys[1], other_keys[1], 4, seed=0)
    assert res["cases"] == len(labels) + 1
    assert res["refused"] == res["cases"] and res["accepted"] == []
