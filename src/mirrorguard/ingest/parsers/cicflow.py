"""CICFlowMeter flow CSVs (CIC-IDS2017 and CSE-CIC-IDS2018 column names).

CICFlowMeter (Lashkari et al., "Characterization of Tor Traffic using Time based Features",
ICISSP 2017; Sharafaldin et al., "Toward Generating a New Intrusion Detection Dataset and
Intrusion Traffic Characterization", ICISSP 2018) writes one CSV row per bidirectional flow with
~80 statistics. The two public datasets spell the same columns differently: CIC-IDS2017 uses
long names, often with a leading space (``" Total Fwd Packets"``, and ``Fwd Header Length``
twice); CSE-CIC-IDS2018 uses short ones (``Tot Fwd Pkts``). Both map to one vocabulary here:
every statistic is ``flow.<snake_case of the 2017 name>`` (Float64), so a model trained on one
can score the other. Columns outside the table keep ``flow.<snake_case>`` as text.

ECS: ``source.ip``/``source.port``/``destination.ip``/``destination.port``, ``network.transport``
and ``network.iana_number`` from ``Protocol``, ``event.duration`` (CIC gives µs; ECS wants ns),
``source.bytes``/``destination.bytes`` (``TotLen Fwd/Bwd`` — payload bytes, as CIC counts them),
``source.packets``/``destination.packets``; ``Label`` → ``flow.label``.

``Infinity``/``NaN`` (CIC's division by a zero duration) are valid floats, not rejects.
Timestamps (``14/02/2018 08:31:01``, ``3/7/2017 8:55``, ``03/07/2017 08:55:58 AM``, ISO) are
day-first and read in ``timezone`` (default UTC; CIC recorded local time, e.g. UTC-3 for 2017).
Files without a ``Timestamp`` column (CIC-IDS2017 ``MachineLearningCVE``) take the ingest time,
flagged by ``flow.time_from_ingest = true``. Rows with the wrong number of fields are rejected;
repeated header rows (a CSE-CIC-IDS2018 quirk) are headers, not records.

>>> import io
>>> from datetime import UTC, datetime
>>> from mirrorguard.ingest.base import Origin, ParseContext
>>> ctx = ParseContext(origin=Origin("f.csv", None, "0" * 64),
...                    ingested_at=datetime(2024, 6, 1, tzinfo=UTC))
>>> data = (b"Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Flow Byts/s,Label\\n"
...         b"22,6,14/02/2018 08:31:01,2000,3,Infinity,SSH-Bruteforce\\n")
>>> row = next(CicFlowParser().parse(io.BytesIO(data), ctx)).events.row(0, named=True)
>>> row["network.transport"], row["event.duration"], row["flow.flow_bytes_per_s"], row["flow.label"]
('tcp', 2000000, inf, 'SSH-Bruteforce')
"""

from __future__ import annotations

import io
import re
from typing import ClassVar

import polars as pl

from mirrorguard.ingest.base import ParseContext, ParseResult, make_rejects
from mirrorguard.ingest.lines import LazyLines, LineParser
from mirrorguard.ingest.normalize import RECORD, finish, rejects_from_records
from mirrorguard.ingest.textlines import text_lines
from mirrorguard.schema.fields import FIELDS, TIMESTAMP

