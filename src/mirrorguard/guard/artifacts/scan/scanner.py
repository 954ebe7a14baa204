"""Scan model files users bring, without loading them: ``scan_paths([...]) -> ScanReport``.

Each file is recognised by content (:mod:`.formats`) and taken apart recursively: zip archives
(PyTorch ``data.pkl`` + storages, ``.npz``, ``.keras``, anything zipped), tar (legacy PyTorch),
gzip/bz2/xz/lzma/zlib (compressed joblib), ``.npy`` (object arrays embed a pickle), HDF5 and
ONNX. Every pickle found on the way is simulated by :mod:`.vm`. Findings, scan errors and skipped
files are kept apart in the :class:`~.report.ScanReport`.

>>> import pickle, tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "ok.pkl").write_bytes(pickle.dumps({"w": [1.0, 2.0]}))
>>> _ = (d / "bad.pkl").write_bytes(b"cposix\\nsystem\\n(S'id'\\ntR.")
>>> report = scan_paths([d])
>>> report.exit_code, sorted({f.global_name for f in report.findings})
(1, ['posix.system'])
"""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from mirrorguard.errors import FormatError
from mirrorguard.guard.artifacts.scan import formats, mlformats
from mirrorguard.guard.artifacts.scan.pickles import scan_pickle_stream
from mirrorguard.guard.artifacts.scan.report import (
    Finding,
    ScanErrorRecord,
    ScanReport,
    Severity,
    Skipped,
)
from mirrorguard.guard.artifacts.scan.vm import Event

_TORCH_TEXT = frozenset({"version", "byteorder", ".format_version", ".storage_alignment",
                         "serialization_id"})
_LEGACY_TAR = {"sys_info": False, "pickle": False, "storages": True, "tensors": True}


@dataclass(frozen=True)
class ScanOptions:
    """Limits: file size, decompressed size, container nesting; whether to follow symlinks."""

    max_file_bytes: int = 8 * 2**30
    max_decompressed_bytes: int = 8 * 2**30
    max_depth: int = 6
    follow_symlinks: bool = False


def _join(member: str | None, name: str) -> str:
    return name if member is None else f"{member}!{name}"


