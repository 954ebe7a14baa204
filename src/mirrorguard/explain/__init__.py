"""Explanations for alerts: per-feature contributions and one-line narratives.

Explanations are computed for alert rows only, never for every event.
"""

from mirrorguard.explain.attribution import build_explanations, group_columns
from mirrorguard.explain.narrative import describe_value, format_quantity

__all__ = ["build_explanations", "describe_value", "format_quantity", "group_columns"]
