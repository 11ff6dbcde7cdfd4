"""Reviews finished in Label Studio, recorded as PMG feedback: a reviewed value that differs from what
the pipeline extracted is a field correction, a review that changes nothing is an approval. The
comparison is against the extraction of the document's latest pipeline run in the PMG, because that
is what the reviewer was shown. A review of a document the PMG has never seen is counted, not
recorded: feedback never dangles."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sap_llm_core.pmg import Feedback, FeedbackKind, ProcessMemoryGraph
from sap_llm_core.schema import DocumentRecord

SOURCE = "label_studio"


def _latest_extraction(history: dict[str, Any]) -> dict[str, Any] | None:
    run = history["document"].get("pipeline_run")
    extractions = history.get("extractions") or []
    latest = [e for e in extractions if run is None or e.get("pipeline_run") == run]
    return (latest or extractions or [None])[-1]


def record_review_feedback(
    graph: ProcessMemoryGraph, reviewed: Iterable[DocumentRecord], author: str = "label_studio"
) -> dict[str, int]:
    """Feedback for every reviewed document; returns counts by outcome (they add up to the input)."""
    counts = {"field_corrections": 0, "approvals": 0, "not_in_pmg": 0, "no_extraction": 0}
    for record in reviewed:
        try:
            history = graph.document_history(record.id, max_depth=1)
        except KeyError:
            counts["not_in_pmg"] += 1
            continue
        extraction = _latest_extraction(history)
        if extraction is None:
            counts["no_extraction"] += 1
            continue
        extracted = (extraction.get("extraction") or {}).get("header") or {}
        reviewed_values = record.ground_truth_json()
        reviewed_header = reviewed_values.get("header", reviewed_values)
        changed = sorted(
            (key, extracted.get(key), value)
            for key, value in reviewed_header.items()
            if isinstance(value, str) and key in extracted and extracted.get(key) != value
        )
        for key, old, new in changed:
            graph.record_feedback(
                Feedback(
                    document_id=record.id,
                    kind=FeedbackKind.FIELD_CORRECTION,
                    author=author,
                    source=SOURCE,
                    field=f"header.{key}",
                    old_value=old,
                    new_value=new,
                ),
                target_id=extraction["_id"],
            )
        if changed:
            counts["field_corrections"] += len(changed)
        else:
            graph.record_feedback(
                Feedback(document_id=record.id, kind=FeedbackKind.APPROVAL, author=author, source=SOURCE),
                target_id=extraction["_id"],
            )
            counts["approvals"] += 1
    return counts
