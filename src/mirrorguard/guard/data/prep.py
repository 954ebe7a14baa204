"""Turning a training frame into the two matrices the screens need.

* a **tree matrix** (float64): numeric columns as they are (nulls stay NaN) and categorical
  columns as integer codes, for LightGBM (which handles categories natively);
* a **dense matrix** (float32) for distance-based and linear models: numeric columns through a
  signed ``log1p`` (network volumes span many orders of magnitude), centred on the median and
  divided by a robust scale (IQR / 1.349, falling back to the standard deviation), clipped to
  ±``clip``; categorical columns one-hot encoded over their ``max_levels`` most frequent values
  (the rest share one "other" column).

:class:`TabularEncoder` is fitted on the training frame and reused on a reference or test frame,
so that both land in the same space.

>>> import polars as pl
>>> enc = TabularEncoder().fit(pl.DataFrame({"bytes": [1, 10, 100, 1000], "proto": list("ttud")}))
>>> enc.dense(pl.DataFrame({"bytes": [10], "proto": ["u"]})).shape
(1, 5)
>>> enc.categorical_index
[1]
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mirrorguard.errors import SchemaError

_CATEGORICAL = (pl.String, pl.Categorical, pl.Enum, pl.Boolean)


def is_categorical(dtype: pl.DataType) -> bool:
    """Strings, categoricals, enums and booleans are treated as categories."""
    return isinstance(dtype, _CATEGORICAL)


def signed_log1p(a: np.ndarray) -> np.ndarray:
    """``sign(a) * log1p(|a|)``: keeps order and sign, compresses heavy tails."""
    out: np.ndarray = np.sign(a) * np.log1p(np.abs(a))
    return out


@dataclass
class TabularEncoder:
    """Fitted column encodings; see the module docstring."""

    max_levels: int = 32
    clip: float = 10.0
    numeric_: list[str] = field(default_factory=list)
    categorical_: list[str] = field(default_factory=list)
    levels_: dict[str, list[str]] = field(default_factory=dict)
    center_: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scale_: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def columns(self) -> list[str]:
        """Columns in tree-matrix order: numeric first, then categorical."""
        return [*self.numeric_, *self.categorical_]

    @property
    def categorical_index(self) -> list[int]:
        """Positions of the categorical columns in the tree matrix."""
        return list(range(len(self.numeric_), len(self.numeric_) + len(self.categorical_)))

    def dense_names(self) -> list[str]:
        """Names of the dense matrix's columns (``col=value`` for one-hot columns)."""
        names = list(self.numeric_)
        for c in self.categorical_:
            names.extend(f"{c}={v}" for v in self.levels_[c])
            names.append(f"{c}=(other)")
        return names

    def fit(self, X: pl.DataFrame) -> TabularEncoder:
        """Learn column kinds, category levels and robust scales from ``X``."""
        if X.width == 0 or X.height == 0:
            raise SchemaError("cannot screen an empty frame")
        self.numeric_ = [c for c, d in X.schema.items() if not is_categorical(d)]
        self.categorical_ = [c for c, d in X.schema.items() if is_categorical(d)]
        for c in self.categorical_:
            counts = (X[c].cast(pl.String).fill_null("(null)").value_counts(sort=True)
                      .head(self.max_levels))
            self.levels_[c] = counts[c].to_list()
        raw = self._numeric(X)
        with np.errstate(all="ignore"):
            med = np.nanmedian(raw, axis=0) if raw.size else np.zeros(0)
            q75, q25 = (np.nanpercentile(raw, [75, 25], axis=0) if raw.size
                        else (np.zeros(0), np.zeros(0)))
            iqr = (q75 - q25) / 1.349
            std = np.nanstd(raw, axis=0) if raw.size else np.zeros(0)
        scale = np.where(iqr > 1e-9, iqr, np.where(std > 1e-9, std, 1.0))
        self.center_ = np.nan_to_num(med)
        self.scale_ = np.nan_to_num(scale, nan=1.0)
        return self

    def _numeric(self, X: pl.DataFrame) -> np.ndarray:
        self._check(X)
        if not self.numeric_:
            return np.zeros((X.height, 0))
        cols = X.select(pl.col(c).cast(pl.Float64, strict=False) for c in self.numeric_)
        return signed_log1p(cols.to_numpy().astype(np.float64))

    def _check(self, X: pl.DataFrame) -> None:
        missing = [c for c in (*self.numeric_, *self.categorical_) if c not in X.columns]
        if missing:
            raise SchemaError(f"frame lacks columns the encoder was fitted on: {missing[:5]}")

    def _codes(self, X: pl.DataFrame, c: str) -> np.ndarray:
        """Index of each value in the fitted levels; ``len(levels)`` for anything else."""
        levels = pl.DataFrame({c: self.levels_[c]}).with_row_index("_code")
        col = X.select(pl.col(c).cast(pl.String).fill_null("(null)"))
        joined = col.join(levels, on=c, how="left", maintain_order="left")
        return joined["_code"].fill_null(len(self.levels_[c])).to_numpy().astype(np.int64)

    def tree(self, X: pl.DataFrame) -> np.ndarray:
        """Numeric columns raw (NaN for nulls), categorical columns as codes."""
        self._check(X)
        num = (X.select(pl.col(c).cast(pl.Float64, strict=False) for c in self.numeric_)
               .to_numpy().astype(np.float64) if self.numeric_ else np.zeros((X.height, 0)))
        cats = [self._codes(X, c).astype(np.float64)[:, None] for c in self.categorical_]
        return np.hstack([num, *cats]) if cats else num

    def dense(self, X: pl.DataFrame) -> np.ndarray:
        """Scaled numeric columns and one-hot categories (float32)."""
        num = (self._numeric(X) - self.center_) / self.scale_
        num = np.clip(np.nan_to_num(num, nan=0.0), -self.clip, self.clip)
        blocks = [num.astype(np.float32)]
        for c in self.categorical_:
            codes = self._codes(X, c)
            onehot = np.zeros((X.height, len(self.levels_[c]) + 1), dtype=np.float32)
            onehot[np.arange(X.height), codes] = 1.0
            blocks.append(onehot)
        return np.hstack(blocks)


def encode_labels(y: np.ndarray | pl.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes ``0..k-1`` and the sorted class names (as strings)."""
    arr = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    if arr.ndim != 1:
        raise SchemaError("labels must be one-dimensional")
    names, codes = np.unique(arr.astype(str), return_inverse=True)
    if len(names) < 2:
        raise SchemaError("the label column has a single class; nothing to screen")
    return codes.astype(np.int64), [str(n) for n in names]
