"""A parser for the subset of STIX 2.x patterning that indicators use in practice.

Grammar handled (STIX 2.1 Part 9, *Patterning*), with comparisons combined by ``AND``/``OR``
and parentheses inside one observation, and observations combined by ``OR``::

    [ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value ISSUBSET '203.0.113.0/24']
    [domain-name:value = 'evil.example'] OR [url:value = 'http://evil.example/x']
    [file:hashes.'SHA-256' = '…' AND file:hashes.MD5 = '…']
    [email-message:from_ref.value IN ('a@evil.example', 'b@evil.example')]

The comparison tree of each observation is put in disjunctive normal form; every conjunction
becomes a set of *atoms* that must all match one event. Anything else — ``!=``, ``LIKE``,
``MATCHES``, ``NOT``, ordering comparisons, observation ``AND``/``FOLLOWEDBY``, qualifiers
(``WITHIN``, ``REPEATS``, ``START … STOP``), or object paths with no event field — is reported as
unsupported (never silently dropped); a syntax error raises :class:`PatternError`.

>>> c = compile_pattern("[ipv4-addr:value = '1.2.3.4' OR file:hashes.'SHA-256' = 'AB']")
>>> [[(a.group, a.value) for a in conj] for conj in c.conjunctions]
[[('ip', '1.2.3.4')], [('sha256', 'AB')]]
>>> compile_pattern("[file:name MATCHES '^x']").unsupported
['MATCHES on file:name']
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import product

from mirrorguard.errors import FormatError

MAX_CONJUNCTIONS = 512


class PatternError(FormatError):
    """A STIX pattern is not valid syntax."""


@dataclass(frozen=True)
class Atom:
    """One comparison we can match: a type group, a value and optional field restriction."""

    group: str  # ip, domain, url, md5, sha1, sha256, email
    value: str
    fields: tuple[str, ...] = ()


@dataclass
class CompiledPattern:
    """DNF of matchable atoms, plus reasons for the parts that cannot be matched."""

    conjunctions: list[list[Atom]] = field(default_factory=list)
    unsupported: list[str] = field(default_factory=list)


# object path (lower-cased, quotes removed) -> (group, event-field restriction)
PATHS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ipv4-addr:value": ("ip", ()),
    "ipv6-addr:value": ("ip", ()),
    "network-traffic:src_ref.value": ("ip", ("source.ip",)),
    "network-traffic:dst_ref.value": ("ip", ("destination.ip",)),
    "domain-name:value": ("domain", ()),
    "url:value": ("url", ()),
    "file:hashes.md5": ("md5", ()),
    "file:hashes.sha-1": ("sha1", ()),
    "file:hashes.sha1": ("sha1", ()),
    "file:hashes.sha-256": ("sha256", ()),
    "file:hashes.sha256": ("sha256", ()),
    "email-addr:value": ("email", ()),
    "email-message:from_ref.value": ("email", ("email.from.address",)),
    "email-message:sender_ref.value": ("email", ("email.from.address",)),
    "email-message:to_refs[*].value": ("email", ("email.to.address",)),
}

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>[thb]?'(?:[^'\\]|\\.)*')
  | (?P<path>[a-z0-9][a-z0-9-]*:(?:[a-z0-9_-]+|'[^']*')
             (?:\.(?:[a-z0-9_-]+|'[^']*')|\[(?:\*|\d+)\])*)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op><=|>=|!=|=|<|>)
  | (?P<punct>[\[\](),])
  | (?P<word>[A-Za-z]+)
""", re.VERBOSE | re.IGNORECASE)

_KEYWORD_OPS = {"IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"}


@dataclass(frozen=True)
class _Cmp:
    path: str
    op: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class _Node:
    kind: str  # "and" | "or"
    items: tuple[_Cmp | _Node, ...]


