"""CORD v2: Indonesian receipts, ``json/*.json`` with ``valid_line[].words[].quad``, ``gt_parse``, ``meta``.

Boxes come from each word's quadrilateral (its bounding rectangle) normalised by ``meta.image_size``,
so the loader needs no image. ``gt_parse`` is the ground truth as-is; each line's ``category``
(``menu.nm``, ``total.total_price``, ...) becomes a field span over that line's words.
"""

from __future__ import annotations

import json
from pathlib import Path

from sap_llm_core.corpus.document_types import RECEIPT
from sap_llm_core.corpus.loaders.common import (
    BadDocument,
    LoadResult,
    add_document,
    clean_text,
    make_record,
    normalise_box,
    read_text_file,
)
from sap_llm_core.schema import DocumentRecord, FieldSpan

DATASET = "cord"


def _files(root: Path) -> list[Path]:
    for folder in (root / "json", root):
        files = sorted(folder.glob("*.json"))
        if files:
            return files
    return []


def _build(path: Path, doc_id: str) -> DocumentRecord:
    try:
        data = json.loads(read_text_file(path))
    except json.JSONDecodeError as exc:
        raise BadDocument(f"annotation is not valid JSON: {exc}") from exc
    meta = data.get("meta") or {}
    size = meta.get("image_size") or {}
    width, height = float(size.get("width", 0)), float(size.get("height", 0))
    if width <= 0 or height <= 0:
        raise BadDocument("meta.image_size is missing or not positive")
    if "gt_parse" not in data:
        raise BadDocument("no gt_parse")

    words: list[str] = []
    boxes: list[list[int]] = []
    spans: list[FieldSpan] = []
    lines = sorted(
        data.get("valid_line", []),
        key=lambda line: min((w["quad"]["y1"] for w in line.get("words", [])), default=0),
    )
    for n, line in enumerate(lines):
        indices: list[int] = []
        for word in line.get("words", []):
            text = clean_text(str(word.get("text", "")))
            if not text:
                continue
            quad = word["quad"]
            xs = [quad[f"x{i}"] for i in range(1, 5)]
            ys = [quad[f"y{i}"] for i in range(1, 5)]
            boxes.append(normalise_box(min(xs), min(ys), max(xs), max(ys), width, height))
            words.append(text)
            indices.append(len(words) - 1)
        category = str(line.get("category", ""))
        if indices and category:
            spans.append(
                FieldSpan(
                    field=f"valid_line[{n}].{category}",
                    label=category,
                    word_indices=indices,
                )
            )
    if not words:
        raise BadDocument("no non-empty words in valid_line")
    return make_record(
        id=doc_id,
        source=DATASET,
        document_type=RECEIPT,
        subtype="CORD",
        language="ID",
        page_width=width,
        page_height=height,
        ocr_text=" ".join(words),
        words=words,
        boxes=boxes,
        ground_truth=json.dumps(data["gt_parse"], sort_keys=True, ensure_ascii=False),
        field_spans=spans,
        extra=json.dumps(
            {"dataset_split": meta.get("split"), "image_id": meta.get("image_id")}, sort_keys=True
        ),
    )


def load_cord(root: Path, limit: int = 0) -> LoadResult:
    result = LoadResult(DATASET)
    files = _files(root)
    if not files:
        result.notes.append(f"no CORD annotations under {root}")
    for path in files[: limit or None]:
        doc_id = f"{DATASET}:{path.stem}"
        add_document(result, doc_id, lambda p=path, d=doc_id: _build(p, d), {"file": str(path)})
    return result
