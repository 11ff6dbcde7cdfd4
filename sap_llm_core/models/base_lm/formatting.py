"""The text format shared by pre-training, fine-tuning and constrained decoding.

Pre-training sees exactly the text the extraction task produces (prompt + tagged-document completion,
see ``tagged``), so the base model already knows the task when LoRA fine-tuning starts: a randomly
initialised model barely learns through LoRA alone. :class:`ExtractionSchema` fixes each type's keys
and their order, which the ADC JSON assembled from the tags follows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sap_llm_core.models.base_lm.tagged import layout, tagged_text, value_spans, word_tags
from sap_llm_core.schema import DocumentRecord

PROMPT_HEADER = "document_type: "


def adc_json(record: DocumentRecord) -> dict[str, Any] | None:
    """``{"header": {...}, "line_items": [...]}`` of a record, or None when it has no ADC ground truth.

    SAP documents carry ``header`` + ``line_items``; flat key -> string ground truth (SROIE receipts)
    counts as a header without line items; anything else (FUNSD entity graphs) is not an extraction
    example for this model.
    """
    gt = record.ground_truth_json()
    if isinstance(gt.get("header"), dict):
        header = {k: v for k, v in gt["header"].items() if isinstance(v, str)}
        items = [
            {k: v for k, v in item.items() if isinstance(v, str)}
            for item in gt.get("line_items") or []
            if isinstance(item, dict)
        ]
        return {"header": header, "line_items": items}
    flat = {k: v for k, v in gt.items() if k not in {"document_type", "subtype", "language"}}
    if flat and all(isinstance(v, str) for v in flat.values()):
        return {"header": flat, "line_items": []}
    return None


def prompt_text(record: DocumentRecord) -> str:
    """The document type; the completion re-writes the document (see ``tagged``), so the prompt needs
    nothing else. Ends on a newline so no token merges across the completion boundary."""
    return f"{PROMPT_HEADER}{record.document_type}\n"


@dataclass
class TypeSchema:
    """Header keys and line-item columns of one document type, in the order they are printed."""

    header: list[str]
    columns: list[str]


@dataclass
class ExtractionSchema:
    """Per document type, the keys the decoder must write. Derived from training ground truth, so a
    new source with its own fields needs no code change; saved next to the model."""

    types: dict[str, TypeSchema] = field(default_factory=dict)

    @classmethod
    def from_records(cls, records: list[DocumentRecord]) -> ExtractionSchema:
        """Keys ordered by their mean word position in the documents (printed order), then by name."""
        header_pos: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        column_pos: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
        for record in records:
            adc = adc_json(record)
            if adc is None:
                continue
            spans = {s.field: min(s.word_indices) for s in record.field_spans if s.word_indices}
            n = max(len(record.words), 1)
            for i, key in enumerate(adc["header"]):
                pos = spans.get(f"header.{key}", spans.get(key))
                header_pos[record.document_type][key].append(pos / n if pos is not None else 1.0 + i)
            for row, item in enumerate(adc["line_items"]):
                for i, col in enumerate(item):
                    pos = spans.get(f"line_items[{row}].{col}")
                    column_pos[record.document_type][col].append(pos if pos is not None else 1e6 + i)
        types: dict[str, TypeSchema] = {}
        for doc_type in sorted(set(header_pos) | set(column_pos)):

            def ordered(positions: dict[str, list[float]]) -> list[str]:
                return sorted(positions, key=lambda k: (sum(positions[k]) / len(positions[k]), k))

            types[doc_type] = TypeSchema(ordered(header_pos[doc_type]), ordered(column_pos[doc_type]))
        return cls(types)

    def to_json(self) -> dict[str, Any]:
        return {t: {"header": s.header, "columns": s.columns} for t, s in sorted(self.types.items())}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ExtractionSchema:
        return cls({t: TypeSchema(list(s["header"]), list(s["columns"])) for t, s in data.items()})


def completion_text(record: DocumentRecord, schema: ExtractionSchema) -> str | None:
    """The document's OCR text with a field tag after every value word (see ``tagged``); None when the
    record has no ADC ground truth of a known type."""
    adc = adc_json(record)
    type_schema = schema.types.get(record.document_type)
    if adc is None or type_schema is None:
        return None
    spans = value_spans(record, adc, type_schema)
    return tagged_text(record, word_tags(len(layout(record)), spans))


def render_adc(adc: dict[str, Any], type_schema: TypeSchema) -> str:
    header = {k: adc["header"].get(k) for k in type_schema.header}
    items = [{c: item.get(c) for c in type_schema.columns} for item in adc["line_items"]]
    return json.dumps({"header": header, "line_items": items}, ensure_ascii=False, separators=(",", ":"))


def pretraining_text(record: DocumentRecord, schema: ExtractionSchema) -> str:
    """Prompt + completion: the tagged document, or the plain document if it has no ground truth."""
    completion = completion_text(record, schema)
    if completion is None:
        completion = tagged_text(record, [""] * len(layout(record)))
    return prompt_text(record) + completion
