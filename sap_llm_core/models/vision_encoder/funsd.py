"""FUNSD (noisy scanned forms) as vision-encoder data, for the public entity-F1 anchor.

Reads FUNSD's own JSON (``training_data``/``testing_data``: the official split, 149/50 forms) into
``DocumentRecord``s: words in file order, boxes normalised to 0-1000 by the page image's size (or,
where the image is absent, by the extent of the form's boxes), one field span per
question/answer/header entity (``other`` is O), the usual FUNSD entity-labelling task.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from sap_llm_core.schema import DocumentRecord, FieldSpan, records_to_table
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import SPLITS_ASSET

SPLITS = {"train": "training_data", "test": "testing_data"}
ENTITY_LABELS = {"question", "answer", "header"}


def _page_size(annotation: Path, form: list[dict]) -> tuple[float, float]:
    image = annotation.parent.parent / "images" / f"{annotation.stem}.png"
    if image.is_file():
        from PIL import Image

        with Image.open(image) as im:
            return float(im.width), float(im.height)
    xs = [w["box"][2] for e in form for w in e.get("words", [])]
    ys = [w["box"][3] for e in form for w in e.get("words", [])]
    return float(max(xs, default=1)), float(max(ys, default=1))


def _scale(value: float, size: float) -> int:
    return max(0, min(1000, round(1000 * value / size)))


def load_form(annotation: Path) -> DocumentRecord:
    form = json.loads(annotation.read_text(encoding="utf-8"))["form"]
    width, height = _page_size(annotation, form)
    words: list[str] = []
    boxes: list[list[int]] = []
    spans: list[FieldSpan] = []
    for entity in form:
        indices = []
        for word in entity.get("words", []):
            text = str(word.get("text", "")).strip()
            if not text:
                continue
            x0, y0, x1, y1 = word["box"]
            x0, x1 = sorted((x0, x1))
            y0, y1 = sorted((y0, y1))
            boxes.append([_scale(x0, width), _scale(y0, height), _scale(x1, width), _scale(y1, height)])
            words.append(text)
            indices.append(len(words) - 1)
        if indices and entity.get("label") in ENTITY_LABELS:
            spans.append(
                FieldSpan(field=f"form[{entity['id']}]", label=entity["label"], word_indices=indices)
            )
    return DocumentRecord(
        id=f"funsd-{annotation.stem}",
        source="funsd",
        document_type="FORM",
        language="EN",
        page_width=width,
        page_height=height,
        ocr_text=" ".join(words),
        words=words,
        boxes=boxes,
        field_spans=spans,
    )


def load_funsd(root: str | Path) -> dict[str, list[DocumentRecord]]:
    """The official split; fails naming the folder when FUNSD is not there."""
    root = Path(root)
    out = {}
    for split, folder in SPLITS.items():
        files = sorted((root / folder / "annotations").glob("*.json"))
        if not files:
            raise FileNotFoundError(f"no FUNSD annotations in {root / folder / 'annotations'}")
        out[split] = [load_form(f) for f in files]
    return out


def write_funsd_splits(store: ArtifactStore, root: str | Path) -> dict:
    """FUNSD in the ``corpus_splits`` layout (val = test: FUNSD has no validation split)."""
    data = load_funsd(root)
    data["val"] = data["test"]
    files = {}
    digest = hashlib.sha256()
    for split, records in data.items():
        path = f"{split}/shard-00000.parquet"
        store.write_table(records_to_table(records), SPLITS_ASSET, path)
        sha = hashlib.sha256(store.read_bytes(SPLITS_ASSET, path)).hexdigest()
        digest.update(sha.encode())
        files[split] = [{"path": path, "rows": len(records), "sha256": sha}]
    manifest = {
        "asset": SPLITS_ASSET,
        "files": files,
        "data_version": digest.hexdigest(),
        "method": "funsd official",
    }
    store.write_manifest(SPLITS_ASSET, manifest)
    return manifest
