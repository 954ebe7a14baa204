"""Sigma values (after pySigma applied the modifiers) → leaf predicates of :mod:`.ir`.

Strings are matched case-insensitively (Sigma's default) unless ``cased``. A string whose only
wildcards are a leading and/or trailing ``*`` becomes an equality, prefix, suffix or substring
test; any other wildcard pattern becomes an anchored regular expression over the lower-cased
column, guarded by its literal fragments. Regular expressions (``re`` with ``i``/``m``/``s``)
run on Polars' Rust regex engine, which matches in linear time: catastrophic backtracking
cannot happen, and constructs that need backtracking (look-around, back-references) are
rejected at compile time with the engine's reason.

>>> from sigma.types import SigmaString
>>> leaf = to_node(("c",), SigmaString("*\\\\CMD.exe"), "Image")
>>> leaf.op, leaf.needle, leaf.sigma_field
('suffix', '\\\\cmd.exe', 'Image')
"""

from __future__ import annotations

from collections.abc import Callable

import polars as pl
from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mirrorguard.detect.sigma.errors import SigmaRuleError
from mirrorguard.detect.sigma.ir import (
    Cidr,
    Column,
    Compare,
    CompareOp,
    FieldEq,
    Match,
    MatchOp,
    Node,
    Not,
    Null,
    NumEq,
    Or,
    Pattern,
)

MAX_REGEX_CHARS = 4096
_META = frozenset("\\.+*?()|[]{}^$#&-~")
_CMP: dict[CompareOperators, CompareOp] = {
    CompareOperators.LT: "lt", CompareOperators.LTE: "lte",
    CompareOperators.GT: "gt", CompareOperators.GTE: "gte",
}
_FLAGS = {SigmaRegularExpressionFlag.IGNORECASE: "i", SigmaRegularExpressionFlag.MULTILINE: "m",
          SigmaRegularExpressionFlag.DOTALL: "s"}

FieldResolver = Callable[[str], Column]


def regex_escape(text: str) -> str:
    """Escape ``text`` for the Rust regex syntax (only its meta characters)."""
    return "".join("\\" + ch if ch in _META else ch for ch in text)


def check_regex(regex: str) -> None:
    """Raise :class:`SigmaRuleError` when the Rust engine cannot compile ``regex`` or it is huge."""
    if len(regex) > MAX_REGEX_CHARS:
        raise SigmaRuleError(f"regex longer than {MAX_REGEX_CHARS} characters",
                             kind="regex too long")
    try:
        pl.Series("x", [""], dtype=pl.String).str.contains(regex)
    except pl.exceptions.PolarsError as exc:
        first = str(exc).strip().splitlines()
        detail = " ".join(x.strip() for x in first[-3:])[:200]
        raise SigmaRuleError(f"regex not supported by the linear-time engine: {detail}",
                             kind="unsupported regex") from exc


def _string(column: Column, value: SigmaString, sigma_field: str, keyword: bool) -> Node:
    cased = isinstance(value, SigmaCasedString)
    parts = list(value.s)
    if any(isinstance(p, Placeholder) for p in parts):
        names = [p.name for p in parts if isinstance(p, Placeholder)]
        raise SigmaRuleError(f"unresolved placeholder %{names[0]}% (no value configured)",
                             kind="unresolved placeholder")
    if keyword:
        multi = SpecialChars.WILDCARD_MULTI
        parts = ([] if parts[:1] == [multi] else [multi]) + parts
        parts += [] if parts[-1:] == [multi] else [multi]
    shown = str(getattr(value, "original", None) or value)
    lead = bool(parts) and parts[0] is SpecialChars.WILDCARD_MULTI
    trail = len(parts) > int(lead) and parts[-1] is SpecialChars.WILDCARD_MULTI
    core = parts[int(lead): len(parts) - int(trail)]
    if all(isinstance(p, str) for p in core):
        text = "".join(str(p) for p in core)
        needle = text if cased else text.lower()
        if not needle and (lead or trail):
            return Not(Null(column, sigma_field, shown))
        op: MatchOp = ("contains" if lead and trail else "suffix" if lead
                       else "prefix" if trail else "eq")
        return Match(column, sigma_field, text, op=op, needle=needle, cased=cased)
    pieces: list[str] = []
    required: list[str] = []
    for p in parts:
        if p is SpecialChars.WILDCARD_MULTI:
            pieces.append(".*")
        elif p is SpecialChars.WILDCARD_SINGLE:
            pieces.append(".")
        else:
            lit = str(p) if cased else str(p).lower()
            pieces.append(regex_escape(lit))
            if lit:
                required.append(lit)
    regex = "(?s)^" + "".join(pieces) + "$"
    check_regex(regex)
    req = tuple(sorted(set(required), key=len, reverse=True)[:2])
    return Pattern(column, sigma_field, shown, regex=regex, on_lower=not cased,
                   required=() if cased else req)


def _regex(column: Column, value: SigmaRegularExpression, sigma_field: str) -> Node:
    body = str(getattr(value.regexp, "original", None) or value.regexp)
    flags = "".join(sorted(_FLAGS[f] for f in value.flags))
    regex = f"(?{flags}){body}" if flags else body
    check_regex(regex)
    return Pattern(column, sigma_field, f"/{body}/{flags}", regex=regex)


def to_node(column: Column, value: SigmaType, sigma_field: str, *, keyword: bool = False,
            resolve: FieldResolver | None = None) -> Node:
    """One Sigma value compared with one (coalesced) column."""
    if isinstance(value, SigmaString):
        return _string(column, value, sigma_field, keyword)
    if isinstance(value, SigmaRegularExpression):
        return _regex(column, value, sigma_field)
    if isinstance(value, SigmaExpansion):
        return Or(tuple(to_node(column, v, sigma_field, keyword=keyword, resolve=resolve)
                        for v in value.values))
    if isinstance(value, SigmaBool):
        text = "true" if value.boolean else "false"
        return Match(column, sigma_field, text, op="eq", needle=text)
    if isinstance(value, SigmaNumber):
        return NumEq(column, sigma_field, str(value.number), number=float(value.number))
    if isinstance(value, SigmaNull):
        return Null(column, sigma_field, "null")
    if isinstance(value, SigmaExists):
        null = Null(column, sigma_field, f"exists: {bool(value)}")
        return Not(null) if value.exists else null
    if isinstance(value, SigmaCompareExpression):
        num = float(value.number.number)
        if value.op is CompareOperators.NEQ:
            return Not(NumEq(column, sigma_field, f"!= {num:g}", number=num))
        op = _CMP[value.op]
        return Compare(column, sigma_field, f"{op} {num:g}", op=op, number=num)
    if isinstance(value, SigmaCIDRExpression):
        return Cidr(column, sigma_field, value.cidr, networks=(str(value.network),))
    if isinstance(value, SigmaFieldReference):
        if resolve is None or value.starts_with or value.ends_with:
            raise SigmaRuleError("fieldref with startswith/endswith is not supported",
                                 kind="unsupported modifier")
        return FieldEq(column, sigma_field, f"= field {value.field}",
                       other=resolve(value.field))
    raise SigmaRuleError(f"value type {type(value).__name__} is not supported",
                         kind="unsupported value type")