# (CIC-IDS2017 name, CSE-CIC-IDS2018 name) for every statistic, in CICFlowMeter's order.
_PAIRS: tuple[tuple[str, str], ...] = (
    ("Flow Duration", "Flow Duration"), ("Total Fwd Packets", "Tot Fwd Pkts"),
    ("Total Backward Packets", "Tot Bwd Pkts"), ("Total Length of Fwd Packets", "TotLen Fwd Pkts"),
    ("Total Length of Bwd Packets", "TotLen Bwd Pkts"),
    ("Fwd Packet Length Max", "Fwd Pkt Len Max"), ("Fwd Packet Length Min", "Fwd Pkt Len Min"),
    ("Fwd Packet Length Mean", "Fwd Pkt Len Mean"), ("Fwd Packet Length Std", "Fwd Pkt Len Std"),
    ("Bwd Packet Length Max", "Bwd Pkt Len Max"), ("Bwd Packet Length Min", "Bwd Pkt Len Min"),
    ("Bwd Packet Length Mean", "Bwd Pkt Len Mean"), ("Bwd Packet Length Std", "Bwd Pkt Len Std"),
    ("Flow Bytes/s", "Flow Byts/s"), ("Flow Packets/s", "Flow Pkts/s"),
    ("Flow IAT Mean", "Flow IAT Mean"), ("Flow IAT Std", "Flow IAT Std"),
    ("Flow IAT Max", "Flow IAT Max"), ("Flow IAT Min", "Flow IAT Min"),
    ("Fwd IAT Total", "Fwd IAT Tot"), ("Fwd IAT Mean", "Fwd IAT Mean"),
    ("Fwd IAT Std", "Fwd IAT Std"), ("Fwd IAT Max", "Fwd IAT Max"), ("Fwd IAT Min", "Fwd IAT Min"),
    ("Bwd IAT Total", "Bwd IAT Tot"), ("Bwd IAT Mean", "Bwd IAT Mean"),
    ("Bwd IAT Std", "Bwd IAT Std"), ("Bwd IAT Max", "Bwd IAT Max"), ("Bwd IAT Min", "Bwd IAT Min"),
    ("Fwd PSH Flags", "Fwd PSH Flags"), ("Bwd PSH Flags", "Bwd PSH Flags"),
    ("Fwd URG Flags", "Fwd URG Flags"), ("Bwd URG Flags", "Bwd URG Flags"),
    ("Fwd Header Length", "Fwd Header Len"), ("Bwd Header Length", "Bwd Header Len"),
    ("Fwd Packets/s", "Fwd Pkts/s"), ("Bwd Packets/s", "Bwd Pkts/s"),
    ("Min Packet Length", "Pkt Len Min"), ("Max Packet Length", "Pkt Len Max"),
    ("Packet Length Mean", "Pkt Len Mean"), ("Packet Length Std", "Pkt Len Std"),
    ("Packet Length Variance", "Pkt Len Var"), ("FIN Flag Count", "FIN Flag Cnt"),
    ("SYN Flag Count", "SYN Flag Cnt"), ("RST Flag Count", "RST Flag Cnt"),
    ("PSH Flag Count", "PSH Flag Cnt"), ("ACK Flag Count", "ACK Flag Cnt"),
    ("URG Flag Count", "URG Flag Cnt"), ("CWE Flag Count", "CWE Flag Count"),
    ("ECE Flag Count", "ECE Flag Cnt"), ("Down/Up Ratio", "Down/Up Ratio"),
    ("Average Packet Size", "Pkt Size Avg"), ("Avg Fwd Segment Size", "Fwd Seg Size Avg"),
    ("Avg Bwd Segment Size", "Bwd Seg Size Avg"), ("Fwd Avg Bytes/Bulk", "Fwd Byts/b Avg"),
    ("Fwd Avg Packets/Bulk", "Fwd Pkts/b Avg"), ("Fwd Avg Bulk Rate", "Fwd Blk Rate Avg"),
    ("Bwd Avg Bytes/Bulk", "Bwd Byts/b Avg"), ("Bwd Avg Packets/Bulk", "Bwd Pkts/b Avg"),
    ("Bwd Avg Bulk Rate", "Bwd Blk Rate Avg"), ("Subflow Fwd Packets", "Subflow Fwd Pkts"),
    ("Subflow Fwd Bytes", "Subflow Fwd Byts"), ("Subflow Bwd Packets", "Subflow Bwd Pkts"),
    ("Subflow Bwd Bytes", "Subflow Bwd Byts"), ("Init_Win_bytes_forward", "Init Fwd Win Byts"),
    ("Init_Win_bytes_backward", "Init Bwd Win Byts"), ("act_data_pkt_fwd", "Fwd Act Data Pkts"),
    ("min_seg_size_forward", "Fwd Seg Size Min"), ("Active Mean", "Active Mean"),
    ("Active Std", "Active Std"), ("Active Max", "Active Max"), ("Active Min", "Active Min"),
    ("Idle Mean", "Idle Mean"), ("Idle Std", "Idle Std"), ("Idle Max", "Idle Max"),
    ("Idle Min", "Idle Min"),
)

