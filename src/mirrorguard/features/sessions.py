"""Sessions and sequences of log templates, as frames.

Events (one row per log line, with a template id column) are grouped into sessions:

* by a **key**: one or more columns (session id, ``user.name`` + ``host.name``, process), or an
  identifier pulled out of the text with a regex (HDFS block ids, ``blk_-?\\d+``; a line naming
  several ids belongs to each of their sessions);
* by **windows** over time: fixed (tumbling) or sliding, optionally per key.

Each session row holds the ordered template sequence (``templates``, a list column), its length,
and the first/last event time when there is one. :func:`count_vectors` turns sequences into
count vectors over a fixed vocabulary (unknown templates counted in one extra column), which is
the input of count-based detectors (Xu et al., SOSP 2009).

>>> import polars as pl
>>> ev = pl.DataFrame({"message": ["open blk_1", "read blk_1 blk_2", "close blk_2"],
...                    "template_id": [0, 1, 2]})
>>> s = sessions_by_pattern(ev, r"blk_-?\\d+")
>>> s.select("session", "templates").rows()
[('blk_1', [0, 1]), ('blk_2', [1, 2])]
>>> count_vectors(s, vocabulary=[0, 1]).rows()
[('blk_1', 1, 1, 0), ('blk_2', 0, 1, 1)]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from mirrorguard.errors import SchemaError

SESSION = "session"
TEMPLATES = "templates"


def _need(frame: pl.DataFrame, *cols: str) -> None:
    missing = [c for c in cols if c not in frame.columns]
    if missing:
        raise SchemaError(f"events frame lacks column(s) {missing}")


def _finish(grouped: pl.DataFrame, time_col: str | None) -> pl.DataFrame:
    out = grouped.with_columns(pl.col(TEMPLATES).list.len().alias("n_events"))
    if time_col is None:
        return out
    return out.rename({"_t_first": "start", "_t_last": "end"})


def _aggregate(frame: pl.DataFrame, keys: list[str], template_col: str,
               time_col: str | None) -> pl.DataFrame:
    aggs = [pl.col(template_col).alias(TEMPLATES), pl.col("_row").alias("rows")]
    if time_col is not None:
        aggs += [pl.col(time_col).first().alias("_t_first"),
                 pl.col(time_col).last().alias("_t_last")]
    order = [time_col, "_row"] if time_col is not None else ["_row"]
    grouped = frame.sort(order).group_by(keys, maintain_order=True).agg(aggs)
    return _finish(grouped, time_col)


def sessions_by_key(
    events: pl.DataFrame, key: str | Sequence[str], *, template_col: str = "template_id",
    time_col: str | None = None,
) -> pl.DataFrame:
    """One session per distinct value of ``key`` (one column or several, e.g. user + host).

    Events are ordered by ``time_col`` when given (ties keep input order), else input order.
    ``rows`` lists the input row positions of each session's events (for evidence).
    """
    keys = [key] if isinstance(key, str) else list(key)
    _need(events, template_col, *keys, *([time_col] if time_col else []))
    frame = events.with_row_index("_row").filter(
        pl.all_horizontal([pl.col(k).is_not_null() for k in keys])
    )
    out = _aggregate(frame, keys, template_col, time_col)
    if len(keys) == 1:
        return out.rename({keys[0]: SESSION}).with_columns(pl.col(SESSION).cast(pl.String))
    return out.with_columns(
        pl.concat_str([pl.col(k).cast(pl.String) for k in keys], separator="|").alias(SESSION)
    )


def sessions_by_pattern(
    events: pl.DataFrame, pattern: str, *, source: str = "message",
    template_col: str = "template_id", time_col: str | None = None,
) -> pl.DataFrame:
    """Sessions keyed by every match of ``pattern`` in ``source`` (e.g. HDFS block ids).

    A line with several matches joins each session once; lines without a match are left out.
    """
    _need(events, source, template_col)
    frame = (
        events.with_row_index("_row")
        .with_columns(pl.col(source).str.extract_all(pattern).list.unique(maintain_order=True)
                      .alias(SESSION))
        .explode(SESSION)
        .filter(pl.col(SESSION).is_not_null())
    )
    return _aggregate(frame, [SESSION], template_col, time_col)


def sessions_by_window(
    events: pl.DataFrame, *, every: str, period: str | None = None,
    time_col: str = "@timestamp", by: Sequence[str] = (), template_col: str = "template_id",
) -> pl.DataFrame:
    """Fixed (``period`` = ``every``) or sliding (``period`` > ``every``) time windows.

    ``every``/``period`` are Polars durations (``"1m"``, ``"30s"``); ``by`` splits windows
    per key (e.g. per host). The session name is ``<key>|<window start ISO>``.
    """
    _need(events, time_col, template_col, *by)
    frame = events.with_row_index("_row").sort([*by, time_col, "_row"])
    grouped = frame.group_by_dynamic(
        time_col, every=every, period=period or every, group_by=list(by) or None,
        closed="left", label="left",
    ).agg(pl.col(template_col).alias(TEMPLATES), pl.col("_row").alias("rows"),
          pl.col(time_col).min().alias("_t_first"), pl.col(time_col).max().alias("_t_last"))
    name = [*(pl.col(k).cast(pl.String) for k in by),
            pl.col(time_col).dt.to_string("%Y-%m-%dT%H:%M:%S%.f")]
    return _finish(grouped, time_col).with_columns(
        pl.concat_str(name, separator="|").alias(SESSION)
    )


def flatten(sequences: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """A list column as (flat values int64, offsets int64 of length n + 1)."""
    lengths = sequences.list.len().fill_null(0).to_numpy().astype(np.int64)
    offsets = np.zeros(lengths.size + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    values = sequences.explode().drop_nulls().to_numpy().astype(np.int64)
    if values.size != offsets[-1]:
        raise SchemaError("template sequences contain nulls")
    return values, offsets


def count_matrix(sequences: pl.Series, vocabulary: Sequence[int] | np.ndarray) -> np.ndarray:
    """Counts per session (rows) and vocabulary template (columns), plus a last column for
    templates outside the vocabulary. Vectorised with one ``bincount``."""
    vocab = np.asarray(vocabulary, dtype=np.int64)
    order = np.argsort(vocab, kind="stable")
    values, offsets = flatten(sequences)
    n, v = offsets.size - 1, vocab.size
    if v:
        pos = np.clip(np.searchsorted(vocab[order], values), 0, v - 1)
        col = np.where(vocab[order][pos] == values, order[pos], v)
    else:
        col = np.zeros(values.size, dtype=np.int64)
    row = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    flat = np.bincount(row * (v + 1) + col, minlength=n * (v + 1))
    return flat.reshape(n, v + 1).astype(np.float64)


def count_vectors(
    sessions: pl.DataFrame, vocabulary: Sequence[int] | np.ndarray | None = None
) -> pl.DataFrame:
    """Sessions as count vectors: ``session``, one ``t<id>`` column per template, ``t_other``.

    Without ``vocabulary`` the templates seen in ``sessions`` are used (sorted).
    """
    _need(sessions, SESSION, TEMPLATES)
    if vocabulary is None:
        vocabulary = np.unique(flatten(sessions[TEMPLATES])[0])
    vocab = np.asarray(vocabulary, dtype=np.int64)
    counts = count_matrix(sessions[TEMPLATES], vocab).astype(np.int64)
    names = [f"t{int(t)}" for t in vocab] + ["t_other"]
    return pl.concat([sessions.select(SESSION), pl.DataFrame(counts, schema=names)],
                     how="horizontal")
