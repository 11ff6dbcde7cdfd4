"""EDMX parser: V2 and V4 fixtures, the minified file, the six real S/4HANA files, and hostile input."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sap_llm_core.knowledge_base.edmx_parser import (
    EdmxParseError,
    find_edmx_files,
    parse_bytes,
    parse_file,
    parse_files,
)

FIXTURES = Path(__file__).parent / "fixtures"

# Entity-type and property counts of the six shared files, counted independently with grep
# (`<EntityType ` and `<Property ` inside entity types); the parser must find every one.
REAL_COUNTS = {
    "API_BILLING_DOCUMENT_SRV": (8, 337),
    "API_MATERIAL_DOCUMENT_SRV": (3, 101),
    "API_PRODUCT_SRV": (32, 493),
    "API_PURCHASEORDER_PROCESS_SRV": (8, 278),
    "API_SALES_ORDER_SRV": (11, 319),
    "API_SUPPLIERINVOICE_PROCESS_SRV": (10, 282),
}


def test_v2_fixture_parses_types_keys_annotations_and_navigation() -> None:
    doc = parse_file(FIXTURES / "v2_service.edmx")
    assert doc.api == "v2_service" and doc.odata_version == "2.0" and doc.edmx_version == "1.0"
    inv = doc.entity_type("A_Invoice")  # found through the entity set
    assert inv is not None and inv.name == "A_InvoiceType" and inv.label == "Invoice Header"
    assert inv.keys == ["Invoice", "FiscalYear"]
    number = inv.property("Invoice")
    assert number.max_length == "10" and number.nullable is False and number.updatable is False
    assert number.quickinfo == "Invoice Document Number"
    assert number.documentation == "Number of the invoice. Assigned by the system."
    gross = inv.property("GrossAmount")
    assert (gross.type, gross.precision, gross.scale, gross.unit) == ("Edm.Decimal", 14, "3", "Currency")
    assert gross.creatable is False and gross.sortable is False and gross.filterable is True
    assert inv.property("FiscalYear").filterable is False
    assert inv.property("Currency").documentation == "ISO currency code of the invoice."
    nav = inv.navigation_properties[0]
    assert nav.target_type == "ZTEST_INVOICE_SRV.A_InvoiceItemType" and nav.collection is True
    back = doc.entity_type("A_InvoiceItemType").navigation_properties[0]
    assert back.target_type == "ZTEST_INVOICE_SRV.A_InvoiceType" and back.collection is False
    assoc = doc.schemas[0].associations[0]
    assert assoc.principal_properties == ["Invoice"] and assoc.dependent_role == "ToRole_Item"
    sets = {s.name: s for s in doc.entity_sets()}
    assert sets["A_Invoice"].deletable is False and sets["A_Invoice"].searchable is True
    assert sets["A_InvoiceItem"].creatable is False
    (release,) = doc.function_imports()
    assert release.http_method == "POST" and [p.name for p in release.parameters] == ["Invoice", "FiscalYear"]
    assert doc.schemas[0].complex_types[0].properties[0].name == "Message"
    assert doc.counts() == {
        "entity_types": 2,
        "properties": 9,
        "navigation_properties": 2,
        "associations": 1,
        "entity_sets": 2,
        "function_imports": 1,
    }


def test_minified_single_line_file_gives_the_same_model() -> None:
    pretty = parse_file(FIXTURES / "v2_service.edmx")
    minified = parse_file(FIXTURES / "v2_minified.edmx")
    assert (FIXTURES / "v2_minified.edmx").read_text().count("\n") == 0
    assert minified.schemas == pretty.schemas
    assert minified.sha256 != pretty.sha256  # the version is the content hash of the bytes


def test_v4_fixture_parses_partner_navigation_annotations_and_operations() -> None:
    doc = parse_file(FIXTURES / "v4_service.xml")
    assert doc.odata_version == "4.0" and doc.edmx_version == "4.0"
    inv = doc.entity_type("SupplierInvoice")
    ns = "com.sap.gateway.srvd_a2x.api_supplierinvoice.v0001"
    assert inv.qualified_name == f"{ns}.SupplierInvoiceType"
    assert inv.property("SupplierInvoice").label == "Invoice Document"  # inline annotation
    gross = inv.property("InvoiceGrossAmount")  # external <Annotations Target=...> via the alias
    assert gross.label == "Gross Invoice Amount" and gross.scale == "variable" and gross.precision == 23
    assert gross.documentation == "Invoice amount in document currency including taxes."
    assert inv.property("DocumentDate").label == "Document Date"  # <String> child form
    nav = inv.navigation_properties[0]
    assert (nav.target_type, nav.collection, nav.partner) == (
        f"{ns}.SupplierInvoiceItemType",
        True,
        "_Invoice",
    )
    assert doc.entity_type("SupplierInvoiceItemType").property("Note").max_length == "max"
    ops = {f.name: f for f in doc.function_imports()}
    assert ops["Release"].kind == "action" and ops["Release"].return_type == f"{ns}.SupplierInvoiceType"
    assert (
        ops["GetOpenAmount"].kind == "function"
        and ops["GetOpenAmount"].parameters[0].name == "SupplierInvoice"
    )


def test_parsing_is_deterministic() -> None:
    a = parse_file(FIXTURES / "v4_service.xml").model_dump_json()
    b = parse_file(FIXTURES / "v4_service.xml").model_dump_json()
    assert a == b


def test_real_shared_files_parse_completely(shared_edmx_dir: Path) -> None:
    report = parse_files(find_edmx_files(shared_edmx_dir))
    assert not report.quarantined
    got = {d.api: (d.counts()["entity_types"], d.counts()["properties"]) for d in report.documents}
    assert got == REAL_COUNTS
    # independent check against the raw text of each file
    for d in report.documents:
        text = Path(d.source).read_text("utf-8")
        assert d.counts()["entity_types"] == text.count("<EntityType ")
        assert d.counts()["entity_sets"] == text.count("<EntitySet ")
        assert d.counts()["associations"] == text.count("<Association ")
        assert d.counts()["function_imports"] == text.count("<FunctionImport ")
    po = next(d for d in report.documents if d.api == "API_PURCHASEORDER_PROCESS_SRV")
    header = po.entity_type("A_PurchaseOrder")
    assert header.keys == ["PurchaseOrder"] and header.property("PurchaseOrder").max_length == "10"
    assert header.property("CompanyCode").label == "Company Code"
    nav = {n.name: n for n in header.navigation_properties}["to_PurchaseOrderItem"]
    assert nav.target_type.endswith("A_PurchaseOrderItemType") and nav.collection


def test_minified_real_file_is_handled(shared_edmx_dir: Path) -> None:
    one_line = [p for p in find_edmx_files(shared_edmx_dir) if p.read_bytes().count(b"\n") == 0]
    assert one_line, "the shared folder is documented to hold a minified file"
    for path in one_line:
        assert parse_file(path).counts()["properties"] > 100


# hostile and broken input ---------------------------------------------------------------------
BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><x>&lol9;</x></edmx:Edmx>
"""


