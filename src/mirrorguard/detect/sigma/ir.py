"""The compiled form of a Sigma detection: a boolean tree over hashable leaf predicates.

Leaves name the columns they read (a :data:`Column` is a tuple of columns coalesced in order)
and compare by value only, so identical tests in different rules are evaluated once per batch.
The Sigma field and value a leaf came from ride along (``compare=False``) for explanations.

Kinds of leaf:

* :class:`Match` — case-insensitive (unless ``cased``) equality, prefix, suffix or substring test
  against one literal; all of a column's literals are found in one Aho-Corasick pass.
* :class:`Pattern` — a regular expression (Sigma ``re``, or a wildcard string turned into one),
  optionally guarded by literals that must occur for it to match (``required``).
* :class:`Cidr`, :class:`Compare`, :class:`NumEq`, :class:`Null`, :class:`FieldEq` — the rest
  of Sigma's value types (``cidr``, ``gt``/``lt``…, numbers, ``null``/``exists``,
  ``fieldref``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

Column = tuple[str, ...]
MatchOp = Literal["eq", "contains", "prefix", "suffix"]
CompareOp = Literal["lt", "lte", "gt", "gte"]


@dataclass(frozen=True)
class Leaf:
    """Base of every predicate; ``sigma_field``/``shown`` say where it came from."""

    column: Column
    sigma_field: str = field(default="", compare=False)
    shown: str = field(default="", compare=False)

    @property
    def cost(self) -> int:
        """Relative evaluation cost, used to order the children of an AND."""
        return 1


@dataclass(frozen=True)
class Match(Leaf):
    op: MatchOp = "eq"
    needle: str = ""
    cased: bool = False


@dataclass(frozen=True)
class Pattern(Leaf):
    regex: str = ""
    on_lower: bool = False  # the regex was written for the lower-cased column
    required: tuple[str, ...] = ()  # lower-case literals that must all occur

    @property
    def cost(self) -> int:
        return 5 if self.required else 20


@dataclass(frozen=True)
class Cidr(Leaf):
    networks: tuple[str, ...] = ()

    @property
    def cost(self) -> int:
        return 10


@dataclass(frozen=True)
class Compare(Leaf):
    op: CompareOp = "gt"
    number: float = 0.0

    @property
    def cost(self) -> int:
        return 3


@dataclass(frozen=True)
class NumEq(Leaf):
    number: float = 0.0

    @property
    def cost(self) -> int:
        return 2


@dataclass(frozen=True)
class Null(Leaf):
    """The field is absent, null or empty (Sigma ``null``; ``exists: false``)."""

    @property
    def cost(self) -> int:
        return 2


@dataclass(frozen=True)
class FieldEq(Leaf):
    other: Column = ()

    @property
    def cost(self) -> int:
        return 4


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    child: Node


@dataclass(frozen=True)
class Const:
    value: bool


Node = Leaf | And | Or | Not | Const


def leaves(node: Node) -> Iterator[Leaf]:
    """Every leaf of a tree (with repetition)."""
    if isinstance(node, Leaf):
        yield node
    elif isinstance(node, And | Or):
        for c in node.children:
            yield from leaves(c)
    elif isinstance(node, Not):
        yield from leaves(node.child)


def positive_leaves(node: Node, negated: bool = False) -> Iterator[Leaf]:
    """Leaves under an even number of NOTs: the ones that explain a match."""
    if isinstance(node, Leaf):
        if not negated:
            yield node
    elif isinstance(node, And | Or):
        for c in node.children:
            yield from positive_leaves(c, negated)
    elif isinstance(node, Not):
        yield from positive_leaves(node.child, not negated)


def node_cost(node: Node) -> int:
    """Cost estimate of a subtree (sum of its leaves' costs)."""
    if isinstance(node, Leaf):
        return node.cost
    if isinstance(node, And | Or):
        return sum(node_cost(c) for c in node.children)
    if isinstance(node, Not):
        return node_cost(node.child) + 1
    return 0


def simplify(node: Node) -> Node:
    """Flatten nested AND/OR, drop constants where they are neutral, fold double NOT."""
    if isinstance(node, And | Or):
        kind = type(node)
        flat: list[Node] = []
        for c in (simplify(c) for c in node.children):
            if isinstance(c, Const):
                if c.value == isinstance(node, Or):
                    return Const(c.value)  # absorbing element
                continue
            flat.extend(c.children if isinstance(c, kind) else (c,))
        if not flat:
            return Const(isinstance(node, And))
        return flat[0] if len(flat) == 1 else kind(tuple(flat))
    if isinstance(node, Not):
        inner = simplify(node.child)
        if isinstance(inner, Not):
            return inner.child
        if isinstance(inner, Const):
            return Const(not inner.value)
        return Not(inner)
    return node
