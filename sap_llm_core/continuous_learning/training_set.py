"""The feedback training set: corrected documents plus a replay sample of the original data.

A field correction rewrites one ground-truth value; the new value must be words of the document (the
extractor copies, it does not invent), so its span is looked up in the words and a correction whose
value is not on the page goes to quarantine with that reason rather than into training. Mixing in a
seeded replay sample of the original training split keeps the adapter from forgetting the rest.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from sap_llm_core.schema import DocumentRecord, FieldSpan, QuarantineRecord
from sap_llm_core.schema.document_record import content_hash

STAGE = "feedback_training_set"


@dataclass
class FeedbackTrainingSet:
    corrected: list[DocumentRecord]
    replay: list[DocumentRecord]
    routing_labels: list[dict[str, Any]]
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    correction_ids: list[str] = field(default_factory=list)
    field_corrections_applied: int = 0

    @property
    def records(self) -> list[DocumentRecord]:
        return self.corrected + self.replay


def find_span(words: list[str], value: str) -> list[int] | None:
    """Indices of the first run of consecutive words that spells ``value``."""
    target = value.split()
    if not target:
        return None
    for start in range(len(words) - len(target) + 1):
        if words[start : start + len(target)] == target:
            return list(range(start, start + len(target)))
    return None


def _set_value(ground_truth: dict, path: str, value: str) -> None:
    if path.startswith("header."):
        ground_truth.setdefault("header", {})[path.split(".", 1)[1]] = value
        return
    if path.startswith("line_items["):
        index, key = path[len("line_items[") :].split("].", 1)
        ground_truth["line_items"][int(index)][key] = value
        return
    raise ValueError(f"unsupported ground-truth path {path!r}")


def apply_field_corrections(
    record: DocumentRecord, corrections: list[dict[str, Any]]
) -> tuple[DocumentRecord | None, str | None]:
    ground_truth = record.ground_truth_json()
    spans = {s.field: s for s in record.field_spans}
    for c in corrections:
        indices = find_span(record.words, c["new_value"])
        if indices is None:
            return (
                None,
                f"{c['_id']}: corrected value {c['new_value']!r} for {c['field']} is not in the words",
            )
        try:
            _set_value(ground_truth, c["field"], c["new_value"])
        except (ValueError, IndexError) as exc:
            return None, f"{c['_id']}: {exc}"
        label = c["field"].rsplit(".", 1)[-1]
        spans[c["field"]] = FieldSpan(field=c["field"], label=label, word_indices=indices)
    text = json.dumps(ground_truth, ensure_ascii=False, sort_keys=True)
    corrected = record.model_copy(
        update={
            "ground_truth": text,
            "field_spans": [spans[k] for k in sorted(spans)],
            "content_sha256": content_hash(record.words, text),
        }
    )
    return DocumentRecord.model_validate(corrected.model_dump()), None


def replay_sample(
    train: list[DocumentRecord], size: int, seed: int, exclude: set[str]
) -> list[DocumentRecord]:
    """A deterministic sample: the ``size`` records with the smallest seeded hash of their id."""

    def rank(record: DocumentRecord) -> str:
        return hashlib.sha256(f"{seed}:{record.id}".encode()).hexdigest()

    pool = sorted((r for r in train if r.id not in exclude), key=rank)
    return pool[:size]


def build_training_set(
    corrections: list[dict[str, Any]],
    documents: dict[str, DocumentRecord],
    train: list[DocumentRecord],
    replay_ratio: float,
    seed: int,
    held_out: frozenset[str] = frozenset(),
) -> FeedbackTrainingSet:
    """Counts conserved: every correction ends up in a corrected record, a routing label or quarantine.

    Corrections of ``held_out`` (validation/test) documents are quarantined: training on them would
    leak into the very split the retrained adapter is judged on."""
    by_document: dict[str, list[dict[str, Any]]] = {}
    routing_labels: list[dict[str, Any]] = []
    quarantine: list[QuarantineRecord] = []
    for c in corrections:
        reason = (
            f"document {c['document_id']} is not in the corpus"
            if c["document_id"] not in documents
            else f"document {c['document_id']} is held out for evaluation (val/test split)"
            if c["document_id"] in held_out
            else None
        )
        if reason:
            quarantine.append(
                QuarantineRecord(
                    id=c["_id"],
                    source="pmg",
                    stage=STAGE,
                    reason=reason,
                    payload=json.dumps(c, default=str),
                )
            )
        elif c["kind"] == "field_correction":
            by_document.setdefault(c["document_id"], []).append(c)
        elif c["kind"] == "routing_correction":
            routing_labels.append(
                {"document_id": c["document_id"], "correction_id": c["_id"], **c["routing"]}
            )
    corrected: list[DocumentRecord] = []
    applied = 0
    for document_id in sorted(by_document):
        record, problem = apply_field_corrections(documents[document_id], by_document[document_id])
        if record is None:
            for c in by_document[document_id]:
                quarantine.append(
                    QuarantineRecord(
                        id=c["_id"],
                        source="pmg",
                        stage=STAGE,
                        reason=problem or "",
                        payload=json.dumps(c, default=str),
                    )
                )
        else:
            corrected.append(record)
            applied += len(by_document[document_id])
    replay_size = int(round(replay_ratio * max(len(corrected), 1)))
    replay = replay_sample(train, replay_size, seed, exclude=set(by_document))
    return FeedbackTrainingSet(
        corrected, replay, routing_labels, quarantine, [c["_id"] for c in corrections], applied
    )
