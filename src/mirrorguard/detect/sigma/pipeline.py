"""Declarative field-mapping pipelines: the events a Sigma logsource sees, where its fields are.

A pipeline is a YAML file (in the spirit of pySigma's processing pipelines, read by our own
loader; nothing in it is code). Each ``logsources`` entry says which rules it serves
(``product`` / ``category`` / ``service``), which events those rules may see (``conditions``:
any-of a list of column → value(s) mappings, all of whose keys must hold), and how Sigma field
names become our columns (``fields``: Sigma name → one column or a list tried in order, i.e.
coalesced). ``passthrough`` maps any other field name to ``<prefix><Field>`` (Windows EventData);
without it, an unmapped field makes the rule fail to compile. ``keywords`` lists the columns that
fieldless Sigma keywords search (a trailing ``*`` takes every column with that prefix).

``services`` is a shorthand that expands to one entry per service (``service: channel value``)
sharing ``service_defaults``; ``field_defaults`` apply to every entry of the file, and
``keyword_defaults`` to every entry that names no ``keywords`` of its own.
``{product}``, ``{service}`` and ``{category}`` in a ``generic: true`` entry are filled from the
rule's logsource, so one entry can serve sources ingested with a generic field map.

>>> p = Pipeline.from_dict({"name": "demo", "logsources": [{"product": "linux",
...     "category": "process_creation", "conditions": [{"event.category": "process"}],
...     "fields": {"Image": "process.executable"}}]})
>>> m = p.resolve({"product": "linux", "category": "process_creation"})
>>> m.columns_for("Image"), m.columns_for("Nope")
(('process.executable',), None)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from mirrorguard.errors import ConfigError

LOGSOURCE_KEYS = ("product", "category", "service")
_ENTRY_KEYS = frozenset({"id", "product", "category", "service", "conditions", "fields",
                         "passthrough", "keywords", "generic", "description"})
_FILE_KEYS = frozenset({"name", "description", "priority", "logsources", "services",
                        "service_defaults", "field_defaults", "keyword_defaults"})

Scalar = str | int | float | bool
Condition = dict[str, tuple[Scalar, ...]]


@dataclass(frozen=True)
class LogsourceMapping:
    """The events one logsource sees and how its Sigma field names become columns."""

    id: str
    match: dict[str, str]
    conditions: tuple[Condition, ...]
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    passthrough: str | None = None
    keywords: tuple[str, ...] = ()

    def columns_for(self, sigma_field: str) -> tuple[str, ...] | None:
        """Columns (coalesced in order) for a Sigma field, or None when it is not mapped."""
        cols = self.fields.get(sigma_field)
        if cols is None:
            lowered = {k.lower(): v for k, v in self.fields.items()}
            cols = lowered.get(sigma_field.lower())
        if cols is not None:
            return cols
        if self.passthrough is not None:
            return (self.passthrough + sigma_field,)
        return None

    def filter_expr(self, columns: Iterable[str]) -> pl.Expr:
        """Polars predicate selecting this logsource's events (missing columns never match)."""
        have = set(columns)
        alternatives: list[pl.Expr] = []
        for cond in self.conditions:
            parts: list[pl.Expr] = []
            for col, values in cond.items():
                if col not in have:
                    parts = [pl.repeat(False, pl.len())]
                    break
                parts.append(_value_test(pl.col(col), values))
            if parts:
                alternatives.append(pl.all_horizontal(parts))
        if not self.conditions:
            return pl.repeat(True, pl.len())
        return pl.any_horizontal(alternatives) if alternatives else pl.repeat(False, pl.len())

    def filter_sql(self, quote: Mapping[str, str]) -> str:
        """The same predicate as SQL over a table whose columns are named by ``quote``."""
        if not self.conditions:
            return "1"
        alts: list[str] = []
        for cond in self.conditions:
            parts: list[str] = []
            for col, values in cond.items():
                if col not in quote:
                    parts = ["0"]
                    break
                vals = ", ".join(_sql_literal(v) for v in values)
                parts.append(f"{quote[col]} IN ({vals})")
            alts.append("(" + " AND ".join(parts) + ")")
        return "(" + " OR ".join(alts) + ")"


