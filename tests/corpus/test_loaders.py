"""Public-dataset loaders: native formats in, unified records or quarantine rows with reasons out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sap_llm_core.corpus.config import PublicDataSettings
from sap_llm_core.corpus.loaders import load_cord, load_funsd, load_public, load_rvl_cdip, load_sroie
from sap_llm_core.corpus.loaders.common import BadDocument, LoadResult, normalise_box, split_line_box
from sap_llm_core.corpus.pipeline import build_public_documents
from sap_llm_core.corpus.records_io import read_quarantine, read_record_asset
from sap_llm_core.schema import DocumentRecord
from sap_llm_core.schema.document_record import content_hash


def _reasons(result: LoadResult) -> dict[str, str]:
    return {q.id: q.reason for q in result.quarantine}


def _accounted(result: LoadResult) -> None:
    assert result.seen == len(result.records) + len(result.quarantine), result.counts()


def _valid(record: DocumentRecord) -> None:
    DocumentRecord.model_validate(record.model_dump())  # round-trips through the validators
    assert record.content_sha256 == content_hash(record.words, record.ground_truth)
    assert all(0 <= v <= 1000 for box in record.boxes for v in box)


# --- small units --------------------------------------------------------------------------------
def test_normalise_box_scales_orders_and_rejects_far_off_boxes():
    assert normalise_box(50, 20, 10, 10, 100, 200) == [100, 50, 500, 100]
    assert normalise_box(0, 0, 102, 200, 100, 200) == [0, 0, 1000, 1000]  # 2% overshoot is clamped
    with pytest.raises(BadDocument, match="outside"):
        normalise_box(0, 0, 150, 10, 100, 200)


def test_split_line_box_gives_each_word_its_slice():
    words, boxes = split_line_box("AB CDEF", [0, 10, 700, 20])
    assert words == ["AB", "CDEF"]
    assert boxes == [[0, 10, 200, 20], [300, 10, 700, 20]]


# --- own fixtures, one per native format --------------------------------------------------------
def test_funsd_fixture_maps_entities_links_and_quarantines_the_mess(fixtures: Path):
    result = load_funsd(fixtures / "funsd")
    _accounted(result)
    assert [r.id for r in result.records] == ["funsd:training_data/form_good"]
    record = result.records[0]
    _valid(record)
    assert record.document_type == "FORM" and record.language == "EN"
    assert record.words[:2] == ["REGISTRATION", "FORM"]
    assert "" not in record.words and json.loads(record.extra)["skipped_empty_words"] == 1
    assert record.boxes[0] == [50, 50, 600, 150]  # 200x200 image
    truth = json.loads(record.ground_truth)
    assert [1, 2] in truth["links"] and [3, 4] in truth["links"]
    labels = {s.label for s in record.field_spans}
    assert labels == {"header", "question", "answer"}  # "other" gets no span
    answer = next(s for s in record.field_spans if s.field == "entities[2]")
    assert [record.words[i] for i in answer.word_indices] == ["Jane", "Doe"]
    reasons = _reasons(result)
    assert "no non-empty words" in reasons["funsd:training_data/form_empty"]
    assert "outside" in reasons["funsd:testing_data/form_offpage"]
    assert "no image" in reasons["funsd:testing_data/form_noimage"]


def test_cord_fixture_uses_quads_image_size_and_gt_parse(fixtures: Path):
    result = load_cord(fixtures / "cord")
    _accounted(result)
    assert result.counts() == {"seen": 3, "records": 1, "quarantined": 2}
    record = result.records[0]
    _valid(record)
    assert record.document_type == "RECEIPT" and record.subtype == "CORD" and record.language == "ID"
    assert record.words[:3] == ["Nasi", "Goreng", "x2"]
    assert record.boxes[0] == [33, 25, 267, 75]  # quad (10,10)-(80,30) on 300x400
    assert json.loads(record.ground_truth)["total"]["total_price"] == "50,000"
    spans = {s.field: s for s in record.field_spans}
    assert [record.words[i] for i in spans["valid_line[0].menu.nm"].word_indices] == ["Nasi", "Goreng"]
    reasons = _reasons(result)
    assert "image_size" in reasons["cord:receipt_00008"]
    assert "not valid JSON" in reasons["cord:receipt_00009"]


def test_sroie_fixture_reads_task1_lines_and_task3_keys(fixtures: Path):
    result = load_sroie(fixtures / "sroie")
    _accounted(result)
    assert [r.id for r in result.records] == ["sroie:000"]
    record = result.records[0]
    _valid(record)
    assert record.document_type == "RECEIPT" and record.subtype == "SROIE"
    truth = json.loads(record.ground_truth)
    assert truth == {
        "address": "NO 12, JALAN BUNGA, 81100 JOHOR",
        "company": "KEDAI MAKAN SEDAP SDN BHD",
        "date": "25/12/2018",
        "total": "9.00",
    }
    spans = {s.field: [record.words[i] for i in s.word_indices] for s in record.field_spans}
    assert spans["company"] == ["KEDAI", "MAKAN", "SEDAP", "SDN", "BHD"]
    assert spans["total"] == ["9.00"]
    assert record.ocr_text.splitlines()[0] == "KEDAI MAKAN SEDAP SDN BHD"
    reasons = _reasons(result)
    assert "box line 2" in reasons["sroie:001"]  # cp1252 file with a malformed row
    assert "no task-1 box file" in reasons["sroie:002"]
    assert "no image" in reasons["sroie:003"]


def test_rvl_cdip_fixture_maps_classes_and_uses_ocr_sidecars(fixtures: Path):
    result = load_rvl_cdip(fixtures / "rvl_cdip")
    _accounted(result)
    by_id = {r.id: r for r in result.records}
    letter = by_id["rvl_cdip:imagesa/a/a/a/aaa01a00/0000001"]
    assert (letter.document_type, letter.subtype, letter.words) == ("UNKNOWN", "LETTER", [])
    invoice = by_id["rvl_cdip:imagesb/b/b/b/bbb02b00/0000002"]
    assert (invoice.document_type, invoice.subtype) == ("SUPPLIER_INVOICE", "INVOICE")
    assert invoice.words == ["INVOICE", "No.", "4711"] and invoice.boxes[0] == [50, 42, 400, 125]
    email = by_id["rvl_cdip:imagesc/c/c/c/ccc03c00/0000003"]
    assert (email.document_type, email.subtype) == ("UNKNOWN", "EMAIL")
    reasons = [q.reason for q in result.quarantine]
    assert any("outside 0..15" in r for r in reasons)
    assert any("does not exist" in r for r in reasons)
    assert any("is not '<path> <label>'" in r for r in reasons)
    assert result.counts() == {"seen": 6, "records": 3, "quarantined": 3}


def test_missing_dataset_folder_gives_zero_rows_and_a_note(tmp_path: Path):
    settings = PublicDataSettings(root=str(tmp_path), enabled=("funsd", "rvl_cdip"))
    results = load_public(settings)
    assert all(r.counts() == {"seen": 0, "records": 0, "quarantined": 0} for r in results.values())
    assert "does not exist" in results["rvl_cdip"].notes[0]


def test_public_documents_asset_files_account_for_every_document(fixtures: Path, store):
    manifest = build_public_documents(store, PublicDataSettings(root=str(fixtures)))
    seen = sum(d["seen"] for d in manifest["datasets"].values())
    records = read_record_asset(store, "public_documents")
    quarantine = read_quarantine(store, "public_documents")
    assert seen == records.num_rows + quarantine.num_rows == 4 + 3 + 4 + 6
    assert manifest["rows"] == records.num_rows == 6
    assert set(quarantine.column("stage").to_pylist()) == {
        "public_documents.funsd",
        "public_documents.cord",
        "public_documents.sroie",
        "public_documents.rvl_cdip",
    }
    again = build_public_documents(store, PublicDataSettings(root=str(fixtures)))
    assert again["data_version"] == manifest["data_version"]  # deterministic


# --- the real shared data -------------------------------------------------------------------------
def test_real_funsd_all_199_forms(public_root: Path):
    result = load_funsd(public_root / "funsd")
    _accounted(result)
    assert result.seen == 199
    assert len(result.records) >= 195
    for record in result.records[:20]:
        _valid(record)
    splits = {json.loads(r.extra)["dataset_split"] for r in result.records}
    assert splits == {"training_data", "testing_data"}
    skipped = sum(json.loads(r.extra)["skipped_empty_words"] for r in result.records)
    assert skipped > 0  # the real data has empty words; they are skipped, not crashed on


def test_real_sroie_and_cord(public_root: Path):
    sroie = load_sroie(public_root / "sroie")
    cord = load_cord(public_root / "cord")
    for result, expected in ((sroie, 80), (cord, 100)):
        _accounted(result)
        assert result.seen == expected
        assert len(result.records) >= 0.9 * expected
        for record in result.records[:10]:
            _valid(record)
    with_total = [r for r in sroie.records if any(s.field == "total" for s in r.field_spans)]
    assert len(with_total) >= 0.5 * len(sroie.records)
    assert all(json.loads(r.ground_truth).get("menu") is not None for r in cord.records[:10])
