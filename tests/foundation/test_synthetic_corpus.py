"""The generator end to end on a small corpus: content, determinism, incremental shards, quarantine."""

import json
from collections import Counter

import pyarrow as pa
import pypdfium2 as pdfium
import pytest
from PIL import Image

from sap_llm_core.schema import DocumentRecord
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic import quality
from sap_llm_core.synthetic.catalog import DocumentType, Language
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
from sap_llm_core.synthetic.validation import record_problems

SMALL = GeneratorConfig(num_documents=140, shard_size=70, augment_fraction=0.5, render_images=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    store = ArtifactStore(str(tmp_path_factory.mktemp("corpus")))
    manifest, stats = generate_corpus(SMALL, store, workers=2)
    table = quality.load_table(store, manifest)
    records = [DocumentRecord.model_validate(r) for r in table.to_pylist()]
    return store, manifest, stats, table, records


def test_every_type_and_language_is_generated(corpus):
    _, manifest, _, table, records = corpus
    assert manifest["kept"] == 140 and manifest["quarantined"] == 0 and table.num_rows == 140
    assert {r.document_type for r in records} == {t.value for t in DocumentType}
    assert Counter(r.language for r in records) == {lang.value: 28 for lang in Language}
    assert len({r.subtype for r in records if r.document_type == "PURCHASE_ORDER"}) >= 4
    assert len({json.loads(r.extra)["template_id"] for r in records}) >= 10


def test_stored_corpus_passes_every_quality_check(corpus):
    store, manifest, _, table, _ = corpus
    outcomes = [
        quality.check_schema(table),
        quality.check_coverage(table, SMALL),
        quality.check_amounts(table),
        quality.check_ground_truth_in_words(table),
        quality.check_unique_ids(table),
        quality.check_counts_conserved(table, quality.load_quarantine(store, manifest), manifest),
    ]
    assert all(o.passed for o in outcomes), [o.description for o in outcomes if not o.passed]


def test_every_record_has_spans_for_header_and_line_items(corpus):
    *_, records = corpus
    for record in records:
        gt = record.ground_truth_json()
        assert gt["header"], record.id
        assert len(record.field_spans) == len(gt["header"]) + sum(len(i) for i in gt["line_items"])
        if record.document_type in {"PURCHASE_ORDER", "SUPPLIER_INVOICE"}:
            assert gt["line_items"] and "total_amount" in gt["header"]


def test_boxes_are_normalised_and_in_reading_order(corpus):
    *_, records = corpus
    for record in records:
        assert len(record.words) == len(record.boxes) > 30
        centres = [(b[1] + b[3]) / 2 for b in record.boxes]
        # Top to bottom: a word never starts a line above the previous one (small font-size slack).
        assert all(b >= a - 6 for a, b in zip(centres, centres[1:], strict=False)), record.id
        assert record.ocr_text.split() == record.words


def test_words_and_boxes_are_what_the_pdf_draws(corpus):
    store, _, _, _, records = corpus
    for record in records[:10]:
        document = pdfium.PdfDocument(store.read_bytes(ASSET, record.pdf_path))
        page = document[0]
        text = page.get_textpage()
        width, height = page.get_size()
        pdf_words = text.get_text_range().split()
        assert pdf_words == record.words or sorted(pdf_words) == sorted(record.words)
        # Each word's box matches where pdfium finds that word's first character.
        checked = 0
        for word, box in list(zip(record.words, record.boxes, strict=True))[:25]:
            searcher = text.search(word, match_case=True, match_whole_word=False)
            hits = []
            while (hit := searcher.get_next()) is not None:
                left, bottom, right, top = text.get_charbox(hit[0])
                hits.append((left / width * 1000, (height - top) / height * 1000))
            assert any(abs(x - box[0]) < 4 and abs(y - box[1]) < 8 for x, y in hits), (word, box, hits[:3])
            checked += 1
        assert checked == 25
        document.close()


def test_page_images_and_augmentations(corpus):
    store, _, _, _, records = corpus
    augmented = [r for r in records if json.loads(r.extra)["augmentations"]]
    assert 0.3 * len(records) < len(augmented) < 0.7 * len(records)
    kinds = {k for r in augmented for a in json.loads(r.extra)["augmentations"] for k in a}
    assert kinds == {"rotate", "speckle_share", "blur_radius", "contrast"}
    for r in augmented:
        for a in json.loads(r.extra)["augmentations"]:
            assert abs(a.get("rotate", 0)) <= 5
    image = Image.open(store.fs.open(store.path(ASSET, records[0].image_path), "rb"))
    assert abs(image.size[0] - 595) <= 1 and abs(image.size[1] - 842) <= 1  # A4 at 72 dpi


def test_same_seed_gives_byte_identical_output(tmp_path):
    config = GeneratorConfig(num_documents=30, shard_size=15, augment_fraction=0.5)
    a, b = ArtifactStore(str(tmp_path / "a")), ArtifactStore(str(tmp_path / "b"))
    manifest_a, _ = generate_corpus(config, a, workers=1)
    manifest_b, _ = generate_corpus(config, b, workers=2)
    assert manifest_a == manifest_b
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) > 60
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel
    other, _ = generate_corpus(
        config.model_copy(update={"seed": 7}), ArtifactStore(str(tmp_path / "c")), workers=1
    )
    assert other["data_version"] != manifest_a["data_version"]


