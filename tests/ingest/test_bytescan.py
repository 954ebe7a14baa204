from hypothesis import given
from hypothesis import strategies as st

from mirrorguard.ingest.bytescan import count_byte, count_followed, count_pair

# a small alphabet so that the patterns occur often, at even and odd offsets and at the edges
BLOCKS = st.binary(max_size=64).map(lambda b: bytes(b'\n\r":na'[x % 6] for x in b))


@given(BLOCKS)
def test_counts_match_plain_python(block):
    assert count_byte(block, 10) == block.count(b"\n")
    pairs = sum(block[i : i + 2] == b'":' for i in range(len(block) - 1))
    assert count_pair(block, b'":') == pairs
    triples = sum(block[i : i + 3] == b'":n' for i in range(len(block) - 2))
    assert count_followed(block, b'":', ord("n")) == triples


def test_memoryview_and_empty_input():
    assert count_pair(memoryview(b'{"a":1,"b":2}'), b'":') == 2
    assert count_pair(b"", b'":') == 0 and count_followed(b"x", b'":', 110) == 0
