"""Evaluate all rules of one logsource over that logsource's events in a batch, together.

1. **Views.** Each (coalesced) column a leaf reads is built once for the batch: as text,
   lower-cased text, numbers, or the concatenated full text for keyword search.
2. **Literals, all at once.** Every equality literal of a view is found with one hash join;
   every substring/prefix/suffix literal (and the literal fragments guarding wildcard patterns)
   with one overlapping Aho-Corasick pass (Polars ``str.find_many``/``extract_many``, Aho &
   Corasick, CACM 18(6), 1975). Prefix/suffix follow from each hit's byte offset. With
   ``dedupe`` both passes run over the column's distinct values (dictionary encoding; only
   those are lower-cased) and hits expand back to rows. Keyword literals are searched per
   member column (screened first with one ``contains_any``), once per batch for all groups.
3. **Sparse trees.** Each rule's tree is evaluated on :class:`~.rowsets.RowSet` values. The
   children of an AND run cheapest first and stop at the first empty result, so a rule whose
   required literal occurs in no row costs one set lookup (the literal pre-filter); costly
   leaves (regex, CIDR, comparisons) then run only on the rows still alive, and results over
   whole columns are cached across the rules of the group.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from mirrorguard.detect.sigma.compiler import KEYWORDS
from mirrorguard.detect.sigma.ir import (
    And,
    Cidr,
    Column,
    Compare,
    Const,
    FieldEq,
    Leaf,
    Match,
    Node,
    Not,
    Null,
    NumEq,
    Or,
    Pattern,
    leaves,
    node_cost,
)
from mirrorguard.detect.sigma.rowsets import Rows, RowSet

_RESTRICT_FRACTION = 0.25
_DEDUPE_MIN_ROWS = 4096
_DEDUPE_MAX_RATIO = 0.6
_OPS = ("contains", "prefix", "suffix")


def _as_text(s: pl.Series) -> pl.Series:
    if isinstance(s.dtype, pl.List):
        return s.cast(pl.List(pl.String)).list.join(",")
    return s if s.dtype == pl.String else s.cast(pl.String)


def keyword_members(column: Column, names: Iterable[str]) -> list[str]:
    """The columns a keyword column stands for (``prefix.*`` patterns expanded)."""
    pats = column[1:]
    return [c for c in names if any(
        c.startswith(p[:-1]) if p.endswith("*") else c == p for p in pats)]


_EMPTY = np.empty(0, dtype=np.int64)
Found = dict[str, Rows]


def substrings(s: pl.Series, needles: list[str], dedupe: bool = True) -> dict[str, Found]:
    """Rows of ``s`` containing / starting with / ending with each needle (one AC pass).

    With ``dedupe`` the pass runs over the distinct values only (dictionary encoding: log
    fields such as image paths repeat heavily) and hits are expanded back to rows.
    """
    if dedupe and s.len() > _DEDUPE_MIN_ROWS:
        return _substrings_distinct(s, needles)
    table = pl.DataFrame({"txt": needles, "nlen": [len(n.encode()) for n in needles]})
    long = (pl.DataFrame({"pos": s.str.find_many(needles, overlapping=True),
                          "txt": s.str.extract_many(needles, overlapping=True),
                          "slen": s.str.len_bytes()})
            .with_row_index("row").explode(["pos", "txt"]).drop_nulls("txt")
            .join(table, on="txt", how="inner"))
    agg = long.group_by("txt").agg(
        pl.col("row").unique().sort().alias("contains"),
        pl.col("row").filter(pl.col("pos") == 0).unique().sort().alias("prefix"),
        pl.col("row").filter(pl.col("pos") + pl.col("nlen") == pl.col("slen"))
        .unique().sort().alias("suffix"))
    out: dict[str, Found] = {op: {} for op in _OPS}
    for txt, *cols in agg.iter_rows():
        for op, rows in zip(_OPS, cols, strict=True):
            if rows:
                out[op][txt] = np.asarray(rows, dtype=np.int64)
    return out


@dataclass(frozen=True)
class Distinct:
    """A column's distinct values and, for each, the rows holding it (dictionary encoding)."""

    values: pl.Series
    lengths: np.ndarray
    starts: np.ndarray
    flat: np.ndarray

    @classmethod
    def of(cls, s: pl.Series) -> Distinct | None:
        """None when the column is too diverse for the encoding to pay off."""
        groups = (pl.DataFrame({"v": s}).with_row_index("row").drop_nulls("v")
                  .group_by("v").agg(pl.col("row")))
        if groups.height > s.len() * _DEDUPE_MAX_RATIO:
            return None
        lengths = groups["row"].list.len().to_numpy().astype(np.int64)
        starts = np.concatenate(([0], np.cumsum(lengths)[:-1])).astype(np.int64)
        flat = groups["row"].explode().to_numpy().astype(np.int64)
        return cls(groups["v"], lengths, starts, flat)

    def rows(self, uids: Rows) -> Rows:
        """Sorted rows holding any of the distinct values ``uids``."""
        lens = self.lengths[uids]
        shift = np.repeat(self.starts[uids] - np.concatenate(([0], np.cumsum(lens)[:-1])), lens)
        out: Rows = np.sort(self.flat[shift + np.arange(int(lens.sum()))])
        return out

    def expand(self, found: dict[str, Found]) -> dict[str, Found]:
        return {op: {k: self.rows(v) for k, v in per.items()} for op, per in found.items()}


