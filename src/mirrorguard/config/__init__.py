"""Typed settings, loaded from an explicit ``mirrorguard.toml`` or built from flags."""

from mirrorguard.config.settings import (
    IngestSettings,
    PrivacySettings,
    Settings,
    StoreSettings,
    load_settings,
)

__all__ = ["IngestSettings", "PrivacySettings", "Settings", "StoreSettings", "load_settings"]
