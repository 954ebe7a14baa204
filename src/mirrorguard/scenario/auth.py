"""sshd lines for the demo: routine key logins, a brute force and its success."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np

from mirrorguard.scenario.generate import ATTACKER, DAY, HOSTS, SERVER

_USERS = ["alice", "bob", "carol"]
_GUESSES = ["root", "admin", "oracle", "postgres", "test", "ubuntu", "git", "user", "guest"]


def _stamp(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="microseconds")


def auth_lines(rng: np.random.Generator) -> tuple[list[tuple[float, str]], int]:
    """(timestamp, line) pairs sorted by time, and how many lines are attack lines."""
    lines: list[tuple[float, str]] = []
    for i, ts in enumerate(DAY.timestamp() + np.sort(rng.uniform(8 * 3600, 18 * 3600, 30))):
        user = _USERS[i % 3]
        src = list(HOSTS)[i % len(HOSTS)]
        pid = int(rng.integers(1000, 30000))
        lines.append((ts, f"{_stamp(ts)} {SERVER} sshd[{pid}]: Accepted publickey for {user} "
                          f"from {src} port {int(rng.integers(40000, 60000))} ssh2"))
        lines.append((ts + 0.2, f"{_stamp(ts + 0.2)} {SERVER} sshd[{pid}]: "
                                f"pam_unix(sshd:session): session opened for user {user}(uid="
                                f"{1000 + i % 3}) by (uid=0)"))
    start = DAY.timestamp() + 3 * 3600 + 5 * 60
    attack = 0
    for ts in start + np.sort(rng.uniform(0, 540, 400)):
        user = _GUESSES[int(rng.integers(0, len(_GUESSES)))]
        invalid = "invalid user " if user not in ("root", "oracle") else ""
        pid = int(rng.integers(1000, 30000))
        lines.append((ts, f"{_stamp(ts)} {SERVER} sshd[{pid}]: Failed password for {invalid}"
                          f"{user} from {ATTACKER} port {int(rng.integers(30000, 65000))} ssh2"))
        attack += 1
    ts = start + 560
    lines.append((ts, f"{_stamp(ts)} {SERVER} sshd[4242]: Accepted password for oracle from "
                      f"{ATTACKER} port 55123 ssh2"))
    attack += 1
    lines.sort(key=lambda x: x[0])
    return lines, attack