def _substrings_distinct(s: pl.Series, needles: list[str]) -> dict[str, Found]:
    d = Distinct.of(s)
    if d is None:
        return substrings(s, needles, dedupe=False)
    return d.expand(substrings(d.values, needles, dedupe=False))


def screened(s: pl.Series, needles: list[str], lower: bool) -> Found:
    """Rows containing each needle; ASCII needles are screened first with one
    case-insensitive ``contains_any`` pass so only hit rows are lower-cased and searched."""
    if lower and all(n.isascii() for n in needles):
        mask = s.str.contains_any(needles, ascii_case_insensitive=True).fill_null(False)
        idx = np.flatnonzero(mask.to_numpy())
        if idx.size == 0:
            return {}
        sub = s.gather(idx).str.to_lowercase()
        return {k: idx[v] for k, v in substrings(sub, needles)["contains"].items()}
    return substrings(s.str.to_lowercase() if lower else s, needles)["contains"]


@dataclass
class KeywordIndex:
    """Keyword hits per batch column, for every keyword needle of an engine, computed once
    per batch and shared by all logsource groups (each column is scanned once).

    (Screening all columns in one parallel ``select`` was measured 5x slower on chunked
    frames than this sequential per-column pass.)
    """

    batch: pl.DataFrame
    needles: list[str]
    _hits: dict[str, Found] = field(default_factory=dict)

    def hits(self, name: str) -> Found:
        if name not in self._hits:
            raw = self.batch.get_column(name)
            filled = raw.len() - raw.null_count()
            if filled == 0 or not self.needles:
                self._hits[name] = {}
            elif filled < raw.len() // 4:  # sparse column: scan only its values
                idx = raw.is_not_null().arg_true().to_numpy().astype(np.int64)
                found = screened(_as_text(raw.gather(idx)), self.needles, lower=True)
                self._hits[name] = {k: idx[v] for k, v in found.items()}
            else:
                self._hits[name] = screened(_as_text(raw), self.needles, lower=True)
        return self._hits[name]