def test_more_documents_add_shards_and_keep_old_ones(tmp_path):
    store = ArtifactStore(str(tmp_path))
    small = GeneratorConfig(num_documents=50, shard_size=20, render_images=False)
    first, stats = generate_corpus(small, store, workers=1)
    assert stats["shards_generated"] == 3  # 20 + 20 + 10
    shard0 = tmp_path / ASSET / "shards" / "shard-00000.parquet"
    mtime, content = shard0.stat().st_mtime_ns, shard0.read_bytes()
    partial = quality.load_table(store, first).to_pylist()[40:]

    second, stats = generate_corpus(small.model_copy(update={"num_documents": 70}), store, workers=1)
    assert stats["shards_reused"] == 2 and stats["shards_generated"] == 2  # shard 2 completed, shard 3 new
    assert shard0.stat().st_mtime_ns == mtime and shard0.read_bytes() == content
    rows = quality.load_table(store, second).to_pylist()
    assert len(rows) == 70
    assert rows[40:50] == partial  # the partial shard's documents are a prefix of the full shard
    assert first["shards"][:2] == second["shards"][:2]

    third, stats = generate_corpus(small.model_copy(update={"num_documents": 30}), store, workers=1)
    assert stats["shards_generated"] == 1 and third["kept"] == 30
    assert not (tmp_path / ASSET / "shards" / "shard-00003.parquet").exists()


def test_a_tampered_shard_is_regenerated(tmp_path):
    store = ArtifactStore(str(tmp_path))
    config = GeneratorConfig(num_documents=10, shard_size=10, render_images=False)
    manifest, _ = generate_corpus(config, store, workers=1)
    (tmp_path / ASSET / "shards" / "shard-00000.parquet").write_bytes(b"garbage")
    again, stats = generate_corpus(config, store, workers=1)
    assert stats["shards_generated"] == 1 and again == manifest


def test_invalid_records_are_quarantined_not_dropped(tmp_path):
    store = ArtifactStore(str(tmp_path))
    config = GeneratorConfig(num_documents=24, shard_size=12, render_images=False)

    def reject_every_fourth(record):
        return ["rejected by test"] if int(record.id[-4:]) % 4 == 0 else record_problems(record)

    manifest, _ = generate_corpus(config, store, workers=1, validator=reject_every_fourth)
    quarantine = quality.load_quarantine(store, manifest)
    table = quality.load_table(store, manifest)
    assert manifest["quarantined"] == quarantine.num_rows == 6
    assert table.num_rows + quarantine.num_rows == 24
    assert set(quarantine.column("reason").to_pylist()) == {"rejected by test"}
    assert set(quarantine.column("id").to_pylist()).isdisjoint(table.column("id").to_pylist())
    payload = json.loads(quarantine.column("payload")[0].as_py())
    assert payload["id"] == quarantine.column("id")[0].as_py()
    assert quality.check_counts_conserved(table, quarantine, manifest).passed
    for doc_id in quarantine.column("id").to_pylist():
        assert not list(tmp_path.rglob(f"{doc_id}.pdf"))


def _with_row(table: pa.Table, index: int, **changes) -> pa.Table:
    rows = table.to_pylist()
    rows[index] = {**rows[index], **changes}
    return pa.Table.from_pylist(rows, schema=table.schema)


def test_checks_catch_corrupted_data(corpus):
    *_, table, records = corpus
    invoice = next(i for i, r in enumerate(records) if r.document_type == "SUPPLIER_INVOICE")
    gt = records[invoice].ground_truth_json()
    gt["header"]["total_amount"] = gt["header"]["subtotal"]
    broken = _with_row(table, invoice, ground_truth=json.dumps(gt), content_sha256="")
    assert not quality.check_amounts(broken).passed
    assert not quality.check_ground_truth_in_words(broken).passed

    words = list(records[invoice].words)
    span = records[invoice].field_spans[0]
    words[span.word_indices[0]] = "XXXX"
    assert not quality.check_ground_truth_in_words(
        _with_row(table, invoice, words=words, content_sha256="")
    ).passed
    assert not quality.check_schema(_with_row(table, invoice, words=words)).passed  # hash no longer matches

    duplicated = pa.concat_tables([table, table.slice(0, 1)])
    assert not quality.check_unique_ids(duplicated).passed
    assert not quality.check_coverage(table.filter(pa.compute.equal(table["language"], "EN")), SMALL).passed
