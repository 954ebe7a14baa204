"""New source network for a user: a successful logon from a network the user never used.

``fit`` learns, from benign history, the source networks (IPv4 /24, IPv6 /64 by default) each
user logged on from and how many logons each user had. ``score`` gives every successful logon
from an unseen network ``n / (n + 1)`` where ``n`` is the user's number of logons in history:
a user with a long, stable history scores near 1, a user seen once scores 0.5, a user never
seen scores 0 (no baseline to compare with). The policy is fitted on the same sequential score
computed over the history itself (each pair's first appearance after the user's first logon),
so the threshold reflects how often benign users really roam.

ATT&CK T1078 (valid accounts) — a stolen credential used from the attacker's network.

>>> import polars as pl
>>> hist = pl.DataFrame({"message": [f"Accepted password for ann from 10.0.0.{i} port 22 ssh2"
...                                  for i in range(5)]})
>>> det = NewSourceForUser().fit(hist)
>>> new = pl.DataFrame({"message": ["Accepted password for ann from 198.51.100.9 port 22 ssh2",
...                                 "Accepted password for ann from 10.0.0.77 port 22 ssh2"]})
>>> det.score(new).round(3).tolist()
[0.833, 0.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.auth_common import (
    ROW,
    build_alerts,
    column,
    ensure_classified,
    fit_threshold,
    policy_from_meta,
    policy_meta,
)
from mirrorguard.detect.base import Detector
from mirrorguard.detect.common import benign_mask, check_fitted
from mirrorguard.schema.alerts import Alert, Contribution, Explanation


def network(ip: pl.Expr, v4_prefix: int = 24, v6_groups: int = 4) -> pl.Expr:
    """The source network of an address: IPv4 ``a.b.c.0/24``-style prefix (``v4_prefix`` in
    8/16/24/32), IPv6 first ``v6_groups`` groups; anything else (host names) unchanged."""
    octets = max(1, min(4, v4_prefix // 8))
    v4 = ip.str.extract(r"^(\d+(?:\.\d+){" + str(octets - 1) + r"})", 1)
    v6 = ip.str.extract(r"^((?:[0-9a-fA-F]{0,4}:){" + str(v6_groups) + r"})", 1)
    is_v4 = ip.str.contains(r"^\d+\.\d+\.\d+\.\d+$")
    return pl.when(is_v4).then(v4).when(ip.str.contains(":")).then(
        pl.coalesce(v6, ip)).otherwise(ip)


class NewSourceForUser(Detector):
    """Successful logon of a known user from a network absent from the user's history."""

    name: ClassVar[str] = "auth_new_source"
    techniques: ClassVar[tuple[str, ...]] = ("T1078",)

    def __init__(self, v4_prefix: int = 24, floor: float = 0.5,
                 target_fpr: float = 1e-3) -> None:
        self.v4_prefix = v4_prefix
        self.floor = floor
        self.target_fpr = target_fpr

    def _logons(self, X: pl.DataFrame) -> pl.DataFrame:
        f = ensure_classified(X).with_row_index(ROW)
        ok = column(f, "auth.kind").is_in(["success"]).fill_null(False)
        f = f.filter(ok & column(f, "user.name").is_not_null()
                     & column(f, "source.ip").is_not_null())
        return f.select(ROW, pl.col("user.name").alias("user"),
                        network(pl.col("source.ip"), self.v4_prefix).alias("net"),
                        pl.col("source.ip").alias("src"),
                        column(f, "@timestamp", pl.Datetime("us", "UTC")).alias("t"))

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        benign = X.filter(pl.Series(benign_mask(X.height, y))) if X.height else X
        lg = self._logons(benign).sort("t", ROW, nulls_last=True)
        seq = lg.with_columns(
            pl.int_range(pl.len()).over("user").alias("prior"),
            pl.int_range(pl.len()).over("user", "net").alias("pair_seen"))
        seq_scores = seq.select(pl.when((pl.col("pair_seen") == 0) & (pl.col("prior") > 0))
                                .then(pl.col("prior") / (pl.col("prior") + 1)).otherwise(0.0))
        pairs = lg.select("user", "net").unique().sort("user", "net")
        counts = lg.group_by("user").len().sort("user")
        self.pair_users_ = pairs["user"].to_numpy().astype(str)
        self.pair_nets_ = pairs["net"].to_numpy().astype(str)
        self.users_ = counts["user"].to_numpy().astype(str)
        self.user_logons_ = counts["len"].to_numpy().astype(np.int64)
        self.threshold_, self.policy_ = fit_threshold(seq_scores.to_series().to_numpy(),
                                                      self.floor, self.target_fpr)
        return self

    def _scored(self, X: pl.DataFrame) -> pl.DataFrame:
        check_fitted(self, "threshold_")
        lg = self._logons(X)
        known = pl.DataFrame({"user": self.pair_users_.tolist(), "net": self.pair_nets_.tolist(),
                              "__known": [True] * len(self.pair_users_)},
                             schema={"user": pl.String, "net": pl.String, "__known": pl.Boolean})
        hist = pl.DataFrame({"user": self.users_.tolist(), "n": self.user_logons_.tolist()},
                            schema={"user": pl.String, "n": pl.Int64})
        lg = lg.join(known, on=["user", "net"], how="left").join(hist, on="user", how="left")
        n = pl.col("n").fill_null(0).cast(pl.Float64)
        return lg.with_columns(pl.when(pl.col("__known").is_null() & (n > 0))
                               .then(n / (n + 1)).otherwise(0.0).alias("score"))

    def score(self, X: pl.DataFrame) -> np.ndarray:
        s = self._scored(X)
        out = np.zeros(X.height, dtype=np.float64)
        out[s[ROW].to_numpy()] = s["score"].to_numpy()
        return out

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        s = {int(r[ROW]): r for r in self._scored(X).iter_rows(named=True)}
        out = []
        for r in rows:
            e = s.get(int(r))
            if e is None:
                out.append(Explanation("not a successful logon"))
                continue
            n = int(e["n"] or 0)
            text = (f"logon for {e['user']} from {e['src']}: network {e['net']} never seen in "
                    f"{n} earlier logons" if e["score"] > 0 else
                    f"logon for {e['user']} from a known network {e['net']}")
            out.append(Explanation(text, (Contribution("source.network", e["net"], None,
                                                       float(e["score"])),),
                                   {"score": e["score"]}))
        return out

    def alerts(self, X: pl.DataFrame) -> list[Alert]:
        s = self.score(X)
        rows = np.flatnonzero(s > self.threshold_)
        expl = dict(zip(rows.tolist(), self.explain(X, rows.tolist()), strict=True))
        return build_alerts(self.name, ensure_classified(X), s, self.threshold_, "user.name",
                            expl, self.techniques, "New source for user")

    def get_state(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        check_fitted(self, "threshold_")
        arrays = {"pair_users": self.pair_users_, "pair_nets": self.pair_nets_,
                  "users": self.users_, "user_logons": self.user_logons_}
        return {"threshold": self.threshold_, "policy": policy_meta(self.policy_)}, arrays

    @classmethod
    def from_state(cls, params: dict[str, Any], meta: dict[str, Any],
                   arrays: dict[str, np.ndarray]) -> Self:
        self = cls(**params)
        self.threshold_ = float(meta["threshold"])
        self.policy_ = policy_from_meta(meta["policy"])
        self.pair_users_ = np.asarray(arrays["pair_users"]).astype(str)
        self.pair_nets_ = np.asarray(arrays["pair_nets"]).astype(str)
        self.users_ = np.asarray(arrays["users"]).astype(str)
        self.user_logons_ = np.asarray(arrays["user_logons"], dtype=np.int64)
        return self
