import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.errors import ConfigError
from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.fieldmap import (
    BUNDLED_MAPS,
    FieldMap,
    FieldMapParser,
    bundled_field_maps,
    load_field_map,
    parser_for,
)
from mirrorguard.ingest.sources import iter_sources, read_head
from mirrorguard.testing.parsers import check_parser

MAPS = BUNDLED_MAPS
CLOUDTRAIL = ("mordor_security_datasets", "datasets", "atomic", "aws", "collection",
              "ec2_proxy_s3_exfiltration.zip")


def spec(**kw: object) -> FieldMap:
    base: dict[str, object] = {"name": "app", "format": "jsonl", "dataset": "app.log",
                               "timestamp": {"field": "t", "format": "iso8601"}}
    return FieldMap.model_validate({**base, **kw})


def parse_item(parser: type[FieldMapParser], path: Path):
    item = next(iter_sources([path]))
    ctx = ParseContext(origin=Origin(item.path, item.member, item.sha256),
                       ingested_at=datetime.now(UTC))
    with item.open() as stream:
        return item, list(parser().parse(stream, ctx))


def test_bundled_maps_are_valid():
    names = {load_field_map(p).name for p in bundled_field_maps()}
    assert names >= {"aws_cloudtrail", "unsw_nb15"}


def test_real_cloudtrail_jsonl_from_a_zip_archive():
    parser = parser_for(load_field_map(MAPS / "aws_cloudtrail.yaml"))
    item, results = parse_item(parser, need_data(*CLOUDTRAIL))
    assert parser.sniff(read_head(item)) == 0.9
    data = next(iter_sources([need_data(*CLOUDTRAIL)])).open().read()
    run = check_parser(parser, data)
    assert (run.accepted, run.rejected) == (103, 0)
    assert sum(r.accepted for r in results) == 103
    ev = run.events
    assert ev["event.dataset"].unique().to_list() == ["aws.cloudtrail"]
    assert ev["event.provider"].null_count() == 0 and "s3.amazonaws.com" in set(
        ev["event.provider"])
    assert set(ev["user.name"].drop_nulls()) == {"pedro"}
    assert ev["@timestamp"].min().year == 2020 and ev["cloud.provider"].unique().to_list() == [
        "aws"]
    assert ev.schema["aws_cloudtrail.readOnly"] == pl.Boolean
    assert "aws_cloudtrail.userIdentity.type" in ev.columns  # unmapped nested keys are kept


def test_real_unsw_nb15_csv_with_bom_and_declared_types():
    path = need_data("unsw_nb15", "UNSW_NB15_training-set.csv.gz")
    parser = parser_for(load_field_map(MAPS / "unsw_nb15.yaml"))
    data = gzip.decompress(path.read_bytes())
    assert data.startswith(b"\xef\xbb\xbf") and parser.sniff(data[:65536]) == 0.9
    run = check_parser(parser, data)
    assert (run.accepted, run.rejected) == (82332, 0)
    ev = run.events
    assert ev.schema["unsw_nb15.dur"] == pl.Float64 and ev.schema["unsw_nb15.label"] == pl.Int64
    assert ev["unsw_nb15.label"].sum() == 45332  # attack rows in the training partition
    assert ev["unsw_nb15.time_from_ingest"].all() and "unsw_nb15.id" in ev.columns
    assert set(ev["network.transport"]) >= {"tcp", "udp"} and ev["source.bytes"].min() >= 0


@pytest.mark.parametrize(("body", "needle"), [
    ("name: x\nformat: jsonl\ndataset: a.b\nbogus: 1\n", "bogus"),
    ("name: x\nformat: jsonl\ndataset: a.b\ntimestamp: {field: t, fmt: x}\n", "timestamp.fmt"),
    ("name: x\nformat: xml\ndataset: a.b\n", "format"),
    ("name: X Y\nformat: jsonl\ndataset: a.b\n", "name"),
    ("name: x\nformat: jsonl\ndataset: a.b\nfields: {a: 'bad name!'}\n", "bad name"),
    ("name: x\nformat: csv\ndataset: a.b\ncsv: {header: false}\n", "columns"),
    ("name: x\nformat: jsonl\ndataset: a.b\ntimestamp: {field: t, format: weird}\n", "strftime"),
])
def test_invalid_maps_name_the_file_and_key(tmp_path: Path, body: str, needle: str):
    path = tmp_path / "m.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as err:
        load_field_map(path)
    assert err.value.file == str(path) and needle in str(err.value)


