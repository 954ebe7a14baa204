"""From per-column contributions to :class:`~mirrorguard.schema.alerts.Explanation` objects.

Detectors work on transformed columns (one-hot blocks, rarity columns); analysts think in source
features. :func:`group_columns` sums the columns of each source feature (exact for additive
attributions such as TreeSHAP or the ensemble's member decompositions) and
:func:`build_explanations` turns the top features of each alert into structured contributions and
a one-line narrative with the value, its baseline (benign median or usual category) and its
percentile in the fitted benign distribution.

>>> import numpy as np
>>> feats, g = group_columns(np.array([[1.0, 2.0, 3.0]]), ["a", "b", "b"])
>>> feats, g.tolist()
(['a', 'b'], [[1.0, 5.0]])
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mirrorguard.explain.narrative import describe_value
from mirrorguard.features.transforms import TabularTransformer
from mirrorguard.schema.alerts import Contribution, Explanation


def group_columns(
    contrib: np.ndarray, groups: Sequence[str]
) -> tuple[list[str], np.ndarray]:
    """Sum columns sharing a group name; returns (group names in first-seen order, matrix)."""
    names = list(dict.fromkeys(groups))
    index = {g: i for i, g in enumerate(names)}
    member = np.zeros((len(groups), len(names)))
    member[np.arange(len(groups)), [index[g] for g in groups]] = 1.0
    return names, np.asarray(contrib @ member, dtype=np.float64)


def _raw_values(
    X: pl.DataFrame, rows: Sequence[int], features: Sequence[str]
) -> dict[str, list[object]]:
    idx = pl.Series("i", list(rows), dtype=pl.Int64)
    sub = X.select([c for c in features if c in X.columns])[idx]
    return {c: sub[c].to_list() for c in sub.columns}


def _percentiles(
    tf: TabularTransformer, raw: dict[str, list[object]], n: int
) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    for c in tf.numeric_:
        if c in raw:
            vals = np.array([np.nan if v is None else float(v) for v in raw[c]])  # type: ignore[arg-type]
            out[c] = tf.percentile(c, np.nan_to_num(vals, nan=0.0))
    return out


def build_explanations(
    X: pl.DataFrame,
    rows: Sequence[int],
    features: Sequence[str],
    contrib: np.ndarray,
    tf: TabularTransformer,
    scores: np.ndarray,
    top_k: int = 3,
    method: str = "",
) -> list[Explanation]:
    """Explanations for ``rows`` given their grouped contributions ``contrib`` (rows × features)."""
    n = len(rows)
    if n == 0:
        return []
    order = np.argsort(-contrib, axis=1, kind="stable")[:, :top_k]
    raw = _raw_values(X, rows, features)
    pct = _percentiles(tf, raw, n)
    base = tf.baseline_values()
    out: list[Explanation] = []
    for i in range(n):
        parts: list[Contribution] = []
        for j in order[i]:
            f = features[j]
            value = raw[f][i] if f in raw else None
            p = float(pct[f][i]) if f in pct else None
            detail = describe_value(f, value, base.get(f), p)  # type: ignore[arg-type]
            parts.append(Contribution(f, value, base.get(f), float(contrib[i, j]), detail))  # type: ignore[arg-type]
        text = "; ".join(c.detail for c in parts[:2])
        out.append(Explanation(
            text=f"score {scores[i]:.3g}: {text}",
            contributions=tuple(parts),
            extra={"method": method},
        ))
    return out