@dataclass
class GroupEvaluator:
    """All rule trees of one logsource over that logsource's rows (``rows``) of a batch."""

    batch: pl.DataFrame
    rows: Rows | None
    trees: Sequence[Node]
    keywords: KeywordIndex | None = None
    dedupe: bool = True
    _base: dict[str, pl.Series | None] = field(default_factory=dict)
    _views: dict[tuple[Column, str], pl.Series] = field(default_factory=dict)
    _lits: dict[tuple[Column, str, str], Found] = field(default_factory=dict)
    _dicts: dict[tuple[Column, str], Distinct | None] = field(default_factory=dict)
    _cache: dict[Leaf, RowSet] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=lambda: {"leaf_evals": 0,
                                                            "restricted_evals": 0})

    def __post_init__(self) -> None:
        self.n = self.batch.height if self.rows is None else int(self.rows.size)
        self._names = self.batch.columns
        self._literal_pass(leaf for t in self.trees for leaf in leaves(t))

    # ---- views -----------------------------------------------------------------------
    def base(self, name: str) -> pl.Series | None:
        """One batch column, restricted to the group's rows, as text (None when absent)."""
        if name not in self._base:
            if name not in self._names:
                self._base[name] = None
            else:
                s = self.batch.get_column(name)
                s = s if self.rows is None else s.gather(self.rows)
                self._base[name] = None if s.null_count() == s.len() else _as_text(s)
        return self._base[name]

    def _nulls(self) -> pl.Series:
        return pl.Series("v", [None] * self.n, dtype=pl.String)

    def view(self, column: Column, kind: str) -> pl.Series:
        key = (column, kind)
        if key not in self._views:
            if kind == "text" and column and column[0] == KEYWORDS:
                parts = [b for c in keyword_members(column, self._names)
                         if (b := self.base(c)) is not None]
                s = (pl.DataFrame(parts).select(pl.concat_str(pl.all(), separator="\n",
                                                              ignore_nulls=True)).to_series()
                     if parts else self._nulls())
            elif kind == "text":
                parts = [b for c in column if (b := self.base(c)) is not None]
                s = parts[0] if parts else self._nulls()
                for p in parts[1:]:
                    s = s.fill_null(p)
            elif kind == "lower":
                s = self.view(column, "text").str.to_lowercase()
            else:  # num
                s = self.view(column, "text").str.strip_chars().cast(pl.Float64, strict=False)
            self._views[key] = s
        return self._views[key]

    # ---- literal pass ----------------------------------------------------------------
    def _literal_pass(self, all_leaves: Iterable[Leaf]) -> None:
        eqs: dict[tuple[Column, str], set[str]] = {}
        subs: dict[tuple[Column, str], set[str]] = {}
        for leaf in all_leaves:
            if isinstance(leaf, Match):
                kind = "text" if leaf.cased else "lower"
                target = eqs if leaf.op == "eq" else subs
                target.setdefault((leaf.column, kind), set()).add(leaf.needle)
            elif isinstance(leaf, Pattern) and leaf.required:
                subs.setdefault((leaf.column, "lower"), set()).update(leaf.required)
        for (col, kind), needles in eqs.items():
            d = self._distinct(col, kind)
            if d is None:
                self._lits[(col, kind, "eq")] = self._equalities(self.view(col, kind), needles)
            else:
                self._lits[(col, kind, "eq")] = d[0].expand(
                    {"eq": self._equalities(d[1], needles)})["eq"]
        for (col, kind), needles in subs.items():
            if col and col[0] == KEYWORDS:
                self._keyword_substrings(col, kind, sorted(needles))
                continue
            d = self._distinct(col, kind)
            found = (substrings(self.view(col, kind), sorted(needles), dedupe=False)
                     if d is None else d[0].expand(substrings(d[1], sorted(needles), False)))
            for op in _OPS:
                self._lits[(col, kind, op)] = found[op]

    def _distinct(self, col: Column, kind: str) -> tuple[Distinct, pl.Series] | None:
        """Dictionary encoding of a view's raw text, plus its distinct values in ``kind``
        (lower-casing only the distinct values); None when off or not worth it."""
        if not self.dedupe or self.n <= _DEDUPE_MIN_ROWS:
            return None
        key = (col, "distinct")
        if key not in self._dicts:
            self._dicts[key] = Distinct.of(self.view(col, "text"))
        d = self._dicts[key]
        if d is None:
            return None
        return d, (d.values.str.to_lowercase() if kind == "lower" else d.values)

    def _keyword_substrings(self, col: Column, kind: str, needles: list[str]) -> None:
        """Keyword literals: one pass per member column, hits united (no giant concat).

        Each batch column is screened in place (no gather) with one case-insensitive
        Aho-Corasick ``contains_any`` (exact for ASCII needles); only the group's rows that
        hit are lower-cased and searched in detail.
        """
        merged: dict[str, list[Rows]] = {}
        wanted = set(needles)
        shared = self.keywords is not None and kind == "lower" and wanted.issubset(
            self.keywords.needles)
        for name in keyword_members(col, self._names):
            if shared and self.keywords is not None:
                found = self.keywords.hits(name)
            else:
                raw = self.batch.get_column(name)
                if raw.null_count() == raw.len():
                    continue
                found = screened(_as_text(raw), needles, lower=kind != "text")
            for needle, rows in found.items():
                if needle not in wanted:
                    continue
                local = self._localize(rows)
                if local.size:
                    merged.setdefault(needle, []).append(local)
        self._lits[(col, kind, "contains")] = {
            k: np.unique(np.concatenate(v)) for k, v in merged.items()}
        for op in ("prefix", "suffix"):  # keyword literals are substring tests
            self._lits[(col, kind, op)] = {}

    def _localize(self, batch_rows: Rows) -> Rows:
        """Batch row positions → positions within the group (rows outside it dropped)."""
        if self.rows is None:
            return batch_rows
        at = np.searchsorted(self.rows, batch_rows)
        ok = (at < self.rows.size) & (self.rows[np.minimum(at, self.rows.size - 1)]
                                      == batch_rows)
        out: Rows = at[ok].astype(np.int64)
        return out

    @staticmethod
    def _equalities(s: pl.Series, needles: set[str]) -> Found:
        table = pl.DataFrame({"v": sorted(needles)})
        hits = (pl.DataFrame({"v": s}).with_row_index("row").join(table, on="v", how="inner")
                .group_by("v").agg(pl.col("row").sort()))
        return {v: np.asarray(r, dtype=np.int64) for v, r in hits.iter_rows()}

    # ---- trees -----------------------------------------------------------------------
    def evaluate(self, node: Node, within: Rows | None = None) -> RowSet:
        """Rows where ``node`` holds (exact on ``within`` when given, else everywhere)."""
        if isinstance(node, Leaf):
            return self.leaf(node, within)
        if isinstance(node, And):
            acc = RowSet.full()
            for child in sorted(node.children, key=node_cost):
                scope = within if acc.neg else acc.rows
                acc = acc & self.evaluate(child, scope)
                if acc.is_empty():
                    break
            return acc
        if isinstance(node, Or):
            return self._any(node.children, within)
        if isinstance(node, Not):
            return ~self.evaluate(node.child, within)
        if isinstance(node, Const):
            return RowSet.full() if node.value else RowSet.empty()
        raise TypeError(f"unknown node {node!r}")

    def _any(self, children: Sequence[Node], within: Rows | None) -> RowSet:
        """OR of children: one concatenation for the positive sets, empties skipped."""
        pos: list[Rows] = []
        neg: RowSet | None = None
        for child in children:
            r = self.evaluate(child, within)
            if r.neg:
                neg = r if neg is None else neg | r
            elif r.rows.size:
                pos.append(r.rows)
        union = (np.unique(np.concatenate(pos)) if len(pos) > 1 else pos[0]) if pos else _EMPTY
        if neg is None:
            return RowSet(union)
        return neg | RowSet(union)

    def leaf(self, leaf: Leaf, within: Rows | None = None) -> RowSet:
        if isinstance(leaf, Match):
            found = self._lits.get((leaf.column, "text" if leaf.cased else "lower", leaf.op))
            if found is not None:
                return RowSet(found.get(leaf.needle, _EMPTY))
        hit = self._cache.get(leaf)
        if hit is not None:
            return hit
        if within is not None and within.size < self.n * _RESTRICT_FRACTION:
            self.stats["restricted_evals"] += 1
            return RowSet(self._compute(leaf, within))
        self.stats["leaf_evals"] += 1
        rows = self._compute(leaf, None)
        self._cache[leaf] = RowSet(rows)
        return self._cache[leaf]

    def _compute(self, leaf: Leaf, within: Rows | None) -> Rows:
        """Positions (global to the group) where a non-literal leaf holds."""
        if isinstance(leaf, Pattern) and leaf.required:
            cand = RowSet.full()
            for lit in leaf.required:
                cand = cand & self.leaf(Match(leaf.column, op="contains", needle=lit))
            within = cand.rows if within is None else cand.restrict(within)
        mask = self._mask(leaf, within)
        base = np.arange(self.n, dtype=np.int64) if within is None else within
        out: Rows = base[mask]
        return out

    def _series(self, column: Column, kind: str, within: Rows | None) -> pl.Series:
        if within is not None and kind == "lower" and (column, kind) not in self._views:
            return self.view(column, "text").gather(within).str.to_lowercase()
        s = self.view(column, kind)
        return s if within is None else s.gather(within)

    def _mask(self, leaf: Leaf, within: Rows | None) -> np.ndarray:
        if isinstance(leaf, Pattern):
            s = self._series(leaf.column, "lower" if leaf.on_lower else "text", within)
            out = s.str.contains(leaf.regex)
        elif isinstance(leaf, Match):  # only reached for literals not pre-computed
            s = self._series(leaf.column, "text" if leaf.cased else "lower", within)
            out = {"eq": s == leaf.needle, "contains": s.str.contains(leaf.needle, literal=True),
                   "prefix": s.str.starts_with(leaf.needle),
                   "suffix": s.str.ends_with(leaf.needle)}[leaf.op]
        elif isinstance(leaf, NumEq):
            out = self._series(leaf.column, "num", within) == leaf.number
        elif isinstance(leaf, Compare):
            s = self._series(leaf.column, "num", within)
            out = {"lt": s < leaf.number, "lte": s <= leaf.number, "gt": s > leaf.number,
                   "gte": s >= leaf.number}[leaf.op]
        elif isinstance(leaf, Null):
            s = self._series(leaf.column, "text", within)
            out = s.is_null() | (s == "")
        elif isinstance(leaf, FieldEq):
            out = (self._series(leaf.column, "lower", within)
                   == self._series(leaf.other, "lower", within))
        elif isinstance(leaf, Cidr):
            out = cidr_mask(self._series(leaf.column, "text", within), leaf.networks)
        else:
            raise TypeError(f"unknown leaf {leaf!r}")
        return out.fill_null(False).to_numpy().astype(bool, copy=False)


