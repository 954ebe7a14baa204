"""CICFlowMeter CSVs. No CIC-IDS file is in ../shared/data, so a generator below simulates flows
(packet sizes, inter-arrival times, flags) and writes the statistics CICFlowMeter computes,
under the exact header lines of the public datasets: CIC-IDS2017 ``MachineLearningCVE``
(leading spaces, duplicated ``Fwd Header Length``, no addresses/time), CIC-IDS2017
``TrafficLabelling`` (with Flow ID, addresses, ``d/m/yyyy h:mm`` time) and CSE-CIC-IDS2018."""

import gzip
import random
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from statistics import mean, pstdev, pvariance

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.parsers.cicflow import CicFlowParser
from mirrorguard.ingest.sources import iter_sources
from mirrorguard.testing.parsers import check_parser

STATS_2017 = (
    " Flow Duration, Total Fwd Packets, Total Backward Packets,Total Length of Fwd Packets, "
    "Total Length of Bwd Packets, Fwd Packet Length Max, Fwd Packet Length Min, Fwd Packet Length "
    "Mean, Fwd Packet Length Std,Bwd Packet Length Max, Bwd Packet Length Min, Bwd Packet Length "
    "Mean, Bwd Packet Length Std,Flow Bytes/s, Flow Packets/s, Flow IAT Mean, Flow IAT Std, Flow "
    "IAT Max, Flow IAT Min,Fwd IAT Total, Fwd IAT Mean, Fwd IAT Std, Fwd IAT Max, Fwd IAT Min,Bwd "
    "IAT Total, Bwd IAT Mean, Bwd IAT Std, Bwd IAT Max, Bwd IAT Min,Fwd PSH Flags, Bwd PSH Flags, "
    "Fwd URG Flags, Bwd URG Flags, Fwd Header Length, Bwd Header Length,Fwd Packets/s, Bwd "
    "Packets/s, Min Packet Length, Max Packet Length, Packet Length Mean, Packet Length Std, "
    "Packet Length Variance,FIN Flag Count, SYN Flag Count, RST Flag Count, PSH Flag Count, ACK "
    "Flag Count, URG Flag Count, CWE Flag Count, ECE Flag Count, Down/Up Ratio, Average Packet "
    "Size, Avg Fwd Segment Size, Avg Bwd Segment Size, Fwd Header Length,Fwd Avg Bytes/Bulk, Fwd "
    "Avg Packets/Bulk, Fwd Avg Bulk Rate, Bwd Avg Bytes/Bulk, Bwd Avg Packets/Bulk,Bwd Avg Bulk "
    "Rate,Subflow Fwd Packets, Subflow Fwd Bytes, Subflow Bwd Packets, Subflow Bwd Bytes,"
    "Init_Win_bytes_forward, Init_Win_bytes_backward, act_data_pkt_fwd, min_seg_size_forward,"
    "Active Mean, Active Std, Active Max, Active Min,Idle Mean, Idle Std, Idle Max, Idle Min"
)
HEADER_2017_ML = " Destination Port," + STATS_2017 + ", Label"
HEADER_2017_TL = ("Flow ID, Source IP, Source Port, Destination IP, Destination Port, Protocol, "
                  "Timestamp," + STATS_2017 + ", Label")
