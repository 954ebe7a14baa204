"""The training-data screen inside every detector ``fit``.

A detector learns whatever its training frame says, an attacker's flipped labels, backdoor
pattern or replayed flood of one record included. So every ``fit`` is screened:
:class:`~mirrorguard.detect.base.Detector` wraps each subclass's own ``fit`` so that it calls
:func:`run_screened_fit`, which screens ``(X, y)`` under the active :class:`FitScreenPolicy`:

* ``quarantine`` (default) — flagged rows are removed before the detector sees them;
* ``block`` — :class:`PoisoningBlocked` when a finding reaches ``block_severity``; no fit;
* ``warn`` — every row is kept, the findings recorded; ``off`` — no screen.

**Labelled** data (``y`` with two or more classes) gets :func:`screen_training_data`. Its
label screen is quadratic in the rows (k-NN), so above ``chunk_rows`` the rows are dealt, by
class after a seeded shuffle, into chunks of at most ``chunk_rows``, each screened alone:
cost grows linearly and every chunk keeps the class mix. The backdoor screen runs only with a
trusted reference: without one it can flag nothing a fit would drop (it reports patterns for
review, which ``mirrorguard guard data`` does) and it was two thirds of the screen's time on
NSL-KDD. **Unlabelled** data (baselines, event frames) gets the O(n) checks that apply
without labels: one record pattern flooding the frame (replay poisoning; dropped only for
timestamped records), infinite values, and shift against a reference when one is set. Only
numeric, temporal and low-cardinality string columns are looked at; free text (messages,
command lines) and nested columns are neither hashed nor encoded. Frames under ``min_rows``
are passed through, reported "skipped".

:func:`training_screen` sets the policy for a block of code and can carry an
:class:`~mirrorguard.bus.EventBus`: each result is then published (kind ``model``, ``event:
training_screen``) for the ledger. A fit called inside a screened fit (a hybrid's parts) is
not screened again. The result is kept as ``screen_report_`` (JSON-able; ``None`` if ``off``).

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> X = pl.DataFrame({"t": rng.integers(0, 10**9, 400), "b": rng.normal(size=400)})
>>> X = pl.concat([X, pl.DataFrame({"t": [7] * 100, "b": [9.0] * 100})])
>>> X = X.with_columns(pl.from_epoch("t"))  # a timestamp: identical records are replays
>>> X2, _, rep = screen_for_fit(None, X, None)
>>> [(f.kind, str(f.severity), f.quarantine) for f in rep.report.findings], X2.height
([('duplicate_flood', 'high', True)], 425)
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import numpy as np
import polars as pl

from mirrorguard.bus import BusEvent
from mirrorguard.detect.base import Detector
from mirrorguard.guard.data import hygiene
from mirrorguard.guard.data.findings import (
    SEVERITY_ORDER,
    Finding,
    PoisoningBlocked,
    Policy,
    ScreenReport,
)
from mirrorguard.guard.data.fit_policy import (
    _IN_FIT,
    FitScreenPolicy,
    _context,
    active_policy,
)
from mirrorguard.guard.data.prep import TabularEncoder
from mirrorguard.guard.data.screen import screen_training_data
from mirrorguard.schema.alerts import Severity

D = TypeVar("D", bound=Detector)


@dataclass
class FitScreenReport:
    """What the screen did for one ``fit``: the screen's own report plus the fit's context."""

    detector: str
    policy: str
    mode: str  # "labelled" | "unlabelled"
    status: str  # "screened" | "skipped"
    rows_in: int
    kept: np.ndarray  # bool per input row: what the detector was given
    report: ScreenReport | None = None
    notes: list[str] = field(default_factory=list)
    chunks: int = 0
    seconds: float = 0.0

    @property
    def rows_kept(self) -> int:
        return int(self.kept.sum())

    def to_dict(self, max_rows: int = 200) -> dict[str, Any]:
        """JSON-able (NumPy values converted); ``max_rows`` row numbers per finding."""
        doc = {
            "schema_version": 1, "event": "training_screen", "detector": self.detector,
            "policy": self.policy, "mode": self.mode, "status": self.status,
            "rows_in": self.rows_in, "rows_kept": self.rows_kept, "chunks": self.chunks,
            "seconds": round(self.seconds, 3), "notes": self.notes,
            "screen": self.report.to_dict(max_rows) if self.report is not None else None,
        }
        out: dict[str, Any] = json.loads(json.dumps(doc, default=_json_default))
        return out


def _json_default(obj: object) -> object:
    """NumPy scalars and arrays as numbers and lists; anything else (dates, decimals) as text."""
    if isinstance(obj, np.generic | np.ndarray):
        return obj.tolist()
    return str(obj)


# ---- columns --------------------------------------------------------------------------------
@dataclass
class _Columns:
    numeric: list[str] = field(default_factory=list)
    categorical: list[str] = field(default_factory=list)
    temporal: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    @property
    def features(self) -> list[str]:
        return [*self.numeric, *self.categorical]


def _low_cardinality(s: pl.Series, max_levels: int) -> bool:
    """At most ``max_levels`` distinct values; a prefix decides free text without a full pass."""
    if s.head(20_000).n_unique() > max_levels:
        return False
    return s.n_unique() <= max_levels


def _columns(X: pl.DataFrame, exclude: set[str], max_levels: int) -> _Columns:
    cols = _Columns()
    for name, dtype in X.schema.items():
        if name in exclude:
            continue
        if dtype.is_numeric() or dtype == pl.Boolean:
            cols.numeric.append(name)
        elif dtype.is_temporal():
            cols.temporal.append(name)
        elif (isinstance(dtype, pl.String | pl.Categorical | pl.Enum)
              and _low_cardinality(X[name], max_levels)):
            cols.categorical.append(name)
        else:
            cols.skipped.append(name)
    return cols


def _excluded(detector: object) -> set[str]:
    """Columns the detector itself ignores (its ``exclude`` parameter)."""
    ex = getattr(detector, "exclude", ())
    return {str(c) for c in ex} if isinstance(ex, list | tuple | set | frozenset) else set()


def _labels(y: object, n: int, pol: FitScreenPolicy, notes: list[str]) -> np.ndarray | None:
    """``y`` as a 1-D array when the label screen can judge it, else ``None`` (with a note)."""
    if y is None:
        return None
    arr = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    if arr.shape != (n,):
        notes.append(f"labels of shape {arr.shape} do not match {n} rows; left to the detector")
        return None
    _, counts = np.unique(arr.astype(str), return_counts=True)
    if counts.size < 2:
        notes.append("labels have a single class: the label screen does not apply")
        return None
    if counts.min() < pol.min_class_rows:
        notes.append(f"smallest class has {int(counts.min())} rows (< {pol.min_class_rows}): "
                     "the label screen cannot judge it")
        return None
    return arr


# ---- labelled ---------------------------------------------------------------------------------
def stratified_chunks(labels: np.ndarray, chunk_rows: int, seed: int = 0) -> list[np.ndarray]:
    """Row positions in ``ceil(n / chunk_rows)`` chunks of near-equal size and class mix.

    The rows are shuffled (seeded), grouped by class and dealt round-robin, so every chunk
    has about ``1/k`` of every class and at most ``ceil(n / k) <= chunk_rows`` rows.
    """
    n = len(labels)
    k = max(1, math.ceil(n / chunk_rows))
    if k == 1:
        return [np.arange(n)]
    _, codes = np.unique(np.asarray(labels).astype(str), return_inverse=True)
    order = np.random.default_rng(seed).permutation(n)
    order = order[np.argsort(codes[order], kind="stable")]
    deal = np.arange(n) % k
    return [np.sort(order[deal == c]) for c in range(k)]


def _quarantined(findings: list[Finding], n: int, at: Severity) -> np.ndarray:
    """Rows named by a quarantinable finding of severity ``at`` or worse."""
    out = np.zeros(n, dtype=bool)
    for f in findings:
        if f.quarantine and SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[at]:
            out[f.rows] = True
    return out


def _merge(parts: list[tuple[np.ndarray, ScreenReport]], n: int, pol: FitScreenPolicy,
           ) -> ScreenReport:
    """One report over all rows: findings' rows mapped back to positions in the whole frame."""
    k = len(parts)
    findings: list[Finding] = []
    timings: dict[str, float] = {}
    for i, (idx, rep) in enumerate(parts):
        for f in rep.findings:
            tag = f"[chunk {i + 1}/{k}] " if k > 1 else ""
            ev = {**f.evidence, "chunk": i, "chunk_rows": int(idx.size)} if k > 1 else f.evidence
            findings.append(replace(f, rows=idx[np.asarray(f.rows, dtype=np.int64)],
                                    title=tag + f.title, evidence=ev))
        for key, v in rep.timings_s.items():
            timings[key] = round(timings.get(key, 0.0) + v, 3)
    classes = sorted({c for _, rep in parts for c in rep.classes})
    params = {**parts[0][1].params, "chunks": k, "chunk_rows": pol.chunk_rows}
    return ScreenReport(n_rows=n, classes=classes, findings=findings,
                        quarantined=_quarantined(findings, n, pol.quarantine_at),
                        policy=Policy(pol.policy), timings_s=timings, params=params)


