"""Feature extraction: per-event and per-entity features, log templates, session sequences."""