HEADER_2018 = (
    "Dst Port,Protocol,Timestamp,Flow Duration,Tot Fwd Pkts,Tot Bwd Pkts,TotLen Fwd Pkts,TotLen "
    "Bwd Pkts,Fwd Pkt Len Max,Fwd Pkt Len Min,Fwd Pkt Len Mean,Fwd Pkt Len Std,Bwd Pkt Len Max,"
    "Bwd Pkt Len Min,Bwd Pkt Len Mean,Bwd Pkt Len Std,Flow Byts/s,Flow Pkts/s,Flow IAT Mean,Flow "
    "IAT Std,Flow IAT Max,Flow IAT Min,Fwd IAT Tot,Fwd IAT Mean,Fwd IAT Std,Fwd IAT Max,Fwd IAT "
    "Min,Bwd IAT Tot,Bwd IAT Mean,Bwd IAT Std,Bwd IAT Max,Bwd IAT Min,Fwd PSH Flags,Bwd PSH Flags,"
    "Fwd URG Flags,Bwd URG Flags,Fwd Header Len,Bwd Header Len,Fwd Pkts/s,Bwd Pkts/s,Pkt Len Min,"
    "Pkt Len Max,Pkt Len Mean,Pkt Len Std,Pkt Len Var,FIN Flag Cnt,SYN Flag Cnt,RST Flag Cnt,PSH "
    "Flag Cnt,ACK Flag Cnt,URG Flag Cnt,CWE Flag Count,ECE Flag Cnt,Down/Up Ratio,Pkt Size Avg,Fwd "
    "Seg Size Avg,Bwd Seg Size Avg,Fwd Byts/b Avg,Fwd Pkts/b Avg,Fwd Blk Rate Avg,Bwd Byts/b Avg,"
    "Bwd Pkts/b Avg,Bwd Blk Rate Avg,Subflow Fwd Pkts,Subflow Fwd Byts,Subflow Bwd Pkts,Subflow "
    "Bwd Byts,Init Fwd Win Byts,Init Bwd Win Byts,Fwd Act Data Pkts,Fwd Seg Size Min,Active Mean,"
    "Active Std,Active Max,Active Min,Idle Mean,Idle Std,Idle Max,Idle Min,Label"
)


def _s(xs: list[float]) -> tuple[float, float, float, float]:
    return (max(xs), min(xs), mean(xs), pstdev(xs)) if xs else (0, 0, 0, 0)


def _rate(num: float, dur_us: int) -> str:
    if dur_us == 0:
        return "NaN" if num == 0 else "Infinity"  # what CICFlowMeter writes on a zero duration
    return repr(num / (dur_us / 1e6))


def simulate_flow(rng: random.Random) -> tuple[int, int, list[str]]:
    """One flow's (protocol, duration µs, 2017-ordered statistics) from simulated packets."""
    proto = rng.choice([6, 6, 6, 17])
    fwd = [rng.choice([0, 0, 40, 517, 1460]) for _ in range(rng.randint(1, 12))]
    bwd = [rng.choice([0, 1460, 1460, 230]) for _ in range(rng.randint(0, 12))]
    times = sorted(rng.sample(range(0, 5_000_000), len(fwd) + len(bwd)))
    if rng.random() < 0.1:
        times = [times[0]] * len(times)  # all packets in one µs: rates become Infinity/NaN
    dur = times[-1] - times[0]
    ft, bt = times[: len(fwd)], times[len(fwd):]
    iat = [b - a for a, b in pairwise(times)]
    fiat = [b - a for a, b in pairwise(ft)]
    biat = [b - a for a, b in pairwise(bt)]
    hdr = 20 if proto == 6 else 8
    allp = fwd + bwd
    fmax, fmin, fmean, fstd = _s(fwd)
    bmax, bmin, bmean, bstd = _s(bwd)
    flags = [rng.randint(0, 2) for _ in range(8)] if proto == 6 else [0] * 8
    vals: list[float | str] = [
        dur, len(fwd), len(bwd), sum(fwd), sum(bwd), fmax, fmin, fmean, fstd, bmax, bmin, bmean,
        bstd, _rate(sum(allp), dur), _rate(len(allp), dur), *(
            (mean(iat), pstdev(iat), max(iat), min(iat)) if iat else (0, 0, 0, 0)),
        sum(fiat), *((mean(fiat), pstdev(fiat), max(fiat), min(fiat)) if fiat else (0, 0, 0, 0)),
        sum(biat), *((mean(biat), pstdev(biat), max(biat), min(biat)) if biat else (0, 0, 0, 0)),
        flags[0], 0, 0, 0, hdr * len(fwd), hdr * len(bwd), _rate(len(fwd), dur),
        _rate(len(bwd), dur), min(allp), max(allp), mean(allp), pstdev(allp), pvariance(allp),
        *flags, len(bwd) // len(fwd), sum(allp) / len(allp), fmean, bmean, hdr * len(fwd),
        0, 0, 0, 0, 0, 0, len(fwd), sum(fwd), len(bwd), sum(bwd),
        rng.choice([-1, 29200, 65535]), rng.choice([-1, 0, 28960]),
        sum(1 for p in fwd if p), hdr, 0, 0, 0, 0, dur, 0, dur, dur,
    ]
    return proto, dur, [str(v) for v in vals]


