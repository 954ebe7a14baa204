"""The benign half of the corpus: real models from real libraries, trained on real data.

scikit-learn and LightGBM models are trained on ClaMP (PE-header malware features, in
``../shared/data/clamp``) and saved with ``pickle`` (protocols 2, 4, 5) and ``joblib`` (plain and
compressed); NumPy arrays with ``numpy.save``/``savez``; PyTorch ``state_dict`` files are written
in torch's own zip and legacy layouts by hand (torch is not a dependency); ONNX and HDF5 files
with their own libraries.
"""

from __future__ import annotations

import io
import itertools
import json
import pickle
from collections.abc import Callable
from pathlib import Path
from typing import Any

import containers as ct
import joblib
import numpy as np
from corpus_malicious import Sample
from pickle_asm import Asm

CLAMP_FILE = ("clamp", "ClaMP_Raw-5184.csv.gz")


def load_clamp(data_dir: Path, rows: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """ClaMP raw PE-header features (numeric, nulls as 0) and the malware label."""
    import polars as pl
    frame = pl.read_csv(data_dir.joinpath(*CLAMP_FILE), infer_schema_length=10_000)
    numeric = [c for c, t in frame.schema.items() if t.is_numeric() and c != "class"]
    frame = frame.sample(n=min(rows, frame.height), seed=seed)
    x = frame.select(numeric).fill_null(0).to_numpy().astype(np.float64)
    y = frame["class"].to_numpy().astype(np.int64)
    return x, y


def _estimators(seed: int) -> list[tuple[str, Any]]:
    from sklearn.cluster import KMeans
    from sklearn.decomposition import PCA
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        GradientBoostingClassifier,
        HistGradientBoostingClassifier,
        IsolationForest,
        RandomForestClassifier,
    )
    from sklearn.linear_model import LogisticRegression, SGDClassifier
    from sklearn.naive_bayes import GaussianNB
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer, StandardScaler
    from sklearn.svm import SVC
    from sklearn.tree import DecisionTreeClassifier

    scaled = make_pipeline
    return [
        ("random_forest", RandomForestClassifier(n_estimators=10, max_depth=8, random_state=seed)),
        ("extra_trees", ExtraTreesClassifier(n_estimators=10, max_depth=8, random_state=seed)),
        ("gradient_boosting", GradientBoostingClassifier(n_estimators=10, random_state=seed)),
        ("hist_gradient_boosting", HistGradientBoostingClassifier(max_iter=10,
                                                                  random_state=seed)),
        ("isolation_forest", IsolationForest(n_estimators=20, random_state=seed)),
        ("logistic_pipeline", scaled(StandardScaler(), LogisticRegression(max_iter=300))),
        ("svc_pipeline", scaled(StandardScaler(), SVC(C=1.0))),
        ("knn_pipeline", scaled(StandardScaler(), KNeighborsClassifier(5))),
        ("gaussian_nb", GaussianNB()),
        ("decision_tree", DecisionTreeClassifier(max_depth=6, random_state=seed)),
        ("pca_kmeans", scaled(StandardScaler(), PCA(5, random_state=seed),
                              KMeans(3, n_init=1, random_state=seed))),
        ("mlp_pipeline", scaled(StandardScaler(), MLPClassifier((16,), max_iter=50,
                                                                random_state=seed))),
        ("log1p_sgd", scaled(FunctionTransformer(np.log1p), StandardScaler(),
                             SGDClassifier(random_state=seed))),
    ]


_FORMATS = [("pickle", 2), ("pickle", 4), ("pickle", 5), ("joblib", None), ("joblib", "zlib"),
            ("joblib", "gzip"), ("joblib", "bz2"), ("joblib", "xz"), ("joblib", "lzma")]
_EXT = {None: "joblib", "zlib": "joblib.z", "gzip": "joblib.gz", "bz2": "joblib.bz2",
        "xz": "joblib.xz", "lzma": "joblib.lzma"}


