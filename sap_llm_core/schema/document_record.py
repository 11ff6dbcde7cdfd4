"""Unified document record: one pydantic model for validation and one Arrow schema for storage.

Every source (synthetic, FUNSD, CORD, SROIE, RVL-CDIP, QorSync, Label Studio) maps into this shape,
so the Spark unification, the splits and the models see a single schema. Ground truth is kept as a
JSON string because its shape depends on the document type; ``field_spans`` ties each ground-truth
value to the word indices it was read from, which is what field detection needs for BIO labels.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

BOX_MAX = 1000


class FieldSpan(BaseModel):
    model_config = ConfigDict(frozen=True)

    field: str = Field(description="Path of the value in the ground truth, e.g. line_items[0].quantity")
    label: str = Field(description="Entity label used for BIO tags, e.g. quantity")
    word_indices: list[int]


class DocumentRecord(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1)
    source: str = Field(min_length=1)
    document_type: str = Field(min_length=1)
    subtype: str | None = None
    language: str = Field(min_length=2)
    pdf_path: str | None = None
    image_path: str | None = None
    page_width: float = Field(gt=0)
    page_height: float = Field(gt=0)
    ocr_text: str
    words: list[str]
    boxes: list[list[int]]
    ground_truth: str = "{}"
    field_spans: list[FieldSpan] = Field(default_factory=list)
    extra: str = "{}"
    content_sha256: str = ""

    @field_validator("boxes")
    @classmethod
    def _boxes_normalised(cls, boxes: list[list[int]]) -> list[list[int]]:
        for i, box in enumerate(boxes):
            if len(box) != 4:
                raise ValueError(f"box {i} has {len(box)} coordinates, expected 4")
            x0, y0, x1, y1 = box
            if not (0 <= x0 <= x1 <= BOX_MAX and 0 <= y0 <= y1 <= BOX_MAX):
                raise ValueError(f"box {i} {box} is not an ordered box in 0..{BOX_MAX}")
        return boxes

    @field_validator("ground_truth", "extra")
    @classmethod
    def _json_object(cls, value: str) -> str:
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc}") from exc
        if not isinstance(parsed, dict):
            raise ValueError("must be a JSON object")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> DocumentRecord:
        if len(self.words) != len(self.boxes):
            raise ValueError(f"{len(self.words)} words but {len(self.boxes)} boxes")
        n = len(self.words)
        for span in self.field_spans:
            bad = [i for i in span.word_indices if not 0 <= i < n]
            if bad:
                raise ValueError(f"field {span.field!r} points at word indices {bad} outside 0..{n - 1}")
        if self.content_sha256 and self.content_sha256 != content_hash(self.words, self.ground_truth):
            raise ValueError("content_sha256 does not match words and ground truth")
        return self

    def ground_truth_json(self) -> dict:
        return json.loads(self.ground_truth)


def content_hash(words: Iterable[str], ground_truth: str) -> str:
    """SHA-256 over the text content, the key for exact-duplicate detection across sources."""
    digest = hashlib.sha256()
    digest.update("\x1f".join(words).encode("utf-8"))
    digest.update(b"\x1e")
    digest.update(ground_truth.encode("utf-8"))
    return digest.hexdigest()


FIELD_SPAN_TYPE = pa.struct(
    [("field", pa.string()), ("label", pa.string()), ("word_indices", pa.list_(pa.int32()))]
)

DOCUMENT_RECORD_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("source", pa.string()),
        ("document_type", pa.string()),
        ("subtype", pa.string()),
        ("language", pa.string()),
        ("pdf_path", pa.string()),
        ("image_path", pa.string()),
        ("page_width", pa.float64()),
        ("page_height", pa.float64()),
        ("ocr_text", pa.string()),
        ("words", pa.list_(pa.string())),
        ("boxes", pa.list_(pa.list_(pa.int16(), 4))),
        ("ground_truth", pa.string()),
        ("field_spans", pa.list_(FIELD_SPAN_TYPE)),
        ("extra", pa.string()),
        ("content_sha256", pa.string()),
    ]
)


def records_to_table(records: Iterable[DocumentRecord]) -> pa.Table:
    rows = [r.model_dump() for r in records]
    return pa.Table.from_pylist(rows, schema=DOCUMENT_RECORD_SCHEMA)


def table_to_records(table: pa.Table) -> list[DocumentRecord]:
    return [DocumentRecord.model_validate(row) for row in table.to_pylist()]
