import gzip
import re
from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.syslog import SyslogParser
from mirrorguard.ingest.parsers.weblog import WebAccessParser
from mirrorguard.ingest.sources import iter_sources
from mirrorguard.testing.parsers import check_parser

FAIL2BAN = ("auth_web_logs_fail2ban", "fail2ban", "tests", "files", "logs")
APACHE = ("apache_access_elastic_examples", "Common Data Formats", "apache_logs",
          "apache_logs.gz")
COMBINED = ('83.149.9.216 - - [17/May/2015:10:05:03 +0000] "GET /presentations/x.png HTTP/1.1" '
            '200 203023 "http://semicomplete.com/presentations/" "Mozilla/5.0 (Macintosh)"')


class AnnotatedWeb(WebAccessParser):
    def __init__(self) -> None:
        super().__init__(skip_comments=True)


def one(line: str, parser: type[WebAccessParser] = WebAccessParser) -> dict[str, object]:
    run = check_parser(parser, (line + "\n").encode())
    assert run.rejected == 0, run.rejects["reason"].to_list()
    return run.events.row(0, named=True)


def test_real_elastic_apache_sample_parses_completely():
    data = gzip.decompress(need_data(*APACHE).read_bytes())
    run = check_parser(WebAccessParser, data)
    assert (run.accepted, run.rejected) == (10000, 0)
    ev = run.events
    assert ev["source.ip"].n_unique() == 1753  # as PROVENANCE.md counts the client IPs
    assert ev["@timestamp"].min() == datetime(2015, 5, 17, 10, 5, tzinfo=UTC)
    assert ev["@timestamp"].max() < datetime(2015, 5, 20, 21, 6, tzinfo=UTC)
    assert ev["event.dataset"].unique().to_list() == ["web.access"]
    probes = ev.filter(pl.col("url.path") == "/wp-login.php")
    assert probes.height > 0 and set(probes["http.response.status_code"]) == {404}
    assert ev["http.request.method"].null_count() == 0
    dash_sizes = len(re.findall(rb'" \d{3} - ', data))  # "-" sizes: null, not rejects
    assert ev["http.response.body.bytes"].null_count() == dash_sizes > 0


def test_fail2ban_access_logs_land_and_error_logs_are_rejected():
    for name, accepted in (("apache-badbots", 4), ("nginx-botsearch", 8), ("traefik-auth", 6),
                           ("nginx-bad-request", 8), ("php-url-fopen", 1), ("apache-pass", 1)):
        run = check_parser(AnnotatedWeb, need_data(*FAIL2BAN, name).read_bytes())
        assert run.accepted == accepted, name
    bots = check_parser(AnnotatedWeb, need_data(*FAIL2BAN, "nginx-botsearch").read_bytes())
    assert set(bots.rejects["reason"]) == {
        "not an access-log line (expected Apache/nginx common or combined format)"}
    assert set(bots.events["event.dataset"]) == {"nginx.access"}  # the nginx "main" format


def test_combined_fields():
    row = one(COMBINED)
    assert row["source.ip"] == "83.149.9.216" and row["user.name"] is None
    assert row["http.request.method"] == "GET" and row["http.version"] == "1.1"
    assert row["url.original"] == row["url.path"] == "/presentations/x.png"
    assert row["http.response.status_code"] == 200 and row["http.response.body.bytes"] == 203023
    assert row["http.request.referrer"] == "http://semicomplete.com/presentations/"
    assert row["user_agent.original"] == "Mozilla/5.0 (Macintosh)"
    assert (row["event.category"], row["event.outcome"]) == ("web", "success")


def test_common_format_dash_size_query_zone_and_user():
    row = one('10.1.1.1 - frank [10/Oct/2000:13:55:36 -0700] "POST /login?next=%2F&a=1 '
              'HTTP/1.0" 401 -')
    assert row["@timestamp"] == datetime(2000, 10, 10, 20, 55, 36, tzinfo=UTC)
    assert row["user.name"] == "frank" and row["http.response.body.bytes"] is None
    assert (row["url.path"], row["url.query"]) == ("/login", "next=%2F&a=1")
    assert row["event.outcome"] == "failure" and row["user_agent.original"] is None