#: identity columns (lower-cased header text) -> internal role
_IDENTITY: dict[str, str] = {
    "flow id": "flow_id", "source ip": "src_ip", "src ip": "src_ip", "source port": "src_port",
    "src port": "src_port", "destination ip": "dst_ip", "dst ip": "dst_ip",
    "destination port": "dst_port", "dst port": "dst_port", "protocol": "proto",
    "timestamp": "ts", "label": "label",
}
_PROTOCOLS = {"6": "tcp", "17": "udp", "1": "icmp", "58": "ipv6-icmp", "2": "igmp", "47": "gre",
              "50": "esp", "132": "sctp", "0": "hopopt"}
_TIME_FORMATS = ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M", "%d/%m/%Y %I:%M:%S %p",
                 "%d/%m/%Y %I:%M %p", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f")


def snake(name: str) -> str:
    """``"Flow Bytes/s"`` → ``flow_bytes_per_s``; ``"Init_Win_bytes_forward"`` → same, lower."""
    text = name.strip().replace("/", " per ").lower()
    return re.sub(r"[^a-z0-9]+", "_", text).strip("_")


FEATURES: dict[str, str] = {}
for _long, _short in _PAIRS:
    FEATURES[_long.lower()] = FEATURES[_short.lower()] = f"flow.{snake(_long)}"
FEATURE_DTYPES: dict[str, pl.DataType] = {f: pl.Float64() for f in FEATURES.values()}
FEATURE_DTYPES["flow.fwd_header_length_1"] = pl.Float64()  # CIC-IDS2017's duplicate column


def _key(header: str) -> str:
    return re.sub(r"\s+", " ", header.strip().lower())


def header_columns(header: list[str]) -> list[str] | None:
    """Target names for a CIC header, or None when it is not one."""
    keys = [_key(h) for h in header]
    has_ports = any(_IDENTITY.get(k) == "dst_port" for k in keys)
    if "flow duration" not in keys or not (has_ports or "tot fwd pkts" in keys
                                          or "total fwd packets" in keys):
        return None
    out: list[str] = []
    for k in keys:
        name = FEATURES.get(k) or (f"__{_IDENTITY[k]}" if k in _IDENTITY else f"flow.{snake(k)}")
        while name in out:  # a repeated column (CIC-IDS2017's "Fwd Header Length")
            name = f"{name}_1"
        out.append(name)
    return out


