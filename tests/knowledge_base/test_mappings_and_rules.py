"""Field mappings against the real schemas and the generator's documents; business rules and the
safe evaluator."""

from __future__ import annotations

import copy
import random
from collections import Counter
from importlib import resources
from pathlib import Path

import pytest
import yaml
from faker import Faker

from sap_llm_core.knowledge_base.business_rules import RuleEngine, load_rules, parse_errors
from sap_llm_core.knowledge_base.field_mappings import check_references, load_mappings, map_document
from sap_llm_core.knowledge_base.rule_evaluator import RuleSyntaxError, compile_rule
from sap_llm_core.knowledge_base.transformations import TRANSFORMATIONS
from sap_llm_core.synthetic.catalog import SUBTYPES, DocumentType, Language
from sap_llm_core.synthetic.content import ContentBuilder, PartyPool
from sap_llm_core.synthetic.locales import LOCALES


def generated_documents(per_type: int = 3, seed: int = 11) -> list[dict]:
    docs = []
    for n, lang in enumerate(Language):
        rng = random.Random(seed * 100 + n)
        faker = Faker(LOCALES[lang].faker_locale)
        faker.seed_instance(seed + n)
        builder = ContentBuilder(rng, lang, PartyPool(rng, faker, lang))
        for doc_type in DocumentType:
            for i in range(per_type):
                subtype = SUBTYPES[doc_type][i % len(SUBTYPES[doc_type])]
                docs.append(builder.build(doc_type, subtype).ground_truth())
    return docs


@pytest.fixture(scope="module")
def docs() -> list[dict]:
    return generated_documents()


def test_every_document_type_is_mapped_with_known_transformations() -> None:
    mappings = load_mappings()
    assert set(mappings.document_types) == {t.value for t in DocumentType}
    seeds = {
        "PURCHASE_ORDER": "API_PURCHASEORDER_PROCESS_SRV",
        "SUPPLIER_INVOICE": "API_SUPPLIERINVOICE_PROCESS_SRV",
        "SALES_ORDER": "API_SALES_ORDER_SRV",
        "CUSTOMER_INVOICE": "API_BILLING_DOCUMENT_SRV",
        "GOODS_RECEIPT": "API_MATERIAL_DOCUMENT_SRV",
        "GOODS_ISSUE": "API_MATERIAL_DOCUMENT_SRV",
    }
    for doc_type, api in seeds.items():
        assert mappings.document_types[doc_type].api == api
    assert mappings.document_types["PURCHASE_ORDER"].header_entity == "A_PurchaseOrder"
    for dtm in mappings.document_types.values():
        for *_, m in dtm.targets():
            assert m.transformation in TRANSFORMATIONS


def test_no_broken_references_against_the_real_schemas(real_schemas) -> None:
    results = check_references(load_mappings(), real_schemas)
    broken = [r for r in results if r.status == "broken"]
    assert broken == []
    status = Counter(r.status for r in results)
    assert status["ok"] >= 100  # every mapping into the six shared APIs is verified
    present = {d.api for d in real_schemas}
    assert all(r.status == "ok" for r in results if r.api in present)


def test_a_wrong_property_is_reported_as_broken(real_schemas, tmp_path: Path) -> None:
    packaged = resources.files("sap_llm_core.knowledge_base").joinpath("data/field_mappings.yaml")
    data = yaml.safe_load(packaged.read_text("utf-8"))
    data["document_types"]["PURCHASE_ORDER"]["header"]["po_number"]["property"] = "PurchaseOrderNumber"
    data["document_types"]["SALES_ORDER"]["header_entity"] = "A_NoSuchEntity"
    data["document_types"]["GOODS_RECEIPT"]["header"]["plant"]["transformation"] = "nope"
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(data))
    broken = {
        (r.document_type, r.field): r.reason
        for r in check_references(load_mappings(path), real_schemas)
        if r.status == "broken"
    }
    assert "PurchaseOrderNumber" in broken[("PURCHASE_ORDER", "po_number")]
    assert "A_NoSuchEntity" in broken[("SALES_ORDER", "order_date")]
    assert "nope" in broken[("GOODS_RECEIPT", "plant")]