def _labelled(view: pl.DataFrame, labels: np.ndarray, pol: FitScreenPolicy,
              notes: list[str]) -> tuple[ScreenReport, int]:
    """The full screen, chunk by chunk, always under ``warn`` (the policy is applied after)."""
    ref = _reference(view, pol, notes)
    parts = []
    for idx in stratified_chunks(labels, pol.chunk_rows, pol.seed):
        res = screen_training_data(view[pl.Series(idx)], labels[idx], Policy.WARN,
                                   reference=ref, target_label=pol.target_label,
                                   config=pol.screen_config(ref))
        parts.append((idx, res.report))
    return _merge(parts, view.height, pol), len(parts)


def _reference(view: pl.DataFrame, pol: FitScreenPolicy, notes: list[str],
               ) -> pl.DataFrame | None:
    if pol.reference is None:
        return None
    missing = [c for c in view.columns if c not in pol.reference.columns]
    if missing:
        notes.append(f"reference lacks {len(missing)} screened columns (e.g. {missing[0]!r}); "
                     "no shift or novelty check")
        return None
    return pol.reference.select(view.columns)


# ---- unlabelled ---------------------------------------------------------------------------
def _non_finite(X: pl.DataFrame, numeric: list[str]) -> list[Finding]:
    """Rows with an infinite float value (quarantinable; NaN and null are missing values)."""
    floats = [c for c in numeric if X.schema[c].is_float()]
    if not floats:
        return []
    counts = X.select(pl.col(c).is_infinite().sum() for c in floats).row(0, named=True)
    bad = {c: int(v) for c, v in counts.items() if v}
    if not bad:
        return []
    mask = X.select(pl.any_horizontal(pl.col(c).is_infinite() for c in bad).fill_null(False))
    rows = np.flatnonzero(mask.to_series().to_numpy())
    share = rows.size / X.height
    # no model learns anything sound from an infinity: always at the default quarantine level
    sev = Severity.HIGH if share >= 0.01 else Severity.MEDIUM
    return [Finding("non_finite", sev, f"{rows.size:,} rows carry infinite values "
                    f"({', '.join(list(bad)[:5])})", rows, quarantine=True,
                    evidence={"share": share, "columns": bad})]


