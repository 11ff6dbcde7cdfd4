"""Historical documents from the QorSync PostgreSQL database, with SQLAlchemy.

QorSync keeps three tables (DDL in ``qorsync_schema.sql`` beside this file):

* ``documents``: id, document_type, language, page size, ``ocr_text``, ``words`` (JSON list of
  ``{"text", "box": [x0, y0, x1, y1]}`` in page pixels), ``created_at``, ``updated_at``;
* ``extractions``: what the production model read per field (value, confidence, model version);
* ``validations``: what a person did with each field (``approved`` / ``corrected`` / ``rejected``).

Ground truth is what people confirmed: a corrected value, or the extracted value they approved.
Rejected or never-validated fields stay out of the ground truth and mark the document
``needs_review`` (the Label Studio bridge pushes those). Extraction is windowed by ``created_at``
(``start_date``/``end_date``) and incremental by a watermark: the latest change of a document, its
extractions or its validations, so a late correction brings the document back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from sap_llm_core.corpus.config import QorSyncSettings
from sap_llm_core.corpus.document_types import ALLOWED_DOCUMENT_TYPES, UNKNOWN
from sap_llm_core.corpus.loaders.common import (
    BadDocument,
    LoadResult,
    add_document,
    clean_text,
    make_record,
    normalise_box,
)
from sap_llm_core.schema import DocumentRecord, FieldSpan

SOURCE = "qorsync"
SCHEMA_SQL = Path(__file__).with_name("qorsync_schema.sql")

_CANDIDATES = sa.text(
    """
    SELECT d.id, d.document_type, d.language, d.page_width, d.page_height, d.ocr_text,
           CAST(d.words AS TEXT) AS words, d.file_uri, d.created_at,
           GREATEST(d.updated_at,
                    COALESCE(MAX(e.extracted_at), d.updated_at),
                    COALESCE(MAX(v.validated_at), d.updated_at)) AS changed_at
    FROM documents d
    LEFT JOIN extractions e ON e.document_id = d.id
    LEFT JOIN validations v ON v.document_id = d.id
    WHERE (CAST(:start AS TIMESTAMPTZ) IS NULL OR d.created_at >= CAST(:start AS TIMESTAMPTZ))
      AND (CAST(:end AS TIMESTAMPTZ) IS NULL OR d.created_at < CAST(:end AS TIMESTAMPTZ))
    GROUP BY d.id
    HAVING CAST(:watermark AS TIMESTAMPTZ) IS NULL
        OR GREATEST(d.updated_at,
                    COALESCE(MAX(e.extracted_at), d.updated_at),
                    COALESCE(MAX(v.validated_at), d.updated_at)) > CAST(:watermark AS TIMESTAMPTZ)
    ORDER BY d.id
    """
)
_EXTRACTIONS = sa.text(
    """
    SELECT document_id, field_name, field_value, confidence, model_version, extracted_at
    FROM extractions WHERE document_id = ANY(:ids) ORDER BY document_id, field_name, extracted_at, id
    """
)
_VALIDATIONS = sa.text(
    """
    SELECT document_id, field_name, status, corrected_value, validated_at
    FROM validations WHERE document_id = ANY(:ids) ORDER BY document_id, field_name, validated_at, id
    """
)


@dataclass
class QorSyncBatch:
    result: LoadResult
    watermark: str | None
    extracted_ids: list[str] = field(default_factory=list)


def _ground_truth(
    extractions: list[dict[str, Any]], validations: list[dict[str, Any]], min_confidence: float
) -> tuple[dict[str, str], dict[str, Any]]:
    latest_extraction: dict[str, dict[str, Any]] = {}
    for row in extractions:  # ordered by time: the last one wins
        latest_extraction[row["field_name"]] = row
    latest_validation: dict[str, dict[str, Any]] = {}
    for row in validations:
        latest_validation[row["field_name"]] = row
    truth: dict[str, str] = {}
    rejected, unvalidated, low_confidence = [], [], []
    for name in sorted(set(latest_extraction) | set(latest_validation)):
        validation = latest_validation.get(name)
        extraction = latest_extraction.get(name)
        if validation is None:
            unvalidated.append(name)
        elif validation["status"] == "corrected" and validation["corrected_value"] is not None:
            truth[name] = clean_text(str(validation["corrected_value"]))
        elif validation["status"] == "approved" and extraction is not None:
            if (extraction["confidence"] or 0.0) < min_confidence:
                low_confidence.append(name)
            else:
                truth[name] = clean_text(str(extraction["field_value"] or ""))
        else:
            rejected.append(name)
    review = {
        "rejected_fields": rejected,
        "unvalidated_fields": unvalidated,
        "low_confidence_fields": low_confidence,
        "needs_review": bool(rejected or unvalidated),
        "model_versions": sorted({str(e["model_version"]) for e in extractions if e["model_version"]}),
    }
    return truth, review


def _spans(words: list[str], truth: dict[str, str]) -> list[FieldSpan]:
    spans = []
    for name, value in truth.items():
        target = value.split()
        for start in range(len(words) - len(target) + 1):
            if target and words[start : start + len(target)] == target:
                spans.append(
                    FieldSpan(field=name, label=name, word_indices=list(range(start, start + len(target))))
                )
                break
    return spans


def _build(
    row: dict[str, Any], extractions: list, validations: list, min_confidence: float
) -> DocumentRecord:
    width, height = float(row["page_width"] or 0), float(row["page_height"] or 0)
    try:
        raw_words = json.loads(row["words"] or "[]")
    except json.JSONDecodeError as exc:
        raise BadDocument(f"documents.words is not valid JSON: {exc}") from exc
    if not isinstance(raw_words, list):
        raise BadDocument("documents.words is not a JSON list")
    words: list[str] = []
    boxes: list[list[int]] = []
    for n, item in enumerate(raw_words):
        if not isinstance(item, dict) or "text" not in item or len(item.get("box") or []) != 4:
            raise BadDocument(f"documents.words[{n}] is not {{text, box[4]}}")
        text = clean_text(str(item["text"]))
        if text:
            boxes.append(normalise_box(*item["box"], width, height))
            words.append(text)
    document_type = str(row["document_type"] or "").strip().upper()
    extra: dict[str, Any] = {}
    if document_type not in ALLOWED_DOCUMENT_TYPES:
        extra["qorsync_document_type"] = row["document_type"]
        document_type = UNKNOWN
    truth, review = _ground_truth(extractions, validations, min_confidence)
    extra.update(review)
    extra["changed_at"] = row["changed_at"].isoformat()
    ground_truth = json.dumps(truth, sort_keys=True, ensure_ascii=False)
    return make_record(
        id=f"{SOURCE}:{row['id']}",
        source=SOURCE,
        document_type=document_type,
        language=(row["language"] or "EN").upper(),
        pdf_path=row["file_uri"],
        page_width=width,
        page_height=height,
        ocr_text=clean_text(row["ocr_text"] or " ".join(words)),
        words=words,
        boxes=boxes,
        ground_truth=ground_truth,
        field_spans=_spans(words, truth),
        extra=json.dumps(extra, sort_keys=True, default=str),
    )


def extract(engine: sa.Engine, settings: QorSyncSettings, watermark: str | None = None) -> QorSyncBatch:
    """Documents in the date window changed after ``watermark`` (all when ``None``)."""
    result = LoadResult(SOURCE)
    params = {"start": settings.start_date, "end": settings.end_date, "watermark": watermark}
    new_watermark: datetime | None = datetime.fromisoformat(watermark) if watermark else None
    ids: list[str] = []
    with engine.connect() as connection:
        candidates = [dict(r._mapping) for r in connection.execute(_CANDIDATES, params)]
        for start in range(0, len(candidates), settings.batch_size):
            batch = candidates[start : start + settings.batch_size]
            batch_ids = [r["id"] for r in batch]
            extractions: dict[str, list] = {}
            for r in connection.execute(_EXTRACTIONS, {"ids": batch_ids}):
                extractions.setdefault(r.document_id, []).append(dict(r._mapping))
            validations: dict[str, list] = {}
            for r in connection.execute(_VALIDATIONS, {"ids": batch_ids}):
                validations.setdefault(r.document_id, []).append(dict(r._mapping))
            for row in batch:
                ids.append(row["id"])
                if new_watermark is None or row["changed_at"] > new_watermark:
                    new_watermark = row["changed_at"]
                add_document(
                    result,
                    f"{SOURCE}:{row['id']}",
                    lambda r=row, e=extractions.get(row["id"], []), v=validations.get(row["id"], []): _build(
                        r, e, v, settings.min_confidence
                    ),
                    {"qorsync_id": row["id"], "document_type": row["document_type"]},
                )
    for q in result.quarantine:
        q.stage = "qorsync_documents.extract"
    return QorSyncBatch(result, new_watermark.isoformat() if new_watermark else None, ids)


def create_schema(engine: sa.Engine) -> None:
    """Create the QorSync tables (tests and local demos; production already has them)."""
    with engine.begin() as connection:
        connection.exec_driver_sql(SCHEMA_SQL.read_text())
