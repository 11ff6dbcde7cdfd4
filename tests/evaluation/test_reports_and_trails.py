"""The evaluation building blocks: the pipeline's extraction from field entities, reports that say
PASS/FAIL per target and carry real PNGs, trails written into a real PMG (nx-27017), and Label
Studio reviews turned into PMG feedback against what the pipeline extracted."""

from __future__ import annotations

import json

import pytest

from sap_llm_core.evaluation.end_to_end import adc_from_entities
from sap_llm_core.evaluation.plots import calibration_png, confusion_matrix_png, latency_histograms_png
from sap_llm_core.evaluation.pmg_trail import record_trails
from sap_llm_core.evaluation.report import EvaluationReport, held_to
from sap_llm_core.models.base_lm.formatting import TypeSchema
from sap_llm_core.models.reasoning_engine.model import reliability_bins
from sap_llm_core.pmg import FeedbackKind, ProcessMemoryGraph
from sap_llm_core.pmg.connection import pmg_database
from sap_llm_core.registry.policy import parse_targets
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.storage import ArtifactStore

PNG = b"\x89PNG\r\n\x1a\n"


def test_field_entities_become_schema_shaped_adc_json() -> None:
    schema = TypeSchema(header=["invoice_number", "total_amount"], columns=["description", "quantity"])
    words = ["Invoice", "4711", "Pump", "2", "Valve", "set", "5", "Total", "99.00", "4712"]
    tags = ["O", "B-invoice_number", "B-description", "B-quantity", "B-description", "I-description",
            "B-quantity", "O", "B-total_amount", "B-invoice_number"]  # fmt: skip
    adc = adc_from_entities(words, tags, schema)
    # the first entity of a header key wins; a repeated column opens a new row; missing -> null
    assert adc == {
        "header": {"invoice_number": "4711", "total_amount": "99.00"},
        "line_items": [
            {"description": "Pump", "quantity": "2"},
            {"description": "Valve set", "quantity": "5"},
        ],
    }
    assert adc_from_entities(words, ["O"] * len(words), schema) == {
        "header": {"invoice_number": None, "total_amount": None},
        "line_items": [],
    }


def test_report_states_each_target_and_writes_every_file(tmp_path) -> None:
    targets = parse_targets({"accuracy": ">= 0.95", "ece": "<= 0.05", "f1": ">= 0.9"})
    metrics = {"accuracy": 0.97, "ece": 0.08}  # ece misses, f1 is missing: both fail
    confidences, correct = [0.9, 0.8, 0.6, 0.95], [True, True, False, True]
    report = EvaluationReport(
        name="demo",
        title="demo evaluation",
        metrics=metrics,
        targets=held_to(metrics, targets),
        plots={
            "confusion_matrix": confusion_matrix_png(["A", "B", "B"], ["A", "B", "A"], "types"),
            "calibration": calibration_png(reliability_bins(confidences, correct), 0.08, "conf"),
            "latency": latency_histograms_png({"a": [0.01, 0.02], "b": [0.1, 0.3]}, "latency"),
        },
        predictions=[{"id": "d1", "correct": True}],
    )
    assert not report.passed and report.failed_targets() == ["ece", "f1"]
    store = ArtifactStore(str(tmp_path))
    files = report.write(store, "demo_evaluation")
    payload = store.read_json("demo_evaluation", "metrics.json")
    assert payload["targets"]["accuracy"] == {"value": 0.97, "passed": True}
    assert payload["targets"]["f1"] == {"value": None, "passed": False}
    markdown = store.read_bytes("demo_evaluation", "report.md").decode()
    assert "| accuracy | 0.9700 | >= 0.95 | PASS |" in markdown
    assert "| ece | 0.0800 | <= 0.05 | FAIL |" in markdown
    assert "| f1 | missing | >= 0.9 | FAIL |" in markdown
    for stem in ("confusion_matrix", "calibration", "latency"):
        assert store.read_bytes("demo_evaluation", f"{stem}.png").startswith(PNG), stem
        assert stem in files
    assert json.loads(store.read_bytes("demo_evaluation", "predictions.jsonl").decode()) == {
        "correct": True,
        "id": "d1",
    }
    assert "data:image/png;base64," in report.markdown(plots="inline")


