"""A streaming, Drain-style log template miner with JSON state.

The algorithm follows Drain (He, Zhu, Zheng, Lyu: "Drain: An Online Log Parsing Approach with
Fixed Depth Tree", ICWS 2017): lines are masked, split into tokens, routed through a fixed-depth
tree keyed by token count and the first tokens (tokens with digits route as ``<*>``), and joined
to the most similar template in the leaf when the share of equal tokens reaches ``similarity``;
the differing positions of the template then become ``<*>``.

Where it differs from Drain (and the drain3 library), on purpose:

* **Meaning guard.** Two lines that differ only in a plain word (``VM started`` /
  ``VM paused``) are different events, not one event with a parameter. Positions whose
  differing tokens are both value-like (digits, masked parts, ``key=value`` with the same key)
  generalise at once, as in Drain; a position where a plain word differs becomes ``<*>`` only
  after ``min_variants`` distinct words were seen there with everything else equal (a
  username does, a handful of lifecycle verbs does not), and only while the template keeps
  ``min_constant_words`` constant words. Until then each variant is its own template; on
  generalising, the variants are absorbed by the oldest, whose id they resolve to.
* **Masked values stay typed.** A ``<*>`` left by masking matches only another masked value,
  not an arbitrary word (``Fan speeds ( 1 2 **** )`` is not ``Fan speeds ( 1 2 3 )``).
* **Routing** uses a leading token only when it is a plain word, so variable first tokens
  (hosts, class names) do not scatter one event over many leaves.
* **Batched.** Masking runs over the whole batch in Rust (:class:`Masker`); each distinct masked
  line is routed once and remembered, so repeated lines cost one dictionary look-up.
* **Stable ids with history.** Ids are integers handed out in order of first appearance and never
  reused; when a template generalises, its earlier texts are kept in ``history``.
* **Plain JSON state**, never pickle: :meth:`TemplateMiner.to_json` /
  :meth:`TemplateMiner.from_json`. A restored miner continues exactly as if never stopped.

>>> miner = TemplateMiner()
>>> ids = miner.add(["VM 1 started", "VM 2 started", "VM 3 paused"])
>>> ids.tolist()
[0, 0, 1]
>>> miner.parameters(["VM 1 started"], ids[:1]).to_list()
[['1']]
>>> [miner.template(i) for i in (0, 1)]
['VM <*> started', 'VM <*> paused']
>>> TemplateMiner.from_json(miner.to_json()).add(["VM 9 started"]).tolist()
[0]
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from mirrorguard.errors import FormatError
from mirrorguard.features.templates.masking import DEFAULT_MASKS, WILDCARD, Masker

STATE_VERSION = 1
_DIGIT = re.compile(r"\d")


@dataclass
class Cluster:
    """One template: tokens, route in the tree, lines taken, history, learned variable slots.

    ``variables`` are the positions generalised from evidence (several distinct values seen);
    a ``<*>`` left by masking only matches another masked value. ``merged_into`` is set when
    the cluster was absorbed by another one (its id stays valid and resolves to that one).
    """

    id: int
    tokens: list[str]
    route: tuple[str, ...]
    size: int = 0
    history: list[str] = field(default_factory=list)
    variables: list[int] = field(default_factory=list)
    merged_into: int | None = None

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


def _is_word(token: str) -> bool:
    """A plain word: letters (with punctuation), no digit, no masked part."""
    return WILDCARD not in token and not _DIGIT.search(token) and any(
        ch.isalpha() for ch in token)


def _same_key(a: str, b: str) -> bool:
    """``key=value`` tokens with the same key: the values are parameters."""
    ka, sa, _ = a.partition("=")
    kb, sb, _ = b.partition("=")
    return bool(sa) and bool(sb) and ka == kb and bool(ka)


def _value_like(token: str) -> bool:
    return WILDCARD in token or _DIGIT.search(token) is not None


def _variable_pair(a: str, b: str) -> bool:
    """Two differing tokens that are plainly values (digits or masked parts on both sides)."""
    return _same_key(a, b) or (_value_like(a) and _value_like(b))


def _route_token(token: str) -> str:
    """Tokens route by their text only when they look like a plain word."""
    core = token.rstrip(":,;.")
    return token if core.isalpha() else WILDCARD


class TemplateMiner:
    """Online template mining over log message contents (see the module docstring).

    Parameters: ``similarity`` (Drain's ``st``), ``depth`` (tree depth; ``depth - 2`` leading
    tokens route), ``max_children`` per tree node, ``masks``/``extra_masks`` (see
    :class:`Masker`), the meaning guard (``min_variants`` distinct values before a constant
    position becomes a variable, ``max_new_variables`` positions at a time, at least
    ``min_constant_words`` constant words left), and ``cache_size`` (distinct masked lines
    remembered; cleared when full).
    """

    def __init__(
        self,
        *,
        similarity: float = 0.5,
        depth: int = 4,
        max_children: int = 100,
        masks: Sequence[str] = DEFAULT_MASKS,
        extra_masks: dict[str, str] | None = None,
        min_variants: int = 4,
        max_new_variables: int = 1,
        min_constant_words: int = 2,
        cache_size: int = 200_000,
    ) -> None:
        self.similarity = similarity
        self.depth = depth
        self.max_children = max_children
        self.masks = tuple(masks)
        self.extra_masks = extra_masks
        self.min_variants = min_variants
        self.max_new_variables = max_new_variables
        self.min_constant_words = min_constant_words
        self.cache_size = cache_size
        self._masker = Masker.from_config(self.masks, self.extra_masks)
        self.clusters_: list[Cluster] = []
        self.leaves_: dict[tuple[str, ...], list[int]] = {}
        self.children_: dict[tuple[str, ...], set[str]] = {}
        self.alias_: dict[int, int] = {}
        self.cache_: dict[str, int] = {}
        self.lines_seen_ = 0

    # ------------------------------------------------------------------ public API

    def mask(self, contents: Sequence[str] | pl.Series) -> pl.Series:
        """Contents with variables masked (the miner's view of each line)."""
        series = contents if isinstance(contents, pl.Series) else pl.Series(list(contents))
        return self._masker.apply(series.cast(pl.String).fill_null(""))

    def add(self, contents: Sequence[str] | pl.Series) -> np.ndarray:
        """Learn from a batch of contents; return the template id of every line."""
        masked = self.mask(contents).to_list()
        ids = np.empty(len(masked), dtype=np.int64)
        cache, alias = self.cache_, self.alias_
        for i, line in enumerate(masked):
            cid = cache.get(line)
            if cid is None:
                cid = self._learn_line(line)
                if len(cache) >= self.cache_size:
                    cache.clear()
                cache[line] = cid
            elif cid in alias:
                cid = alias[cid]
            ids[i] = cid
        counts = np.bincount(ids, minlength=len(self.clusters_))
        for hit in np.flatnonzero(counts).tolist():
            self.clusters_[hit].size += int(counts[hit])
        self.lines_seen_ += len(masked)
        return ids

    def match(self, contents: Sequence[str] | pl.Series) -> np.ndarray:
        """Template ids without learning: ``-1`` where no template fits the whole line."""
        masked = self.mask(contents).to_list()
        out = np.full(len(masked), -1, dtype=np.int64)
        memo: dict[str, int] = {}
        for i, line in enumerate(masked):
            cid = memo.get(line)
            if cid is None:
                cid = self._match_line(line.split())
                memo[line] = cid
            out[i] = cid
        return out

    def resolve(self, ids: np.ndarray) -> np.ndarray:
        """Ids mapped to the templates that absorbed them since (identity when none did)."""
        table = np.arange(len(self.clusters_), dtype=np.int64)
        for src, dst in self.alias_.items():
            table[src] = dst
        ids = np.asarray(ids, dtype=np.int64)
        return np.where(ids >= 0, table[np.clip(ids, 0, None)], ids) if len(table) else ids

    def template(self, cluster_id: int) -> str:
        """The current template text of one id (of the template that absorbed it, if any)."""
        return self.clusters_[self.alias_.get(cluster_id, cluster_id)].template

    def templates_of(self, ids: np.ndarray) -> pl.Series:
        """Current template text per line (vectorised gather)."""
        table = pl.Series("template", [c.template for c in self.clusters_], dtype=pl.String)
        return table.gather(pl.Series(self.resolve(ids))) if len(ids) else table.clear()

    def templates(self) -> pl.DataFrame:
        """One row per id: template, size, history (earlier texts), merged_into."""
        return pl.DataFrame(
            {
                "template_id": [c.id for c in self.clusters_],
                "template": [c.template for c in self.clusters_],
                "size": [c.size for c in self.clusters_],
                "history": [c.history for c in self.clusters_],
                "merged_into": [c.merged_into for c in self.clusters_],
            },
            schema={
                "template_id": pl.Int64(),
                "template": pl.String(),
                "size": pl.Int64(),
                "history": pl.List(pl.String()),
                "merged_into": pl.Int64(),
            },
        )

    # ------------------------------------------------------------------ tree and clusters

    def _route(self, tokens: list[str], create: bool) -> tuple[str, ...] | None:
        """Path through the tree: token count, then up to ``depth - 2`` leading tokens."""
        path: tuple[str, ...] = (str(len(tokens)),)
        for token in tokens[: max(self.depth - 2, 0)]:
            key = _route_token(token)
            children = self.children_.get(path)
            if children is None:
                if not create:
                    return None
                children = self.children_[path] = set()
            if key not in children:
                if not create:
                    key = WILDCARD
                    if key not in children:
                        return None
                elif len(children) >= self.max_children:
                    key = WILDCARD
                children.add(key)
            path = (*path, key)
        return path

    def _learn_line(self, line: str) -> int:
        tokens = line.split()
        route = self._route(tokens, create=True)
        assert route is not None
        leaf = self.leaves_.setdefault(route, [])
        best, diff = self._best(leaf, tokens)
        if best is not None and not diff:
            return best
        if best is not None and all(
            _variable_pair(self.clusters_[best].tokens[i], tokens[i]) for i in diff
        ):
            return self._generalise(self.clusters_[best], diff)
        cluster = Cluster(id=len(self.clusters_), tokens=tokens, route=route)
        self.clusters_.append(cluster)
        leaf.append(cluster.id)
        if best is not None and self._may_generalise(self.clusters_[best], diff):
            return self._add_variant(leaf, cluster, diff)
        return cluster.id

    def _generalise(self, cl: Cluster, diff: list[int]) -> int:
        """Drain's update: differing variable-looking positions become ``<*>``."""
        cl.history.append(cl.template)
        for i in diff:
            cl.tokens[i] = WILDCARD
        cl.variables = sorted({*cl.variables, *diff})
        return cl.id

    def _best(self, leaf: Iterable[int], tokens: list[str]) -> tuple[int | None, list[int]]:
        """Most similar template in a leaf (ties: more variables) and the positions differing."""
        best: int | None = None
        best_key = (-1.0, -1)
        n = len(tokens) or 1
        for cid in leaf:
            cl = self.clusters_[cid]
            tmpl = cl.tokens
            same = sum(1 for t, s in zip(tmpl, tokens, strict=True) if t == s)
            sim = (same + sum(1 for p in cl.variables if tmpl[p] != tokens[p])) / n
            key = (sim, len(cl.variables))
            if sim >= self.similarity and key > best_key:
                best, best_key = cid, key
        if best is None:
            return None, []
        cl = self.clusters_[best]
        var = set(cl.variables)
        diff = [i for i, (t, s) in enumerate(zip(cl.tokens, tokens, strict=True))
                if t != s and i not in var]
        return best, diff

    def _may_generalise(self, cl: Cluster, diff: list[int]) -> bool:
        """The meaning guard's structural part: one new slot, enough constant words left."""
        if self.min_variants < 2 or len(diff) > self.max_new_variables:
            return False
        skip = set(diff) | set(cl.variables)
        words = sum(1 for i, t in enumerate(cl.tokens) if i not in skip and _is_word(t))
        return words >= self.min_constant_words

    def _add_variant(self, leaf: list[int], new: Cluster, diff: list[int]) -> int:
        """Generalise ``diff`` once enough clusters differing only there were seen.

        The group is every cluster of the leaf that agrees with ``new`` outside ``diff``; when it
        holds ``min_variants`` distinct values at ``diff``, all of it merges into the oldest.
        """
        group = [self.clusters_[c] for c in leaf if self._agrees(self.clusters_[c], new, diff)]
        values = {tuple(cl.tokens[i] for i in diff) for cl in group}
        if len(values) < self.min_variants:
            return new.id
        survivor = min(group, key=lambda cl: cl.id)
        slots = set(diff).union(*(cl.variables for cl in group))
        survivor.history.append(survivor.template)
        survivor.tokens = [WILDCARD if i in slots else t for i, t in enumerate(survivor.tokens)]
        survivor.variables = sorted(slots)
        for cl in group:
            if cl is not survivor:
                self._absorb(cl, survivor, leaf)
        return survivor.id

    @staticmethod
    def _agrees(cl: Cluster, new: Cluster, diff: list[int]) -> bool:
        skip = set(diff).union(cl.variables)
        return all(t == s or i in skip
                   for i, (t, s) in enumerate(zip(cl.tokens, new.tokens, strict=True)))

    def _absorb(self, gone: Cluster, survivor: Cluster, leaf: list[int]) -> None:
        gone.merged_into = survivor.id
        survivor.size += gone.size
        gone.size = 0
        if gone.id in leaf:
            leaf.remove(gone.id)
        self.alias_[gone.id] = survivor.id
        for src, dst in list(self.alias_.items()):
            if dst == gone.id:
                self.alias_[src] = survivor.id

    def _match_line(self, tokens: list[str]) -> int:
        route = self._route(tokens, create=False)
        if route is None:
            return -1
        for cid in self.leaves_.get(route, []):
            cl = self.clusters_[cid]
            var = set(cl.variables)
            if all(t == s or i in var
                   for i, (t, s) in enumerate(zip(cl.tokens, tokens, strict=True))):
                return cid
        return -1

    # ------------------------------------------------------------------ parameters

    def parameters(self, contents: Sequence[str] | pl.Series, ids: np.ndarray) -> pl.Series:
        """The values behind each ``<*>`` of each line's template, as a list per line.

        Lines that no longer fit their template's text (rare) get an empty list.
        """
        series = contents if isinstance(contents, pl.Series) else pl.Series(list(contents))
        resolved = self.resolve(np.asarray(ids, dtype=np.int64))
        frame = pl.DataFrame({"content": series.cast(pl.String), "tid": resolved})
        empty = pl.List(pl.String)
        parts: list[pl.DataFrame] = [pl.DataFrame(schema={"row": pl.UInt32(), "parameters": empty})]
        for tid, group in frame.with_row_index("row").partition_by("tid", as_dict=True).items():
            cid = int(tid[0])
            pattern = _template_regex(self.clusters_[cid].tokens) if cid >= 0 else None
            if pattern is None:
                params = pl.Series([[]] * group.height, dtype=empty)
            else:
                params = group["content"].str.extract_groups(pattern).struct.unnest().select(
                    pl.concat_list(pl.all()).alias("p"))["p"].fill_null(pl.lit([], dtype=empty))
            parts.append(pl.DataFrame({"row": group["row"], "parameters": params}))
        return pl.concat(parts).sort("row")["parameters"]

    # ------------------------------------------------------------------ state

    def to_json(self) -> str:
        """All learned state and parameters as plain JSON text (no code, no pickle)."""
        return json.dumps(self._state(), separators=(",", ":"))

    def _state(self) -> dict[str, Any]:
        return {
            "kind": "mirrorguard.template_miner",
            "version": STATE_VERSION,
            "params": {
                "similarity": self.similarity,
                "depth": self.depth,
                "max_children": self.max_children,
                "masks": list(self.masks),
                "extra_masks": self.extra_masks,
                "min_variants": self.min_variants,
                "max_new_variables": self.max_new_variables,
                "min_constant_words": self.min_constant_words,
                "cache_size": self.cache_size,
            },
            "lines_seen": self.lines_seen_,
            "clusters": [
                {"id": c.id, "tokens": c.tokens, "route": list(c.route), "size": c.size,
                 "history": c.history, "variables": c.variables, "merged_into": c.merged_into}
                for c in self.clusters_
            ],
            "children": [[list(k), sorted(v)] for k, v in self.children_.items()],
            "cache": self.cache_,
        }

    @classmethod
    def from_json(cls, text: str | bytes) -> TemplateMiner:
        """Rebuild a miner saved with :meth:`to_json`; raises FormatError on bad state."""
        try:
            state = json.loads(text)
            if state.get("kind") != "mirrorguard.template_miner":
                raise FormatError("not a template miner state")
            if state.get("version") != STATE_VERSION:
                raise FormatError(f"unsupported miner state version {state.get('version')!r}")
            miner = cls(**state["params"])
            for i, c in enumerate(state["clusters"]):
                if c["id"] != i:
                    raise FormatError("template ids are not consecutive", record=str(i))
                cl = Cluster(int(c["id"]), [str(t) for t in c["tokens"]],
                             tuple(str(r) for r in c["route"]), int(c["size"]),
                             [str(h) for h in c["history"]])
                cl.variables = [int(v) for v in c["variables"]]
                cl.merged_into = None if c["merged_into"] is None else int(c["merged_into"])
                miner.clusters_.append(cl)
                if cl.merged_into is None:
                    miner.leaves_.setdefault(cl.route, []).append(cl.id)
                else:
                    miner.alias_[cl.id] = cl.merged_into
            miner.children_ = {tuple(k): set(v) for k, v in state["children"]}
            miner.cache_ = {str(k): int(v) for k, v in state["cache"].items()}
            miner.lines_seen_ = int(state["lines_seen"])
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"malformed template miner state: {exc}") from exc
        return miner


def _template_regex(tokens: list[str]) -> str | None:
    """An anchored regex capturing each ``<*>`` of a template, tolerant of spacing."""
    if WILDCARD not in " ".join(tokens):
        return None
    pieces = [
        "(.*?)".join(re.escape(part) for part in token.split(WILDCARD)) for token in tokens
    ]
    return r"^\s*" + r"\s+".join(pieces) + r"\s*$"
