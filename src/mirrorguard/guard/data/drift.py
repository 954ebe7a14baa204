"""Drift budgets: self-updating baselines that cannot be walked, slowly, to where an attacker wants.

A "boiling frog" poisoner shifts behaviour a few percent per window so that every single update
looks normal while the baseline ends up accepting the attack. The defence here:

* a **signed anchor** — per key (e.g. ``host|bytes_out``) robust statistics of the log values
  when the baseline was last vetted (median, MAD, 1st/99th percentile offsets, spread of window
  medians), serialised canonically and signed with Ed25519 (:mod:`mirrorguard.guard.keys`);
  the budget refuses an anchor whose signature does not verify;
* a **per-window budget** — each window the accepted level of a key moves toward the window's
  median by at most ``per_window`` (log units, 0.05 ≈ 5 %) and never more than ``total`` from
  the anchor; a window whose median lies further from the accepted level than twice the
  anchor's window-median spread is shifted back (its shape kept), and single values are clipped
  to 1.5 times the anchor's 1st–99th percentile offsets around the level (robust statistics
  throughout: medians, MAD, quantiles);
* **trend tests against the anchor** — Mann–Kendall (Mann 1945; Kendall 1975) on the sequence of
  window medians since the anchor, and a one-sided Page CUSUM (Page 1954) of window medians
  standardised by the anchor's window-median spread (each increment capped at ``cusum_cap`` so
  that one wild window cannot raise it alone). A significant monotone trend that has moved
  at least ``min_shift`` in the attacker-favourable direction, or a CUSUM alarm, raises a
  finding and *holds* the key: its level stops moving until a person signs a new anchor.

>>> import numpy as np
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> priv, pub = generate_keypair()
>>> rng = np.random.default_rng(0)
>>> keys = np.repeat(["a", "b"], 240); wins = np.tile(np.repeat(np.arange(10), 24), 2)
>>> anchor = Anchor.from_values(keys, wins, rng.lognormal(8, 0.3, 480)).sign(Signer(priv))
>>> budget = DriftBudget(anchor, Verifier(pub))
>>> for w in range(20):
...     vals = rng.lognormal(8, 0.3, 48) * np.repeat([1.0, 1.08 ** (w + 1)], 24)
...     _, found = budget.admit(np.repeat(["a", "b"], 24), vals, window=w)
>>> sorted(set(budget.held_keys()))
['b']
"""

from __future__ import annotations

import base64
import json
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import polars as pl
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from scipy.stats import norm

from mirrorguard.errors import IntegrityError
from mirrorguard.guard.artifacts.canonical import finite_json
from mirrorguard.guard.keys import Signer, Verifier

Direction = Literal["up", "down", "both"]


@dataclass(frozen=True)
class BudgetConfig:
    """Budget and test settings (log units: 0.05 ≈ 5 %)."""

    per_window: float = 0.05
    total: float = 0.5
    trend_alpha: float = 1e-4
    min_windows: int = 6
    min_shift: float = 0.1
    cusum_k: float = 0.5
    cusum_h: float = 10.0
    cusum_cap: float = 4.0
    direction: Direction = "up"
    min_spread: float = 0.02
    spread_tolerance: float = 2.0
    clip_margin: float = 1.5