def _tokenize(text: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None:
            raise PatternError(f"unexpected character {text[pos]!r} at offset {pos}")
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
        pos = m.end()
    return out


def _unquote(tok: str) -> str:
    body = tok[tok.index("'") + 1:-1]
    return re.sub(r"\\(.)", r"\1", body)


def _norm_path(path: str) -> str:
    return path.lower().replace("'", "")


class _Parser:
    def __init__(self, text: str) -> None:
        self.toks = _tokenize(text)
        self.i = 0
        self.unsupported: list[str] = []

    def peek(self) -> tuple[str, str]:
        return self.toks[self.i] if self.i < len(self.toks) else ("eof", "")

    def take(self, value: str | None = None) -> tuple[str, str]:
        tok = self.peek()
        if tok[0] == "eof":
            raise PatternError(f"pattern ends early (expected {value or 'more'})")
        if value is not None and tok[1].upper() != value:
            want = value or "a token"
            raise PatternError(f"expected {want} at token {self.i + 1}, found {tok[1]!r}")
        self.i += 1
        return tok

    def word(self, *words: str) -> bool:
        kind, val = self.peek()
        return kind == "word" and val.upper() in words

    # observation level -------------------------------------------------------------------
    def observations(self) -> list[_Cmp | _Node | None]:
        """Alternatives joined by observation OR; ``None`` marks an unsupported alternative."""
        alts = [self.obs_and()]
        while self.word("OR"):
            self.take()
            alts.append(self.obs_and())
        return alts

    def obs_and(self) -> _Cmp | _Node | None:
        first = self.obs_qualified()
        combined = False
        while self.word("AND", "FOLLOWEDBY"):
            op = self.take()[1].upper()
            self.obs_qualified()
            combined = True
            self.unsupported.append(f"observation {op} (needs correlation across events)")
        return None if combined else first

    def obs_qualified(self) -> _Cmp | _Node | None:
        node = self.obs_atom()
        while self.word("WITHIN", "REPEATS", "START"):
            q = self.take()[1].upper()
            self.take()  # number or timestamp
            if q == "WITHIN":
                self.take("SECONDS")
            elif q == "REPEATS":
                self.take("TIMES")
            else:
                self.take("STOP")
                self.take()
            self.unsupported.append(f"qualifier {q}")
            node = None
        return node

    def obs_atom(self) -> _Cmp | _Node | None:
        if self.peek()[1] == "(":
            self.take()
            alts = self.observations()
            self.take(")")
            kept = tuple(a for a in alts if a is not None)
            return _Node("or", kept) if kept else None
        self.take("[")
        node = self.comp_or()
        self.take("]")
        return node

    # comparison level --------------------------------------------------------------------
    def comp_or(self) -> _Cmp | _Node:
        items = [self.comp_and()]
        while self.word("OR"):
            self.take()
            items.append(self.comp_and())
        return items[0] if len(items) == 1 else _Node("or", tuple(items))

    def comp_and(self) -> _Cmp | _Node:
        items = [self.comp_atom()]
        while self.word("AND"):
            self.take()
            items.append(self.comp_atom())
        return items[0] if len(items) == 1 else _Node("and", tuple(items))

    def comp_atom(self) -> _Cmp | _Node:
        if self.peek()[1] == "(":
            self.take()
            node = self.comp_or()
            self.take(")")
            return node
        kind, path = self.take()
        if kind != "path":
            raise PatternError(f"expected an object path, found {path!r}")
        negated = self.word("NOT")
        if negated:
            self.take()
        op = self.take()[1].upper()
        if op not in _KEYWORD_OPS and op not in {"=", "!=", "<", ">", "<=", ">="}:
            raise PatternError(f"unknown comparison operator {op!r}")
        values = self.value_list() if op == "IN" else (self.value(),)
        return _Cmp(_norm_path(path), ("NOT " if negated else "") + op, values)

    def value(self) -> str:
        kind, val = self.take()
        if kind == "str":
            return _unquote(val)
        if kind == "num" or (kind == "word" and val.lower() in ("true", "false")):
            return val
        raise PatternError(f"expected a literal, found {val!r}")

    def value_list(self) -> tuple[str, ...]:
        self.take("(")
        vals = [self.value()]
        while self.peek()[1] == ",":
            self.take()
            vals.append(self.value())
        self.take(")")
        return tuple(vals)


def _dnf(node: _Cmp | _Node) -> list[list[_Cmp]]:
    if isinstance(node, _Cmp):
        if node.op == "IN":
            return [[_Cmp(node.path, "=", (v,))] for v in node.values]
        return [[node]]
    parts = [_dnf(x) for x in node.items]
    if node.kind == "or":
        out = [c for p in parts for c in p]
    else:
        total = 1
        for p in parts:
            total *= len(p)
        if total > MAX_CONJUNCTIONS:
            raise PatternError(f"pattern expands to {total} alternatives (> {MAX_CONJUNCTIONS})")
        out = [[c for conj in combo for c in conj] for combo in product(*parts)]
    if len(out) > MAX_CONJUNCTIONS:
        raise PatternError(f"pattern expands to {len(out)} alternatives (> {MAX_CONJUNCTIONS})")
    return out


def _atom(cmp: _Cmp) -> Atom | str:
    """The atom for a comparison, or the reason it cannot be matched."""
    target = PATHS.get(cmp.path)
    if target is None:
        return f"{cmp.op} on {cmp.path}" if cmp.op != "=" else f"no event field for {cmp.path}"
    group, fields = target
    if cmp.op == "=" or (cmp.op == "ISSUBSET" and group == "ip"):
        return Atom(group, cmp.values[0], fields)
    return f"{cmp.op} on {cmp.path}"


def compile_pattern(text: str) -> CompiledPattern:
    """Parse ``text`` and return its matchable DNF; raises :class:`PatternError` on bad syntax."""
    parser = _Parser(text)
    alts = parser.observations()
    if parser.peek()[0] != "eof":
        raise PatternError(f"unexpected {parser.peek()[1]!r} after the pattern")
    out = CompiledPattern(unsupported=list(parser.unsupported))
    for alt in alts:
        if alt is None:
            continue
        for conj in _dnf(alt):
            atoms = [_atom(c) for c in conj]
            reasons = [a for a in atoms if isinstance(a, str)]
            if reasons:
                out.unsupported.extend(reasons)
            else:
                out.conjunctions.append([a for a in atoms if isinstance(a, Atom)])
    return out
