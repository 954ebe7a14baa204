"""Response actions against a real nftables-style set file, hosts.deny and a local webhook."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tests.correlate.conftest import T0, frame, make_alert

from mirrorguard.bus import BusEvent, EventBus
from mirrorguard.correlate import EntityCorrelator
from mirrorguard.correlate.base import Incident
from mirrorguard.respond import ActionError, ResponseEngine, ResponseFiles, parse_playbooks
from mirrorguard.respond.backends import NftSetFile


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        body["idempotency_key"] = self.headers["Idempotency-Key"]
        type(self).received.append(body)
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: ClassVar[list[dict[str, Any]]] = []
    handler = type("H", (_Receiver,), {"received": received})
    server = HTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()
    server.server_close()


def _incident() -> Incident:
    c = EntityCorrelator()
    c.add(frame(make_alert(0, detector="beacon", ip=("10.0.0.7", "45.77.12.9"),
                           techniques=("T1071",), host="ws-bob", user="bob"),
                make_alert(5, detector="ueba", host="ws-bob")))
    return c.incidents()[0]


def _playbooks(url: str) -> Any:
    return parse_playbooks({"playbooks": [{
        "name": "contain", "trigger": {"tactics_any": ["command-and-control"]},
        "actions": [
            {"type": "tag", "tag": "c2"},
            {"type": "block_ip", "backend": "nftables", "ttl": "1h", "targets": "external_ip"},
            {"type": "block_ip", "backend": "hosts_deny", "ttl": "1h", "targets": "external_ip"},
            {"type": "webhook", "backend": "webhook", "url": url, "ttl": "30m",
             "targets": "external_ip"},
            {"type": "isolate_host", "backend": "webhook", "url": url, "targets": "host"},
        ]}]})


def _engine(tmp_path: Path, url: str, dry_run: bool, bus: EventBus | None = None
            ) -> ResponseEngine:
    files = ResponseFiles(tmp_path / "blocklist.nft", tmp_path / "hosts.deny")
    return ResponseEngine(_playbooks(url), dry_run=dry_run, files=files, bus=bus)


def test_dry_run_changes_nothing(tmp_path: Path, webhook: Any) -> None:
    url, received = webhook
    (tmp_path / "hosts.deny").write_text("sshd: 192.0.2.1\n")
    eng = _engine(tmp_path, url, dry_run=True)
    recs = eng.run(_incident(), {"T1071"}, T0)
    assert not (tmp_path / "blocklist.nft").exists()
    assert (tmp_path / "hosts.deny").read_text() == "sshd: 192.0.2.1\n"
    assert received == [] and eng.tags == {}
    by_type = {(r.spec.type, r.spec.backend): r for r in recs}
    nft = by_type[("block_ip", "nftables")]
    assert nft.status == "dry_run"
    assert "add element inet filter blocklist { 45.77.12.9 timeout 3600s }" in nft.result["would"]
    assert by_type[("isolate_host", "webhook")].status == "awaiting_approval"


def test_execute_ttl_expiry_undoes(tmp_path: Path, webhook: Any) -> None:
    url, received = webhook
    (tmp_path / "hosts.deny").write_text("sshd: 192.0.2.1\n")
    eng = _engine(tmp_path, url, dry_run=False)
    eng.run(_incident(), {"T1071"}, T0)
    nft_text = (tmp_path / "blocklist.nft").read_text()
    assert "flush set inet filter blocklist" in nft_text
    assert NftSetFile(tmp_path / "blocklist.nft").elements() == {"45.77.12.9": 3600}
    assert "ALL: 45.77.12.9 # mirrorguard act-" in (tmp_path / "hosts.deny").read_text()
    assert [r["op"] for r in received] == ["apply"]
    assert eng.expire(T0 + timedelta(minutes=10)) == []
    undone = eng.expire(T0 + timedelta(minutes=31))
    assert [u.spec.type for u in undone] == ["webhook"]
    assert [r["op"] for r in received] == ["apply", "revert"]
    undone = eng.expire(T0 + timedelta(hours=2))
    assert {u.spec.backend for u in undone} == {"nftables", "hosts_deny"}
    assert all(u.history[-1]["actor"] == "automation" for u in undone)
    assert NftSetFile(tmp_path / "blocklist.nft").elements() == {}
    assert (tmp_path / "hosts.deny").read_text() == "sshd: 192.0.2.1\n"


def test_approval_is_enforced(tmp_path: Path, webhook: Any) -> None:
    url, received = webhook
    bus = EventBus()
    seen: list[BusEvent] = []
    bus.subscribe(seen.append)
    eng = _engine(tmp_path, url, dry_run=False, bus=bus)
    recs = eng.run(_incident(), {"T1071"}, T0)
    iso = next(r for r in recs if r.spec.type == "isolate_host")
    with pytest.raises(ActionError, match="approval"):
        eng.execute(iso.id, "automation", T0)
    with pytest.raises(ActionError, match="person"):
        eng.approve(iso.id, "automation", T0)
    eng.approve(iso.id, "carol", T0)
    eng.execute(iso.id, "carol", T0)
    assert iso.status == "done"
    assert received[-1]["action"] == "isolate_host" and received[-1]["target"] == "ws-bob"
    approvals = [e for e in seen if e.payload["change"] == "approved"]
    assert [(e.kind, e.actor) for e in approvals] == [("action", "carol")]
    planned = [e for e in seen if e.payload["change"] == "planned"]
    assert planned and all(e.actor == "automation" for e in planned)


def test_replays_are_idempotent(tmp_path: Path, webhook: Any) -> None:
    url, received = webhook
    eng = _engine(tmp_path, url, dry_run=False)
    inc = _incident()
    first = eng.run(inc, {"T1071"}, T0)
    text = (tmp_path / "blocklist.nft").read_text()
    deny = (tmp_path / "hosts.deny").read_text()
    again = eng.run(inc, {"T1071"}, T0 + timedelta(minutes=1))
    assert [r.id for r in again] == [r.id for r in first]
    assert (tmp_path / "blocklist.nft").read_text() == text
    assert (tmp_path / "hosts.deny").read_text() == deny
    assert len(received) == 1 and eng.tags == {inc.id: {"c2"}}
    # a second engine over the same files (a restart) does not duplicate lines either
    other = _engine(tmp_path, url, dry_run=False)
    other.run(inc, {"T1071"}, T0)
    assert (tmp_path / "blocklist.nft").read_text() == text
    assert (tmp_path / "hosts.deny").read_text() == deny
    assert received[0]["idempotency_key"] == received[1]["idempotency_key"]


def test_bad_targets_never_reach_files(tmp_path: Path) -> None:
    nft = NftSetFile(tmp_path / "x.nft")
    with pytest.raises(ActionError):
        nft.apply("1.2.3.4; flush ruleset", timedelta(hours=1), "k")
    assert not (tmp_path / "x.nft").exists()


def test_unreachable_webhook_marks_failed(tmp_path: Path) -> None:
    eng = _engine(tmp_path, "http://127.0.0.1:9/none", dry_run=False)
    with pytest.raises(ActionError):
        eng.run(_incident(), {"T1071"}, T0)
    assert any(r.status == "failed" for r in eng.actions())
