"""A fitted tabular transformer: Polars frame in, dense float64 matrix out.

Heavy-tailed counters (bytes, packets, durations) go through a signed ``log1p`` and are then
scaled (robust: median / IQR, or min-max on the fitted data); categoricals (protocol, service,
state, flags) are one-hot encoded over their frequent values with an ``other`` bucket that also
takes unseen and missing values, plus one ``rarity`` column (``-log`` of the value's frequency in
the fitted data). Missing columns are imputed with the fitted median (so they contribute
nothing), extra columns are ignored. The learned state is plain arrays plus JSON (no pickle).

>>> import polars as pl
>>> f = pl.DataFrame({"bytes": [10, 200, 3000, 40], "proto": ["tcp", "udp", "tcp", "icmp"]})
>>> t = TabularTransformer(min_frequency=0.3).fit(f)
>>> t.feature_names_  # udp and icmp (25 % each) share the other bucket
['bytes', 'proto=tcp', 'proto=other', 'proto.rarity']
>>> t.transform(pl.DataFrame({"proto": ["gre"]})).shape
(1, 4)

:meth:`TabularTransformer.split` gives the same matrix without its one-hot expansion (numeric
block + integer category codes); :class:`SplitLayout` says what each code writes into its block,
so scorers can turn per-column work on the one-hot columns into one table lookup per
categorical feature.

>>> A, codes = t.split(pl.DataFrame({"bytes": [50.0], "proto": ["tcp"]}))
>>> np.array_equal(t.layout().expand(A, codes), t.transform(pl.DataFrame(
...     {"bytes": [50.0], "proto": ["tcp"]})))
True
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal, Self

import numpy as np
import polars as pl

from mirrorguard.errors import MirrorguardError

_CAT_TYPES = (pl.String, pl.Categorical, pl.Enum)
OTHER = "__other__"


class NotFittedError(MirrorguardError):
    """A learned component was used before ``fit``."""


def _signed_log1p(x: pl.Expr) -> pl.Expr:
    return x.sign() * x.abs().log1p()


@dataclass(frozen=True)
class SplitLayout:
    """Where the categorical blocks sit in the transformed matrix and what each code writes.

    ``blocks[f] = (first_column, rows)``: ``rows[k]`` is the block written for code ``k`` of
    categorical feature ``f`` (one-hot indicator, then the rarity value). The numeric block
    occupies columns ``[0, numeric)``.
    """

    width: int
    numeric: int
    blocks: tuple[tuple[int, np.ndarray], ...]
    dtype: str = "float64"

    def expand(self, numeric: np.ndarray, codes: np.ndarray) -> np.ndarray:
        """The full matrix from a numeric block and category codes (C-contiguous)."""
        out = np.empty((numeric.shape[0], self.width), dtype=numeric.dtype)
        out[:, : self.numeric] = numeric
        for j, (start, rows) in enumerate(self.blocks):
            out[:, start: start + rows.shape[1]] = rows.astype(numeric.dtype)[codes[:, j]]
        return out

    def code_matrix(self, feature: int) -> np.ndarray:
        """One full-width row per code of categorical ``feature`` (zeros elsewhere), in
        ``dtype``: what :meth:`expand` writes for each code."""
        start, rows = self.blocks[feature]
        out = np.zeros((rows.shape[0], self.width), dtype=self.dtype)
        out[:, start: start + rows.shape[1]] = rows
        return out


class TabularTransformer:
    """Robust numeric scaling + categorical one-hot/rarity encoding, fitted on a frame.

    Parameters
    ----------
    categorical:
        Columns to treat as categorical; ``None`` means every string/categorical column.
    exclude:
        Columns never used as features (labels, ids, timestamps).
    max_categories, min_frequency:
        A category gets its own column when it is among the ``max_categories`` most frequent
        and covers at least ``min_frequency`` of the fitted rows; the rest share ``other``.
    log_transform:
        ``"auto"`` applies the signed ``log1p`` to numeric columns whose fitted range exceeds
        ``[-1, 1]`` (counts, bytes, durations); ``"none"`` never does.
    scaling:
        ``"minmax"`` maps the fitted range to ``[0, 1]``; ``"robust"`` uses median and IQR/1.349
        (falling back to the standard deviation, then 1, for constant-IQR columns).
    dtype:
        Precision of the output matrix (``float32`` halves memory traffic when scoring).
    """

    def __init__(
        self,
        categorical: Sequence[str] | None = None,
        exclude: Sequence[str] = (),
        max_categories: int = 32,
        min_frequency: float = 0.001,
        log_transform: Literal["auto", "none"] = "auto",
        scaling: Literal["minmax", "robust"] = "minmax",
        dtype: Literal["float64", "float32"] = "float64",
    ) -> None:
        self.categorical = categorical
        self.exclude = exclude
        self.max_categories = max_categories
        self.min_frequency = min_frequency
        self.log_transform = log_transform
        self.scaling = scaling
        self.dtype = dtype

    # ------------------------------------------------------------------ fitting
    def _split_columns(self, frame: pl.DataFrame) -> tuple[list[str], list[str]]:
        skip = set(self.exclude)
        if self.categorical is not None:
            cats = [c for c in self.categorical if c in frame.columns and c not in skip]
        else:
            cats = [c for c, t in frame.schema.items() if isinstance(t, _CAT_TYPES)]
            cats = [c for c in cats if c not in skip]
        nums = [
            c for c, t in frame.schema.items()
            if c not in skip and c not in cats and (t.is_numeric() or isinstance(t, pl.Boolean))
        ]
        return nums, cats

    def fit(self, frame: pl.DataFrame) -> Self:
        """Learn column roles, log/scale parameters and category vocabularies from ``frame``."""
        if frame.height == 0:
            raise MirrorguardError("cannot fit a transformer on an empty frame")
        nums, cats = self._split_columns(frame)
        if not nums and not cats:
            raise MirrorguardError("no numeric or categorical feature columns to fit on")
        self.numeric_ = nums
        self.categorical_ = cats
        raw = frame.select(
            [pl.col(c).cast(pl.Float64).fill_nan(None) for c in nums]
        ).to_numpy() if nums else np.zeros((frame.height, 0))
        self.raw_median_ = np.nan_to_num(np.nanmedian(raw, axis=0)) if nums else np.zeros(0)
        qs = np.linspace(0.0, 1.0, 1001)
        self.raw_quantiles_ = (
            np.nan_to_num(np.nanquantile(raw, qs, axis=0).T) if nums else np.zeros((0, qs.size))
        )
        lo, hi = self.raw_quantiles_[:, 0], self.raw_quantiles_[:, -1]
        auto = self.log_transform == "auto"
        log = (lo < -1.0) | (hi > 1.0) if auto else np.zeros(len(nums), dtype=bool)
        order = np.argsort(~log, kind="stable")  # log-transformed columns first
        self.numeric_ = [nums[i] for i in order]
        self.raw_median_ = self.raw_median_[order]
        self.raw_quantiles_ = self.raw_quantiles_[order]
        self.log_ = log[order]
        z = self._numeric_block(frame, scaled=False)
        self._fit_scaling(z)
        self.categories_: dict[str, list[str]] = {}
        self.cat_logfreq_: dict[str, list[float]] = {}
        for c in cats:
            self._fit_category(frame, c)
        self.feature_names_, self.groups_ = self._layout()
        return self

    def _fit_scaling(self, z: np.ndarray) -> None:
        self.center_ = np.zeros(z.shape[1])
        self.scale_ = np.ones(z.shape[1])
        if z.shape[1] == 0:
            return
        if self.scaling == "minmax":
            lo, hi = z.min(axis=0), z.max(axis=0)
            self.center_ = lo
            span = hi - lo
            self.scale_ = np.where(span > 0, span, 1.0)
            return
        q25, med, q75 = np.quantile(z, [0.25, 0.5, 0.75], axis=0)
        iqr = (q75 - q25) / 1.349
        std = z.std(axis=0)
        self.center_ = med
        self.scale_ = np.where(iqr > 0, iqr, np.where(std > 0, std, 1.0))

    def _fit_category(self, frame: pl.DataFrame, col: str) -> None:
        counts = (
            frame.select(pl.col(col).cast(pl.String).fill_null(OTHER).alias("v"))
            .group_by("v").len().sort(["len", "v"], descending=[True, False])
        )
        n = frame.height
        keep = counts.filter(
            (pl.col("len") >= self.min_frequency * n) & (pl.col("v") != OTHER)
        ).head(self.max_categories)
        values = keep["v"].to_list()
        other = n - int(keep["len"].sum())
        freqs = [*keep["len"].to_list(), other]
        self.categories_[col] = [str(v) for v in values]
        self.cat_logfreq_[col] = [float(np.log((f + 1.0) / (n + 1.0))) for f in freqs]

    def _layout(self) -> tuple[list[str], list[str]]:
        names, groups = list(self.numeric_), list(self.numeric_)
        for c in self.categorical_:
            for v in [*self.categories_[c], "other"]:
                names.append(f"{c}={v}")
                groups.append(c)
            names.append(f"{c}.rarity")
            groups.append(c)
        return names, groups

    # ---------------------------------------------------------------- transform
    def _check(self) -> None:
        if not hasattr(self, "numeric_"):
            raise NotFittedError("TabularTransformer is not fitted")

    def _numeric_block(self, frame: pl.DataFrame, scaled: bool = True) -> np.ndarray:
        """Numeric columns: imputed (fitted median), signed-log1p'd, then scaled.

        Scaled blocks are computed in ``dtype`` (float32 halves the work of the logarithms),
        column-major so that the log columns form one contiguous slab, and returned C-ordered.
        """
        dtype = np.dtype(self.dtype) if scaled else np.dtype(np.float64)
        if not self.numeric_:
            return np.zeros((frame.height, 0), dtype=dtype)
        exprs = [
            (pl.col(c).cast(pl.Float64) if c in frame.columns else pl.lit(np.nan, pl.Float64))
            .alias(f"_{i}")
            for i, c in enumerate(self.numeric_)
        ]
        raw = frame.select(exprs).to_numpy().reshape(frame.height, len(self.numeric_))
        A = np.require(raw, dtype=dtype, requirements=["F", "W"])
        bad = np.isnan(A)
        if bad.any():
            A[bad] = self.raw_median_[np.nonzero(bad)[1]]
        k = int(self.log_.sum())  # log columns come first (see fit)
        if k:
            L = A[:, :k]
            np.copysign(np.log1p(np.abs(L)), L, out=L)
        if scaled:
            A -= self.center_.astype(dtype)
            A *= (1.0 / self.scale_).astype(dtype)
        return np.ascontiguousarray(A)

    def category_codes(self, frame: pl.DataFrame) -> np.ndarray:
        """Integer codes (n_rows, n_categorical); ``len(categories)`` is the other bucket."""
        self._check()
        exprs = []
        for c in self.categorical_:
            vocab = self.categories_[c]
            if c in frame.columns:
                e = pl.col(c).cast(pl.String).replace_strict(
                    vocab, list(range(len(vocab))), default=len(vocab), return_dtype=pl.Int32
                )
            else:
                e = pl.lit(len(vocab), pl.Int32)
            exprs.append(e.alias(c))
        if not exprs:
            return np.zeros((frame.height, 0), dtype=np.int32)
        codes = frame.select(exprs).to_numpy()
        return np.asarray(codes, dtype=np.int32).reshape(frame.height, len(exprs))

    def layout(self) -> SplitLayout:
        """The :class:`SplitLayout` of :meth:`transform`'s matrix."""
        self._check()
        blocks, start = [], len(self.numeric_)
        for c in self.categorical_:
            k = len(self.categories_[c]) + 1
            rows = np.zeros((k, k + 1))
            rows[:, :k] = np.eye(k)
            rows[:, k] = -np.asarray(self.cat_logfreq_[c])
            blocks.append((start, rows))
            start += k + 1
        return SplitLayout(width=start, numeric=len(self.numeric_), blocks=tuple(blocks),
                           dtype=self.dtype)

    def split(self, frame: pl.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(numeric block in ``dtype``, category codes): :meth:`transform` before one-hot."""
        self._check()
        return self._numeric_block(frame), self.category_codes(frame)

    def transform(self, frame: pl.DataFrame) -> np.ndarray:
        """The feature matrix (rows × ``len(feature_names_)``), C-contiguous, of ``dtype``."""
        num, codes = self.split(frame)
        return self.layout().expand(num, codes)

    # ------------------------------------------------------ baselines for text
    def baseline_values(self) -> dict[str, float | str]:
        """The typical value of each source feature: median (numeric) or mode (categorical)."""
        self._check()
        out: dict[str, float | str] = {
            c: float(self.raw_median_[i]) for i, c in enumerate(self.numeric_)
        }
        for c in self.categorical_:
            out[c] = self.categories_[c][0] if self.categories_[c] else "other"
        return out

    def baseline_row(self) -> np.ndarray:
        """The transformed vector of :meth:`baseline_values` (used to 'reset' features)."""
        vals = self.baseline_values()
        frame = pl.DataFrame({c: [vals[c]] for c in [*self.numeric_, *self.categorical_]})
        return np.asarray(self.transform(frame)[0])

    def percentile(self, feature: str, values: np.ndarray) -> np.ndarray:
        """Percentile (0–100) of raw ``values`` within the fitted distribution of ``feature``."""
        i = self.numeric_.index(feature)
        grid = self.raw_quantiles_[i]
        pos = np.searchsorted(grid, np.asarray(values, dtype=np.float64), side="right")
        return np.asarray(100.0 * (pos - 1).clip(0) / (grid.size - 1), dtype=np.float64)

    # -------------------------------------------------------------- persistence
    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        self._check()
        meta: dict[str, Any] = {
            "params": {
                "categorical": None if self.categorical is None else list(self.categorical),
                "exclude": list(self.exclude),
                "max_categories": self.max_categories,
                "min_frequency": self.min_frequency,
                "log_transform": self.log_transform,
                "scaling": self.scaling,
                "dtype": self.dtype,
            },
            "numeric": self.numeric_,
            "categorical": self.categorical_,
            "categories": self.categories_,
            "cat_logfreq": self.cat_logfreq_,
        }
        arrays = {
            "raw_median": self.raw_median_, "raw_quantiles": self.raw_quantiles_,
            "log": self.log_.astype(np.bool_), "center": self.center_, "scale": self.scale_,
        }
        return meta, arrays

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        self = cls(**meta["params"])
        self.numeric_ = [str(c) for c in meta["numeric"]]
        self.categorical_ = [str(c) for c in meta["categorical"]]
        self.categories_ = {str(k): [str(v) for v in vs] for k, vs in meta["categories"].items()}
        self.cat_logfreq_ = {
            str(k): [float(v) for v in vs] for k, vs in meta["cat_logfreq"].items()
        }
        self.raw_median_ = np.asarray(arrays["raw_median"], dtype=np.float64)
        self.raw_quantiles_ = np.asarray(arrays["raw_quantiles"], dtype=np.float64)
        self.log_ = np.asarray(arrays["log"], dtype=np.bool_)
        self.center_ = np.asarray(arrays["center"], dtype=np.float64)
        self.scale_ = np.asarray(arrays["scale"], dtype=np.float64)
        self.feature_names_, self.groups_ = self._layout()
        return self