def test_variants_vhost_proxy_request_garbage_request_and_escapes():
    vhost = one('www.example.com:443 192.0.2.7 - - [18/Aug/2024:21:08:39 +0100] "GET / HTTP/2.0" '
                '403 332 "-" "curl"')
    assert vhost["event.dataset"] == "apache.access" and vhost["destination.port"] == 443
    assert vhost["destination.domain"] == "www.example.com" and vhost["source.ip"] == "192.0.2.7"
    proxy = one('1.2.3.4 - - [11/Jun/2013:02:09:40 +0300] "GET http://www.yandex.ua/?n=1 '
                'HTTP/1.1" 200 10')
    assert (proxy["url.scheme"], proxy["url.domain"], proxy["url.path"], proxy["url.query"]) == \
        ("http", "www.yandex.ua", "/", "n=1")
    tls = one('12.34.56.78 - - [20/Jan/2015:19:53:28 +0100] "\\x16\\x03\\x01\\x00" 400 47 "-" "-"')
    assert tls["http.request.method"] is None and tls["web.access.request"] == "\\x16\\x03\\x01\\x00"
    quoted = one('1.1.1.1 - - [20/Jan/2015:19:53:28 +0100] "GET / HTTP/1.1" 200 1 "-" '
                 '"Agent \\"quoted\\" here" "10.0.0.1, 10.0.0.2"')
    assert quoted["user_agent.original"] == 'Agent "quoted" here'
    assert quoted["nginx.access.forwarded_for"] == "10.0.0.1, 10.0.0.2"
    naive = one('192.0.2.12 - user1 [27/Jun/2013:11:55:44] "GET /knocking/ HTTP/1.1" 200 266')
    assert naive["@timestamp"] == datetime(2013, 6, 27, 11, 55, 44, tzinfo=UTC)
    v6 = one('2001:db8::1 - - [27/Jun/2013:11:55:44 +0000] "GET / HTTP/1.1" 200 266')
    assert v6["source.ip"] == "2001:db8::1"


def test_bad_lines_are_quarantined_with_reason_and_line():
    data = (COMBINED + "\n# a comment\n\ngarbage here\n"
            + COMBINED.replace("17/May/2015", "17/Mai/2015") + "\n"
            + COMBINED.replace("Mozilla", "Moz\udcffilla") + "\n" + COMBINED).encode(
        "utf-8", "surrogateescape")
    run = check_parser(WebAccessParser, data)
    assert (run.accepted, run.rejected, run.offered) == (2, 4, 6)
    reasons = dict(zip(run.rejects["line"].to_list(), run.rejects["reason"].to_list(),
                       strict=True))
    assert reasons[2] == "comment line, not a record" and reasons[4].startswith("not an access")
    assert reasons[5] == "missing or unparsable timestamp"
    assert reasons[6].startswith("invalid UTF-8")


def test_huge_line_and_truncated_gzip(tmp_path: Path):
    good = (COMBINED + "\n").encode()
    run = check_parser(WebAccessParser, good + b"a" * 10_000_000 + b"\n" + good)
    assert (run.accepted, run.rejected) == (2, 1) and run.rejects["line"][0] == 2
    path = tmp_path / "access.log.gz"
    data = b"".join(good.replace(b"203023", str(i).encode()) for i in range(4000))
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2])
    item = next(iter_sources([path]))
    ctx = ParseContext(origin=Origin(item.path, None, item.sha256), ingested_at=datetime.now(UTC))
    with item.open() as stream:
        results = list(WebAccessParser().parse(stream, ctx))
    accepted = sum(r.accepted for r in results)
    rejects = pl.concat([r.rejects for r in results])
    assert 0 < accepted < 4000 and "truncated" in rejects["reason"][-1]
    assert sum(r.offered for r in results) == accepted + rejects.height


def test_sniff():
    assert WebAccessParser.sniff((COMBINED + "\n").encode() * 3) > 0.9
    assert WebAccessParser.sniff(b"Jun 21 16:47:48 host sshd[1]: x\n") == 0.0
    assert SyslogParser.sniff((COMBINED + "\n").encode()) == 0.0


FIELD = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=15)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.just(COMBINED),
    st.tuples(FIELD, FIELD, FIELD, st.integers(-1, 1000)).map(
        lambda t: f'{t[0]} - {t[1]} [17/May/2015:10:05:03 +0000] "{t[2]}" {t[3]} - "-" "-"'),
    st.text(max_size=60), st.binary(max_size=60).map(lambda b: b.decode("latin-1")),
    st.just(COMBINED).map(lambda s: s[: len(s) // 3])), max_size=25),
    st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_property_nothing_escapes_and_counts_add_up(lines, encoding):
    check_parser(WebAccessParser, "\n".join(lines).encode(encoding, errors="replace"),
                 max_record_bytes=4096)