@dataclass
class Anchor:
    """Vetted per-key robust statistics of ``log1p`` values."""

    keys: list[str]
    center: np.ndarray
    scale: np.ndarray
    lo: np.ndarray  # q01 - median
    hi: np.ndarray  # q99 - median
    window_spread: np.ndarray  # robust sd of window medians
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def from_values(cls, keys: np.ndarray, windows: np.ndarray, values: np.ndarray,
                    min_spread: float = 0.02) -> Anchor:
        """Statistics per key from ``(key, window, value)`` triples (all vectorised)."""
        f = pl.DataFrame({"key": np.asarray(keys).astype(str), "w": np.asarray(windows),
                          "v": np.log1p(np.maximum(np.asarray(values, dtype=np.float64), 0))})
        med = pl.col("v").median()
        per = (f.group_by("key").agg(
            med.alias("c"), (pl.col("v") - med).abs().median().alias("mad"),
            pl.col("v").quantile(0.01).alias("q01"), pl.col("v").quantile(0.99).alias("q99"))
            .sort("key"))
        wm = f.group_by("key", "w").agg(pl.col("v").median().alias("m"), pl.len().alias("n"))
        spread = (wm.group_by("key").agg(
            ((pl.col("m") - pl.col("m").median()).abs().median() * 1.4826).alias("s"),
            pl.col("n").median().alias("n")).sort("key"))
        c = per["c"].to_numpy()
        scale = np.maximum(per["mad"].to_numpy() * 1.4826, min_spread)
        # the spread of a window median is at least what sampling alone gives (1.2533 σ/√n);
        # the empirical spread of a few vetted windows often underestimates it
        sampling = 1.2533 * scale / np.sqrt(np.maximum(spread["n"].to_numpy(), 1.0))
        s = np.maximum(np.maximum(spread["s"].to_numpy(), sampling), min_spread)
        return cls(keys=per["key"].to_list(), center=c, scale=scale,
                   lo=per["q01"].to_numpy() - c, hi=per["q99"].to_numpy() - c, window_spread=s)

    def payload(self) -> bytes:
        """Canonical JSON bytes (what is signed)."""
        doc = {"version": 1, "created": self.created, "keys": self.keys,
               **{k: [round(float(v), 9) for v in getattr(self, k)]
                  for k in ("center", "scale", "lo", "hi", "window_spread")}}
        return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()

    @classmethod
    def from_payload(cls, data: bytes) -> Anchor:
        doc = json.loads(data)
        return cls(keys=list(doc["keys"]), created=str(doc["created"]),
                   **{k: np.asarray(doc[k], dtype=np.float64)
                      for k in ("center", "scale", "lo", "hi", "window_spread")})

    def sign(self, signer: Signer) -> SignedAnchor:
        data = self.payload()
        return SignedAnchor(payload=data, signature=signer.sign(data), key_id=signer.key_id)


@dataclass(frozen=True)
class SignedAnchor:
    """An anchor's canonical bytes with their Ed25519 signature (JSON-able, no pickle)."""

    payload: bytes
    signature: bytes
    key_id: str

    def verify(self, verifier: Verifier) -> Anchor:
        """The anchor, once its signature verifies (raises :class:`IntegrityError` if not)."""
        verifier.verify(self.payload, self.signature)
        return Anchor.from_payload(self.payload)

    def to_json(self) -> str:
        return json.dumps({"payload": self.payload.decode(), "key_id": self.key_id,
                           "signature": base64.b64encode(self.signature).decode()})

    @classmethod
    def from_json(cls, text: str) -> SignedAnchor:
        doc = json.loads(text)
        return cls(payload=doc["payload"].encode(), key_id=doc["key_id"],
                   signature=base64.b64decode(doc["signature"]))


