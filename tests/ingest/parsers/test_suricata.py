import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.suricata import SuricataEveParser
from mirrorguard.ingest.parsers.zeek import ZeekJsonParser
from mirrorguard.ingest.sources import iter_sources
from mirrorguard.testing.parsers import check_parser, run_parser

EVE = ("suricata_eve_surevego", "testdata", "eve.json")


def eve_lines() -> list[dict[str, object]]:
    return [json.loads(ln) for ln in need_data(*EVE).read_text().splitlines() if ln.strip()]


def test_real_eve_every_event_lands_with_its_type():
    run = check_parser(SuricataEveParser, need_data(*EVE).read_bytes())
    assert (run.accepted, run.rejected) == (266, 0)
    counts = dict(run.events.group_by("suricata.eve.event_type").len().iter_rows())
    assert counts == {"dns": 48, "http": 68, "fileinfo": 68, "alert": 68, "flow": 13, "stats": 1}
    assert run.events["@timestamp"].min() == datetime(2017, 1, 30, 15, 12, 26, 985025, tzinfo=UTC)
    assert run.events["event.dataset"].unique().to_list() == ["suricata.eve"]


def test_real_alerts_map_to_rules():
    ev = check_parser(SuricataEveParser, need_data(*EVE).read_bytes()).events
    alerts = ev.filter(pl.col("event.kind") == "alert")
    assert alerts.height == 68
    assert set(alerts["rule.id"]) == {"2013504"}
    assert alerts["rule.name"][0].startswith("ET POLICY GNU/Linux APT User-Agent")
    assert set(alerts["rule.category"]) == {"Not Suspicious Traffic"}
    assert set(alerts["event.severity"]) == {3} and set(alerts["event.action"]) == {"allowed"}
    assert set(alerts["event.category"]) == {"intrusion_detection"}
    assert alerts["url.domain"].null_count() == 0  # the alert's http metadata is mapped too
    assert alerts["suricata.eve.flow_id"].null_count() == 0


def test_real_flow_dns_http_fileinfo_and_stats():
    raw = {(d["event_type"], d.get("flow_id"), d.get("pcap_cnt")): d for d in eve_lines()}
    ev = check_parser(SuricataEveParser, need_data(*EVE).read_bytes()).events
    flows = ev.filter(pl.col("suricata.eve.event_type") == "flow").sort("mirrorguard.record")
    first = flows.row(0, named=True)
    src = raw[("flow", int(first["suricata.eve.flow_id"]), None)]["flow"]
    assert first["source.bytes"] == src["bytes_toserver"]
    assert first["destination.packets"] == src["pkts_toclient"]
    assert first["event.duration"] == (first["event.end"] - first["event.start"]).total_seconds() \
        * 1e9 and first["event.duration"] > 0
    dns = ev.filter(pl.col("suricata.eve.event_type") == "dns")
    assert "security.debian.org" in dns["dns.question.name"].to_list()
    with_rdata = sum(1 for d in eve_lines() if "rdata" in d.get("dns", {}))
    assert dns["dns.answers.data"].drop_nulls().len() == with_rdata > 30
    assert ["151.101.12.204"] in dns["dns.resolved_ip"].to_list()
    http = ev.filter(pl.col("suricata.eve.event_type") == "http")
    assert set(http["http.request.method"]) == {"GET"} and set(http["http.version"]) == {"1.1"}
    assert http["url.path"].str.starts_with("/debian/").all()
    assert http["user_agent.original"][0].startswith("Debian APT-HTTP")
    files = ev.filter(pl.col("suricata.eve.event_type") == "fileinfo")
    assert files["file.name"].str.ends_with(".deb").all() and files["file.size"].min() > 0
    stats = ev.filter(pl.col("event.kind") == "metric")
    assert stats.height == 1 and stats["suricata.eve.stats.decoder.pkts"][0] == 56690
    assert stats["suricata.eve.stats.detect.alert"][0] == 68


