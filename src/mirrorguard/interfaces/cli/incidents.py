"""``mirrorguard incidents``, ``incident``, ``verdict``, ``verdicts pending|approve``,
``suppress`` and ``playbook run``.

The commands parse arguments and call :class:`mirrorguard.respond.workspace.Workspace`.
Verdicts pass the feedback-integrity guard: one that proposes a suppression, re-weighs a whole
detector or relabels many alerts is *held* until a different analyst runs ``verdicts approve``.
Exit codes: 0 ok; 1 findings (``incidents`` with queued incidents, ``suppress --preview``
that would hide alerts in true-positive incidents, a verdict held or rejected by the guard, an
approval refused, ``verdicts pending`` with requests waiting); 2 errors; 3 nothing (empty
queue, no pending requests).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import typer
from rich.table import Table

from mirrorguard.engine.recording import ledger_bus
from mirrorguard.errors import ConfigError
from mirrorguard.interfaces.cli.common import (
    EXIT_FINDINGS,
    EXIT_NOTHING,
    EXIT_OK,
    ConfigOpt,
    JsonOpt,
    StoreOpt,
    build_settings,
    emit_json,
    handle_errors,
    out,
)
from mirrorguard.learn import VerdictOutcome
from mirrorguard.respond.actions import ResponseFiles
from mirrorguard.respond.playbook import parse_duration
from mirrorguard.respond.workspace import Workspace
from mirrorguard.schema.alerts import VerdictLabel

playbook_app = typer.Typer(help="Response playbooks (dry-run by default).", no_args_is_help=True)
verdicts_app = typer.Typer(help="Verdicts held for a second analyst (two-person rule).",
                           no_args_is_help=True)


def _workspace(config: Path | None, store: Path | None) -> Workspace:
    settings = build_settings(config, store)
    con = duckdb.connect(str(settings.store.path))
    return Workspace(con, ledger_bus(settings, con))


def _now(at: str | None) -> datetime:
    if at is None:
        return datetime.now(UTC)
    try:
        t = datetime.fromisoformat(at)
    except ValueError as exc:
        raise ConfigError(f"--at must be an ISO time, got {at!r}") from exc
    return t if t.tzinfo else t.replace(tzinfo=UTC)


AtOpt = typer.Option(None, "--at", help="evaluate as of this ISO time (default: now)")


def incidents(
    limit: int = typer.Option(20, "--limit", "-n"),
    include_closed: bool = typer.Option(False, "--all", help="include closed incidents"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The triage queue: open incidents, highest risk first, suppressed alerts left out."""
    with handle_errors(as_json):
        q = _workspace(config, store).queue(_now(at), include_closed=include_closed)
    items = [i.to_dict() for i in q.items[:limit]]
    if as_json:
        emit_json({"incidents": items, "hidden_incidents": q.hidden_incidents,
                   "total": len(q.items)})
    else:
        table = Table("#", "incident", "risk", "alerts", "tactics", "detectors", "title")
        for i in items:
            table.add_row(str(i["rank"]), str(i["incident"]), f"{i['risk']:.1f}",
                          str(i["alerts"]), ", ".join(i["tactics"]),  # type: ignore[arg-type]
                          ", ".join(i["detectors"]), str(i["title"])[:60])  # type: ignore[arg-type]
        out.print(table)
        out.print(f"{len(q.items)} incidents queued, {q.hidden_incidents} fully suppressed")
    raise typer.Exit(EXIT_FINDINGS if q.items else EXIT_NOTHING)


