"""Fixtures for the adversarial model-file corpus (built into tmp dirs, never committed)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import Built, build_malicious, write_samples
from corpus_benign import CLAMP_FILE, benign_samples
from tests.conftest import need_data


@pytest.fixture(scope="session")
def malicious_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    built = build_malicious(tmp_path_factory.mktemp("malicious"))
    return {b.sample.name: b for b in built}


@pytest.fixture(scope="session")
def benign_corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Built]:
    data_dir = need_data(*CLAMP_FILE).parents[1]
    samples = benign_samples(data_dir, seed=0, rows=400)
    return write_samples(samples, tmp_path_factory.mktemp("benign"))
