"""Log line headers: the per-system ``log_format`` table and a vectorised header splitter.

A format is a string of ``<Field>`` placeholders and literal text, as in the loghub benchmark
(Zhu et al., "Tools and Benchmarks for Automated Log Parsing", ICSE-SEIP 2019; the
``benchmark_settings`` of ``logpai/logparser``). Runs of spaces in the format match one or more
whitespace characters; ``Content`` takes the rest of the line; a format may mark optional parts
with ``(...)?`` as loghub does. Templates are then mined over ``Content``.

>>> import polars as pl
>>> lines = pl.Series(["081109 203615 148 INFO dfs.DataNode: Receiving block blk_1"])
>>> parse_headers(lines, LOGHUB_FORMATS["HDFS"])["Content"].to_list()
['Receiving block blk_1']
"""

from __future__ import annotations

import re

import polars as pl

from mirrorguard.errors import FormatError

#: loghub's header formats for its 16 benchmark systems (logpai/logparser, benchmark settings).
LOGHUB_FORMATS: dict[str, str] = {
    "HDFS": "<Date> <Time> <Pid> <Level> <Component>: <Content>",
    "Hadoop": r"<Date> <Time> <Level> \[<Process>\] <Component>: <Content>",
    "Spark": "<Date> <Time> <Level> <Component>: <Content>",
    "Zookeeper": r"<Date> <Time> - <Level>  \[<Node>:<Component>@<Id>\] - <Content>",
    "BGL": "<Label> <Timestamp> <Date> <Node> <Time> <NodeRepeat> <Type> <Component> <Level> "
    "<Content>",
    "HPC": "<LogId> <Node> <Component> <State> <Time> <Flag> <Content>",
    "Thunderbird": r"<Label> <Timestamp> <Date> <User> <Month> <Day> <Time> <Location> "
    r"<Component>(\[<PID>\])?: <Content>",
    "Windows": "<Date> <Time>, <Level>                  <Component>    <Content>",
    "Linux": r"<Month> <Date> <Time> <Level> <Component>(\[<PID>\])?: <Content>",
    "Android": "<Date> <Time>  <Pid>  <Tid> <Level> <Component>: <Content>",
    "HealthApp": r"<Time>\|<Component>\|<Pid>\|<Content>",
    "Apache": r"\[<Time>\] \[<Level>\] <Content>",
    "Proxifier": r"\[<Time>\] <Program> - <Content>",
    "OpenSSH": r"<Date> <Day> <Time> <Component> sshd\[<Pid>\]: <Content>",
    "OpenStack": r"<Logrecord> <Date> <Time> <Pid> <Level> <Component> \[<ADDR>\] <Content>",
    "Mac": r"<Month>  <Date> <Time> <User> <Component>\[<PID>\]( \(<Address>\))?: <Content>",
}

_FIELD = re.compile(r"<([A-Za-z_][A-Za-z0-9_]*)>")


def header_fields(log_format: str) -> list[str]:
    """Field names of a format, in order."""
    return _FIELD.findall(log_format)


def format_regex(log_format: str) -> str:
    """The anchored regex (Rust/Python syntax) that splits a line according to ``log_format``.

    >>> format_regex("<Level>: <Content>")
    '^(?P<Level>.*?):\\\\s+(?P<Content>.*?)\\\\s*$'
    """
    fields = header_fields(log_format)
    if "Content" not in fields:
        raise FormatError("a log format needs a <Content> field", record=log_format)
    if len(set(fields)) != len(fields):
        raise FormatError("a log format names a field twice", record=log_format)
    pieces = _FIELD.split(log_format)
    out: list[str] = []
    for i, piece in enumerate(pieces):
        if i % 2 == 0:
            out.append(re.sub(r" +", r"\\s+", piece))
        else:
            out.append(f"(?P<{piece}>.*?)")
    return "^" + "".join(out) + r"\s*$"


def parse_headers(lines: pl.Series, log_format: str) -> pl.DataFrame:
    """Split every line into its header fields and ``Content`` (one column per field).

    Lines that do not match the format keep their whole text as ``Content`` and get
    ``header_ok = False`` (they are counted, never dropped).
    """
    pattern = format_regex(log_format)
    fields = header_fields(log_format)
    parts = lines.cast(pl.String).to_frame("line").select(
        pl.col("line").str.extract_groups(pattern).alias("h"), pl.col("line")
    )
    frame = parts.unnest("h")
    ok = pl.col("Content").is_not_null()
    return frame.select(
        *[pl.col(f) for f in fields if f != "Content"],
        pl.when(ok).then(pl.col("Content")).otherwise(pl.col("line")).alias("Content"),
        ok.alias("header_ok"),
    )
