"""Held-out evaluation of the vision encoder, document by document as it serves: type and subtype
accuracy, entity-level field F1 (per label, per type, per language, per source), type-confidence
calibration, latency, and the most frequent confusions and missed fields with examples."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from sap_llm_core.evaluation.plots import calibration_png, confusion_matrix_png, latency_histograms_png
from sap_llm_core.evaluation.report import (
    EvaluationReport,
    group_accuracy,
    held_to,
    percentile,
    prf,
    table,
)
from sap_llm_core.evaluation.serving import serving_threads
from sap_llm_core.models.reasoning_engine.model import expected_calibration_error, reliability_bins
from sap_llm_core.models.vision_encoder.features import bio_tags
from sap_llm_core.models.vision_encoder.metrics import PUBLIC_SOURCES, entities
from sap_llm_core.registry.policy import Target
from sap_llm_core.schema import DocumentRecord


class VisionClassifier:
    """A loaded checkpoint that classifies and tags one document at a time."""

    def __init__(self, checkpoint: str | Path):
        from sap_llm_core.models.vision_encoder import model as vem

        self.model, self.tokenizer, self.meta = vem.load(checkpoint)

    def __call__(self, record: DocumentRecord):
        from sap_llm_core.models.vision_encoder.predict import predict

        return predict(
            self.model,
            self.tokenizer,
            [record],
            max_length=self.meta.get("max_length", 384),
            max_subtokens_per_word=self.meta.get("max_subtokens_per_word", 3),
            batch_size=1,
        )[0]


def _row(record: DocumentRecord, prediction: Any, seconds: float) -> dict[str, Any]:
    gold = entities(bio_tags(record))
    pred = entities(prediction.tags)
    gold_text = {(lab, " ".join(record.words[s : e + 1])) for lab, s, e in gold}
    pred_text = {(lab, " ".join(record.words[s : e + 1])) for lab, s, e in pred}
    return {
        "id": record.id,
        "source": record.source,
        "language": record.language,
        "document_type": record.document_type,
        "predicted_type": prediction.document_type,
        "subtype": record.subtype,
        "predicted_subtype": prediction.subtype,
        "type_confidence": prediction.type_confidence,
        "type_correct": prediction.document_type == record.document_type,
        "subtype_correct": (prediction.subtype or None) == (record.subtype or None),
        "field_tp": len(gold & pred),
        "field_predicted": len(pred),
        "field_gold": len(gold),
        "missed_fields": sorted(gold_text - pred_text)[:20],
        "spurious_fields": sorted(pred_text - gold_text)[:20],
        "labels_tp": Counter(lab for lab, _, _ in gold & pred),
        "labels_gold": Counter(lab for lab, _, _ in gold),
        "labels_predicted": Counter(lab for lab, _, _ in pred),
        "seconds": seconds,
    }


def evaluate_vision(
    checkpoint: str | Path,
    records: list[DocumentRecord],
    targets: list[Target],
    examples: int = 5,
    context: dict[str, Any] | None = None,
) -> EvaluationReport:
    if not records:
        raise ValueError("no test documents to evaluate the vision encoder on")
    classify = VisionClassifier(checkpoint)
    rows = []
    with serving_threads():
        for record in records:
            start = time.perf_counter()
            prediction = classify(record)
            rows.append(_row(record, prediction, time.perf_counter() - start))

    def field_f1(subset: list[dict[str, Any]]) -> float:
        return prf(*(sum(r[k] for r in subset) for k in ("field_tp", "field_predicted", "field_gold")))[2]

    n = len(rows)
    # As the trainer reports it: SAP fields on SAP documents (what the target is about); public
    # datasets' own labels apart, and everything together as field_f1_all.
    sap = [r for r in rows if r["source"] not in PUBLIC_SOURCES] or rows
    public = [r for r in rows if r["source"] in PUBLIC_SOURCES]
    precision, recall, f1 = prf(
        *(sum(r[k] for r in sap) for k in ("field_tp", "field_predicted", "field_gold"))
    )
    confidences = [r["type_confidence"] for r in rows]
    correct = [r["type_correct"] for r in rows]
    seconds = [r["seconds"] for r in rows]
    metrics = {
        "type_accuracy": sum(correct) / n,
        "subtype_accuracy": sum(r["subtype_correct"] for r in rows) / n,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": f1,
        "field_f1_all": field_f1(rows),
        "public_entity_f1": field_f1(public) if public else float("nan"),
        "type_ece": expected_calibration_error(confidences, correct),
        "latency_p50_ms": percentile(seconds, 50) * 1000,
        "latency_p95_ms": percentile(seconds, 95) * 1000,
        "documents_per_second": n / sum(seconds) if sum(seconds) else 0.0,
        "test_documents": float(n),
    }
    for source in sorted({r["source"] for r in rows}):
        metrics[f"field_f1.{source}"] = field_f1([r for r in rows if r["source"] == source])

    label_tp, label_gold, label_pred = Counter(), Counter(), Counter()
    for r in rows:
        label_tp.update(r["labels_tp"])
        label_gold.update(r["labels_gold"])
        label_pred.update(r["labels_predicted"])
    per_label = sorted(
        ([lab, label_gold[lab], *prf(label_tp[lab], label_pred[lab], label_gold[lab])] for lab in label_gold),
        key=lambda row: row[-1],
    )
    per_type = [
        [*cells, field_f1([r for r in rows if r["document_type"] == cells[0]])]
        for cells in group_accuracy(rows, "document_type", ["type_correct", "subtype_correct"])
    ]
    confusions = Counter(
        (r["document_type"], r["predicted_type"]) for r in rows if not r["type_correct"]
    ).most_common(examples)
    confusion_rows = [
        [g, p, count, next(r["id"] for r in rows if (r["document_type"], r["predicted_type"]) == (g, p))]
        for (g, p), count in confusions
    ]
    missed = Counter(lab for r in rows for lab, _ in r["missed_fields"]).most_common(examples)
    missed_rows = [
        [
            lab,
            count,
            next(f"{r['id']}: '{text}'" for r in rows for la, text in r["missed_fields"] if la == lab),
        ]
        for lab, count in missed
    ]
    sections = [
        ("Per document type", table(["type", "documents", "type acc", "subtype acc", "field F1"], per_type)),
        (
            "Per language",
            table(
                ["language", "documents", "type acc", "subtype acc"],
                group_accuracy(rows, "language", ["type_correct", "subtype_correct"]),
            ),
        ),
        (
            "Per source",
            table(
                ["source", "documents", "type acc", "field F1"],
                [[*c, metrics[f"field_f1.{c[0]}"]] for c in group_accuracy(rows, "source", ["type_correct"])],
            ),
        ),
        ("Per field label (worst first)", table(["label", "gold", "precision", "recall", "F1"], per_label)),
        (
            "Top failure modes: type confusions",
            table(["true", "predicted", "count", "example"], confusion_rows),
        ),
        ("Top failure modes: missed fields", table(["label", "missed", "example"], missed_rows)),
    ]
    plots = {
        "confusion_matrix": confusion_matrix_png(
            [r["document_type"] for r in rows], [r["predicted_type"] for r in rows], "Document type"
        ),
        "calibration": calibration_png(
            reliability_bins(confidences, correct), metrics["type_ece"], "Type confidence"
        ),
        "latency": latency_histograms_png({"classify + detect fields": seconds}, "Latency per document"),
    }
    predictions = [{k: v for k, v in r.items() if not k.startswith("labels_")} for r in rows]
    return EvaluationReport(
        name="vision_encoder",
        title="vision_encoder: held-out evaluation",
        metrics=metrics,
        targets=held_to(metrics, targets),
        sections=sections,
        plots=plots,
        predictions=predictions,
        context=context or {},
    )
