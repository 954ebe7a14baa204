"""An incident's timeline and entity graph, from the correlator's records.

The timeline lists the incident's distinct alerts in time order with their tactics and
repeat counts. The entity graph has one node per entity key and one edge per pair of keys
that appear together in an alert (weighted by how many alerts); hubs and stop-listed keys
are marked ``links: false`` — they are shown, but did not join anything.

>>> from datetime import datetime, UTC
>>> from mirrorguard.schema.alerts import Alert, Explanation, Severity, alerts_to_frame
>>> from mirrorguard.correlate.engine import EntityCorrelator
>>> c = EntityCorrelator()
>>> _ = c.add(alerts_to_frame([Alert(datetime(2024, 1, 1, tzinfo=UTC), "beacon", 0.9,
...     Severity.HIGH, Explanation("periodic"), {"ip": ("10.0.0.7", "203.0.113.5")},
...     ("T1071",), title="beaconing")]))
>>> g = entity_graph(c, c.incidents()[0].id)
>>> [n["id"] for n in g["nodes"]], g["edges"][0]["weight"]
(['ip:10.0.0.7', 'ip:203.0.113.5'], 1)
"""

from __future__ import annotations

from collections import Counter
from itertools import combinations
from typing import Any

from mirrorguard.correlate.engine import EntityCorrelator


def timeline(c: EntityCorrelator, inc_id: str) -> list[dict[str, Any]]:
    """Distinct alerts of an incident in time order, with tactics and repeats."""
    inc = c.incident(inc_id)
    rows = []
    for aid in inc.alert_ids:
        r = c.alerts_[aid]
        if r.canonical != r.id:
            continue
        rows.append({
            "time": r.time.isoformat(), "alert": r.id, "detector": r.detector,
            "title": r.title, "score": round(r.score, 4), "repeats": r.repeats,
            "techniques": list(r.techniques),
            "tactics": [c.tactic_map.order[s] for s in r.stages],
            "entities": list(r.keys),
        })
    rows.sort(key=lambda x: (x["time"], x["alert"]))
    return rows


def entity_graph(c: EntityCorrelator, inc_id: str) -> dict[str, list[dict[str, Any]]]:
    """Nodes (entity keys) and weighted co-occurrence edges of an incident."""
    inc = c.incident(inc_id)
    node_alerts: Counter[str] = Counter()
    edges: Counter[tuple[str, str]] = Counter()
    for aid in inc.alert_ids:
        keys = c.alerts_[aid].keys
        node_alerts.update(keys)
        edges.update(combinations(sorted(keys), 2))
    nodes = [{"id": k, "kind": k.partition(":")[0], "value": k.partition(":")[2],
              "alerts": n, "links": c.hubs_.links(k)} for k, n in sorted(node_alerts.items())]
    return {"nodes": nodes,
            "edges": [{"source": a, "target": b, "weight": n}
                      for (a, b), n in sorted(edges.items())]}
