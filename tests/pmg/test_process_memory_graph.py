"""The PMG against a real MongoDB-wire server (nx-27017): ingestion, traversal, feedback,
corrections per window, Merkle snapshots, the CLI and similar-case retrieval."""

import datetime as dt

import pymongo
import pytest
from typer.testing import CliRunner

from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.pmg import EdgeType, Feedback, FeedbackKind, ProcessMemoryGraph, VertexType
from sap_llm_core.pmg.cli import pmg_app
from sap_llm_core.pmg.snapshot import EMPTY_ROOT, compute_snapshot, merkle_root, take_snapshot

UTC = dt.UTC


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with LocalMongoServer(tmp_path_factory.mktemp("pmg-mongo")) as srv:
        yield srv


@pytest.fixture
def graph(server, request):
    client = pymongo.MongoClient(server.uri, tz_aware=True)
    db = client[f"pmg_{request.node.name[:40]}"]
    pmg = ProcessMemoryGraph(db)
    pmg.ensure_indexes()
    yield pmg
    client.drop_database(db.name)
    client.close()


def _ingest_trail(pmg: ProcessMemoryGraph, doc_id: str = "doc-1", document_type: str = "SUPPLIER_INVOICE"):
    pmg.add_document(doc_id, document_type, "DE", source="synthetic")
    extraction = pmg.add_extraction(doc_id, {"header": {"total_amount": "1.190,00"}}, model_version="3")
    routing = pmg.add_routing(
        doc_id,
        extraction,
        {
            "endpoint": "API_SUPPLIERINVOICE_PROCESS_SRV",
            "method": "POST",
            "entity": "A_SupplierInvoice",
            "confidence": 0.91,
        },
        model_version="2",
    )
    response = pmg.add_sap_response(routing, 400, {"error": "tax code missing"})
    exception = pmg.add_exception(response, doc_id, "SAP_400", "tax code missing")
    return extraction, routing, response, exception


def test_document_history_returns_the_whole_trail(graph):
    extraction, routing, response, exception = _ingest_trail(graph)
    fb = graph.record_feedback(
        Feedback(
            document_id="doc-1",
            kind=FeedbackKind.FIELD_CORRECTION,
            field="header.total_amount",
            old_value="1.190,00",
            new_value="1.109,00",
            author="ap-clerk",
        ),
        target_id=extraction,
        resolves=exception,
    )
    trail = graph.document_history("doc-1")
    assert trail["document"]["document_type"] == "SUPPLIER_INVOICE"
    assert [d["_id"] for d in trail["extractions"]] == [extraction]
    assert [d["_id"] for d in trail["routing_decisions"]] == [routing]
    assert [d["_id"] for d in trail["sap_responses"]] == [response]
    assert [d["_id"] for d in trail["exceptions"]] == [exception]
    assert [d["_id"] for d in trail["feedback"]] == [fb]
    edge_types = {e["type"] for e in trail["edges"]}
    assert edge_types == {
        "hasExtraction",
        "triggersRouting",
        "sendsToSAP",
        "causesException",
        "hasFeedback",
        "resolvedBy",
    }


def test_reingesting_changes_nothing(graph):
    _ingest_trail(graph)
    before = compute_snapshot(graph.db)
    _ingest_trail(graph)
    assert compute_snapshot(graph.db) == before
    assert graph.db["edges"].count_documents({}) == 4  # doc->ex->routing->response->exception


def test_feedback_is_validated_and_never_dangles(graph):
    with pytest.raises(KeyError, match="no document 'ghost'"):
        graph.record_feedback(Feedback(document_id="ghost", kind=FeedbackKind.APPROVAL))
    with pytest.raises(ValueError, match="field and new_value"):
        Feedback(document_id="d", kind=FeedbackKind.FIELD_CORRECTION)
    with pytest.raises(ValueError, match="routing.endpoint"):
        Feedback(document_id="d", kind=FeedbackKind.ROUTING_CORRECTION, routing={"entity": "x"})


