"""The reasoning engine as it serves one document (retrieve candidate APIs, find similar past cases,
score the KB routings), and its held-out evaluation: routing accuracy, API validity, calibration,
the seeds' reward, latency per stage, and the most frequent wrong routings."""

from __future__ import annotations

import json
import time
from collections import Counter
from pathlib import Path
from typing import Any

from sap_llm_core.evaluation.plots import calibration_png, confusion_matrix_png, latency_histograms_png
from sap_llm_core.evaluation.report import EvaluationReport, group_accuracy, held_to, percentile, table
from sap_llm_core.evaluation.serving import serving_threads
from sap_llm_core.models.reasoning_engine.examples import (
    Routing,
    RoutingExample,
    attach_context,
    build_examples,
    kb_label,
)
from sap_llm_core.models.reasoning_engine.model import (
    Router,
    expected_calibration_error,
    reliability_bins,
    routing_reward,
)
from sap_llm_core.registry.policy import Target
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import load_split


class RoutingService:
    """Router + knowledge base + retrieval + similar cases, with the ``k`` values it was trained with
    (read from the training result beside the checkpoint), so serving sees what training saw."""

    def __init__(self, checkpoint: str | Path, store: ArtifactStore):
        from sap_llm_core.knowledge_base.embeddings import default_embedder
        from sap_llm_core.models.reasoning_engine.train import SimilarCases, load_kb, load_retriever

        checkpoint = Path(checkpoint)
        result_file = checkpoint.parent / "training_result.json"
        hp = json.loads(result_file.read_text()).get("hyperparameters", {}) if result_file.is_file() else {}
        self.router = Router.load(checkpoint)
        self.kb, _ = load_kb(store)
        embed = default_embedder().encode
        self.retriever, self.candidate_source = load_retriever(store, embed, int(hp.get("candidates_k", 3)))
        self.similar = None
        k = int(hp.get("similar_cases_k", 3))
        if k:
            past, _ = build_examples(load_split(store, "train"), self.kb, None)
            self.similar = SimilarCases(embed, past, k)

    def routable(self, document_type: str) -> bool:
        return document_type in self.kb.mappings.document_types

    def gold(self, document_type: str) -> Routing | None:
        return kb_label(self.kb, document_type) if self.routable(document_type) else None

    def route(
        self, document_id: str, document_type: str, language: str, header: dict[str, Any]
    ) -> tuple[dict[str, Any], dict[str, float]]:
        """The routing JSON and the seconds spent retrieving context vs scoring."""
        example = RoutingExample(document_id, document_type, language, header)
        start = time.perf_counter()
        attach_context([example], self.retriever, self.similar)
        retrieved = time.perf_counter()
        decision = self.router.route([example])[0]
        scored = time.perf_counter()
        routing = Routing(decision["endpoint"], decision["entity"], decision["method"])
        decision["api_valid"] = self.kb.is_valid(routing)
        decision["candidates"] = example.candidates
        return decision, {"retrieval": retrieved - start, "scoring": scored - retrieved}


def evaluate_routing(
    service: RoutingService,
    records: list[DocumentRecord],
    targets: list[Target],
    examples: int = 5,
    context: dict[str, Any] | None = None,
) -> EvaluationReport:
    labelled, skipped = build_examples(records, service.kb, None)
    if not labelled:
        raise ValueError(f"no routable test documents (skipped by type: {skipped})")
    rows = []
    stage_seconds: dict[str, list[float]] = {"retrieval": [], "scoring": [], "total": []}
    with serving_threads():
        decisions = [
            service.route(ex.document_id, ex.document_type, ex.language, ex.header) for ex in labelled
        ]
    for ex, (decision, seconds) in zip(labelled, decisions, strict=True):
        predicted = Routing(decision["endpoint"], decision["entity"], decision["method"])
        for stage, value in seconds.items():
            stage_seconds[stage].append(value)
        stage_seconds["total"].append(sum(seconds.values()))
        rows.append(
            {
                "id": ex.document_id,
                "document_type": ex.document_type,
                "language": ex.language,
                "gold": ex.label.as_dict(),
                "predicted": predicted.as_dict(),
                "confidence": decision["confidence"],
                "correct": predicted == ex.label,
                "api_correct": predicted.endpoint == ex.label.endpoint,
                "api_valid": decision["api_valid"],
                "reward": routing_reward(predicted, ex.label, decision["api_valid"], decision["confidence"]),
                "reasoning": decision["reasoning"],
                "seconds": sum(seconds.values()),
            }
        )
    n = len(rows)
    confidences = [r["confidence"] for r in rows]
    correct = [r["correct"] for r in rows]
    total = stage_seconds["total"]
    metrics = {
        "routing_accuracy": sum(correct) / n,
        "api_accuracy": sum(r["api_correct"] for r in rows) / n,
        "api_validity": sum(r["api_valid"] for r in rows) / n,
        "ece": expected_calibration_error(confidences, correct),
        "mean_confidence": sum(confidences) / n,
        "mean_reward": sum(r["reward"] for r in rows) / n,
        "latency_p50_ms": percentile(total, 50) * 1000,
        "latency_p95_ms": percentile(total, 95) * 1000,
        "test_documents": float(n),
        "skipped_unroutable_documents": float(sum(skipped.values())),
    }
    wrong = Counter(
        (r["gold"]["endpoint"], r["predicted"]["endpoint"], r["predicted"]["entity"])
        for r in rows
        if not r["correct"]
    ).most_common(examples)
    wrong_rows = [
        [
            gold,
            f"{api} / {entity}",
            count,
            next(r["id"] for r in rows if not r["correct"] and r["gold"]["endpoint"] == gold),
        ]
        for (gold, api, entity), count in wrong
    ]
    sections = [
        (
            "Per document type",
            table(
                ["type", "documents", "routing acc", "API valid"],
                group_accuracy(rows, "document_type", ["correct", "api_valid"]),
            ),
        ),
        (
            "Per language",
            table(["language", "documents", "routing acc"], group_accuracy(rows, "language", ["correct"])),
        ),
        (
            "Top failure modes: wrong routings",
            table(["true API", "predicted", "count", "example"], wrong_rows),
        ),
        ("Skipped (no SAP API routes these types)", table(["type", "documents"], sorted(skipped.items()))),
        ("Example reasoning", "\n".join(f"- `{r['id']}`: {r['reasoning']}" for r in rows[:examples])),
    ]
    plots = {
        "confusion_matrix": confusion_matrix_png(
            [r["gold"]["endpoint"] for r in rows], [r["predicted"]["endpoint"] for r in rows], "Routed API"
        ),
        "calibration": calibration_png(
            reliability_bins(confidences, correct), metrics["ece"], "Routing confidence"
        ),
        "latency": latency_histograms_png(stage_seconds, "Routing latency per stage"),
    }
    return EvaluationReport(
        name="reasoning_engine",
        title="reasoning_engine: held-out evaluation",
        metrics=metrics,
        targets=held_to(metrics, targets),
        sections=sections,
        plots=plots,
        predictions=rows,
        context={**(context or {}), "candidate_source": service.candidate_source},
    )
