"""The seeds' 8-stage document pipeline over held-out documents, one document at a time as in
serving, with every stage timed:

1. inbox - the document arrives (schema-validated record; empty documents stop here);
2. preprocessing - words and boxes normalised (blank tokens dropped, boxes kept aligned);
3. classification - vision encoder forward pass: document type and its confidence;
4. type identification - the subtype from the same pass;
5. extraction - ADC JSON for the predicted type: the language decoder when one is given, else the
   vision encoder's field entities arranged into the type's schema;
6. quality check - schema compliance, field mapping transformations/patterns, classifier confidence;
7. business-rule validation - the knowledge base's rules on the extracted document;
8. routing - the reasoning engine picks the SAP API (always a KB API).

A document is *touchless* when it reaches the end with no exception, the classifier and router are at
least ``touchless_confidence`` sure, its extraction passes the quality check and no error-severity
rule fails: nobody has to look at it. Touchless precision (touchless documents that were also right)
is reported beside the rate, because a rate alone rewards over-confidence."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
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
from sap_llm_core.evaluation.routing import RoutingService
from sap_llm_core.evaluation.serving import serving_threads
from sap_llm_core.evaluation.vision import VisionClassifier
from sap_llm_core.knowledge_base.business_rules import RuleEngine, RuleSet
from sap_llm_core.knowledge_base.field_mappings import map_document
from sap_llm_core.models.base_lm.formatting import ExtractionSchema, TypeSchema, adc_json
from sap_llm_core.models.language_decoder.extract import field_values, schema_compliant
from sap_llm_core.models.reasoning_engine.model import expected_calibration_error, reliability_bins
from sap_llm_core.models.vision_encoder.metrics import entities
from sap_llm_core.registry.policy import Target
from sap_llm_core.schema import DocumentRecord

STAGES = (
    "inbox",
    "preprocessing",
    "classification",
    "type_identification",
    "extraction",
    "quality_check",
    "business_rules",
    "routing",
)

# (record with the predicted type, vision tags) -> ADC JSON
Extract = Callable[[DocumentRecord, list[str]], dict[str, Any]]


def adc_from_entities(words: list[str], tags: list[str], schema: TypeSchema) -> dict[str, Any]:
    """The vision encoder's field entities as ADC JSON of the type's schema: a header key takes its
    first entity, a line-item column starts a new row when the current row already has it."""
    header: dict[str, str | None] = dict.fromkeys(schema.header)
    rows: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for label, start, end in sorted(entities(tags), key=lambda e: e[1]):
        text = " ".join(words[start : end + 1])
        if label in header and header[label] is None:
            header[label] = text
        elif label in schema.columns:
            if label in current:
                rows.append(current)
                current = {}
            current[label] = text
    if current:
        rows.append(current)
    return {"header": header, "line_items": [{c: row.get(c) for c in schema.columns} for row in rows]}


def vision_extractor(schema: ExtractionSchema) -> Extract:
    def extract(record: DocumentRecord, tags: list[str]) -> dict[str, Any]:
        type_schema = schema.types.get(record.document_type)
        if type_schema is None:
            return {"header": {}, "line_items": []}
        return adc_from_entities(record.words, tags, type_schema)

    return extract


def language_extractor(decoder: Any) -> Extract:
    """The language decoder's constrained ADC JSON (a type it has no schema for: nothing extracted)."""

    def extract(record: DocumentRecord, tags: list[str]) -> dict[str, Any]:
        if record.document_type not in decoder.schema.types:
            return {"header": {}, "line_items": []}
        return decoder.extract([record], constrained=True)[0].parsed or {"header": {}, "line_items": []}

    return extract


@dataclass
class PipelineModels:
    classifier: VisionClassifier
    router: RoutingService
    rules: RuleSet
    schema: ExtractionSchema
    extract: Extract
    extractor_name: str
    versions: dict[str, str]


def _preprocess(record: DocumentRecord) -> DocumentRecord:
    keep = [i for i, w in enumerate(record.words) if w.strip()]
    if len(keep) == len(record.words):
        return record
    return record.model_copy(
        update={
            "words": [record.words[i].strip() for i in keep],
            "boxes": [record.boxes[i] for i in keep],
            "field_spans": [],
        }
    )


