from pathlib import Path

import evtx
from tests.conftest import need_data

from mirrorguard.bench.gen_evtx import sample_chunks, write_evtx
from mirrorguard.bench.gen_syslog import write_auth_log
from mirrorguard.bench.gen_zeek import write_conn_json, write_conn_tsv
from mirrorguard.bench.suites.ingest import _vs_baselines
from mirrorguard.ingest.parsers.syslog import SyslogParser
from mirrorguard.ingest.parsers.zeek import ZeekJsonParser, ZeekTsvParser
from mirrorguard.testing.parsers import check_parser


def test_generated_files_parse_completely(tmp_path: Path):
    for writer, parser, name in ((write_conn_json, ZeekJsonParser, "c.json"),
                                 (write_conn_tsv, ZeekTsvParser, "c.log"),
                                 (write_auth_log, SyslogParser, "auth.log")):
        path = tmp_path / name
        writer(path, 2000, 3)
        run = check_parser(parser, path.read_bytes())
        assert (run.accepted, run.rejected) == (2000, 0), name


def test_replicated_evtx_is_valid_and_holds_real_records(tmp_path: Path):
    header, chunks = sample_chunks(need_data("evtx_attack_samples"))
    one, two = tmp_path / "one.evtx", tmp_path / "two.evtx"
    write_evtx(one, header, chunks, 1)
    write_evtx(two, header, chunks, 2)
    n1 = sum(1 for _ in evtx.PyEvtxParser(str(one)).records_json())
    n2 = sum(1 for _ in evtx.PyEvtxParser(str(two)).records_json())
    assert n1 == 5732 and n2 == 2 * n1  # INDEX.csv: 5,732 records in the 184 recordings


def test_ratios_against_baselines():
    r = _vs_baselines(300.0, 600.0, 100.0)
    assert r["ratio_vs_raw_parse"] == 0.5 and r["ratio_vs_naive"] == 3.0
