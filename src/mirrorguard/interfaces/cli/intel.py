"""``mirrorguard intel …``: load threat-intel feeds into the store; match stored events.

``intel load FEED…`` reads STIX 2.x bundles, MISP events / feed directories, CSV and text
lists (format recognised, or ``--format``) into the tables ``intel_indicators`` and
``intel_sightings``. Problems (invalid or unsupported patterns, unknown object types, bad
values) are printed with their location; the rest loads (``--strict`` loads nothing then).

``intel match`` matches the stored events against the stored indicators (with the built-in
warning-lists plus ``--warninglist`` files) and prints alerts; ``--save`` stores them in the
``alerts`` table.

Exit codes: 0 done (no problems / no alerts), 1 loaded with problems / alerts found, 2 error,
3 nothing to do (no indicators or no events).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from mirrorguard.correlate.persist import CorrelationStore
from mirrorguard.detect.intel import (
    FORMATS,
    IntelMatcher,
    IntelSet,
    WarningList,
    WarningLists,
    builtin_lists,
    hits_to_alerts,
    load_feed,
    load_intel,
    save_intel,
)
from mirrorguard.detect.intel.normalize import DEFAULT_FIELDS
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_NOTHING,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    build_settings,
    console,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.store.duckdb_store import DuckDBStore
from mirrorguard.store.types import quote

app = typer.Typer(name="intel", help="Threat-intel feeds (STIX, MISP, CSV) and matching.",
                  no_args_is_help=True)


@app.command("load")
def load(
    feeds: list[Path] = typer.Argument(..., help="feed files or MISP feed directories"),
    fmt: str = typer.Option("auto", "--format", "-f", help=f"one of {', '.join(FORMATS)}"),
    ioc_type: str | None = typer.Option(None, "--type", help="type for lists without one"),
    feed: str | None = typer.Option(None, "--feed", help="feed name (default: from the file)"),
    exact_domains: bool = typer.Option(False, "--exact-domains",
                                       help="STIX domain-name matches only itself"),
    strict: bool = typer.Option(False, "--strict", help="load nothing if any problem is found"),
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Load feeds into the store (indicators are replaced by id when loaded again)."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        intel = IntelSet.concat([load_feed(p, fmt=fmt, type=ioc_type, feed=feed,
                                           subdomains=not exact_domains) for p in feeds])
        problems = intel.report.problems
        written: dict[str, int] = {}
        if not (strict and problems):
            with DuckDBStore.from_settings(settings.store) as st:
                written = save_intel(st, intel)
    summary = {"indicators": intel.indicator_count(), "written": written,
               "report": intel.report.to_dict(), "loaded": bool(written)}
    if as_json:
        emit_json(summary)
    else:
        for p in problems[:50]:
            console.print(f"[yellow]problem[/] {p}")
        if len(problems) > 50:
            console.print(f"… {len(problems) - 50} more problems (use --json)")
        verb = "loaded" if written else "NOT loaded (--strict)"
        out.print(f"{verb}: {intel.indicator_count():,} indicators, "
                  f"{intel.sightings.height:,} sightings, {len(problems)} problems")
    if problems:
        raise typer.Exit(EXIT_FINDINGS)


def _events(st: DuckDBStore, limit: int | None) -> Any:
    have = set(st.event_columns())
    wanted = {"@timestamp", "event.id", "host.name", "user.name"}
    wanted |= {f for fields in DEFAULT_FIELDS.values() for f in fields}
    cols = ", ".join(quote(c) for c in sorted(wanted & have))
    sql = f"SELECT {cols} FROM events ORDER BY \"@timestamp\""  # noqa: S608 (known columns)
    return st.query(sql + (f" LIMIT {int(limit)}" if limit else ""))


@app.command("match")
def match(
    warninglist: list[Path] = typer.Option([], "--warninglist", "-w",
                                           help="extra MISP warninglist JSON files"),
    no_builtin: bool = typer.Option(False, "--no-builtin-warninglists"),
    save: bool = typer.Option(False, "--save", help="store alerts in the alerts table"),
    limit: int | None = typer.Option(None, "--limit", help="match only the first N events"),
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Match stored events against stored indicators and report alerts."""
    with handle_errors(as_json):
        settings = build_settings(config, store)
        lists = [] if no_builtin else builtin_lists()
        lists += [WarningList.from_file(p) for p in warninglist]
        with DuckDBStore.from_settings(settings.store) as st:
            intel = load_intel(st)
            events = _events(st, limit) if intel.indicators.height else None
            if events is None or events.height == 0:
                what = "indicators" if events is None else "events"
                (emit_json({"error": "Nothing", "message": f"no {what} in the store"})
                 if as_json else console.print(f"no {what} in the store"))
                raise typer.Exit(EXIT_NOTHING)
            matcher = IntelMatcher(intel, warninglists=WarningLists(lists))
            hits = matcher.match(events)
            alerts = hits_to_alerts(hits, events)
            saved = CorrelationStore(st.con).append_alerts(alerts) if save else 0
    summary = {"events": events.height, "hits": dict(matcher.stats.hits),
               "compile": dict(matcher.compile_counts), "alerts": alerts.height,
               "saved": saved}
    if as_json:
        emit_json({**summary, "alert_rows": alerts.select(
            "alert.id", "@timestamp", "severity", "score", "title", "explanation.text",
            "attack.techniques").to_dicts()})
    else:
        table = Table("time", "severity", "title", "why")
        for r in alerts.head(50).iter_rows(named=True):
            table.add_row(str(r["@timestamp"]), r["severity"], r["title"],
                          r["explanation.text"])
        out.print(table)
        out.print(f"{events.height:,} events, hits {summary['hits']}, {alerts.height} alerts"
                  + (f", {saved} saved" if save else ""))
    if alerts.height:
        raise typer.Exit(EXIT_FINDINGS)
