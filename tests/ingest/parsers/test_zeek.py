import gzip
import json

import orjson
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.conftest import need_data

from mirrorguard.ingest.parsers.zeek import ZeekJsonParser, ZeekTsvParser
from mirrorguard.ingest.parsers.zeek_map import infer_log
from mirrorguard.testing.parsers import check_parser

HEADER = (
    "#separator \\x09\n#set_separator\t,\n#empty_field\t(empty)\n#unset_field\t-\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\t"
    "orig_bytes\tresp_bytes\tconn_state\thistory\ttunnel_parents\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\t"
    "string\tset[string]\n"
)
ROW = "1521911720.5\tC1\t10.0.0.1\t5000\t8.8.8.8\t53\tudp\tdns\t0.25\t40\t120\tSF\tDd\t(empty)\n"


def test_real_wrccdc_dns_and_ssl_map_to_ecs():
    d = need_data("zeek_wrccdc2018", "zeek-default")
    dns = check_parser(ZeekTsvParser, gzip.decompress((d / "dns.log.gz").read_bytes()))
    assert dns.accepted == 53615 and dns.rejected == 0
    ev = dns.events
    assert ev["event.dataset"].unique().to_list() == ["zeek.dns"]
    assert ev["dns.question.name"][0] == "ise.wrccdc.org"
    assert ev["source.ip"][0] == "10.47.1.100" and ev["destination.port"][0] == 53
    assert ev["@timestamp"].min().year == 2018
    assert ev["dns.answers.data"][0].to_list() == ["ise.wrccdc.cpp.edu", "134.71.3.16"]
    ssl = check_parser(ZeekTsvParser, gzip.decompress((d / "ssl.log.gz").read_bytes()))
    assert ssl.accepted == 49474
    assert ssl.events["tls.server.name"].drop_nulls().len() > 0


def test_all_real_zeek_logs_parse_without_rejects():
    d = need_data("zeek_wrccdc2018", "zeek-default")
    for f in sorted(d.glob("*.log.gz")):
        run = check_parser(ZeekTsvParser, gzip.decompress(f.read_bytes()))
        assert run.rejected == 0, f.name
        assert run.accepted > 0, f.name


def test_conn_fields_types_and_duration():
    run = check_parser(ZeekTsvParser, (HEADER + ROW).encode())
    row = run.events.row(0, named=True)
    assert row["source.bytes"] == 40 and row["destination.bytes"] == 120
    assert row["event.duration"] == 250_000_000
    assert row["network.protocol"] == "dns" and row["zeek.conn.conn_state"] == "SF"
    assert row["zeek.conn.tunnel_parents"] == []
    assert row["event.category"] == "network" and row["mirrorguard.record"] == 8


def test_header_change_mid_file_and_bad_rows():
    second = HEADER.replace("#path\tconn", "#path\tweird").replace(
        "\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\thistory\ttunnel_parents", "\tname"
    ).replace("\tstring\tinterval\tcount\tcount\tstring\tstring\tset[string]", "\tstring")
    data = (HEADER + ROW + "only\ttwo\n" + ROW.replace("\t40\t", "\tforty\t") + second
            + "1521911721.0\tC2\t10.0.0.2\t1\t10.0.0.3\t2\ttcp\tbad_TCP_checksum\n")
    run = check_parser(ZeekTsvParser, data.encode())
    assert run.accepted == 2 and run.rejected == 2
    assert sorted(run.events["event.dataset"].to_list()) == ["zeek.conn", "zeek.weird"]
    reasons = " ".join(run.rejects["reason"].to_list())
    assert "expected 14 fields" in reasons and "orig_bytes" in reasons and "forty" in reasons
    assert sorted(run.rejects["line"].to_list()) == [9, 10]


def test_json_conn_dns_and_unknown_log_types():
    lines = [
        {"_path": "conn", "ts": 1.5, "uid": "C1", "id.orig_h": "10.0.0.1", "id.orig_p": 1,
         "id.resp_h": "10.0.0.2", "id.resp_p": 443, "proto": "tcp", "orig_bytes": 10,
         "conn_state": "SF"},
        {"_path": "dns", "ts": 2.5, "uid": "C2", "id.orig_h": "10.0.0.1", "id.orig_p": 2,
         "id.resp_h": "10.0.0.53", "id.resp_p": 53, "proto": "udp", "query": "example.com",
         "answers": ["1.2.3.4"], "TTLs": [60.0]},
        {"_path": "mystery", "ts": "2024-01-01T00:00:00.5Z", "uid": "C3", "id.orig_h": "::1",
         "foo": {"bar": 1}},
    ]
    data = b"\n".join(orjson.dumps(x) for x in lines) + b"\n\n{broken\n"
    run = check_parser(ZeekJsonParser, data)
    assert (run.accepted, run.rejected, run.offered) == (3, 1, 4)
    ev = run.events.sort("mirrorguard.record")
    assert ev["event.dataset"].to_list() == ["zeek.conn", "zeek.dns", "zeek.mystery"]
    assert ev["dns.answers.data"][1].to_list() == ["1.2.3.4"]
    assert ev["zeek.dns.TTLs"][1].to_list() == ["60.0"]
    assert run.rejects["line"].to_list() == [5]