def cic_csv(variant: str, n: int, seed: int = 7) -> str:
    """A CICFlowMeter CSV in one of the public datasets' layouts."""
    rng = random.Random(seed)
    header = {"2017ml": HEADER_2017_ML, "2017tl": HEADER_2017_TL, "2018": HEADER_2018}[variant]
    out = [header]
    for i in range(n):
        proto, _, stats = simulate_flow(rng)
        if variant == "2018":
            stats = stats[:54] + stats[55:]  # 2018 dropped the duplicated Fwd Header Length
        src, dst = f"192.168.10.{rng.randint(2, 254)}", f"104.16.{i % 256}.{rng.randint(1, 9)}"
        sport, dport = rng.randint(1024, 65535), rng.choice([22, 53, 80, 443, 8080])
        label = rng.choice(["BENIGN", "DDoS", "PortScan"] if variant != "2018"
                           else ["Benign", "SSH-Bruteforce", "DoS attacks-Hulk"])
        if variant == "2017ml":
            row = [str(dport), *stats, label]
        elif variant == "2017tl":
            ts = f"{3 + i % 5}/7/2017 {8 + i % 9}:{i % 60:02d}"
            fid = f"{dst}-{src}-{dport}-{sport}-{proto}"
            row = [fid, src, str(sport), dst, str(dport), str(proto), ts, *stats, label]
        else:
            ts = f"{14 + i % 3:02d}/02/2018 {i % 24:02d}:{i % 60:02d}:{(7 * i) % 60:02d}"
            row = [str(dport), str(proto), ts, *stats, label]
        out.append(",".join(row))
    return "\r\n".join(out) + "\r\n"


def test_generator_matches_the_public_layouts():
    assert len(HEADER_2017_ML.split(",")) == 79 and len(HEADER_2017_TL.split(",")) == 85
    assert len(HEADER_2018.split(",")) == 80
    for variant in ("2017ml", "2017tl", "2018"):
        lines = cic_csv(variant, 5).splitlines()
        assert len({len(ln.split(",")) for ln in lines}) == 1, variant


def test_cic_ids2018_layout_maps_to_ecs_and_features():
    run = check_parser(CicFlowParser, cic_csv("2018", 300).encode())
    assert (run.accepted, run.rejected) == (300, 0)
    ev = run.events.sort("mirrorguard.record")
    feats = [c for c in ev.columns if c.startswith("flow.") and ev.schema[c] == pl.Float64]
    assert len(feats) == 76
    row = ev.row(0, named=True)
    assert row["@timestamp"] == datetime(2018, 2, 14, 0, 0, 0, tzinfo=UTC)
    assert row["network.transport"] in ("tcp", "udp") and row["network.iana_number"] in ("6", "17")
    assert row["event.duration"] == row["flow.flow_duration"] * 1000
    assert row["source.packets"] == row["flow.total_fwd_packets"]
    assert row["destination.bytes"] == row["flow.total_length_of_bwd_packets"]
    assert row["mirrorguard.record"] == 2 and row["flow.label"] in (
        "Benign", "SSH-Bruteforce", "DoS attacks-Hulk")
    rates = ev["flow.flow_bytes_per_s"]
    assert rates.is_infinite().any() or rates.is_nan().any()  # zero-duration flows kept


def test_cic_ids2017_layouts_share_the_2018_vocabulary():
    ml = check_parser(CicFlowParser, cic_csv("2017ml", 50).encode())
    tl = check_parser(CicFlowParser, cic_csv("2017tl", 50).encode())
    new = check_parser(CicFlowParser, cic_csv("2018", 50).encode())
    shared = {c for c in new.events.columns if c.startswith("flow.")}
    assert shared <= set(ml.events.columns) and shared <= set(tl.events.columns)
    assert "flow.fwd_header_length_1" in ml.events.columns  # the duplicated 2017 column
    assert ml.events["flow.time_from_ingest"].all() and "source.ip" not in ml.events.columns
    row = tl.events.sort("mirrorguard.record").row(0, named=True)
    assert row["@timestamp"] == datetime(2017, 7, 3, 8, 0, tzinfo=UTC)
    assert row["source.ip"].startswith("192.168.10.") and row["destination.port"] in (
        22, 53, 80, 443, 8080)
    assert row["flow.flow_id"].endswith(f"-{row['network.iana_number']}")


