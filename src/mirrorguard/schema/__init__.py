"""The event vocabulary: ECS field names, their dtypes, and frame validation."""

from mirrorguard.schema.fields import FIELDS, SCHEMA_VERSION, TIMESTAMP, field_dtype
from mirrorguard.schema.frame import (
    REJECT_SCHEMA,
    EventFrame,
    conform,
    empty_rejects,
    validate_frame,
)

__all__ = [
    "FIELDS",
    "REJECT_SCHEMA",
    "SCHEMA_VERSION",
    "TIMESTAMP",
    "EventFrame",
    "conform",
    "empty_rejects",
    "field_dtype",
    "validate_frame",
]
