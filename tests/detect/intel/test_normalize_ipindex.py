"""Normalisation agrees with the standard library; the prefix index finds every enclosing net."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import numpy as np
import polars as pl

from mirrorguard.detect.intel.ipindex import IpPrefixIndex
from mirrorguard.detect.intel.normalize import (
    domain_suffixes,
    ip_text,
    norm_url,
    normalize,
    parse_ips,
)


def test_ipv4_parse_matches_ipaddress_on_random_and_edge_values() -> None:
    rng = np.random.default_rng(1)
    values = [str(ipaddress.IPv4Address(int(x))) for x in rng.integers(0, 2**32, 2000)]
    values += ["0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4",
               " 10.0.0.1 ", "a.b.c.d", "", "1..2.3", "1.2.3.4/0", "1.2.3.4/32", "1.2.3.4/33"]
    parsed = parse_ips(pl.Series(values))
    for text, v, ip4, plen in parsed.select("value", "v", "ip4", "plen").iter_rows():
        addr, _, p = text.strip().partition("/")
        try:
            want = ipaddress.IPv4Address(addr)
            ok = not p or 0 <= int(p) <= 32
        except ValueError:
            ok = False
        assert (v == 4) == ok, text
        if ok:
            assert ip4 == int(want) and plen == (int(p) if p else None)


def test_ipv6_forms_and_mapped_v4() -> None:
    parsed = parse_ips(pl.Series(["2001:DB8::1", "[2001:db8::2]", "fe80::1%eth0",
                                  "::ffff:198.51.100.1", "2001:db8::/32", "2001:db8::zz"]))
    assert parsed["v"].to_list() == [6, 6, 6, 4, 6, None]
    assert parsed["ip4"][3] == int(ipaddress.IPv4Address("198.51.100.1"))
    assert ip_text(parsed).to_list()[:5] == ["2001:db8::1", "2001:db8::2", "fe80::1",
                                             "198.51.100.1", "2001:db8::/32"]
    assert ip_text(parse_ips(pl.Series(["10.1.2.3/8"]))).to_list() == ["10.0.0.0/8"]


def _ref_url(u: str) -> str | None:
    p = urlsplit(u.strip() if "://" in u else "http://" + u.strip())
    net = p.netloc.lower()
    for scheme, port in (("http", ":80"), ("https", ":443")):
        if p.scheme.lower() == scheme and net.endswith(port):
            net = net[: -len(port)]
    return f"{p.scheme.lower()}://{net}{p.path or '/'}{'?' + p.query if p.query else ''}"


def test_url_normalisation_agrees_with_urllib() -> None:
    urls = ["HTTP://Evil.Example:80/A/b?x=1#f", "https://a.example:443", "https://a.example:8443/",
            "evil.example/gate.php", "ftp://Files.Example/x", "http://a.example?q", "http://x/%41"]
    assert norm_url(pl.Series(urls)).to_list() == [_ref_url(u) for u in urls]
    assert norm_url(pl.Series(["/relative", "", None])).to_list() == [None, None, None]


def test_domains_emails_hashes() -> None:
    assert normalize("domain", pl.Series([" WWW.Evil.Example. ", "*.evil.example"])).to_list() == [
        "www.evil.example", "evil.example"]
    assert normalize("email", pl.Series(["<Bad@Evil.Example>"])).to_list() == ["bad@evil.example"]
    assert normalize("md5", pl.Series([" ABCD "])).to_list() == ["abcd"]
    sfx = domain_suffixes(pl.Series(["a.b.c", "x"]))
    assert sorted(sfx.rows()) == [("a.b.c", "a.b.c"), ("a.b.c", "b.c"), ("a.b.c", "c"),
                                  ("x", "x")]


def test_prefix_index_equals_brute_force_with_nesting() -> None:
    rng = np.random.default_rng(7)
    nets = []
    for _ in range(150):
        base = int(rng.integers(0, 2**32))
        plen = int(rng.integers(8, 33))
        nets.append(ipaddress.IPv4Network((base >> (32 - plen) << (32 - plen), plen)))
    nets += [ipaddress.IPv4Network("10.0.0.0/8"), ipaddress.IPv4Network("10.1.0.0/16"),
             ipaddress.IPv4Network("0.0.0.0/0")]
    v6 = [ipaddress.IPv6Network("2001:db8::/32"), ipaddress.IPv6Network("2001:db8:1::/48"),
          ipaddress.IPv6Network("2001:db8:1::5/128"), ipaddress.IPv6Network("::/0")]
    all_nets = nets + v6
    idx = IpPrefixIndex(parse_ips(pl.Series([str(n) for n in all_nets])),
                        pl.Series(range(len(all_nets)), dtype=pl.UInt32))
    queries = [str(n.network_address + int(rng.integers(0, n.num_addresses))) for n in nets]
    queries += [str(ipaddress.IPv4Address(int(x))) for x in rng.integers(0, 2**32, 200)]
    queries += ["2001:db8:1::5", "2001:db8:2::1", "2002::1", "10.1.2.3"]
    q = parse_ips(pl.Series(queries)).with_row_index("_q")
    got = {(int(a), int(b)) for a, b in idx.lookup(q).rows()}
    want = {(i, j) for i, text in enumerate(queries) for j, n in enumerate(all_nets)
            if ipaddress.ip_address(text).version == n.version and ipaddress.ip_address(text) in n}
    assert got == want