@pytest.fixture(scope="module")
def graph(tmp_path_factory):
    with pmg_database(tmp_path_factory.mktemp("pmg_eval")) as db:  # starts nx-27017 there
        yield ProcessMemoryGraph(db)


def _trail(doc_id: str, touchless: bool, **extra) -> dict:
    return {
        "id": doc_id,
        "source": "synthetic",
        "language": "DE",
        "document_type": "SUPPLIER_INVOICE",
        "predicted_type": "SUPPLIER_INVOICE",
        "type_confidence": 0.97,
        "exception": None,
        "extraction": {"header": {"invoice_number": "4711", "total_amount": "99,00"}, "line_items": []},
        "schema_compliant": True,
        "quality_issues": [] if touchless else ["total_amount: '99,00x' does not match"],
        "rules_failed": [],
        "routing": {
            "endpoint": "API_SUPPLIERINVOICE_PROCESS_SRV",
            "entity": "A_SupplierInvoice",
            "method": "POST",
            "confidence": 0.93,
            "reasoning": "...",
        },  # fmt: skip
        "touchless": touchless,
        "stage_seconds": {"inbox": 0.001},
        **extra,
    }


def test_pipeline_trails_land_in_the_pmg(graph: ProcessMemoryGraph) -> None:
    trails = [
        _trail("doc-ok", True),
        _trail("doc-review", False),
        {**_trail("doc-empty", False), "exception": {"code": "EMPTY_DOCUMENT", "message": "no words"}},
    ]
    counts = record_trails(graph, trails, {"extraction_model": "ve v1", "reasoning_engine": "re v1"}, "run-1")
    assert counts == {"documents": 3, "extractions": 2, "routings": 2, "exceptions": 2}
    ok = graph.document_history("doc-ok")
    assert [e["model_version"] for e in ok["extractions"]] == ["ve v1"]
    assert ok["routing_decisions"][0]["endpoint"] == "API_SUPPLIERINVOICE_PROCESS_SRV"
    assert ok["exceptions"] == []
    review = graph.document_history("doc-review")
    assert review["exceptions"][0]["code"] == "NEEDS_REVIEW"
    assert "does not match" in review["exceptions"][0]["message"]
    assert graph.document_history("doc-empty")["exceptions"][0]["code"] == "EMPTY_DOCUMENT"
    # the same evaluation written twice keeps one trail per document
    record_trails(graph, trails, {"extraction_model": "ve v1", "reasoning_engine": "re v1"}, "run-1")
    assert len(graph.document_history("doc-ok")["extractions"]) == 1


def _reviewed(doc_id: str, header: dict) -> DocumentRecord:
    words = " ".join(header.values()).split()
    return DocumentRecord(
        id=doc_id,
        source="label_studio",
        document_type="SUPPLIER_INVOICE",
        language="DE",
        page_width=595,
        page_height=842,
        ocr_text=" ".join(words),
        words=words,
        boxes=[[0, 0, 10, 10]] * len(words),
        ground_truth=json.dumps(header),
    )


def test_label_studio_reviews_become_corrections_or_approvals(graph: ProcessMemoryGraph) -> None:
    from sap_llm_core.continuous_learning.label_studio_feedback import record_review_feedback

    record_trails(graph, [_trail("doc-ls-1", True), _trail("doc-ls-2", True)], {}, "run-ls")
    counts = record_review_feedback(
        graph,
        [
            _reviewed("doc-ls-1", {"invoice_number": "4711", "total_amount": "98,00"}),  # one fix
            _reviewed("doc-ls-2", {"invoice_number": "4711", "total_amount": "99,00"}),  # as extracted
            _reviewed("doc-never-processed", {"invoice_number": "1"}),
        ],
    )
    assert counts == {"field_corrections": 1, "approvals": 1, "not_in_pmg": 1, "no_extraction": 0}
    fixed = graph.document_history("doc-ls-1")["feedback"]
    assert [(f["kind"], f["field"], f["old_value"], f["new_value"], f["source"]) for f in fixed] == [
        (FeedbackKind.FIELD_CORRECTION.value, "header.total_amount", "99,00", "98,00", "label_studio")
    ]
    approved = graph.document_history("doc-ls-2")["feedback"]
    assert [f["kind"] for f in approved] == [FeedbackKind.APPROVAL.value]
