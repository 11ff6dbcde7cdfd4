"""Similar-case retrieval with the real MiniLM embeddings and the FAISS HNSW index."""

import pytest

from sap_llm_core.knowledge_base.embeddings import default_embedder
from sap_llm_core.pmg.similar_cases import Case, SimilarCaseIndex, case_summary


@pytest.fixture(scope="module")
def index():
    embedder = default_embedder()
    idx = SimilarCaseIndex(embedder.encode)
    cases = [
        Case(
            "po-1",
            "PURCHASE_ORDER",
            case_summary(
                "PURCHASE_ORDER",
                {"vendor_name": "Müller GmbH", "purchasing_org": "1010", "currency": "EUR"},
                "DE",
            ),
            {"endpoint": "API_PURCHASEORDER_PROCESS_SRV"},
        ),
        Case(
            "po-2",
            "PURCHASE_ORDER",
            case_summary(
                "PURCHASE_ORDER",
                {"vendor_name": "Acme Ltd", "purchasing_org": "1710", "currency": "GBP"},
                "EN",
            ),
            {"endpoint": "API_PURCHASEORDER_PROCESS_SRV"},
        ),
        Case(
            "gr-1",
            "GOODS_RECEIPT",
            case_summary(
                "GOODS_RECEIPT", {"vendor_name": "Müller GmbH", "plant": "1010", "movement_type": "101"}, "DE"
            ),
            {"endpoint": "API_MATERIAL_DOCUMENT_SRV"},
        ),
        Case(
            "si-1",
            "SUPPLIER_INVOICE",
            case_summary(
                "SUPPLIER_INVOICE",
                {"vendor_name": "Rossi SpA", "currency": "EUR", "po_reference": "4500000012"},
                "IT",
            ),
            {"endpoint": "API_SUPPLIERINVOICE_PROCESS_SRV"},
        ),
    ]
    idx.add(cases)
    return idx


def test_nearest_case_has_the_same_type_and_partner(index):
    query = case_summary(
        "PURCHASE_ORDER", {"vendor_name": "Müller GmbH", "purchasing_org": "1010", "currency": "EUR"}, "DE"
    )
    hits = index.search(query, k=3)
    assert hits[0].id == "po-1"
    assert hits[0].metadata["endpoint"] == "API_PURCHASEORDER_PROCESS_SRV"
    invoice = index.search(case_summary("SUPPLIER_INVOICE", {"vendor_name": "Rossi SpA"}, "IT"), k=1)
    assert invoice[0].id == "si-1"


def test_a_document_is_not_its_own_similar_case(index):
    summary = case_summary(
        "GOODS_RECEIPT", {"vendor_name": "Müller GmbH", "plant": "1010", "movement_type": "101"}, "DE"
    )
    assert all(h.id != "gr-1" for h in index.search(summary, k=3, exclude="gr-1"))