class _FileScan:
    """Scan one file, adding what it finds to ``report``."""

    def __init__(self, path: Path, report: ScanReport, options: ScanOptions) -> None:
        self.path = path
        self.report = report
        self.options = options

    def finding(self, member: str | None, severity: Severity, kind: str, detail: str,
                event: Event | None = None) -> None:
        self.report.findings.append(Finding(
            str(self.path), member, severity, kind, detail,
            global_name=event.global_name if event else None,
            opcode=event.opcode if event else None, offset=event.offset if event else None))

    def error(self, member: str | None, exc: BaseException) -> None:
        self.report.errors.append(
            ScanErrorRecord(str(self.path), member, type(exc).__name__, str(exc)))

    def problems(self, member: str | None, problems: list[mlformats.Problem]) -> None:
        for severity, kind, detail in problems:
            self.finding(member, severity, kind, detail)

    # --- formats --------------------------------------------------------------------------
    def pickle(self, data: bytes, member: str | None, *, persistent: str = "none",
               leading_only: bool = False) -> None:
        result = scan_pickle_stream(data, persistent=persistent, leading_only=leading_only)
        for event in result.events:
            self.finding(member, event.severity, event.kind, event.detail, event)

    def npy(self, data: bytes, member: str | None) -> None:
        header = formats.parse_npy_header(data)
        body = len(data) - header.data_offset
        if header.dtype.hasobject:
            self.pickle(data[header.data_offset:], member)
        elif body > header.nbytes:
            self.finding(member, Severity.MEDIUM, "trailing_data",
                         f"{body - header.nbytes} bytes after the array data")
        elif body < header.nbytes:
            self.finding(member, Severity.MEDIUM, "malformed", "array data truncated")

    def blob(self, data: bytes, member: str | None, name: str, depth: int) -> bool:
        """Scan ``data`` by its format; ``False`` when the format is not a model format."""
        if depth > self.options.max_depth:
            self.finding(member, Severity.MEDIUM, "nesting", "containers nested too deeply")
            return True
        fmt = formats.sniff(data[:4096], name)
        if fmt is None:
            return False
        try:
            self._dispatch(fmt, data, member, name, depth)
        except (FormatError, ValueError, OSError, EOFError, KeyError, tarfile.TarError,
                zipfile.BadZipFile, ImportError) as exc:
            self.error(member, exc)
        return True

    def _dispatch(self, fmt: str, data: bytes, member: str | None, name: str,
                  depth: int) -> None:
        if fmt == "pickle":
            self.pickle(data, member)
            if zipfile.is_zipfile(io.BytesIO(data)):
                self.finding(member, Severity.MEDIUM, "polyglot",
                             "file is both a pickle and a zip archive")
                self.archive(zipfile.ZipFile(io.BytesIO(data)), member, depth)
        elif fmt == "npy":
            self.npy(data, member)
        elif fmt == "zip":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                self.archive(archive, member, depth)
        elif fmt == "tar":
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                self.tar(tar, member, depth)
        elif fmt == "hdf5":
            self.problems(member, mlformats.hdf5_problems(data))
        elif fmt == "onnx":
            base = self.path.parent if member is None else None
            self.problems(member, mlformats.onnx_problems(data, base))
        else:
            inner = formats.decompress(fmt, data, self.options.max_decompressed_bytes)
            inner_name = name.rsplit(".", 1)[0] if "." in name else name
            label = _join(member, f"<{fmt}>")
            if not self.blob(inner, label, inner_name, depth + 1):
                self.finding(label, Severity.MEDIUM, "unknown_format",
                             f"{fmt} stream holds data that is not a model format")

    # --- containers -----------------------------------------------------------------------
    def _unsafe_name(self, name: str, member: str | None) -> None:
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if name.startswith(("/", "\\")) or ".." in parts:
            self.finding(_join(member, name), Severity.MEDIUM, "path_traversal",
                         f"archive member name {name!r} escapes the extraction directory")

    def archive(self, archive: zipfile.ZipFile, member: str | None, depth: int) -> None:
        names = [i.filename for i in archive.infolist() if not i.is_dir()]
        torch_dirs = {n[: -len("data.pkl")] for n in names if n.endswith("data.pkl")}
        for info in archive.infolist():
            if info.is_dir():
                continue
            self._unsafe_name(info.filename, member)
            self._zip_member(archive, info, member, depth, torch_dirs)

    def _zip_member(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo, member: str | None,
                    depth: int, torch_dirs: set[str]) -> None:
        name = info.filename
        label = _join(member, name)
        prefix = next((d for d in torch_dirs if name.startswith(d)), None)
        base = name.rsplit("/", 1)[-1]
        if prefix is not None:
            rest = name[len(prefix):]
            if rest.startswith(("data/", ".data/")) or rest in _TORCH_TEXT or base in _TORCH_TEXT:
                return  # raw storage bytes and plain-text markers
            if rest.startswith("code/"):
                self.finding(label, Severity.MEDIUM, "torchscript",
                             "TorchScript code in the archive (compiled and run by torch.jit)")
                return
        if info.file_size > self.options.max_decompressed_bytes:
            self.error(label, FormatError(f"member larger than {info.file_size} bytes"))
            return
        data = archive.read(info)
        if prefix is not None and name.endswith(".pkl"):
            self.pickle(data, label, persistent="torch")
        elif base == "config.json":
            self.problems(label, mlformats.keras_json_problems(data))
        else:
            self.blob(data, label, name, depth + 1)

    def tar(self, tar: tarfile.TarFile, member: str | None, depth: int) -> None:
        for info in tar.getmembers():
            self._unsafe_name(info.name, member)
            if not info.isfile():
                continue
            handle = tar.extractfile(info)
            if handle is None:
                continue
            data = handle.read(self.options.max_decompressed_bytes + 1)
            label = _join(member, info.name)
            if info.name in _LEGACY_TAR:
                self.pickle(data, label, persistent="torch",
                            leading_only=_LEGACY_TAR[info.name])
            else:
                self.blob(data, label, info.name, depth + 1)

    # --- the file -------------------------------------------------------------------------
    def run(self) -> None:
        size = self.path.stat().st_size
        if size > self.options.max_file_bytes:
            self.report.skipped.append(Skipped(str(self.path), f"larger than limit ({size} B)"))
            return
        data = self.path.read_bytes()
        if self.blob(data, None, self.path.name, 0):
            self.report.scanned.append(str(self.path))
        elif self.path.suffix.lower() in formats.MODEL_SUFFIXES:
            self.report.scanned.append(str(self.path))
            self.error(None, FormatError("model file in an unrecognised format",
                                         file=str(self.path)))
        else:
            self.report.skipped.append(Skipped(str(self.path), "not a model format"))


def _files(paths: list[Path], options: ScanOptions,
           report: ScanReport) -> Iterator[Path]:
    for path in paths:
        if path.is_symlink() and not options.follow_symlinks:
            report.skipped.append(Skipped(str(path), "symlink (use follow_symlinks)"))
        elif path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=options.follow_symlinks):
                dirs.sort()
                yield from _files([Path(root) / f for f in sorted(files)], options, report)
        elif path.is_file():
            yield path
        else:
            report.errors.append(ScanErrorRecord(str(path), None, "FileNotFoundError",
                                                 "no such file or directory"))


def scan_file(path: Path, options: ScanOptions | None = None) -> ScanReport:
    """Scan one file."""
    report = ScanReport()
    try:
        _FileScan(path, report, options or ScanOptions()).run()
    except OSError as exc:
        report.errors.append(ScanErrorRecord(str(path), None, type(exc).__name__, str(exc)))
    return report


def scan_paths(paths: list[Path], options: ScanOptions | None = None) -> ScanReport:
    """Scan files and directories (recursively, in sorted order) into one report."""
    options = options or ScanOptions()
    report = ScanReport()
    for path in _files(paths, options, report):
        report.merge(scan_file(path, options))
    return report
