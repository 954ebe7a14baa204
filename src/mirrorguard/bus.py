"""An explicit, in-process event bus: stages publish what they decided, subscribers (the
ledger, metrics, the console) listen. There is no global bus; the engine builds one and passes
it down.

>>> bus = EventBus()
>>> seen = []
>>> bus.subscribe(seen.append)
>>> bus.publish(BusEvent(kind="ingest", actor="automation", payload={"sha256": "ab"}))
>>> seen[0].kind
'ingest'
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

EventKind = Literal[
    "ingest", "alert", "incident", "verdict", "action", "model", "suppression", "config", "other"
]


@dataclass(frozen=True)
class BusEvent:
    """Something a stage decided or did. ``actor`` is a person's id or ``automation``."""

    kind: EventKind
    actor: str
    payload: dict[str, Any]
    time: datetime = field(default_factory=lambda: datetime.now(UTC))


Subscriber = Callable[[BusEvent], None]


class EventBus:
    """Synchronous publish/subscribe. Subscribers run in subscription order."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subs.append(fn)

    def publish(self, event: BusEvent) -> None:
        for fn in self._subs:
            fn(event)
