"""Text lines of a block as a Polars frame (``line`` + ``mirrorguard.record``), shared by the
line-oriented text parsers (syslog, web access logs, CIC flow CSV, field maps).

Undecodable lines and (optionally) comment lines become rejects with their line numbers;
blank lines are not records.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from mirrorguard.ingest.base import RejectRow
from mirrorguard.ingest.lines import LazyLines
from mirrorguard.ingest.normalize import RECORD

__all__ = ["RejectRow", "TextLines", "reject_where", "text_lines"]


@dataclass
class TextLines:
    """The text lines of a block: a frame of ``line`` + ``mirrorguard.record``, plus rejects."""

    frame: pl.DataFrame
    rejects: list[RejectRow]

    @property
    def offered(self) -> int:
        return self.frame.height + len(self.rejects)


def _decode_lines(block: bytes, first_line: int) -> tuple[str, list[RejectRow]]:
    """Decode line by line; undecodable lines become rejects and blank lines (numbering kept)."""
    out: list[str] = []
    bad: list[RejectRow] = []
    for i, raw in enumerate(block.split(b"\n")):
        try:
            out.append(raw.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad.append((first_line + i, None, f"invalid UTF-8 at byte {exc.start}",
                        raw.removesuffix(b"\r")))
            out.append("")
    return "\n".join(out), bad


def text_lines(block: bytes, first_line: int, comment: str | None = None,
               skip_comments: bool = False) -> TextLines:
    """Split ``block`` into non-blank text lines numbered from ``first_line``.

    Lines starting with ``comment`` are skipped when ``skip_comments``, else rejected.
    """
    try:
        text, bad = block.decode("utf-8"), list[RejectRow]()
    except UnicodeDecodeError:
        text, bad = _decode_lines(block, first_line)
    lines = pl.DataFrame({"line": [text]}).select(pl.col("line").str.split("\n")).explode("line")
    frame = lines.select(
        pl.col("line").str.strip_suffix("\r").str.strip_prefix("\ufeff"),
        pl.int_range(first_line, first_line + lines.height, dtype=pl.Int64).alias(RECORD),
    ).filter(pl.col("line").str.strip_chars() != "")
    if comment is not None:
        is_comment = pl.col("line").str.starts_with(comment)
        if not skip_comments:
            raw = LazyLines(block)
            for rec in frame.filter(is_comment)[RECORD].to_list():
                bad.append((rec, None, "comment line, not a record", raw[rec - first_line]))
        frame = frame.filter(~is_comment)
    return TextLines(frame, bad)


def reject_where(frame: pl.DataFrame, cond: pl.Expr, reason: str) -> tuple[pl.DataFrame,
                                                                           pl.DataFrame]:
    """Split rows matching ``cond`` off as ``(record, reason)`` rows."""
    bad = frame.filter(cond).select(pl.col(RECORD), pl.lit(reason).alias("reason"))
    return frame.filter(~cond), bad