def _value_test(expr: pl.Expr, values: tuple[Scalar, ...]) -> pl.Expr:
    if all(isinstance(v, bool) for v in values):
        return expr.is_in(list(values))
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return expr.cast(pl.Float64, strict=False).is_in([float(v) for v in values])
    return expr.cast(pl.String).is_in([str(v) for v in values])


def _sql_literal(v: Scalar) -> str:
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int | float):
        return repr(v)
    return "'" + str(v).replace("'", "''") + "'"


@dataclass(frozen=True)
class Pipeline:
    """Ordered logsource mappings; the most specific entry matching a rule's logsource wins."""

    name: str
    entries: tuple[LogsourceMapping, ...]
    generic: tuple[dict[str, Any], ...] = ()
    priority: int = 50

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any], source: str = "<dict>") -> Pipeline:
        """Build and validate a pipeline from its parsed YAML document."""
        if not isinstance(doc, Mapping):
            raise ConfigError("pipeline must be a mapping", file=source)
        unknown = set(doc) - _FILE_KEYS
        if unknown:
            raise ConfigError(f"unknown pipeline keys {sorted(unknown)}", file=source)
        defaults = _fields(doc.get("field_defaults", {}), source)
        kw_defaults = list(doc.get("keyword_defaults", []))
        raw = list(doc.get("logsources", []))
        raw += _expand_services(doc.get("services", {}), doc.get("service_defaults", {}), source)
        entries: list[LogsourceMapping] = []
        generic: list[dict[str, Any]] = []
        for i, e in enumerate(raw):
            if not isinstance(e, Mapping) or set(e) - _ENTRY_KEYS:
                bad = sorted(set(e) - _ENTRY_KEYS) if isinstance(e, Mapping) else e
                raise ConfigError(f"logsource entry {i}: bad keys {bad}", file=source)
            if e.get("generic"):
                generic.append({**dict(e), "field_defaults": defaults})
                continue
            body = {**dict(e), "keywords": kw_defaults} if (
                kw_defaults and not e.get("keywords")) else e
            entries.append(_entry(body, defaults, f"{doc.get('name', source)}#{i}", source))
        return cls(str(doc.get("name", source)), tuple(entries), tuple(generic),
                   int(doc.get("priority", 50)))

    @classmethod
    def from_yaml(cls, path: Path) -> Pipeline:
        """Load a pipeline file (``yaml.safe_load``; errors name the file and line)."""
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            raise ConfigError(f"invalid pipeline YAML: {exc}", file=str(path),
                              line=None if mark is None else mark.line + 1) from exc
        except OSError as exc:
            raise ConfigError(f"cannot read pipeline: {exc}", file=str(path)) from exc
        return cls.from_dict(doc, str(path))

    def resolve(self, logsource: Mapping[str, str | None]) -> LogsourceMapping | None:
        """The entry serving a rule's logsource, or None when this pipeline has none."""
        want = {k: str(v).lower() for k, v in logsource.items() if v and k in LOGSOURCE_KEYS}
        best: LogsourceMapping | None = None
        for entry in self.entries:
            if all(want.get(k) == v for k, v in entry.match.items()) and all(
                k in entry.match for k in want if k != "product"
            ) and (best is None or len(entry.match) > len(best.match)):
                best = entry
        if best is not None:
            return best
        for spec in self.generic:
            if all(spec.get(k) in (None, want.get(k)) for k in LOGSOURCE_KEYS
                   if k in spec) and want.get("product"):
                return _instantiate(spec, want)
        return None


