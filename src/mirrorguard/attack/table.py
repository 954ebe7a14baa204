"""Offline MITRE ATT&CK lookups: technique and tactic names, kill-chain order, platforms.

The table ships with mirrorguard (``enterprise.json.gz``, generated from ATT&CK Enterprise by
:mod:`mirrorguard.attack.build`; refresh with ``mirrorguard attack refresh BUNDLE``). MITRE
ATT&CK® © The MITRE Corporation, reproduced with permission; see :attr:`AttackTable.meta`.

>>> t = lookup("attack.t1059.001")
>>> t.id, t.name, t.tactics, t.full_name
('T1059.001', 'PowerShell', ('execution',), 'Command and Scripting Interpreter: PowerShell')
>>> tactic_order("credential_access") < tactic_order("lateral-movement")
True
>>> [x.id for x in techniques_from_tags(["attack.execution", "attack.t1003.001", "car.x"])]
['T1003.001']
>>> [x.shortname for x in tactics_from_tags(["attack.t1003.001", "attack.execution"])]
['execution']
>>> [x.shortname for x in tactics_from_tags(["attack.t1003.001"], implied=True)]
['credential-access']
"""

from __future__ import annotations

import gzip
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

from mirrorguard.attack.build import TABLE_FORMAT, TABLE_FORMAT_VERSION
from mirrorguard.errors import FormatError

RESOURCE = "enterprise.json.gz"
_TECH_RE = re.compile(r"^(?:attack\.)?(t\d{4}(?:\.\d{3})?)$", re.IGNORECASE)
_TACTIC_ID_RE = re.compile(r"^(?:attack\.)?(ta\d{4})$", re.IGNORECASE)


@dataclass(frozen=True)
class Tactic:
    """An ATT&CK tactic: ``TA0006``, ``credential-access``, ``Credential Access``, order 7."""

    id: str
    shortname: str
    name: str
    order: int


@dataclass(frozen=True)
class Technique:
    """An ATT&CK technique or sub-technique."""

    id: str
    name: str
    tactics: tuple[str, ...]
    platforms: tuple[str, ...]
    subtechnique: bool = False
    deprecated: bool = False
    revoked: bool = False
    revoked_by: str | None = None
    parent_name: str | None = None

    @property
    def parent(self) -> str | None:
        """The parent technique id of a sub-technique (``T1059`` for ``T1059.001``)."""
        return self.id.split(".", 1)[0] if "." in self.id else None

    @property
    def full_name(self) -> str:
        """``Parent: Child`` for sub-techniques, as ATT&CK writes them."""
        return f"{self.parent_name}: {self.name}" if self.parent_name else self.name


@dataclass(frozen=True)
class TagMapping:
    """What a list of tags (Sigma ``attack.*`` style) says about ATT&CK."""

    techniques: tuple[Technique, ...]
    tactics: tuple[Tactic, ...]
    unknown: tuple[str, ...]


def _norm_tactic(name: str) -> str:
    low = name.strip().lower()
    low = low.removeprefix("attack.")
    return low.replace("_", "-").replace(" ", "-")


