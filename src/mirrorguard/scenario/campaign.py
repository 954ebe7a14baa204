"""A multi-stage intrusion hidden in several days of an office's benign telemetry.

Extends the demo scenario (:mod:`mirrorguard.scenario.generate`) from one day of network logs
to ``days`` days of network *and* host telemetry for a small company (12 workstations, a file
server, a database server, a domain controller) with a campaign along the kill chain:

1. **initial access** (day ``days-2``, 09:14) — bob opens a phishing attachment: Outlook starts
   Word, Word starts an encoded PowerShell (T1566.001, T1204.002, T1059.001);
2. **execution** — PowerShell drops and runs a DLL through rundll32 (T1218.011) and resolves a
   fresh domain;
3. **C2 beaconing** — ws-bob calls 45.77.12.9:443 every ~5 minutes with 10 % jitter until
   the end (T1071.001);
4. **credential access** (next night, 02:10) — rundll32 opens LSASS and comsvcs.dll dumps
   its memory (T1003.001);
5. **lateral movement** (02:40) — the stolen ``adm-carol`` account logs on from ws-bob to the
   file server over the network and a PsExec service is installed there (T1021.002,
   T1569.002);
6. **exfiltration** (03:30) — the file server archives shares with 7-Zip (T1560.001) and
   uploads ~1.5 GB to 185.220.101.47 (T1048.002).

Benign activity has a working-day rhythm, per-role process mixes, logons (including admin
carol's legitimate daytime server logons), DNS through one resolver, heavy-tailed connection
volumes, periodic update and NTP polls, and a nightly backup job. Host events are written as
Sysmon (event ids 1, 3, 10) and Windows Security/System (4624, 7045) records with both the
``winlog.*`` fields rules match on and ECS fields; network events as Zeek conn/dns. Every
event has an ``event.id``; :attr:`Campaign.truth` names the campaign's event ids per stage.
All generation is vectorised NumPy; the same seed gives the same frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import polars as pl

START = datetime(2026, 11, 2, tzinfo=UTC)
USERS = ["alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
         "mallory", "niaj"]
WORKSTATIONS = {f"ws-{u}": f"10.20.1.{11 + i}" for i, u in enumerate(USERS)}
SERVERS = {"srv-file01": "10.20.2.10", "srv-db01": "10.20.2.11", "dc01": "10.20.0.5"}
RESOLVER, NTP, UPDATE, NAS = "10.20.0.53", "10.20.0.123", "13.107.4.50", "10.20.3.20"
C2_IP, C2_DOMAIN, EXFIL_IP = "45.77.12.9", "cdn-update-check.com", "185.220.101.47"
VICTIM, VICTIM_USER, ADMIN = "ws-bob", "bob", "adm-carol"
DOMAINS = ["outlook.office365.com", "teams.microsoft.com", "www.google.com", "github.com",
           "slack.com", "zoom.us", "login.microsoftonline.com", "cdn.jsdelivr.net",
           "s3.amazonaws.com", "docs.python.org", "wiki.corp.example", "intranet.corp.example"]
ENCODED = "SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAu"  # "IEX (New-Object Net."
W = "C:\\Windows\\System32\\"
PF = "C:\\Program Files\\"
APPS = [PF + "Google\\Chrome\\Application\\chrome.exe", PF + "Microsoft Office\\root\\Office16\\"
        "OUTLOOK.EXE", PF + "Microsoft Office\\root\\Office16\\EXCEL.EXE",
        PF + "Microsoft Office\\root\\Office16\\WINWORD.EXE", "C:\\Windows\\explorer.exe",
        PF + "Microsoft\\Teams\\ms-teams.exe", W + "notepad.exe", W + "mspaint.exe",
        W + "calc.exe", PF + "Mozilla Firefox\\firefox.exe"]


@dataclass
class Campaign:
    """The generated events (time-sorted) and the ground truth."""

    events: pl.DataFrame
    truth: dict[str, Any] = field(default_factory=dict)

    def campaign_event_ids(self) -> set[str]:
        return {e for ids in self.truth["stages"].values() for e in ids}


def _times(rng: np.random.Generator, n: int, days: int, office: bool = True) -> np.ndarray:
    w = np.full(24, 0.12 if office else 1.0)
    if office:
        w[8:18], w[7], w[18] = 1.0, 0.4, 0.5
    hours = rng.choice(24, size=n, p=w / w.sum())
    day = rng.integers(0, days, n)
    return START.timestamp() + day * 86400 + hours * 3600 + rng.uniform(0, 3600, n)


def _host_ip(names: np.ndarray) -> np.ndarray:
    lookup = {**WORKSTATIONS, **SERVERS}
    return np.array([lookup[n] for n in names])


def _benign_network(rng: np.random.Generator, days: int, per_host_day: int) -> pl.DataFrame:
    hosts = np.repeat(list(WORKSTATIONS), per_host_day * days)
    n = len(hosts)
    pool = np.array([f"{a}.{b}.{c}.{d}" for a, b, c, d in rng.integers(1, 223, (80, 4))])
    dst = pool[rng.zipf(1.5, n).clip(1, 80) - 1]
    conn = _frame_conn(_times(rng, n, days), hosts, dst, rng.choice([443, 443, 80], n),
                       rng.lognormal(7.5, 1.2, n), rng.lognormal(10, 1.5, n))
    m = n // 3
    qhosts = rng.choice(list(WORKSTATIONS), m)
    dns = pl.DataFrame({
        "@ts": _times(rng, m, days), "host.name": qhosts, "source.ip": _host_ip(qhosts),
        "destination.ip": RESOLVER, "destination.port": 53,
        "dns.question.name": np.array(DOMAINS)[rng.zipf(1.4, m).clip(1, len(DOMAINS)) - 1],
        "event.dataset": "zeek.dns", "event.category": "network"})
    return pl.concat([conn, dns], how="diagonal_relaxed")


def _frame_conn(ts: np.ndarray, hosts: np.ndarray, dst: np.ndarray | str,
                port: np.ndarray | int, out_b: np.ndarray, in_b: np.ndarray) -> pl.DataFrame:
    n = len(ts)
    return pl.DataFrame({
        "@ts": ts, "host.name": hosts, "source.ip": _host_ip(hosts),
        "destination.ip": np.broadcast_to(np.asarray(dst), n),
        "destination.port": np.broadcast_to(np.asarray(port), n).astype(np.int32),
        "source.bytes": np.asarray(out_b).astype(np.int64),
        "destination.bytes": np.asarray(in_b).astype(np.int64),
        "event.duration": np.full(n, 1_000_000_000, dtype=np.int64),
        "event.dataset": "zeek.conn", "event.category": "network"})


def _periodic(rng: np.random.Generator, days: int) -> pl.DataFrame:
    parts = []
    for host in [*WORKSTATIONS, *SERVERS]:
        ts = START.timestamp() + rng.uniform(0, 3600) + np.arange(0, days * 86400, 3600.0)
        ts = ts + rng.uniform(-30, 30, len(ts))
        parts.append(_frame_conn(ts, np.full(len(ts), host), UPDATE, 443,
                                 rng.integers(900, 1100, len(ts)), rng.integers(4000, 4400,
                                                                                 len(ts))))
        nt = START.timestamp() + rng.uniform(0, 1024) + np.arange(0, days * 86400, 1024.0)
        parts.append(_frame_conn(nt, np.full(len(nt), host), NTP, 123, np.full(len(nt), 48),
                                 np.full(len(nt), 48)))
    nights = START.timestamp() + np.arange(days) * 86400 + 1 * 3600 + rng.uniform(0, 600, days)
    parts.append(_frame_conn(nights, np.full(days, "srv-file01"), NAS, 445,
                             rng.integers(2_000_000_000, 3_000_000_000, days),
                             rng.integers(100_000, 200_000, days)))
    return pl.concat(parts)


def _benign_host(rng: np.random.Generator, days: int, per_host_day: int) -> pl.DataFrame:
    hosts = np.repeat(list(WORKSTATIONS), per_host_day * days)
    n = len(hosts)
    users = np.array([h.removeprefix("ws-") for h in hosts])
    image = np.array(APPS)[rng.zipf(1.3, n).clip(1, len(APPS)) - 1]
    proc = _proc(_times(rng, n, days), hosts, users, image, np.full(n, "C:\\Windows\\explorer.exe"),
                 image)
    srv = rng.choice(list(SERVERS), n // 10)
    simg = rng.choice([W + "svchost.exe", "C:\\Program Files\\Backup\\bkagent.exe"], len(srv))
    scmd = np.where(simg == W + "svchost.exe", W + "svchost.exe -k netsvcs -p -s Schedule", simg)
    sproc = _proc(_times(rng, len(srv), days, office=False), srv,
                  np.full(len(srv), "SYSTEM"), simg, np.full(len(srv), W + "services.exe"), scmd)
    k = days * len(WORKSTATIONS) * 2
    lhosts = rng.choice(list(WORKSTATIONS), k)
    logon = _logon(_times(rng, k, days), lhosts, np.array([h[3:] for h in lhosts]),
                   _host_ip(lhosts), 2)
    adm = days * 8
    office = START.timestamp() + rng.integers(0, days, adm) * 86400 + rng.uniform(
        8 * 3600, 18 * 3600, adm)
    alog = _logon(office, rng.choice(list(SERVERS), adm),
                  np.full(adm, ADMIN), np.full(adm, WORKSTATIONS["ws-carol"]), 3)
    return pl.concat([proc, sproc, logon, alog], how="diagonal_relaxed")


def _proc(ts: np.ndarray, hosts: np.ndarray, users: np.ndarray, image: np.ndarray,
          parent: np.ndarray, cmd: np.ndarray) -> pl.DataFrame:
    return pl.DataFrame({
        "@ts": ts, "host.name": hosts, "user.name": users, "process.executable": image,
        "process.command_line": cmd, "process.parent.executable": parent,
        "winlog.channel": "Microsoft-Windows-Sysmon/Operational", "winlog.event_id": 1,
        "winlog.event_data.Image": image, "winlog.event_data.CommandLine": cmd,
        "winlog.event_data.ParentImage": parent, "winlog.event_data.User": users,
        "event.category": "process", "event.dataset": "windows.sysmon"})


def _logon(ts: np.ndarray, hosts: np.ndarray, users: np.ndarray, src: np.ndarray,
           logon_type: int) -> pl.DataFrame:
    return pl.DataFrame({
        "@ts": ts, "host.name": hosts, "user.name": users, "source.ip": src,
        "winlog.channel": "Security", "winlog.event_id": 4624,
        "winlog.event_data.TargetUserName": users, "winlog.event_data.IpAddress": src,
        "winlog.event_data.LogonType": str(logon_type),
        "event.category": "authentication", "event.outcome": "success",
        "event.dataset": "windows.security"})


def _stage_events(rng: np.random.Generator, days: int) -> dict[str, pl.DataFrame]:
    d0 = START.timestamp() + (days - 2) * 86400
    t_ia = d0 + 9 * 3600 + 14 * 60
    word = PF + "Microsoft Office\\root\\Office16\\WINWORD.EXE"
    ps = W + "WindowsPowerShell\\v1.0\\powershell.exe"
    dll = "C:\\Users\\bob\\AppData\\Roaming\\updchk.dll"
    one = np.ones(1)
    vh, vu = np.array([VICTIM]), np.array([VICTIM_USER])
    initial = pl.concat([
        _proc(t_ia * one, vh, vu, np.array([word]), np.array([APPS[1]]),
              np.array([f'"{word}" /n "C:\\Users\\bob\\Downloads\\Invoice_4471.docm"'])),
        _proc((t_ia + 21) * one, vh, vu, np.array([ps]), np.array([word]),
              np.array([f"{ps} -nop -w hidden -enc {ENCODED}"])),
    ])
    execution = pl.concat([
        _proc((t_ia + 40) * one, vh, vu, np.array([W + "rundll32.exe"]), np.array([ps]),
              np.array([f"{W}rundll32.exe {dll},DllRegisterServer"])),
        pl.DataFrame({"@ts": [t_ia + 38], "host.name": [VICTIM], "source.ip": [
            WORKSTATIONS[VICTIM]], "destination.ip": [RESOLVER], "destination.port": [53],
            "dns.question.name": [C2_DOMAIN], "event.dataset": ["zeek.dns"],
            "event.category": ["network"]}),
    ], how="diagonal_relaxed")
    gaps = 300 * (1 + rng.uniform(-0.1, 0.1, 2 * 288))
    bt = t_ia + 60 + np.cumsum(gaps)
    bt = bt[bt < START.timestamp() + days * 86400]
    c2 = _frame_conn(bt, np.full(len(bt), VICTIM), C2_IP, 443,
                     rng.integers(310, 340, len(bt)), rng.integers(1200, 1300, len(bt)))
    return {"initial_access": initial, "execution": execution, "command_and_control": c2,
            **_late_stages(rng, d0)}


def _late_stages(rng: np.random.Generator, d0: float) -> dict[str, pl.DataFrame]:
    """Credential access, lateral movement and exfiltration, the night after initial access."""
    one = np.ones(1)
    vh, vu = np.array([VICTIM]), np.array([VICTIM_USER])
    t_ca = d0 + 86400 + 2 * 3600 + 10 * 60
    cred = pl.concat([
        _proc(t_ca * one, vh, vu, np.array([W + "rundll32.exe"]), np.array([W + "rundll32.exe"]),
              np.array([f"{W}rundll32.exe C:\\windows\\System32\\comsvcs.dll, MiniDump 640 "
                        "C:\\Users\\bob\\AppData\\Local\\Temp\\m.dmp full"])),
        pl.DataFrame({"@ts": [t_ca + 1], "host.name": [VICTIM], "user.name": [VICTIM_USER],
                      "winlog.channel": ["Microsoft-Windows-Sysmon/Operational"],
                      "winlog.event_id": [10], "winlog.event_data.SourceImage": [
                          W + "rundll32.exe"], "winlog.event_data.TargetImage": [
                          W + "lsass.exe"], "winlog.event_data.GrantedAccess": ["0x1fffff"],
                      "process.executable": [W + "rundll32.exe"],
                      "event.category": ["process"], "event.dataset": ["windows.sysmon"]}),
    ], how="diagonal_relaxed")
    t_lm = d0 + 86400 + 2 * 3600 + 40 * 60
    fs = np.array(["srv-file01"])
    lateral = pl.concat([
        _logon(t_lm * one, fs, np.array([ADMIN]), np.array([WORKSTATIONS[VICTIM]]), 3),
        pl.DataFrame({"@ts": [t_lm + 5], "host.name": ["srv-file01"], "user.name": [ADMIN],
                      "winlog.channel": ["System"], "winlog.event_id": [7045],
                      "winlog.event_data.ServiceName": ["PSEXESVC"],
                      "winlog.event_data.ImagePath": ["%SystemRoot%\\PSEXESVC.exe"],
                      "event.category": ["configuration"], "event.dataset": ["windows.system"]}),
        _proc((t_lm + 7) * one, fs, np.array([ADMIN]), np.array(["C:\\Windows\\PSEXESVC.exe"]),
              np.array([W + "services.exe"]), np.array(["C:\\Windows\\PSEXESVC.exe"])),
        _frame_conn((t_lm - 1) * one, vh, SERVERS["srv-file01"], 445, one * 9000, one * 4000),
    ], how="diagonal_relaxed")
    t_ex = d0 + 86400 + 3 * 3600 + 30 * 60
    sz = "C:\\Program Files\\7-Zip\\7z.exe"
    exfil = pl.concat([
        _proc(t_ex * one, fs, np.array([ADMIN]), np.array([sz]), np.array(
            ["C:\\Windows\\PSEXESVC.exe"]), np.array([f'"{sz}" a -p -mhe=on C:\\ProgramData\\'
                                                      "s.7z D:\\Shares\\Finance"])),
        _frame_conn(t_ex + 600 + np.sort(rng.uniform(0, 1800, 5)), np.full(5, "srv-file01"),
                    EXFIL_IP, 443, rng.integers(250_000_000, 350_000_000, 5),
                    rng.integers(20_000, 50_000, 5)),
    ], how="diagonal_relaxed")
    return {"credential_access": cred, "lateral_movement": lateral, "exfiltration": exfil}


def generate_campaign(seed: int = 11, days: int = 5, per_host_day: int = 120) -> Campaign:
    """The scenario as one time-sorted EventFrame plus ground truth (see the module doc)."""
    if days < 3:
        raise ValueError("the campaign needs at least 3 days (baseline, then two attack days)")
    rng = np.random.default_rng(seed)
    stages = _stage_events(rng, days)
    benign = [_benign_network(rng, days, per_host_day), _periodic(rng, days),
              _benign_host(rng, days, per_host_day // 3)]
    tagged = [f.with_columns(pl.lit(name).alias("_stage")) for name, f in stages.items()]
    frame = pl.concat([*[b.with_columns(pl.lit(None, pl.String).alias("_stage"))
                         for b in benign], *tagged], how="diagonal_relaxed")
    frame = frame.sort("@ts").with_columns(
        (pl.col("@ts") * 1e6).cast(pl.Int64).cast(pl.Datetime("us", "UTC")).alias("@timestamp"),
        pl.format("cmp-{}", pl.int_range(pl.len())).alias("event.id"),
        pl.lit("windows").alias("event.module"),
    ).drop("@ts")
    frame = frame.with_columns(
        pl.when(pl.col("event.dataset").str.starts_with("zeek")).then(pl.lit("zeek"))
        .otherwise(pl.col("event.module")).alias("event.module"))
    truth_ids = frame.filter(pl.col("_stage").is_not_null()).group_by("_stage").agg(
        pl.col("event.id"))
    truth = {
        "seed": seed, "days": days, "victim": VICTIM, "stolen_account": ADMIN,
        "c2": {"ip": C2_IP, "domain": C2_DOMAIN}, "exfil": EXFIL_IP,
        "hosts": [VICTIM, "srv-file01"],
        "stages": {s: sorted(ids) for s, ids in truth_ids.iter_rows()},
        "events": frame.height,
    }
    return Campaign(frame.drop("_stage"), truth)