class CicFlowParser(LineParser):
    """CICFlowMeter CSV output (CIC-IDS2017, CSE-CIC-IDS2018, CICFlowMeter-V3/V4)."""

    name: ClassVar[str] = "cicflow"
    fields: ClassVar[dict[str, pl.DataType]] = {
        **FEATURE_DTYPES, "flow.label": pl.String(), "flow.flow_id": pl.String(),
        "flow.time_from_ingest": pl.Boolean(), "network.iana_number": pl.String(),
    }

    def __init__(self, timezone: str = "UTC") -> None:
        self.timezone = timezone
        self._header_text: str | None = None
        self._columns: list[str] | None = None

    @classmethod
    def sniff(cls, head: bytes) -> float:
        text = head[:65536].decode("utf-8", errors="replace").lstrip("\ufeff")
        first = next((ln for ln in text.split("\n") if ln.strip()), "")
        cols = header_columns(first.rstrip("\r").split(","))
        if cols is None:
            return 0.0
        known = sum(1 for c in cols if c in FEATURE_DTYPES or c.startswith("__"))
        return 0.96 if known >= 10 else 0.8

    def parse_block(self, block: bytes, first_line: int, ctx: ParseContext) -> ParseResult:
        tl = text_lines(block, first_line)
        lines = tl.frame
        if self._header_text is None and lines.height:
            self._header_text = lines["line"][0]
            self._columns = header_columns(self._header_text.split(","))
            lines = lines.slice(1)
        if self._header_text is not None:  # CSE-CIC-IDS2018 repeats its header mid-file
            lines = lines.filter(pl.col("line") != self._header_text)
        offered = lines.height + len(tl.rejects)
        early = make_rejects(ctx, tl.rejects)
        raw = LazyLines(block)
        if lines.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
        if self._columns is None:
            bad = lines.select(pl.col(RECORD), pl.lit("no CICFlowMeter header (needs 'Flow "
                                                      "Duration' and port/packet columns)")
                               .alias("reason"))
            rej = pl.concat([early, rejects_from_records(ctx, bad, raw, first_line)])
            return ParseResult(events=pl.DataFrame(), rejects=rej, offered=offered)
        cols = self._columns
        lines = lines.with_columns(
            (pl.col("line").str.count_matches(",", literal=True) + 1).alias("__n"))
        wrong = pl.col("__n") != len(cols)
        bad = lines.filter(wrong).select(pl.col(RECORD), pl.format(
            "expected {} fields, found {}", pl.lit(len(cols)), pl.col("__n")).alias("reason"))
        good = lines.filter(~wrong)
        if bad.height:
            early = pl.concat([early, rejects_from_records(ctx, bad, raw, first_line)])
        if good.height == 0:
            return ParseResult(events=pl.DataFrame(), rejects=early, offered=offered)
        frame = self._read(good, cols)
        return finish(self._to_ecs(frame, ctx), ctx, offered=offered,
                      dtypes={**FIELDS, **self.fields}, raw=raw, first_record=first_line,
                      early_rejects=early)

    @staticmethod
    def _read(good: pl.DataFrame, cols: list[str]) -> pl.DataFrame:
        text = "\n".join(good["line"].to_list()).encode()
        df = pl.read_csv(io.BytesIO(text), has_header=False, infer_schema=False, quote_char=None,
                         new_columns=cols)
        return df.with_columns(good[RECORD])

    def _timestamps(self, ts: pl.Series) -> pl.Series:
        text = ts.str.strip_chars()
        out = pl.Series("ts", [None] * ts.len(), dtype=pl.Datetime("us"))
        for fmt in _TIME_FORMATS:
            if out.null_count() == text.null_count():
                break
            parsed = text.str.to_datetime(fmt, time_unit="us", strict=False)
            out = out.fill_null(parsed)
        local = out.dt.replace_time_zone(self.timezone, ambiguous="earliest",
                                         non_existent="null")
        return local.dt.convert_time_zone("UTC").cast(TIMESTAMP)

    def _to_ecs(self, df: pl.DataFrame, ctx: ParseContext) -> pl.DataFrame:
        have = set(df.columns)
        feats = [c for c in df.columns if c.startswith("flow.")]
        num = {c: pl.col(c).str.strip_chars() for c in feats if c in FEATURE_DTYPES}
        exprs: list[pl.Expr] = [pl.col(RECORD)]
        exprs += [e.alias(c) for c, e in num.items()]
        exprs += [pl.col(c) for c in feats if c not in num]
        ident = {"__src_ip": "source.ip", "__src_port": "source.port", "__dst_ip": "destination.ip",
                 "__dst_port": "destination.port", "__flow_id": "flow.flow_id",
                 "__label": "flow.label", "__proto": "network.iana_number"}
        exprs += [pl.col(c).str.strip_chars().alias(t) for c, t in ident.items() if c in have]
        if "__proto" in have:
            proto = pl.col("__proto").str.strip_chars()
            exprs.append(proto.replace_strict(_PROTOCOLS, default=proto).alias("network.transport"))

        def as_float(name: str) -> pl.Expr:
            return pl.col(name).str.strip_chars().cast(pl.Float64, strict=False)

        def as_int(name: str, scale: float = 1.0) -> pl.Expr:
            return (as_float(name) * scale).round(0).cast(pl.Int64, strict=False)

        derived = {"flow.flow_duration": ("event.duration", 1000.0),
                   "flow.total_length_of_fwd_packets": ("source.bytes", 1.0),
                   "flow.total_length_of_bwd_packets": ("destination.bytes", 1.0),
                   "flow.total_fwd_packets": ("source.packets", 1.0),
                   "flow.total_backward_packets": ("destination.packets", 1.0)}
        exprs += [as_int(c, k).alias(t) for c, (t, k) in derived.items() if c in have]
        exprs += [pl.lit("cicflowmeter.flow").alias("event.dataset"),
                  pl.lit("event").alias("event.kind"), pl.lit("network").alias("event.category"),
                  pl.lit("connection").alias("event.type")]
        out = df.select(exprs)
        if "__ts" in have:
            return out.with_columns(self._timestamps(df["__ts"]).alias("@timestamp"))
        return out.with_columns(pl.lit(ctx.ingested_at).cast(TIMESTAMP).alias("@timestamp"),
                                pl.lit(True).alias("flow.time_from_ingest"))
