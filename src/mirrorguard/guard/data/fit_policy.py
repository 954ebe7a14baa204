"""The training-screen policy and the context that carries it to every ``fit``.

:class:`FitScreenPolicy` says what a fit does with flagged rows; :func:`training_screen` sets it
(and the bus screen results go to) for a block of code through a ``ContextVar``, so nested and
library fits see the same policy without passing it through every call.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

import polars as pl

from mirrorguard.bus import EventBus
from mirrorguard.config.settings import GuardSettings
from mirrorguard.errors import ConfigError
from mirrorguard.guard.data.screen import ScreenConfig
from mirrorguard.schema.alerts import Severity


class TrainingPolicy(StrEnum):
    """What a ``fit`` does with flagged training data (``off``: no screen at all)."""

    QUARANTINE = "quarantine"
    BLOCK = "block"
    WARN = "warn"
    OFF = "off"


POLICIES = tuple(p.value for p in TrainingPolicy)

@dataclass(frozen=True, eq=False)
class FitScreenPolicy:
    """What a ``fit`` does with its training data's findings, and how much screening it buys.

    ``reference`` is a trusted earlier training frame: used only by fits whose screened
    columns it has all (shift, and the backdoor screen's novelty test). ``target_label`` is
    the attacker-favourable class (for an IDS, benign). ``config`` tunes the labelled screen
    (default: :class:`ScreenConfig`, backdoor screen only with a reference). ``quarantine_at``:
    quarantinable findings below this severity are recorded but their rows kept. The default
    ``medium`` leaves natural label noise alone (a label finding is LOW below 0.4 % of the
    rows): removing the 0.12 % of KDDTrain+ rows the screen doubts cost the hybrid detector
    0.65 points of KDDTest+ accuracy (0.852 -> 0.846) for no security gain, while injected
    flips at the rates an attacker needs reach MEDIUM or HIGH. ``low`` keeps the screen's own
    semantics (every quarantinable row goes). ``flood_share`` /
    ``flood_lift``: a record pattern with at least that share of the rows *and* that many
    times the copies of a typical other pattern is a flood (repetition in low-variety data is
    not). ``max_levels``: string columns with more distinct values are free text.
    """

    policy: str = "quarantine"
    min_rows: int = 200
    chunk_rows: int = 20_000
    min_class_rows: int = 10
    reference: pl.DataFrame | None = None
    target_label: Any = None
    config: ScreenConfig | None = None
    quarantine_at: Severity = Severity.MEDIUM
    flood_share: float = 0.1
    flood_lift: float = 25.0
    max_levels: int = 256
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "policy", str(self.policy))
        if self.policy not in POLICIES:
            raise ConfigError(f"unknown training screen policy {self.policy!r}; "
                              f"known: {', '.join(POLICIES)}")
        if self.min_rows < 1 or self.chunk_rows < self.min_rows:
            raise ConfigError("the screen needs 1 <= min_rows <= chunk_rows")
        if not 0.0 < self.flood_share < 1.0 or self.flood_lift < 1.0:
            raise ConfigError("flood_share must be in (0, 1) and flood_lift at least 1")

    def screen_config(self, reference: pl.DataFrame | None = None) -> ScreenConfig:
        return self.config or ScreenConfig(backdoor=reference is not None)


def policy_from_settings(guard: GuardSettings, override: str | None = None) -> FitScreenPolicy:
    """The policy configured in ``[guard]`` (``training_policy``, ``training_chunk_rows``)."""
    return FitScreenPolicy(policy=override or guard.training_policy,
                           chunk_rows=guard.training_chunk_rows)


@dataclass(frozen=True)
class _Context:
    policy: FitScreenPolicy
    bus: EventBus | None = None
    actor: str = "automation"


_DEFAULT = _Context(FitScreenPolicy())
_CONTEXT: ContextVar[_Context | None] = ContextVar("mirrorguard_fit_screen", default=None)
_IN_FIT: ContextVar[bool] = ContextVar("mirrorguard_in_screened_fit", default=False)


@contextmanager
def training_screen(policy: FitScreenPolicy | str | None = None, *, bus: EventBus | None = None,
                    actor: str | None = None) -> Iterator[FitScreenPolicy]:
    """Screen every ``fit`` in this block under ``policy``; publish results on ``bus``.

    A policy name keeps the enclosing policy's other knobs; ``None`` keeps the enclosing
    policy (to attach only a bus). The bus and actor are inherited when not given.
    """
    cur = _context()
    if policy is None:
        pol = cur.policy
    elif isinstance(policy, FitScreenPolicy):
        pol = policy
    else:
        pol = replace(cur.policy, policy=policy)
    token = _CONTEXT.set(_Context(pol, bus if bus is not None else cur.bus, actor or cur.actor))
    try:
        yield pol
    finally:
        _CONTEXT.reset(token)


def _context() -> _Context:
    return _CONTEXT.get() or _DEFAULT


def active_policy() -> FitScreenPolicy:
    """The policy a ``fit`` called here would be screened under."""
    return _context().policy
