"""Finding and opening sources: files, directories, gzip/bz2/xz, zip and tar archives.

Formats are detected by content (magic bytes), never by file name alone. Each readable stream
is a :class:`SourceItem`; opening it yields decompressed bytes. A truncated gzip stream gives
every byte that can be decompressed, then raises ``EOFError`` (which the line reader turns into
a reject), so the good records before the damage still land.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO, cast

from mirrorguard.errors import FormatError

SNIFF_BYTES = 65_536
_GZIP = b"\x1f\x8b"
_ZIP = b"PK\x03\x04"
_BZ2 = b"BZh"
_XZ = b"\xfd7zXZ\x00"


@dataclass(frozen=True)
class SourceItem:
    """One stream to parse: a file or an archive member, with its content digest."""

    path: str
    member: str | None
    sha256: str
    open: Callable[[], BinaryIO]

    @property
    def display(self) -> str:
        return f"{self.path}!{self.member}" if self.member else self.path


class GzipStream(io.RawIOBase):
    """Multi-member gzip decompression that hands out every byte before a truncation."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._dec = zlib.decompressobj(wbits=31)
        self._buf = b""
        self._eof = False
        self._fed = False  # current member has been given input but not finished

    def readable(self) -> bool:
        return True

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        """Copy available bytes; raise ``EOFError`` only when none are left (truncation)."""
        while not self._buf and not self._eof:
            self._fill()
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n

    def _fill(self) -> None:
        data = self._dec.unconsumed_tail or self._raw.read(1 << 20)
        if not data:
            self._eof = True
            if self._fed:
                raise EOFError("compressed stream is truncated (gzip end-of-stream missing)")
            return
        self._fed = True
        self._buf = self._dec.decompress(data, 1 << 22)
        while self._dec.eof:
            rest = self._dec.unused_data
            self._dec = zlib.decompressobj(wbits=31)
            self._fed = False
            rest = rest.lstrip(b"\x00")
            if not rest:
                break
            self._fed = True
            self._buf += self._dec.decompress(rest, 1 << 22)

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_decompressed(raw: BinaryIO) -> BinaryIO:
    """Wrap ``raw`` (a seekable binary stream) in the decompressor its magic bytes ask for."""
    head = raw.read(6)
    raw.seek(0)
    if head.startswith(_GZIP):
        # Unbuffered on purpose: a BufferedReader would drop bytes already decompressed when
        # the next raw read reports truncation. GzipStream.read returns what it has.
        return GzipStream(raw)  # type: ignore[return-value]
    if head.startswith(_BZ2):
        return cast(BinaryIO, bz2.open(raw, "rb"))
    if head.startswith(_XZ):
        return cast(BinaryIO, lzma.open(raw, "rb"))
    return raw


def file_sha256(path: Path) -> str:
    """Digest of the bytes on disk."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _member_digest(archive_sha: str, member: str) -> str:
    return hashlib.sha256(f"{archive_sha}/{member}".encode()).hexdigest()


def iter_sources(paths: list[Path]) -> Iterator[SourceItem]:
    """Every stream under ``paths`` (directories walked recursively, in sorted order)."""
    for path in paths:
        if path.is_dir():
            for child in sorted(p for p in path.rglob("*") if p.is_file()):
                if not child.name.startswith("."):
                    yield from _items_for_file(child)
        elif path.is_file():
            yield from _items_for_file(path)
        else:
            raise FormatError("no such file or directory", file=str(path))


def _items_for_file(path: Path) -> Iterator[SourceItem]:
    digest = file_sha256(path)
    with path.open("rb") as f:
        head = f.read(262)
    if head.startswith(_ZIP):
        yield from _zip_items(path, digest)
        return
    if _is_tar(path, head):
        yield from _tar_items(path, digest)
        return

    def opener() -> BinaryIO:
        return open_decompressed(path.open("rb"))

    yield SourceItem(str(path), None, digest, opener)


def _is_tar(path: Path, head: bytes) -> bool:
    if head[257:262] == b"ustar":
        return True
    if head.startswith((_GZIP, _BZ2, _XZ)):
        try:
            with open_decompressed(path.open("rb")) as s:
                inner = s.read(262)
        except (EOFError, OSError, zlib.error, lzma.LZMAError):
            return False
        return inner[257:262] == b"ustar"
    return False


def _zip_items(path: Path, digest: str) -> Iterator[SourceItem]:
    try:
        names = [i.filename for i in zipfile.ZipFile(path).infolist() if not i.is_dir()]
    except zipfile.BadZipFile as exc:
        raise FormatError(f"unreadable zip archive: {exc}", file=str(path)) from exc
    for name in names:

        def opener(name: str = name) -> BinaryIO:
            zf = zipfile.ZipFile(path)
            return open_decompressed(_Seekable.wrap(zf.open(name)))

        yield SourceItem(str(path), name, _member_digest(digest, name), opener)


def _tar_items(path: Path, digest: str) -> Iterator[SourceItem]:
    names: list[str] = []
    try:
        with tarfile.open(path, "r:*") as tf:
            names.extend(m.name for m in tf if m.isfile())
    except (tarfile.TarError, EOFError, zlib.error) as exc:
        if not names:
            raise FormatError(f"unreadable tar archive: {exc}", file=str(path)) from exc
    for name in names:

        def opener(name: str = name) -> BinaryIO:
            tf = tarfile.open(path, "r:*")  # noqa: SIM115 - lives as long as the stream
            member = tf.extractfile(name)
            if member is None:
                raise FormatError("tar member is not a regular file", file=f"{path}!{name}")
            return open_decompressed(_Seekable.wrap(member))

        yield SourceItem(str(path), name, _member_digest(digest, name), opener)


class _Seekable:
    """Archive members may not seek; magic-byte sniffing needs to rewind the first bytes."""

    @staticmethod
    def wrap(stream: IO[bytes]) -> BinaryIO:
        if stream.seekable():
            return cast(BinaryIO, stream)
        return io.BufferedReader(_Rewindable(stream), buffer_size=1 << 20)


class _Rewindable(io.RawIOBase):
    """A forward-only stream that can rewind to 0 while still inside its first read."""

    def __init__(self, inner: IO[bytes]) -> None:
        self._inner = inner
        self._head = b""
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        if whence != 0 or offset > len(self._head):
            raise io.UnsupportedOperation("only rewinding within the first bytes is supported")
        self._pos = offset
        return offset

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._pos < len(self._head):
            data = self._head[self._pos : self._pos + len(b)]
        else:
            data = self._inner.read(len(b))
            if self._pos == len(self._head) and len(self._head) < SNIFF_BYTES:
                self._head += data
        n = len(data)
        b[:n] = data
        self._pos += n
        return n


def read_head(item: SourceItem, size: int = SNIFF_BYTES) -> bytes:
    """The first ``size`` decompressed bytes of a source (for content sniffing)."""
    with item.open() as s:
        try:
            return s.read(size)
        except (EOFError, OSError, zlib.error, lzma.LZMAError):
            return b""