def test_generated_documents_map_without_errors_or_unmapped_fields(docs) -> None:
    mappings = load_mappings()
    for doc in docs:
        result = map_document(mappings, doc)
        assert result["errors"] == [], (doc["document_type"], doc["language"], result["errors"])
        assert result["unmapped"] == [], (doc["document_type"], result["unmapped"])


def test_mapping_output_values() -> None:
    doc = {
        "document_type": "SUPPLIER_INVOICE",
        "language": "DE",
        "header": {
            "invoice_number": "RE-2024-0042",
            "invoice_date": "15.03.2024",
            "po_reference": "4500001234",
            "vendor_iban": "DE89 3704 0044 0532 0130 00",
            "vendor_vat_id": "DE 136 695 976",
            "total_amount": "1.234,56",
            "currency": "EUR",
        },
        "line_items": [{"item_number": "00010", "quantity": "2", "unit": "Stk", "line_total": "1.037,45"}],
    }
    out = map_document(load_mappings(), doc)
    header = {v.property: v.value for v in out["header"]}
    assert header == {
        "SupplierInvoiceIDByInvcgParty": "RE-2024-0042",
        "DocumentDate": "2024-03-15",
        "PurchaseOrder": "4500001234",
        "IBAN": "DE89370400440532013000",
        "SupplierVATRegistration": "DE136695976",
        "InvoiceGrossAmount": "1234.56",
        "DocumentCurrency": "EUR",
    }
    item = {v.property: v.value for v in out["items"][0]}
    assert item == {
        "SupplierInvoiceItem": "000010",
        "QuantityInPurchaseOrderUnit": "2",
        "PurchaseOrderQuantityUnit": "PC",
        "SupplierInvoiceItemAmount": "1037.45",
    }
    bad = copy.deepcopy(doc)
    bad["header"]["invoice_date"] = "03/15/2024"  # an EN date on a DE document
    assert [e.field for e in map_document(load_mappings(), bad)["errors"]] == ["invoice_date"]


# rules ------------------------------------------------------------------------------------------
def test_every_rule_parses_and_has_the_required_attributes() -> None:
    rules = load_rules()
    assert parse_errors(rules) == {}
    assert len(rules.rules) >= 25
    categories = {r.category for r in rules.rules}
    assert {"amount", "date", "mandatory", "format", "cross_document", "duplicate"} <= categories
    for r in rules.rules:
        assert r.id and r.description and r.applies_to and r.severity in ("error", "warning", "info")
        assert set(r.applies_to) <= {t.value for t in DocumentType}


def test_generated_documents_pass_every_applicable_rule(docs) -> None:
    engine = RuleEngine(load_rules())
    fired = Counter()
    for doc in docs:
        for f in engine.check_document(doc):
            assert f.passed, (doc["document_type"], doc["language"], f)
            fired[f.rule_id] += 1
    document_rules = {r.id for r in load_rules().rules if r.scope in ("document", "line_item")}
    assert set(fired) == document_rules  # every document rule applied to some document


def test_rules_catch_broken_documents_and_suggest_corrections(docs) -> None:
    engine = RuleEngine(load_rules())
    invoice = copy.deepcopy(
        next(d for d in docs if d["document_type"] == "SUPPLIER_INVOICE" and d["language"] == "DE")
    )
    invoice["line_items"][0]["line_total"] = "999.999,99"
    invoice["header"]["vendor_iban"] = invoice["header"]["vendor_iban"][:-1] + (
        "1" if invoice["header"]["vendor_iban"][-1] != "1" else "2"
    )
    invoice["header"]["due_date"] = "01.01.2000"
    del invoice["header"]["currency"]
    failed = {f.rule_id: f for f in engine.check_document(invoice) if not f.passed}
    assert {"AMT-001", "AMT-002", "FMT-001", "DATE-001", "MAND-002"} <= set(failed)
    assert failed["AMT-001"].auto_correctable and failed["AMT-001"].location == "line_items[0]"
    item = invoice["line_items"][0]
    from sap_llm_core.knowledge_base.transformations import calculate_line_total

    assert failed["AMT-001"].suggestion == calculate_line_total(item["quantity"], item["unit_price"], "DE")
    assert not failed["FMT-001"].auto_correctable


