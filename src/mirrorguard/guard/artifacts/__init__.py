"""Trustworthy models: safe formats, signatures checked before loading, registry, ML-BOM.

This package is the only place that deserialises models. Nothing here unpickles.

* :mod:`.manifest` / :mod:`.canonical` — what is signed: canonical JSON listing every payload
  file's sha256 and size, parameters, training-data fingerprint, ingest ids, code version,
  metrics, parent model and signer key id.
* :mod:`.seal` — :func:`~.seal.seal_model_dir` (write + Ed25519-sign) and
  :func:`~.seal.open_model_dir` (verify signature and every file *before* any payload is
  parsed; the checked bytes are what gets parsed).
* formats — :mod:`.detector_io` (mirrorguard detectors: JSON + ``.npz`` read with
  ``allow_pickle=False``), :mod:`.lightgbm_io` (LightGBM native text), :mod:`.iforest`
  (scikit-learn IsolationForest as explicit arrays with an exact NumPy scorer);
  :mod:`.loader` picks the format from the signed manifest through a fixed table.
* :mod:`.registry` — versions, lineage, stages, gated promotion and rollback in DuckDB.
* :mod:`.bom` — CycloneDX 1.6 ML-BOM per model; :mod:`.openssf` — OpenSSF model-signing
  (Sigstore bundle, DSSE, in-toto) export and offline verification.
* :mod:`.scan` — the scanner for third-party model files (separate owner).

Submodules are imported explicitly (``from mirrorguard.guard.artifacts.seal import …``) so that
importing one part does not pull LightGBM, scikit-learn or DuckDB into the others.
"""
