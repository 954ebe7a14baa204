"""Value normalisation shared by indicators and events, as Polars expressions.

Indicators and event values go through the *same* expressions, so that a match is a plain
equality (hash join) on normalised keys:

* domains and hostnames: trimmed, lower-cased, trailing dot and a leading ``*.`` removed;
* e-mail addresses: trimmed, lower-cased, angle brackets removed;
* hashes: trimmed, lower-cased hex;
* URLs: scheme and host lower-cased, default ports (``:80`` for http, ``:443`` for https)
  dropped, an empty path becomes ``/``, the fragment is removed; a URL without a scheme is read
  as ``http://``. Percent-encoding and path case are left as they are;
* IP addresses: IPv4 as ``UInt32`` (dotted quads without leading zeros, as Python's
  :mod:`ipaddress` accepts them), IPv6 as two ``UInt64`` halves; IPv4-mapped IPv6 addresses
  (``::ffff:192.0.2.1``) are read as IPv4. IPv4 is parsed vectorised; IPv6 (rare in events) is
  parsed with :mod:`ipaddress` per *distinct* value.

>>> import polars as pl
>>> norm_url(pl.Series(["HTTP://Evil.Example:80?q=1#frag", "/path"])).to_list()
['http://evil.example/?q=1', None]
>>> parse_ips(pl.Series(["10.0.0.1", "010.0.0.1", "::FFFF:10.0.0.1", "10.0.0.0/8"])).rows()
[('10.0.0.1', 4, 167772161, None, None, None), ('010.0.0.1', None, None, None, None, None), \
('::FFFF:10.0.0.1', 4, 167772161, None, None, None), ('10.0.0.0/8', 4, 167772160, None, None, 8)]
"""

from __future__ import annotations

import ipaddress

import polars as pl

TYPE_GROUP: dict[str, str] = {
    "ipv4": "ip", "ipv6": "ip", "domain": "domain", "hostname": "domain", "url": "url",
    "md5": "md5", "sha1": "sha1", "sha256": "sha256", "email": "email",
}

#: event fields searched for each group of indicator types (ECS names)
DEFAULT_FIELDS: dict[str, tuple[str, ...]] = {
    "ip": ("source.ip", "destination.ip", "client.ip", "dns.resolved_ip"),
    "domain": ("dns.question.name", "url.domain", "tls.server.name", "destination.domain"),
    "url": ("url.original",),
    "md5": ("file.hash.md5", "process.hash.md5"),
    "sha1": ("file.hash.sha1", "process.hash.sha1"),
    "sha256": ("file.hash.sha256", "process.hash.sha256"),
    "email": ("email.from.address", "email.to.address", "user.email"),
}

HASH_LENGTHS = {"md5": 32, "sha1": 40, "sha256": 64}
_V4_RE = r"^(?:0|[1-9][0-9]{0,2})(?:\.(?:0|[1-9][0-9]{0,2})){3}$"
_URL_RE = r"^([A-Za-z][A-Za-z0-9+.\-]*)://([^/?#]*)([^#]*)"
IP_SCHEMA: dict[str, pl.DataType] = {
    "value": pl.String(), "v": pl.Int8(), "ip4": pl.UInt32(), "hi": pl.UInt64(),
    "lo": pl.UInt64(), "plen": pl.Int16(),
}
_MASK64 = (1 << 64) - 1


def norm_domain(e: pl.Expr) -> pl.Expr:
    """Lower-case, trim, drop a trailing dot and a leading ``*.``."""
    s = e.str.strip_chars().str.to_lowercase().str.strip_chars_end(".")
    return s.str.strip_prefix("*.")


def norm_email(e: pl.Expr) -> pl.Expr:
    """Lower-case, trim, drop ``<``/``>``."""
    return e.str.strip_chars().str.strip_chars("<>").str.to_lowercase()


def norm_hash(e: pl.Expr) -> pl.Expr:
    """Lower-case, trimmed hex."""
    return e.str.strip_chars().str.to_lowercase()


def norm_url(values: pl.Series) -> pl.Series:
    """Canonical URL text (see the module docstring); ``None`` for path-only values.

    Works on a Series in materialised steps (one regex pass), which Polars runs far faster
    than the same logic as one nested expression.
    """
    df = pl.DataFrame({"s": values.cast(pl.String).str.strip_chars()})
    df = df.with_columns(
        pl.when(pl.col("s").str.contains(r"^[A-Za-z][A-Za-z0-9+.\-]*://")).then(pl.col("s"))
        .when(pl.col("s").str.starts_with("/")).then(pl.lit(None, pl.String))
        .otherwise(pl.lit("http://") + pl.col("s")).alias("u"))
    df = df.select(pl.col("u").str.extract_groups(_URL_RE)
                   .struct.rename_fields(["sc", "host", "rest"]).alias("g")).unnest("g")
    df = df.with_columns(pl.col("sc").str.to_lowercase(), pl.col("host").str.to_lowercase())
    sc, host, rest = pl.col("sc"), pl.col("host"), pl.col("rest")
    df = df.with_columns(
        pl.when((sc == "http") & host.str.ends_with(":80")).then(host.str.strip_suffix(":80"))
        .when((sc == "https") & host.str.ends_with(":443")).then(host.str.strip_suffix(":443"))
        .otherwise(host).alias("host"),
        pl.when(rest.str.starts_with("/")).then(rest).otherwise(pl.lit("/") + rest).alias("rest"))
    return df.select(pl.when(host.str.len_bytes() > 0).then(sc + pl.lit("://") + host + rest)
                     .alias(values.name)).to_series()


def normalize(group: str, values: pl.Series) -> pl.Series:
    """Normalised values of one type group (``ip`` values are only trimmed)."""
    if group == "url":
        return norm_url(values)
    return values.to_frame("v").select(norm_for(group, pl.col("v"))).to_series()


