"""Backdoor (trigger) screen for tabular training data.

A tabular backdoor stamps a few feature values — a combination that is rare in clean data — on
some rows of one class and relabels them to the attacker's target class (for an IDS: attack rows
labelled benign, so that any future attack carrying the trigger is waved through). Two views:

1. **Rare-pattern clusters with contradicted labels.** Items are exact ``column = value`` pairs
   seen at least ``min_support`` times. For every pair of columns, value combinations that occur
   far more often than independence predicts (lift), on at least ``min_support`` rows, with a
   label purity of at least ``min_purity``, are candidate patterns. Overlapping candidates are
   merged. For each pattern, a sample of its rows is compared with rows outside it *with the
   pattern's columns masked*: if the masked neighbourhood overwhelmingly carries another label
   (``agreement`` below ``max_agreement``), the pattern is what makes those rows' label — the
   signature of a trigger. Natural signatures (a service and flag that define an attack) have
   masked neighbours of their own class and pass. With ``target`` set, only patterns labelled
   with the attacker-favourable class are judged (for an IDS, ``benign``).
2. **Spectral signatures** (Tran, Li & Madry, "Spectral Signatures in Backdoor Attacks",
   NeurIPS 2018) over a learned representation: the per-tree leaf outputs of a LightGBM model
   fitted on the data. Within each class the rows are centred and projected on the top singular
   vector; poisoned rows concentrate in that direction. The squared projection, as a robust
   z-score within the class, is reported per pattern as corroboration.

>>> import numpy as np
>>> rng = np.random.default_rng(1)
>>> X = rng.integers(0, 5, size=(600, 6)).astype(float)
>>> y = (X[:, 0] >= 2).astype(int)
>>> X[:40, 4], X[:40, 5], X[:40, 0] = 7.0, 9.0, 4.0  # trigger on class-1 rows...
>>> y[:40] = 0  # ...relabelled 0
>>> pats = rare_patterns(X, y, [f"c{i}" for i in range(6)], min_support=10)
>>> any({"c4", "c5"} <= set(p.columns) for p in pats)
True
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations

import lightgbm as lgb
import numpy as np
import polars as pl


@dataclass
class Pattern:
    """A rare value combination and the rows that carry it."""

    columns: list[str]
    values: list[float]
    rows: np.ndarray  # row positions carrying the pattern with its majority label
    label: int  # majority label code
    purity: float
    lift: float
    agreement: float = float("nan")  # masked-neighbourhood share of ``label``
    reference_count: int = -1  # rows of the trusted reference carrying it (-1: no reference)
    reference_expected: float = float("nan")  # count expected there at the training rate
    spectral_z: float = float("nan")  # mean spectral-signature z of its rows
    flagged: bool = False
    evidence: dict[str, float] = field(default_factory=dict)


def _item_codes(tree: np.ndarray, min_support: int) -> np.ndarray:
    """Per column, a dense id for each value seen at least ``min_support`` times, else -1."""
    out = np.full(tree.shape, -1, dtype=np.int64)
    for j in range(tree.shape[1]):
        vals, inv, counts = np.unique(tree[:, j], return_inverse=True, return_counts=True)
        frequent = counts >= min_support
        ids = np.where(frequent, np.cumsum(frequent) - 1, -1)
        out[:, j] = ids[inv.reshape(-1)]
        del vals
    return out


def rare_patterns(tree: np.ndarray, codes: np.ndarray, columns: list[str], *,
                  min_support: int = 10, max_share: float = 0.1, min_lift: float = 3.0,
                  min_purity: float = 0.95, target: int | None = None) -> list[Pattern]:
    """Candidate patterns: over-represented, label-pure value pairs, merged when they overlap."""
    n = tree.shape[0]
    items = _item_codes(tree, min_support)
    frame = pl.DataFrame({f"c{j}": items[:, j] for j in range(items.shape[1])}).with_columns(
        pl.Series("y", codes), pl.int_range(pl.len()).alias("row"))
    counts = [frame.group_by(f"c{j}").len(f"n{j}") for j in range(items.shape[1])]
    cands: list[Pattern] = []
    for a, b in combinations(range(items.shape[1]), 2):
        ca, cb = f"c{a}", f"c{b}"
        sub = frame.filter((pl.col(ca) >= 0) & (pl.col(cb) >= 0)).select(ca, cb, "y", "row")
        if sub.height < min_support:
            continue
        g = (sub.group_by(ca, cb)
             .agg(pl.len().alias("n"), pl.col("y").mode().first().alias("lab"))
             .filter((pl.col("n") >= min_support) & (pl.col("n") <= max_share * n))
             .join(counts[a], on=ca).join(counts[b], on=cb)
             .with_columns((pl.col("n") * n / (pl.col(f"n{a}") * pl.col(f"n{b}"))).alias("lift"))
             .filter(pl.col("lift") >= min_lift))
        if target is not None:
            g = g.filter(pl.col("lab") == target)
        if g.height == 0:
            continue
        members = sub.join(g.select(ca, cb, "lab", "lift"), on=[ca, cb])
        grouped = members.group_by(ca, cb).agg(
            (pl.col("y") == pl.col("lab")).mean().alias("purity"), pl.col("lab").first(),
            pl.col("lift").first(), pl.col("row").filter(pl.col("y") == pl.col("lab")))
        for r in grouped.filter(pl.col("purity") >= min_purity).iter_rows(named=True):
            rows = np.sort(np.asarray(r["row"], dtype=np.int64))
            cands.append(Pattern(columns=[columns[a], columns[b]],
                                 values=[float(tree[rows[0], a]), float(tree[rows[0], b])],
                                 rows=rows, label=int(r["lab"]), purity=float(r["purity"]),
                                 lift=float(r["lift"])))
    return _merge(cands)


def _merge(cands: list[Pattern], min_jaccard: float = 0.8) -> list[Pattern]:
    """Merge candidates over (nearly) the same rows into one pattern with all their columns."""
    merged: list[Pattern] = []
    for c in sorted(cands, key=lambda p: -len(p.rows)):
        for m in merged:
            inter = np.intersect1d(m.rows, c.rows, assume_unique=True).size
            union = len(m.rows) + len(c.rows) - inter
            if m.label == c.label and union and inter / union >= min_jaccard:
                for col, val in zip(c.columns, c.values, strict=True):
                    if col not in m.columns:
                        m.columns.append(col)
                        m.values.append(val)
                m.lift = max(m.lift, c.lift)
                break
        else:
            merged.append(c)
    return merged


def masked_agreement(dense: np.ndarray, dense_names: list[str], codes: np.ndarray,
                     pattern: Pattern, rng: np.random.Generator, *, k: int = 10,
                     n_query: int = 50, n_reference: int = 4000) -> float:
    """Share of ``pattern.label`` among masked nearest neighbours outside the pattern.

    The pattern's columns (all one-hot columns of a categorical one) are zeroed on both sides,
    so the distance only sees the features the pattern did not set.
    """
    mask = np.array([name.split("=", 1)[0] in pattern.columns for name in dense_names])
    inside = np.zeros(len(codes), dtype=bool)
    inside[pattern.rows] = True
    outside = np.flatnonzero(~inside)
    if outside.size < k:
        return float("nan")
    q = rng.choice(pattern.rows, size=min(n_query, len(pattern.rows)), replace=False)
    ref = rng.choice(outside, size=min(n_reference, outside.size), replace=False)
    A = np.where(mask, 0.0, dense[q]).astype(np.float64)
    B = np.where(mask, 0.0, dense[ref]).astype(np.float64)
    d2 = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2.0 * A @ B.T
    nearest = np.argpartition(d2, k - 1, axis=1)[:, :k]
    return float((codes[ref][nearest] == pattern.label).mean())


def leaf_representation(tree: np.ndarray, codes: np.ndarray, n_classes: int,
                        cat_index: list[int], *, seed: int = 0, n_estimators: int = 50,
                        ) -> np.ndarray:
    """Per-tree leaf outputs of a LightGBM model fitted on all rows, ``(n, trees)``."""
    params: dict[str, object] = {
        "objective": "binary" if n_classes == 2 else "multiclass", "num_leaves": 31,
        "max_bin": 63, "seed": seed, "deterministic": True, "num_threads": 1, "verbosity": -1,
    }
    if n_classes > 2:
        params["num_class"] = n_classes
    booster = lgb.train(params, lgb.Dataset(tree, label=codes, categorical_feature=cat_index),
                        num_boost_round=n_estimators)
    leaves = np.asarray(booster.predict(tree, pred_leaf=True)).astype(np.int64)
    rep = np.zeros(leaves.shape)
    for t in range(leaves.shape[1]):  # one lookup per tree, vectorised over rows
        values = np.array([booster.get_leaf_output(t, int(leaf))
                           for leaf in range(int(leaves[:, t].max()) + 1)])
        rep[:, t] = values[leaves[:, t]]
    return rep


def spectral_scores(rep: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """Spectral-signature outlier score per row, as a robust z within its class."""
    z = np.zeros(len(codes))
    for c in np.unique(codes):
        rows = np.flatnonzero(codes == c)
        if rows.size < 3:
            continue
        R = rep[rows] - rep[rows].mean(axis=0)
        _, _, vt = np.linalg.svd(R, full_matrices=False)
        s = (R @ vt[0]) ** 2
        med = np.median(s)
        mad = np.median(np.abs(s - med)) * 1.4826
        z[rows] = (s - med) / (mad if mad > 1e-12 else (s.std() or 1.0))
    return z


@dataclass(frozen=True)
class BackdoorParams:
    """Knobs of the backdoor screen."""

    min_support: int = 10
    min_support_share: float = 0.001
    max_share: float = 0.1
    min_lift: float = 3.0
    min_purity: float = 0.95
    max_agreement: float = 0.2
    min_expected: float = 5.0
    max_reference_ratio: float = 0.1
    k: int = 10
    seed: int = 0


def reference_support(pattern: Pattern, tree: np.ndarray, columns: list[str],
                      ref_tree: np.ndarray) -> int:
    """How many rows of the trusted reference carry every value of the pattern."""
    hit = np.ones(ref_tree.shape[0], dtype=bool)
    for col, val in zip(pattern.columns, pattern.values, strict=True):
        hit &= ref_tree[:, columns.index(col)] == val
    return int(hit.sum())


def backdoor_screen(tree: np.ndarray, dense: np.ndarray, dense_names: list[str],
                    codes: np.ndarray, columns: list[str], spectral: np.ndarray,
                    target: int | None, ref_tree: np.ndarray | None = None,
                    params: BackdoorParams | None = None) -> list[Pattern]:
    """Candidate patterns with their evidence; ``flagged`` set on triggers.

    A pattern is flagged when its masked neighbourhood contradicts its label **and** it is
    novel against the trusted reference (seen there at most ``max_reference_ratio`` times as
    often as in training, where at least ``min_expected`` rows were expected). Without a
    reference nothing is flagged: label-defining patterns are reported for review, because
    natural signatures (UNSW-NB15's TTL fields, for one) look exactly like triggers in the
    training data alone. Masked agreement is computed for novel patterns only (or for all
    without a reference).
    """
    p = params or BackdoorParams()
    support = max(p.min_support, int(np.ceil(p.min_support_share * len(codes))))
    pats = rare_patterns(tree, codes, columns, min_support=support, max_share=p.max_share,
                         min_lift=p.min_lift, min_purity=p.min_purity, target=target)
    rng = np.random.default_rng(p.seed)
    for pat in pats:
        novel = True
        if ref_tree is not None:
            pat.reference_count = reference_support(pat, tree, columns, ref_tree)
            pat.reference_expected = len(pat.rows) * ref_tree.shape[0] / len(codes)
            novel = (pat.reference_expected >= p.min_expected and
                     pat.reference_count <= p.max_reference_ratio * pat.reference_expected)
        if not novel:
            continue
        pat.agreement = masked_agreement(dense, dense_names, codes, pat, rng, k=p.k)
        pat.spectral_z = float(np.mean(spectral[pat.rows])) if spectral.size else float("nan")
        pat.flagged = bool(ref_tree is not None and pat.agreement <= p.max_agreement)
    return pats