def _fine_grained(X: pl.DataFrame, cols: _Columns) -> bool:
    """A timestamp, or a numeric column with many distinct values (5 % of the rows or more).

    Without one, every row pattern is coarse and natural repetition (most HDFS sessions have
    19 events) cannot be told from a flood, so the check does not run.
    """
    need = max(2.0, 0.05 * X.height)
    return bool(cols.temporal) or any(X[c].n_unique() >= need for c in cols.numeric)


def _flood(key: pl.DataFrame, timed: bool, pol: FitScreenPolicy) -> list[Finding]:
    """Record patterns far commoner than the data's other patterns (see :class:`FitScreenPolicy`).

    Rows are the copies beyond ``flood_lift`` times a typical pattern's count. They are
    quarantinable only for timestamped records (``timed``): identical time *and* fields is
    replay or double ingestion. Without a timestamp, a dominant pattern may be natural (one
    DNS lookup repeated all day), so it is reported for review, never dropped.
    """
    n = key.height
    frame = pl.DataFrame({"h": key.hash_rows(seed=0)}).with_row_index("row")
    counts = frame.group_by("h").agg(pl.len().alias("n"), pl.col("row").min().alias("first"))
    big = counts.filter(pl.col("n") >= pol.flood_share * n)
    n_other, d_other = n - int(big["n"].sum()), counts.height - big.height
    if big.is_empty() or d_other == 0:
        return []
    typical = n_other / d_other
    cap = max(1, math.ceil(pol.flood_lift * typical))
    flood = big.filter(pl.col("n") > cap).sort("n", descending=True)
    excess = (frame.filter(pl.col("h").is_in(flood["h"].implode()))
              .with_columns(pl.int_range(pl.len()).over("h").alias("occ"))
              .filter(pl.col("occ") >= cap))
    out = []
    for h, c, first in flood.iter_rows():
        rows = np.sort(excess.filter(pl.col("h") == h)["row"].to_numpy().astype(np.int64))
        share = c / n
        high = timed and share >= 2 * pol.flood_share
        what = ("replayed or doubly ingested records; copies beyond" if timed else
                "replayed, or natural repetition (review); copies beyond")
        out.append(Finding(
            "duplicate_flood", Severity.HIGH if high else Severity.MEDIUM,
            f"one record pattern is {100 * share:.1f} % of the rows ({c:,} copies; a typical "
            f"pattern has {typical:.1f}): {what} {cap:,} listed", rows, quarantine=timed,
            evidence={"share": share, "copies": c, "typical_copies": typical, "cap": cap,
                      "timestamped": timed, "first_row": first,
                      "example": key.row(first, named=True)}))
    return out