def norm_for(group: str, e: pl.Expr) -> pl.Expr:
    """The normalising expression for a non-URL group (``ip`` values are only trimmed)."""
    if group == "domain":
        return norm_domain(e)
    if group == "email":
        return norm_email(e)
    if group in HASH_LENGTHS:
        return norm_hash(e)
    return e.str.strip_chars()


def _v4_frame(text: pl.Series) -> pl.DataFrame:
    """Vectorised IPv4 (optionally ``/n``) parse of ``text``: ip4 and plen (null if invalid)."""
    df = pl.DataFrame({"value": text}).with_columns(
        pl.col("value").str.strip_chars().str.split_exact("/", 1)
        .struct.rename_fields(["_a", "_p"]).alias("_s")).unnest("_s")
    df = df.with_columns(
        pl.col("_a").str.contains(_V4_RE).alias("_ok"),
        pl.col("_p").cast(pl.Int16, strict=False).alias("_plen"),
        pl.col("_a").str.split_exact(".", 3).struct.rename_fields(["_o0", "_o1", "_o2", "_o3"])
        .alias("_o")).unnest("_o")
    octs = [pl.col(f"_o{i}").cast(pl.UInt64, strict=False) for i in range(4)]
    ok = pl.col("_ok") & (pl.col("_p").is_null() | pl.col("_plen").is_between(0, 32))
    for x in octs:
        ok = ok & (x <= 255)
    ip = octs[0] * (1 << 24) + octs[1] * (1 << 16) + octs[2] * (1 << 8) + octs[3]
    return df.select(
        "value",
        pl.when(ok).then(pl.lit(4, pl.Int8)).alias("v"),
        pl.when(ok).then(ip.cast(pl.UInt32, strict=False)).alias("ip4"),
        pl.lit(None, pl.UInt64).alias("hi"), pl.lit(None, pl.UInt64).alias("lo"),
        pl.when(ok).then(pl.col("_plen")).alias("plen"),
    )


def _v6_rows(values: list[str]) -> pl.DataFrame:
    """IPv6 (and IPv4-mapped) values parsed one by one with :mod:`ipaddress`."""
    rows: list[tuple[str, int | None, int | None, int | None, int | None, int | None]] = []
    for raw in values:
        text = raw.strip().strip("[]").split("%", 1)[0]
        addr, _, plen_s = text.partition("/")
        try:
            ip6 = ipaddress.IPv6Address(addr.split("%", 1)[0])
            plen = int(plen_s) if plen_s else None
            if plen is not None and not 0 <= plen <= 128:
                raise ValueError(plen)
        except ValueError:
            rows.append((raw, None, None, None, None, None))
            continue
        mapped = ip6.ipv4_mapped
        if mapped is not None and (plen is None or plen >= 96):
            rows.append((raw, 4, int(mapped), None, None, None if plen is None else plen - 96))
        else:
            n = int(ip6)
            rows.append((raw, 6, None, n >> 64, n & _MASK64, plen))
    return pl.DataFrame(rows, schema=IP_SCHEMA, orient="row")


def parse_ips(values: pl.Series) -> pl.DataFrame:
    """Parse IP texts (optionally with ``/prefix``) into :data:`IP_SCHEMA` rows, in order.

    ``v`` is 4 or 6 (null when the text is not an address); ``plen`` is the prefix length
    when one was given.
    """
    text = values.cast(pl.String).rename("value")
    is_v6 = text.str.contains(":").fill_null(False)
    if not bool(is_v6.any()):
        return _v4_frame(text)
    v4 = _v4_frame(text.filter(~is_v6))
    v6 = _v6_rows(text.filter(is_v6).to_list())
    order = pl.Series("_i", range(text.len()), dtype=pl.UInt32)
    both = pl.concat([v4.with_columns(order.filter(~is_v6)),
                      v6.with_columns(order.filter(is_v6))])
    return both.sort("_i").drop("_i")


def ip_text(frame: pl.DataFrame) -> pl.Series:
    """Canonical text of parsed IPs (network address + ``/plen`` when a prefix is given)."""
    out: list[str | None] = []
    for v, ip4, hi, lo, plen in frame.select("v", "ip4", "hi", "lo", "plen").iter_rows():
        if v is None:
            out.append(None)
            continue
        full = 32 if v == 4 else 128
        n = ip4 if v == 4 else (hi << 64) | lo
        p = full if plen is None else plen
        net = ipaddress.ip_network((n >> (full - p) << (full - p), p) if v == 4 else
                                   (ipaddress.IPv6Address(n >> (full - p) << (full - p)), p))
        out.append(str(net.network_address) if p == full else str(net))
    return pl.Series("value", out, dtype=pl.String)


def domain_suffixes(names: pl.Series, max_labels: int = 32) -> pl.DataFrame:
    """Each name with every dot-suffix of itself (``a.b.c`` → ``a.b.c``, ``b.c``, ``c``).

    Vectorised: one pass per label depth over the distinct names given.
    """
    df = pl.DataFrame({"name": names}).with_columns(
        pl.col("name").str.split(".").alias("_l"))
    df = df.with_columns(pl.col("_l").list.len().alias("_n"))
    top = df["_n"].max() if df.height else 0
    deepest = top if isinstance(top, int) else 0
    parts = [
        df.filter(pl.col("_n") > i).select(
            "name", pl.col("_l").list.slice(i).list.join(".").alias("suffix"))
        for i in range(min(deepest, max_labels))
    ]
    if not parts:
        return pl.DataFrame(schema={"name": pl.String(), "suffix": pl.String()})
    return pl.concat(parts)
