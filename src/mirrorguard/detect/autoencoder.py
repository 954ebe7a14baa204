"""A small MLP autoencoder in NumPy: ensemble member with per-feature reconstruction error.

Architecture ``d -> h -> k -> h -> d`` with ``tanh`` hidden layers and a linear output, trained on
benign rows to minimise mean squared reconstruction error with Adam (D. P. Kingma, J. Ba, "Adam: A
Method for Stochastic Optimization", ICLR 2015), He/Glorot-style seeded initialisation and fixed
epochs, so a seed fixes the result. Anomaly score = squared reconstruction error summed over
columns (additive, so per-feature contributions are exact). Reconstruction-error autoencoders
for anomaly detection: M. Sakurada, T. Yairi, MLSDA 2014.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> Z = rng.normal(size=(500, 6))
>>> ae = AutoencoderScorer(epochs=2).fit(Z, seed=0)
>>> ae.score(Z[:3]).shape
(3,)
"""

from __future__ import annotations

from typing import Any, Self

import numpy as np

from mirrorguard.detect.members import MatrixScorer, State

_LAYERS = ("w0", "b0", "w1", "b1", "w2", "b2", "w3", "b3")


class AutoencoderScorer(MatrixScorer):
    """Per-feature squared reconstruction error of a NumPy MLP autoencoder."""

    kind = "autoencoder"

    def __init__(
        self,
        hidden: int = 64,
        code: int = 16,
        epochs: int = 20,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        max_rows: int = 60_000,
    ) -> None:
        self.hidden = hidden
        self.code = code
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_rows = max_rows

    def _init(self, d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
        h, k = min(self.hidden, max(4, d)), min(self.code, max(2, d // 2))
        sizes = [(d, h), (h, k), (k, h), (h, d)]
        params: dict[str, np.ndarray] = {}
        for i, (a, b) in enumerate(sizes):
            params[f"w{i}"] = rng.normal(0.0, np.sqrt(2.0 / (a + b)), size=(a, b))
            params[f"b{i}"] = np.zeros(b)
        return params

    @staticmethod
    def _forward(p: dict[str, np.ndarray], X: np.ndarray) -> list[np.ndarray]:
        a1 = np.tanh(X @ p["w0"] + p["b0"])
        a2 = np.tanh(a1 @ p["w1"] + p["b1"])
        a3 = np.tanh(a2 @ p["w2"] + p["b2"])
        out = a3 @ p["w3"] + p["b3"]
        return [X, a1, a2, a3, out]

    @staticmethod
    def _backward(p: dict[str, np.ndarray], acts: list[np.ndarray]) -> dict[str, np.ndarray]:
        X, a1, a2, a3, out = acts
        g = 2.0 * (out - X) / X.shape[0]
        grads: dict[str, np.ndarray] = {}
        hidden = [a1, a2, a3]
        for i in (3, 2, 1, 0):
            inp = X if i == 0 else hidden[i - 1]
            grads[f"w{i}"] = inp.T @ g
            grads[f"b{i}"] = g.sum(axis=0)
            if i > 0:
                g = (g @ p[f"w{i}"].T) * (1.0 - hidden[i - 1] ** 2)
        return grads

    def fit(self, Z: np.ndarray, seed: int) -> Self:
        rng = np.random.default_rng(seed)
        X = Z if Z.shape[0] <= self.max_rows else Z[rng.choice(Z.shape[0], self.max_rows,
                                                                replace=False)]
        p = self._init(X.shape[1], rng)
        m = {k: np.zeros_like(v) for k, v in p.items()}
        v = {k: np.zeros_like(val) for k, val in p.items()}
        b1, b2, eps, t = 0.9, 0.999, 1e-8, 0
        for _ in range(self.epochs):
            order = rng.permutation(X.shape[0])
            for start in range(0, X.shape[0], self.batch_size):
                batch = X[order[start: start + self.batch_size]]
                grads = self._backward(p, self._forward(p, batch))
                t += 1
                lr = self.learning_rate * np.sqrt(1 - b2**t) / (1 - b1**t)
                for k in _LAYERS:
                    m[k] = b1 * m[k] + (1 - b1) * grads[k]
                    v[k] = b2 * v[k] + (1 - b2) * grads[k] ** 2
                    p[k] = p[k] - lr * m[k] / (np.sqrt(v[k]) + eps)
        self.params_ = p
        return self

    def reconstruct(self, Z: np.ndarray) -> np.ndarray:
        """The autoencoder's reconstruction of ``Z``."""
        return self._forward(self.params_, Z)[-1]

    def contributions(self, Z: np.ndarray) -> np.ndarray:
        err = Z - self.reconstruct(Z)
        return np.asarray(err * err, dtype=np.float64)

    def score(self, Z: np.ndarray, cache: dict[Any, Any] | None = None) -> np.ndarray:
        """Squared reconstruction error, computed in the input's precision."""
        p = {k: v.astype(Z.dtype, copy=False) for k, v in self.params_.items()}
        err = self._forward(p, Z)[-1]
        err -= Z
        return np.asarray(np.einsum("ij,ij->i", err, err), dtype=np.float64)

    def get_state(self) -> State:
        meta = {
            "hidden": self.hidden, "code": self.code, "epochs": self.epochs,
            "batch_size": self.batch_size, "learning_rate": self.learning_rate,
            "max_rows": self.max_rows,
        }
        return meta, dict(self.params_)

    @classmethod
    def from_state(cls, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Self:
        self = cls(
            hidden=int(meta["hidden"]), code=int(meta["code"]), epochs=int(meta["epochs"]),
            batch_size=int(meta["batch_size"]), learning_rate=float(meta["learning_rate"]),
            max_rows=int(meta["max_rows"]),
        )
        self.params_ = {k: np.asarray(arrays[k], dtype=np.float64) for k in _LAYERS}
        return self
