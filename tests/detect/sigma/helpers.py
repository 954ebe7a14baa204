"""Shared helpers for the Sigma tests: compile a rule from YAML text, build event frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import polars as pl
from sigma.collection import SigmaCollection

from mirrorguard.detect.sigma.compiler import CompiledRule, compile_rule
from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.pipeline import default_pipelines

SYSMON = "Microsoft-Windows-Sysmon/Operational"
PIPES = default_pipelines()


def compile_yaml(text: str) -> CompiledRule:
    """The first rule of a YAML document, compiled with the built-in pipelines."""
    rule = SigmaCollection.from_yaml(text).rules[0]
    return compile_rule(rule, PIPES)  # type: ignore[arg-type]


def proc_rule(detection: str, **meta: str) -> CompiledRule:
    """A Windows process_creation rule with the given ``detection:`` body (YAML, indented 2)."""
    head = "\n".join(f"{k}: {v}" for k, v in {"title": "t", **meta}.items())
    return compile_yaml(f"{head}\nlogsource: {{product: windows, category: process_creation}}"
                        f"\ndetection:\n{detection}\n")


def sysmon(event_id: int = 1, **event_data: Any) -> dict[str, Any]:
    """One Sysmon event row (EventData fields as winlog.event_data.<Name>)."""
    row: dict[str, Any] = {"winlog.channel": SYSMON, "winlog.event_id": event_id}
    row.update({f"winlog.event_data.{k}": v for k, v in event_data.items()})
    return row


def frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows → frame (missing keys null), with event ids and timestamps."""
    df = pl.DataFrame(rows, infer_schema_length=None)
    return df.with_columns(
        pl.Series("event.id", [f"e{i}" for i in range(df.height)]),
        pl.Series("@timestamp", [datetime(2024, 1, 1, tzinfo=UTC) + timedelta(seconds=i)
                                 for i in range(df.height)]),
    ).with_columns(pl.col("winlog.event_id").cast(pl.Int32))


def matched_rows(rule: CompiledRule, df: pl.DataFrame, dedupe: bool = True) -> list[int]:
    """Row positions of ``df`` the rule matches."""
    return SigmaEngine([rule], dedupe=dedupe).match(df)["row"].to_list()