def mann_kendall(history: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mann–Kendall S and one-sided upward p-value per row of ``history`` (keys, t).

    Only the first ``count[i]`` entries of row ``i`` are used (no-tie variance).
    """
    t = history.shape[1]
    valid = np.arange(t)[None, :] < count[:, None]
    diff = np.sign(history[:, None, :] - history[:, :, None])  # [i, a, b] = sign(x_b - x_a)
    upper = np.triu(np.ones((t, t), dtype=bool), k=1)[None]
    pair_ok = upper & valid[:, :, None] & valid[:, None, :]
    s = np.where(pair_ok, diff, 0.0).sum(axis=(1, 2))
    n = count.astype(np.float64)
    var = n * (n - 1) * (2 * n + 5) / 18.0
    z = np.where(var > 0, (s - np.sign(s)) / np.sqrt(np.maximum(var, 1e-12)), 0.0)
    return s, norm.sf(z)


class DriftBudget:
    """Admits window values per key within the budget; see the module docstring."""

    def __init__(self, anchor: SignedAnchor, verifier: Verifier,
                 config: BudgetConfig | None = None) -> None:
        self.config = config or BudgetConfig()
        self.anchor = anchor.verify(verifier)
        self.anchor_digest = anchor.payload
        self.signed = anchor
        self.verifier = verifier
        self._index = {k: i for i, k in enumerate(self.anchor.keys)}
        n = len(self.anchor.keys)
        self.level = self.anchor.center.copy()
        self.history = np.zeros((n, 0))
        self.count = np.zeros(n, dtype=np.int64)
        self.cusum = np.zeros(n)
        self.held = np.zeros(n, dtype=bool)
        self.findings: list[dict[str, Any]] = []

    def held_keys(self) -> list[str]:
        return [k for k, h in zip(self.anchor.keys, self.held, strict=True) if h]

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """Everything needed to carry on after a restart: the signed anchor and the public key
        that verified it, the settings, findings, and the running levels and tests."""
        meta: dict[str, Any] = {
            "anchor": self.signed.to_json(), "public_key": self.verifier.public_hex(),
            "config": asdict(self.config), "findings": finite_json(self.findings)}
        arrays = {"level": self.level, "history": self.history, "count": self.count,
                  "cusum": self.cusum, "held": self.held}
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> DriftBudget:
        """Rebuild a budget; the anchor's signature is checked again with its recorded key
        (the saved detector as a whole is signed too, so the key cannot be swapped unseen)."""
        verifier = Verifier(Ed25519PublicKey.from_public_bytes(bytes.fromhex(
            str(meta["public_key"]))))
        budget = cls(SignedAnchor.from_json(str(meta["anchor"])), verifier,
                     BudgetConfig(**meta["config"]))
        n = len(budget.anchor.keys)
        level = np.asarray(arrays["level"], dtype=np.float64)
        if level.shape != (n,):
            raise IntegrityError(f"budget state has {level.shape} levels for {n} anchor keys")
        budget.level = level
        budget.history = np.asarray(arrays["history"], dtype=np.float64).reshape(n, -1)
        budget.count = np.asarray(arrays["count"], dtype=np.int64)
        budget.cusum = np.asarray(arrays["cusum"], dtype=np.float64)
        budget.held = np.asarray(arrays["held"], dtype=bool)
        budget.findings = list(meta["findings"])
        return budget

    def _sign(self) -> float:
        return {"up": 1.0, "down": -1.0, "both": 0.0}[self.config.direction]

    def _window_medians(self, idx: np.ndarray, logv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        f = pl.DataFrame({"i": idx, "v": logv}).filter(pl.col("i") >= 0)
        g = f.group_by("i").agg(pl.col("v").median()).sort("i")
        return g["i"].to_numpy(), g["v"].to_numpy()

    def _record(self, ids: np.ndarray, med: np.ndarray) -> None:
        need = int(self.count[ids].max(initial=0)) + 1 if ids.size else 0
        if need > self.history.shape[1]:
            pad = np.full((len(self.level), need - self.history.shape[1]), np.nan)
            self.history = np.hstack([self.history, pad])
        self.history[ids, self.count[ids]] = med
        self.count[ids] += 1

    def _tests(self, ids: np.ndarray, med: np.ndarray, window: Any) -> None:
        a, cfg = self.anchor, self.config
        sgn = self._sign()
        z = (med - a.center[ids]) / a.window_spread[ids]
        zd = np.minimum(np.abs(z) if sgn == 0 else sgn * z, cfg.cusum_cap)  # robust: one wild
        self.cusum[ids] = np.maximum(0.0, self.cusum[ids] + zd - cfg.cusum_k)
        hist = self.history[ids]
        hist = np.where(np.isnan(hist), 0.0, hist) * (1.0 if sgn >= 0 else -1.0)
        s, p = mann_kendall(hist, self.count[ids])
        if sgn == 0:
            _, p2 = mann_kendall(-hist, self.count[ids])
            p = np.minimum(p, p2)
        shift = med - a.center[ids]
        shift = np.abs(shift) if sgn == 0 else sgn * shift
        trend = (self.count[ids] >= cfg.min_windows) & (p < cfg.trend_alpha) & (
            shift >= cfg.min_shift)
        alarm = (self.cusum[ids] >= cfg.cusum_h) & (shift >= cfg.min_shift)
        new = (trend | alarm) & ~self.held[ids]
        for j in np.flatnonzero(new).tolist():  # findings are rare: one dict each
            k = int(ids[j])
            self.findings.append({
                "key": a.keys[k], "window": window,
                "kind": "monotone_drift" if trend[j] else "sustained_shift",
                "severity": "high" if trend[j] else "medium",
                "mann_kendall_s": float(s[j]), "p_value": float(p[j]),
                "cusum": float(self.cusum[k]), "windows": int(self.count[k]),
                "shift_log": float(med[j] - a.center[k]),
                "anchor_median": float(np.expm1(a.center[k])),
                "window_median": float(np.expm1(med[j]))})
        self.held[ids[new]] = True

    def admit(self, keys: np.ndarray, values: np.ndarray, window: Any = None,
              ) -> tuple[np.ndarray, list[dict[str, Any]]]:
        """Clip one window's values per key to the budget; returns (values, new findings).

        Keys absent from the anchor pass unchanged (they have no vetted baseline yet).
        """
        keys = np.asarray(keys).astype(str)
        values = np.asarray(values, dtype=np.float64)
        lookup = pl.DataFrame({"key": list(self._index), "i": list(self._index.values())})
        idx = (pl.DataFrame({"key": keys}).join(lookup, on="key", how="left",
                                                maintain_order="left")["i"]
               .fill_null(-1).to_numpy())
        logv = np.log1p(np.maximum(values, 0.0))
        ids, med = self._window_medians(idx, logv)
        before = len(self.findings)
        excess = np.zeros(len(self.level))
        if ids.size:
            self._record(ids, med)
            self._tests(ids, med, window)
            a, cfg = self.anchor, self.config
            step = np.clip(med - self.level[ids], -cfg.per_window, cfg.per_window)
            moved = np.clip(self.level[ids] + step, a.center[ids] - cfg.total,
                            a.center[ids] + cfg.total)
            self.level[ids] = np.where(self.held[ids], self.level[ids], moved)
            # a window further from the accepted level than its natural spread is moved back
            # (shape kept): only the budgeted step of its location is learned
            d = med - self.level[ids]
            tol = cfg.spread_tolerance * a.window_spread[ids]
            excess[ids] = np.sign(d) * np.maximum(np.abs(d) - tol, 0.0)
        known = idx >= 0
        k = np.where(known, idx, 0)
        m = self.config.clip_margin
        low = self.level[k] + m * self.anchor.lo[k]
        high = self.level[k] + m * self.anchor.hi[k]
        clipped = np.where(known, np.clip(logv - excess[k], low, high), logv)
        return np.where(known, np.expm1(clipped), values), self.findings[before:]


class GuardedBaseline:
    """A generic numeric baseline (e.g. a detector's score quantile or a threshold) behind a budget.

    ``update(keys, values)`` admits one window; ``quantile(key, q)`` reads the baseline, which only
    ever learned clipped values.
    """

    def __init__(self, budget: DriftBudget, capacity: int = 10_000) -> None:
        self.budget = budget
        self.capacity = capacity
        self.values: dict[str, np.ndarray] = {}
        self.window = 0

    def update(self, keys: np.ndarray, values: np.ndarray) -> list[dict[str, Any]]:
        admitted, found = self.budget.admit(keys, values, window=self.window)
        self.window += 1
        frame = pl.DataFrame({"k": np.asarray(keys).astype(str), "v": admitted})
        for (k,), g in frame.group_by("k"):
            old = self.values.get(str(k), np.zeros(0))
            self.values[str(k)] = np.concatenate([old, g["v"].to_numpy()])[-self.capacity:]
        return found

    def quantile(self, key: str, q: float) -> float:
        vals = self.values.get(key)
        if vals is None or vals.size == 0:
            raise IntegrityError(f"no baseline for key {key!r}")
        return float(np.quantile(vals, q))
