"""The guard: security for the models and the decisions (data, artifacts, runtime, redteam,
ledger)."""
