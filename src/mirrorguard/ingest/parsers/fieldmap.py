"""Any JSON-lines or CSV source, mapped to ECS by a declarative YAML field map.

A field map names the source's fields and the ECS fields they become; nothing in it is code::

    name: my_app                  # lower-case identifier; unmapped fields become my_app.<field>
    format: jsonl                 # or csv
    dataset: myapp.events         # event.dataset
    timestamp: {field: time, format: epoch_ms}   # iso8601 | epoch_s/ms/us/ns | a strftime format
    fields: {client: source.ip, user.name: user.name, act: event.action}
    constants: {event.category: authentication}
    types: {my_app.latency: float}               # dtypes of namespaced fields (default: text)
    csv: {delimiter: ",", header: true}          # csv only (columns: [...] when header: false)
    detect: {required_fields: [client, act]}     # optional: sniff by content

Nested JSON objects are addressed with dots (``user.name``). The map is validated with pydantic
when loaded: unknown keys, bad names and wrong types are :class:`~mirrorguard.errors.ConfigError`
naming the YAML file and the key. Without ``timestamp`` every event takes the ingest time
(``<name>.time_from_ingest`` marks it). A map without ``detect`` is used only when asked for.

CSV records must fit on one line (a quoted field may hold the delimiter, not a newline); a row
with the wrong number of fields or an unbalanced quote is rejected, as is a JSON line that is not
an object. Values that cannot become their ECS field's type reject their record (checked casts).

>>> spec = FieldMap.model_validate({"name": "demo", "format": "jsonl", "dataset": "demo.log",
...     "timestamp": {"field": "t", "format": "epoch_s"}, "fields": {"who.name": "user.name"}})
>>> import io
>>> from datetime import UTC, datetime
>>> from mirrorguard.ingest.base import Origin, ParseContext
>>> ctx = ParseContext(origin=Origin("d.jsonl", None, "0" * 64), ingested_at=datetime.now(UTC))
>>> res = next(parser_for(spec)().parse(io.BytesIO(b'{"t": 0, "who": {"name": "ann"}}\\n'), ctx))
>>> res.events.select("@timestamp", "user.name", "event.dataset").row(0)
(datetime.datetime(1970, 1, 1, 0, 0, tzinfo=zoneinfo.ZoneInfo(key='UTC')), 'ann', 'demo.log')
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path
from typing import Any, ClassVar, Literal

import orjson
import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from mirrorguard.errors import ConfigError
from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.lines import LazyLines, LineParser
from mirrorguard.ingest.normalize import RECORD, finish, iso_to_ts, rejects_from_records
from mirrorguard.ingest.parsers.zeek import read_json_block
from mirrorguard.ingest.textlines import text_lines
from mirrorguard.schema.fields import FIELDS, TIMESTAMP

_FIELD_NAME = r"^@?[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_@-]+)*$"
_EPOCH = {"epoch_s": 1_000_000.0, "epoch_ms": 1_000.0, "epoch_us": 1.0, "epoch_ns": 0.001}
_STRICT = ConfigDict(extra="forbid", frozen=True)
_TYPES: dict[str, pl.DataType] = {"string": pl.String(), "int": pl.Int64(), "float": pl.Float64(),
                                  "bool": pl.Boolean()}


class TimestampSpec(BaseModel):
    """Where the event time is and how it is written."""

    model_config = _STRICT
    field: str | list[str] = Field(min_length=1)  # a list: the first one present wins
    format: str = "iso8601"
    timezone: str = "UTC"

    @model_validator(mode="after")
    def _known_format(self) -> TimestampSpec:
        if self.format not in ("iso8601", *_EPOCH) and "%" not in self.format:
            raise ValueError("format must be iso8601, epoch_s/ms/us/ns or a strftime format")
        return self

    @property
    def sources(self) -> list[str]:
        return [self.field] if isinstance(self.field, str) else list(self.field)


class CsvSpec(BaseModel):
    """CSV dialect: one-character delimiter and quote; a header line or explicit columns."""

    model_config = _STRICT
    delimiter: str = Field(default=",", min_length=1, max_length=1)
    quote: str | None = Field(default='"', min_length=1, max_length=1)
    header: bool = True
    columns: list[str] | None = None


class DetectSpec(BaseModel):
    """Content detection: a source whose first record has all these fields is this map's."""

    model_config = _STRICT
    required_fields: list[str] = Field(min_length=1)
    confidence: float = Field(default=0.85, ge=0.5, le=0.99)