def test_tls_anomaly_v2_dns_and_community_id():
    lines = [
        {"timestamp": "2024-03-01T10:00:00.000001+0000", "event_type": "tls", "src_ip": "10.0.0.1",
         "src_port": 51000, "dest_ip": "93.184.216.34", "dest_port": 443, "proto": "TCP",
         "community_id": "1:abc=", "tls": {"sni": "example.com", "version": "TLS 1.3",
                                           "subject": "CN=example.com", "issuerdn": "CN=CA",
                                           "ja3": {"hash": "e7d705a3286e19ea42f587b344ee6865"},
                                           "ja3s": {"hash": "f4febc55ea12b31ae17cfb7e614afda8"}}},
        {"timestamp": "2024-03-01T10:00:01+0000", "event_type": "anomaly", "src_ip": "10.0.0.2",
         "proto": "UDP", "anomaly": {"type": "decode", "event": "ipv4.trunc_pkt", "layer": "x"}},
        {"timestamp": "2024-03-01T10:00:02+0000", "event_type": "dns", "proto": "UDP",
         "dns": {"version": 2, "type": "answer", "id": 7, "rrname": "example.com",
                 "rrtype": "A", "rcode": "NOERROR",
                 "answers": [{"rrname": "example.com", "rrtype": "CNAME", "rdata": "e.net"},
                             {"rrname": "e.net", "rrtype": "A", "rdata": "93.184.216.34"}]}},
    ]
    data = b"\n".join(orjson.dumps(x) for x in lines)
    tls, anomaly, dns = check_parser(SuricataEveParser, data).events.sort(
        "mirrorguard.record").to_dicts()
    assert (tls["tls.server.name"], tls["tls.version"], tls["tls.version_protocol"]) == \
        ("example.com", "1.3", "tls")
    assert tls["tls.client.ja3"] == "e7d705a3286e19ea42f587b344ee6865"
    assert tls["network.community_id"] == "1:abc=" and tls["tls.server.issuer"] == "CN=CA"
    assert anomaly["event.action"] == "ipv4.trunc_pkt" and anomaly["event.kind"] == "event"
    assert anomaly["suricata.eve.anomaly.type"] == "decode"
    assert dns["dns.answers.data"] == ["e.net", "93.184.216.34"]
    assert dns["dns.resolved_ip"] == ["93.184.216.34"]
    assert json.loads(dns["suricata.eve.dns.answers"])[0]["rrtype"] == "CNAME"


def test_bad_records_are_quarantined():
    good = need_data(*EVE).read_bytes().splitlines()[:3]
    data = b"\n".join([
        good[0], b"{not json", b"[1, 2]", b'{"timestamp": "yesterday", "event_type": "dns"}',
        b'{"event_type": "alert"}', good[1].replace(b'"src_port":47719', b'"src_port":"x"'),
        b"\xff\xfe garbage", good[2]])
    run = check_parser(SuricataEveParser, data)
    assert (run.accepted, run.rejected, run.offered) == (2, 6, 8)
    reasons = dict(zip(run.rejects["line"].to_list(), run.rejects["reason"].to_list(),
                       strict=True))
    assert reasons[2].startswith("invalid JSON") and reasons[3] == "JSON value is not an object"
    assert reasons[4] == reasons[5] == "missing or unparsable timestamp"
    assert "source.port" in reasons[6]


def test_truncated_gzip_and_huge_line(tmp_path: Path):
    data = need_data(*EVE).read_bytes()
    path = tmp_path / "eve.json.gz"
    packed = gzip.compress(data * 20)
    path.write_bytes(packed[: len(packed) // 2])
    item = next(iter_sources([path]))
    ctx = ParseContext(origin=Origin(item.path, None, item.sha256), ingested_at=datetime.now(UTC))
    with item.open() as stream:
        results = list(SuricataEveParser().parse(stream, ctx))
    accepted = sum(r.accepted for r in results)
    rejects = pl.concat([r.rejects for r in results])
    assert 0 < accepted < 266 * 20 and "truncated" in rejects["reason"][-1]
    huge = b'{"timestamp":"2024-01-01T00:00:00Z","event_type":"x","p":"' + b"a" * 10_000_000
    run = check_parser(SuricataEveParser, data + huge + b'"}\n' + data)
    assert (run.accepted, run.rejected) == (532, 1)


def test_keep_original_and_sniff():
    data = need_data(*EVE).read_bytes()
    run = run_parser(SuricataEveParser, data, keep_original=True)
    first = run.events.sort("mirrorguard.record")["event.original"][0]
    assert first == data.splitlines()[0].decode()
    assert SuricataEveParser.sniff(data) > ZeekJsonParser.sniff(data)
    assert SuricataEveParser.sniff(b'{"ts":1,"uid":"C","id.orig_h":"1.1.1.1"}') == 0.0


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.fixed_dictionaries({
        "timestamp": st.one_of(st.just("2017-01-30T16:12:26.985026+0100"), st.text(max_size=8)),
        "event_type": st.sampled_from(["alert", "dns", "flow", "http", "tls", "weird"]),
        "src_port": st.one_of(st.integers(-5, 70000), st.text(max_size=3)),
        "alert": st.one_of(st.none(), st.fixed_dictionaries(
            {"signature_id": st.integers(0, 2**40), "severity": st.integers(1, 4)})),
        "dns": st.one_of(st.none(), st.fixed_dictionaries(
            {"answers": st.lists(st.fixed_dictionaries({"rdata": st.text(max_size=5),
                                                        "rrtype": st.sampled_from(["A", "MX"])}),
                                 max_size=3)}))}).map(orjson.dumps),
    st.binary(max_size=50), st.text(max_size=30).map(str.encode)), max_size=20))
def test_property_nothing_escapes_and_counts_add_up(lines):
    check_parser(SuricataEveParser, b"\n".join(lines) + b"\n", max_record_bytes=4096)
