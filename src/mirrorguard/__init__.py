"""mirrorguard: a two-way mirror — AI for security, and security for AI."""

from mirrorguard.errors import MirrorguardError

__all__ = ["MirrorguardError", "__version__"]
__version__ = "0.1.0"
