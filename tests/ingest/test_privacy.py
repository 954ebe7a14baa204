import ipaddress

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorguard.ingest.privacy import Pseudonymizer

P = Pseudonymizer(b"0123456789abcdef0123456789abcdef")


def common_prefix(a: int, b: int, width: int) -> int:
    x = a ^ b
    return width if x == 0 else width - x.bit_length()


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
def test_ipv4_prefix_preserving(a, b):
    pa = int(ipaddress.ip_address(P.ip(str(ipaddress.ip_address(a)))))
    pb = int(ipaddress.ip_address(P.ip(str(ipaddress.ip_address(b)))))
    assert common_prefix(a, b, 32) == common_prefix(pa, pb, 32)


def test_deterministic_keyed_and_one_to_one():
    other = Pseudonymizer(b"another key of enough length!!!!")
    assert P.token("user", "alice") == P.token("user", "alice")
    assert P.token("user", "alice") != other.token("user", "alice")
    assert P.ip("2001:db8::1") != "2001:db8::1"
    ips = [f"192.168.{i}.{j}" for i in range(4) for j in range(50)]
    assert len({P.ip(x) for x in ips}) == len(ips)


def test_email_keeps_shape_and_frames_map_columns():
    e = P.email("Alice@Example.com")
    assert e.count("@") == 1 and "alice" not in e.lower()
    df = pl.DataFrame({"user.name": ["alice", None, "alice"], "source.ip": ["10.0.0.1"] * 3})
    out = P.apply(df, ["user.name"], ["source.ip"])
    assert out["user.name"][0] == out["user.name"][2] != "alice"
    assert out["user.name"][1] is None
    assert "<key hidden>" in repr(P)