def incident(
    incident_id: str = typer.Argument(..., help="incident id (inc-…)"),
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """One incident: summary, timeline, entity graph and alert explanations."""
    with handle_errors(as_json):
        d = _workspace(config, store).detail(incident_id)
    if as_json:
        emit_json(d)
        return
    inc = d["incident"]
    out.print(f"[bold]{inc['id']}[/] risk {inc['risk']} status {inc['status']} — {inc['title']}")
    out.print(f"tactics: {', '.join(inc['tactics']) or '-'}; detectors: "
              f"{', '.join(inc['detectors'])}")
    table = Table("time", "detector", "title", "tactics", "repeats", "why")
    for r in d["timeline"]:
        table.add_row(r["time"], r["detector"], r["title"][:50], ", ".join(r["tactics"]),
                      str(r["repeats"]), d["explanations"].get(r["alert"], {}).get("text", "")
                      [:70])
    out.print(table)
    out.print("entities: " + ", ".join(
        f"{n['id']}{'' if n['links'] else ' (hub)'}" for n in d["graph"]["nodes"]))
    for h in inc["history"]:
        out.print(f"  {h['time']} {h['action']} by {h['actor']} {h['detail']}")


def verdict(
    target_id: str = typer.Argument(..., help="alert id, or incident id with --incident"),
    label: VerdictLabel = typer.Option(..., "--label", "-l"),
    analyst: str = typer.Option(..., "--analyst", "-a", help="your id (a person)"),
    reason: str = typer.Option("", "--reason", "-r"),
    scope: str = typer.Option("alert", "--scope", help="alert | entity | rule | detector"),
    on_incident: bool = typer.Option(False, "--incident", help="the id is an incident"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Record an analyst's verdict; says if it is held for a second analyst, and prints the
    suppression it proposes, if any."""
    with handle_errors(as_json):
        o = _workspace(config, store).verdict("incident" if on_incident else "alert", target_id,
                                              analyst, label, reason, scope, _now(at))
    _report(o, as_json)
    raise typer.Exit(EXIT_OK if o.decision.accepted else EXIT_FINDINGS)


def _report(o: VerdictOutcome, as_json: bool) -> None:
    d = o.decision
    if as_json:
        emit_json({"verdict": o.verdict.to_dict(), "accepted": d.accepted, "status": d.status,
                   "screen_reason": d.reason, "screen_weight": d.learning_weight,
                   "request_id": d.request_id, "weight": o.weight, "queued": o.queued,
                   "proposed_suppression": o.proposal.to_dict() if o.proposal else None})
        return
    head = f"verdict {o.verdict.id}:"
    if d.accepted:
        out.print(f"{head} accepted ({d.reason}), counted at weight {d.weight:.2f}")
    elif d.held and d.request_id:
        out.print(f"{head} HELD for a second analyst ({d.reason})")
        out.print(f"another analyst approves it: mirrorguard verdicts approve {d.request_id} "
                  "--analyst ID")
    elif d.held:
        out.print(f"{head} HELD ({d.reason}): it teaches nothing; another analyst should give "
                  f"their own verdict on {o.verdict.target_id}")
    else:
        out.print(f"{head} REJECTED ({d.reason})")
    if o.proposal is not None:
        out.print(f"proposed suppression {o.proposal.id}: preview it with "
                  "`mirrorguard suppress --preview …`")


@verdicts_app.command("pending")
def verdicts_pending(
    config: Path | None = ConfigOpt, store: Path | None = StoreOpt, as_json: bool = JsonOpt,
) -> None:
    """Verdicts held for a second analyst's approval, oldest first."""
    with handle_errors(as_json):
        rows = _workspace(config, store).pending()
    if as_json:
        emit_json({"pending": rows})
    else:
        table = Table("request", "analyst", "label", "scope", "target", "detector", "time")
        for r in rows:
            table.add_row(r["request_id"], r["analyst"], r["label"], r["scope"],
                          f"{r['target_kind']} {r['target_id']}", r["detector"], r["time"])
        out.print(table)
    raise typer.Exit(EXIT_FINDINGS if rows else EXIT_NOTHING)


@verdicts_app.command("approve")
def verdicts_approve(
    request_id: str = typer.Argument(..., help="request id (req-…) of a held verdict"),
    analyst: str = typer.Option(..., "--analyst", "-a",
                                help="your id (a person other than the verdict's analyst)"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Approve a held verdict as the second analyst; it then takes effect."""
    with handle_errors(as_json):
        o = _workspace(config, store).approve(request_id, analyst, _now(at))
    if not as_json and not o.decision.accepted:
        out.print(f"approval of {request_id} REFUSED ({o.decision.reason}); it stays pending")
    else:
        _report(o, as_json)
    raise typer.Exit(EXIT_OK if o.decision.accepted else EXIT_FINDINGS)


def suppress(
    reason: str = typer.Option(..., "--reason"),
    by: str = typer.Option(..., "--by", help="your id (a person)"),
    entity: list[str] = typer.Option([], "--entity", help="kind:value, repeatable"),
    detector: str | None = typer.Option(None, "--detector"),
    rule: str | None = typer.Option(None, "--rule", help="alert title"),
    field: list[str] = typer.Option([], "--field", help="column=value, repeatable"),
    ttl: str | None = typer.Option(None, "--ttl", help="e.g. 7d; none = until removed"),
    preview: bool = typer.Option(False, "--preview", help="only show what it would hide"),
    days: int = typer.Option(30, "--days", help="history the preview looks at"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Add a scoped, expiring suppression — or, with --preview, show its impact first.

    Silencing a whole detector, or hiding 50 or more stored alerts, is held until a second
    person approves it (``mirrorguard suppressions approve``); exit 1 when held.
    """
    with handle_errors(as_json):
        now = _now(at)
        fields = dict(f.split("=", 1) for f in field if "=" in f)
        if len(fields) != len(field):
            raise ConfigError("--field takes column=value")
        ws = _workspace(config, store)
        try:
            delta = parse_duration(ttl) if ttl else None
        except ValueError as exc:
            raise ConfigError(str(exc)) from exc
        rule_obj = ws.suppression(reason=reason, by=by, now=now, ttl=delta,
                                  entities=tuple(entity), detector=detector, rule=rule,
                                  fields=fields)
        p = ws.preview(rule_obj, days, now)
        hidden = None if preview else ws.suppress(rule_obj, by, now)
        held = not preview and ws.book.is_pending(rule_obj.id)
    data = {"suppression": rule_obj.to_dict(), "preview": p.__dict__, "text": p.text(),
            "added": not preview and not held, "held_for_approval": held,
            "hidden_stored_alerts": hidden}
    if as_json:
        emit_json(data)
    else:
        out.print(p.text())
        if held:
            out.print(f"held: {rule_obj.id} silences a whole detector or many alerts; a second "
                      f"person must approve: mirrorguard suppressions approve {rule_obj.id} "
                      "--by OTHER")
        else:
            out.print(f"{'added' if not preview else 'not added (preview)'}: {rule_obj.id}")
    raise typer.Exit(EXIT_FINDINGS if held or (preview and p.true_positive_alerts) else EXIT_OK)


@playbook_app.command("run")
def playbook_run(
    playbooks: Path = typer.Argument(..., help="playbook YAML file"),
    incident_id: str | None = typer.Option(None, "--incident", help="default: whole queue"),
    dry_run: bool = typer.Option(True, "--dry-run/--execute",
                                 help="dry-run (default) changes nothing"),
    nft_file: Path = typer.Option(Path("mirrorguard-blocklist.nft"), "--nft-file"),
    hosts_deny: Path = typer.Option(Path("mirrorguard-hosts.deny"), "--hosts-deny"),
    actor: str = typer.Option("automation", "--actor", help="who runs it"),
    at: str | None = AtOpt, config: Path | None = ConfigOpt, store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Plan and run playbooks; approval-tier actions are only planned."""
    with handle_errors(as_json):
        recs = _workspace(config, store).run_playbooks(
            playbooks, _now(at), incident_id=incident_id, dry_run=dry_run,
            files=ResponseFiles(nft_file, hosts_deny), actor=actor)
    if as_json:
        emit_json({"dry_run": dry_run, "actions": [r.to_dict() for r in recs]})
        return
    table = Table("action", "incident", "type", "tier", "target", "status", "what")
    for r in recs:
        table.add_row(r.id, r.incident, r.spec.type, r.tier, r.target, r.status,
                      str(r.result.get("would", r.result.get("note", "")))[:60])
    out.print(table)
