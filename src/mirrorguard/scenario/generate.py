"""Seeded, realistic sample telemetry: a small office over one day, with injected attacks.

Writes Zeek ``conn`` and ``dns`` logs (JSON, with ``_path``) and an sshd ``auth.log`` (syslog
with ISO timestamps, as rsyslog writes by default on current distributions), plus
``truth.json`` naming what was injected:

* **brute force** — one external address tries hundreds of passwords on the database server's
  sshd within minutes, then gets in;
* **exfiltration** — one workstation sends several hundred MB to a never-seen external
  address in the middle of the night;
* **beacon** — one workstation calls a C2 address every ~5 minutes with small jitter.

Benign traffic follows a working-day rhythm, heavy-tailed byte counts and a shared pool of
popular destinations. Everything is vectorised NumPy; the same seed gives the same files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl

DAY = datetime(2026, 11, 25, tzinfo=UTC)
HOSTS = {f"10.10.1.{11 + i}": name for i, name in enumerate(
    ["ws-alice", "ws-bob", "ws-carol", "ws-dave", "ws-erin", "ws-frank"])}
SERVER_IP, SERVER = "10.10.2.5", "srv-db01"
RESOLVER = "10.10.0.53"
DOMAINS = ["mail.example.com", "cdn.jsdelivr.net", "github.com", "login.microsoftonline.com",
           "slack.com", "zoom.us", "www.google.com", "api.stripe.com", "s3.amazonaws.com",
           "pypi.org", "files.pythonhosted.org", "docs.python.org", "news.ycombinator.com",
           "intranet.corp.example", "wiki.corp.example"]
ATTACKER, EXFIL_DST, C2_DST = "203.0.113.66", "185.220.101.47", "45.77.12.9"
EXFIL_HOST, BEACON_HOST = "10.10.1.14", "10.10.1.12"


@dataclass(frozen=True)
class Scenario:
    conn: Path
    dns: Path
    auth: Path
    truth: Path


def _hour_weights() -> np.ndarray:
    w = np.full(24, 0.15)
    w[8:18] = 1.0
    w[7], w[18], w[19] = 0.5, 0.6, 0.3
    out: np.ndarray = w / w.sum()
    return out


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = rng.choice(24, size=n, p=_hour_weights())
    return DAY.timestamp() + hours * 3600 + rng.uniform(0, 3600, n)


def _benign_conn(rng: np.random.Generator, per_host: int) -> pl.DataFrame:
    dst_pool = np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in
                         rng.integers(1, 223, size=(60, 4))])
    hosts = np.repeat(list(HOSTS), per_host)
    n = len(hosts)
    port = rng.choice([443, 443, 443, 80, 22, 3389], size=n)
    return pl.DataFrame({
        "ts": _times(rng, n), "id.orig_h": hosts,
        "id.orig_p": rng.integers(32768, 61000, n),
        "id.resp_h": dst_pool[rng.zipf(1.6, n).clip(1, 60) - 1],
        "id.resp_p": port, "proto": "tcp",
        "service": pl.Series(np.where(port == 80, "http", np.where(port == 443, "ssl", "")),
                             dtype=pl.String).replace("", None),
        "duration": rng.lognormal(0.5, 1.2, n),
        "orig_bytes": rng.lognormal(7.5, 1.3, n).astype(np.int64),
        "resp_bytes": rng.lognormal(10.0, 1.6, n).astype(np.int64),
        "conn_state": rng.choice(["SF", "SF", "SF", "S0", "RSTO"], n),
    })


def _exfil(rng: np.random.Generator) -> pl.DataFrame:
    n = 6
    start = DAY.timestamp() + 2 * 3600 + 13 * 60
    return pl.DataFrame({
        "ts": start + np.sort(rng.uniform(0, 1600, n)), "id.orig_h": EXFIL_HOST,
        "id.orig_p": rng.integers(32768, 61000, n), "id.resp_h": EXFIL_DST, "id.resp_p": 443,
        "proto": "tcp", "service": "ssl", "duration": rng.uniform(200, 400, n),
        "orig_bytes": rng.integers(250_000_000, 400_000_000, n),
        "resp_bytes": rng.integers(20_000, 60_000, n), "conn_state": "SF",
    })


def _beacon(rng: np.random.Generator) -> pl.DataFrame:
    gaps = 300 * (1 + rng.uniform(-0.1, 0.1, 288))
    ts = DAY.timestamp() + 60 + np.cumsum(gaps)
    ts = ts[ts < DAY.timestamp() + 86400]
    n = len(ts)
    return pl.DataFrame({
        "ts": ts, "id.orig_h": BEACON_HOST, "id.orig_p": rng.integers(32768, 61000, n),
        "id.resp_h": C2_DST, "id.resp_p": 443, "proto": "tcp", "service": "ssl",
        "duration": rng.uniform(0.2, 0.4, n), "orig_bytes": rng.integers(310, 340, n),
        "resp_bytes": rng.integers(1200, 1300, n), "conn_state": "SF",
    })


def _dns(rng: np.random.Generator, per_host: int) -> pl.DataFrame:
    hosts = np.repeat(list(HOSTS), per_host)
    n = len(hosts)
    names = np.array(DOMAINS)[rng.zipf(1.4, n).clip(1, len(DOMAINS)) - 1]
    return pl.DataFrame({
        "ts": _times(rng, n), "id.orig_h": hosts, "id.orig_p": rng.integers(32768, 61000, n),
        "id.resp_h": RESOLVER, "id.resp_p": 53, "proto": "udp",
        "trans_id": rng.integers(0, 65535, n), "query": names, "qtype_name": "A",
        "rcode_name": "NOERROR",
    })


def _finish_zeek(df: pl.DataFrame, path: str, rng: np.random.Generator) -> pl.DataFrame:
    df = df.sort("ts")
    uids = [f"C{x:017x}" for x in rng.integers(0, 2**62, df.height)]
    return df.with_columns(pl.lit(path).alias("_path"), pl.Series("uid", uids),
                           pl.col("ts").round(6))


def generate(
    out_dir: Path, seed: int = 7, per_host: int = 1500, truth_dir: Path | None = None
) -> Scenario:
    """Write the scenario's logs under ``out_dir`` (ground truth under ``truth_dir``)."""
    from mirrorguard.scenario.auth import auth_lines

    rng = np.random.default_rng(seed)
    out_dir.mkdir(parents=True, exist_ok=True)
    conn = pl.concat([_benign_conn(rng, per_host), _exfil(rng), _beacon(rng)],
                     how="vertical_relaxed")
    conn = _finish_zeek(conn, "conn", rng)
    dns = _finish_zeek(_dns(rng, per_host // 2), "dns", rng)
    paths = Scenario(out_dir / "conn.log", out_dir / "dns.log", out_dir / "auth.log",
                     (truth_dir or out_dir) / "truth.json")
    conn.write_ndjson(paths.conn)
    dns.write_ndjson(paths.dns)
    lines, n_attack = auth_lines(rng)
    paths.auth.write_text("".join(line + "\n" for _, line in lines))
    truth = {
        "seed": seed,
        "brute_force": {"source.ip": ATTACKER, "target": "srv-db01", "failed_attempts":
                        n_attack - 1, "compromised_user": "oracle"},
        "exfiltration": {"source.ip": EXFIL_HOST, "destination.ip": EXFIL_DST,
                         "connections": 6},
        "beacon": {"source.ip": BEACON_HOST, "destination.ip": C2_DST, "period_s": 300},
        "counts": {"conn": conn.height, "dns": dns.height, "auth": len(lines)},
    }
    paths.truth.write_text(json.dumps(truth, indent=2))
    return paths
