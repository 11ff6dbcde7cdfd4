"""One synthetic document: content -> PDF (+ page image) -> a validated unified record."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

from sap_llm_core.schema import DocumentRecord, FieldSpan
from sap_llm_core.schema.document_record import content_hash
from sap_llm_core.synthetic import image_renderer
from sap_llm_core.synthetic.catalog import SUBTYPES, DocumentType, Language
from sap_llm_core.synthetic.content import ContentBuilder, PartyPool
from sap_llm_core.synthetic.layout import TEMPLATES, template_id
from sap_llm_core.synthetic.pdf_renderer import PAGE_H, PAGE_W, PdfRenderer
from sap_llm_core.synthetic.validation import value_at

SOURCE = "synthetic"


@dataclass
class GeneratedDocument:
    record: DocumentRecord
    pdf: bytes
    png: bytes | None


def _apply_drawn_values(ground_truth: dict, drawn: dict[str, str]) -> None:
    """Where the renderer had to shorten a value to fit, the ground truth is what was printed."""
    for path, text in drawn.items():
        if value_at(ground_truth, path) in (None, text):
            continue
        if path.startswith("header."):
            ground_truth["header"][path.split(".", 1)[1]] = text
        else:
            index, key = path[len("line_items[") :].split("].")
            ground_truth["line_items"][int(index)][key] = text


def make_document(
    *,
    doc_id: str,
    rng: random.Random,
    document_type: DocumentType,
    language: Language,
    pool: PartyPool,
    pdf_path: str,
    image_path: str | None,
    image_dpi: int,
    augment_fraction: float,
) -> GeneratedDocument:
    subtype = rng.choice(SUBTYPES[document_type])
    template = rng.randrange(len(TEMPLATES))
    footer = rng.randrange(3)
    augment = image_path is not None and rng.random() < augment_fraction

    content = ContentBuilder(rng, language, pool).build(document_type, subtype)
    page = PdfRenderer(TEMPLATES[template], footer).render(content)
    ground_truth = content.ground_truth()
    _apply_drawn_values(ground_truth, page.ground_truth_override)
    gt_text = json.dumps(ground_truth, ensure_ascii=False, sort_keys=True)

    png = None
    augmentations: list[dict[str, float]] = []
    if image_path is not None:
        image = image_renderer.render_page(page.pdf, image_dpi)
        if augment:
            image, augmentations = image_renderer.augment(image, rng)
        png = image_renderer.to_png(image)

    extra = {"template_id": template_id(document_type.value, template), "augmentations": augmentations}
    record = DocumentRecord(
        id=doc_id,
        source=SOURCE,
        document_type=document_type.value,
        subtype=subtype,
        language=language.value,
        pdf_path=pdf_path,
        image_path=image_path,
        page_width=PAGE_W,
        page_height=PAGE_H,
        ocr_text=page.text,
        words=page.words,
        boxes=page.boxes,
        ground_truth=gt_text,
        field_spans=[
            FieldSpan(field=path, label=lab, word_indices=indices)
            for path, (lab, indices) in sorted(page.spans.items())
        ],
        extra=json.dumps(extra, sort_keys=True),
        content_sha256=content_hash(page.words, gt_text),
    )
    return GeneratedDocument(record, page.pdf, png)