def cidr_mask(s: pl.Series, networks: Sequence[str]) -> pl.Series:
    """Whether each address in ``s`` lies in any of ``networks`` (IPv4 vectorised).

    >>> cidr_mask(pl.Series(["10.1.2.3", "8.8.8.8", None, "fe80::1"]),
    ...           ["10.0.0.0/8", "fe80::/10"]).to_list()
    [True, False, False, True]
    """
    nets = [ipaddress.ip_network(n, strict=False) for n in networks]
    octets = s.str.extract_groups(r"^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$")
    parts = [octets.struct.field(str(i + 1)).cast(pl.Int64, strict=False) for i in range(4)]
    ip4 = parts[0] * 16777216 + parts[1] * 65536 + parts[2] * 256 + parts[3]
    out = pl.Series("m", np.zeros(len(s), dtype=bool))
    for net in nets:
        if net.version == 4:
            lo, hi = int(net.network_address), int(net.broadcast_address)
            out = out | ((ip4 >= lo) & (ip4 <= hi)).fill_null(False)
    v6 = [n for n in nets if n.version == 6]
    if v6:
        uniq = s.filter(s.str.contains(":", literal=True)).unique().to_list()
        inside = [u for u in uniq if _in_v6(u, v6)]
        out = out | s.is_in(inside).fill_null(False)
    return out


def _in_v6(text: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        addr = ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return any(addr.version == n.version and addr in n for n in nets)
