"""STIX pattern subset: parsing, DNF, unsupported parts reported, syntax errors raised."""

from __future__ import annotations

import pytest

from mirrorguard.detect.intel.stix_pattern import Atom, PatternError, compile_pattern


def _dnf(pattern: str) -> list[list[tuple[str, str, tuple[str, ...]]]]:
    return [[(a.group, a.value, a.fields) for a in conj]
            for conj in compile_pattern(pattern).conjunctions]


def test_single_comparisons_of_each_object_type() -> None:
    assert _dnf("[ipv4-addr:value = '198.51.100.1']") == [[("ip", "198.51.100.1", ())]]
    assert _dnf("[ipv6-addr:value = '2001:db8::1']") == [[("ip", "2001:db8::1", ())]]
    assert _dnf("[ipv4-addr:value ISSUBSET '10.0.0.0/8']") == [[("ip", "10.0.0.0/8", ())]]
    assert _dnf("[domain-name:value = 'evil.example']") == [[("domain", "evil.example", ())]]
    assert _dnf("[url:value = 'http://x/it\\'s']") == [[("url", "http://x/it's", ())]]
    assert _dnf("[file:hashes.'SHA-256' = 'ab']") == [[("sha256", "ab", ())]]
    assert _dnf("[file:hashes.MD5 = 'ab']") == [[("md5", "ab", ())]]
    assert _dnf("[file:hashes.'SHA-1' = 'ab']") == [[("sha1", "ab", ())]]
    assert _dnf("[email-addr:value = 'a@b.example']") == [[("email", "a@b.example", ())]]
    assert _dnf("[network-traffic:dst_ref.value = '198.51.100.1']") == [
        [("ip", "198.51.100.1", ("destination.ip",))]]
    assert _dnf("[email-message:to_refs[*].value = 'a@b']") == [
        [("email", "a@b", ("email.to.address",))]]


def test_boolean_structure_becomes_dnf() -> None:
    got = _dnf("[file:hashes.MD5 = 'a' AND (file:hashes.'SHA-256' = 'b' OR "
               "file:hashes.'SHA-256' = 'c')]")
    assert got == [[("md5", "a", ()), ("sha256", "b", ())], [("md5", "a", ()), ("sha256", "c", ())]]
    got = _dnf("[ipv4-addr:value IN ('1.1.1.1', '2.2.2.2')] OR [url:value = 'http://x/']")
    assert [c[0][1] for c in got] == ["1.1.1.1", "2.2.2.2", "http://x/"]


@pytest.mark.parametrize(("pattern", "reason"), [
    ("[ipv4-addr:value != '1.1.1.1']", "!= on ipv4-addr:value"),
    ("[ipv4-addr:value NOT = '1.1.1.1']", "NOT = on ipv4-addr:value"),
    ("[domain-name:value LIKE '%.evil.example']", "LIKE on domain-name:value"),
    ("[file:name MATCHES '^x']", "MATCHES on file:name"),
    ("[process:name = 'x.exe']", "no event field for process:name"),
    ("[url:value = 'a'] AND [url:value = 'b']", "observation AND"),
    ("[url:value = 'a'] FOLLOWEDBY [url:value = 'b']", "observation FOLLOWEDBY"),
    ("[url:value = 'a'] WITHIN 60 SECONDS", "qualifier WITHIN"),
    ("[url:value = 'a'] REPEATS 5 TIMES", "qualifier REPEATS"),
    ("[url:value = 'a'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00Z'",
     "qualifier START"),
])
def test_unsupported_parts_are_reported(pattern: str, reason: str) -> None:
    c = compile_pattern(pattern)
    assert c.conjunctions == [] and any(reason in u for u in c.unsupported)


def test_partly_supported_pattern_keeps_supported_alternatives() -> None:
    c = compile_pattern("[url:value = 'http://a/'] OR [process:name = 'x']")
    assert c.conjunctions == [[Atom("url", "http://a/")]]
    assert c.unsupported == ["no event field for process:name"]
    # an AND with an unsupported part is dropped whole, never widened
    c = compile_pattern("[file:hashes.MD5 = 'a' AND file:name = 'x.exe']")
    assert c.conjunctions == []


@pytest.mark.parametrize("pattern", [
    "[ipv4-addr:value = '1.2.3.4'", "ipv4-addr:value = '1.2.3.4'", "[ipv4-addr:value ~ 'x']",
    "[ipv4-addr:value = ]", "[ipv4-addr:value = '1'] garbage", "[= '1']", "",
])
def test_syntax_errors_raise(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)


def test_explosive_patterns_are_refused() -> None:
    ors = " OR ".join(f"file:hashes.MD5 = '{i}'" for i in range(30))
    with pytest.raises(PatternError, match="alternatives"):
        compile_pattern(f"[({ors}) AND ({ors})]")
