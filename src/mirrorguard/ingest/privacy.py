"""Keyed pseudonymisation at ingest (off by default).

* Names and host names: ``HMAC-SHA256(key, kind || value)``, shown as ``u-<16 hex>`` /
  ``h-<16 hex>``; e-mail addresses keep their shape (``<local>@<domain>`` pseudonymised
  separately) so per-domain features still work.
* IP addresses: prefix-preserving pseudonyms — two addresses sharing a k-bit prefix map to
  pseudonyms sharing a k-bit prefix, so subnet features and correlation still work. This is the
  construction of Crypto-PAn (Xu, Fan, Ammar, Moon, "Prefix-preserving IP address anonymization",
  ICNP 2002) with HMAC-SHA256 in place of AES as the pseudo-random function: bit *i* of the
  output is bit *i* of the input XOR PRF(key, first *i* input bits).

The same key always gives the same pseudonym; without the key nothing reverses it. Work is
done once per distinct value in a batch, then mapped back over the column.

>>> p = Pseudonymizer(b"k" * 32)
>>> a, b = p.ip("10.1.2.3"), p.ip("10.1.2.200")
>>> a.split(".")[:3] == b.split(".")[:3]
True
>>> p.ip("10.1.2.3") == a
True
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
from collections.abc import Iterable

import polars as pl

from mirrorguard.config.settings import PrivacySettings
from mirrorguard.errors import PrivacyError

_EMAIL_FIELDS = ("user.email", "email.from.address", "email.to.address")
_HOST_FIELDS = ("host.name", "winlog.computer_name", "log.syslog.hostname", "source.domain",
                "destination.domain")


class Pseudonymizer:
    """Deterministic keyed pseudonyms for names, hosts, e-mails and IP addresses."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise PrivacyError("pseudonymisation key must be at least 16 bytes")
        self._key = key
        self._bits: dict[tuple[int, int, int], int] = {}

    def __repr__(self) -> str:
        return "Pseudonymizer(<key hidden>)"

    def token(self, kind: str, value: str) -> str:
        digest = hmac.new(self._key, f"{kind}\x00{value}".encode(), hashlib.sha256).hexdigest()
        return f"{kind[0]}-{digest[:16]}"

    def email(self, value: str) -> str:
        local, at, domain = value.rpartition("@")
        if not at:
            return self.token("user", value)
        return f"{self.token('user', local)[2:]}@{self.token('domain', domain.lower())[2:]}.pseudo"

    def ip(self, value: str) -> str:
        try:
            addr = ipaddress.ip_address(value)
        except ValueError:
            return self.token("addr", value)
        width = addr.max_prefixlen
        n = int(addr)
        out = 0
        for i in range(width):
            bit = (n >> (width - 1 - i)) & 1
            prefix = n >> (width - i) if i else 0
            out = (out << 1) | (bit ^ self._prf_bit(width, i, prefix))
        return str(ipaddress.ip_address(out) if width == 32 else ipaddress.IPv6Address(out))

    def _prf_bit(self, width: int, i: int, prefix: int) -> int:
        key = (width, i, prefix)
        bit = self._bits.get(key)
        if bit is None:
            msg = width.to_bytes(1, "big") + i.to_bytes(1, "big") + prefix.to_bytes(16, "big")
            bit = hmac.new(self._key, msg, hashlib.sha256).digest()[0] & 1
            self._bits[key] = bit
        return bit

    # -- frames ---------------------------------------------------------------------------
    def apply(self, frame: pl.DataFrame, fields: Iterable[str], ip_fields: Iterable[str]) -> (
        pl.DataFrame
    ):
        """Pseudonymise the named columns of a frame (missing columns are ignored)."""
        exprs = []
        for name in fields:
            if name in frame.columns and frame.schema[name] == pl.String:
                kind = "email" if name in _EMAIL_FIELDS else (
                    "host" if name in _HOST_FIELDS else "user")
                exprs.append(self._map(frame[name], kind))
        for name in ip_fields:
            if name in frame.columns and frame.schema[name] == pl.String:
                exprs.append(self._map(frame[name], "ip"))
        return frame.with_columns(exprs) if exprs else frame

    def _map(self, col: pl.Series, kind: str) -> pl.Series:
        uniq = col.drop_nulls().unique().to_list()
        fn = {"email": self.email, "ip": self.ip}.get(kind)
        mapping = {v: (fn(v) if fn else self.token(kind, v)) for v in uniq}
        return col.replace_strict(mapping, default=None, return_dtype=pl.String).alias(col.name)


def build_pseudonymizer(settings: PrivacySettings) -> Pseudonymizer | None:
    """A pseudonymizer when privacy is enabled (the key comes from the referenced env var)."""
    if not settings.enabled:
        return None
    key = settings.key()
    if key is None:
        raise PrivacyError(
            f"privacy is enabled but environment variable {settings.key_env} is not set",
            hint="export the key in that variable; it is never read from files or logged",
        )
    return Pseudonymizer(key)