def process(record: DocumentRecord, models: PipelineModels, engine: RuleEngine, threshold: float) -> dict:
    """One document through the 8 stages; the trail records each stage's output and seconds."""
    seconds: dict[str, float] = {}
    trail: dict[str, Any] = {
        "id": record.id,
        "source": record.source,
        "language": record.language,
        "document_type": record.document_type,
        "subtype": record.subtype,
        "exception": None,
    }
    clock = time.perf_counter()

    def lap(stage: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        seconds[stage] = now - clock
        clock = now

    # 1-2 ---------------------------------------------------------------------------------------
    if not record.words:
        trail["exception"] = {"stage": "inbox", "code": "EMPTY_DOCUMENT", "message": "no words"}
    lap("inbox")
    document = _preprocess(record)
    lap("preprocessing")
    if trail["exception"]:
        return {**trail, "stage_seconds": seconds, "touchless": False}
    # 3-4 ---------------------------------------------------------------------------------------
    prediction = models.classifier(document)
    trail.update(
        predicted_type=prediction.document_type,
        type_confidence=prediction.type_confidence,
        type_correct=prediction.document_type == record.document_type,
    )
    lap("classification")
    trail.update(
        predicted_subtype=prediction.subtype,
        subtype_correct=(prediction.subtype or None) == (record.subtype or None),
    )
    lap("type_identification")
    # 5 -----------------------------------------------------------------------------------------
    typed = document.model_copy(update={"document_type": prediction.document_type})
    adc = models.extract(typed, prediction.tags)
    trail["extraction"] = adc
    lap("extraction")
    gold = adc_json(record)
    if gold is not None:
        expected, found = field_values(gold), field_values(adc)
        trail.update(
            extraction_tp=sum(1 for k, v in found.items() if expected.get(k) == v),
            extraction_predicted=len(found),
            extraction_gold=len(expected),
        )
    # 6 -----------------------------------------------------------------------------------------
    type_schema = models.schema.types.get(prediction.document_type)
    issues: list[str] = []
    compliant = type_schema is not None and schema_compliant(adc, type_schema)
    trail["schema_compliant"] = compliant if gold is not None else None
    if type_schema is None:
        issues.append(f"no extraction schema for type {prediction.document_type}")
    elif not compliant:
        issues.append("extraction does not follow the type's schema")
    header = {k: v for k, v in (adc.get("header") or {}).items() if v is not None}
    items = [{k: v for k, v in row.items() if v is not None} for row in adc.get("line_items") or []]
    routable = models.router.routable(prediction.document_type)
    if routable:
        mapped = map_document(
            models.router.kb.mappings,
            {
                "document_type": prediction.document_type,
                "language": record.language,
                "header": header,
                "line_items": items,
            },
        )
        issues += [f"{e.field}: {e.error}" for e in mapped["errors"]]
        if not header:
            issues.append("no header field extracted")
    else:
        issues.append(f"no SAP API routes type {prediction.document_type}")
    if prediction.type_confidence < threshold:
        issues.append(f"type confidence {prediction.type_confidence:.2f} < {threshold}")
    trail["quality_issues"] = issues
    lap("quality_check")
    # 7 -----------------------------------------------------------------------------------------
    findings = engine.check_document(
        {
            "document_type": prediction.document_type,
            "language": record.language,
            "header": header,
            "line_items": items,
        }
    )
    failed = [f for f in findings if not f.passed and f.severity == "error"]
    trail["rules_checked"] = len(findings)
    trail["rules_failed"] = [f"{f.rule_id}@{f.location}" for f in failed]
    trail["rules_passed"] = not failed
    lap("business_rules")
    # 8 -----------------------------------------------------------------------------------------
    gold_routing = models.router.gold(record.document_type)
    if routable:
        decision, _ = models.router.route(record.id, prediction.document_type, record.language, header)
        trail["routing"] = {
            k: decision[k] for k in ("endpoint", "entity", "method", "confidence", "reasoning")
        }
        trail["api_valid"] = bool(decision["api_valid"])
        if gold_routing is not None:
            trail["routing_correct"] = (decision["endpoint"], decision["entity"], decision["method"]) == (
                gold_routing.endpoint,
                gold_routing.entity,
                gold_routing.method,
            )
    elif gold_routing is not None:
        trail["routing_correct"] = False
    lap("routing")
    trail["stage_seconds"] = seconds
    trail["touchless"] = bool(
        routable
        and not issues
        and trail["rules_passed"]
        and trail.get("routing", {}).get("confidence", 0.0) >= threshold
    )
    return trail


def evaluate_end_to_end(
    models: PipelineModels,
    records: list[DocumentRecord],
    targets: list[Target],
    touchless_confidence: float,
    hourly_rate_usd: float,
    compute: str,
    examples: int = 5,
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    if not records:
        raise ValueError("no test documents for the end-to-end evaluation")
    engine = RuleEngine(models.rules)
    trails = []
    with serving_threads():
        for i, record in enumerate(records):
            trails.append(process(record, models, engine, touchless_confidence))
            if progress is not None:
                progress(i + 1, len(records))
    n = len(trails)

    def rate(flag: str) -> float:
        values = [bool(t[flag]) for t in trails if t.get(flag) is not None]
        return sum(values) / len(values) if values else float("nan")

    _, _, extraction_f1 = prf(
        *(
            sum(t.get(k, 0) for t in trails)
            for k in ("extraction_tp", "extraction_predicted", "extraction_gold")
        )
    )
    totals = [sum(t["stage_seconds"].values()) for t in trails]
    by_stage = {s: [t["stage_seconds"][s] for t in trails if s in t["stage_seconds"]] for s in STAGES}
    touchless = [t for t in trails if t["touchless"]]
    touchless_right = [
        t for t in touchless if t.get("type_correct") and t.get("routing_correct") is not False
    ]
    mean_seconds = sum(totals) / n
    metrics = {
        "classification_accuracy": rate("type_correct"),
        "subtype_accuracy": rate("subtype_correct"),
        "extraction_f1": extraction_f1,
        "schema_compliance": rate("schema_compliant"),
        "business_rules_passed": rate("rules_passed"),
        "routing_accuracy": rate("routing_correct"),
        "api_validity": rate("api_valid"),
        "touchless_rate": len(touchless) / n,
        # the same over documents an SAP API exists for (public forms and receipts never go to SAP)
        "touchless_rate.sap_documents": sum(1 for t in touchless if t.get("routing_correct") is not None)
        / max(1, sum(1 for t in trails if t.get("routing_correct") is not None)),
        "touchless_precision": len(touchless_right) / len(touchless) if touchless else float("nan"),
        "exceptions": float(sum(1 for t in trails if t["exception"])),
        "latency_p50_ms": percentile(totals, 50) * 1000,
        "latency_p95_ms": percentile(totals, 95) * 1000,
        "documents_per_hour": 3600 / mean_seconds if mean_seconds else 0.0,
        "cost_per_document_usd": hourly_rate_usd * mean_seconds / 3600,
        "test_documents": float(n),
    }
    for stage, values in by_stage.items():
        metrics[f"latency_p50_ms.{stage}"] = percentile(values, 50) * 1000
        metrics[f"latency_p95_ms.{stage}"] = percentile(values, 95) * 1000

    flags = ["type_correct", "schema_compliant", "rules_passed", "routing_correct", "touchless"]
    held_out_reasons = Counter(
        reason.split(":")[0] if ":" in reason else reason.split(" <")[0]
        for t in trails
        if not t["touchless"]
        for reason in (t.get("quality_issues") or []) + [f"rule {r}" for r in t.get("rules_failed", [])]
    ).most_common(examples)
    sections = [
        (
            "Per document type",
            table(["type", "documents", *flags], group_accuracy(trails, "document_type", flags)),
        ),
        ("Per language", table(["language", "documents", *flags], group_accuracy(trails, "language", flags))),
        (
            "Latency per stage (ms)",
            table(
                ["stage", "p50", "p95"],
                [[s, metrics[f"latency_p50_ms.{s}"], metrics[f"latency_p95_ms.{s}"]] for s in STAGES],
            ),
        ),
        ("Top reasons a document needs a person", table(["reason", "documents"], held_out_reasons)),
        (
            "Cost",
            f"{compute.upper()} at ${hourly_rate_usd:.2f}/hour, {mean_seconds * 1000:.1f} ms per document on "
            f"one worker: **${metrics['cost_per_document_usd']:.6f} per document**, "
            f"{metrics['documents_per_hour']:.0f} documents/hour.",
        ),
    ]
    classified = [t for t in trails if "predicted_type" in t]
    routed = [t for t in trails if "routing" in t and t.get("routing_correct") is not None]
    plots = {
        "confusion_matrix": confusion_matrix_png(
            [t["document_type"] for t in classified],
            [t["predicted_type"] for t in classified],
            "Document type",
        ),
        "latency": latency_histograms_png({**by_stage, "end_to_end": totals}, "Latency per stage"),
    }
    if routed:
        confidences = [t["routing"]["confidence"] for t in routed]
        correct = [bool(t["routing_correct"]) for t in routed]
        metrics["routing_ece"] = expected_calibration_error(confidences, correct)
        plots["calibration"] = calibration_png(
            reliability_bins(confidences, correct), metrics["routing_ece"], "Routing confidence"
        )
    return EvaluationReport(
        name="end_to_end",
        title="End-to-end: the 8-stage pipeline on held-out documents",
        metrics=metrics,
        targets=held_to(metrics, targets),
        sections=sections,
        plots=plots,
        predictions=trails,
        context={"extractor": models.extractor_name, **models.versions},
    )