def _shift(view: pl.DataFrame, pol: FitScreenPolicy, notes: list[str]) -> list[Finding]:
    """Per-column shift and a domain classifier against the trusted reference (as the screen)."""
    ref = _reference(view, pol, notes)
    if ref is None or view.width == 0:
        return []
    enc = TabularEncoder().fit(view)
    top = hygiene.column_shift(view, ref, enc).head(5).to_dicts()
    auc = hygiene.domain_auc(enc.tree(view), enc.tree(ref), enc.categorical_index,
                             seed=pol.seed)
    ev = {"domain_auc": auc, "columns": top}
    if auc >= pol.screen_config().shift_auc:
        return [Finding("shift", Severity.MEDIUM, f"training rows are separable from the "
                        f"reference (domain AUC {auc:.3f}); most shifted: "
                        f"{', '.join(r['column'] for r in top)}", evidence=ev)]
    return [Finding("shift", Severity.INFORMATIONAL,
                    f"no material shift against the reference (domain AUC {auc:.3f})",
                    evidence=ev)]


def _unlabelled(X: pl.DataFrame, cols: _Columns, pol: FitScreenPolicy,
                notes: list[str]) -> ScreenReport:
    t0 = time.perf_counter()
    findings = _non_finite(X, cols.numeric)
    if _fine_grained(X, cols):
        findings += _flood(X.select([*cols.features, *cols.temporal]), bool(cols.temporal), pol)
    else:
        notes.append("no timestamp or fine-grained numeric column: no flood check")
    timings = {"hygiene": round(time.perf_counter() - t0, 3)}
    if pol.reference is not None:
        t0 = time.perf_counter()
        findings += _shift(X.select(cols.features), pol, notes)
        timings["shift"] = round(time.perf_counter() - t0, 3)
    quarantined = _quarantined(findings, X.height, pol.quarantine_at)
    params = {"flood_share": pol.flood_share, "flood_lift": pol.flood_lift,
              "columns": len(cols.features) + len(cols.temporal)}
    return ScreenReport(n_rows=X.height, classes=[], findings=findings, quarantined=quarantined,
                        policy=Policy(pol.policy), timings_s=timings, params=params)


