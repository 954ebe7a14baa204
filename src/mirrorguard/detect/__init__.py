"""Detectors: learned and rule-based scorers under one contract (see ``base.py``)."""
