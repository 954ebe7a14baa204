"""The embedded store: one DuckDB file holding events, quarantine and the ingest manifest."""

from mirrorguard.store.duckdb_store import DuckDBStore

__all__ = ["DuckDBStore"]
