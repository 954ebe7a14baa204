"""Large auth.log files shaped like real sshd/sudo/su/PAM syslog (RFC 3164 headers).

Message templates follow the lines in the fail2ban sample corpus (sshd, PAM, sudo, su, CRON);
users, addresses, ports and pids vary. Seeded and vectorised.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl

_TEMPLATES = [
    ("sshd", "Failed password for {user} from {ip} port {port} ssh2", 0.25),
    ("sshd", "Failed password for invalid user {user} from {ip} port {port} ssh2", 0.15),
    ("sshd", "Accepted publickey for {user} from {ip} port {port} ssh2: RSA SHA256:x", 0.1),
    ("sshd", "Invalid user {user} from {ip} port {port}", 0.1),
    ("sshd", "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
             "ruser= rhost={ip}  user={user}", 0.1),
    ("sshd", "pam_unix(sshd:session): session opened for user {user} by (uid=0)", 0.1),
    ("sshd", "Connection closed by {ip} port {port} [preauth]", 0.05),
    ("sudo", "   {user} : TTY=pts/0 ; PWD=/home/{user} ; USER=root ; COMMAND=/usr/bin/apt update",
     0.07),
    ("su", "(to root) {user} on pts/1", 0.03),
    ("CRON", "pam_unix(cron:session): session opened for user root by (uid=0)", 0.05),
]


def write_auth_log(path: Path, n: int, seed: int = 0) -> int:
    """Write ``n`` syslog lines; returns bytes written."""
    rng = np.random.default_rng(seed)
    probs = np.array([t[2] for t in _TEMPLATES])
    which = rng.choice(len(_TEMPLATES), n, p=probs / probs.sum())
    users = np.array(["root", "admin", "alice", "bob", "oracle", "git", "deploy", "test"])
    ips = np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(1, 255, (2000, 4))])
    secs = np.sort(rng.integers(0, 86400 * 28, n))
    df = pl.DataFrame({
        "t": secs, "w": which, "user": users[rng.integers(0, len(users), n)],
        "ip": ips[rng.integers(0, len(ips), n)], "port": rng.integers(1024, 65535, n),
        "pid": rng.integers(100, 65000, n), "host": rng.choice(["web01", "db02", "bastion"], n),
    })
    stamp = (pl.datetime(2026, 11, 1) + pl.duration(seconds=pl.col("t"))).dt.strftime(
        "%b %e %H:%M:%S")
    parts = []
    for i, (app, tmpl, _) in enumerate(_TEMPLATES):
        sub = df.filter(pl.col("w") == i)
        keys = re.findall(r"\{(\w+)\}", tmpl)
        msg = pl.format(re.sub(r"\{\w+\}", "{}", tmpl), *[pl.col(k) for k in keys]) if keys \
            else pl.lit(tmpl)
        parts.append(sub.select("t", pl.format("{} {} {}[{}]: {}", stamp, pl.col("host"),
                                                pl.lit(app), pl.col("pid"), msg).alias("line")))
    lines = pl.concat(parts).sort("t")["line"]
    path.write_text("\n".join(lines.to_list()) + "\n")
    return path.stat().st_size
