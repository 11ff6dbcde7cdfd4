"""The MongoDB knowledge base against a real nx-27017 server: idempotent loads, indexes, and a server
killed in the middle of a load."""

from __future__ import annotations

from pathlib import Path

import pytest
from pymongo import MongoClient

from sap_llm_core.knowledge_base.business_rules import load_rules
from sap_llm_core.knowledge_base.edmx_parser import parse_file
from sap_llm_core.knowledge_base.field_mappings import load_mappings
from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.knowledge_base.mongo_store import (
    KnowledgeBaseLoadError,
    KnowledgeBaseStore,
    build_documents,
    redact_uri,
)

FIXTURES = Path(__file__).parent / "fixtures"
pytestmark = pytest.mark.integration


def fixture_documents() -> dict[str, list[dict]]:
    schemas = [
        parse_file(FIXTURES / "v2_service.edmx", api="ZTEST_INVOICE_SRV"),
        parse_file(FIXTURES / "v4_service.xml", api="API_SUPPLIERINVOICE_V4"),
    ]
    return build_documents(schemas, load_mappings(), load_rules())


def client_for(server: LocalMongoServer) -> MongoClient:
    return MongoClient(server.uri, serverSelectionTimeoutMS=2000, connectTimeoutMS=2000, socketTimeoutMS=5000)


def test_load_is_idempotent_and_indexed(mongo_server: LocalMongoServer) -> None:
    docs = fixture_documents()
    expected = {c: len(v) for c, v in docs.items()}
    assert expected["properties"] == 16 and expected["api_schemas"] == 2
    with client_for(mongo_server) as client:
        kb = KnowledgeBaseStore(client, "kb_test", batch_size=5)
        first = kb.load(docs)
        assert first.counts == expected
        assert first.upserted == expected
        second = kb.load(docs)  # re-materialising unchanged inputs writes nothing
        assert second.counts == expected
        assert sum(second.upserted.values()) == 0 and sum(second.modified.values()) == 0
        names = {
            tuple(k for k, _ in spec["key"])
            for spec in client.kb_test.properties.index_information().values()
        }
        assert ("api", "version", "entity", "name") in names
        prop = kb.property("ZTEST_INVOICE_SRV", "A_InvoiceType", "GrossAmount")
        assert prop["type"] == "Edm.Decimal" and prop["precision"] == 14 and prop["key"] is False
        assert [m["field"] for m in kb.mapping_for("SALES_ORDER")][:2] == ["currency", "customer_address"]


def test_changed_inputs_update_and_removed_rules_disappear(mongo_server: LocalMongoServer) -> None:
    docs = fixture_documents()
    with client_for(mongo_server) as client:
        kb = KnowledgeBaseStore(client, "kb_test")
        kb.load(docs)
        docs["business_rules"] = docs["business_rules"][1:]
        docs["business_rules"][0] = {**docs["business_rules"][0], "severity": "info"}
        report = kb.load(docs)
        assert report.removed["business_rules"] == 1 and report.modified["business_rules"] == 1
        assert report.counts["business_rules"] == len(docs["business_rules"])


def test_server_killed_mid_load_fails_clearly_and_rerun_completes(tmp_path: Path) -> None:
    docs = fixture_documents()
    expected = {c: len(v) for c, v in docs.items()}
    data_dir = tmp_path / "mongo"
    server = LocalMongoServer(data_dir).start()
    killed = []

    def kill_after_first_property_batch(collection: str, written: int) -> None:
        if collection == "properties" and not killed:
            server.stop(kill=True)  # SIGKILL: no clean shutdown
            killed.append(written)

    client = client_for(server)
    try:
        with pytest.raises(KnowledgeBaseLoadError) as info:
            KnowledgeBaseStore(client, "kb_test", batch_size=4).load(
                docs, on_batch=kill_after_first_property_batch
            )
    finally:
        client.close()
    message = str(info.value)
    assert "'properties'" in message and f"{killed[0]} of {expected['properties']}" in message
    assert "re-running" in message

    restarted = LocalMongoServer(data_dir).start()  # same SQLite file, new process
    try:
        with client_for(restarted) as client:
            before = {c: client.kb_test[c].count_documents({}) for c in expected}
            assert 0 < before["properties"] < expected["properties"]  # the kill really was mid-load
            report = KnowledgeBaseStore(client, "kb_test", batch_size=4).load(docs)
            assert report.counts == expected
            assert report.upserted["properties"] == expected["properties"] - before["properties"]
            ids = [d["_id"] for d in client.kb_test.properties.find({}, {"_id": 1})]
            assert len(ids) == len(set(ids)) == expected["properties"]
    finally:
        restarted.stop()


def test_unreachable_server_is_a_clear_error(tmp_path: Path) -> None:
    server = LocalMongoServer(tmp_path / "m").start()
    server.stop()
    with (
        MongoClient(server.uri, serverSelectionTimeoutMS=500) as client,
        pytest.raises(KnowledgeBaseLoadError, match="MongoDB became unavailable"),
    ):
        KnowledgeBaseStore(client, "kb_test").load(fixture_documents())


def test_credentials_are_redacted() -> None:
    assert redact_uri("mongodb://user:s3cret@db.example:27017/kb") == "mongodb://***@db.example:27017/kb"
    assert redact_uri("mongodb://localhost:1") == "mongodb://localhost:1"
