"""SROIE 2019: scanned receipts. Task 1 ``box/NNN.csv`` (8 quad coordinates then the line text, one
text line per row), task 3 ``key/NNN.json`` (company, date, address, total) and ``img/NNN.jpg``.

Task 1 annotates lines; words get proportional slices of their line box. Ground truth is the task-3
keys; a key whose words occur verbatim in the receipt gets a field span. Known mess in the real data
(mismatched files, malformed rows, odd encodings) is quarantined with a reason.
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
    image_size,
    make_record,
    normalise_box,
    quarantine_row,
    read_text_file,
    split_line_box,
)
from sap_llm_core.schema import DocumentRecord, FieldSpan

DATASET = "sroie"
KEYS = ("company", "date", "address", "total")


def _find_span(words: list[str], value: str) -> list[int] | None:
    """Word indices of the first verbatim occurrence of ``value``'s words, if any."""
    target = value.split()
    n = len(target)
    if not n:
        return None
    for start in range(len(words) - n + 1):
        if words[start : start + n] == target:
            return list(range(start, start + n))
    return None


def _image_for(root: Path, stem: str) -> Path | None:
    for suffix in (".jpg", ".jpeg", ".png"):
        candidate = root / "img" / f"{stem}{suffix}"
        if candidate.exists():
            return candidate
    return None


def _build(root: Path, stem: str, doc_id: str) -> DocumentRecord:
    box_file = root / "box" / f"{stem}.csv"
    key_file = root / "key" / f"{stem}.json"
    if not key_file.exists():
        raise BadDocument("task-1 box file has no task-3 key file")
    image = _image_for(root, stem)
    if image is None:
        raise BadDocument("no image for the box file: box normalisation needs its size")
    width, height = image_size(image)
    try:
        keys = json.loads(read_text_file(key_file))
    except json.JSONDecodeError as exc:
        raise BadDocument(f"key file is not valid JSON: {exc}") from exc
    if not isinstance(keys, dict):
        raise BadDocument("key file is not a JSON object")

    words: list[str] = []
    boxes: list[list[int]] = []
    lines: list[str] = []
    for number, raw in enumerate(read_text_file(box_file).splitlines(), start=1):
        if not raw.strip():
            continue
        parts = raw.split(",", 8)
        if len(parts) < 9:
            raise BadDocument(f"box line {number} has {len(parts)} fields, expected 8 coordinates + text")
        try:
            coords = [int(float(v)) for v in parts[:8]]
        except ValueError as exc:
            raise BadDocument(f"box line {number} has a non-numeric coordinate: {exc}") from exc
        text = clean_text(parts[8])
        if not text:
            continue
        xs, ys = coords[0::2], coords[1::2]
        line_box = normalise_box(min(xs), min(ys), max(xs), max(ys), width, height)
        line_words, line_boxes = split_line_box(text, line_box)
        words += line_words
        boxes += line_boxes
        lines.append(text)
    if not words:
        raise BadDocument("box file has no text lines")

    ground_truth = {k: clean_text(str(keys.get(k, ""))) for k in KEYS if keys.get(k) is not None}
    spans = []
    for key, value in ground_truth.items():
        indices = _find_span(words, value)
        if indices:
            spans.append(FieldSpan(field=key, label=key, word_indices=indices))
    return make_record(
        id=doc_id,
        source=DATASET,
        document_type=RECEIPT,
        subtype="SROIE",
        language="EN",
        image_path=str(image),
        page_width=float(width),
        page_height=float(height),
        ocr_text="\n".join(lines),
        words=words,
        boxes=boxes,
        ground_truth=json.dumps(ground_truth, sort_keys=True, ensure_ascii=False),
        field_spans=spans,
        extra=json.dumps({"lines": len(lines)}),
    )


def load_sroie(root: Path, limit: int = 0) -> LoadResult:
    result = LoadResult(DATASET)
    stems = sorted(p.stem for p in (root / "box").glob("*.csv"))
    if not stems:
        result.notes.append(f"no SROIE box files under {root}")
    for stem in stems[: limit or None]:
        doc_id = f"{DATASET}:{stem}"
        add_document(result, doc_id, lambda s=stem, d=doc_id: _build(root, s, d), {"file": f"box/{stem}.csv"})
    # Key files without a box file are documents too: they are counted and quarantined, not lost.
    for key in sorted((root / "key").glob("*.json")):
        if key.stem not in stems and not limit:
            result.seen += 1
            result.quarantine.append(
                quarantine_row(
                    DATASET,
                    f"{DATASET}:{key.stem}",
                    "public_documents.sroie",
                    "task-3 key file has no task-1 box file",
                    {"file": f"key/{key.name}"},
                )
            )
    return result
