"""Entity keys of alerts, their normalisation, and the rule that stops hubs from linking.

A key is ``kind:value`` (``host:ws-bob``, ``ip:10.10.1.12``, ``user:alice``). Values are
normalised so the same entity written differently meets itself: host names lose their DNS
suffix and case (``WORKSTATION5.theshire.local`` → ``workstation5``), user names lose their
domain (``THESHIRE\\pgustavo``, ``pgustavo@theshire.local`` → ``pgustavo``), processes,
hashes and domains are lower-cased (domains lose a trailing dot).

**Which keys may link alerts (the hub rule).** A few entities touch everything — a DNS
resolver, a domain controller, ``SYSTEM`` — and linking through them would fuse unrelated
attacks into one incident. A key does not link when

1. it is on the static stop-list (service identities such as ``SYSTEM``/``LOCAL SERVICE``/
   ``ANONYMOUS LOGON``, empty/placeholder values, loopback/unspecified/broadcast/multicast
   addresses); or
2. within the sliding window it has co-occurred in alerts with more than ``max_degree``
   distinct *anchor* keys (hosts, users, addresses) — a hub in the alert–entity graph (a
   resolver meets every host, a domain controller every user, a workstation in one attack
   a handful). Processes, hashes and domains do not count towards a key's degree (one attack
   runs many processes on one host), but do have a degree of their own.

Processes do not link alerts by default (``LINK_KINDS``): every Windows machine runs
``powershell.exe``; a process only identifies something together with its host, which links
already. They stay in the incident's entity graph.

Hub status is re-evaluated as alerts stream in; when a key becomes a hub, incidents that it
had joined are re-checked and split if nothing else holds them together. The degree rule is
the "high-degree node" pruning used in alert-graph correlation (e.g. Haque et al., *NODOZE*,
NDSS 2019, and Hassan et al., *RapSheet*, S&P 2020, discount frequently seen entities).

>>> normalise("host", "WORKSTATION5.theshire.local"), normalise("user", "THESHIRE\\\\pgustavo")
('workstation5', 'pgustavo')
>>> is_stopped("user:system"), is_stopped("ip:127.0.0.1"), is_stopped("ip:10.0.0.1")
(True, True, False)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import polars as pl

from mirrorguard.schema.alerts import ENTITY_KINDS

STOP_USERS = frozenset({
    "", "-", "n/a", "null", "none", "system", "local service", "network service",
    "localservice", "networkservice", "anonymous logon", "anonymous", "nt authority\\system",
    "nobody", "unknown", "local system", "trustedinstaller",
})
LINK_KINDS = frozenset({"host", "user", "ip", "hash", "domain"})
ANCHOR_KINDS = frozenset({"host", "user", "ip"})
STOP_VALUES = frozenset({"", "-", "n/a", "null", "none", "unknown", "0"})


def normalise(kind: str, value: str) -> str:
    """Canonical form of one entity value (see the module docstring)."""
    v = value.strip().lower()
    if kind == "host":
        if v and not _is_ip(v):
            v = v.split(".", 1)[0]
    elif kind == "user":
        if "\\" in v:
            v = v.rsplit("\\", 1)[1]
        elif "@" in v:
            v = v.split("@", 1)[0]
    elif kind == "domain":
        v = v.rstrip(".")
    return v


def _is_ip(v: str) -> bool:
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def is_stopped(key: str) -> bool:
    """True when a key is on the static stop-list and never links alerts."""
    kind, _, value = key.partition(":")
    if kind not in LINK_KINDS:
        return True
    if value in STOP_VALUES:
        return True
    if kind == "user":
        return value in STOP_USERS or value.startswith(("dwm-", "umfd-"))
    if kind == "ip":
        try:
            ip = ipaddress.ip_address(value)
        except ValueError:
            return True
        return bool(ip.is_loopback or ip.is_unspecified or ip.is_multicast
                    or value == "255.255.255.255")
    return False


def alert_keys(frame: pl.DataFrame) -> list[tuple[str, ...]]:
    """Normalised, sorted, distinct entity keys of every alert row (vectorised per kind)."""
    parts = []
    for kind in ENTITY_KINDS:
        col = f"entity.{kind}"
        if col not in frame.columns:
            continue
        values = pl.col(col).list.eval(pl.element().cast(pl.String).str.strip_chars()
                                       .str.to_lowercase())
        parts.append(frame.select(pl.int_range(pl.len()).alias("row"), values.alias("v"))
                     .explode("v").drop_nulls("v").with_columns(pl.lit(kind).alias("kind")))
    if not parts:
        return [() for _ in range(frame.height)]
    long = pl.concat(parts)
    long = long.with_columns(_normalise_expr().alias("v")).filter(pl.col("v") != "")
    long = long.select("row", (pl.col("kind") + ":" + pl.col("v")).alias("key")).unique()
    grouped = long.group_by("row").agg(pl.col("key").sort())
    keys: list[tuple[str, ...]] = [() for _ in range(frame.height)]
    for row, ks in grouped.iter_rows():
        keys[row] = tuple(ks)
    return keys


def keys_series(frame: pl.DataFrame, name: str = "entity.keys") -> pl.Series:
    """:func:`alert_keys` as a ``List(String)`` column aligned with ``frame``."""
    return pl.Series(name, [list(k) for k in alert_keys(frame)], dtype=pl.List(pl.String))


def _normalise_expr() -> pl.Expr:
    v, kind = pl.col("v"), pl.col("kind")
    ipish = v.str.contains(r"^[0-9.]+$|:")
    host = pl.when(ipish).then(v).otherwise(v.str.split(".").list.first())
    user = (pl.when(v.str.contains("\\", literal=True))
            .then(v.str.split("\\").list.last())
            .otherwise(v.str.split("@").list.first()))
    return (pl.when(kind == "host").then(host)
            .when(kind == "user").then(user)
            .when(kind == "domain").then(v.str.strip_chars_end("."))
            .otherwise(v))


@dataclass
class HubTracker:
    """Windowed co-occurrence degree of every key, keyed by entity (so it can be sharded)."""

    window: timedelta
    max_degree: int = 25
    partners: dict[str, dict[str, datetime]] = field(default_factory=dict)
    hubs: set[str] = field(default_factory=set)

    def observe(self, keys: tuple[str, ...], when: datetime) -> list[str]:
        """Record one alert's keys; returns keys that became hubs with this alert."""
        anchors = [k for k in keys if k.partition(":")[0] in ANCHOR_KINDS]
        new: list[str] = []
        for k in keys:
            if k in self.hubs:
                continue
            seen = self.partners.setdefault(k, {})
            for other in anchors:
                if other != k:
                    last = seen.get(other)
                    seen[other] = when if last is None or when > last else last
            if len(seen) > self.max_degree:
                self._prune(seen, when)
                if len(seen) > self.max_degree:
                    self.hubs.add(k)
                    self.partners.pop(k, None)
                    new.append(k)
        return new

    def _prune(self, seen: dict[str, datetime], when: datetime) -> None:
        horizon = when - self.window
        for other in [o for o, t in seen.items() if t < horizon]:
            del seen[other]

    def links(self, key: str) -> bool:
        """True when ``key`` may join alerts into one incident."""
        return key not in self.hubs and not is_stopped(key)
