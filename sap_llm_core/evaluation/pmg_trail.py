"""Each document the pipeline processed, written into the Process Memory Graph as the trail a person
reviewing it (or a later retrain) would follow: Document -> Extraction -> RoutingDecision, and an
Exception with the reasons wherever the document could not go straight through. Ids are content
derived, so re-running the same evaluation rewrites the same vertices instead of duplicating them."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sap_llm_core.pmg.graph_store import ProcessMemoryGraph


def record_trails(
    graph: ProcessMemoryGraph, trails: Iterable[dict[str, Any]], versions: dict[str, str], run_id: str
) -> dict[str, int]:
    """Write every trail; returns vertex counts by kind."""
    graph.ensure_indexes()
    counts = {"documents": 0, "extractions": 0, "routings": 0, "exceptions": 0}
    extraction_version = versions.get("extraction_model", "")
    for trail in trails:
        doc_id = trail["id"]
        graph.add_document(
            doc_id,
            trail.get("predicted_type") or trail["document_type"],
            trail["language"],
            source=trail["source"],
            type_confidence=trail.get("type_confidence"),
            subtype=trail.get("predicted_subtype"),
            touchless=trail["touchless"],
            pipeline_run=run_id,
            stage_seconds=trail.get("stage_seconds", {}),
        )
        counts["documents"] += 1
        if trail["exception"]:
            graph.add_exception(doc_id, doc_id, trail["exception"]["code"], trail["exception"]["message"])
            counts["exceptions"] += 1
            continue
        extraction_id = graph.add_extraction(
            doc_id,
            trail.get("extraction") or {},
            extraction_version,
            schema_compliant=trail.get("schema_compliant"),
            pipeline_run=run_id,
            quality_issues=trail.get("quality_issues", []),
        )
        counts["extractions"] += 1
        source_of_problem = extraction_id
        if trail.get("routing"):
            source_of_problem = graph.add_routing(
                doc_id, extraction_id, trail["routing"], versions.get("reasoning_engine", "")
            )
            counts["routings"] += 1
        reasons = list(trail.get("quality_issues") or []) + [
            f"rule {r} failed" for r in trail.get("rules_failed", [])
        ]
        if not trail["touchless"]:
            code = "BUSINESS_RULE" if trail.get("rules_failed") else "NEEDS_REVIEW"
            graph.add_exception(
                source_of_problem, doc_id, code, "; ".join(reasons) or "low routing confidence"
            )
            counts["exceptions"] += 1
    return counts
