"""Log-parsing accuracy metrics, vectorised with Polars.

* **Grouping accuracy** (GA; Zhu et al., ICSE-SEIP 2019, the loghub ``Accuracy``): a line is
  correct when the set of lines in its predicted group equals the set of lines in its
  ground-truth group.
* **Parsing accuracy** (PA; Dai et al., "Logram", TSE 2020; Khan et al., ICSE 2022): a line is
  correct when its predicted template string equals the ground-truth template, after both are
  brought to the loghub convention (``<*>`` for every variable, runs of whitespace as one
  space, adjacent wildcards ``<*><*>`` as one).

>>> grouping_accuracy([1, 1, 2, 3], ["a", "a", "b", "b"])
0.5
>>> parsing_accuracy(["Deleting <*>  file <*>"], ["Deleting <*> file <*>"])
1.0
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mirrorguard.errors import MirrorguardError

Labels = Sequence[object] | pl.Series | np.ndarray


def _frame(pred: Labels, truth: Labels) -> pl.DataFrame:
    p = pred if isinstance(pred, pl.Series) else pl.Series(list(pred))
    t = truth if isinstance(truth, pl.Series) else pl.Series(list(truth))
    if p.len() != t.len():
        raise MirrorguardError(f"{p.len()} predictions for {t.len()} ground-truth lines")
    return pl.DataFrame({"pred": p.cast(pl.String), "truth": t.cast(pl.String)})


def grouping_accuracy(pred: Labels, truth: Labels) -> float:
    """Fraction of lines whose predicted group is exactly their ground-truth group."""
    df = _frame(pred, truth)
    if df.height == 0:
        return 0.0
    pairs = df.group_by("pred", "truth").len("n").with_columns(
        pl.col("n").sum().over("pred").alias("n_pred"),
        pl.col("n").sum().over("truth").alias("n_truth"),
    )
    good = pairs.filter((pl.col("n") == pl.col("n_pred")) & (pl.col("n") == pl.col("n_truth")))
    return float(good["n"].sum()) / df.height


def normalise_template(templates: pl.Series) -> pl.Series:
    """Templates in the loghub convention: one space between tokens, no ``<*><*>`` runs."""
    return (
        templates.cast(pl.String)
        .str.replace_all(r"(?:<\*>)+", "<*>")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
    )


def parsing_accuracy(pred: Labels, truth: Labels) -> float:
    """Fraction of lines whose predicted template string equals the ground truth."""
    df = _frame(pred, truth)
    if df.height == 0:
        return 0.0
    same = normalise_template(df["pred"]) == normalise_template(df["truth"])
    return float(same.sum()) / df.height
