"""Loaders for the tabular detection datasets under ``../shared/data``.

Each loader returns a :class:`Tabular`: a Polars feature frame (labels removed), a binary label
array (1 = attack/malware) and the fine-grained class names, plus the files it read. Layouts are
as documented in each folder's ``PROVENANCE.md``:

* NSL-KDD (Tavallaee et al., CISDA 2009): headerless ``KDDTrain+.txt.gz`` / ``KDDTest+.txt.gz``,
  41 features named in ``Field Names.csv``, then label and difficulty.
* UNSW-NB15 (Moustafa & Slay, MilCIS 2015): ``UNSW_NB15_training-set.csv.gz`` (82,332 rows,
  UTF-8 BOM in the header), ``id`` dropped, ``attack_cat`` and ``label`` split off.
* IoT-23 (Garcia et al., 2020) as preprocessed by aucad/aml-networks: one-hot columns, ``label``;
  empty cells are Zeek's ``-`` (missing).
* ClaMP (Kumar et al.): PE-header features with ``class``; the Integrated file has one string
  column ``packer_type``.

>>> from pathlib import Path
>>> nsl_kdd_columns(Path("/nonexistent"))[:3]
['duration', 'protocol_type', 'service']
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from mirrorguard.errors import DataMissingError, FormatError

NSL_KDD_FEATURES: tuple[str, ...] = (
    "duration", "protocol_type", "service", "flag", "src_bytes", "dst_bytes", "land",
    "wrong_fragment", "urgent", "hot", "num_failed_logins", "logged_in", "num_compromised",
    "root_shell", "su_attempted", "num_root", "num_file_creations", "num_shells",
    "num_access_files", "num_outbound_cmds", "is_host_login", "is_guest_login", "count",
    "srv_count", "serror_rate", "srv_serror_rate", "rerror_rate", "srv_rerror_rate",
    "same_srv_rate", "diff_srv_rate", "srv_diff_host_rate", "dst_host_count",
    "dst_host_srv_count", "dst_host_same_srv_rate", "dst_host_diff_srv_rate",
    "dst_host_same_src_port_rate", "dst_host_srv_diff_host_rate", "dst_host_serror_rate",
    "dst_host_srv_serror_rate", "dst_host_rerror_rate", "dst_host_srv_rerror_rate",
)


@dataclass
class Tabular:
    """Features, binary labels, class names, and where they came from."""

    X: pl.DataFrame
    y: np.ndarray
    classes: np.ndarray
    files: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _need(path: Path) -> Path:
    if not path.exists():
        raise DataMissingError("dataset file not found", file=str(path))
    return path


def _read_csv(path: Path, **kwargs: object) -> pl.DataFrame:
    try:
        with gzip.open(_need(path), "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise FormatError(f"cannot read gzip: {exc}", file=str(path)) from exc
    raw = raw.removeprefix(b"\xef\xbb\xbf")
    try:
        return pl.read_csv(raw, infer_schema_length=None, **kwargs)  # type: ignore[arg-type]
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"cannot parse CSV: {exc}", file=str(path)) from exc


def nsl_kdd_columns(folder: Path) -> list[str]:
    """The 41 feature names, from ``Field Names.csv`` when present (else the documented list)."""
    names_file = folder / "Field Names.csv"
    if not names_file.exists():
        return list(NSL_KDD_FEATURES)
    names = [
        line.split(",")[0].strip()
        for line in names_file.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if len(names) != 41:
        raise FormatError(f"expected 41 field names, found {len(names)}", file=str(names_file))
    return names


def load_nsl_kdd(folder: Path, part: str = "KDDTrain+") -> Tabular:
    """``part`` is ``KDDTrain+``, ``KDDTest+``, ``KDDTest-21`` or ``KDDTrain+_20Percent``."""
    path = folder / f"{part}.txt.gz"
    cols = [*nsl_kdd_columns(folder), "label", "difficulty"]
    df = _read_csv(path, has_header=False, new_columns=cols)
    if df.width != 43:
        raise FormatError(f"expected 43 columns, found {df.width}", file=str(path))
    classes = df["label"].cast(pl.String).to_numpy().astype(str)
    y = (classes != "normal").astype(np.int8)
    return Tabular(df.drop("label", "difficulty"), y, classes, [str(path)])


def load_unsw_nb15(folder: Path) -> Tabular:
    """The 82,332-row ``UNSW_NB15_training-set.csv.gz`` (see PROVENANCE on the name swap)."""
    path = folder / "UNSW_NB15_training-set.csv.gz"
    df = _read_csv(path)
    missing = {"attack_cat", "label"} - set(df.columns)
    if missing:
        raise FormatError(f"missing columns {sorted(missing)}", file=str(path))
    classes = df["attack_cat"].cast(pl.String).str.strip_chars().to_numpy().astype(str)
    y = df["label"].cast(pl.Int8).to_numpy()
    X = df.drop([c for c in ("id", "attack_cat", "label") if c in df.columns])
    return Tabular(X, y, classes, [str(path)])


def _dedupe(df: pl.DataFrame, label: str) -> tuple[pl.DataFrame, list[str]]:
    """Drop blank lines, exact duplicate rows, and feature vectors seen with both labels."""
    blank = pl.all_horizontal(pl.all().is_null())
    n_blank = int(df.select(blank.sum()).item())
    df = df.filter(~blank)
    if df[label].null_count():
        raise FormatError(f"{df[label].null_count()} rows have no {label!r} value")
    n0 = df.height
    df = df.unique(maintain_order=True)
    feats = [c for c in df.columns if c != label]
    conflict = df.group_by(feats).agg(pl.col(label).n_unique().alias("_k")).filter(
        pl.col("_k") > 1
    )
    if conflict.height:
        df = df.join(conflict.select(feats), on=feats, how="anti", nulls_equal=True)
    notes = [f"{n0 - df.height} duplicate or label-conflicting rows dropped of {n0}"]
    if n_blank:
        notes.append(f"{n_blank} blank lines skipped")
    return df, notes


def load_iot23(folder: Path, name: str = "CTU_1-1_8-1_34-1_balanced10k") -> Tabular:
    """An IoT-23 file, exact duplicates removed (8,085 of 10,000 rows are duplicates)."""
    path = folder / f"{name}.csv.gz"
    df = _read_csv(path, null_values=["", "-"])
    if "label" not in df.columns:
        raise FormatError("no 'label' column", file=str(path))
    df, notes = _dedupe(df, "label")
    y = df["label"].cast(pl.Int8).to_numpy()
    classes = np.where(y == 1, "malicious", "benign")
    return Tabular(df.drop("label"), y, classes, [str(path)], notes)


def load_clamp(folder: Path, name: str = "ClaMP_Integrated-5184") -> Tabular:
    """ClaMP PE-header features (``class`` 1 = malware), duplicates removed."""
    path = folder / f"{name}.csv.gz"
    df = _read_csv(path)
    if "class" not in df.columns:
        raise FormatError("no 'class' column", file=str(path))
    df, notes = _dedupe(df, "class")
    y = df["class"].cast(pl.Int8).to_numpy()
    classes = np.where(y == 1, "malware", "benign")
    return Tabular(df.drop("class"), y, classes, [str(path)], notes)
