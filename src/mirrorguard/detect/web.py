"""Web attacks in access logs: per-request signatures plus per-source enumeration bursts.

``score = signature + burst`` for every request:

* ``signature`` — the request's weight in :mod:`mirrorguard.detect.web_signatures` (SQL
  injection, XSS, traversal, command injection, shellshock, file inclusion, scanner and bad-bot
  agents, probes of admin/script paths that do not exist, non-HTTP request lines: 1.0; weak
  signs such as scripting clients or any 4xx: below 1);
* ``burst`` — enumeration by the same source in the trailing window, in [0, 1]:
  ``max(distinct error paths / burst_paths, 401+403 answers / auth_burst)``, capped at 1.
  A directory brute-forcer (many distinct 404s) or an HTTP-auth guesser (many 401s) reaches 1
  without any single request being an attack.

``threshold_`` is ``max(floor, policy)``: the floor (0.99 by default) means one strong
signature or one full burst alerts; a policy fitted on benign traffic (minus the requests a
signature already flags) can only raise it.

>>> from datetime import datetime
>>> import polars as pl
>>> X = pl.DataFrame({"@timestamp": [datetime(2024, 5, 1, 3, 0)] * 2,
...                   "source.ip": ["203.0.113.5", "198.51.100.2"],
...                   "url.original": ["/cgi-bin/test.cgi?x=() { :; }; /bin/cat /etc/passwd",
...                                    "/index.html"],
...                   "http.response.status_code": [404, 200],
...                   "user_agent.original": ["Mozilla/5.0", "Mozilla/5.0"]})
>>> det = WebAttack().fit(X.head(0))
>>> det.predict(X).tolist()
[True, False]
>>> det.explain(X, [0])[0].text
'request /cgi-bin/test.cgi?x=() { :; }; /bin/cat /etc/passwd from 203.0.113.5: cmdi, probe, \
shellshock, traversal (signature 1); 1 distinct error paths, 0 auth failures in 5 min'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Self

import numpy as np
import polars as pl

from mirrorguard.detect.auth_common import (
    ROW,
    ThresholdedDetector,
    column,
    fit_threshold,
    minutes,
    windowed,
)
from mirrorguard.detect.common import benign_mask, check_fitted
from mirrorguard.detect.web_signatures import web_signatures
from mirrorguard.schema.alerts import Alert, Contribution, Explanation


class WebAttack(ThresholdedDetector):
    """Per-request web attack signatures plus per-source 4xx/401 enumeration bursts."""

    name: ClassVar[str] = "web_attack"
    techniques: ClassVar[tuple[str, ...]] = ("T1190", "T1595.003")

    def __init__(self, window: str = "5m", burst_paths: int = 20, auth_burst: int = 10,
                 floor: float = 0.99, target_fpr: float = 1e-3) -> None:
        self.window = window
        self.burst_paths = burst_paths
        self.auth_burst = auth_burst
        self.floor = floor
        self.target_fpr = target_fpr

    def _features(self, X: pl.DataFrame) -> pl.DataFrame:
        sig = web_signatures(X)
        status = column(X, "http.response.status_code", pl.Int32())
        f = X.select(
            column(X, "source.ip").alias("__src"),
            column(X, "@timestamp", pl.Datetime("us", "UTC")).alias("@timestamp"),
            pl.coalesce(column(X, "url.path"), column(X, "url.original")).alias("__path"),
            ((status >= 400) & (status < 500)).fill_null(False).alias("__err"),
            status.is_in([401, 403]).fill_null(False).alias("__auth"),
        ).with_row_index(ROW).hstack(sig)
        bursts = windowed(f, "__src", self.window, [
            pl.col("__path").filter(pl.col("__err")).n_unique().alias("err_paths"),
            pl.col("__auth").sum().alias("auth_fail")])
        f = f.join(bursts, on=ROW, how="left").with_columns(
            pl.col("err_paths").fill_null(0), pl.col("auth_fail").fill_null(0))
        burst = pl.max_horizontal(pl.col("err_paths") / self.burst_paths,
                                  pl.col("auth_fail") / self.auth_burst).clip(0.0, 1.0)
        return f.with_columns(burst.alias("burst"),
                              (pl.col("web.attack.score") + burst).alias("score"))

    def score(self, X: pl.DataFrame) -> np.ndarray:
        return self._features(X)["score"].to_numpy().astype(np.float64)

    def fit(self, X: pl.DataFrame, y: np.ndarray | None = None) -> Self:
        """Fit the policy on benign requests' scores, leaving out the requests a signature
        already calls attacks (real logs hold real scans; what the detector flags on its own
        must not teach it what normal looks like)."""
        benign = X.filter(pl.Series(benign_mask(X.height, y))) if X.height else X
        f = self._features(benign)
        clean = f.filter(pl.col("web.attack.score") < 1.0)["score"].to_numpy()
        self.n_fit_excluded_ = int(f.height - clean.size)
        self.threshold_, self.policy_ = fit_threshold(clean, self.floor, self.target_fpr)
        return self

    def predict(self, X: pl.DataFrame) -> np.ndarray:
        """Alert decision per request (``score > threshold_``)."""
        check_fitted(self, "threshold_")
        return np.asarray(self.score(X) > self.threshold_, dtype=bool)

    def explain(self, X: pl.DataFrame, rows: Sequence[int]) -> list[Explanation]:
        f = self._features(X)
        method = column(X, "http.request.method")
        methods = X.select(method.fill_null("request"))[:, 0]
        out = []
        for r in rows:
            e = f.row(int(r), named=True)
            classes = ", ".join(c for c in (e["web.attack.classes"] or "").split(",") if c)
            text = (f"{methods[int(r)]} {e['__path']} from {e['__src']}: "
                    f"{classes or 'no signature'}"
                    f" (signature {e['web.attack.score']:g}); {e['err_paths']} distinct error "
                    f"paths, {e['auth_fail']} auth failures in {minutes(self.window)}")
            contrib = (Contribution("signature", e["web.attack.classes"], None,
                                    float(e["web.attack.score"])),
                       Contribution("burst", float(e["burst"]), None, float(e["burst"])))
            out.append(Explanation(text, contrib, {"score": e["score"]}))
        return out

    def alerts(self, X: pl.DataFrame) -> list[Alert]:
        """Alerts above ``threshold_``: one per source address, at its strongest request."""
        return self._threshold_alerts(X, X, "source.ip", "Web attack")
