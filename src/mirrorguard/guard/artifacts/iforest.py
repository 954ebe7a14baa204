"""scikit-learn IsolationForest as explicit arrays, with a NumPy scorer that reproduces it.

Isolation Forest (Liu, Ting and Zhou, "Isolation Forest", ICDM 2008) scores a point by the
average depth at which random trees isolate it: ``s(x) = 2 ** (-E[h(x)] / c(psi))`` where
``h(x)`` is the leaf depth plus ``c(n_leaf)``, the average path length of an unsuccessful BST
search among ``n_leaf`` points, and ``psi`` is the sub-sample size. scikit-learn's
``score_samples`` returns ``-s(x)``.

:class:`IsolationForestArrays` keeps each tree's ``children_left/right``, ``feature``,
``threshold``, ``missing_go_to_left`` and ``n_node_samples`` (concatenated, with offsets), the
per-tree feature subsets, ``max_samples_`` and ``offset_``. Its :meth:`score_samples` walks all
trees at once, level by level, over whole row blocks (no per-row Python), casts inputs to
float32 as scikit-learn does, and sums per-tree path lengths in tree order, so it returns the
same float64 values as ``IsolationForest.score_samples``.

>>> import tempfile
>>> from sklearn.ensemble import IsolationForest
>>> from mirrorguard.guard.keys import Signer, Verifier, generate_keypair
>>> X = np.random.default_rng(0).normal(size=(300, 4))
>>> forest = IsolationForest(n_estimators=20, random_state=0).fit(X)
>>> arrays = IsolationForestArrays.from_sklearn(forest)
>>> bool((arrays.score_samples(X) == forest.score_samples(X)).all())
True
>>> priv, pub = generate_keypair()
>>> d = Path(tempfile.mkdtemp()) / "if"
>>> _ = save_isolation_forest(forest, d, Signer(priv), name="toy")
>>> bool((load_isolation_forest(d, Verifier(pub)).decision_function(X)
...       == forest.decision_function(X)).all())
True
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import polars as pl

from mirrorguard.errors import FormatError, UnsafeArtifactError
from mirrorguard.guard.artifacts.canonical import canonical_json
from mirrorguard.guard.artifacts.detector_io import (
    array_specs,
    arrays_to_npz,
    check_specs,
    read_json,
    read_npz,
)
from mirrorguard.guard.artifacts.lightgbm_io import json_params
from mirrorguard.guard.artifacts.manifest import Lineage, ModelManifest
from mirrorguard.guard.artifacts.seal import Trusted, VerifiedModel, open_model_dir, seal_model_dir
from mirrorguard.guard.keys import Signer

META_FILE = "forest.json"
ARRAYS_FILE = "forest.npz"
ROLE_META = "iforest-meta"
ROLE_ARRAYS = "iforest-arrays"
_NODE_KEYS = ("left", "right", "feature", "threshold", "missing_left", "n_node_samples")
_BLOCK_ROWS = 1024  # rows per walk: (rows x trees) index matrices stay cache-sized


def average_path_length(n: np.ndarray) -> np.ndarray:
    """c(n): average path length of an unsuccessful BST search among ``n`` points (float64)."""
    n = np.asarray(n, dtype=np.float64)
    out = np.zeros_like(n)
    big = n > 2
    out[n == 2] = 1.0
    out[big] = 2.0 * (np.log(n[big] - 1.0) + np.euler_gamma) - 2.0 * (n[big] - 1.0) / n[big]
    return out


def _round_down_f32(threshold: np.ndarray) -> np.ndarray:
    """The largest float32 <= each float64 threshold: for float32 ``x``, ``x <= t`` exactly
    when ``x <= _round_down_f32(t)``, so the walk can compare in float32 (half the traffic)."""
    with np.errstate(over="ignore"):  # beyond float32 range becomes +-inf, then steps in
        t32 = threshold.astype(np.float32)
    above = t32.astype(np.float64) > threshold
    t32[above] = np.nextafter(t32[above], np.float32(-np.inf))
    return t32


def _node_depths(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """Depth of every node of one tree (root = 1), by breadth-first levels."""
    depth = np.zeros(left.shape[0], dtype=np.int64)
    level, d = np.array([0]), 1
    while level.size:
        depth[level] = d
        kids = np.concatenate([left[level], right[level]])
        level, d = kids[kids >= 0], d + 1
    return depth


class _Tables(NamedTuple):
    children: np.ndarray  # 2 * node + (go right) -> next node; leaves point to themselves
    column: np.ndarray  # input column tested at each node
    threshold: np.ndarray
    missing_left: np.ndarray
    value: np.ndarray  # depth + c(n_node_samples) - 1, scikit-learn's per-leaf path length
    levels: int


@dataclass(frozen=True)
class IsolationForestArrays:
    """A fitted IsolationForest as plain arrays (see the module docstring)."""

    nodes: dict[str, np.ndarray]  # concatenated per-tree node arrays (_NODE_KEYS)
    tree_offsets: np.ndarray  # int64, n_trees + 1
    tree_features: np.ndarray  # int64, (n_trees, n_features_per_tree)
    n_features_in: int
    max_samples: int
    offset: float
    feature_names: tuple[str, ...] | None = None

    @classmethod
    def from_sklearn(cls, forest: Any) -> IsolationForestArrays:
        """Extract the arrays from a fitted ``sklearn.ensemble.IsolationForest``."""
        if not hasattr(forest, "estimators_"):
            raise FormatError("IsolationForest is not fitted")
        trees = [est.tree_ for est in forest.estimators_]
        parts: dict[str, list[np.ndarray]] = {k: [] for k in _NODE_KEYS}
        for t in trees:
            parts["left"].append(t.children_left.astype(np.int64))
            parts["right"].append(t.children_right.astype(np.int64))
            parts["feature"].append(t.feature.astype(np.int64))
            parts["threshold"].append(t.threshold.astype(np.float64))
            parts["missing_left"].append(t.missing_go_to_left.astype(np.uint8))
            parts["n_node_samples"].append(t.n_node_samples.astype(np.int64))
        sizes = np.array([0] + [t.node_count for t in trees], dtype=np.int64)
        names = getattr(forest, "feature_names_in_", None)
        return cls(
            nodes={k: np.concatenate(v) for k, v in parts.items()},
            tree_offsets=np.cumsum(sizes),
            tree_features=np.asarray(forest.estimators_features_, dtype=np.int64),
            n_features_in=int(forest.n_features_in_),
            max_samples=int(getattr(forest, "_max_samples", forest.max_samples_)),
            offset=float(forest.offset_),
            feature_names=None if names is None else tuple(str(n) for n in names),
        )

    @property
    def n_trees(self) -> int:
        return int(self.tree_offsets.shape[0] - 1)

    @cached_property
    def _tables(self) -> _Tables:
        """Node tables indexed globally; leaves loop onto themselves so walks can overrun."""
        left, right = self.nodes["left"], self.nodes["right"]
        n = left.shape[0]
        index = np.int32 if 2 * n < 2**31 else np.int64  # narrower indices: less memory traffic
        children = np.empty(2 * n, dtype=index)
        column = np.zeros(n, dtype=index)
        value = np.zeros(n, dtype=np.float64)
        apl = average_path_length(self.nodes["n_node_samples"])
        levels = 0
        for t in range(self.n_trees):
            lo, hi = int(self.tree_offsets[t]), int(self.tree_offsets[t + 1])
            depth = _node_depths(left[lo:hi], right[lo:hi])
            levels = max(levels, int(depth.max()) - 1)
            internal = left[lo:hi] >= 0
            own = np.arange(lo, hi)
            local_feature = np.where(internal, self.nodes["feature"][lo:hi], 0)
            column[lo:hi] = np.where(internal, self.tree_features[t][local_feature], 0)
            value[lo:hi] = depth + apl[lo:hi] - 1.0
            children[2 * lo:2 * hi:2] = np.where(internal, left[lo:hi] + lo, own)
            children[2 * lo + 1:2 * hi:2] = np.where(internal, right[lo:hi] + lo, own)
        return _Tables(children, column, _round_down_f32(self.nodes["threshold"]),
                       self.nodes["missing_left"].astype(bool), value, levels)

    def _path_sums(self, X: np.ndarray) -> np.ndarray:
        """Sum over trees of each row's leaf path value, walking all trees level by level."""
        tb = self._tables
        flat = X.ravel()
        index = tb.children.dtype if X.size < 2**31 else np.dtype(np.int64)
        base = (np.arange(X.shape[0], dtype=index) * X.shape[1])[:, None]
        roots = self.tree_offsets[:-1].astype(tb.children.dtype)
        node = np.broadcast_to(roots, (X.shape[0], self.n_trees)).copy()
        has_nan = bool(np.isnan(flat).any())
        for _ in range(tb.levels):
            x = flat[base + tb.column[node]]
            go_right = ~(x <= tb.threshold[node])
            if has_nan:
                go_right = np.where(np.isnan(x), ~tb.missing_left[node], go_right)
            node = tb.children[2 * node + go_right]
        # sum per-tree path lengths in tree order, as scikit-learn accumulates them
        return np.cumsum(tb.value[node], axis=1)[:, -1]

    def score_samples(self, X: np.ndarray | pl.DataFrame) -> np.ndarray:
        """scikit-learn's ``score_samples``: ``-2 ** (-E[h(x)] / c(max_samples))``."""
        data = X.to_numpy() if isinstance(X, pl.DataFrame) else np.asarray(X)
        if data.ndim != 2 or data.shape[1] != self.n_features_in:
            raise FormatError(f"expected {self.n_features_in} features, got shape {data.shape}")
        data = np.ascontiguousarray(data, dtype=np.float32)  # scikit-learn scores float32
        depths = np.zeros(data.shape[0], dtype=np.float64)
        for lo in range(0, data.shape[0], _BLOCK_ROWS):
            depths[lo:lo + _BLOCK_ROWS] = self._path_sums(data[lo:lo + _BLOCK_ROWS])
        denominator = self.n_trees * float(average_path_length(np.array([self.max_samples]))[0])
        ratio = depths / denominator if denominator != 0 else np.ones_like(depths)
        return -(2 ** (-ratio))

    def decision_function(self, X: np.ndarray | pl.DataFrame) -> np.ndarray:
        """``score_samples(X) - offset_``: negative means anomalous."""
        return self.score_samples(X) - self.offset

    def predict(self, X: np.ndarray | pl.DataFrame) -> np.ndarray:
        """-1 for outliers, 1 for inliers."""
        return np.where(self.decision_function(X) < 0, -1, 1)

    def arrays(self) -> dict[str, np.ndarray]:
        return {**self.nodes, "tree_offsets": self.tree_offsets,
                "tree_features": self.tree_features}

    def meta(self) -> dict[str, Any]:
        return {
            "n_features_in": self.n_features_in, "max_samples": self.max_samples,
            "offset": self.offset, "n_trees": self.n_trees,
            "feature_names": None if self.feature_names is None else list(self.feature_names),
        }

    @classmethod
    def from_arrays(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray],
                    where: str) -> IsolationForestArrays:
        """Rebuild from :meth:`meta` and :meth:`arrays`, checking the tree structure."""
        try:
            names = meta["feature_names"]
            forest = cls(
                nodes={k: arrays[k] for k in _NODE_KEYS}, tree_offsets=arrays["tree_offsets"],
                tree_features=arrays["tree_features"], n_features_in=int(meta["n_features_in"]),
                max_samples=int(meta["max_samples"]), offset=float(meta["offset"]),
                feature_names=None if names is None else tuple(str(n) for n in names),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UnsafeArtifactError(f"incomplete IsolationForest state: {exc}",
                                      file=where) from exc
        forest.check_structure(where)
        return forest

    def check_structure(self, where: str) -> None:
        """Refuse arrays that would index out of range or loop (even signed models)."""
        if not self._structure_ok():
            raise UnsafeArtifactError("IsolationForest arrays are structurally invalid",
                                      file=where)

    def _structure_ok(self) -> bool:
        off, n = self.tree_offsets, self.nodes["left"].shape[0]
        if not (off.ndim == 1 and off.shape[0] >= 2 and off[0] == 0 and off[-1] == n
                and bool(np.all(np.diff(off) > 0))
                and all(a.ndim == 1 and a.shape[0] == n for a in self.nodes.values())
                and self.tree_features.ndim == 2 and self.tree_features.shape[0] == self.n_trees
                and bool(np.all((self.tree_features >= 0)
                                & (self.tree_features < self.n_features_in)))):
            return False
        sizes = np.repeat(np.diff(off), np.diff(off))
        local = np.arange(n) - np.repeat(off[:-1], np.diff(off))
        left, right, feat = self.nodes["left"], self.nodes["right"], self.nodes["feature"]
        internal = left >= 0
        # children come after their parent inside the same tree: no cycles, no escapes
        children_ok = all(
            bool(np.all(np.where(internal, (c > local) & (c < sizes), c == -1)))
            for c in (left, right)
        )
        return children_ok and bool(np.all(
            (feat[internal] >= 0) & (feat[internal] < self.tree_features.shape[1])))


def save_isolation_forest(
    forest: Any, path: Path, signer: Signer, lineage: Lineage | None = None, *, name: str,
    metrics: dict[str, Any] | None = None, overwrite: bool = False,
) -> ModelManifest:
    """Save a fitted scikit-learn IsolationForest (or its arrays) as signed JSON + npz."""
    arrays = forest if isinstance(forest, IsolationForestArrays) else (
        IsolationForestArrays.from_sklearn(forest))
    params = json_params(forest.get_params()) if hasattr(forest, "get_params") else {}
    state = canonical_json({"meta": arrays.meta(), "arrays": array_specs(arrays.arrays())})
    payloads = {
        META_FILE: (ROLE_META, state),
        ARRAYS_FILE: (ROLE_ARRAYS, arrays_to_npz(arrays.arrays())),
    }
    return seal_model_dir(
        Path(path), payloads, name=name, kind="isolation_forest", detector=None,
        params=params, signer=signer, lineage=lineage, metrics=metrics, overwrite=overwrite,
    )


def iforest_from_verified(vm: VerifiedModel) -> IsolationForestArrays:
    """Rebuild the NumPy forest from a verified model directory."""
    where = str(vm.directory)
    if vm.manifest.kind != "isolation_forest":
        raise FormatError(f"model {vm.manifest.model_id} is a {vm.manifest.kind}, "
                          "not an IsolationForest", file=where)
    state = read_json(vm.payload(META_FILE), f"{where}/{META_FILE}")
    if not isinstance(state, dict) or set(state) != {"meta", "arrays"}:
        raise UnsafeArtifactError("forest.json must hold 'meta' and 'arrays'", file=where)
    arrays = read_npz(vm.payload(ARRAYS_FILE), f"{where}/{ARRAYS_FILE}")
    check_specs(arrays, state["arrays"], f"{where}/{ARRAYS_FILE}")
    return IsolationForestArrays.from_arrays(state["meta"], arrays, f"{where}/{ARRAYS_FILE}")


def load_isolation_forest(path: Path, trusted: Trusted) -> IsolationForestArrays:
    """Verify the signature and every file, then rebuild the NumPy IsolationForest."""
    return iforest_from_verified(open_model_dir(Path(path), trusted))
