"""User-facing interfaces: CLI, HTTP API, web console."""
