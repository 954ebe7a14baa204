"""Per-event auth classification: rule table, extraction, and per-family checks on real samples."""

from __future__ import annotations

import gzip
import json

import polars as pl
import pytest
from tests.conftest import need_data

from mirrorguard.errors import MirrorguardError
from mirrorguard.features.authevents import (
    FLAG_KINDS,
    RULES,
    EventRule,
    classify,
    lines_frame,
)


def _one(msg: str, **cols: str) -> dict[str, object]:
    frame = pl.DataFrame({"message": [msg], **{k: [v] for k, v in cols.items()}})
    return classify(frame).row(0, named=True)


def test_rule_table_is_declarative_and_valid() -> None:
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert all(r.kind in FLAG_KINDS | {"not_found", "success", "session", "info", "companion",
                                       "locked"} for r in RULES)
    with pytest.raises(MirrorguardError):
        EventRule("x", "ssh", "nonsense", "x")


@pytest.mark.parametrize(("msg", "kind", "flag"), [
    ("Failed password for root from 198.51.100.4 port 22 ssh2", "failure", True),
    ("Failed publickey for git from 192.0.2.1 port 57904 ssh2: RSA 04:bc", "info", False),
    ("Failed publickey for invalid user bob from 192.0.2.1 port 1 ssh2", "invalid_user", True),
    ("pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=192.0.2.1", "companion",
     False),
    ("Connection closed by 192.0.2.5", "info", False),
    ("Connection closed by 192.0.2.5 port 22 [preauth]", "protocol", True),
    ("Accepted password for ann from 10.0.0.1 port 22 ssh2", "success", False),
    ("pop3-login: Disconnected (no auth attempts in 10 secs): rip=192.0.2.1", "info", False),
    ("[Warning] Access denied for user 'root'@'192.0.2.1' (using password: YES)", "denied", True),
    ("client 192.0.2.3#53: query (cache) 'example.com/A/IN' denied", "denied", True),
    ("NOQUEUE: reject: RCPT from unknown[192.0.2.1]: 554 5.7.1 Relay access denied", "rejected",
     True),
    ("nothing to see here", "info", False),
])
def test_kinds(msg: str, kind: str, flag: bool) -> None:
    row = _one(msg)
    assert (row["auth.kind"], row["auth.flag"]) == (kind, flag)


def test_extracts_user_and_address_and_keeps_parsed_fields() -> None:
    row = _one("LOGIN FAILED, user=sales@example.com, ip=[::ffff:1.2.3.4]")
    assert row["user.name"] == "sales@example.com" and row["source.ip"] == "1.2.3.4"
    parsed = _one("Failed password for x from 1.1.1.1 port 2 ssh2", **{"source.ip": "9.9.9.9"})
    assert parsed["source.ip"] == "9.9.9.9"


def test_not_found_flags_only_probe_paths() -> None:
    probe = _one("[error] [client 1.2.3.4] File does not exist: /var/www/phpmyadmin")
    plain = _one("[error] [client 1.2.3.4] File does not exist: /var/www/favicon.ico")
    assert probe["auth.flag"] and not plain["auth.flag"]
    assert probe["url.path"] == "/var/www/phpmyadmin"


def test_lines_frame_keeps_unparsed_lines() -> None:
    data = (b"Jun  1 09:00:00 web sshd[7]: Invalid user x from 10.0.0.9\n"
            b"2013-06-12 03:57:58 login authenticator failed for (ylmf-pc) [120.196.140.45]\n\n")
    f = classify(lines_frame(data))
    assert f["mirrorguard.record"].to_list() == [1, 2]
    assert f["auth.flag"].to_list() == [True, True]
    assert f["source.ip"].to_list() == ["10.0.0.9", "120.196.140.45"]


def _family_rates(name: str) -> tuple[float, float]:
    root = need_data("auth_web_logs_fail2ban")
    raw = gzip.decompress((root / "derived_labels.jsonl.gz").read_bytes())
    labels = [json.loads(x) for x in raw.splitlines()]
    lab = {d["line_no"]: d["label"]["match"] for d in labels
           if d["file"] == name and d.get("label")}
    data = (root / "fail2ban/tests/files/logs" / name).read_bytes()
    flags = dict(classify(lines_frame(data)).select("mirrorguard.record", "auth.flag").rows())
    pos = [flags.get(n, False) for n, m in lab.items() if m]
    neg = [flags.get(n, False) for n, m in lab.items() if not m]
    recall = sum(pos) / len(pos)
    fpr = sum(neg) / len(neg) if neg else 0.0
    return recall, fpr


@pytest.mark.parametrize(("name", "min_recall", "max_fpr"), [
    ("sshd", 0.95, 0.25), ("dovecot", 0.8, 0.1), ("postfix", 0.95, 1.0),
    ("asterisk", 1.0, 0.0), ("mysqld-auth", 1.0, 1.0), ("named-refused", 1.0, 0.0),
    ("vsftpd", 1.0, 0.0), ("apache-auth", 0.95, 1.0), ("sendmail-reject", 0.95, 0.2),
    ("cyrus-imap", 1.0, 0.0), ("roundcube-auth", 1.0, 0.0), ("exim", 0.9, 1.0),
])
def test_service_families_on_real_samples(name: str, min_recall: float, max_fpr: float) -> None:
    recall, fpr = _family_rates(name)
    assert recall >= min_recall
    assert fpr <= max_fpr