def test_broken_yaml_and_non_mapping(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("name: x\nfields: {a: [\n")
    with pytest.raises(ConfigError) as err:
        load_field_map(path)
    assert err.value.line is not None and err.value.file == str(path)
    path.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_field_map(path)


def test_yaml_cannot_smuggle_python_objects(tmp_path: Path):
    path = tmp_path / "m.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_field_map(path)


def test_jsonl_mapping_constants_nested_and_coalesced_sources():
    m = spec(fields={"client": "source.ip", "c.ip": "source.ip", "who.name": "user.name",
                     "port": "source.port"},
             constants={"event.category": "authentication", "event.severity": 3},
             types={"app.latency": "float"})
    data = b"\n".join(orjson.dumps(x) for x in [
        {"t": "2024-01-02T03:04:05Z", "client": "10.0.0.1", "who": {"name": "ann"}, "port": 22,
         "latency": "1.5"},
        {"t": "2024-01-02T03:04:06+02:00", "c": {"ip": "10.0.0.2"}, "extra": [1, {"a": 2}]},
    ])
    a, b = check_parser(parser_for(m), data).events.sort("mirrorguard.record").to_dicts()
    assert (a["source.ip"], a["user.name"], a["source.port"]) == ("10.0.0.1", "ann", 22)
    assert b["source.ip"] == "10.0.0.2" and b["user.name"] is None
    assert b["@timestamp"] == datetime(2024, 1, 2, 1, 4, 6, tzinfo=UTC)
    assert a["event.category"] == "authentication" and a["event.severity"] == 3
    assert a["app.latency"] == 1.5
    assert [orjson.loads(x) for x in b["app.extra"]] == [1, {"a": 2}]  # mixed list: JSON items
    assert a["event.dataset"] == "app.log"
    lean = check_parser(parser_for(spec(keep_unmapped=False)), data).events
    assert not [c for c in lean.columns if c.startswith("app.")]


@pytest.mark.parametrize(("fmt", "value", "expected"), [
    ("epoch_s", 1700000000.25, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
    ("epoch_ms", 1700000000250, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
    ("epoch_us", "1700000000250000", datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
    ("epoch_ns", 1700000000250000000, datetime(2023, 11, 14, 22, 13, 20, 250000, tzinfo=UTC)),
    ("%d/%m/%Y %H:%M:%S", "14/11/2023 23:13:20", datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
    ("%Y-%m-%d %H:%M:%S %z", "2023-11-14 22:13:20 -0100",
     datetime(2023, 11, 14, 23, 13, 20, tzinfo=UTC)),
])
def test_timestamp_formats(fmt: str, value: object, expected: datetime):
    m = spec(timestamp={"field": "t", "format": fmt, "timezone": "Europe/Berlin"})
    row = check_parser(parser_for(m), orjson.dumps({"t": value})).events.row(0, named=True)
    assert row["@timestamp"] == expected


def test_jsonl_bad_records_are_quarantined():
    m = spec(fields={"p": "source.port"})
    data = (b'{"t": "2024-01-01T00:00:00Z", "p": 1}\n{broken\n"a string"\n'
            b'{"t": "not a time"}\n{"t": "2024-01-01T00:00:00Z", "p": "http"}\n\xff\xfe\n')
    run = check_parser(parser_for(m), data)
    assert (run.accepted, run.rejected, run.offered) == (1, 5, 6)
    reasons = run.rejects.sort("line")["reason"].to_list()
    assert reasons[0].startswith("invalid JSON") and reasons[1] == "JSON value is not an object"
    assert reasons[2] == "missing or unparsable timestamp" and "source.port" in reasons[3]


CSV_MAP = {"name": "fw", "format": "csv", "dataset": "fw.log",
           "timestamp": {"field": "when", "format": "iso8601"},
           "fields": {"src": "source.ip", "dport": "destination.port", "action": "event.action"},
           "csv": {"delimiter": ";"}, "detect": {"required_fields": ["when", "src", "dport"]}}


def test_csv_quotes_bad_rows_and_header_only_once():
    parser = parser_for(FieldMap.model_validate(CSV_MAP))
    data = (b'when;src;dport;action;note\n'
            b'2024-01-01T00:00:00Z;10.0.0.1;443;allow;"semi;colon ""quoted"""\n'
            b'2024-01-01T00:00:01Z;10.0.0.2;22;deny\n'
            b'2024-01-01T00:00:02Z;10.0.0.3;22;deny;x;y\n'
            b'2024-01-01T00:00:03Z;10.0.0.4;22;deny;"unbalanced\n'
            b'2024-01-01T00:00:04Z;10.0.0.5;ssh;deny;x\n'
            b'2024-01-01T00:00:05Z;10.0.0.6;80;allow;\n')
    run = check_parser(parser, data, batch_bytes=120)  # several blocks: header kept across them
    assert (run.accepted, run.rejected, run.offered) == (2, 4, 6)
    ev = run.events.sort("mirrorguard.record").to_dicts()
    assert ev[0]["fw.note"] == 'semi;colon "quoted"' and ev[0]["destination.port"] == 443
    assert ev[1]["fw.note"] is None and ev[1]["source.ip"] == "10.0.0.6"
    reasons = dict(zip(run.rejects["line"].to_list(), run.rejects["reason"].to_list(),
                       strict=True))
    assert reasons == {3: "expected 5 fields, found 4", 4: "expected 5 fields, found 6",
                       5: "unbalanced quote", 6: reasons[6]}
    assert "destination.port" in reasons[6]
    assert parser.sniff(data) == 0.85 and parser.sniff(b"a;b\n") == 0.0


def test_csv_without_header_uses_declared_columns():
    m = {**CSV_MAP, "csv": {"delimiter": ",", "header": False,
                            "columns": ["when", "src", "dport", "action"]}}
    run = check_parser(parser_for(FieldMap.model_validate(m)),
                       b"2024-01-01T00:00:00Z,10.0.0.1,443,allow\n")
    assert run.accepted == 1 and run.events["mirrorguard.record"][0] == 1


def test_maps_without_detect_never_claim_content():
    parser = parser_for(spec())
    assert parser.sniff(b'{"t": "2024-01-01T00:00:00Z"}\n') == 0.0
    assert parser.name == "fieldmap:app"
    with pytest.raises(ConfigError):
        FieldMapParser()


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.fixed_dictionaries({"t": st.one_of(st.just("2024-01-01T00:00:00Z"), st.text(max_size=6),
                                           st.integers()),
                           "client": st.one_of(st.text(max_size=8), st.integers(), st.none()),
                           "nested": st.dictionaries(st.text(max_size=3), st.integers(),
                                                     max_size=2)}
                          ).map(lambda d: json.dumps(d).encode()),  # ints beyond 64 bits too
    st.binary(max_size=40), st.text(max_size=30).map(str.encode)), max_size=20))
def test_jsonl_property_nothing_escapes(lines):
    m = spec(fields={"client": "source.ip", "nested.a": "source.port"})
    check_parser(parser_for(m), b"\n".join(lines) + b"\n", max_record_bytes=4096)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.just("2024-01-01T00:00:00Z;10.0.0.1;443;allow;n"),
    st.lists(st.text(alphabet="ab;\"1 \\", max_size=6), max_size=7).map(";".join),
    st.text(max_size=30), st.binary(max_size=30).map(lambda b: b.decode("latin-1"))),
    max_size=20), st.sampled_from(["utf-8", "latin-1", "utf-16"]))
