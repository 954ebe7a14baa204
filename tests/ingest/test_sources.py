import gzip
import io
import tarfile
import zipfile

import pytest

from mirrorguard.errors import FormatError
from mirrorguard.ingest.sources import GzipStream, iter_sources, read_head


def test_gzip_multi_member_is_read_whole():
    blob = gzip.compress(b"a\n") + gzip.compress(b"b\n")
    assert GzipStream(io.BytesIO(blob)).readall() == b"a\nb\n"


def test_truncated_gzip_gives_bytes_then_eof_error():
    data = bytes(range(256)) * 4000
    blob = gzip.compress(data)[:-100]
    s = GzipStream(io.BytesIO(blob))
    got = b""
    with pytest.raises(EOFError):
        while chunk := s.read(65536):
            got += chunk
    assert len(got) > len(data) // 2
    assert data.startswith(got)


def test_walks_dirs_zip_and_tar_members(tmp_path):
    (tmp_path / "a.log").write_bytes(b"plain\n")
    (tmp_path / "b.gz").write_bytes(gzip.compress(b"gz\n"))
    with zipfile.ZipFile(tmp_path / "c.zip", "w") as z:
        z.writestr("inner.json", b"zipped\n")
    with tarfile.open(tmp_path / "d.tar.gz", "w:gz") as t:
        info = tarfile.TarInfo("member.log")
        info.size = 4
        t.addfile(info, io.BytesIO(b"tar\n"))
    items = list(iter_sources([tmp_path]))
    heads = {(i.member or i.path.rsplit("/", 1)[-1]): read_head(i) for i in items}
    assert heads == {"a.log": b"plain\n", "b.gz": b"gz\n", "inner.json": b"zipped\n",
                     "member.log": b"tar\n"}
    assert len({i.sha256 for i in items}) == 4


def test_missing_path_names_the_file(tmp_path):
    with pytest.raises(FormatError, match="nope"):
        list(iter_sources([tmp_path / "nope"]))
