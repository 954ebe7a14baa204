"""Suite ``models``: signed model fidelity, tamper refusal and verification cost on NSL-KDD."""

from mirrorguard.guard.artifacts.measure import run

__all__ = ["run"]
