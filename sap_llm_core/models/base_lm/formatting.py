"""The text format shared by pre-training, fine-tuning and constrained decoding.

Pre-training sees exactly the text the extraction task produces (prompt + ADC JSON completion), so the
base model already knows the layout of the task when LoRA fine-tuning starts: a randomly initialised
model barely learns through LoRA alone. The completion is compact JSON (no spaces after separators)
with keys in a per-type canonical order (:class:`ExtractionSchema`), because the constrained decoder
forces that same order and the model should see at training time what it is made to write later.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sap_llm_core.schema import DocumentRecord

PROMPT_HEADER = "document_type: "
PROMPT_SUFFIX = "\nJSON:\n"


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


def document_text(record: DocumentRecord) -> str:
    """OCR lines when they hold exactly the words (keeps the layout); otherwise the words, spaced."""
    if record.ocr_text.split() == list(record.words):
        return "\n".join(" ".join(line.split()) for line in record.ocr_text.splitlines() if line.strip())
    return " ".join(record.words)


def prompt_text(record: DocumentRecord) -> str:
    """Document type + OCR words; ends on a newline so no token merges across the completion boundary."""
    return f"{PROMPT_HEADER}{record.document_type}\n{document_text(record)}{PROMPT_SUFFIX}"


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
    """The ADC JSON as the model writes it: schema key order, missing keys as null, compact."""
    adc = adc_json(record)
    type_schema = schema.types.get(record.document_type)
    if adc is None or type_schema is None:
        return None
    return render_adc(adc, type_schema)


def render_adc(adc: dict[str, Any], type_schema: TypeSchema) -> str:
    header = {k: adc["header"].get(k) for k in type_schema.header}
    items = [{c: item.get(c) for c in type_schema.columns} for item in adc["line_items"]]
    return json.dumps({"header": header, "line_items": items}, ensure_ascii=False, separators=(",", ":"))


def pretraining_text(record: DocumentRecord, schema: ExtractionSchema) -> str:
    """Prompt + completion: the document followed by its JSON, or the document alone if it has none."""
    completion = completion_text(record, schema)
    return prompt_text(record) + (completion if completion is not None else "")
