"""The shipped ATT&CK table, its API for Sigma/correlation, and regeneration from the bundle."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from tests.conftest import need_data

from mirrorguard import attack
from mirrorguard.attack import AttackTable, build_table, default_table, refresh_table
from mirrorguard.attack.build import table_bytes
from mirrorguard.errors import FormatError

BUNDLE = ("mitre_attack_enterprise", "enterprise-attack.json.gz")


def test_lookup_technique_and_subtechnique() -> None:
    t = attack.lookup("T1059.001")
    assert t is not None and t.name == "PowerShell" and t.tactics == ("execution",)
    assert t.subtechnique and t.parent == "T1059" and "Windows" in t.platforms
    assert t.full_name == "Command and Scripting Interpreter: PowerShell"
    assert attack.lookup("attack.t1059.001") == t == attack.lookup(" t1059.001 ")
    multi = attack.lookup("T1078")  # Valid Accounts spans four tactics, in kill-chain order
    assert multi is not None and len(multi.tactics) >= 4
    orders = [attack.tactic_order(x) for x in multi.tactics]
    assert orders == sorted(orders)


def test_unknown_and_malformed_ids() -> None:
    assert attack.lookup("T9999") is None
    assert attack.lookup("T1059.999") is None  # unknown sub-technique: parent not guessed
    assert attack.lookup("execution") is None
    assert attack.lookup("") is None


def test_revoked_techniques_follow_replacement() -> None:
    raw = attack.lookup("T1066", follow_revoked=False)
    assert raw is not None and raw.revoked and raw.revoked_by
    new = attack.lookup("T1066")
    assert new is not None and new.id == raw.revoked_by and not new.revoked


def test_tactic_order_is_the_enterprise_kill_chain() -> None:
    names = [t.shortname for t in default_table().tactics]
    assert names[0] == "reconnaissance" and names[-1] == "impact" and len(names) == 14
    assert attack.tactic_order("reconnaissance") == 0
    assert attack.tactic_order("credential_access") == attack.tactic_order("Credential Access")
    assert attack.tactic_order("TA0006") == attack.tactic_order("credential-access")
    assert attack.tactic_order("initial-access") < attack.tactic_order("execution")
    assert attack.tactic_order("lateral-movement") < attack.tactic_order("exfiltration")
    assert attack.tactic_order("no-such-tactic") == -1


def test_tags_from_sigma_rules() -> None:
    tags = ["attack.execution", "attack.t1059.001", "attack.g0016", "attack.s0002",
            "cve.2021-44228", "attack.t9999", "attack.bogus", "attack.defense_evasion"]
    m = default_table().parse_tags(tags)
    assert [t.id for t in m.techniques] == ["T1059.001"]
    assert [t.shortname for t in m.tactics] == ["execution", "defense-evasion"]
    assert m.unknown == ("attack.t9999", "attack.bogus")
    assert [t.shortname for t in attack.tactics_from_tags(["attack.t1003.001"],
                                                          implied=True)] == ["credential-access"]
    assert attack.tactics_from_tags(["attack.t1003.001"]) == ()


def test_attribution_and_size_of_shipped_table() -> None:
    meta = default_table().meta
    assert "MITRE" in meta["attribution"]["copyright"]
    assert "license" in meta["attribution"]["license"].lower()
    shipped = Path(attack.__file__).parent / "enterprise.json.gz"
    assert shipped.stat().st_size < 300_000


def test_table_validation_rejects_other_documents(tmp_path: Path) -> None:
    with pytest.raises(FormatError):
        AttackTable({"format": "something-else"})
    bad = tmp_path / "t.json.gz"
    bad.write_bytes(b"\x1f\x8bnot gzip")
    with pytest.raises(FormatError) as err:
        AttackTable.from_file(bad)
    assert err.value.file == str(bad)


def test_build_requires_a_matrix() -> None:
    with pytest.raises(FormatError, match="x-mitre-matrix"):
        build_table({"objects": [{"type": "attack-pattern", "id": "a"}]}, source_name="x")


@pytest.mark.data
def test_shipped_table_equals_regeneration_from_bundle(tmp_path: Path) -> None:
    bundle = need_data(*BUNDLE)
    out = tmp_path / "enterprise.json.gz"
    table = refresh_table(bundle, out, attack_version="18.1")
    assert out.read_bytes() == table_bytes(table)  # deterministic bytes
    shipped = Path(attack.__file__).parent / "enterprise.json.gz"
    assert json.loads(gzip.decompress(shipped.read_bytes())) == table
    # counts from the bundle's PROVENANCE: 835 attack-patterns, 691 neither revoked nor deprecated
    techs = table["techniques"]
    assert len(techs) == 835
    active = [t for t in techs.values() if not t["revoked"] and not t["deprecated"]]
    assert len(active) == 691
    assert sum(1 for t in active if t["subtechnique"]) == 475
