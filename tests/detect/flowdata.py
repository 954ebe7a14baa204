"""Small synthetic flow frames shared by the detector tests (fast, seeded)."""

from __future__ import annotations

import numpy as np
import polars as pl


def benign_flows(n: int = 600, seed: int = 0) -> pl.DataFrame:
    """Benign-looking flows: lognormal bytes, a few protocols/services, correlated packets."""
    rng = np.random.default_rng(seed)
    src = rng.lognormal(7.0, 1.0, n)
    return pl.DataFrame({
        "src_bytes": src,
        "dst_bytes": src * rng.uniform(2.0, 4.0, n),
        "packets": np.round(src / 500.0) + 1,
        "error_rate": rng.beta(1, 30, n),
        "proto": rng.choice(["tcp", "udp"], n, p=[0.8, 0.2]),
        "service": rng.choice(["http", "dns", "ssh"], n, p=[0.6, 0.3, 0.1]),
    })


def attack_flows(n: int = 60, seed: int = 1) -> pl.DataFrame:
    """Anomalous flows: huge uploads, odd services, high error rates."""
    rng = np.random.default_rng(seed)
    return pl.DataFrame({
        "src_bytes": rng.lognormal(14.0, 0.5, n),
        "dst_bytes": rng.lognormal(3.0, 0.5, n),
        "packets": rng.integers(1, 3, n).astype(float),
        "error_rate": rng.uniform(0.5, 1.0, n),
        "proto": rng.choice(["tcp", "icmp"], n),
        "service": rng.choice(["irc", "http"], n),
    })


def labelled(seed: int = 0) -> tuple[pl.DataFrame, np.ndarray]:
    """Benign + attack rows with labels (1 = attack), shuffled."""
    b, a = benign_flows(seed=seed), attack_flows(seed=seed + 1)
    X = pl.concat([b, a])
    y = np.r_[np.zeros(b.height, dtype=int), np.ones(a.height, dtype=int)]
    order = np.random.default_rng(seed).permutation(X.height)
    return X[pl.Series(order)], y[order]
