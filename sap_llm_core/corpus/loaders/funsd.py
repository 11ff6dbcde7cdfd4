"""FUNSD: noisy scanned forms, ``annotations/*.json`` (``form[]`` entities) beside ``images/*.png``.

Each entity has a label (question/answer/header/other), words with pixel boxes and ``linking`` pairs.
The record keeps words in file order, the entities and links as ground truth, and a field span per
labelled entity so field detection gets BIO tags. Empty words (FUNSD has ~900) are skipped and
counted in ``extra``; a form left with no words is quarantined.
"""

from __future__ import annotations

import json
from pathlib import Path

from sap_llm_core.corpus.document_types import FORM
from sap_llm_core.corpus.loaders.common import (
    BadDocument,
    LoadResult,
    add_document,
    clean_text,
    image_size,
    make_record,
    normalise_box,
    read_text_file,
)
from sap_llm_core.schema import DocumentRecord, FieldSpan

DATASET = "funsd"


def _annotation_files(root: Path) -> list[tuple[str, Path]]:
    """(split, file) pairs: the official ``training_data``/``testing_data`` folders, or a flat one."""
    found: list[tuple[str, Path]] = []
    for split in ("training_data", "testing_data"):
        found += [(split, p) for p in sorted((root / split / "annotations").glob("*.json"))]
    if not found:
        found = [("", p) for p in sorted((root / "annotations").glob("*.json"))]
    return found


def _image_for(annotation: Path) -> Path | None:
    images = annotation.parent.parent / "images"
    for suffix in (".png", ".jpg", ".jpeg", ".tif"):
        candidate = images / f"{annotation.stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _build(path: Path, split: str, doc_id: str) -> DocumentRecord:
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise BadDocument(f"annotation is not valid JSON: {exc}") from exc
    form = data.get("form")
    if not isinstance(form, list):
        raise BadDocument("annotation has no 'form' list")
    image = _image_for(path)
    if image is None:
        raise BadDocument("no image beside the annotation: box normalisation needs its size")
    width, height = image_size(image)

    words: list[str] = []
    boxes: list[list[int]] = []
    entities: list[dict] = []
    spans: list[FieldSpan] = []
    skipped = 0
    for entity in form:
        indices: list[int] = []
        for word in entity.get("words", []):
            text = clean_text(str(word.get("text", "")))
            if not text:
                skipped += 1
                continue
            boxes.append(normalise_box(*word["box"], width, height))
            words.append(text)
            indices.append(len(words) - 1)
        label = str(entity.get("label", "other"))
        entities.append(
            {
                "id": entity.get("id"),
                "label": label,
                "text": clean_text(str(entity.get("text", ""))),
                "word_indices": indices,
            }
        )
        if label != "other" and indices:
            spans.append(FieldSpan(field=f"entities[{entity.get('id')}]", label=label, word_indices=indices))
    if not words:
        raise BadDocument(f"no non-empty words ({skipped} empty)")
    links = sorted({tuple(sorted(map(int, pair))) for e in form for pair in e.get("linking", [])})
    ground_truth = {"entities": entities, "links": [list(pair) for pair in links]}
    return make_record(
        id=doc_id,
        source=DATASET,
        document_type=FORM,
        subtype=None,
        language="EN",
        image_path=str(image),
        page_width=float(width),
        page_height=float(height),
        ocr_text=" ".join(words),
        words=words,
        boxes=boxes,
        ground_truth=json.dumps(ground_truth, sort_keys=True, ensure_ascii=False),
        field_spans=spans,
        extra=json.dumps({"dataset_split": split, "skipped_empty_words": skipped}, sort_keys=True),
    )


def load_funsd(root: Path, limit: int = 0) -> LoadResult:
    result = LoadResult(DATASET)
    files = _annotation_files(root)
    if not files:
        result.notes.append(f"no FUNSD annotations under {root}")
    for split, path in files[: limit or None]:
        doc_id = f"{DATASET}:{split + '/' if split else ''}{path.stem}"
        add_document(result, doc_id, lambda p=path, s=split, d=doc_id: _build(p, s, d), {"file": str(path)})
    return result
