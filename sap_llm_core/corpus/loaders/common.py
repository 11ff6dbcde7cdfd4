"""What every public loader shares: box normalisation, text clean-up and the record/quarantine split.

Loaders never raise on a bad document: they turn it into a quarantine row with a reason, so that
``documents seen == records + quarantined`` holds for every dataset and a messy file costs one row,
not the run.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from sap_llm_core.schema import DocumentRecord, QuarantineRecord
from sap_llm_core.schema.document_record import BOX_MAX, content_hash

# A box may overshoot the image by a few pixels (annotation tools round outwards); beyond this
# fraction the annotation does not belong to the image and the document is quarantined.
BOX_OVERSHOOT = 0.05


class BadDocument(ValueError):
    """A document that cannot be mapped; the message becomes the quarantine reason."""


@dataclass
class LoadResult:
    dataset: str
    records: list[DocumentRecord] = field(default_factory=list)
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    seen: int = 0
    notes: list[str] = field(default_factory=list)

    def extend(self, other: LoadResult) -> None:
        self.records.extend(other.records)
        self.quarantine.extend(other.quarantine)
        self.seen += other.seen
        self.notes.extend(other.notes)

    def counts(self) -> dict[str, int]:
        return {"seen": self.seen, "records": len(self.records), "quarantined": len(self.quarantine)}


def clean_text(text: str) -> str:
    """NFKC, no control characters, single spaces: the same token spelled two ways is one token."""
    text = unicodedata.normalize("NFKC", text)
    text = "".join(ch if unicodedata.category(ch)[0] != "C" else " " for ch in text)
    return " ".join(text.split())


def read_text_file(path: Path) -> str:
    """UTF-8 (with or without BOM), falling back to cp1252/latin-1: SROIE ships a mix."""
    raw = path.read_bytes()
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    return raw.decode("latin-1")


def image_size(path: Path) -> tuple[int, int]:
    """Width and height from the image header (PIL reads only the header, not the pixels)."""
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def normalise_box(x0: float, y0: float, x1: float, y1: float, width: float, height: float) -> list[int]:
    """Pixel box -> 0..1000 integer box, ordered; raises ``BadDocument`` when far off the page."""
    if width <= 0 or height <= 0:
        raise BadDocument(f"image size {width}x{height} is not positive")
    x0, x1 = sorted((x0, x1))
    y0, y1 = sorted((y0, y1))
    if x0 < -BOX_OVERSHOOT * width or y0 < -BOX_OVERSHOOT * height:
        raise BadDocument(f"box {[x0, y0, x1, y1]} lies left of/above the {width}x{height} image")
    if x1 > (1 + BOX_OVERSHOOT) * width or y1 > (1 + BOX_OVERSHOOT) * height:
        raise BadDocument(f"box {[x0, y0, x1, y1]} lies outside the {width}x{height} image")

    def scale(value: float, size: float) -> int:
        return int(min(BOX_MAX, max(0, round(value * BOX_MAX / size))))

    return [scale(x0, width), scale(y0, height), scale(x1, width), scale(y1, height)]


def split_line_box(text: str, box: Sequence[int]) -> tuple[list[str], list[list[int]]]:
    """Words of a text line with boxes cut from the line box in proportion to character count.

    SROIE task 1 annotates lines, not words; layout models want words, so each word gets the
    horizontal slice of the line its characters occupy.
    """
    words = text.split()
    if not words:
        return [], []
    x0, y0, x1, y1 = box
    total = len(text)
    boxes: list[list[int]] = []
    cursor = 0
    for word in words:
        start = text.index(word, cursor)
        end = start + len(word)
        cursor = end
        wx0 = x0 + (x1 - x0) * start // max(total, 1)
        wx1 = x0 + (x1 - x0) * end // max(total, 1)
        boxes.append([int(wx0), int(y0), int(max(wx0, wx1)), int(y1)])
    return words, boxes


def make_record(**fields: Any) -> DocumentRecord:
    """Validate a record and stamp its content hash (the unified dedupe key)."""
    fields.setdefault("ground_truth", "{}")
    fields["content_sha256"] = content_hash(fields["words"], fields["ground_truth"])
    return DocumentRecord(**fields)


def quarantine_row(
    dataset: str, doc_id: str, stage: str, reason: str, payload: dict[str, Any] | None = None
) -> QuarantineRecord:
    return QuarantineRecord(
        id=doc_id,
        source=dataset,
        stage=stage,
        reason=reason[:2000],
        payload=json.dumps(payload or {}, ensure_ascii=False, default=str)[:20000],
    )


def add_document(result: LoadResult, doc_id: str, build: Any, payload: dict[str, Any]) -> None:
    """Run ``build()`` for one document; any failure becomes a quarantine row with its reason."""
    result.seen += 1
    stage = f"public_documents.{result.dataset}"
    try:
        record = build()
    except BadDocument as exc:
        result.quarantine.append(quarantine_row(result.dataset, doc_id, stage, str(exc), payload))
        return
    except ValidationError as exc:
        reason = "; ".join(f"{'.'.join(map(str, e['loc'])) or 'record'}: {e['msg']}" for e in exc.errors())
        result.quarantine.append(
            quarantine_row(result.dataset, doc_id, stage, f"invalid record: {reason}", payload)
        )
        return
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        reason = f"{type(exc).__name__}: {exc}"
        result.quarantine.append(quarantine_row(result.dataset, doc_id, stage, reason, payload))
        return
    result.records.append(record)
