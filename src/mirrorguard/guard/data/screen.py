"""``screen_training_data``: the one call every ``fit`` makes before it learns.

It runs the label-flip screen (:mod:`.labels`), the backdoor screen (:mod:`.backdoor`) and the
hygiene checks (:mod:`.hygiene`), turns their results into :class:`Finding` records, and applies
the policy (``block``, ``quarantine`` or ``warn``; see :mod:`.findings`).

>>> import numpy as np, polars as pl
>>> rng = np.random.default_rng(0)
>>> X = pl.DataFrame({"a": np.r_[rng.normal(0, 1, 300), rng.normal(5, 1, 300)],
...                   "b": np.r_[rng.normal(0, 1, 300), rng.normal(5, 1, 300)]})
>>> y = np.r_[np.zeros(300, int), np.ones(300, int)]
>>> y[:15] = 1  # flipped
>>> res = screen_training_data(X, y, "quarantine", config=ScreenConfig(backdoor=False))
>>> res.X.height < 600, bool(res.report.quarantined[:15].mean() > 0.8)
(True, True)
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mirrorguard.errors import SchemaError
from mirrorguard.guard.data import hygiene
from mirrorguard.guard.data.backdoor import (
    BackdoorParams,
    backdoor_screen,
    leaf_representation,
    spectral_scores,
)
from mirrorguard.guard.data.findings import (
    SEVERITY_ORDER,
    Finding,
    PoisoningBlocked,
    Policy,
    ScreenReport,
)
from mirrorguard.guard.data.labels import (
    LabelParams,
    LabelSignals,
    class_neighbours,
    label_screen,
    restrict,
)
from mirrorguard.guard.data.prep import TabularEncoder, encode_labels
from mirrorguard.schema.alerts import Severity


@dataclass(frozen=True)
class ScreenConfig:
    """What to run and how strictly."""

    labels: LabelParams = field(default_factory=LabelParams)
    backdoor_params: BackdoorParams = field(default_factory=BackdoorParams)
    backdoor: bool = True
    block_severity: Severity = Severity.HIGH
    #: share of rows flagged as label issues above which the finding is HIGH (MEDIUM above
    #: a fifth of it); natural label noise in curated sets stays well below
    label_high_share: float = 0.02
    near_duplicate_eps: float = 1e-3
    shift_auc: float = 0.75


@dataclass
class ScreenResult:
    """The data to fit on (sanitised under ``quarantine``), the labels and the report."""

    X: pl.DataFrame
    y: np.ndarray
    report: ScreenReport
    kept: np.ndarray  # bool per input row
    signals: LabelSignals | None = None


def _label_finding(sig: LabelSignals, codes: np.ndarray, classes: list[str],
                   cfg: ScreenConfig) -> Finding | None:
    rows = np.flatnonzero(sig.flag)
    if rows.size == 0:
        return None
    share = rows.size / len(codes)
    sev = (Severity.HIGH if share >= cfg.label_high_share else
           Severity.MEDIUM if share >= cfg.label_high_share / 5 else Severity.LOW)
    pairs: dict[str, int] = {}
    for g, s in zip(codes[rows].tolist(), sig.suggested[rows].tolist(), strict=True):
        key = f"{classes[g]} -> {classes[s]}"
        pairs[key] = pairs.get(key, 0) + 1
    return Finding("label_flip", sev,
                   f"{rows.size:,} labels ({100 * share:.2f} %) contradicted by trees, logistic, "
                   "k-NN and class density together", rows, quarantine=True,
                   evidence={"share": share, "given_to_suggested": pairs,
                             "first_pass_rows": int(sig.first_pass.sum())})


def _backdoor_findings(tree: np.ndarray, dense: np.ndarray, enc: TabularEncoder,
                       codes: np.ndarray, classes: list[str], target: int | None,
                       ref_tree: np.ndarray | None, cfg: ScreenConfig) -> list[Finding]:
    n_classes = len(classes)
    rep = leaf_representation(tree, codes, n_classes, enc.categorical_index,
                              seed=cfg.labels.seed)
    z = spectral_scores(rep, codes)
    pats = backdoor_screen(tree, dense, enc.dense_names(), codes, enc.columns, z, target,
                           ref_tree, cfg.backdoor_params)
    out: list[Finding] = []
    for p in pats:
        ev = {"columns": p.columns, "values": p.values, "label": classes[p.label],
              "purity": p.purity, "lift": p.lift, "masked_agreement": p.agreement,
              "reference_count": p.reference_count,
              "reference_expected": p.reference_expected, "spectral_z": p.spectral_z}
        desc = ", ".join(f"{c}={v:g}" for c, v in zip(p.columns, p.values, strict=True))
        if p.flagged:
            out.append(Finding("backdoor", Severity.CRITICAL,
                               f"{len(p.rows):,} rows labelled {classes[p.label]!r} share the "
                               f"novel pattern {desc}; without it their neighbours say "
                               "otherwise", p.rows, quarantine=True, evidence=ev))
        elif ref_tree is None and p.agreement <= cfg.backdoor_params.max_agreement:
            out.append(Finding("label_defining_pattern", Severity.MEDIUM,
                               f"{len(p.rows):,} rows labelled {classes[p.label]!r}: pattern "
                               f"{desc} alone decides their label (review; pass a trusted "
                               "reference to tell triggers from natural signatures)",
                               p.rows, evidence=ev))
    return out


def _hygiene_findings(X: pl.DataFrame, codes: np.ndarray, nearest: np.ndarray,
                      cfg: ScreenConfig) -> list[Finding]:
    out: list[Finding] = []
    dup, conflict = hygiene.duplicates(X, codes)
    if dup.any():
        out.append(Finding("duplicate", Severity.INFORMATIONAL,
                           f"{int(dup.sum()):,} rows belong to groups of identical rows",
                           np.flatnonzero(dup), evidence={"share": float(dup.mean())}))
    if conflict.any():
        out.append(Finding("conflicting_duplicate", Severity.LOW,
                           f"{int(conflict.sum()):,} identical rows carry different labels",
                           np.flatnonzero(conflict), evidence={"share": float(conflict.mean())}))
    near = hygiene.near_duplicates(nearest, dup, cfg.near_duplicate_eps)
    if near.any():
        out.append(Finding("near_duplicate", Severity.INFORMATIONAL,
                           f"{int(near.sum()):,} rows within {cfg.near_duplicate_eps:g} of "
                           "another row", np.flatnonzero(near)))
    return out


def _reference_findings(X: pl.DataFrame, enc: TabularEncoder, tree: np.ndarray,
                        reference: pl.DataFrame | None, test: pl.DataFrame | None,
                        cfg: ScreenConfig) -> list[Finding]:
    out: list[Finding] = []
    if test is not None:
        leak = hygiene.leakage(X, test, enc, eps=cfg.near_duplicate_eps, seed=cfg.labels.seed)
        if leak["exact_in_train"] or leak["near_share"] > 0:
            sev = Severity.HIGH if leak["exact_share"] >= 0.01 else Severity.MEDIUM
            ev = {k: v for k, v in leak.items() if k != "exact_rows"}
            out.append(Finding("leakage", sev,
                               f"{leak['exact_in_train']:,} test rows "
                               f"({100 * leak['exact_share']:.2f} %) also in training",
                               evidence=ev))
    if reference is not None:
        cols = hygiene.column_shift(X, reference, enc)
        auc = hygiene.domain_auc(tree, enc.tree(reference), enc.categorical_index,
                                 seed=cfg.labels.seed)
        top = cols.head(5).to_dicts()
        if auc >= cfg.shift_auc:
            out.append(Finding("shift", Severity.MEDIUM,
                               f"training rows are separable from the reference (domain AUC "
                               f"{auc:.3f}); most shifted: {', '.join(r['column'] for r in top)}",
                               evidence={"domain_auc": auc, "columns": top}))
        else:
            out.append(Finding("shift", Severity.INFORMATIONAL,
                               f"no material shift against the reference (domain AUC {auc:.3f})",
                               evidence={"domain_auc": auc, "columns": top}))
    return out


@dataclass
class _Signals:
    signals: LabelSignals  # training rows only
    nearest: np.ndarray  # distance to the nearest other training row


def _anchored_signals(tree: np.ndarray, dense: np.ndarray, ref_tree: np.ndarray | None,
                      ref_dense: np.ndarray | None, codes: np.ndarray, n_classes: int,
                      cat_index: list[int], cfg: ScreenConfig,
                      timings: dict[str, float]) -> _Signals:
    """The label screen over the training rows, with trusted reference rows appended."""
    n = tree.shape[0]
    t0 = time.perf_counter()
    if ref_tree is not None and ref_dense is not None:
        tree, dense = np.vstack([tree, ref_tree]), np.vstack([dense, ref_dense])
    anchor = np.arange(tree.shape[0]) >= n
    nb = class_neighbours(dense, codes, n_classes, k=2 * cfg.labels.k)
    own = restrict(nb, ~anchor, 1)
    timings["neighbours"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    sig = label_screen(tree, dense, codes, n_classes, cat_index, nb, cfg.labels, anchor=anchor)
    timings["labels"] = time.perf_counter() - t0
    return _Signals(sig.head(n), own.dist[:n, :, 0].min(axis=1))


def _labels_of(y: np.ndarray | pl.Series | list[Any], n: int) -> np.ndarray:
    arr = y.to_numpy() if isinstance(y, pl.Series) else np.asarray(y)
    if len(arr) != n:
        raise SchemaError(f"{len(arr)} labels for {n} rows")
    return arr


def screen_training_data(
    X: pl.DataFrame, y: np.ndarray | pl.Series | list[Any],
    policy: Policy | str = Policy.QUARANTINE, *,
    reference: pl.DataFrame | None = None, test: pl.DataFrame | None = None,
    target_label: Any = None, config: ScreenConfig | None = None,
    reference_labels: np.ndarray | pl.Series | list[Any] | None = None,
) -> ScreenResult:
    """Screen ``(X, y)`` and apply ``policy``; see the module docstring.

    ``reference`` is a trusted frame with the same columns (a vetted earlier training set):
    it enables the backdoor screen's novelty test and the shift check. ``test`` enables the
    leakage check. With ``reference_labels`` too, the reference rows anchor the label screen:
    they train every fold model and serve as trusted neighbours, and are never judged.
    ``target_label`` is the attacker-favourable class (for an IDS the benign
    label): only patterns labelled with it are judged as triggers (all classes when ``None``).
    Raises :class:`PoisoningBlocked` under ``block`` when a finding reaches
    ``config.block_severity``.
    """
    cfg = config or ScreenConfig()
    pol = Policy(policy)
    labels = _labels_of(y, X.height)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    enc = TabularEncoder().fit(X)
    tree, dense = enc.tree(X), enc.dense(X)
    if reference is not None and reference_labels is not None:
        ref_labels = _labels_of(reference_labels, reference.height)
        all_codes, classes = encode_labels(np.concatenate([labels, ref_labels]))
        codes = all_codes[:X.height]
        ref = reference.select(X.columns)
        sig = _anchored_signals(tree, dense, enc.tree(ref), enc.dense(ref), all_codes,
                                len(classes), enc.categorical_index, cfg, timings)
    else:
        codes, classes = encode_labels(labels)
        sig = _anchored_signals(tree, dense, None, None, codes, len(classes),
                                enc.categorical_index, cfg, timings)
    nearest = sig.nearest
    findings = [f for f in [_label_finding(sig.signals, codes, classes, cfg)] if f is not None]
    t0 = time.perf_counter()
    if cfg.backdoor:
        target = classes.index(str(target_label)) if target_label is not None else None
        ref_tree = (enc.tree(reference.select(X.columns)) if reference is not None else None)
        findings += _backdoor_findings(tree, dense, enc, codes, classes, target, ref_tree, cfg)
    timings["backdoor"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    findings += _hygiene_findings(X, codes, nearest, cfg)
    findings += _reference_findings(X, enc, tree, reference, test, cfg)
    timings["hygiene"] = time.perf_counter() - t0
    quarantined = np.zeros(X.height, dtype=bool)
    for f in findings:
        if f.quarantine:
            quarantined[f.rows] = True
    report = ScreenReport(n_rows=X.height, classes=classes, findings=findings,
                          quarantined=quarantined, policy=pol,
                          timings_s={k: round(v, 3) for k, v in timings.items()},
                          params={"labels": asdict(cfg.labels),
                                  "backdoor": asdict(cfg.backdoor_params)})
    return _apply(pol, X, labels, report, sig.signals, cfg)


def _apply(pol: Policy, X: pl.DataFrame, labels: np.ndarray, report: ScreenReport,
           sig: LabelSignals, cfg: ScreenConfig) -> ScreenResult:
    if pol is Policy.BLOCK and report.has_findings(cfg.block_severity):
        worst = [f for f in report.findings
                 if SEVERITY_ORDER[f.severity] >= SEVERITY_ORDER[cfg.block_severity]]
        raise PoisoningBlocked(
            f"training data failed the poisoning screen: {worst[0].kind} — {worst[0].title}",
            report, hint="inspect the report, or fit with policy 'quarantine'")
    kept = ~report.quarantined if pol is Policy.QUARANTINE else np.ones(X.height, dtype=bool)
    return ScreenResult(X=X.filter(pl.Series(kept)), y=labels[kept], report=report, kept=kept,
                        signals=sig)
