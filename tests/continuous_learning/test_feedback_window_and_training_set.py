import datetime as dt
import json

from sap_llm_core.continuous_learning.feedback_window import Cursor, window_since
from sap_llm_core.continuous_learning.training_set import build_training_set, find_span, replay_sample
from sap_llm_core.schema import DocumentRecord, FieldSpan
from sap_llm_core.schema.document_record import content_hash

T0 = dt.datetime(2026, 11, 20, 9, tzinfo=dt.UTC)


def _correction(i: int, kind: str = "field_correction", document_id: str = "d1", **extra):
    row = {
        "_id": f"fb-{i:03d}",
        "kind": kind,
        "document_id": document_id,
        "created_at": T0 + dt.timedelta(minutes=i),
    }
    if kind == "field_correction":
        row.update({"field": "header.total_amount", "new_value": "1.109,00"})
    if kind == "routing_correction":
        row["routing"] = {"endpoint": "API_SUPPLIERINVOICE_PROCESS_SRV", "entity": "A_SupplierInvoice"}
    row.update(extra)
    return row


def _record(doc_id: str = "d1") -> DocumentRecord:
    words = ["Rechnung", "Gesamtbetrag", "1.190,00", "EUR", "korrigiert", "1.109,00"]
    gt = json.dumps({"header": {"total_amount": "1.190,00"}, "line_items": []}, sort_keys=True)
    return DocumentRecord(
        id=doc_id,
        source="synthetic",
        document_type="SUPPLIER_INVOICE",
        language="DE",
        page_width=595,
        page_height=842,
        ocr_text=" ".join(words),
        words=words,
        boxes=[[i * 10, 0, i * 10 + 5, 5] for i in range(len(words))],
        ground_truth=gt,
        field_spans=[FieldSpan(field="header.total_amount", label="total_amount", word_indices=[2])],
        content_sha256=content_hash(words, gt),
    )


def test_window_counts_new_corrections_per_model_and_moves_the_cursor():
    rows = [_correction(1), _correction(2), _correction(3, "routing_correction"), _correction(4, "approval")]
    first = window_since(rows, Cursor())
    assert first.counts_by_model == {"language_decoder": 2, "reasoning_engine": 1, "vision_encoder": 2}
    assert first.models_due({"language_decoder": 2, "reasoning_engine": 5}) == ["language_decoder"]
    assert first.end == Cursor(T0 + dt.timedelta(minutes=4), "fb-004")

    cursor = Cursor.from_json(first.end.to_json())
    assert cursor == first.end
    again = window_since(rows, cursor)
    assert again.corrections == [] and again.counts_by_model == {}

    later = window_since([*rows, _correction(5)], cursor)
    assert [c["_id"] for c in later.corrections] == ["fb-005"]
    assert later.run_key != first.run_key
    assert window_since(rows, Cursor()).run_key == first.run_key  # same window, same key


def test_training_set_applies_corrections_and_quarantines_the_rest():
    documents = {"d1": _record("d1"), "d2": _record("d2")}
    train = [_record(f"t{i}") for i in range(20)]
    corrections = [
        _correction(1),  # d1: valid, the value is on the page
        _correction(2, document_id="d2", new_value="999,99"),  # not on the page -> quarantine
        _correction(3, "routing_correction", document_id="d1"),
        _correction(4, document_id="ghost"),  # unknown document -> quarantine
    ]
    result = build_training_set(corrections, documents, train, replay_ratio=3.0, seed=1)
    assert [r.id for r in result.corrected] == ["d1"]
    fixed = result.corrected[0]
    assert fixed.ground_truth_json()["header"]["total_amount"] == "1.109,00"
    assert next(s for s in fixed.field_spans if s.field == "header.total_amount").word_indices == [5]
    assert result.routing_labels[0]["endpoint"] == "API_SUPPLIERINVOICE_PROCESS_SRV"
    reasons = {q.id: q.reason for q in result.quarantine}
    assert "not in the words" in reasons["fb-002"] and "not in the corpus" in reasons["fb-004"]
    # counts in = corrected + routing labels + quarantined
    assert len(corrections) == result.field_corrections_applied + len(result.routing_labels) + len(
        result.quarantine
    )
    assert len(result.replay) == 3 and not {r.id for r in result.replay} & {"d1", "d2"}
    assert result.correction_ids == ["fb-001", "fb-002", "fb-003", "fb-004"]


def test_corrections_of_held_out_documents_never_reach_training():
    documents = {"d1": _record("d1"), "test-doc": _record("test-doc")}
    corrections = [_correction(1), _correction(2, document_id="test-doc")]
    result = build_training_set(
        corrections, documents, [_record("t0")], replay_ratio=1.0, seed=1, held_out=frozenset({"test-doc"})
    )
    assert [r.id for r in result.corrected] == ["d1"]
    assert [q.id for q in result.quarantine] == ["fb-002"]
    assert "held out for evaluation" in result.quarantine[0].reason


def test_replay_sample_is_deterministic_and_seeded():
    train = [_record(f"t{i}") for i in range(50)]
    a = [r.id for r in replay_sample(train, 10, seed=1, exclude=set())]
    assert a == [r.id for r in replay_sample(list(reversed(train)), 10, seed=1, exclude=set())]
    assert a != [r.id for r in replay_sample(train, 10, seed=2, exclude=set())]


def test_find_span():
    assert find_span(["a", "b", "c", "b", "c"], "b c") == [1, 2]
    assert find_span(["a"], "z") is None and find_span(["a"], "") is None