# ---- the hook -------------------------------------------------------------------------------
def _publish(rep: FitScreenReport) -> None:
    ctx = _context()
    if ctx.bus is not None:
        ctx.bus.publish(BusEvent(kind="model", actor=ctx.actor, payload=rep.to_dict(max_rows=0)))


def _screen(name: str, X: pl.DataFrame, y: object, exclude: set[str],
            pol: FitScreenPolicy) -> FitScreenReport:
    notes: list[str] = []
    labels = _labels(y, X.height, pol, notes)
    rep = FitScreenReport(name, pol.policy, "unlabelled" if labels is None else "labelled",
                          "skipped", X.height, np.ones(X.height, dtype=bool), notes=notes)
    if X.height < pol.min_rows:
        notes.append(f"{X.height} rows (< min_rows {pol.min_rows}): too few to judge")
        return rep
    cols = _columns(X, exclude, pol.max_levels)
    if cols.skipped:
        notes.append(f"not screened (free text or nested): {', '.join(cols.skipped[:8])}")
    if labels is not None and cols.features:
        rep.report, rep.chunks = _labelled(X.select(cols.features), labels, pol, notes)
    elif labels is None and (cols.features or cols.temporal):
        rep.report, rep.chunks = _unlabelled(X, cols, pol, notes), 1
    else:
        notes.append("no numeric or low-cardinality column to screen")
        return rep
    rep.status = "screened"
    if pol.policy == "quarantine":
        rep.kept = ~rep.report.quarantined
    return rep


def screen_for_fit(detector: object, X: pl.DataFrame, y: Any,
                   policy: FitScreenPolicy | None = None,
                   ) -> tuple[pl.DataFrame, np.ndarray | None, FitScreenReport | None]:
    """``(X, y)`` as the active policy lets ``detector`` learn from them, and the report.

    Publishes the report when a bus is active; raises :class:`PoisoningBlocked` under
    ``block``. Returns the inputs themselves when nothing was removed, ``None`` as the report
    when the policy is ``off``.
    """
    pol = policy or active_policy()
    name = str(getattr(detector, "name", type(detector).__name__))
    if pol.policy == "off":
        _publish(FitScreenReport(name, "off", "off", "off", X.height,
                                 np.ones(X.height, dtype=bool)))
        return X, y, None
    t0 = time.perf_counter()
    rep = _screen(name, X, y, _excluded(detector), pol)
    rep.seconds = time.perf_counter() - t0
    _publish(rep)
    block_at = pol.screen_config().block_severity
    if pol.policy == "block" and rep.report is not None and rep.report.has_findings(block_at):
        worst = max(rep.report.findings, key=lambda f: SEVERITY_ORDER[f.severity])
        raise PoisoningBlocked(f"{name}: training data failed the poisoning screen: "
                               f"{worst.kind} — {worst.title}", rep.report,
                               hint="inspect the report, or fit with policy 'quarantine'")
    if rep.kept.all():
        return X, y, rep
    y2 = None if y is None else (y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y))
    return X.filter(pl.Series(rep.kept)), None if y2 is None else y2[rep.kept], rep


def run_screened_fit(detector: D, fit: Callable[..., D], X: pl.DataFrame, y: Any) -> D:
    """Call ``fit`` on screened data (once per outermost fit); keep the report on the detector.

    ``screen_report_`` is set only after ``fit`` returned, so a blocked or failed fit leaves
    the detector unfitted.
    """
    if _IN_FIT.get():
        return fit(detector, X) if y is None else fit(detector, X, y)
    token = _IN_FIT.set(True)
    try:
        X2, y2, rep = screen_for_fit(detector, X, y)
        out = fit(detector, X2) if y2 is None else fit(detector, X2, y2)
    finally:
        _IN_FIT.reset(token)
    detector.screen_report_ = None if rep is None else rep.to_dict()
    return out