class AttackTable:
    """An immutable ATT&CK table. Use :func:`default_table` for the shipped one."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        if data.get("format") != TABLE_FORMAT or data.get("format_version") != TABLE_FORMAT_VERSION:
            raise FormatError("not a mirrorguard ATT&CK table (format/version mismatch)")
        try:
            tactics = [Tactic(str(t["id"]), str(t["shortname"]), str(t["name"]), i)
                       for i, t in enumerate(data["tactics"])]
            raw = data["techniques"]
            names = {tid: str(rec["name"]) for tid, rec in raw.items()}
            techniques = {tid: _technique(tid, rec, names) for tid, rec in raw.items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise FormatError(f"malformed ATT&CK table: {exc!r}") from exc
        self.meta: Mapping[str, Any] = MappingProxyType(dict(data.get("meta", {})))
        self.tactics: tuple[Tactic, ...] = tuple(tactics)
        self.techniques: Mapping[str, Technique] = MappingProxyType(techniques)
        keys: dict[str, Tactic] = {}
        for t in tactics:
            keys.update({t.shortname: t, t.id.lower(): t, _norm_tactic(t.name): t})
        self._tactic_keys: Mapping[str, Tactic] = MappingProxyType(keys)

    @classmethod
    def from_file(cls, path: Path) -> AttackTable:
        """Load a generated table (``.json.gz`` or ``.json``)."""
        try:
            raw = path.read_bytes()
            data = json.loads(gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw)
        except (OSError, EOFError, gzip.BadGzipFile, json.JSONDecodeError) as exc:
            raise FormatError(f"cannot read ATT&CK table: {exc}", file=str(path)) from exc
        return cls(data)

    def lookup(self, technique_id: str, *, follow_revoked: bool = True) -> Technique | None:
        """A technique by id (``T1059.001``, ``t1059.001`` or ``attack.t1059.001``).

        Revoked techniques are followed to their replacement unless ``follow_revoked=False``.
        An unknown sub-technique gives ``None`` (its parent is not guessed).
        """
        m = _TECH_RE.match(technique_id.strip())
        if m is None:
            return None
        tech = self.techniques.get(m.group(1).upper())
        seen = 0
        while follow_revoked and tech is not None and tech.revoked_by and seen < 8:
            tech, seen = self.techniques.get(tech.revoked_by, tech), seen + 1
        return tech

    def tactic(self, name: str) -> Tactic | None:
        """A tactic by short name (``credential-access``/``credential_access``), id or name."""
        key = _norm_tactic(name)
        return self._tactic_keys.get(key)

    def tactic_order(self, name: str) -> int:
        """Kill-chain position of a tactic (0 = reconnaissance … 13 = impact); -1 if unknown."""
        tac = self.tactic(name)
        return -1 if tac is None else tac.order

    def parse_tags(self, tags: Iterable[str]) -> TagMapping:
        """Split tags into known techniques, explicit tactics and unknown ``attack.*`` tags.

        Tags outside the ``attack.`` namespace (``cve.*``, ``car.*``) are ignored; group and
        software tags (``attack.g0016``, ``attack.s0002``) are neither techniques nor unknown.
        """
        techs: dict[str, Technique] = {}
        tactics: dict[str, Tactic] = {}
        unknown: list[str] = []
        for tag in tags:
            low = tag.strip().lower()
            if not low.startswith("attack."):
                continue
            if _TECH_RE.match(low):
                tech = self.lookup(low)
                if tech is None:
                    unknown.append(tag)
                else:
                    techs.setdefault(tech.id, tech)
            elif re.match(r"^attack\.[gs]\d{4}$", low):
                continue
            elif (tac := self.tactic(low)) is not None:
                tactics.setdefault(tac.shortname, tac)
            else:
                unknown.append(tag)
        ordered = tuple(sorted(tactics.values(), key=lambda t: t.order))
        return TagMapping(tuple(techs.values()), ordered, tuple(unknown))

    def tactics_of(self, techniques: Iterable[Technique]) -> tuple[Tactic, ...]:
        """Distinct tactics of some techniques, in kill-chain order."""
        found = {s for t in techniques for s in t.tactics}
        return tuple(t for t in self.tactics if t.shortname in found)


def _technique(tid: str, rec: Mapping[str, Any], names: Mapping[str, str]) -> Technique:
    parent = tid.split(".", 1)[0] if "." in tid else None
    return Technique(
        id=tid, name=str(rec["name"]), tactics=tuple(rec.get("tactics", ())),
        platforms=tuple(rec.get("platforms", ())), subtechnique=bool(rec.get("subtechnique")),
        deprecated=bool(rec.get("deprecated")), revoked=bool(rec.get("revoked")),
        revoked_by=rec.get("revoked_by"),
        parent_name=names.get(parent) if parent else None,
    )


@cache
def default_table() -> AttackTable:
    """The table shipped in the package (loaded once; immutable)."""
    raw = resources.files("mirrorguard.attack").joinpath(RESOURCE).read_bytes()
    return AttackTable(json.loads(gzip.decompress(raw)))


def lookup(technique_id: str, *, follow_revoked: bool = True) -> Technique | None:
    """:meth:`AttackTable.lookup` on the shipped table."""
    return default_table().lookup(technique_id, follow_revoked=follow_revoked)


def tactic(name: str) -> Tactic | None:
    """:meth:`AttackTable.tactic` on the shipped table."""
    return default_table().tactic(name)


def tactic_order(name: str) -> int:
    """:meth:`AttackTable.tactic_order` on the shipped table (-1 when unknown)."""
    return default_table().tactic_order(name)


def techniques_from_tags(tags: Iterable[str]) -> tuple[Technique, ...]:
    """Known techniques named by ``attack.tNNNN[.NNN]`` tags, in tag order (unknown ids dropped;
    use :meth:`AttackTable.parse_tags` to see them)."""
    return default_table().parse_tags(tags).techniques


def tactics_from_tags(tags: Iterable[str], *, implied: bool = False) -> tuple[Tactic, ...]:
    """Tactics named by ``attack.<tactic>`` tags in kill-chain order; with ``implied=True`` the
    tactics of tagged techniques are used when no tactic tag is present."""
    table = default_table()
    mapping = table.parse_tags(tags)
    if mapping.tactics or not implied:
        return mapping.tactics
    return table.tactics_of(mapping.techniques)