def test_timezone_and_more_timestamp_layouts():
    data = HEADER_2018 + "\n" + cic_csv("2018", 3).splitlines()[1].replace(
        "14/02/2018 00:00:00", "03/07/2017 08:55:58 AM") + "\n"

    class Halifax(CicFlowParser):
        def __init__(self) -> None:
            super().__init__(timezone="America/Halifax")

    row = check_parser(Halifax, data.encode()).events.row(0, named=True)
    assert row["@timestamp"] == datetime(2017, 7, 3, 11, 55, 58, tzinfo=UTC)


def test_bad_rows_repeated_headers_and_bad_values():
    lines = cic_csv("2018", 6).splitlines()
    lines.insert(3, HEADER_2018)  # CSE-CIC-IDS2018 repeats its header mid-file
    lines[4] = lines[4].rsplit(",", 3)[0]  # missing columns
    lines[5] = lines[5] + ",extra"  # extra column
    lines[6] = lines[6].replace(",6,", ",six,", 1) if ",6," in lines[6] else lines[6].replace(
        ",17,", ",seventeen,", 1)
    cells = lines[7].split(",")
    cells[4] = "many"  # Tot Fwd Pkts
    lines[7] = ",".join(cells)
    run = check_parser(CicFlowParser, ("\n".join(lines) + "\n").encode())
    assert run.offered == 6 and run.accepted == 3 and run.rejected == 3
    reasons = dict(zip(run.rejects["line"].to_list(), run.rejects["reason"].to_list(),
                       strict=True))
    assert reasons[5] == "expected 80 fields, found 77"
    assert reasons[6] == "expected 80 fields, found 81"
    assert "flow.total_fwd_packets" in reasons[8] and "many" in reasons[8]
    assert set(run.events["network.transport"]) >= {"six"} or set(
        run.events["network.transport"]) >= {"seventeen"}  # unknown protocol text is kept


def test_not_a_cic_file_is_rejected_not_guessed():
    run = check_parser(CicFlowParser, b"a,b,c\n1,2,3\n")
    assert run.accepted == 0 and run.rejected == 1
    assert run.rejects["reason"][0].startswith("no CICFlowMeter header")
    assert CicFlowParser.sniff(b"a,b,c\n1,2,3\n") == 0.0
    assert CicFlowParser.sniff(HEADER_2017_ML.encode() + b"\n") > 0.9
    assert CicFlowParser.sniff(b"\xef\xbb\xbf" + HEADER_2018.encode() + b"\r\n") > 0.9


def test_truncated_gzip_and_huge_line(tmp_path: Path):
    data = cic_csv("2018", 2000).encode()
    path = tmp_path / "flows.csv.gz"
    packed = gzip.compress(data)
    path.write_bytes(packed[: len(packed) // 2])
    item = next(iter_sources([path]))
    ctx = ParseContext(origin=Origin(item.path, None, item.sha256), ingested_at=datetime.now(UTC))
    with item.open() as stream:
        results = list(CicFlowParser().parse(stream, ctx))
    accepted = sum(r.accepted for r in results)
    rejects = pl.concat([r.rejects for r in results])
    assert 0 < accepted < 2000 and "truncated" in rejects["reason"][-1]
    lines = data.splitlines(keepends=True)
    big = b"".join(lines[:3]) + b"9" * 10_000_000 + b"\n" + b"".join(lines[3:5])
    run = check_parser(CicFlowParser, big)
    assert (run.accepted, run.rejected) == (4, 1)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_nothing_escapes_and_counts_add_up(data):
    lines = cic_csv("2018", 4, seed=data.draw(st.integers(0, 100))).splitlines()
    body = data.draw(st.lists(st.one_of(
        st.sampled_from(lines[1:]), st.just(lines[0]),
        st.sampled_from(lines[1:]).flatmap(lambda s: st.integers(0, len(s)).map(lambda k: s[:k])),
        st.text(max_size=40), st.binary(max_size=40).map(lambda b: b.decode("latin-1")),
        st.sampled_from(lines[1:]).map(lambda s: s.replace("1", "Infinity", 1))), max_size=20))
    encoded = "\n".join([lines[0], *body]).encode(
        data.draw(st.sampled_from(["utf-8", "latin-1", "utf-16"])), errors="replace")
    run = check_parser(CicFlowParser, encoded, max_record_bytes=8192)
    assert run.accepted + run.rejected == run.offered
