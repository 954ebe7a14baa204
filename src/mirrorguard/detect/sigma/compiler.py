"""Compile pySigma rules into :mod:`.ir` trees over our columns.

pySigma parses the rule (YAML, modifiers, condition grammar including ``1 of``/``all of``,
``not`` and parentheses) and hands over a condition tree whose leaves are field/value pairs;
here each field goes through the rule's logsource mapping (:mod:`.pipeline`) and each value
becomes a leaf predicate (:mod:`.values`). Anything that cannot be compiled raises
:class:`~.errors.SigmaRuleError` with a reason category; the loader records it with the rule's
file and line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import SigmaBool, SigmaNumber, SigmaString

from mirrorguard.detect.sigma.errors import SigmaRuleError
from mirrorguard.detect.sigma.ir import And, Column, Const, Node, Not, Or, simplify
from mirrorguard.detect.sigma.pipeline import LogsourceMapping, PipelineSet
from mirrorguard.detect.sigma.values import to_node

#: marker opening a Column that means "the full text of these columns" (keyword search)
KEYWORDS = "\x00keywords"
LEVELS = ("informational", "low", "medium", "high", "critical")


@dataclass(frozen=True)
class CompiledRule:
    """A Sigma rule ready to evaluate: metadata, its logsource mapping and its tree."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    mapping: LogsourceMapping
    tree: Node
    name: str | None = None
    status: str = ""
    file: str = ""
    line: int | None = None

    @property
    def techniques(self) -> tuple[str, ...]:
        """ATT&CK technique ids from ``attack.tNNNN[.NNN]`` tags (upper-cased)."""
        return tuple(t.split(".", 1)[1].upper() for t in self.tags
                     if t.lower().startswith("attack.t") and t[8:9].isdigit())

    @property
    def tactics(self) -> tuple[str, ...]:
        """ATT&CK tactic names from ``attack.<tactic>`` tags (``credential-access`` form)."""
        out = []
        for t in self.tags:
            low = t.lower()
            if low.startswith("attack.") and not (low[7:8] in "tsg" and low[8:9].isdigit()):
                out.append(low[7:].replace("_", "-"))
        return tuple(out)


@dataclass(frozen=True)
class CompiledCorrelation:
    """A Sigma correlation rule over the matches of base rules (by id)."""

    id: str
    title: str
    level: str
    tags: tuple[str, ...]
    type: str
    rules: tuple[str, ...]
    group_by: tuple[str, ...]
    timespan_s: int
    op: str
    count: float
    field: str | None = None
    generate: bool = False
    name: str | None = None
    file: str = ""
    line: int | None = None


def _level(rule: SigmaRule | SigmaCorrelationRule) -> str:
    lvl = getattr(rule, "level", None)
    name = str(getattr(lvl, "name", lvl) or "medium").lower()
    return name if name in LEVELS else "medium"


def _keyword_column(mapping: LogsourceMapping) -> Column:
    if not mapping.keywords:
        raise SigmaRuleError(f"keyword search not supported for logsource {mapping.id}",
                             kind="keywords not supported for logsource")
    return (KEYWORDS, *mapping.keywords)


class _Converter:
    def __init__(self, mapping: LogsourceMapping) -> None:
        self.mapping = mapping

    def column(self, sigma_field: str) -> Column:
        cols = self.mapping.columns_for(sigma_field)
        if cols is None:
            raise SigmaRuleError(
                f"field {sigma_field!r} not mapped for logsource {self.mapping.id}",
                kind="field not mapped", record=sigma_field)
        return cols

    def convert(self, node: Any) -> Node:
        if node is None:
            return Const(True)
        if isinstance(node, ConditionAND):
            return And(tuple(self.convert(a) for a in node.args))
        if isinstance(node, ConditionOR):
            return Or(tuple(self.convert(a) for a in node.args))
        if isinstance(node, ConditionNOT):
            return Not(self.convert(node.args[0]))
        if isinstance(node, ConditionFieldEqualsValueExpression):
            try:
                return to_node(self.column(node.field), node.value, node.field,
                               resolve=self.column)
            except SigmaRuleError as exc:
                exc.record = exc.record or node.field
                raise
        if isinstance(node, ConditionValueExpression):
            value = node.value
            if isinstance(value, SigmaNumber | SigmaBool):
                value = SigmaString(str(value))
            return to_node(_keyword_column(self.mapping), value, "keyword", keyword=True)
        raise SigmaRuleError(f"condition element {type(node).__name__} not supported",
                             kind="unsupported condition")


def compile_rule(rule: SigmaRule, pipelines: PipelineSet, file: str = "",
                 line: int | None = None) -> CompiledRule:
    """A pySigma rule → :class:`CompiledRule` (raises :class:`SigmaRuleError`)."""
    ls = rule.logsource
    logsource = {"product": ls.product, "category": ls.category, "service": ls.service}
    mapping = pipelines.resolve(logsource)
    if mapping is None:
        shown = "/".join(f"{k}={v}" for k, v in logsource.items() if v)
        raise SigmaRuleError(f"no pipeline for logsource {shown}",
                             kind="no pipeline for logsource")
    conv = _Converter(mapping)
    try:
        trees = [conv.convert(c.parsed) for c in rule.detection.parsed_condition]
    except SigmaError as exc:
        raise SigmaRuleError(f"condition: {exc}", kind="invalid condition",
                             record="condition") from exc
    tree = simplify(Or(tuple(trees)))
    return CompiledRule(
        id=str(rule.id) if rule.id else (rule.title or file), title=rule.title or "",
        level=_level(rule), tags=tuple(str(t) for t in rule.tags), mapping=mapping, tree=tree,
        name=rule.name, status=str(getattr(rule.status, "name", rule.status) or "").lower(),
        file=file, line=line,
    )


_CORR_TYPES = ("event_count", "value_count", "temporal", "temporal_ordered")


def compile_correlation(rule: SigmaCorrelationRule, file: str = "",
                        line: int | None = None) -> CompiledCorrelation:
    """A pySigma correlation rule → :class:`CompiledCorrelation` (references unresolved)."""
    ctype = str(rule.type.name).lower()
    if ctype not in _CORR_TYPES:
        raise SigmaRuleError(f"correlation type {ctype} not supported",
                             kind="unsupported correlation type")
    cond = rule.condition
    op, count, fieldref = "gte", 1.0, None
    if isinstance(cond, SigmaCorrelationCondition):
        op, count = cond.op.name.lower(), float(cond.count)
        fieldref = cond.fieldref if isinstance(cond.fieldref, str) else (
            cond.fieldref[0] if cond.fieldref else None)
    elif cond is not None and ctype not in ("temporal", "temporal_ordered"):
        raise SigmaRuleError("extended correlation conditions are not supported",
                             kind="unsupported correlation condition")
    if ctype == "value_count" and not fieldref:
        raise SigmaRuleError("value_count needs condition.field",
                             kind="invalid correlation")
    return CompiledCorrelation(
        id=str(rule.id) if rule.id else (rule.title or file), title=rule.title or "",
        level=_level(rule), tags=tuple(str(t) for t in rule.tags), type=ctype,
        rules=tuple(r.reference for r in (rule.rules or [])),
        group_by=tuple(rule.group_by or ()), timespan_s=int(rule.timespan.seconds),
        op=op, count=count, field=fieldref, generate=bool(rule.generate), name=rule.name,
        file=file, line=line,
    )
