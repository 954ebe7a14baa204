"""Warning-lists: known-benign values (public resolvers, CDN edges, private ranges) to suppress.

The format is MISP's warninglist JSON (``name``, ``version``, ``description``, ``type``,
``matching_attributes``, ``list``) with the types ``string`` (exact), ``hostname`` (the name
and its subdomains), ``cidr`` (addresses and networks), ``substring`` and ``regex``.
``matching_attributes`` (MISP attribute types) restrict a list to some indicator groups; when
absent, ``cidr`` lists apply to IPs, ``hostname`` lists to domains, URL hosts and e-mail
domains, and the others to every value. Built-in lists ship as package data
(:func:`builtin_lists`); users add their own files (MISP's ``misp-warninglists`` repository
works as is).

Checking is vectorised over a frame of (group, value) pairs: one ``is_in`` per exact list, a
suffix explosion for hostnames, the prefix-length index (:mod:`.ipindex`) for CIDRs.

>>> import polars as pl
>>> wl = WarningLists(builtin_lists())
>>> q = pl.DataFrame({"group": ["ip", "ip", "domain", "url"],
...                   "value": ["8.8.8.8", "198.51.100.7", "a1.cdn.cloudflare.net",
...                             "https://x.cloudfront.net/p"]})
>>> wl.check(q, "group", "value").to_list()
['mirrorguard: public DNS resolvers', None, 'mirrorguard: major CDN and cloud-edge hostnames', \
'mirrorguard: major CDN and cloud-edge hostnames']
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl

from mirrorguard.detect.intel.ipindex import IpPrefixIndex
from mirrorguard.detect.intel.misp import TYPES as MISP_TYPES
from mirrorguard.detect.intel.model import IntelFormatError
from mirrorguard.detect.intel.normalize import domain_suffixes, norm_domain, parse_ips

LIST_TYPES = ("string", "substring", "hostname", "cidr", "regex")
ALL_GROUPS = frozenset({"ip", "domain", "url", "md5", "sha1", "sha256", "email"})
_DEFAULT_GROUPS = {"cidr": frozenset({"ip"}), "hostname": frozenset({"domain", "url", "email"})}


@dataclass(frozen=True)
class WarningList:
    """One list: its name, MISP type, the indicator groups it applies to, and its values."""

    name: str
    type: str
    groups: frozenset[str]
    values: tuple[str, ...]
    description: str = ""
    source: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "") -> WarningList:
        """Parse MISP warninglist JSON."""
        typ = str(data.get("type", "string"))
        if typ not in LIST_TYPES:
            raise IntelFormatError(f"unknown warninglist type {typ!r}", file=source)
        if not isinstance(data.get("list"), list) or not data.get("name"):
            raise IntelFormatError("warninglist needs 'name' and a 'list'", file=source)
        attrs = [str(a) for a in data.get("matching_attributes") or []]
        groups = {g for a in attrs for g, _ in MISP_TYPES.get(a, ())}
        groups = {"domain" if g == "hostname" else g for g in groups}
        if not attrs:
            groups = set(_DEFAULT_GROUPS.get(typ, ALL_GROUPS))
        return cls(str(data["name"]), typ, frozenset(groups),
                   tuple(str(v) for v in data["list"]), str(data.get("description", "")), source)

    @classmethod
    def from_file(cls, path: Path) -> WarningList:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise IntelFormatError(f"cannot read warninglist: {exc}", file=str(path)) from exc
        if not isinstance(data, dict):
            raise IntelFormatError("warninglist is not a JSON object", file=str(path))
        return cls.from_dict(data, source=str(path))


def builtin_lists() -> list[WarningList]:
    """The lists shipped with mirrorguard (``detect/intel/warninglists/*.json``)."""
    root = resources.files("mirrorguard.detect.intel").joinpath("warninglists")
    out = []
    for item in sorted(root.iterdir(), key=lambda p: p.name):
        if item.name.endswith(".json"):
            out.append(WarningList.from_dict(json.loads(item.read_text("utf-8")),
                                             source=f"builtin:{item.name}"))
    return out


def _host_of(group: pl.Expr, value: pl.Expr) -> pl.Expr:
    """The host name a value carries: domains as is, URL hosts, e-mail domains."""
    return (pl.when(group == "domain").then(value)
            .when(group == "url").then(value.str.extract(r"^[a-z][a-z0-9+.\-]*://([^/:?#@]+)"))
            .when(group == "email").then(value.str.extract(r"@([^@]+)$")))


class WarningLists:
    """Several warning-lists compiled for vectorised checks."""

    def __init__(self, lists: Sequence[WarningList]) -> None:
        self.lists = list(lists)
        self._cidr: list[tuple[WarningList, IpPrefixIndex]] = []
        for wl in self.lists:
            if wl.type == "cidr":
                parsed = parse_ips(pl.Series(wl.values, dtype=pl.String))
                self._cidr.append((wl, IpPrefixIndex(
                    parsed, pl.Series([0] * len(wl.values), dtype=pl.UInt32))))

    def _hits(self, wl: WarningList, q: pl.DataFrame) -> pl.Series:
        """Row keys ``_q`` of ``q`` (columns _q, _g, _v) that ``wl`` lists."""
        sub = q.filter(pl.col("_g").is_in(list(wl.groups)))
        if sub.height == 0:
            return pl.Series("_q", [], dtype=pl.UInt32)
        vals = pl.Series(wl.values, dtype=pl.String)
        if wl.type == "cidr":
            idx = next(i for w, i in self._cidr if w is wl)
            parsed = parse_ips(sub["_v"]).with_columns(sub["_q"])
            return idx.lookup(parsed)["_q"]
        if wl.type == "hostname":
            hosts = sub.select("_q", norm_domain(_host_of(pl.col("_g"), pl.col("_v"))).alias("h"))
            hosts = hosts.drop_nulls("h")
            suffixes = domain_suffixes(hosts["h"].unique())
            listed = suffixes.filter(pl.col("suffix").is_in(
                vals.str.to_lowercase().str.strip_chars(".").implode()))["name"]
            return hosts.filter(pl.col("h").is_in(listed.implode()))["_q"]
        if wl.type == "string":
            return sub.filter(pl.col("_v").str.to_lowercase().is_in(
                vals.str.to_lowercase().implode()))["_q"]
        if wl.type == "substring":
            return sub.filter(pl.col("_v").str.contains_any(list(wl.values),
                                                            ascii_case_insensitive=True))["_q"]
        mask = pl.any_horizontal([pl.col("_v").str.contains(p) for p in wl.values])
        return sub.filter(mask)["_q"]

    def check(self, frame: pl.DataFrame, group_col: str, value_col: str) -> pl.Series:
        """Per row, the name of the first list that contains the value, else null."""
        q = frame.select(pl.col(group_col).alias("_g"), pl.col(value_col).alias("_v")
                         ).with_row_index("_q")
        names: list[str | None] = [None] * q.height
        for wl in self.lists:
            for i in self._hits(wl, q).to_list():
                if names[i] is None:
                    names[i] = wl.name
        return pl.Series("warninglist", names, dtype=pl.String)
