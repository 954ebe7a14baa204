"""Settings are data: one pydantic model, validated when loaded, unknown keys are errors.

No process-wide singleton: callers build a :class:`Settings` and pass it down.

>>> s = Settings.model_validate({"store": {"path": "x.duckdb"}})
>>> s.store.path.name
'x.duckdb'
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from mirrorguard.errors import ConfigError

_STRICT = ConfigDict(extra="forbid", frozen=True)


class StoreSettings(BaseModel):
    """Where events, alerts and the ledger live."""

    model_config = _STRICT
    path: Path = Field(default=Path("mirrorguard.duckdb"), description="DuckDB file")
    threads: int = Field(default=0, ge=0, description="DuckDB threads (0 = all cores)")
    memory_limit: str | None = Field(default=None, description="DuckDB memory limit, e.g. 4GB")
    segment_min_rows: int = Field(
        default=10_000, ge=0,
        description="a batch of at least this many rows of one dataset is written as a Parquet "
        "segment beside the DuckDB file (about 3x cheaper than a DuckDB insert) and read through "
        "the same events view; 0 = always insert into DuckDB tables",
    )


class IngestSettings(BaseModel):
    """How files are read and normalised."""

    model_config = _STRICT
    batch_records: int = Field(default=200_000, ge=1, description="records per micro-batch")
    batch_bytes: int = Field(
        default=16 * 1024 * 1024, ge=4096, description="bytes of input per micro-batch (text)"
    )
    commit_records: int = Field(
        default=250_000, ge=1,
        description="a source larger than this commits every this many records (bounds memory; "
        "a killed run's partial rows are discarded and the source redone on the next run)",
    )
    max_record_bytes: int = Field(
        default=1_048_576, ge=1024, description="longer records are quarantined"
    )
    keep_original: bool = Field(default=False, description="keep event.original for forensics")
    workers: int = Field(
        default=1, ge=0,
        description="processes for one large EVTX file (0 = one per core); on 2 cores a pool "
        "costs more than it gives, so it is off by default",
    )
    quarantine_raw_bytes: int = Field(
        default=65_536, ge=0, description="bytes of a rejected record kept in quarantine"
    )
    field_maps: list[Path] = Field(
        default_factory=list, description="YAML field maps for generic JSON-lines/CSV sources"
    )


class PrivacySettings(BaseModel):
    """Keyed pseudonymisation at ingest; off by default."""

    model_config = _STRICT
    enabled: bool = False
    key_env: str = Field(
        default="MIRRORGUARD_PSEUDONYM_KEY",
        description="name of the environment variable holding the key (never the key itself)",
    )
    fields: list[str] = Field(
        default_factory=lambda: [
            "user.name",
            "source.user.name",
            "destination.user.name",
            "host.name",
            "winlog.computer_name",
            "user.email",
            "email.from.address",
            "email.to.address",
        ]
    )
    ip_fields: list[str] = Field(
        default_factory=lambda: ["source.ip", "destination.ip", "host.ip", "client.ip"]
    )

    @field_validator("key_env")
    @classmethod
    def _looks_like_env_name(cls, v: str) -> str:
        if not v.replace("_", "").isalnum() or v[0].isdigit():
            raise ValueError("key_env must be an environment variable name, not a key")
        return v

    def key(self) -> bytes | None:
        """The key bytes, read from the referenced environment variable (None if unset)."""
        raw = os.environ.get(self.key_env)
        return raw.encode() if raw else None


class GuardSettings(BaseModel):
    """Keys for signing and verifying models and ledger seals (references, never key bytes),
    and what every detector ``fit`` does with training data the poisoning screen flags."""

    model_config = _STRICT
    training_policy: Literal["quarantine", "block", "warn", "off"] = Field(
        default="quarantine",
        description="training-data screen in every fit: quarantine flagged rows, block the "
        "fit, warn only, or off",
    )
    training_chunk_rows: int = Field(
        default=20_000, ge=1_000,
        description="labelled training sets larger than this are screened in chunks of at "
        "most this many rows (the label screen is quadratic within a chunk)",
    )
    signing_key: str | None = Field(
        default=None, description="private key reference: env:NAME or file:PATH"
    )
    trusted_keys: list[str] = Field(
        default_factory=list, description="public key references trusted for verification"
    )

    @field_validator("signing_key")
    @classmethod
    def _is_reference(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("env:", "file:")):
            raise ValueError("signing_key must be a reference (env:NAME or file:PATH)")
        return v

    @field_validator("trusted_keys")
    @classmethod
    def _are_references(cls, v: list[str]) -> list[str]:
        bad = [k for k in v if not k.startswith(("env:", "file:"))]
        if bad:
            raise ValueError("trusted_keys must be references (env:NAME or file:PATH)")
        return v


class BenchSettings(BaseModel):
    """Where benchmark data lives."""

    model_config = _STRICT
    data_dir: Path = Path("../shared/data")


class Settings(BaseModel):
    """All of mirrorguard's settings."""

    model_config = _STRICT
    store: StoreSettings = StoreSettings()
    ingest: IngestSettings = IngestSettings()
    privacy: PrivacySettings = PrivacySettings()
    guard: GuardSettings = GuardSettings()
    bench: BenchSettings = BenchSettings()
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    def with_overrides(self, **sections: dict[str, Any]) -> Settings:
        """A copy with some section fields replaced (validated again)."""
        data = self.model_dump()
        for name, values in sections.items():
            data[name] = {**data[name], **{k: v for k, v in values.items() if v is not None}}
        return _validate(data, source="flags")


def _validate(data: dict[str, Any], source: str) -> Settings:
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            f"invalid setting {where!r}: {first['msg']}", file=source
        ) from exc


def load_settings(path: Path | None) -> Settings:
    """Load settings from an explicit TOML file; ``None`` gives the defaults.

    There is no ambient lookup: a file in the working directory is not read unless named.
    """
    if path is None:
        return Settings()
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError("settings file not found", file=str(path)) from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", file=str(path)) from exc
    return _validate(data, source=str(path))
