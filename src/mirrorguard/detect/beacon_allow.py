"""Allow-lists for beaconing: destinations, FQDN suffixes, ports and (source, destination) pairs.

An allow-list applies equally to a frame of new events, to beacon findings, and to data that is
*already stored* (a DuckDB table of events or findings): adding an entry today also quiets the
stored findings of last week, without rewriting them (queries filter; nothing is deleted).

Destinations may be single addresses or CIDR blocks (IPv4 or IPv6). CIDR membership is decided
once per distinct address with :mod:`ipaddress` (not once per event), then applied as a
vectorised ``is_in``.

>>> import polars as pl
>>> allow = AllowList(destinations=("192.0.2.0/24",), fqdn_suffixes=("windowsupdate.com",))
>>> f = pl.DataFrame({"source.ip": ["10.0.0.1", "10.0.0.2", "10.0.0.3"],
...                   "destination.ip": ["192.0.2.7", "198.51.100.1", "198.51.100.2"],
...                   "dns.question.name": [None, "ctldl.windowsupdate.com", "evil.example"]})
>>> allow.filter_events(f)["source.ip"].to_list()
['10.0.0.3']
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import duckdb
import polars as pl

from mirrorguard.errors import ConfigError, StoreError

_KEYS = ("destinations", "fqdn_suffixes", "ports", "pairs")


def _networks(entries: Iterable[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    nets = []
    for entry in entries:
        try:
            nets.append(ipaddress.ip_network(entry, strict=False))
        except ValueError as exc:
            msg = f"allow-list destination {entry!r} is not an address or CIDR"
            raise ConfigError(msg) from exc
    return nets


def _suffix_ok(name: str) -> str:
    clean = name.strip().lower().strip(".")
    if not clean or any(c.isspace() for c in clean):
        raise ConfigError(f"allow-list FQDN suffix {name!r} is empty or has spaces")
    return clean


@dataclass(frozen=True)
class AllowList:
    """Entries that are known-benign periodic traffic (NTP, update services, monitoring).

    ``pairs`` hold ``(source, destination)`` where destination is an address or an FQDN.
    A suffix ``example.com`` matches ``example.com`` and ``a.example.com``, not ``badexample.com``.
    """

    destinations: tuple[str, ...] = ()
    fqdn_suffixes: tuple[str, ...] = ()
    ports: tuple[int, ...] = ()
    pairs: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        _networks(self.destinations)
        for s in self.fqdn_suffixes:
            _suffix_ok(s)
        for p in self.ports:
            if not 0 <= int(p) <= 65535:
                raise ConfigError(f"allow-list port {p!r} out of range")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AllowList:
        """Build from configuration data; unknown keys are errors."""
        unknown = set(data) - set(_KEYS)
        if unknown:
            raise ConfigError(f"unknown allow-list keys: {sorted(unknown)}")
        return cls(
            destinations=tuple(str(d) for d in data.get("destinations", ())),
            fqdn_suffixes=tuple(_suffix_ok(str(s)) for s in data.get("fqdn_suffixes", ())),
            ports=tuple(int(p) for p in data.get("ports", ())),
            pairs=tuple((str(a), str(b)) for a, b in data.get("pairs", ())),
        )

    def matching_addresses(self, addresses: Iterable[str | None]) -> list[str]:
        """The distinct addresses (from ``addresses``) inside an allow-listed destination."""
        nets = _networks(self.destinations)
        hits = []
        for addr in {a for a in addresses if a}:
            try:
                ip = ipaddress.ip_address(addr)
            except ValueError:
                continue
            if any(ip.version == n.version and ip in n for n in nets):
                hits.append(addr)
        return sorted(hits)

    def _suffix_expr(self, col: pl.Expr) -> pl.Expr:
        name = col.str.to_lowercase().str.strip_chars_end(".")
        hit = pl.lit(False)
        for s in (_suffix_ok(x) for x in self.fqdn_suffixes):
            hit = hit | (name == s) | name.str.ends_with("." + s)
        return hit.fill_null(False)

    def _mask(
        self, frame: pl.DataFrame, src: str, dst_cols: list[str], port: str | None
    ) -> pl.Series:
        dsts = [c for c in dst_cols if c in frame.columns]
        addrs = self.matching_addresses(v for c in dsts for v in frame[c].unique().to_list())
        hit = pl.lit(False)
        for c in dsts:
            hit = hit | pl.col(c).is_in(addrs).fill_null(False) | self._suffix_expr(pl.col(c))
            for a, b in self.pairs:
                hit = hit | ((pl.col(src) == a) & (pl.col(c) == b)).fill_null(False)
        if port is not None and port in frame.columns and self.ports:
            hit = hit | pl.col(port).is_in(list(self.ports)).fill_null(False)
        return frame.select(hit.alias("allowed"))["allowed"]

    def event_mask(self, frame: pl.DataFrame) -> pl.Series:
        """True for events an entry allows (destination, FQDN/SNI, port or pair)."""
        cols = ["destination.ip", "dns.question.name", "tls.server.name"]
        return self._mask(frame, "source.ip", cols, "destination.port")

    def filter_events(self, frame: pl.DataFrame) -> pl.DataFrame:
        """``frame`` without the allowed events."""
        return frame.filter(~self.event_mask(frame))

    def filter_findings(self, findings: pl.DataFrame) -> pl.DataFrame:
        """Beacon findings (``source``, ``destination``) without the allowed ones."""
        dest = findings.with_columns(
            pl.col("destination").str.replace(r":\d+$", "").alias("__dest"),
            pl.col("destination").str.extract(r":(\d+)$").cast(pl.Int32).alias("__port"),
        )
        mask = self._mask(dest, "source", ["__dest"], "__port")
        return findings.filter(~mask)

    def _sql_hit(self, cols: list[str], src: str, port: str | None,
                 addrs: list[str]) -> tuple[str, list[Any]]:
        terms: list[str] = []
        params: list[Any] = []
        for c in cols:
            q = f'"{c}"'
            if addrs:
                terms.append(f"{q} IN ({', '.join('?' * len(addrs))})")
                params.extend(addrs)
            for sfx in (_suffix_ok(x) for x in self.fqdn_suffixes):
                name = f"rtrim(lower({q}), '.')"
                terms.append(f"({name} = ? OR ends_with({name}, ?))")
                params.extend([sfx, "." + sfx])
            for a, b in self.pairs:
                terms.append(f'("{src}" = ? AND {q} = ?)')
                params.extend([a, b])
        if port is not None and self.ports:
            terms.append(f'{port} IN ({", ".join("?" * len(self.ports))})')
            params.extend(int(p) for p in self.ports)
        return (" OR ".join(f"coalesce({t}, false)" for t in terms) or "false"), params

    def stored(
        self, con: duckdb.DuckDBPyConnection, table: str, *, findings: bool = False
    ) -> pl.DataFrame:
        """Rows of a stored DuckDB table (events, or beacon findings) that no entry allows.

        One parameterised DuckDB query over the stored table, so it applies to data stored
        before the entry existed; nothing is rewritten or deleted.
        """
        if not table.replace("_", "").replace(".", "").isalnum():
            raise StoreError(f"invalid table name {table!r}")
        try:
            names = set(con.sql(f'SELECT * FROM "{table}" LIMIT 0').columns)  # noqa: S608
            if findings:
                dst, src = "destination", "source"
                port: str | None = (
                    "TRY_CAST(regexp_extract(\"destination\", ':(\\d+)$', 1) AS INTEGER)"
                )
                cols = ["destination"]
            else:
                src = "source.ip"
                port = '"destination.port"' if "destination.port" in names else None
                cols = [c for c in ("destination.ip", "dns.question.name", "tls.server.name")
                        if c in names]
                dst = "destination.ip"
            addrs: list[str] = []
            if dst in names:
                distinct = con.sql(f'SELECT DISTINCT "{dst}" FROM "{table}"').fetchall()  # noqa: S608
                addrs = self.matching_addresses(str(r[0]).rsplit(":", 1)[0] if findings
                                                else r[0] for r in distinct)
                if findings:
                    addrs = [str(r[0]) for r in distinct
                             if str(r[0]).rsplit(":", 1)[0] in set(addrs)]
            where, params = self._sql_hit(cols, src, port, addrs)
            sql = f'SELECT * FROM "{table}" WHERE NOT ({where})'  # noqa: S608 - names checked
            table_out = con.sql(sql, params=params).to_arrow_table()
        except duckdb.Error as exc:
            raise StoreError(f"cannot query stored table {table!r}: {exc}") from exc
        out = pl.from_arrow(table_out)
        assert isinstance(out, pl.DataFrame)
        return out