def test_three_way_match_with_five_percent_tolerance() -> None:
    engine = RuleEngine(load_rules())
    po = {
        "document_type": "PURCHASE_ORDER",
        "language": "DE",
        "header": {
            "po_number": "4500001234",
            "total_amount": "1.000,00",
            "currency": "EUR",
            "vendor_vat_id": "DE136695976",
        },
        "line_items": [{"quantity": "10"}],
    }
    invoice = {
        "document_type": "SUPPLIER_INVOICE",
        "language": "EN",
        "header": {
            "po_reference": "4500001234",
            "total_amount": "1,049.00",
            "currency": "EUR",
            "vendor_vat_id": "de136695976",
        },
        "line_items": [{"quantity": "10"}],
    }
    gr = {
        "document_type": "GOODS_RECEIPT",
        "language": "FR",
        "header": {"po_reference": "4500001234"},
        "line_items": [{"quantity": "10"}],
    }
    ok = {f.rule_id: f.passed for f in engine.check_bundle({"po": po, "invoice": invoice, "gr": gr})}
    assert ok == {
        "XDOC-001": True,
        "XDOC-002": True,
        "XDOC-003": True,
        "XDOC-004": True,
        "XDOC-005": True,
        "XDOC-006": True,
    }
    invoice["header"]["total_amount"] = "1,051.00"  # 5.1 % above the PO
    invoice["line_items"][0]["quantity"] = "11"  # 10 % more than received
    invoice["header"]["po_reference"] = "4500009999"
    failed = {
        f.rule_id for f in engine.check_bundle({"po": po, "invoice": invoice, "gr": gr}) if not f.passed
    }
    assert failed == {"XDOC-001", "XDOC-002", "XDOC-003"}


def test_duplicate_detection(docs) -> None:
    engine = RuleEngine(load_rules())
    invoices = [d for d in docs if d["document_type"] == "SUPPLIER_INVOICE"]
    assert engine.find_duplicates(invoices) == []
    dup = engine.find_duplicates([*invoices, copy.deepcopy(invoices[2])])
    assert [f.rule_id for f in dup] == ["DUP-001"] and dup[0].location == f"2,{len(invoices)}"


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('true')",
        "header.__class__",
        "(lambda: 1)()",
        "[x for x in items]",
        "open('/etc/passwd')",
        "header.get('x')",
        "params.tolerance if True else eval('1')",
        "a := 1",
        "amount(header.total_amount, key=1)",
    ],
)
def test_evaluator_refuses_anything_outside_the_allow_list(expression: str) -> None:
    from sap_llm_core.knowledge_base.business_rules import FUNCTIONS

    with pytest.raises(RuleSyntaxError):
        compile_rule(expression, FUNCTIONS, frozenset({"header", "items", "params"}))


def test_a_rule_that_does_not_parse_is_reported(tmp_path: Path) -> None:
    data = {
        "version": 1,
        "rules": [
            {
                "id": "X-1",
                "description": "d",
                "applies_to": ["PURCHASE_ORDER"],
                "severity": "error",
                "category": "amount",
                "expression": "amount(header.total_amount) >",
            },
            {
                "id": "X-2",
                "description": "d",
                "applies_to": ["PURCHASE_ORDER"],
                "severity": "error",
                "category": "amount",
                "expression": "system(header.x)",
            },
        ],
    }
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump(data))
    errors = parse_errors(load_rules(path))
    assert set(errors) == {"X-1", "X-2"} and "system" in errors["X-2"]
    with pytest.raises(RuleSyntaxError):
        RuleEngine(load_rules(path))
