"""Every published model-file bypass class is a named regression test for the scanner.

Files are built by ``corpus.py`` from raw opcodes; nothing is ever unpickled.
"""

from __future__ import annotations

import pickle

import containers as ct
import joblib
import numpy as np
import pytest
from corpus import CATEGORIES, MALICIOUS, Built
from corpus_malicious import payload
from pickle_asm import Asm

from mirrorguard.guard.artifacts.scan import ScanReport, Severity, scan_file


def _scan(built: dict[str, Built], name: str) -> ScanReport:
    return scan_file(built[name].path)


def _globals(report: ScanReport) -> set[str]:
    return {f.global_name for f in report.findings if f.global_name}


def test_corpus_size_and_classes() -> None:
    assert len(MALICIOUS) >= 60
    assert {s.category for s in MALICIOUS} == set(CATEGORIES)
    assert len({s.name for s in MALICIOUS}) == len(MALICIOUS)


@pytest.mark.parametrize("name", [s.name for s in MALICIOUS])
def test_every_malicious_sample_is_detected(malicious_corpus: dict[str, Built],
                                            name: str) -> None:
    report = _scan(malicious_corpus, name)
    assert report.findings, f"{name} not detected"
    assert report.exit_code == 1


def test_reduce_to_os_system_is_critical_with_exact_global(malicious_corpus: dict[str, Built],
                                                            ) -> None:
    report = _scan(malicious_corpus, "os_system")
    calls = [f for f in report.findings if f.kind == "call"]
    assert calls and calls[0].global_name == "os.system"
    assert calls[0].opcode == "REDUCE" and calls[0].severity is Severity.CRITICAL
    assert "'id'" in calls[0].detail
    assert calls[0].offset == len(Asm().proto(2).glob("os", "system").mark().text("id")
                                  .tuple_().data)


def test_python2_builtin_names_are_normalised(malicious_corpus: dict[str, Built]) -> None:
    assert "builtins.eval" in _globals(_scan(malicious_corpus, "py2_builtin_eval"))


def test_indirect_import_via_importlib_and_getattr(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "importlib_import_module")
    assert {"importlib.import_module", "builtins.getattr"} <= _globals(report)
    assert any("computed callable" in f.detail for f in report.findings)


def test_operator_chains(malicious_corpus: dict[str, Built]) -> None:
    assert "operator.attrgetter" in _globals(_scan(malicious_corpus, "operator_attrgetter_chain"))
    assert "_operator.methodcaller" in _globals(
        _scan(malicious_corpus, "operator_methodcaller_chain"))


def test_dotted_name_through_allowlisted_module(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "dotted_name_through_allowlisted_module")
    assert report.max_severity() is Severity.CRITICAL


def test_string_import_through_allowlisted_helper(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "ufunc_reconstruct_string_import")
    assert any(f.severity is Severity.CRITICAL and "_ufunc_reconstruct" in f.detail
               for f in report.findings)


def test_allowlisted_class_called_with_arguments(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "allowlisted_class_called_with_args")
    assert [f.global_name for f in report.findings] == ["lightgbm.basic.Booster"]


def test_build_on_a_global_is_reported(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "build_sets_attributes_of_global")
    assert any(f.kind == "build" for f in report.findings)


@pytest.mark.parametrize("name", ["numpy_runstring", "torch_hub_load", "pandas_read_pickle",
                                  "joblib_load_nested", "torch_cpp_extension_load_inline"])
def test_ml_library_code_runners_are_critical(malicious_corpus: dict[str, Built],
                                              name: str) -> None:
    assert _scan(malicious_corpus, name).max_severity() is Severity.CRITICAL


def test_memo_staged_names_resolve_to_the_real_import(malicious_corpus: dict[str, Built],
                                                       ) -> None:
    assert "os.system" in _globals(_scan(malicious_corpus, "names_staged_through_memo"))
    assert "builtins.exec" in _globals(_scan(malicious_corpus, "memoize_index_overwrite"))
    assert "subprocess.getoutput" in _globals(_scan(malicious_corpus, "dup_pop_stack_games"))