def test_json_without_path_infers_log_type():
    assert infer_log(["ts", "uid", "query", "qtype_name"]) == "dns"
    assert infer_log(["ts", "conn_state"]) == "conn"
    run = check_parser(ZeekJsonParser, b'{"ts":1,"uid":"C","id.orig_h":"1.1.1.1","conn_state":"S0"}\n')
    assert run.events["event.dataset"][0] == "zeek.conn"


def test_nested_id_object_is_flattened():
    rec = {"ts": 1, "uid": "C", "id": {"orig_h": "1.1.1.1", "orig_p": 1, "resp_h": "2.2.2.2",
                                       "resp_p": 80}, "method": "GET", "uri": "/"}
    run = check_parser(ZeekJsonParser, json.dumps(rec).encode())
    row = run.events.row(0, named=True)
    assert row["source.ip"] == "1.1.1.1" and row["url.original"] == "/"


def test_keep_original():
    from mirrorguard.testing.parsers import run_parser
    run = run_parser(ZeekTsvParser, (HEADER + ROW).encode(), keep_original=True)
    assert run.events["event.original"][0] == ROW.rstrip("\n")


def test_sniffing():
    assert ZeekTsvParser.sniff(HEADER.encode()) == 1.0
    assert ZeekJsonParser.sniff(b'{"ts":1,"uid":"C","id.orig_h":"1.1.1.1"}') > 0.5
    assert ZeekJsonParser.sniff(b'{"timestamp":"x","src_ip":"1.1.1.1"}') < 0.5


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.just(ROW), st.text(max_size=80).map(lambda t: t + "\n"),
                          st.binary(max_size=60).map(lambda b: b.decode("latin-1") + "\n")),
                max_size=25))
def test_tsv_property_nothing_escapes_and_counts_add_up(rows):
    check_parser(ZeekTsvParser, (HEADER + "".join(rows)).encode("utf-8", "surrogateescape"),
                 max_record_bytes=2048)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(
    st.fixed_dictionaries({"ts": st.floats(0, 2e9), "uid": st.text(max_size=5),
                           "id.orig_h": st.text(max_size=15),
                           "id.orig_p": st.one_of(st.integers(-5, 70000), st.text(max_size=3))}
                          ).map(orjson.dumps),
    st.binary(max_size=50)), max_size=20))
def test_json_property_nothing_escapes_and_counts_add_up(lines):
    check_parser(ZeekJsonParser, b"\n".join(lines) + b"\n")


def test_garbage_and_wrong_encoding():
    garbage = bytes(range(256)) * 50
    run = check_parser(ZeekTsvParser, HEADER.encode() + garbage)
    assert run.accepted == 0 and run.rejected == run.offered > 0
    latin = (HEADER + ROW.replace("C1", "C\u00e9")).encode("latin-1")
    run = check_parser(ZeekTsvParser, latin)
    assert run.rejected == 1 and "UTF-8" in run.rejects["reason"][0]
    assert pl.Series(run.rejects["raw"]).len() == 1


def test_learned_schema_never_drops_keys_first_seen_in_later_blocks():
    from mirrorguard.testing.parsers import run_parser
    base = '{"ts":%d,"uid":"C%d","id.orig_h":"10.0.0.1","conn_state":"SF"}'
    lines = [base % (i, i) for i in range(3000)]
    lines[2500] = lines[2500][:-1] + ',"tunnel_parents":["X"]}'
    lines[2700] = lines[2700][:-1] + ',"note":"has \\":\\" inside"}'
    lines[2800] = lines[2800].replace('"conn_state":"SF"', '"conn_state":7')
    run = run_parser(ZeekJsonParser, ("\n".join(lines) + "\n").encode(), batch_bytes=4096)
    assert run.accepted == 3000
    ev = run.events.sort("mirrorguard.record")
    assert ev["zeek.conn.tunnel_parents"][2500].to_list() == ["X"]
    assert ev["zeek.conn.note"][2700] == 'has ":" inside'
    assert ev["zeek.conn.conn_state"][2800] == "7"
