"""Keras (``.keras`` zip config, HDF5 ``model_config``) and ONNX checks.

* **Keras** runs Python from a model file through ``Lambda`` layers (marshalled bytecode in
  Keras 2 HDF5 files, a function reference in Keras 3) and imports any ``module`` a
  ``config.json`` names (CVE-2024-3660, CVE-2025-1550). Every ``module``/``class_name`` pair
  outside ``keras`` goes through the same allowlist/denylist as pickle globals.
* **ONNX** tensors may keep their data in *external files*; a location that is absolute or
  climbs out of the model's directory reads arbitrary files (CVE-2022-25882, CVE-2024-27318).
  Operators from domains other than the ONNX standard ones need a custom-op library (native code),
  and ``PyOp`` from onnxruntime-extensions runs Python.

>>> [(s.name, k) for s, k, _ in keras_config_problems(
...     {"class_name": "Lambda", "config": {"function": ["4wEAAA==", None, None]}})]
[('CRITICAL', 'keras_lambda')]
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from mirrorguard.guard.artifacts.scan.policy import classify
from mirrorguard.guard.artifacts.scan.report import Severity

Problem = tuple[Severity, str, str]
_STANDARD_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml", "ai.onnx.preview.training"})


def _walk_dicts(node: object, depth: int = 0) -> Iterator[dict[str, Any]]:
    if depth > 200:
        return
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _walk_dicts(value, depth + 1)
    elif isinstance(node, list):
        for value in node:
            yield from _walk_dicts(value, depth + 1)


def _lambda_problem(layer: dict[str, Any]) -> Problem:
    config = layer.get("config")
    function = config.get("function") if isinstance(config, dict) else None
    if isinstance(function, dict) and function.get("class_name") != "__lambda__":
        return (Severity.HIGH, "keras_lambda",
                f"Lambda layer calls {function.get('module')}.{function.get('config')}")
    return (Severity.CRITICAL, "keras_lambda",
            "Lambda layer carries serialized Python bytecode (runs on load/call)")


def _module_problem(node: dict[str, Any]) -> Problem | None:
    module = node.get("module")
    if not isinstance(module, str) or module == "keras" or module.startswith("keras."):
        return None
    name = node.get("class_name")
    if name in ("function", "__function__") and isinstance(node.get("config"), str):
        name = node["config"]
    verdict = classify(module, str(name))
    if verdict.allowed or verdict.severity is None:
        return None
    return (verdict.severity, "keras_import",
            f"config imports {module}.{name}: {verdict.reason}")


def keras_config_problems(config: object) -> list[Problem]:
    """Problems in a parsed Keras model config (``config.json`` or HDF5 ``model_config``)."""
    problems: list[Problem] = []
    for node in _walk_dicts(config):
        if node.get("class_name") == "Lambda":
            problems.append(_lambda_problem(node))
        problem = _module_problem(node)
        if problem is not None:
            problems.append(problem)
    return problems


def keras_json_problems(raw: bytes) -> list[Problem]:
    """Problems in a Keras ``config.json``; unparseable JSON is itself a finding."""
    try:
        config = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        return [(Severity.MEDIUM, "malformed", f"Keras config is not JSON: {exc}")]
    return keras_config_problems(config)


def hdf5_problems(data: bytes) -> list[Problem]:
    """Problems in an HDF5 model file (Keras ``model_config``/``training_config`` attributes).

    Needs ``h5py``; raises :class:`ImportError` when it is missing (reported as a scan error).
    """
    import h5py

    problems: list[Problem] = []
    with h5py.File(io.BytesIO(data), "r") as handle:
        for key in ("model_config", "training_config"):
            raw = handle.attrs.get(key)
            if raw is None:
                continue
            text = raw.encode() if isinstance(raw, str) else bytes(raw)
            problems.extend(keras_json_problems(text))
    return problems


def _escapes(location: str, base_dir: Path | None) -> bool:
    posix, win = PurePosixPath(location), PureWindowsPath(location)
    if posix.is_absolute() or win.is_absolute() or win.drive or ".." in posix.parts \
            or ".." in win.parts:
        return True
    if base_dir is None:
        return False
    base = base_dir.resolve()
    target = (base / location).resolve()
    return not target.is_relative_to(base)


def _tensors(graph: Any) -> Iterator[Any]:
    """Every tensor of a graph, its nodes' attributes and their subgraphs."""
    yield from graph.initializer
    for sparse in graph.sparse_initializer:
        yield sparse.values
        yield sparse.indices
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            if attr.HasField("g"):
                yield from _tensors(attr.g)
            for sub in attr.graphs:
                yield from _tensors(sub)


def _nodes(graph: Any) -> Iterator[Any]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            if attr.HasField("g"):
                yield from _nodes(attr.g)
            for sub in attr.graphs:
                yield from _nodes(sub)


def onnx_problems(data: bytes, base_dir: Path | None = None) -> list[Problem]:
    """Problems in an ONNX model: escaping external data, custom operator domains, PyOp.

    Needs ``onnx``; raises :class:`ImportError` when it is missing and ``ValueError`` when the
    bytes are not an ONNX model.
    """
    import onnx
    from google.protobuf.message import DecodeError

    try:
        model = onnx.load_model_from_string(data)
    except DecodeError as exc:
        raise ValueError(f"not an ONNX model: {exc}") from exc
    problems: list[Problem] = []
    for tensor in _tensors(model.graph):
        if tensor.data_location != onnx.TensorProto.EXTERNAL:
            continue
        location = {e.key: e.value for e in tensor.external_data}.get("location", "")
        if _escapes(location, base_dir):
            problems.append((Severity.HIGH, "onnx_external_data",
                             f"tensor {tensor.name!r} reads external data from {location!r}, "
                             "outside the model directory"))
    local = {f.domain for f in model.functions}
    for node in _nodes(model.graph):
        if node.op_type == "PyOp" or node.domain == "ai.onnx.contrib":
            problems.append((Severity.HIGH, "onnx_custom_op",
                             f"node {node.name!r} ({node.domain}:{node.op_type}) runs Python"))
        elif node.domain not in _STANDARD_DOMAINS and node.domain not in local:
            severity = Severity.LOW if node.domain == "com.microsoft" else Severity.MEDIUM
            problems.append((severity, "onnx_custom_op",
                             f"node {node.name!r} uses operator domain {node.domain!r} "
                             "(needs a custom-op library)"))
    return problems
