"""Zeek logs, TSV (``#fields``/``#types`` headers, header changes mid-file) and JSON.

Fast paths hand whole blocks to Polars' native readers; only a block that contains a bad record
falls back to checking lines one by one, so the good records still land and each bad one is
quarantined with its line number and reason.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass, field
from typing import ClassVar

import orjson
import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.bytescan import count_byte, count_followed, count_pair
from mirrorguard.ingest.lines import LazyLines, LineParser, reject_lines
from mirrorguard.ingest.normalize import RECORD, checked_convert, finish
from mirrorguard.ingest.parsers.zeek_map import infer_log, map_frame
from mirrorguard.schema.fields import FIELDS

_TSV_TYPES: dict[str, pl.DataType] = {
    "time": pl.Float64(), "interval": pl.Float64(), "double": pl.Float64(),
    "count": pl.Int64(), "int": pl.Int64(), "port": pl.Int64(), "bool": pl.Boolean(),
}
_ESCAPE = re.compile(rb"\\x([0-9a-fA-F]{2})")
_DIRECTIVE = re.compile(rb"(?m)^(#[^\n]*)(?:\n|$)")


@dataclass
class _TsvHeader:
    separator: str = "\t"
    set_separator: str = ","
    empty: str = "(empty)"
    unset: str = "-"
    path: str = "unknown"
    fields: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    open_time: str | None = None  # '#open' header, used as the time of logs without 'ts'
    bad_header: str | None = None


def _unescape(value: str) -> str:
    return _ESCAPE.sub(lambda m: bytes([int(m.group(1), 16)]), value.encode()).decode(
        errors="replace"
    )


class ZeekTsvParser(LineParser):
    """Zeek's default ASCII (TSV) logs."""

    name: ClassVar[str] = "zeek_tsv"

    def __init__(self) -> None:
        self._h = _TsvHeader()

    @classmethod
    def sniff(cls, head: bytes) -> float:
        if head.startswith(b"#separator") and b"#fields\t" in head:
            return 1.0
        return 0.0

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        if not block.startswith(b"#") and b"\n#" not in block:
            return self._parse_data(block, first_line, ctx)
        results = []
        pos, line_no = 0, first_line
        for m in _DIRECTIVE.finditer(block):
            if m.start() > pos:
                seg = block[pos : m.start()]
                results.append(self._parse_data(seg, line_no, ctx))
                line_no += seg.count(b"\n")
            self._directive(m.group(1).rstrip(b"\r"))
            pos, line_no = m.end(), line_no + 1
        if pos < len(block):
            results.append(self._parse_data(block[pos:], line_no, ctx))
        return _merge(results, ctx)

    def _directive(self, line: bytes) -> None:
        text = line.decode("utf-8", errors="replace")
        if text.startswith("#separator"):
            raw = text.split(" ", 1)[1] if " " in text else "\\x09"
            self._h.separator = _unescape(raw)
            return
        key, _, value = text[1:].partition(self._h.separator)
        if key == "set_separator":
            self._h.set_separator = value
        elif key == "empty_field":
            self._h.empty = value
        elif key == "unset_field":
            self._h.unset = value
        elif key == "path":
            self._h.path = value
        elif key == "open":
            self._h.open_time = value
        elif key == "fields":
            fields = value.split(self._h.separator)
            valid = all(fields) and len(set(fields)) == len(fields)
            self._h.fields = fields if valid else []
            self._h.bad_header = None if valid else f"invalid #fields header: {value[:80]!r}"
        elif key == "types":
            self._h.types = value.split(self._h.separator)

    def _parse_data(self, data: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        h = self._h
        lines = LazyLines(data)
        n = data.count(b"\n")
        if not h.fields:
            reason = h.bad_header or "data line before any #fields header"
            return reject_lines(lines, first_line, ctx, reason, skip_blank=False)
        try:
            raw, early = self._read_strings(data, first_line, lines, ctx)
            typed, bad = self._type_columns(raw)
            mapped = map_frame(typed, h.path, default_time=h.open_time)
            return finish(mapped, ctx, offered=n, dtypes=FIELDS, raw=lines,
                          first_record=first_line, early_rejects=early, prior_bad=bad)
        except pl.exceptions.PolarsError as exc:  # safety net: reject, never escape
            reason = f"unparsable segment: {exc}"[:300]
            return reject_lines(lines, first_line, ctx, reason, skip_blank=False)

    def _read_strings(
        self, data: bytes, first_line: int, lines: LazyLines, ctx: ParseContext
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        h = self._h
        try:
            df = pl.read_csv(io.BytesIO(data), separator=h.separator, has_header=False,
                             quote_char=None, infer_schema=False, new_columns=h.fields)
            if df.height == data.count(b"\n") and not df.null_count().sum_horizontal().item():
                return df.with_columns(
                    pl.int_range(first_line, first_line + df.height, dtype=pl.Int64).alias(RECORD)
                ), None
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError,
                pl.exceptions.ShapeError):
            pass
        return self._read_strings_slow(lines, first_line, ctx)

    def _read_strings_slow(
        self, lines: LazyLines, first_line: int, ctx: ParseContext
    ) -> tuple[pl.DataFrame, pl.DataFrame | None]:
        h = self._h
        good: list[list[str]] = []
        recs: list[int] = []
        bad: list[tuple[int | None, int | None, str, bytes]] = []
        for i, line in enumerate(lines):
            try:
                parts = line.decode("utf-8").split(h.separator)
            except UnicodeDecodeError as exc:
                bad.append((first_line + i, None, f"invalid UTF-8 at byte {exc.start}", line))
                continue
            if len(parts) != len(h.fields):
                bad.append((first_line + i, None,
                            f"expected {len(h.fields)} fields, found {len(parts)}", line))
                continue
            good.append(parts)
            recs.append(first_line + i)
        df = pl.DataFrame(good, schema=h.fields, orient="row") if good else pl.DataFrame(
            schema=dict.fromkeys(h.fields, pl.String))
        return df.with_columns(pl.Series(RECORD, recs, dtype=pl.Int64)), make_rejects(ctx, bad)

    def _type_columns(self, df: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
        """Apply ``#types``: unset → null, sets split, numbers and bools converted (checked)."""
        h = self._h
        prep: list[pl.Expr] = []
        conversions: dict[str, tuple[pl.Expr, str]] = {}
        for name, ztype in zip(h.fields, h.types or ["string"] * len(h.fields), strict=False):
            col = pl.when(pl.col(name) == h.unset).then(None).otherwise(pl.col(name))
            if ztype.startswith(("vector", "set")):
                col = (pl.when(pl.col(name) == h.empty).then(pl.lit([], dtype=pl.List(pl.String)))
                       .otherwise(col.str.split(h.set_separator)))
            elif ztype == "bool":
                conversions[name] = (
                    pl.when(pl.col(name) == "T").then(True)
                    .when(pl.col(name) == "F").then(False).otherwise(None), "bool")
            elif ztype in _TSV_TYPES:
                conversions[name] = (pl.col(name).cast(_TSV_TYPES[ztype], strict=False), ztype)
            else:
                col = pl.when(pl.col(name) == h.empty).then(pl.lit("")).otherwise(col)
            prep.append(col.alias(name))
        return checked_convert(df.with_columns(prep), conversions)


class ZeekJsonParser(LineParser):
    """Zeek JSON logs (``LogAscii::use_json``), one record per line; ``_path`` when present."""

    name: ClassVar[str] = "zeek_json"

    @classmethod
    def sniff(cls, head: bytes) -> float:
        first = head.lstrip()[:4096].split(b"\n", 1)[0]
        if not first.startswith(b"{"):
            return 0.0
        has_id = b'"id.orig_h"' in first or b'"id":{"orig_h"' in first.replace(b" ", b"")
        if has_id and (b'"uid"' in first or b'"ts"' in first):
            return 0.95
        if b'"_path"' in first and b'"ts"' in first:
            return 0.9
        return 0.0

    def __init__(self) -> None:
        self._reader = JsonBlockReader()

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        lines = LazyLines(block)
        frame, early, offered = self._reader.read(block, first_line, lines, ctx)
        if frame.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
        frame = _unnest_id(frame)
        if "_path" in frame.columns:
            parts = frame.partition_by("_path", as_dict=True, include_key=True)
            mapped = [map_frame(p, str(k[0]) if k[0] else infer_log(p.columns))
                      for k, p in parts.items()]
            out = pl.concat(mapped, how="diagonal_relaxed")
        else:
            out = map_frame(frame, infer_log(frame.columns))
        return finish(out, ctx, offered=offered, dtypes=FIELDS, raw=lines,
                      first_record=first_line, early_rejects=early)


def _unnest_id(frame: pl.DataFrame) -> pl.DataFrame:
    if "id" in frame.columns and isinstance(frame.schema["id"], pl.Struct):
        inner = frame["id"].struct.unnest()
        inner = inner.rename({c: f"id.{c}" for c in inner.columns})
        return frame.drop("id").hstack(inner)
    return frame


class JsonBlockReader:
    """Reads JSON-lines blocks, learning the schema once and reusing it while it is safe.

    Inferring a schema over every row is several times slower than reading with a known
    schema, but Polars silently ignores keys a given schema lacks. So a block read with the
    learned schema is kept only when an exact count proves nothing was dropped: in compact
    JSON every key is one ``":`` token, so the block's count of ``":`` tokens, less its
    ``":null`` tokens, must equal the number of non-null values Polars parsed (nested struct
    fields included). Both counts are vectorised byte-pair scans (:mod:`..bytescan`); the
    second is skipped when the first already matches, as it does for Zeek, which writes no
    nulls. An
    unknown key with a value, ``":`` inside a string value or non-compact JSON all break the
    equality, and the block takes the full-inference path; what it learns is
    merged into the schema. (An unknown key whose value is ``null`` carries no data and may go
    unnoticed until it first has a value.)
    """

    def __init__(self) -> None:
        self._schema: dict[str, pl.DataType] | None = None

    def read(
        self, block: bytes, first_line: int, lines: LazyLines, ctx: ParseContext
    ) -> tuple[pl.DataFrame, pl.DataFrame, int]:
        """``(frame with mirrorguard.record, rejects, offered)`` for one block."""
        # Blank lines need no scan of their own: Polars skips them, so the height check below
        # fails and the block takes the slow path, which numbers lines exactly.
        if block:
            n = count_byte(block, 10) + (0 if block.endswith(b"\n") else 1)
            df = self._fast(block)
            if df is None:
                df = _infer_read(block)
                if df is not None:
                    self._learn(df.schema)
            if df is not None and df.height == n:
                rec = pl.int_range(first_line, first_line + n, dtype=pl.Int64).alias(RECORD)
                return df.with_columns(rec), make_rejects(ctx, []), n
        return _read_json_slow(lines, first_line, ctx)

    def _fast(self, block: bytes) -> pl.DataFrame | None:
        if self._schema is None or any(_has_list_of_struct(d) for d in self._schema.values()):
            return None
        try:
            df = pl.read_ndjson(io.BytesIO(block), schema=self._schema)
        except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
            return None
        parsed = _non_null_values(df)
        keys = count_pair(block, b'":')  # Zeek writes no nulls: one count usually settles it
        if parsed == keys or parsed == keys - count_followed(block, b'":', 110):  # 110 = n
            return df
        return None

    def _learn(self, schema: pl.Schema) -> None:
        merged = dict(self._schema or {})
        for name, dtype in schema.items():
            old = merged.get(name)
            merged[name] = dtype if old is None or old == dtype else pl.String()
        self._schema = merged


def _has_list_of_struct(dtype: pl.DataType) -> bool:
    if isinstance(dtype, pl.List | pl.Array):
        return isinstance(dtype.inner, pl.Struct) or _has_list_of_struct(
            dtype.inner if isinstance(dtype.inner, pl.DataType) else dtype.inner())
    if isinstance(dtype, pl.Struct):
        return any(_has_list_of_struct(f.dtype if isinstance(f.dtype, pl.DataType)
                                       else f.dtype()) for f in dtype.fields)
    return False


def _non_null_values(df: pl.DataFrame) -> int:
    """Non-null values in a frame, counting the fields of non-null structs too."""
    total = 0
    for s in df.get_columns():
        present = s.len() - s.null_count()
        total += present
        if present and isinstance(s.dtype, pl.Struct):
            total += _non_null_values(s.drop_nulls().struct.unnest())
    return total


def _infer_read(block: bytes) -> pl.DataFrame | None:
    try:
        return pl.read_ndjson(io.BytesIO(block), infer_schema_length=None)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        return None


def read_json_block(
    block: bytes, first_line: int, lines: LazyLines, ctx: ParseContext
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    """JSON lines → frame with ``mirrorguard.record``; bad lines → rejects. Blank lines skipped.

    Stateless convenience wrapper over :class:`JsonBlockReader` (keep one reader per source to
    reuse the learned schema). Returns ``(frame, rejects, offered)``.
    """
    return JsonBlockReader().read(block, first_line, lines, ctx)


def _read_json_slow(
    lines: LazyLines, first_line: int, ctx: ParseContext
) -> tuple[pl.DataFrame, pl.DataFrame, int]:
    good: list[bytes] = []
    recs: list[int] = []
    bad: list[tuple[int | None, int | None, str, bytes]] = []
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            bad.append((first_line + i, None, f"invalid JSON: {exc}", line))
            continue
        if not isinstance(obj, dict):
            bad.append((first_line + i, None, "JSON value is not an object", line))
            continue
        good.append(line)
        recs.append(first_line + i)
    offered = len(good) + len(bad)
    if not good:
        return pl.DataFrame(), make_rejects(ctx, bad), offered
    try:
        df = pl.read_ndjson(io.BytesIO(b"\n".join(good)), infer_schema_length=None)
    except (pl.exceptions.ComputeError, pl.exceptions.SchemaError):
        df = _stringly(good)
    return df.with_columns(pl.Series(RECORD, recs, dtype=pl.Int64)), make_rejects(ctx, bad), offered


def _stringly(lines: list[bytes]) -> pl.DataFrame:
    """Last resort for wildly mixed types: every value as text (lossless; casts check later)."""
    rows = []
    for line in lines:
        obj = orjson.loads(line)
        rows.append({k: v if isinstance(v, str) or v is None else orjson.dumps(v).decode()
                     for k, v in obj.items()})
    return pl.from_dicts(rows, infer_schema_length=None)


def _merge(results: list[ParseResult], ctx: ParseContext) -> ParseResult:
    events = [r.events for r in results if r.events.height]
    rejects = [r.rejects for r in results if r.rejects.height]
    return ParseResult(
        events=pl.concat(events, how="diagonal_relaxed") if events else pl.DataFrame(),
        rejects=pl.concat(rejects) if rejects else make_rejects(ctx, []),
        offered=sum(r.offered for r in results),
    )
