import gzip
import zipfile

import pytest

from mirrorguard.bus import EventBus
from mirrorguard.config import Settings
from mirrorguard.engine.ingest import Ingestor
from mirrorguard.store import DuckDBStore

ROWS = [
    f'{{"ts": {1700000000 + i}.5, "uid": "C{i}", "id.orig_h": "10.0.0.{i % 200}", '
    '"id.orig_p": 1000, "id.resp_h": "10.9.9.9", "id.resp_p": 443, "proto": "tcp", '
    '"conn_state": "SF"}'
    for i in range(3000)
]


def write_logs(d):
    d.mkdir()
    (d / "conn.json").write_text("\n".join(ROWS[:1000]) + "\n")
    (d / "conn2.json.gz").write_bytes(gzip.compress(("\n".join(ROWS[1000:2000]) + "\n").encode()))
    with zipfile.ZipFile(d / "more.zip", "w") as z:
        z.writestr("inner/conn3.log", "\n".join(ROWS[2000:]) + "\nnot json\n")
    (d / "junk.bin").write_bytes(b"\x00\x01garbage")


def test_ingest_directory_counts_quarantine_and_idempotence(tmp_path):
    write_logs(tmp_path / "logs")
    settings = Settings()
    seen = []
    bus = EventBus()
    bus.subscribe(seen.append)
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        summary = Ingestor(settings, st, bus=bus).ingest([tmp_path / "logs"])
        t = summary.to_dict()["totals"]
        assert t["accepted"] == 3000 and t["rejected"] == 1 and t["failed"] == 1
        assert st.query("SELECT count(DISTINCT \"event.id\") AS n FROM events")["n"][0] == 3000
        q = st.query("SELECT line, reason FROM quarantine")
        assert q["line"].to_list() == [1001] and "invalid JSON" in q["reason"][0]
        again = Ingestor(settings, st).ingest([tmp_path / "logs"]).to_dict()["totals"]
        assert again["skipped"] == 3 and again["accepted"] == 0
        assert st.query("SELECT count(*) AS n FROM events")["n"][0] == 3000
    assert [e.kind for e in seen].count("ingest") == 4
    assert {e.actor for e in seen} == {"automation"}


def killed_ingest(ing, path, monkeypatch, at_batch):
    """Run ``ing`` over ``path``, killed (KeyboardInterrupt) as it stores batch ``at_batch``."""
    st = ing.store
    original = st.append_events
    calls = {"n": 0}

    def dying(frame):
        calls["n"] += 1
        if calls["n"] == at_batch:
            raise KeyboardInterrupt("killed mid-ingest")
        return original(frame)

    monkeypatch.setattr(st, "append_events", dying)
    with pytest.raises(KeyboardInterrupt):
        ing.ingest([path])
    monkeypatch.setattr(st, "append_events", original)


# segment_min_rows=1 sends every batch through the Parquet segment path of the store
@pytest.mark.parametrize("segment_min_rows", [0, 1])
def test_killed_ingest_leaves_store_consistent_and_next_run_completes(
    tmp_path, monkeypatch, segment_min_rows
):
    write_logs(tmp_path / "logs")
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=segment_min_rows) as st:
        killed_ingest(Ingestor(Settings(), st), tmp_path / "logs", monkeypatch, at_batch=2)
        n_before = st.query("SELECT count(*) AS n FROM events")["n"][0]
        assert n_before == 1000  # the first source committed, the second rolled back
        Ingestor(Settings(), st).ingest([tmp_path / "logs"])
        ids = st.query('SELECT count(*) AS n, count(DISTINCT "event.id") AS u FROM events')
        assert ids["n"][0] == ids["u"][0] == 3000


def test_truncated_gzip_keeps_good_records(tmp_path):
    blob = gzip.compress(("\n".join(ROWS) + "\n").encode())
    (tmp_path / "cut.json.gz").write_bytes(blob[: len(blob) // 2])
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        s = Ingestor(Settings(), st).ingest([tmp_path / "cut.json.gz"]).sources[0]
        assert 0 < s.accepted < 3000 and s.rejected == 1
        assert "truncated" in st.query("SELECT reason FROM quarantine")["reason"][0]


def test_privacy_pseudonymises_at_ingest(tmp_path, monkeypatch):
    (tmp_path / "c.json").write_text("\n".join(ROWS[:10]) + "\n")
    monkeypatch.setenv("MG_TEST_KEY", "k" * 32)
    s = Settings().with_overrides(privacy={"enabled": True, "key_env": "MG_TEST_KEY"})
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        Ingestor(s, st).ingest([tmp_path / "c.json"])
        ips = st.query('SELECT DISTINCT "source.ip" AS ip FROM events')["ip"].to_list()
    assert not any(ip.startswith("10.0.0.") for ip in ips)
    assert len({ip.split(".")[0] for ip in ips}) == 1  # shared /8 prefix preserved


def test_privacy_without_key_fails_closed(tmp_path, monkeypatch):
    from mirrorguard.errors import PrivacyError
    monkeypatch.delenv("MG_ABSENT_KEY", raising=False)
    s = Settings().with_overrides(privacy={"enabled": True, "key_env": "MG_ABSENT_KEY"})
    with DuckDBStore(tmp_path / "s.duckdb") as st, pytest.raises(PrivacyError):
        Ingestor(s, st)


def test_forced_format_and_sniffing_ignores_names(tmp_path):
    (tmp_path / "misleading.csv").write_text(ROWS[0] + "\n")
    with DuckDBStore(tmp_path / "s.duckdb") as st:
        s = Ingestor(Settings(), st).ingest([tmp_path / "misleading.csv"]).sources[0]
    assert s.format == "zeek_json" and s.accepted == 1


@pytest.mark.parametrize("segment_min_rows", [0, 1])
def test_long_source_commits_in_steps_and_a_killed_run_is_redone(
    tmp_path, monkeypatch, segment_min_rows
):
    n = 20_000  # ~4 MB: the reader takes 1 MiB at a time, so several batches
    rows = [r.replace('"uid": "C', f'"uid": "X{k}-') for k in range(n // len(ROWS) + 1) for r in ROWS]
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / "conn.json").write_text("\n".join(rows[:n]) + "\n")
    settings = Settings.model_validate({"ingest": {"batch_bytes": 4096, "commit_records": 4000}})
    with DuckDBStore(tmp_path / "s.duckdb", segment_min_rows=segment_min_rows) as st:
        killed_ingest(Ingestor(settings, st), tmp_path / "logs", monkeypatch, at_batch=3)
        committed = st.query("SELECT count(*) AS n FROM events")["n"][0]
        assert 0 < committed < n  # the earlier steps were committed
        status = st.query("SELECT status FROM ingest_manifest")["status"].to_list()
        assert status == ["partial"]
        summary = Ingestor(settings, st).ingest([tmp_path / "logs"]).to_dict()["totals"]
        assert summary["accepted"] == n
        ids = st.query('SELECT count(*) AS n, count(DISTINCT "event.id") AS u FROM events')
        assert ids["n"][0] == ids["u"][0] == n
        assert st.query("SELECT status FROM ingest_manifest")["status"].to_list() == ["complete"]
        segments = st.query("SELECT count(*) AS n FROM event_segments")["n"][0]
        assert (segments > 0) == bool(segment_min_rows)
        files = list((tmp_path / "s.duckdb.segments").rglob("*.parquet"))
        assert len(files) == segments  # the killed run's files went with its rows