def test_entity_expansion_bomb_is_rejected_quickly() -> None:
    start = time.perf_counter()
    with pytest.raises(EdmxParseError) as info:
        parse_bytes(BOMB, "bomb.edmx")
    assert time.perf_counter() - start < 0.5
    assert "bomb.edmx" in str(info.value) and info.value.line == 2  # the <!DOCTYPE line


def test_external_entity_is_never_resolved(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file://{secret}">]>'
        '<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx">'
        "<edmx:DataServices>&xxe;</edmx:DataServices></edmx:Edmx>"
    ).encode()
    with pytest.raises(EdmxParseError) as info:
        parse_bytes(xxe, "xxe.edmx")
    assert "TOP-SECRET" not in str(info.value)
    net = (
        b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">'
        b'<edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"/>'
    )
    with pytest.raises(EdmxParseError):
        parse_bytes(net, "dtd.edmx")


def test_truncated_file_names_file_and_position(tmp_path: Path) -> None:
    data = (FIXTURES / "v2_service.edmx").read_bytes()
    path = tmp_path / "API_TRUNCATED_SRV.edmx"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(EdmxParseError) as info:
        parse_file(path)
    err = info.value
    assert err.source == str(path) and err.line is not None and err.line > 10
    assert f"{path} at line {err.line}, column {err.column}" in str(err)


def test_malformed_and_wrong_documents_are_errors(tmp_path: Path) -> None:
    with pytest.raises(EdmxParseError, match=r"bad.edmx at line 1, column"):
        parse_bytes(b"<edmx:Edmx><oops></edmx:Edmx>", "bad.edmx")
    with pytest.raises(EdmxParseError, match="expected <edmx:Edmx>"):
        parse_bytes(b"<html><body/></html>", "page.html")
    with pytest.raises(EdmxParseError, match="empty"):
        parse_bytes(b"   ", "empty.edmx")
    with pytest.raises(EdmxParseError, match="DataServices"):
        parse_bytes(
            b'<edmx:Edmx xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx" Version="4.0"/>', "x.xml"
        )


def test_bad_files_are_quarantined_while_the_others_load(tmp_path: Path) -> None:
    good = FIXTURES / "v2_service.edmx"
    (tmp_path / "A_GOOD.edmx").write_bytes(good.read_bytes())
    (tmp_path / "B_TRUNCATED.edmx").write_bytes(good.read_bytes()[:500])
    (tmp_path / "C_BOMB.edmx").write_bytes(BOMB)
    (tmp_path / "D_V4.xml").write_bytes((FIXTURES / "v4_service.xml").read_bytes())
    (tmp_path / "notes.txt").write_text("ignored")
    report = parse_files(find_edmx_files(tmp_path))
    assert [d.api for d in report.documents] == ["A_GOOD", "D_V4"]
    assert [Path(e.source).name for e in report.quarantined] == ["B_TRUNCATED.edmx", "C_BOMB.edmx"]
