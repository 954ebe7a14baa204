import gzip
import io
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mirrorguard.ingest.base import Origin, ParseContext
from mirrorguard.ingest.lines import iter_line_blocks
from mirrorguard.ingest.sources import open_decompressed


def ctx(**kw):
    return ParseContext(origin=Origin("f", None, "0" * 64), ingested_at=datetime.now(UTC), **kw)


def collect(data: bytes, **kw):
    lines, rejects = [], []
    for block, first, bad in iter_line_blocks(io.BytesIO(data), ctx(**kw)):
        for i, ln in enumerate(block.split(b"\n")[:-1]):
            lines.append((first + i, ln))
        if bad is not None:
            rejects.extend(bad["line"].to_list())
    return lines, rejects


def test_blocks_keep_line_numbers_across_small_batches():
    data = b"".join(f"line{i}\n".encode() for i in range(1, 5001))
    lines, rejects = collect(data, batch_bytes=1000)
    assert [n for n, _ in lines] == list(range(1, 5001))
    assert all(ln == f"line{n}".encode() for n, ln in lines)
    assert rejects == []


def test_last_line_without_newline_is_kept():
    lines, _ = collect(b"a\nb")
    assert lines == [(1, b"a"), (2, b"b")]


def test_overlong_line_is_rejected_with_its_number_and_others_kept():
    data = b"ok1\n" + b"x" * 3_000_000 + b"\nok3\n"
    lines, rejects = collect(data, max_record_bytes=1024)
    assert lines == [(1, b"ok1"), (3, b"ok3")]
    assert rejects == [2]


def test_line_between_one_and_two_reads_long_is_caught_at_the_default_limit():
    # 1 MiB reads and a 1 MiB limit: a 1.4 MiB line starts late in the first read and ends
    # inside the second, so it is never "pending" past the limit; the scan must reject it.
    long = b"y" * 1_468_006
    data = b"a" * 100_000 + b"\n" + long + b"\nok\n"
    lines, rejects = collect(data)
    assert rejects == [2]
    assert [n for n, ln in lines if ln] == [1, 3]  # the long one is blanked, numbering kept
    near = b"z" * (1_048_576 - 10)  # just under the limit: kept
    lines, rejects = collect(b"b" * 900_000 + b"\n" + near + b"\n")
    assert rejects == [] and [len(ln) for _, ln in lines] == [900_000, len(near)]


def test_truncated_gzip_keeps_complete_lines_and_rejects_the_damage():
    payload = b"".join(f"record {i}\n".encode() for i in range(20000))
    blob = gzip.compress(payload)[:-2000]
    stream = open_decompressed(io.BytesIO(blob))
    got = list(iter_line_blocks(stream, ctx()))
    kept = sum(b.count(b"\n") for b, _, _ in got)
    rejected = [r for _, _, r in got if r is not None]
    assert 0 < kept < 20000
    assert len(rejected) == 1 and "ended abnormally" in rejected[0]["reason"][0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=40), st.integers(64, 4096))
def test_every_line_is_either_yielded_or_rejected(parts, limit):
    data = b"\n".join(parts)
    lines, rejects = collect(data, max_record_bytes=limit, batch_bytes=512)
    expected = data.split(b"\n")
    if expected and expected[-1] == b"":
        expected.pop()
    numbers = sorted([n for n, _ in lines] + rejects)
    assert numbers == list(range(1, len(expected) + 1))
