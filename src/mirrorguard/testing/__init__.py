"""Conformance checks any parser or detector can be run through."""
