"""Exact IP and CIDR lookup by hashing on each prefix length.

Every stored entry is a network (an exact address is a /32 or /128). For each prefix length
``p`` present, entries are keyed by their first ``p`` bits; a query address is truncated to
``p`` bits and hash-joined against that table. A query therefore finds *every* enclosing
network, nested or overlapping, with one join per distinct prefix length (a handful in
practice: /32, /24, /16 …) — the per-length hash tables of Waldvogel, Varghese, Turner &
Plattner, "Scalable High Speed IP Routing Lookups" (SIGCOMM 1997), without their binary search
over lengths since we want all matches, not the longest. IPv4 keys are ``UInt64`` truncations
of the ``UInt32`` address; IPv6 keys are two ``UInt64`` halves.

>>> import polars as pl
>>> from mirrorguard.detect.intel.normalize import parse_ips
>>> idx = IpPrefixIndex(parse_ips(pl.Series(["10.0.0.0/8", "10.1.0.0/16", "10.1.2.3"])),
...                     pl.Series([0, 1, 2], dtype=pl.UInt32))
>>> q = parse_ips(pl.Series(["10.1.2.3", "10.9.9.9", "11.0.0.1"])).with_row_index("_q")
>>> sorted(idx.lookup(q).rows())
[(0, 0), (0, 1), (0, 2), (1, 0)]
"""

from __future__ import annotations

import polars as pl

_KEY_SCHEMA = {"k1": pl.UInt64(), "k2": pl.UInt64()}


def _keys(v: int, plen: int) -> tuple[pl.Expr, pl.Expr]:
    """Expressions truncating parsed addresses (columns ip4/hi/lo) to ``plen`` bits."""
    if v == 4:
        ip = pl.col("ip4").cast(pl.UInt64)
        k1 = ip // (1 << (32 - plen)) if plen < 32 else ip
        return k1, pl.lit(0, pl.UInt64)
    hi, lo = pl.col("hi"), pl.col("lo")
    if plen == 0:
        return pl.lit(0, pl.UInt64), pl.lit(0, pl.UInt64)
    if plen <= 64:
        return (hi // (1 << (64 - plen)) if plen < 64 else hi), pl.lit(0, pl.UInt64)
    return hi, (lo // (1 << (128 - plen)) if plen < 128 else lo)


class IpPrefixIndex:
    """Networks (parsed by :func:`~.normalize.parse_ips`) with an id each; see module doc."""

    def __init__(self, parsed: pl.DataFrame, ids: pl.Series) -> None:
        frame = parsed.with_columns(ids.alias("id")).filter(pl.col("v").is_not_null())
        frame = frame.with_columns(
            pl.col("plen").fill_null(pl.when(pl.col("v") == 4).then(32).otherwise(128)))
        self.tables: dict[tuple[int, int], pl.DataFrame] = {}
        for (v, plen), sub in frame.group_by("v", "plen"):
            k1, k2 = _keys(int(v), int(plen))
            self.tables[(int(v), int(plen))] = sub.select(
                k1.alias("k1"), k2.alias("k2"), "id")
        self.size = frame.height

    def prefix_lengths(self) -> list[tuple[int, int]]:
        """(version, prefix length) pairs present, sorted."""
        return sorted(self.tables)

    def lookup(self, query: pl.DataFrame) -> pl.DataFrame:
        """All (``_q``, ``id``) pairs where the query address lies in an indexed network.

        ``query`` has the parsed columns (``v``, ``ip4``, ``hi``, ``lo``) and a row key ``_q``.
        """
        parts = []
        by_version = {v: query.filter(pl.col("v") == v) for v in (4, 6)}
        for (v, plen), table in self.tables.items():
            sub = by_version[v]
            if sub.height == 0:
                continue
            k1, k2 = _keys(v, plen)
            keyed = sub.select("_q", k1.alias("k1"), k2.alias("k2"))
            parts.append(keyed.join(table, on=["k1", "k2"], how="inner").select("_q", "id"))
        if not parts:
            return pl.DataFrame(schema={"_q": query.schema.get("_q", pl.UInt32()),
                                        "id": pl.UInt32()})
        return pl.concat(parts)
