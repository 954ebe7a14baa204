"""Runs the pipeline: ingest into the store (local micro-batches); the Dask engine comes later."""
