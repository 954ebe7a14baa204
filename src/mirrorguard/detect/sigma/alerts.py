"""Alerts from Sigma matches and correlation firings.

Each alert carries the rule's title, a severity from its ``level``, the rule id (as
``model.version`` and in the explanation), ATT&CK technique ids from its ``attack.tNNNN`` tags
(tactic names travel in the explanation's ``extra``), the matched fields and values (one
:class:`~mirrorguard.schema.alerts.Contribution` per rule predicate that holds on the event:
feature = Sigma field, baseline = the rule's pattern, value = the event's value) and the
evidence event ids.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import polars as pl

from mirrorguard.detect.sigma.compiler import CompiledCorrelation, CompiledRule
from mirrorguard.detect.sigma.correlation import Firing
from mirrorguard.schema.alerts import Alert, Contribution, Explanation, Severity

DETECTOR = "sigma"
LEVEL_SCORE = {"informational": 0.1, "low": 0.3, "medium": 0.5, "high": 0.75, "critical": 1.0}
ENTITY_COLUMNS: dict[str, tuple[str, ...]] = {
    "host": ("host.name", "winlog.computer_name"),
    "user": ("user.name", "winlog.event_data.User", "winlog.event_data.TargetUserName"),
    "ip": ("source.ip", "destination.ip", "winlog.event_data.IpAddress"),
    "process": ("process.executable", "winlog.event_data.Image",
                "winlog.event_data.NewProcessName"),
    "hash": ("process.hash.sha256", "file.hash.sha256"),
    "domain": ("dns.question.name", "url.domain", "winlog.event_data.QueryName"),
}


def _tactics(tags: Sequence[str]) -> list[str]:
    out = []
    for t in tags:
        low = t.lower()
        if low.startswith("attack.") and not (low[7:8] in "tsg" and low[8:9].isdigit()):
            out.append(low[7:].replace("_", "-"))
    return out


def _entities(row: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    out: dict[str, tuple[str, ...]] = {}
    for kind, cols in ENTITY_COLUMNS.items():
        vals = tuple(dict.fromkeys(str(row[c]) for c in cols if row.get(c) not in (None, "", "-")))
        if vals:
            out[kind] = vals
    return out


def _time(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromtimestamp(0, UTC)


def rule_alert(rule: CompiledRule, event: dict[str, Any],
               matched: Sequence[tuple[str, str, str | None]]) -> Alert:
    """One alert for one event matching one rule; ``matched`` = (field, pattern, value)."""
    contribs = tuple(Contribution(feature=f, value=v, baseline=p, contribution=1.0,
                                  detail=f"{f} {p}") for f, p, v in matched)
    shown = "; ".join(f"{f} {p} (saw {v!r})" for f, p, v in matched[:3])
    text = f"Sigma rule '{rule.title}' ({rule.level}) matched" + (f": {shown}" if shown else "")
    extra = {"rule_id": rule.id, "rule_title": rule.title, "level": rule.level,
             "tags": list(rule.tags), "tactics": _tactics(rule.tags),
             "logsource": rule.mapping.id, "rule_file": rule.file, "status": rule.status}
    return Alert(
        time=_time(event.get("@timestamp")), detector=DETECTOR,
        score=LEVEL_SCORE.get(rule.level, 0.5), severity=Severity(rule.level),
        explanation=Explanation(text=text, contributions=contribs, extra=extra),
        entities=_entities(event), techniques=rule.techniques,
        evidence=tuple(str(x) for x in [event.get("event.id")] if x is not None),
        model_version=rule.id, title=rule.title,
    )


def alerts_from_matches(rules: Sequence[CompiledRule], frame: pl.DataFrame,
                        matches: pl.DataFrame, explained: pl.DataFrame) -> list[Alert]:
    """Alerts for every (rule, row) match, with the explanation rows for each."""
    if matches.height == 0:
        return []
    by_match: dict[tuple[int, int], list[tuple[str, str, str | None]]] = {}
    for r, row, f, p, v in explained.iter_rows():
        by_match.setdefault((r, row), []).append((f, p, v))
    wanted = ["@timestamp", "event.id", *{c for cs in ENTITY_COLUMNS.values() for c in cs}]
    cols = [c for c in wanted if c in frame.columns]
    events = frame.select(cols)[matches["row"].to_numpy()].to_dicts()
    out = []
    for (r, row), event in zip(matches.select("rule", "row").iter_rows(), events, strict=True):
        out.append(rule_alert(rules[r], event, by_match.get((r, row), [])))
    return out


def correlation_alert(firing: Firing, frame: pl.DataFrame) -> Alert:
    """One alert for one firing of a correlation rule."""
    c: CompiledCorrelation = firing.correlation
    groups = ", ".join(f"{k}={v!r}" for k, v in firing.group.items())
    what = {"event_count": "events", "value_count": f"distinct {c.field}",
            "temporal": "rules", "temporal_ordered": "rules in order"}[c.type]
    text = (f"Sigma correlation '{c.title}' ({c.type}): {firing.value:g} {what} within "
            f"{c.timespan_s}s" + (f" for {groups}" if groups else ""))
    contribs = tuple(Contribution(feature=k, value=v, baseline=None, contribution=1.0,
                                  detail="group-by") for k, v in firing.group.items())
    contribs += (Contribution(feature=c.type, value=firing.value,
                              baseline=f"{c.op} {c.count:g}", contribution=1.0),)
    rows = list(firing.rows)
    cols = [x for cs in ENTITY_COLUMNS.values() for x in cs if x in frame.columns]
    ents: dict[str, set[str]] = {}
    for event in frame.select(cols)[rows].to_dicts() if cols else []:
        for kind, vals in _entities(event).items():
            ents.setdefault(kind, set()).update(vals)
    extra = {"rule_id": c.id, "type": c.type, "group": firing.group, "rules": list(c.rules),
             "timespan_s": c.timespan_s, "tactics": _tactics(c.tags), "rule_file": c.file}
    return Alert(
        time=firing.time, detector=DETECTOR, score=LEVEL_SCORE.get(c.level, 0.5),
        severity=Severity(c.level), explanation=Explanation(text, contribs, extra),
        entities={k: tuple(sorted(v)) for k, v in ents.items()},
        techniques=tuple(t.split(".", 1)[1].upper() for t in c.tags
                         if t.lower().startswith("attack.t") and t[8:9].isdigit()),
        evidence=firing.event_ids, model_version=c.id, title=c.title,
    )