def test_payload_before_malformed_data_still_reported(malicious_corpus: dict[str, Built],
                                                       ) -> None:
    report = _scan(malicious_corpus, "payload_before_invalid_opcode")
    assert {"import", "call", "malformed"} <= {f.kind for f in report.findings}


def test_second_pickle_after_stop(malicious_corpus: dict[str, Built]) -> None:
    report = _scan(malicious_corpus, "payload_in_second_pickle")
    assert "trailing_data" in {f.kind for f in report.findings}
    assert "os.system" in _globals(report)


@pytest.mark.parametrize("name", ["protocol0_text", "protocol1_binary", "protocol3_bytes",
                                  "protocol4_stack_global_frame", "protocol5_bytearray"])
def test_every_protocol(malicious_corpus: dict[str, Built], name: str) -> None:
    assert _scan(malicious_corpus, name).max_severity() is Severity.CRITICAL


def test_nested_archives_report_the_member(malicious_corpus: dict[str, Built]) -> None:
    members = {f.member for f in _scan(malicious_corpus, "torch_zip_data_pkl").findings}
    assert members == {"archive/data.pkl"}
    members = {f.member for f in _scan(malicious_corpus, "zip_in_zip").findings}
    assert members == {"inner.zip!model.pkl"}
    kinds = {f.kind for f in _scan(malicious_corpus, "pickle_zip_polyglot").findings}
    assert "polyglot" in kinds


def test_foreign_persistent_id_in_torch_archive(malicious_corpus: dict[str, Built]) -> None:
    kinds = {f.kind for f in _scan(malicious_corpus, "torch_zip_foreign_persistent_id").findings}
    assert "persistent_id" in kinds


def test_joblib_array_bytes_cannot_hide_a_payload(malicious_corpus: dict[str, Built]) -> None:
    for name in ("joblib_payload_after_array_bytes", "joblib_compressed_xz",
                 "joblib_compressed_lzma"):
        report = _scan(malicious_corpus, name)
        assert "os.system" in _globals(report), name
        assert not [f for f in report.findings if f.kind == "malformed"], name


def test_joblib_layout_is_what_joblib_reads(tmp_path: object) -> None:
    """The hand-written wrapper layout used by the malicious joblib files loads in joblib."""
    a = Asm().proto(4).empty_list()
    ct.joblib_wrapper(a, "i8", (3,))
    a.raw(ct.joblib_padding(len(a.data))).raw(np.arange(3, dtype="<i8").tobytes()).raw(b"a")
    path = tmp_path / "twin.joblib"  # type: ignore[operator]
    path.write_bytes(a.stop().data)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(loaded[0], np.arange(3))
    assert not scan_file(path).findings


def test_numpy_object_array_twin_is_clean(tmp_path: object) -> None:
    """An object .npy whose pickle is benign is clean; the same header with a payload is not."""
    good = tmp_path / "good.npy"  # type: ignore[operator]
    bad = tmp_path / "bad.npy"  # type: ignore[operator]
    good.write_bytes(ct.npy_header("|O", (1,)) + pickle.dumps(np.array(["a"], dtype=object)))
    bad.write_bytes(ct.npy_header("|O", (1,)) + payload().stop().data)
    assert scan_file(good).exit_code == 0
    assert scan_file(bad).exit_code == 1


@pytest.mark.parametrize("name", ["keras_lambda_bytecode", "keras_config_module_import",
                                  "hdf5_lambda_model_config", "onnx_external_data_traversal",
                                  "onnx_pyop_custom_domain"])
def test_keras_and_onnx(malicious_corpus: dict[str, Built], name: str) -> None:
    report = _scan(malicious_corpus, name)
    assert report.max_severity() in (Severity.HIGH, Severity.CRITICAL)
    assert not report.errors
