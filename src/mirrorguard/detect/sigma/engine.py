"""The Sigma engine: rules indexed by logsource, evaluated over EventFrames in batches.

Rules are grouped by the logsource mapping that serves them (``windows/process_creation``,
``windows/security``, ``linux/auditd``…). For each batch, each group selects its events once
(the mapping's conditions, a vectorised filter) and evaluates all its rules together on that
subset (:class:`~.evaluate.GroupEvaluator`), so the cost of a rule grows with the events it can
see and the literals it needs, not with rules × events.

>>> import polars as pl
>>> from sigma.collection import SigmaCollection
>>> from mirrorguard.detect.sigma.compiler import compile_rule
>>> from mirrorguard.detect.sigma.pipeline import default_pipelines
>>> rule = SigmaCollection.from_yaml('''
... title: Whoami
... logsource: {product: windows, category: process_creation}
... detection:
...   sel: {Image|endswith: '\\\\whoami.exe'}
...   condition: sel
... ''').rules[0]
>>> eng = SigmaEngine([compile_rule(rule, default_pipelines())])
>>> frame = pl.DataFrame({"winlog.channel": ["Security"] * 2, "winlog.event_id": [4688, 4688],
...     "winlog.event_data.NewProcessName": ["C:\\\\Windows\\\\WHOAMI.EXE", "C:\\\\x.exe"]})
>>> eng.match(frame).rows()
[(0, 0)]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mirrorguard.detect.sigma.compiler import KEYWORDS, CompiledRule
from mirrorguard.detect.sigma.evaluate import GroupEvaluator, KeywordIndex
from mirrorguard.detect.sigma.ir import (
    Column,
    FieldEq,
    Leaf,
    Match,
    Pattern,
    leaves,
    positive_leaves,
)
from mirrorguard.detect.sigma.pipeline import LogsourceMapping

MATCH_SCHEMA: dict[str, pl.DataType] = {"rule": pl.UInt32(), "row": pl.UInt32()}
EXPLAIN_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.UInt32(), "row": pl.UInt32(), "field": pl.String(), "pattern": pl.String(),
    "value": pl.String(),
}
MAX_SHOWN_VALUE = 256


@dataclass
class _Group:
    mapping: LogsourceMapping
    rule_ids: list[int]
    columns: set[str]


@dataclass
class EngineStats:
    """Counters of the last :meth:`SigmaEngine.match` call (for benchmarks and reports)."""

    events: int = 0
    groups_evaluated: int = 0
    rule_evaluations: int = 0
    leaf_evals: int = 0
    restricted_evals: int = 0
    matches: int = 0
    extra: dict[str, int] = field(default_factory=dict)


def _columns_of(column: Column) -> set[str]:
    return set(column[1:] if column and column[0] == KEYWORDS else column)


class SigmaEngine:
    """Compiled rules grouped by logsource; ``match`` a frame, ``explain`` the matches."""

    def __init__(self, rules: Sequence[CompiledRule], batch_rows: int = 1 << 20,
                 dedupe: bool = True) -> None:
        self.rules = list(rules)
        self.batch_rows = batch_rows
        self.dedupe = dedupe
        self.stats = EngineStats()
        groups: dict[str, _Group] = {}
        for i, rule in enumerate(self.rules):
            g = groups.setdefault(rule.mapping.id, _Group(rule.mapping, [], set()))
            g.rule_ids.append(i)
            for leaf in leaves(rule.tree):
                g.columns |= _columns_of(leaf.column)
                if isinstance(leaf, FieldEq):
                    g.columns |= _columns_of(leaf.other)
        self.groups = list(groups.values())
        self._keyword_needles = sorted(_keyword_needles(self.rules))
        self._route_columns = sorted({c for g in self.groups for cond in g.mapping.conditions
                                      for c in cond})

    def _batches(self, frame: pl.DataFrame) -> Iterator[tuple[int, pl.DataFrame]]:
        for start in range(0, max(frame.height, 1), self.batch_rows):
            yield start, frame.slice(start, self.batch_rows)

    def _route(self, batch: pl.DataFrame) -> list[np.ndarray]:
        """Each group's row positions in ``batch``, from one pass over the routing columns.

        The routing columns (channel, event id, dataset…) have few distinct combinations:
        each group's logsource filter runs on those combinations, not on every event.
        """
        keys = [c for c in self._route_columns if c in batch.columns]
        if not keys:
            return [self._filter_rows(g, batch) for g in self.groups]
        combos = (batch.select(keys).with_row_index("_row")
                  .group_by(keys).agg(pl.col("_row")))
        out: list[np.ndarray] = []
        for g in self.groups:
            mask = combos.select(g.mapping.filter_expr(combos.columns)).to_series()
            picked = combos.filter(mask.fill_null(False))["_row"]
            rows = (np.sort(picked.explode().to_numpy()).astype(np.int64) if picked.len()
                    else np.empty(0, dtype=np.int64))
            out.append(rows)
        return out

    @staticmethod
    def _filter_rows(g: _Group, batch: pl.DataFrame) -> np.ndarray:
        mask = batch.select(g.mapping.filter_expr(batch.columns)).to_series()
        return np.flatnonzero(mask.fill_null(False).to_numpy()).astype(np.int64)

    def match(self, frame: pl.DataFrame) -> pl.DataFrame:
        """(rule index, row position) of every match, sorted; row positions are ``frame``'s."""
        self.stats = EngineStats(events=frame.height)
        parts: list[pl.DataFrame] = []
        for start, batch in self._batches(frame):
            kw = KeywordIndex(batch, self._keyword_needles)
            for g, rows in zip(self.groups, self._route(batch), strict=True):
                if rows.size == 0:
                    continue
                self.stats.groups_evaluated += 1
                ev = GroupEvaluator(batch, None if rows.size == batch.height else rows,
                                    [self.rules[i].tree for i in g.rule_ids], kw,
                                    self.dedupe)
                for i in g.rule_ids:
                    self.stats.rule_evaluations += 1
                    hit = ev.evaluate(self.rules[i].tree).materialize(ev.n)
                    if hit.size:
                        parts.append(pl.DataFrame({
                            "rule": np.full(hit.size, i, dtype=np.uint32),
                            "row": (rows[hit] + start).astype(np.uint32)}))
                self.stats.leaf_evals += ev.stats["leaf_evals"]
                self.stats.restricted_evals += ev.stats["restricted_evals"]
        out = (pl.concat(parts) if parts else pl.DataFrame(schema=MATCH_SCHEMA))
        out = out.sort("rule", "row")
        self.stats.matches = out.height
        return out

    def explain(self, frame: pl.DataFrame, matches: pl.DataFrame) -> pl.DataFrame:
        """Per match, the positive leaves that hold: Sigma field, rule pattern, event value.

        Evaluated only over the matched rows of each rule (explanations only for alerts).
        """
        parts: list[pl.DataFrame] = []
        if matches.height == 0:
            return pl.DataFrame(schema=EXPLAIN_SCHEMA)
        every = np.unique(matches["row"].to_numpy().astype(np.int64))
        hit_rules = matches["rule"].unique().to_list()
        # one literal pass over the matched rows for all matched rules, views shared
        ev = GroupEvaluator(frame, every, [self.rules[i].tree for i in hit_rules],
                            dedupe=False)
        for (rule_idx,), grp in matches.group_by(["rule"], maintain_order=True):
            rule = self.rules[int(rule_idx)]
            local = np.searchsorted(every, grp["row"].to_numpy().astype(np.int64))
            for leaf in dict.fromkeys(positive_leaves(rule.tree)):
                hit = ev.leaf(leaf, local).restrict(local)
                if hit.size == 0:
                    continue
                values = ev.view(leaf.column, "text").gather(hit).str.slice(0, MAX_SHOWN_VALUE)
                parts.append(pl.DataFrame({
                    "rule": np.full(hit.size, rule_idx, dtype=np.uint32),
                    "row": every[hit].astype(np.uint32),
                    "field": [leaf.sigma_field] * hit.size,
                    "pattern": [_pattern(leaf)] * hit.size,
                    "value": values}, schema=EXPLAIN_SCHEMA))
        return pl.concat(parts) if parts else pl.DataFrame(schema=EXPLAIN_SCHEMA)


def _keyword_needles(rules: Sequence[CompiledRule]) -> set[str]:
    out: set[str] = set()
    for rule in rules:
        for leaf in leaves(rule.tree):
            if not (leaf.column and leaf.column[0] == KEYWORDS):
                continue
            if isinstance(leaf, Match) and not leaf.cased:
                out.add(leaf.needle)
            elif isinstance(leaf, Pattern):
                out.update(leaf.required)
    return out


def _pattern(leaf: Leaf) -> str:
    op = getattr(leaf, "op", None)
    kind = type(leaf).__name__.lower()
    label = op if isinstance(op, str) and kind == "match" else kind
    return f"{label} {leaf.shown}".strip()