class FieldMap(BaseModel):
    """A validated field map (see the module docstring for the YAML shape)."""

    model_config = _STRICT
    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,63}$")
    format: Literal["jsonl", "csv"]
    dataset: str = Field(pattern=r"^[a-z0-9_]+(\.[a-z0-9_]+)*$")
    description: str = ""
    timestamp: TimestampSpec | None = None
    fields: dict[str, str] = Field(default_factory=dict)
    constants: dict[str, str | int | float | bool] = Field(default_factory=dict)
    types: dict[str, Literal["string", "int", "float", "bool"]] = Field(default_factory=dict)
    csv: CsvSpec | None = None
    detect: DetectSpec | None = None
    keep_unmapped: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> FieldMap:
        for target in [*self.fields.values(), *self.constants, *self.types]:
            if not re.match(_FIELD_NAME, target) or target in (RECORD, "@timestamp"):
                raise ValueError(f"invalid target field name {target!r}")
        if self.csv is not None and self.format != "csv":
            raise ValueError("'csv' options given for a jsonl map")
        dialect = self.csv or CsvSpec()
        if self.format == "csv" and not dialect.header and not dialect.columns:
            raise ValueError("csv without a header needs 'columns'")
        return self

    @property
    def dialect(self) -> CsvSpec:
        return self.csv or CsvSpec()

    def dtypes(self) -> dict[str, pl.DataType]:
        """Declared dtypes of the map's own (namespaced) fields; ECS fields keep theirs."""
        return {k: _TYPES[v] for k, v in self.types.items() if k not in FIELDS}


#: example maps shipped with mirrorguard (``aws_cloudtrail.yaml``, ``unsw_nb15.yaml``)
BUNDLED_MAPS = Path(__file__).resolve().parents[1] / "fieldmaps"


def bundled_field_maps() -> list[Path]:
    """Paths of the example field maps shipped in ``mirrorguard/ingest/fieldmaps``."""
    return sorted(BUNDLED_MAPS.glob("*.yaml"))


def load_field_map(path: Path) -> FieldMap:
    """Read and validate a YAML field map; every problem is a ConfigError naming the file."""
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read field map: {exc}", file=str(path)) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"invalid YAML: {exc}", file=str(path), line=line) from exc
    if not isinstance(doc, dict):
        raise ConfigError("a field map must be a YAML mapping", file=str(path))
    try:
        return FieldMap.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"]) or "(top level)"
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                             for e in exc.errors())
        raise ConfigError(f"invalid field map key {key!r}: {problems}", file=str(path),
                          record=key) from exc


def flatten(frame: pl.DataFrame) -> pl.DataFrame:
    """Nested struct columns → dotted top-level columns (``a: {b: 1}`` → ``a.b``)."""
    while any(isinstance(t, pl.Struct) for t in frame.schema.values()):
        exprs: list[pl.Expr] = []
        seen: set[str] = set()
        for name, dtype in frame.schema.items():
            subs = ([(f"{name}.{f.name}", pl.col(name).struct.field(f.name)) for f in dtype.fields]
                    if isinstance(dtype, pl.Struct) else [(name, pl.col(name))])
            for label, e in subs:
                new = label
                while new in seen:  # a literal "a.b" key next to a nested a.b
                    new += "_"
                seen.add(new)
                exprs.append(e.alias(new))
        frame = frame.select(exprs)
    return frame


