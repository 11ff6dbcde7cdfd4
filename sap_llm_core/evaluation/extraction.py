"""Held-out evaluation of the language decoder, constrained and free decoding side by side on the
same documents: schema compliance, valid JSON, field precision/recall/F1 (exact values), hallucinated
values (not a run of the document's words), latency; per type, language and field, and the fields
most often missed with examples. Free decoding is the baseline that shows what the constraint buys."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sap_llm_core.evaluation.plots import latency_histograms_png
from sap_llm_core.evaluation.report import EvaluationReport, group_accuracy, held_to, percentile, prf, table
from sap_llm_core.evaluation.serving import serving_threads
from sap_llm_core.models.base_lm.formatting import adc_json
from sap_llm_core.models.language_decoder.extract import field_values, is_word_run, schema_compliant
from sap_llm_core.registry.policy import Target
from sap_llm_core.schema import DocumentRecord

MODES = ("constrained", "unconstrained")


def _row(record: DocumentRecord, result: Any, type_schema: Any) -> dict[str, Any]:
    gold = field_values(adc_json(record))
    found = field_values(result.parsed)
    right = {k for k, v in found.items() if gold.get(k) == v}
    return {
        "id": record.id,
        "document_type": record.document_type,
        "language": record.language,
        "valid_json": result.parsed is not None,
        "schema_compliant": schema_compliant(result.parsed, type_schema),
        "tp": len(right),
        "predicted": len(found),
        "gold": len(gold),
        "hallucinated": sum(1 for v in found.values() if not is_word_run(v, record.words)),
        "missed": sorted((k.split(".")[-1], gold[k]) for k in gold if k not in right)[:20],
        "keys_tp": Counter(k.split(".")[-1] for k in right),
        "keys_gold": Counter(k.split(".")[-1] for k in gold),
        "keys_predicted": Counter(k.split(".")[-1] for k in found),
        "seconds": result.seconds,
        "output": result.text[:1000],
    }


def _metrics(rows: list[dict[str, Any]]) -> dict[str, float]:
    n = len(rows)
    precision, recall, f1 = prf(*(sum(r[k] for r in rows) for k in ("tp", "predicted", "gold")))
    predicted = sum(r["predicted"] for r in rows)
    seconds = [r["seconds"] for r in rows]
    return {
        "schema_compliance": sum(r["schema_compliant"] for r in rows) / n,
        "valid_json": sum(r["valid_json"] for r in rows) / n,
        "field_precision": precision,
        "field_recall": recall,
        "field_f1": f1,
        "hallucination_rate": sum(r["hallucinated"] for r in rows) / predicted if predicted else 0.0,
        "latency_p50_ms": percentile(seconds, 50) * 1000,
        "latency_p95_ms": percentile(seconds, 95) * 1000,
    }


def evaluate_extraction(
    extractor: Any,
    records: list[DocumentRecord],
    targets: list[Target],
    examples: int = 5,
    context: dict[str, Any] | None = None,
) -> EvaluationReport:
    usable = [r for r in records if adc_json(r) is not None and r.document_type in extractor.schema.types]
    if not usable:
        raise ValueError("no test document with ADC ground truth of a type the decoder knows")
    rows: dict[str, list[dict[str, Any]]] = {}
    with serving_threads():
        for mode in MODES:
            results = [extractor.extract([r], constrained=mode == "constrained")[0] for r in usable]
            rows[mode] = [
                _row(r, res, extractor.type_schema(r)) for r, res in zip(usable, results, strict=True)
            ]
    metrics: dict[str, float] = {"test_documents": float(len(usable))}
    for mode in MODES:
        metrics.update({f"{mode}/{k}": v for k, v in _metrics(rows[mode]).items()})
    constrained = rows["constrained"]
    keys_tp, keys_gold, keys_pred = Counter(), Counter(), Counter()
    for r in constrained:
        keys_tp.update(r["keys_tp"])
        keys_gold.update(r["keys_gold"])
        keys_pred.update(r["keys_predicted"])
    per_field = sorted(
        ([k, keys_gold[k], *prf(keys_tp[k], keys_pred[k], keys_gold[k])] for k in keys_gold),
        key=lambda row: row[-1],
    )

    def f1_of(subset: list[dict[str, Any]]) -> float:
        return prf(*(sum(r[k] for r in subset) for k in ("tp", "predicted", "gold")))[2]

    for r in constrained:
        r["complete"] = r["tp"] == r["gold"] == r["predicted"]
    per_type = [
        [*cells, f1_of([r for r in constrained if r["document_type"] == cells[0]])]
        for cells in group_accuracy(constrained, "document_type", ["schema_compliant", "complete"])
    ]
    missed = Counter(key for r in constrained for key, _ in r["missed"]).most_common(examples)
    missed_rows = [
        [key, count, next(f"{r['id']}: '{v}'" for r in constrained for k, v in r["missed"] if k == key)]
        for key, count in missed
    ]
    sections = [
        (
            "Constrained vs free decoding",
            table(
                ["metric", "constrained", "unconstrained"],
                [
                    [k, metrics[f"constrained/{k}"], metrics[f"unconstrained/{k}"]]
                    for k in _metrics(constrained)
                ],
            ),
        ),
        (
            "Per document type (constrained)",
            table(["type", "documents", "compliant", "all fields right", "field F1"], per_type),
        ),
        (
            "Per language (constrained)",
            table(
                ["language", "documents", "compliant", "all fields right"],
                group_accuracy(constrained, "language", ["schema_compliant", "complete"]),
            ),
        ),
        (
            "Per field (constrained, worst first)",
            table(["field", "gold", "precision", "recall", "F1"], per_field),
        ),
        ("Top failure modes: missed fields", table(["field", "missed", "example"], missed_rows)),
    ]
    plots = {
        "latency": latency_histograms_png(
            {mode: [r["seconds"] for r in rows[mode]] for mode in MODES}, "Extraction latency per document"
        )
    }
    predictions = [
        {k: v for k, v in r.items() if not k.startswith("keys_")} | {"mode": mode}
        for mode in MODES
        for r in rows[mode]
    ]
    return EvaluationReport(
        name="language_decoder",
        title="language_decoder: held-out evaluation (constrained vs free decoding)",
        metrics=metrics,
        targets=held_to(metrics, targets),
        sections=sections,
        plots=plots,
        predictions=predictions,
        context=context or {},
    )