def test_csv_property_nothing_escapes(rows, encoding):
    parser = parser_for(FieldMap.model_validate(CSV_MAP))
    data = "\n".join(["when;src;dport;action;note", *rows]).encode(encoding, errors="replace")
    check_parser(parser, data, max_record_bytes=4096)


def test_truncated_gzip_and_huge_line(tmp_path: Path):
    parser = parser_for(FieldMap.model_validate(CSV_MAP))
    rows = [f"2024-01-01T00:00:{i % 60:02d}Z;10.0.{i % 256}.{i // 256 % 256};{i % 65535};allow;n{i}"
            for i in range(5000)]
    data = ("when;src;dport;action;note\n" + "\n".join(rows) + "\n").encode()
    path = tmp_path / "fw.csv.gz"
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2])
    _, results = parse_item(parser, path)
    accepted = sum(r.accepted for r in results)
    rejects = pl.concat([r.rejects for r in results])
    assert 0 < accepted < 5000 and "truncated" in rejects["reason"][-1]
    assert sum(r.offered for r in results) == accepted + rejects.height
    big = data[:200] + b"x" * 10_000_000 + b"\n" + data[200:400]
    run = check_parser(parser, big[: big.rfind(b"\n") + 1])
    assert run.rejects["reason"].str.contains("longer than").any()
    assert run.accepted + run.rejected == run.offered and run.accepted >= 2
