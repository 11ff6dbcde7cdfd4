"""RVL-CDIP: 16-class document images, ``images/...`` plus ``labels/{train,val,test}.txt``
(``relative/image/path label_index`` per line, the dataset's own format).

RVL-CDIP ships no OCR. When an OCR sidecar ``<image>.json`` (``{"words": [...], "boxes": [[x0, y0, x1,
y1], ...]}`` in pixels) lies beside an image its words are used; otherwise the record has no words and
``unified_corpus`` quarantines it under the word-count rule, with that reason -- it is not dropped.
"""

from __future__ import annotations

import json
from pathlib import Path

from sap_llm_core.corpus.document_types import RVL_CDIP_CLASSES, rvl_cdip_type
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
)
from sap_llm_core.schema import DocumentRecord

DATASET = "rvl_cdip"


def _build(root: Path, rel_path: str, label: str, split: str, doc_id: str) -> DocumentRecord:
    try:
        index = int(label)
    except ValueError as exc:
        raise BadDocument(f"label {label!r} is not an integer class index") from exc
    if not 0 <= index < len(RVL_CDIP_CLASSES):
        raise BadDocument(f"label {index} is outside 0..{len(RVL_CDIP_CLASSES) - 1}")
    image = root / "images" / rel_path
    if not image.exists():
        raise BadDocument(f"image {rel_path} listed in labels/{split}.txt does not exist")
    width, height = image_size(image)
    words: list[str] = []
    boxes: list[list[int]] = []
    sidecar = image.with_suffix(".json")
    if sidecar.exists():
        ocr = json.loads(read_text_file(sidecar))
        if len(ocr.get("words", [])) != len(ocr.get("boxes", [])):
            raise BadDocument(
                f"OCR sidecar has {len(ocr.get('words', []))} words but {len(ocr.get('boxes', []))} boxes"
            )
        for text, box in zip(ocr["words"], ocr["boxes"], strict=True):
            text = clean_text(str(text))
            if text:
                words.append(text)
                boxes.append(normalise_box(*box, width, height))
    class_name = RVL_CDIP_CLASSES[index]
    document_type, subtype = rvl_cdip_type(class_name)
    return make_record(
        id=doc_id,
        source=DATASET,
        document_type=document_type,
        subtype=subtype,
        language="EN",
        image_path=str(image),
        page_width=float(width),
        page_height=float(height),
        ocr_text=" ".join(words),
        words=words,
        boxes=boxes,
        ground_truth=json.dumps({"rvl_cdip_class": class_name}),
        extra=json.dumps(
            {"dataset_split": split, "label_index": index, "ocr": sidecar.exists()}, sort_keys=True
        ),
    )


def load_rvl_cdip(root: Path, limit: int = 0) -> LoadResult:
    result = LoadResult(DATASET)
    label_files = [root / "labels" / f"{s}.txt" for s in ("train", "val", "test")]
    label_files = [f for f in label_files if f.exists()]
    if not label_files:
        result.notes.append(f"no RVL-CDIP label files under {root}/labels")
    taken = 0
    for label_file in label_files:
        split = label_file.stem
        for number, raw in enumerate(read_text_file(label_file).splitlines(), start=1):
            if not raw.strip():
                continue
            if limit and taken >= limit:
                return result
            taken += 1
            parts = raw.split()
            if len(parts) != 2:
                result.seen += 1
                result.quarantine.append(
                    quarantine_row(
                        DATASET,
                        f"{DATASET}:{split}:{number}",
                        f"public_documents.{DATASET}",
                        f"labels/{split}.txt line {number} is not '<path> <label>'",
                        {"line": raw},
                    )
                )
                continue
            rel_path, label = parts
            doc_id = f"{DATASET}:{Path(rel_path).with_suffix('').as_posix()}"
            add_document(
                result,
                doc_id,
                lambda r=rel_path, lab=label, s=split, d=doc_id: _build(root, r, lab, s, d),
                {"line": raw, "labels": f"labels/{split}.txt"},
            )
    return result
