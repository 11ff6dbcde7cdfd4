"""Quarantine rows: what was set aside, by which stage, and why. Nothing is dropped silently."""

from __future__ import annotations

import pyarrow as pa
from pydantic import BaseModel, Field


class QuarantineRecord(BaseModel):
    id: str
    source: str
    stage: str = Field(description="Which step set it aside, e.g. synthetic_documents.validate")
    reason: str
    payload: str = Field("{}", description="JSON of the offending record, or as much of it as parsed")


QUARANTINE_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("payload", pa.string()),
    ]
)