def _dump(model: Any, how: str, arg: Any) -> bytes:
    if how == "pickle":
        return pickle.dumps(model, protocol=int(arg))
    buf = io.BytesIO()
    joblib.dump(model, buf, compress=(arg, 3) if arg else 0)
    return buf.getvalue()


def _ml_samples(x: np.ndarray, y: np.ndarray, seed: int) -> list[Sample]:
    import warnings

    import lightgbm as lgb
    samples: list[Sample] = []
    fitted: list[tuple[str, Any]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, est in _estimators(seed):
            fitted.append((name, est.fit(np.abs(x), y)))
        clf = lgb.LGBMClassifier(n_estimators=20, num_leaves=15, verbose=-1, random_state=seed)
        fitted.append(("lightgbm_classifier", clf.fit(x, y)))
        booster = lgb.train({"objective": "binary", "verbose": -1, "num_leaves": 15},
                            lgb.Dataset(x, y), num_boost_round=20)
        fitted.append(("lightgbm_booster", booster))
    for i, (name, model) in enumerate(fitted):
        for how, arg in (_FORMATS[i % len(_FORMATS)], _FORMATS[(i + 4) % len(_FORMATS)]):
            ext = "pkl" if how == "pickle" else _EXT[arg]
            label = f"{name}_{how}{arg if how == 'pickle' else ''}_{arg or 'raw'}"
            data = _dump(model, how, arg)
            samples.append(Sample(label, "sklearn_lightgbm", f"{label}.{ext}",
                                  lambda d=data: d, malicious=False))
    return samples


def _numpy_samples(x: np.ndarray) -> list[Sample]:
    def save(arr: np.ndarray, allow: bool = False) -> bytes:
        buf = io.BytesIO()
        np.save(buf, arr, allow_pickle=allow)
        return buf.getvalue()

    def savez(compressed: bool) -> bytes:
        buf = io.BytesIO()
        (np.savez_compressed if compressed else np.savez)(buf, features=x[:200],
                                                           mean=x.mean(0), std=x.std(0))
        return buf.getvalue()

    structured = np.zeros(5, dtype=[("id", "<i8"), ("score", "<f4")])
    labels = np.array(["benign", "malware", None], dtype=object)
    items: list[tuple[str, str, Callable[[], bytes]]] = [
        ("npy_features", "features.npy", lambda: save(x[:500])),
        ("npy_fortran", "fortran.npy", lambda: save(np.asfortranarray(x[:50]))),
        ("npy_structured", "structured.npy", lambda: save(structured)),
        ("npy_object_strings", "labels.npy", lambda: save(labels, allow=True)),
        ("npz_plain", "stats.npz", lambda: savez(False)),
        ("npz_compressed", "stats_c.npz", lambda: savez(True)),
    ]
    return [Sample(n, "numpy", f, b, malicious=False) for n, f, b in items]


def _state_dict_pickle(shapes: dict[str, tuple[int, ...]], storage: str) -> bytes:
    """``data.pkl`` as ``torch.save(model.state_dict())`` writes it (protocol 2, BINPUT memo)."""
    a = Asm().proto(2).glob("collections", "OrderedDict").binput(0).empty_tuple().reduce()
    a.binput(1).mark()
    memo = 2
    for key, (name, shape) in enumerate(shapes.items()):
        a.text(name).binput(memo).glob("torch._utils", "_rebuild_tensor_v2").binput(memo + 1)
        numel = int(np.prod(shape))
        a.mark().mark().text("storage").glob("torch", storage).text(str(key)).text("cpu")
        a.int_(numel).tuple_().binpersid().int_(0).mark()
        for d in shape:
            a.int_(d)
        a.tuple_().mark()
        for s in np.cumprod((1, *shape[:0:-1]))[::-1]:
            a.int_(int(s))
        a.tuple_().false().glob("collections", "OrderedDict").empty_tuple().reduce()
        a.tuple_().reduce().binput(memo + 2)
        memo += 3
    a.setitems().empty_dict().text("_metadata").glob("collections", "OrderedDict")
    return a.empty_tuple().reduce().setitem().build().stop().data


def _torch_samples(x: np.ndarray) -> list[Sample]:
    def mlp(sizes: tuple[int, ...], storage: str = "FloatStorage",
            legacy: bool = False) -> bytes:
        shapes: dict[str, tuple[int, ...]] = {}
        for i, (a, b) in enumerate(itertools.pairwise(sizes)):
            shapes[f"layers.{i}.weight"] = (b, a)
            shapes[f"layers.{i}.bias"] = (b,)
        data_pkl = _state_dict_pickle(shapes, storage)
        itemsize = 2 if storage == "HalfStorage" else 4
        unit = np.tanh((x - x.mean(0)) / (x.std(0) + 1e-9)).ravel()
        raws = {str(k): np.resize(unit, int(np.prod(s))).astype(
            np.float16 if itemsize == 2 else np.float32).tobytes()
            for k, s in enumerate(shapes.values())}
        if legacy:
            return ct.legacy_torch(data_pkl, list(raws), b"".join(raws.values()))
        return ct.torch_zip(data_pkl, raws)

    n = x.shape[1]
    items = [
        ("torch_state_dict_mlp", "mlp.pt", lambda: mlp((n, 32, 2))),
        ("torch_state_dict_deep", "deep.pth", lambda: mlp((n, 64, 32, 16, 1))),
        ("torch_state_dict_fp16", "half.pt", lambda: mlp((n, 8, 2), "HalfStorage")),
        ("torch_state_dict_legacy", "legacy_mlp.pt", lambda: mlp((n, 16, 2), legacy=True)),
    ]
    return [Sample(name, "pytorch", f, b, malicious=False) for name, f, b in items]


def _onnx_hdf5_samples(x: np.ndarray) -> list[Sample]:
    def onnx_mlp() -> bytes:
        from onnx import TensorProto, helper, numpy_helper
        w = numpy_helper.from_array(np.resize(x.ravel(), (x.shape[1], 2)).astype(np.float32),
                                    "w")
        nodes = [helper.make_node("MatMul", ["x", "w"], ["h"]),
                 helper.make_node("Relu", ["h"], ["y"])]
        graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info(
            "x", TensorProto.FLOAT, [None, x.shape[1]])], [helper.make_tensor_value_info(
            "y", TensorProto.FLOAT, [None, 2])], initializer=[w])
        return helper.make_model(graph).SerializeToString()

    def keras_h5() -> bytes:
        import h5py
        config = {"class_name": "Sequential", "config": {"layers": [
            {"class_name": "Dense", "config": {"units": 2, "activation": "relu"}}]}}
        buf = io.BytesIO()
        with h5py.File(buf, "w") as handle:
            handle.attrs["model_config"] = json.dumps(config)
            handle.create_dataset("model_weights/dense/kernel", data=x[:8, :2])
        return buf.getvalue()

    def keras_zip() -> bytes:
        config = {"module": "keras", "class_name": "Sequential", "config": {"layers": [
            {"module": "keras.layers", "class_name": "Dense", "config": {"units": 2}}]}}
        return ct.zip_of({"config.json": json.dumps(config).encode(),
                          "metadata.json": b'{"keras_version": "3.5.0"}',
                          "model.weights.h5": keras_h5()})

    return [Sample("onnx_mlp", "onnx_keras", "mlp.onnx", onnx_mlp, malicious=False),
            Sample("keras_h5_dense", "onnx_keras", "dense.h5", keras_h5, malicious=False),
            Sample("keras_zip_dense", "onnx_keras", "dense.keras", keras_zip, malicious=False)]


def benign_samples(data_dir: Path, seed: int = 0, rows: int = 1500) -> list[Sample]:
    """Every benign sample, trained on ``rows`` ClaMP rows drawn with ``seed``."""
    x, y = load_clamp(data_dir, rows, seed)
    return (_ml_samples(x, y, seed) + _numpy_samples(x) + _torch_samples(x)
            + _onnx_hdf5_samples(x))


__all__ = ["CLAMP_FILE", "benign_samples", "load_clamp"]
