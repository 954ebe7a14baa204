"""Large Zeek ``conn`` files (JSON and TSV) shaped like real Zeek output, for ingest benchmarks.

Field set, order and value shapes follow Zeek's default ``conn.log`` (Zeek 6): the 21 columns
below, heavy-tailed byte counts, real connection states and histories, sets printed as
``(empty)``/``-``. Generation is vectorised and seeded.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import polars as pl

FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto", "service",
          "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig", "local_resp",
          "missed_bytes", "history", "orig_pkts", "orig_ip_bytes", "resp_pkts", "resp_ip_bytes",
          "tunnel_parents"]
TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval", "count",
         "count", "string", "bool", "bool", "count", "string", "count", "count", "count", "count",
         "set[string]"]


def conn_frame(n: int, seed: int = 0) -> pl.DataFrame:
    """``n`` conn records with Zeek's raw field names."""
    rng = np.random.default_rng(seed)
    hosts = np.array([f"10.{a}.{b}.{c}" for a, b, c in rng.integers(0, 255, (500, 3))])
    remote = np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(1, 223, (5000, 4))])
    proto = rng.choice(["tcp", "udp", "icmp"], n, p=[0.8, 0.18, 0.02])
    svc = rng.choice(["ssl", "dns", "http", "-", "ssh"], n, p=[0.5, 0.2, 0.1, 0.17, 0.03])
    ob = rng.lognormal(7, 2, n).astype(np.int64)
    rb = rng.lognormal(9, 2.2, n).astype(np.int64)
    op = (ob // 1000 + rng.integers(1, 20, n))
    rp = (rb // 1200 + rng.integers(1, 20, n))
    return pl.DataFrame({
        "ts": 1_700_000_000 + np.sort(rng.uniform(0, 86_400, n)),
        "uid": [f"C{x:017x}"[:18] for x in rng.integers(0, 2**62, n)],
        "id.orig_h": hosts[rng.integers(0, len(hosts), n)],
        "id.orig_p": rng.integers(1024, 65535, n),
        "id.resp_h": remote[rng.zipf(1.3, n).clip(1, len(remote)) - 1],
        "id.resp_p": rng.choice([443, 53, 80, 22, 8080, 123], n),
        "proto": proto, "service": svc,
        "duration": rng.lognormal(0, 2, n).round(6),
        "orig_bytes": ob, "resp_bytes": rb,
        "conn_state": rng.choice(["SF", "S0", "REJ", "RSTO", "RSTR", "SH", "OTH"], n),
        "local_orig": rng.random(n) < 0.9, "local_resp": rng.random(n) < 0.1,
        "missed_bytes": np.zeros(n, dtype=np.int64),
        "history": rng.choice(["ShADadFf", "ShADadfF", "S", "Dd", "ShAdDaFf", "ShR"], n),
        "orig_pkts": op, "orig_ip_bytes": ob + op * 40, "resp_pkts": rp,
        "resp_ip_bytes": rb + rp * 40,
    })


def write_conn_json(path: Path, n: int, seed: int = 0) -> int:
    """Zeek JSON (``LogAscii::use_json=T``) conn log; returns bytes written.

    Like Zeek's JSON writer, a record leaves an unset field out rather than writing ``null``.
    """
    df = conn_frame(n, seed).with_columns(
        pl.when(pl.col("service") == "-").then(None).otherwise(pl.col("service")).alias("service")
    )
    buf = io.BytesIO()
    df.write_ndjson(buf)
    path.write_bytes(buf.getvalue().replace(b',"service":null', b""))
    return path.stat().st_size


def write_conn_tsv(path: Path, n: int, seed: int = 0) -> int:
    """Zeek TSV conn log with the standard header and footer; returns bytes written."""
    df = conn_frame(n, seed).with_columns(
        pl.col("ts").map_elements(lambda t: f"{t:.6f}", return_dtype=pl.String),
        pl.col("duration").cast(pl.String),
        pl.col("local_orig").replace_strict({True: "T", False: "F"}, return_dtype=pl.String),
        pl.col("local_resp").replace_strict({True: "T", False: "F"}, return_dtype=pl.String),
        pl.lit("(empty)").alias("tunnel_parents"),
    ).select([pl.col(c).cast(pl.String) for c in FIELDS])
    header = (
        "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n"
        "#path\tconn\n#open\t2023-11-14-22-13-20\n"
        "#fields\t" + "\t".join(FIELDS) + "\n#types\t" + "\t".join(TYPES) + "\n"
    )
    with path.open("wb") as f:
        f.write(header.encode())
        df.write_csv(f, separator="\t", include_header=False, quote_style="never")
        f.write(b"#close\t2023-11-15-22-13-20\n")
    return path.stat().st_size