def test_corrections_per_document_type_over_a_window(graph):
    t0 = dt.datetime(2026, 11, 1, tzinfo=UTC)
    for i, doc_type in enumerate(["PURCHASE_ORDER", "PURCHASE_ORDER", "SUPPLIER_INVOICE", "GOODS_RECEIPT"]):
        graph.add_document(f"d{i}", doc_type, "EN")
        graph.record_feedback(
            Feedback(
                document_id=f"d{i}",
                kind=FeedbackKind.FIELD_CORRECTION,
                field="header.po_number",
                new_value=f"45{i:08d}",
                created_at=t0 + dt.timedelta(days=i),
            )
        )
    graph.record_feedback(
        Feedback(
            document_id="d0",
            kind=FeedbackKind.ROUTING_CORRECTION,
            routing={"endpoint": "API_PURCHASEORDER_PROCESS_SRV"},
            created_at=t0 + dt.timedelta(days=1),
        )
    )
    graph.record_feedback(Feedback(document_id="d1", kind=FeedbackKind.APPROVAL, created_at=t0))

    everything = graph.corrections_by_document_type(since=t0)
    assert everything == {
        "GOODS_RECEIPT": {"field_correction": 1},
        "PURCHASE_ORDER": {"field_correction": 2, "routing_correction": 1},
        "SUPPLIER_INVOICE": {"field_correction": 1},
    }
    window = graph.corrections_by_document_type(
        since=t0 + dt.timedelta(days=1), until=t0 + dt.timedelta(days=3)
    )
    assert window == {
        "PURCHASE_ORDER": {"field_correction": 1, "routing_correction": 1},
        "SUPPLIER_INVOICE": {"field_correction": 1},
    }
    later = graph.corrections_since(t0 + dt.timedelta(days=1))
    assert [c["document_id"] for c in later] == ["d2", "d3"]
    assert len(graph.corrections_since(None)) == 5


def test_merkle_snapshot_names_exact_contents(graph):
    assert merkle_root([]) == EMPTY_ROOT
    a, b = "00" * 32, "11" * 32
    import hashlib

    assert merkle_root([a, b]) == hashlib.sha256(bytes.fromhex(a) + bytes.fromhex(b)).hexdigest()

    _ingest_trail(graph)
    first = take_snapshot(graph.db)
    assert take_snapshot(graph.db)["_id"] == first["_id"]  # unchanged contents, same snapshot
    assert first["feedback_ids"] == []
    fb = graph.record_feedback(Feedback(document_id="doc-1", kind=FeedbackKind.REJECTION, comment="blurry"))
    second = take_snapshot(graph.db)
    assert second["root"] != first["root"] and second["feedback_ids"] == [fb]
    assert second["collection_roots"]["documents"] == first["collection_roots"]["documents"]
    graph.collection(VertexType.DOCUMENT).update_one({"_id": "doc-1"}, {"$set": {"language": "FR"}})
    assert compute_snapshot(graph.db)["root"] != second["root"]
    assert graph.db["snapshots"].count_documents({}) == 2


def test_similar_to_edges_do_not_leak_into_history(graph):
    _ingest_trail(graph, "doc-a")
    _ingest_trail(graph, "doc-b", "PURCHASE_ORDER")
    graph.add_similar("doc-a", "doc-b", 0.93)
    trail = graph.document_history("doc-a")
    assert all(e["type"] != EdgeType.SIMILAR_TO.value for e in trail["edges"])
    assert graph.db["edges"].count_documents({"type": "similarTo"}) == 1


def test_cli_records_feedback_against_a_real_server(server, monkeypatch, tmp_path):
    monkeypatch.setenv("MONGO_URI", server.uri)
    client = pymongo.MongoClient(server.uri)
    ProcessMemoryGraph(client["sap_llm_pmg"]).add_document("cli-doc", "PURCHASE_ORDER", "IT")
    runner = CliRunner()
    result = runner.invoke(
        pmg_app,
        [
            "feedback",
            "cli-doc",
            "--kind",
            "field_correction",
            "--field",
            "header.po_number",
            "--new-value",
            "4500000001",
            "--storage-root",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    stored = client["sap_llm_pmg"]["feedback"].find_one({"document_id": "cli-doc"})
    assert stored["new_value"] == "4500000001" and stored["document_type"] == "PURCHASE_ORDER"
    bad = runner.invoke(
        pmg_app, ["feedback", "cli-doc", "--kind", "routing_correction", "--storage-root", str(tmp_path)]
    )
    assert bad.exit_code != 0
    snap = runner.invoke(pmg_app, ["snapshot", "--storage-root", str(tmp_path)])
    assert snap.exit_code == 0 and '"feedback": 1' in snap.output
    client.drop_database("sap_llm_pmg")
    client.close()


def test_embedded_server_is_used_when_no_uri(monkeypatch, tmp_path):
    monkeypatch.delenv("MONGO_URI", raising=False)
    from sap_llm_core.pmg.connection import pmg_database

    with pmg_database(tmp_path) as db:
        ProcessMemoryGraph(db).add_document("x", "PURCHASE_ORDER", "EN")
    with pmg_database(tmp_path) as db:  # a new server process on the same file sees the data
        assert ProcessMemoryGraph(db).collection(VertexType.DOCUMENT).find_one({"_id": "x"})