def _fields(raw: Any, source: str) -> dict[str, tuple[str, ...]]:
    if not isinstance(raw, Mapping):
        raise ConfigError("'fields' must be a mapping", file=source)
    out: dict[str, tuple[str, ...]] = {}
    for k, v in raw.items():
        cols = (v,) if isinstance(v, str) else tuple(v) if isinstance(v, list) else None
        if not cols or not all(isinstance(c, str) and c for c in cols):
            raise ConfigError(f"field {k!r}: expected a column name or a list of them",
                              file=source)
        out[str(k)] = cols
    return out


def _conditions(raw: Any, source: str) -> tuple[Condition, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise ConfigError("'conditions' must be a list of mappings", file=source)
    out: list[Condition] = []
    for cond in raw:
        if not isinstance(cond, Mapping) or not cond:
            raise ConfigError(f"bad condition {cond!r}", file=source)
        out.append({str(k): tuple(v) if isinstance(v, list) else (v,) for k, v in cond.items()})
    return tuple(out)


def _entry(e: Mapping[str, Any], defaults: Mapping[str, tuple[str, ...]], default_id: str,
           source: str) -> LogsourceMapping:
    match = {k: str(e[k]).lower() for k in LOGSOURCE_KEYS if e.get(k)}
    if not match:
        raise ConfigError(f"entry {default_id}: needs product, category or service",
                          file=source)
    kw = e.get("keywords", [])
    return LogsourceMapping(
        id=str(e.get("id") or "/".join(match.values())), match=match,
        conditions=_conditions(e.get("conditions"), source),
        fields={**defaults, **_fields(e.get("fields", {}), source)},
        passthrough=e.get("passthrough"), keywords=tuple(kw if isinstance(kw, list) else [kw]),
    )


def _expand_services(services: Any, defaults: Any, source: str) -> list[dict[str, Any]]:
    if not isinstance(services, Mapping) or not isinstance(defaults, Mapping):
        raise ConfigError("'services' and 'service_defaults' must be mappings", file=source)
    out: list[dict[str, Any]] = []
    for service, channel in services.items():
        entry = dict(defaults)
        entry["service"] = service
        entry["conditions"] = [{"winlog.channel": channel}]
        out.append(entry)
    return out


def _instantiate(spec: Mapping[str, Any], want: Mapping[str, str]) -> LogsourceMapping:
    subst = {k: want.get(k, "") for k in LOGSOURCE_KEYS}

    def fill(v: Any) -> Any:
        if isinstance(v, str):
            return v.format(**subst).replace("..", ".").strip(".")
        if isinstance(v, list):
            return [fill(x) for x in v]
        if isinstance(v, Mapping):
            return {fill(k): fill(x) for k, x in v.items()}
        return v

    body = {k: fill(v) for k, v in spec.items() if k not in ("generic", "field_defaults")}
    body.update(want)
    entry = _entry(body, spec.get("field_defaults", {}), "generic", "generic")
    pt = body.get("passthrough")
    return LogsourceMapping(entry.id, entry.match, entry.conditions, entry.fields,
                            None if pt is None else str(pt) + ".", entry.keywords)


@dataclass(frozen=True)
class PipelineSet:
    """Several pipelines; resolution asks them in priority order (lower first)."""

    pipelines: tuple[Pipeline, ...]

    def resolve(self, logsource: Mapping[str, str | None]) -> LogsourceMapping | None:
        for p in sorted(self.pipelines, key=lambda p: p.priority):
            hit = p.resolve(logsource)
            if hit is not None:
                return hit
        return None


def builtin_pipeline_paths() -> list[Path]:
    """The YAML pipelines shipped with mirrorguard (``detect/sigma/pipelines/*.yaml``)."""
    root = resources.files("mirrorguard.detect.sigma") / "pipelines"
    return sorted(Path(str(p)) for p in root.iterdir() if p.name.endswith(".yaml"))


def default_pipelines(extra: Sequence[Path] = ()) -> PipelineSet:
    """Built-in pipelines plus any extra files (extra ones first at equal priority)."""
    return PipelineSet(tuple(Pipeline.from_yaml(p) for p in [*extra, *builtin_pipeline_paths()]))
