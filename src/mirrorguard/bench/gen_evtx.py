"""Large EVTX files made of real records: the chunks of the attack-sample recordings, repeated.

An EVTX file is a 4 KiB header followed by self-contained 64 KiB chunks (each with its own
records, string tables and checksums). Concatenating the real chunks under one header (chunk
count and CRC32 rewritten) gives a valid file of real Sysmon/Security/System records of any
size. Record numbers repeat across the copies, so this is for throughput only.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

HEADER = 4096
CHUNK = 65536


def sample_chunks(data_dir: Path) -> tuple[bytes, list[bytes]]:
    """(a file header to reuse, every chunk of every ``*.evtx.gz`` under ``data_dir``)."""
    header = b""
    chunks: list[bytes] = []
    for gz in sorted(data_dir.rglob("*.evtx.gz")):
        raw = gzip.decompress(gz.read_bytes())
        header = header or raw[:HEADER]
        for off in range(HEADER, len(raw) - CHUNK + 1, CHUNK):
            chunk = raw[off : off + CHUNK]
            if chunk.startswith(b"ElfChnk\x00"):
                chunks.append(chunk)
    return header, chunks


def write_evtx(path: Path, header: bytes, chunks: list[bytes], copies: int) -> int:
    """Write ``copies`` repetitions of ``chunks`` as one EVTX file; returns the chunk count."""
    n = min(len(chunks) * copies, 0xFFFF)
    head = bytearray(header[:HEADER])
    struct.pack_into("<Q", head, 16, n - 1)  # last chunk number
    struct.pack_into("<H", head, 42, n)  # number of chunks
    struct.pack_into("<I", head, 120, struct.unpack_from("<I", head, 120)[0] & ~1)  # not dirty
    struct.pack_into("<I", head, 124, zlib.crc32(bytes(head[:120])))
    written = 0
    with path.open("wb") as f:
        f.write(head)
        for _ in range(copies):
            for chunk in chunks:
                if written == n:
                    return n
                f.write(chunk)
                written += 1
    return written