def storable(frame: pl.DataFrame) -> pl.DataFrame:
    """Lists of text stay; other lists and nested values become JSON text (lossless)."""
    exprs: list[pl.Expr] = []
    for name, dtype in frame.schema.items():
        if isinstance(dtype, pl.List) and isinstance(dtype.inner, (pl.String, pl.Null)):
            exprs.append(pl.col(name).cast(pl.List(pl.String)))
        elif isinstance(dtype, (pl.List, pl.Array, pl.Struct)):
            wrapped = pl.struct(pl.col(name).alias("v")).struct.json_encode()
            exprs.append(pl.when(pl.col(name).is_null()).then(None)
                         .otherwise(wrapped.str.slice(5).str.strip_suffix("}")).alias(name))
        elif isinstance(dtype, pl.Null):
            exprs.append(pl.col(name).cast(pl.String))
        else:
            exprs.append(pl.col(name))
    return frame.select(exprs)


def _time_of(spec: TimestampSpec, name: str, dtype: pl.DataType) -> pl.Expr:
    col = pl.col(name)
    if spec.format in _EPOCH:
        num = col.cast(pl.Float64, strict=False) if dtype == pl.String or dtype.is_float() else col
        return (num * _EPOCH[spec.format]).cast(pl.Float64).round(0).cast(
            pl.Int64, strict=False).cast(TIMESTAMP)
    text = col.cast(pl.String)
    if spec.format == "iso8601":
        return iso_to_ts(text)
    if "%z" in spec.format or "%Z" in spec.format:
        return text.str.to_datetime(spec.format, time_unit="us", time_zone="UTC", strict=False)
    return (text.str.to_datetime(spec.format, time_unit="us", strict=False)
            .dt.replace_time_zone(spec.timezone, ambiguous="earliest", non_existent="null")
            .dt.convert_time_zone("UTC"))


def _time(spec: TimestampSpec, frame: pl.DataFrame) -> pl.Expr:
    parts = [_time_of(spec, c, frame.schema[c]) for c in spec.sources if c in frame.columns]
    if not parts:
        return pl.lit(None, dtype=TIMESTAMP)
    return parts[0] if len(parts) == 1 else pl.coalesce(parts)


