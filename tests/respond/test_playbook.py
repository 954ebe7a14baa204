from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from mirrorguard.errors import ConfigError
from mirrorguard.respond.playbook import load_playbooks, parse_duration, parse_playbooks

GOOD = """
playbooks:
  - name: contain-c2
    trigger: {min_risk: 10, tactics_any: [command-and-control], entity_kinds: [ip]}
    actions:
      - {type: tag, tag: c2}
      - {type: block_ip, backend: nftables, ttl: 1h, targets: external_ip}
      - {type: isolate_host, backend: webhook, url: "http://127.0.0.1:9/isolate", targets: host}
"""


def test_load_good_file(tmp_path: Path) -> None:
    p = tmp_path / "pb.yaml"
    p.write_text(GOOD)
    pbs = load_playbooks(p)
    tiers = [a.tier for a in pbs.playbooks[0].actions]
    assert tiers == ["automatic", "automatic_undo", "approval"]
    assert pbs.playbooks[0].actions[1].ttl_delta() == timedelta(hours=1)


@pytest.mark.parametrize("bad, needle", [
    ({"playbooks": [{"name": "x", "actions": [{"type": "rm_rf"}]}]}, "unknown action type"),
    ({"playbooks": [{"name": "x", "actions": [{"type": "block_ip", "backend": "nftables"}]}]},
     "needs a ttl"),
    ({"playbooks": [{"name": "x", "actions": [{"type": "tag"}], "extra": 1}]}, "extra"),
    ({"playbooks": [{"name": "x", "actions": [
        {"type": "isolate_host", "backend": "webhook", "url": "file:///etc/passwd"}]}]},
     "http(s) url"),
    ({"playbooks": [{"name": "x", "actions": [{"type": "tag", "backend": "nftables"}]}]},
     "cannot use backend"),
    ({"other": []}, "one key"),
])
def test_invalid_playbooks_name_the_playbook(bad: object, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_playbooks(bad, source="pb.yaml")
    assert needle in str(err.value)
    assert err.value.file == "pb.yaml"


def test_yaml_errors_have_a_line_and_tags_are_refused(tmp_path: Path) -> None:
    p = tmp_path / "pb.yaml"
    p.write_text("playbooks:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as err:
        load_playbooks(p)
    assert err.value.line is not None
    p.write_text("playbooks: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError):
        load_playbooks(p)


def test_durations() -> None:
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2d") == timedelta(days=2)
    with pytest.raises(ValueError):
        parse_duration("1 hour")
