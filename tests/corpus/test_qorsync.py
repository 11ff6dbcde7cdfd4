"""QorSync extraction against a real PostgreSQL server started for the test (initdb as ``postgres``)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from sap_llm_core.corpus import pipeline
from sap_llm_core.corpus.config import QorSyncSettings
from sap_llm_core.corpus.qorsync_extractor import create_schema
from sap_llm_core.corpus.records_io import read_quarantine, read_record_asset
from sap_llm_core.schema import table_to_records

pytestmark = [pytest.mark.integration]


def _as_postgres(*args: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else list(args)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    if not shutil.which("initdb") or not shutil.which("pg_ctl"):
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    folder = Path(tempfile.mkdtemp(prefix="qorsync-pg-"))
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres", "postgres")
    data = folder / "data"
    port = _free_port()
    subprocess.run(
        _as_postgres("initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8"),
        check=True,
        capture_output=True,
    )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        _as_postgres("pg_ctl", "-D", str(data), "-o", options, "-l", str(folder / "log"), "-w", "start"),
        check=True,
        capture_output=True,
    )
    try:
        admin = sa.create_engine(
            f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres", isolation_level="AUTOCOMMIT"
        )
        with admin.connect() as connection:
            connection.exec_driver_sql("CREATE DATABASE qorsync")
        admin.dispose()
        yield f"postgresql://postgres@127.0.0.1:{port}/qorsync"
    finally:
        subprocess.run(
            _as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop"), capture_output=True
        )
        shutil.rmtree(folder, ignore_errors=True)


WORDS = ["Purchase", "Order", "4500012345", "Vendor", "Acme", "GmbH", "Total", "1.250,00", "EUR"]


def _words(words: list[str]) -> str:
    return json.dumps([{"text": w, "box": [10 + 40 * i, 20, 45 + 40 * i, 35]} for i, w in enumerate(words)])


def _at(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _seed(engine: sa.Engine) -> None:
    create_schema(engine)
    documents = [
        ("d1", "purchase_order", "de", _words(WORDS), "2024-01-10"),
        ("d2", "SUPPLIER_INVOICE", "EN", _words(["Invoice", "R-1", "Total", "99.00"]), "2024-02-01"),
        ("d3", "GOODS_RECEIPT", "EN", json.dumps({"not": "a list"}), "2024-02-02"),
        ("d4", "PURCHASE_ORDER", "EN", _words(["old"]), "2023-06-01"),  # outside the window
        ("d5", "FOO_FORM", "EN", _words(["Some", "form"]), "2024-03-01"),
    ]
    with engine.begin() as c:
        for doc_id, doc_type, lang, words, day in documents:
            c.execute(
                sa.text(
                    "INSERT INTO documents VALUES"
                    " (:id, :t, :l, 1000, 500, NULL, CAST(:w AS JSONB), :u, :c, :c)"
                ),
                {
                    "id": doc_id,
                    "t": doc_type,
                    "l": lang,
                    "w": words,
                    "u": f"s3://qorsync/{doc_id}.pdf",
                    "c": _at(day),
                },
            )
        extractions = [
            ("d1", "po_number", "4500012345", 0.99),
            ("d1", "vendor", "Acme", 0.7),
            ("d1", "total", "1.250,00", 0.95),
            ("d2", "invoice_number", "R-1", 0.9),
            ("d2", "total", "98.00", 0.4),
        ]
        for doc_id, name, value, confidence in extractions:
            c.execute(
                sa.text(
                    "INSERT INTO extractions (document_id, field_name, field_value, confidence,"
                    " model_version, extracted_at) VALUES (:d, :n, :v, :c, 'v1', :t)"
                ),
                {"d": doc_id, "n": name, "v": value, "c": confidence, "t": _at("2024-03-05")},
            )
        validations = [
            ("d1", "po_number", "approved", None),
            ("d1", "vendor", "corrected", "Acme GmbH"),
            ("d1", "total", "approved", None),
            ("d2", "invoice_number", "approved", None),
            ("d2", "total", "rejected", None),
        ]
        for doc_id, name, status, value in validations:
            c.execute(
                sa.text(
                    "INSERT INTO validations (document_id, field_name, status, corrected_value, validated_by,"
                    " validated_at) VALUES (:d, :n, :s, :v, 'clerk', :t)"
                ),
                {"d": doc_id, "n": name, "s": status, "v": value, "t": _at("2024-03-06")},
            )


def test_extraction_window_ground_truth_quarantine_and_incremental_watermark(postgres: str, store):
    engine = sa.create_engine(pipeline._psycopg_url(postgres))
    _seed(engine)
    settings = QorSyncSettings(start_date="2024-01-01", end_date="2025-01-01")

    first = pipeline.build_qorsync_documents(store, settings, postgres)
    assert first["enabled"] and first["mode"] == "full"
    assert first["extracted"] == {"seen": 4, "records": 3, "quarantined": 1}  # d4 is outside the window
    records = {r.id: r for r in table_to_records(read_record_asset(store, "qorsync_documents"))}
    assert set(records) == {"qorsync:d1", "qorsync:d2", "qorsync:d5"}
    d1 = records["qorsync:d1"]
    assert d1.document_type == "PURCHASE_ORDER" and d1.language == "DE" and d1.source == "qorsync"
    assert json.loads(d1.ground_truth) == {
        "po_number": "4500012345",
        "total": "1.250,00",
        "vendor": "Acme GmbH",
    }
    spans = {s.field: [d1.words[i] for i in s.word_indices] for s in d1.field_spans}
    assert spans["vendor"] == ["Acme", "GmbH"]
    assert d1.boxes[0] == [10, 40, 45, 70]  # pixels on a 1000x500 page -> 0..1000
    d2_extra = json.loads(records["qorsync:d2"].extra)
    assert d2_extra["needs_review"] and d2_extra["rejected_fields"] == ["total"]
    assert json.loads(records["qorsync:d2"].ground_truth) == {"invoice_number": "R-1"}
    assert records["qorsync:d5"].document_type == "UNKNOWN"
    assert json.loads(records["qorsync:d5"].extra)["qorsync_document_type"] == "FOO_FORM"
    quarantine = read_quarantine(store, "qorsync_documents").to_pylist()
    assert [(q["id"], q["stage"]) for q in quarantine] == [("qorsync:d3", "qorsync_documents.extract")]
    assert "not a JSON list" in quarantine[0]["reason"]
    assert first["watermark"].startswith("2024-03-06")

    # A late correction of d2 and a new document d6: only those two are extracted again.
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO validations (document_id, field_name, status, corrected_value, validated_by,"
                " validated_at) VALUES ('d2', 'total', 'corrected', '99.00', 'lead', :t)"
            ),
            {"t": _at("2024-04-01")},
        )
        c.execute(
            sa.text(
                "INSERT INTO documents VALUES"
                " ('d6', 'DELIVERY_NOTE', 'FR', 800, 600, NULL, CAST(:w AS JSONB), NULL, :t, :t)"
            ),
            {"w": _words(["Bon", "de", "livraison"]), "t": _at("2024-04-02")},
        )
    second = pipeline.build_qorsync_documents(store, settings, postgres)
    assert second["mode"] == "incremental" and second["previous_watermark"] == first["watermark"]
    assert second["extracted"] == {"seen": 2, "records": 2, "quarantined": 0}
    records = {r.id: r for r in table_to_records(read_record_asset(store, "qorsync_documents"))}
    assert set(records) == {"qorsync:d1", "qorsync:d2", "qorsync:d5", "qorsync:d6"}
    assert json.loads(records["qorsync:d2"].ground_truth) == {"invoice_number": "R-1", "total": "99.00"}
    assert not json.loads(records["qorsync:d2"].extra)["needs_review"]
    assert read_quarantine(store, "qorsync_documents").num_rows == 1  # d3 kept in quarantine
    assert second["watermark"].startswith("2024-04-02")

    third = pipeline.build_qorsync_documents(store, settings, postgres)
    assert third["extracted"]["seen"] == 0 and third["rows"] == 4  # nothing changed
    engine.dispose()


def test_off_without_uri_records_zero_rows_and_why(store):
    manifest = pipeline.build_qorsync_documents(store, QorSyncSettings(), None)
    assert manifest["rows"] == 0 and manifest["enabled"] is False
    assert "QORSYNC_DB_URI" in manifest["reason"]
