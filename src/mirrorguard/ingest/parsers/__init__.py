"""One module per input format; the list of parsers lives in :mod:`mirrorguard.ingest.registry`."""
