"""Suite ``correlate``: alerts → incidents on Mordor recordings and on a generated campaign.

Alert sources are an explicit list (:data:`DETECTORS`): every detector mirrorguard has that
turns events of these kinds into alerts — Sigma (SigmaHQ Windows rules from
``../shared/data/sigma``), beaconing, and UEBA per host and per user. A source that cannot
apply to a dataset says why in the notes (UEBA needs a baseline period, which an atomic
recording of a few minutes does not have).

**Mordor** (``mordor_security_datasets``, OTRF Security-Datasets): every atomic Windows host
recording (one attack each) is parsed with the Windows JSON parser, all are run together in
time order, and the alerts stream into one correlator in micro-batches. A recording "is in one
incident" when all its alerts are; a *false merge* is an incident whose recordings do not form
one connected group through shared linking entities (recordings that share no entity, not even
transitively, were joined).

**Campaign** (:mod:`mirrorguard.scenario.campaign`): 5 days of an office with a six-stage
intrusion; ground truth = the campaign's event ids. An alert is a campaign alert when it cites
one. The *campaign incident* is the incident holding most campaign alerts; its rank is its place
in the triage queue.
"""

from __future__ import annotations

import hashlib
import io
import tarfile
import time
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from mirrorguard.bench.harness import BenchContext, SuiteResult
from mirrorguard.correlate import EntityCorrelator
from mirrorguard.correlate.sources import (
    beacon_alerts,
    expand_entities,
    resolve_hosts,
    sigma_alerts,
    ueba_alerts,
)
from mirrorguard.detect.sigma.engine import SigmaEngine
from mirrorguard.detect.sigma.loader import RuleSet, load_rules
from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.winjson import WinJsonParser
from mirrorguard.respond import build_queue
from mirrorguard.scenario.campaign import START, generate_campaign

DETECTORS = ("sigma", "beacon", "ueba.host", "ueba.user")
BATCH = 2_000


def _alerts(events: pl.DataFrame, rules: RuleSet, split: datetime | None,
            counts: dict[str, int], notes: list[str], label: str) -> pl.DataFrame:
    parts = []
    for name in DETECTORS:
        if name == "sigma":
            found = sigma_alerts(events, SigmaEngine(rules.rules).match(events), rules.rules)
        elif name == "beacon":
            found = beacon_alerts(events)
        elif split is None:
            notes.append(f"{label}: {name} not run (no baseline period before the attacks)")
            continue
        else:
            found = ueba_alerts(events, "host.name" if name == "ueba.host" else "user.name",
                                split)
        counts[name] = found.height
        parts.append(found)
    alerts = pl.concat(parts) if parts else pl.DataFrame()
    return resolve_hosts(expand_entities(alerts, events), events).sort("@timestamp")


def _stream(alerts: pl.DataFrame) -> EntityCorrelator:
    c = EntityCorrelator()
    for start in range(0, alerts.height, BATCH):
        c.add(alerts.slice(start, BATCH))
    return c


def _campaign(ctx: BenchContext, rules: RuleSet, notes: list[str]) -> dict[str, Any]:
    camp = generate_campaign(seed=11 + ctx.seed, days=5)
    split = START + timedelta(days=camp.truth["days"] - 2)
    counts: dict[str, int] = {}
    alerts = _alerts(camp.events, rules, split, counts, notes, "campaign")
    truth = list(camp.campaign_event_ids())
    is_camp = alerts["evidence.event_ids"].list.eval(pl.element().is_in(truth)).list.any()
    camp_ids = set(alerts.filter(is_camp)["alert.id"].to_list())
    c = _stream(alerts)
    holders: dict[str, int] = defaultdict(int)
    for aid in camp_ids:
        holders[c.incident_of(aid) or ""] += 1
    main = max(holders, key=lambda k: holders[k]) if holders else None
    queue = build_queue(c, alerts, now=alerts["@timestamp"].max())  # type: ignore[arg-type]
    rank = next((it.rank for it in queue.items if it.incident.id == main), None)
    inc = c.incident(main) if main else None
    held = holders[main] if main else 0
    return {
        "events": camp.events.height, "alerts": alerts.height, "alerts_by_detector": counts,
        "incidents": len(c.incidents()), "campaign_alerts": len(camp_ids),
        "campaign_incidents": len(holders),
        "campaign_alert_recall": round(held / len(camp_ids), 4) if camp_ids else 0.0,
        "campaign_incident_precision": round(held / inc.size, 4) if inc else 0.0,
        "campaign_rank": rank, "campaign_risk": round(inc.risk, 2) if inc else None,
        "campaign_tactics": list(inc.tactics) if inc else [],
        "compression_ratio": round(alerts.height / max(len(c.incidents()), 1), 2),
    }


def _members(path: Path) -> Iterator[tuple[str, bytes]]:
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as z:
            for n in z.namelist():
                if n.endswith(".json"):
                    yield n, z.read(n)
    elif path.name.endswith((".tar.gz", ".tgz")):
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                fh = tf.extractfile(m) if m.isfile() and m.name.endswith(".json") else None
                if fh is not None:
                    yield m.name, fh.read()


