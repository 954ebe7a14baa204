"""Response playbooks in YAML: trigger conditions on incidents → actions with risk tiers.

```yaml
playbooks:
  - name: contain-c2
    trigger:                      # all given conditions must hold
      min_risk: 60
      tactics_any: [command-and-control, exfiltration]
      detectors_any: [beacon]
      techniques_any: [T1071]
      entity_kinds: [ip]
    actions:
      - {type: tag, tag: c2}
      - {type: block_ip, backend: nftables, ttl: 1h, targets: external_ip}
      - {type: isolate_host, backend: webhook, url: "https://edr.example/isolate"}
```

Action types and their tiers are a fixed table (:data:`TIERS`): ``enrich``, ``tag``,
``notify`` run automatically; ``block_ip`` and ``webhook`` run automatically but are undone
when their ``ttl`` runs out (a ``ttl`` is required); ``isolate_host`` and ``disable_account``
wait for a person's approval. Unknown keys, types or backends are errors naming the file and
the playbook. Loading uses ``yaml.safe_load``: no tags, no code from the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mirrorguard.correlate.base import Incident
from mirrorguard.errors import ConfigError

Tier = Literal["automatic", "automatic_undo", "approval"]
TIERS: dict[str, Tier] = {
    "enrich": "automatic", "tag": "automatic", "notify": "automatic",
    "block_ip": "automatic_undo", "webhook": "automatic_undo",
    "isolate_host": "approval", "disable_account": "approval",
}
BACKENDS: dict[str, tuple[str, ...]] = {
    "enrich": ("internal",), "tag": ("internal",), "notify": ("internal", "webhook"),
    "block_ip": ("nftables", "hosts_deny", "webhook"), "webhook": ("webhook",),
    "isolate_host": ("webhook",), "disable_account": ("webhook",),
}
TARGETS = ("incident", "ip", "external_ip", "host", "user")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_duration(text: str) -> timedelta:
    """``"90s"``, ``"15m"``, ``"1h"``, ``"2d"`` → timedelta."""
    m = _DURATION.match(text.strip())
    if not m:
        raise ValueError(f"duration {text!r} must look like 90s, 15m, 1h or 2d")
    return timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})


class Trigger(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    min_risk: float = Field(default=0.0, ge=0, le=100)
    tactics_any: tuple[str, ...] = ()
    detectors_any: tuple[str, ...] = ()
    techniques_any: tuple[str, ...] = ()
    entity_kinds: tuple[str, ...] = ()
    min_alerts: int = Field(default=1, ge=1)

    def matches(self, inc: Incident, techniques: set[str]) -> bool:
        kinds = {e.partition(":")[0] for e in inc.entities}
        return (inc.risk >= self.min_risk and inc.size >= self.min_alerts
                and (not self.tactics_any or bool(set(self.tactics_any) & set(inc.tactics)))
                and (not self.detectors_any
                     or bool(set(self.detectors_any) & set(inc.detectors)))
                and (not self.techniques_any or any(
                    t.upper() == x.upper() or t.upper().startswith(x.upper() + ".")
                    for t in techniques for x in self.techniques_any))
                and set(self.entity_kinds) <= kinds)


class ActionSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    type: str
    backend: str = "internal"
    targets: str = "incident"
    ttl: str | None = None
    tag: str | None = None
    url: str | None = None
    token_env: str | None = Field(default=None, description="env var holding a bearer token")
    message: str | None = None

    @field_validator("ttl")
    @classmethod
    def _ttl(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    def check(self) -> None:
        if self.type not in TIERS:
            raise ValueError(f"unknown action type {self.type!r}; known: {sorted(TIERS)}")
        if self.backend not in BACKENDS[self.type]:
            raise ValueError(f"{self.type} cannot use backend {self.backend!r}; "
                             f"allowed: {list(BACKENDS[self.type])}")
        if self.targets not in TARGETS:
            raise ValueError(f"unknown targets {self.targets!r}; known: {list(TARGETS)}")
        if TIERS[self.type] == "automatic_undo" and self.ttl is None:
            raise ValueError(f"{self.type} needs a ttl (it is undone when the ttl runs out)")
        if self.backend == "webhook" and not (self.url or "").startswith(("http://", "https://")):
            raise ValueError("a webhook backend needs an http(s) url")

    @property
    def tier(self) -> Tier:
        return TIERS[self.type]

    def ttl_delta(self) -> timedelta | None:
        return parse_duration(self.ttl) if self.ttl else None


class Playbook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    name: str = Field(min_length=1)
    description: str = ""
    trigger: Trigger = Trigger()
    actions: tuple[ActionSpec, ...] = Field(min_length=1)


@dataclass(frozen=True)
class PlaybookSet:
    playbooks: tuple[Playbook, ...]
    source: str = ""


def load_playbooks(path: Path) -> PlaybookSet:
    """Load and validate a playbook file."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read playbooks: {exc.strerror}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"not valid YAML: {exc}", file=str(path),
                          line=mark.line + 1 if mark else None) from exc
    return parse_playbooks(data, source=str(path))


def parse_playbooks(data: Any, source: str = "<memory>") -> PlaybookSet:
    """Validate already-loaded YAML data (``{"playbooks": [...]}``)."""
    if not isinstance(data, dict) or set(data) != {"playbooks"} or not isinstance(
            data["playbooks"], list):
        raise ConfigError("a playbook file holds one key, 'playbooks', with a list", file=source)
    out = []
    for i, item in enumerate(data["playbooks"]):
        where = f"playbooks[{i}]" + (f" ({item.get('name')})" if isinstance(item, dict) else "")
        try:
            pb = Playbook.model_validate(item)
            for spec in pb.actions:
                spec.check()
        except (ValidationError, ValueError) as exc:
            raise ConfigError(f"invalid playbook: {exc}", file=source, record=where) from exc
        out.append(pb)
    names = [p.name for p in out]
    if len(set(names)) != len(names):
        raise ConfigError("playbook names must be unique", file=source)
    return PlaybookSet(tuple(out), source)
