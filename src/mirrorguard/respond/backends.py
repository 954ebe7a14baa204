"""Where actions land: an nftables set file, a hosts.deny file, an HTTP webhook.

mirrorguard never runs system commands. File backends keep a file that an operator (or a
systemd path unit) applies — ``nft -f blocklist.nft``; TCP wrappers read ``hosts.deny``
themselves. Every backend is idempotent: applying what is already applied, or reverting what
is not there, changes nothing. Files are rewritten atomically (write, fsync, rename).
Backends validate their target (an IP address must parse as one), so nothing from an alert
reaches a file or a request unchecked.

nftables set file (syntax of ``nft -f``; the file *is* the desired set)::

    flush set inet filter blocklist
    add element inet filter blocklist { 203.0.113.9 timeout 3600s }
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from mirrorguard.errors import ConfigError, MirrorguardError


class ActionError(MirrorguardError):
    """An action could not be planned, approved, executed or undone."""


class Backend(Protocol):
    def apply(self, target: str, ttl: timedelta | None, key: str) -> dict[str, Any]: ...
    def revert(self, target: str, key: str) -> dict[str, Any]: ...
    def describe(self, op: str, target: str, ttl: timedelta | None) -> str: ...


def _ip(target: str) -> str:
    try:
        return str(ipaddress.ip_address(target))
    except ValueError as exc:
        raise ActionError(f"not an IP address: {target!r}") from exc


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_ELEMENT = re.compile(r"^add element \S+ \S+ \S+ \{ (\S+) timeout (\d+)s \}$")


@dataclass(frozen=True)
class NftSetFile:
    """An nftables set kept as a file of ``add element`` lines after a ``flush set``."""

    path: Path
    family: str = "inet"
    table: str = "filter"
    set_name: str = "blocklist"

    def __post_init__(self) -> None:
        for part in (self.family, self.table, self.set_name):
            if not _NAME.match(part):
                raise ConfigError(f"invalid nftables name {part!r}")

    def elements(self) -> dict[str, int]:
        """Current elements and their timeouts (seconds), read from the file."""
        if not self.path.exists():
            return {}
        out = {}
        for line in self.path.read_text(encoding="utf-8").splitlines():
            m = _ELEMENT.match(line.strip())
            if m:
                out[m.group(1)] = int(m.group(2))
        return out

    def _render(self, elements: dict[str, int]) -> str:
        ref = f"{self.family} {self.table} {self.set_name}"
        lines = ["# managed by mirrorguard; apply with: nft -f " + self.path.name,
                 f"flush set {ref}"]
        lines += [f"add element {ref} {{ {ip} timeout {t}s }}" for ip, t in sorted(
            elements.items())]
        return "\n".join(lines) + "\n"

    def apply(self, target: str, ttl: timedelta | None, key: str) -> dict[str, Any]:
        ip = _ip(target)
        cur = self.elements()
        seconds = int(ttl.total_seconds()) if ttl else 86400
        changed = cur.get(ip) != seconds
        if changed:
            cur[ip] = seconds
            _write_atomic(self.path, self._render(cur))
        return {"changed": changed, "file": str(self.path), "element": ip}

    def revert(self, target: str, key: str) -> dict[str, Any]:
        ip = _ip(target)
        cur = self.elements()
        changed = cur.pop(ip, None) is not None
        if changed or not self.path.exists():
            _write_atomic(self.path, self._render(cur))
        return {"changed": changed, "file": str(self.path), "element": ip}

    def describe(self, op: str, target: str, ttl: timedelta | None) -> str:
        ref = f"{self.family} {self.table} {self.set_name}"
        if op == "apply":
            secs = int(ttl.total_seconds()) if ttl else 86400
            return f"{self.path}: add element {ref} {{ {_ip(target)} timeout {secs}s }}"
        return f"{self.path}: remove element {_ip(target)} from {ref}"


@dataclass(frozen=True)
class HostsDenyFile:
    """TCP-wrappers ``hosts.deny`` lines owned by mirrorguard (other lines are kept)."""

    path: Path
    daemons: str = "ALL"

    def _lines(self) -> list[str]:
        return self.path.read_text(encoding="utf-8").splitlines() if self.path.exists() else []

    def _line(self, ip: str, key: str) -> str:
        return f"{self.daemons}: {ip} # mirrorguard {key}"

    def apply(self, target: str, ttl: timedelta | None, key: str) -> dict[str, Any]:
        line = self._line(_ip(target), key)
        lines = self._lines()
        changed = line not in lines
        if changed:
            _write_atomic(self.path, "\n".join([*lines, line]) + "\n")
        return {"changed": changed, "file": str(self.path), "line": line}

    def revert(self, target: str, key: str) -> dict[str, Any]:
        line = self._line(_ip(target), key)
        lines = self._lines()
        changed = line in lines
        if changed:
            kept = [x for x in lines if x != line]
            _write_atomic(self.path, "\n".join(kept) + ("\n" if kept else ""))
        return {"changed": changed, "file": str(self.path), "line": line}

    def describe(self, op: str, target: str, ttl: timedelta | None) -> str:
        verb = "append" if op == "apply" else "remove"
        return f"{self.path}: {verb} '{self._line(_ip(target), '<action>')}'"


@dataclass(frozen=True)
class Webhook:
    """POST a JSON body ``{op, action, target, ttl_s, key}`` with an ``Idempotency-Key``.

    A bearer token, if any, comes from the environment variable named by ``token_env``
    (never from the playbook file, never logged). Receivers deduplicate on the key.
    """

    url: str
    action: str
    token_env: str | None = None
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigError(f"webhook url must be http(s): {self.url!r}")

    def _send(self, body: dict[str, Any], key: str) -> dict[str, Any]:
        headers = {"Content-Type": "application/json", "Idempotency-Key": key}
        if self.token_env:
            token = os.environ.get(self.token_env)
            if not token:
                raise ActionError(f"webhook token variable {self.token_env} is not set")
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(self.url, data=json.dumps(body).encode(),  # noqa: S310
                                     headers=headers, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310
                status = int(resp.status)
        except urllib.error.HTTPError as exc:
            raise ActionError(f"webhook answered {exc.code}", record=key) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise ActionError(f"webhook unreachable: {exc}", record=key) from exc
        return {"changed": True, "status": status, "url": self.url}

    def apply(self, target: str, ttl: timedelta | None, key: str) -> dict[str, Any]:
        body = {"op": "apply", "action": self.action, "target": target, "key": key,
                "ttl_s": int(ttl.total_seconds()) if ttl else None}
        return self._send(body, key)

    def revert(self, target: str, key: str) -> dict[str, Any]:
        return self._send({"op": "revert", "action": self.action, "target": target,
                           "key": key}, key + ":revert")

    def describe(self, op: str, target: str, ttl: timedelta | None) -> str:
        return f"POST {self.url} op={op} action={self.action} target={target}"