def _recording(path: Path, rec: str) -> pl.DataFrame | None:
    frames = []
    for name, data in _members(path):
        ctx = ParseContext(Origin(str(path), name, hashlib.sha256(data).hexdigest()),
                           datetime.now(UTC))
        frames += [r.events for r in WinJsonParser().parse(io.BytesIO(data), ctx)
                   if r.events.height]
    if not frames:
        return None
    ev = pl.concat(frames, how="diagonal_relaxed")
    return ev.with_columns(pl.lit(rec).alias("recording"),
                           pl.format("{}#{}", pl.lit(rec), pl.int_range(pl.len()))
                           .alias("event.id"))


def _mordor_events(ctx: BenchContext) -> tuple[pl.DataFrame, list[str]]:
    root = ctx.data("mordor_security_datasets", "datasets", "atomic", "windows")
    paths = sorted(p for p in root.glob("*/host/*") if p.is_file())
    if ctx.quick:
        paths = paths[:: max(1, len(paths) // 25)]
    frames = []
    for i, p in enumerate(paths):
        if i % 20 == 0:
            ctx.progress(f"correlate: parsing Mordor recording {i + 1}/{len(paths)}")
        f = _recording(p, str(p.relative_to(root)))
        if f is not None:
            frames.append(f)
    events = pl.concat(frames, how="diagonal_relaxed").sort("@timestamp")
    return events, [str(p.relative_to(ctx.data_dir)) for p in paths]


def _false_merges(c: EntityCorrelator, rec_of: dict[str, str]) -> int:
    bad = 0
    for inc in c.incidents():
        keys: dict[str, set[str]] = defaultdict(set)
        for aid in inc.alert_ids:
            keys[rec_of[aid]].update(k for k in c.alerts_[aid].keys if c.hubs_.links(k))
        recs = list(keys)
        if len(recs) < 2:
            continue
        seen, todo = {recs[0]}, [recs[0]]
        while todo:
            cur = todo.pop()
            for other in recs:
                if other not in seen and keys[cur] & keys[other]:
                    seen.add(other)
                    todo.append(other)
        bad += len(seen) < len(recs)
    return bad


def _mordor(ctx: BenchContext, rules: RuleSet, notes: list[str]) -> tuple[dict[str, Any],
                                                                           list[str]]:
    events, files = _mordor_events(ctx)
    counts: dict[str, int] = {}
    alerts = _alerts(events, rules, None, counts, notes, "mordor")
    ev_rec = dict(zip(events["event.id"].to_list(), events["recording"].to_list(), strict=True))
    rec_of = {aid: ev_rec[ids[0]] for aid, ids in alerts.select(
        "alert.id", "evidence.event_ids").iter_rows()}
    c = _stream(alerts)
    per_rec: dict[str, set[str]] = defaultdict(set)
    for aid, rec in rec_of.items():
        per_rec[rec].add(c.incident_of(aid) or "")
    one = sum(len(s) == 1 for s in per_rec.values())
    n_inc = len(c.incidents())
    recs_per_inc: dict[str, set[str]] = defaultdict(set)
    for aid, rec in rec_of.items():
        recs_per_inc[c.incident_of(aid) or ""].add(rec)
    return {
        "recordings": int(events["recording"].n_unique()), "events": events.height,
        "alerts": alerts.height, "alerts_by_detector": counts, "incidents": n_inc,
        "compression_ratio": round(alerts.height / max(n_inc, 1), 2),
        "recordings_with_alerts": len(per_rec), "recordings_in_one_incident": one,
        "share_in_one_incident": round(one / max(len(per_rec), 1), 4),
        "false_merges": _false_merges(c, rec_of),
        "incidents_with_several_recordings": sum(len(r) > 1 for r in recs_per_inc.values()),
        "max_recordings_per_incident": max((len(r) for r in recs_per_inc.values()), default=0),
        "hub_keys": sorted(c.hubs_.hubs)[:50],
    }, files


def run(ctx: BenchContext) -> SuiteResult:
    notes: list[str] = []
    t0 = time.perf_counter()
    rules = load_rules([ctx.data("sigma", "rules", "windows")])
    notes.append(f"sigma: {len(rules.rules)} Windows rules compiled, {len(rules.failures)} "
                 "failed to compile")
    ctx.progress("correlate: campaign")
    campaign = _campaign(ctx, rules, notes)
    ctx.progress("correlate: mordor")
    mordor, files = _mordor(ctx, rules, notes)
    total_alerts = campaign["alerts"] + mordor["alerts"]
    total_inc = campaign["incidents"] + mordor["incidents"]
    return SuiteResult(
        results={"mordor": mordor, "campaign": campaign, "detectors": list(DETECTORS),
                 "compression_ratio_overall": round(total_alerts / max(total_inc, 1), 2),
                 "seconds": round(time.perf_counter() - t0, 2)},
        datasets=[{"name": "mordor_security_datasets", "files": files,
                   "split": "atomic windows host recordings, all together in time order"},
                  {"name": "sigma", "files": ["sigma/rules/windows"]},
                  {"name": "campaign (generated)", "seed": 11 + ctx.seed, "days": 5}],
        notes=notes)