def apply_map(spec: FieldMap, frame: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
    """Rename a flat frame of source fields to ECS per ``spec`` (constants, dataset, time)."""
    targets: dict[str, list[str]] = {}
    for src, dst in spec.fields.items():
        if src in frame.columns:
            targets.setdefault(dst, []).append(src)
    exprs = [pl.col(RECORD)]
    for dst, srcs in targets.items():
        exprs.append((pl.col(srcs[0]) if len(srcs) == 1 else pl.coalesce(srcs)).alias(dst))
    used = {s for srcs in targets.values() for s in srcs} | {RECORD}
    if spec.timestamp is not None:
        used.update(spec.timestamp.sources)
    if spec.keep_unmapped:
        exprs += [pl.col(c).alias(f"{spec.name}.{c}") for c in frame.columns if c not in used]
    exprs += [pl.lit(v).alias(k) for k, v in spec.constants.items() if k not in targets]
    exprs.append(pl.lit(spec.dataset).alias("event.dataset"))
    if spec.timestamp is not None:
        exprs.append(_time(spec.timestamp, frame).alias("@timestamp"))
    else:
        exprs += [pl.lit(ctx.ingested_at).cast(TIMESTAMP).alias("@timestamp"),
                  pl.lit(True).alias(f"{spec.name}.time_from_ingest")]
    return storable(frame.select(exprs))


def _unquoted_fields(line: pl.Expr, spec: CsvSpec) -> pl.Expr:
    if spec.quote is None:
        return line.str.count_matches(spec.delimiter, literal=True) + 1
    q = "\\" + spec.quote
    bare = line.str.replace_all(f"{q}(?:[^{q}]|{q}{q})*{q}", "")
    fields = bare.str.count_matches(spec.delimiter, literal=True) + 1
    return pl.when(bare.str.contains(spec.quote, literal=True)).then(-1).otherwise(fields)


def _split_header(text: str, spec: CsvSpec) -> list[str]:
    row = next(csv.reader([text], delimiter=spec.delimiter, quotechar=spec.quote or '"',
                          quoting=csv.QUOTE_MINIMAL if spec.quote else csv.QUOTE_NONE), [])
    out: list[str] = []
    for i, cell in enumerate(row):
        name = cell.strip() or f"column_{i}"
        while name in out:
            name += "_"
        out.append(name)
    return out


def _keys(obj: object, prefix: str = "") -> set[str]:
    if not isinstance(obj, dict):
        return set()
    out: set[str] = set()
    for k, v in obj.items():
        out.add(prefix + str(k))
        out |= _keys(v, f"{prefix}{k}.")
    return out


class FieldMapParser(LineParser):
    """JSON-lines / CSV parser driven by a :class:`FieldMap`; build one with :func:`parser_for`."""

    name: ClassVar[str] = "fieldmap"
    spec: ClassVar[FieldMap | None] = None

    def __init__(self) -> None:
        if self.spec is None:
            raise ConfigError("FieldMapParser needs a field map: use parser_for(spec)")
        self._map: FieldMap = self.spec
        self._dtypes = {**FIELDS, **self._map.dtypes()}
        self._columns: list[str] | None = None
        if self._map.format == "csv" and not self._map.dialect.header:
            self._columns = list(self._map.dialect.columns or [])

    @classmethod
    def sniff(cls, head: bytes) -> float:
        spec = cls.spec
        if spec is None or spec.detect is None:
            return 0.0
        text = head[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
        first = next((ln.strip() for ln in text.split("\n") if ln.strip()), "")
        if spec.format == "jsonl":
            try:
                keys = _keys(orjson.loads(first))
            except orjson.JSONDecodeError:
                return 0.0
        else:
            keys = set(spec.dialect.columns or []) if not spec.dialect.header else set(
                _split_header(first, spec.dialect))
        return spec.detect.confidence if set(spec.detect.required_fields) <= keys else 0.0

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        if self._map.format == "jsonl":
            lines = LazyLines(block)
            frame, early, offered = read_json_block(block, first_line, lines, ctx)
            if frame.height == 0:
                return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
            out = apply_map(self._map, flatten(frame), ctx)
            return finish(out, ctx, offered=offered, dtypes=self._dtypes, raw=lines,
                          first_record=first_line, early_rejects=early)
        return self._parse_csv(block, first_line, ctx)

    def _parse_csv(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        dialect = self._map.dialect
        tl = text_lines(block, first_line)
        lines = tl.frame
        if self._columns is None and lines.height:
            self._columns = _split_header(lines["line"][0], dialect)
            lines = lines.slice(1)
        cols = self._columns or []
        offered = lines.height + len(tl.rejects)
        raw = LazyLines(block)
        n = _unquoted_fields(pl.col("line"), dialect)
        lines = lines.with_columns(n.alias("__n"))
        wrong = pl.col("__n") != len(cols)
        bad = lines.filter(wrong).select(pl.col(RECORD), pl.when(pl.col("__n") < 0).then(
            pl.lit("unbalanced quote")).otherwise(pl.format("expected {} fields, found {}",
                                                            pl.lit(len(cols)), pl.col("__n")))
            .alias("reason"))
        early = make_rejects(ctx, tl.rejects)
        if bad.height:
            early = pl.concat([early, rejects_from_records(ctx, bad, raw, first_line)])
        good = lines.filter(~wrong)
        if good.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
        text = "\n".join(good["line"].to_list()).encode()
        frame = pl.read_csv(io.BytesIO(text), has_header=False, new_columns=cols,
                            infer_schema=False, separator=dialect.delimiter,
                            quote_char=dialect.quote).with_columns(good[RECORD])
        out = apply_map(self._map, frame, ctx)
        return finish(out, ctx, offered=offered, dtypes=self._dtypes, raw=raw,
                      first_record=first_line, early_rejects=early)


def parser_for(spec: FieldMap) -> type[FieldMapParser]:
    """A parser class bound to ``spec`` (named ``fieldmap:<spec.name>``), for the registry."""
    attrs: dict[str, Any] = {"name": f"fieldmap:{spec.name}", "spec": spec,
                             "fields": spec.dtypes(),
                             "__doc__": spec.description or f"Field map {spec.name!r}."}
    cls = type(f"FieldMapParser_{spec.name}", (FieldMapParser,), attrs)
    assert issubclass(cls, FieldMapParser)
    return cls
