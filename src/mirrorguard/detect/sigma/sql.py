"""Compiled rules as SQLite ``WHERE`` clauses: the naive one-query-per-rule baseline.

Used by the ``sigma`` benchmark to compare the vectorised engine with scanning a table once per
rule, and to cross-check its results. Semantics follow the engine: case-insensitive equality
(``COLLATE NOCASE``) and ``LIKE`` (SQLite's ``LIKE`` folds ASCII case only), regular expressions
and CIDR tests through Python functions registered on the connection.

>>> import sqlite3
>>> from mirrorguard.detect.sigma.ir import Match
>>> con = sqlite3.connect(":memory:")
>>> register_functions(con)
>>> _ = con.execute('CREATE TABLE ev ("img" TEXT)')
>>> _ = con.executemany("INSERT INTO ev VALUES (?)", [("C:\\\\X\\\\CMD.EXE",), ("a.exe",)])
>>> where = to_sql(Match(("img",), op="suffix", needle="\\\\cmd.exe"), {"img": '"img"'})
>>> con.execute(f"SELECT count(*) FROM ev WHERE {where}").fetchone()[0]
1
"""

from __future__ import annotations

import ipaddress
import re
import sqlite3
from collections.abc import Mapping
from functools import lru_cache

from mirrorguard.detect.sigma.compiler import KEYWORDS
from mirrorguard.detect.sigma.ir import (
    And,
    Cidr,
    Column,
    Compare,
    Const,
    FieldEq,
    Match,
    Node,
    Not,
    Null,
    NumEq,
    Or,
    Pattern,
)

_CMP = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}


def quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _regexp(pattern: str, value: object) -> int:
    return int(value is not None and _compiled(pattern).search(str(value)) is not None)


def _cidr(net: str, value: object) -> int:
    if value is None:
        return 0
    try:
        return int(ipaddress.ip_address(str(value).split("%", 1)[0])
                   in ipaddress.ip_network(net, strict=False))
    except ValueError:
        return 0


def register_functions(con: sqlite3.Connection) -> None:
    """``REGEXP`` (Python ``re``) and ``cidr(net, value)`` on a connection."""
    con.create_function("regexp", 2, _regexp, deterministic=True)
    con.create_function("cidr", 2, _cidr, deterministic=True)


def _column(column: Column, quote: Mapping[str, str]) -> str:
    if column and column[0] == KEYWORDS:
        names = [q for c, q in quote.items() if any(
            c.startswith(p[:-1]) if p.endswith("*") else c == p for p in column[1:])]
        if not names:
            return "NULL"
        return "(" + " || char(10) || ".join(f"coalesce({n}, '')" for n in names) + ")"
    present = [quote[c] for c in column if c in quote]
    if not present:
        return "NULL"
    return present[0] if len(present) == 1 else "coalesce(" + ", ".join(present) + ")"


def _match(x: str, leaf: Match) -> str:
    if leaf.cased:
        n = _lit(leaf.needle)
        return {"eq": f"{x} = {n}", "contains": f"instr({x}, {n}) > 0",
                "prefix": f"substr({x}, 1, length({n})) = {n}",
                "suffix": f"substr({x}, -length({n})) = {n}"}[leaf.op]
    if leaf.op == "eq":
        return f"{x} = {_lit(leaf.needle)} COLLATE NOCASE"
    body = _like(leaf.needle)
    pat = {"contains": f"%{body}%", "prefix": f"{body}%", "suffix": f"%{body}"}[leaf.op]
    return f"{x} LIKE {_lit(pat)} ESCAPE '\\'"


def to_sql(node: Node, quote: Mapping[str, str]) -> str:
    """A rule tree as a SQL boolean expression over columns quoted by ``quote``."""
    if isinstance(node, And | Or):
        joiner = " AND " if isinstance(node, And) else " OR "
        return "(" + joiner.join(to_sql(c, quote) for c in node.children) + ")"
    if isinstance(node, Not):
        return f"(NOT coalesce({to_sql(node.child, quote)}, 0))"
    if isinstance(node, Const):
        return "1" if node.value else "0"
    x = _column(node.column, quote)
    if isinstance(node, Match):
        return f"coalesce({_match(x, node)}, 0)"
    if isinstance(node, Pattern):
        arg = f"lower({x})" if node.on_lower else x
        return f"regexp({_lit(node.regex)}, {arg})"
    if isinstance(node, NumEq):
        return f"coalesce(CAST({x} AS REAL) = {node.number!r}, 0)"
    if isinstance(node, Compare):
        return f"coalesce(CAST({x} AS REAL) {_CMP[node.op]} {node.number!r}, 0)"
    if isinstance(node, Null):
        return f"({x} IS NULL OR {x} = '')"
    if isinstance(node, FieldEq):
        return f"coalesce(lower({x}) = lower({_column(node.other, quote)}), 0)"
    if isinstance(node, Cidr):
        return "(" + " OR ".join(f"cidr({_lit(n)}, {x})" for n in node.networks) + ")"
    raise TypeError(f"unknown node {node!r}")
