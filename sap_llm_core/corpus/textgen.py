"""Cheap text-only synthetic records (no PDF, no image) in the unified schema.

Tests and the corpus benchmark need thousands of well-formed records in seconds; the real generator
(``synthetic_documents``) renders PDFs and is far slower. These rows carry words, boxes, a small ADC
ground truth and field spans that point at the words, so every rule of ``unified_corpus`` applies.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from sap_llm_core.schema import DOCUMENT_RECORD_SCHEMA
from sap_llm_core.schema.document_record import content_hash
from sap_llm_core.synthetic.config import DEFAULT_MIX

_VOCAB = [
    "purchase",
    "order",
    "invoice",
    "delivery",
    "goods",
    "receipt",
    "vendor",
    "customer",
    "material",
    "quantity",
    "unit",
    "price",
    "net",
    "gross",
    "tax",
    "total",
    "amount",
    "currency",
    "date",
    "due",
    "payment",
    "terms",
    "plant",
    "storage",
    "location",
    "company",
    "code",
    "purchasing",
    "organisation",
    "group",
    "item",
    "description",
    "service",
    "hour",
    "piece",
    "kilogram",
    "litre",
    "box",
    "pallet",
    "shipment",
    "address",
    "street",
    "city",
    "postal",
    "country",
    "bank",
    "iban",
    "reference",
    "account",
    "cost",
    "centre",
    "order",
    "confirmation",
    "number",
    "line",
    "subtotal",
    "discount",
    "freight",
    "handling",
    "insurance",
    "contact",
    "phone",
    "email",
]
_NAMES = (
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Stark",
    "Wayne",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
)
_LANGUAGES = ("EN", "DE", "FR", "ES", "IT")


def text_rows(count: int, seed: int = 0, start: int = 0) -> Iterator[dict[str, Any]]:
    types = list(DEFAULT_MIX)
    weights = [DEFAULT_MIX[t] for t in types]
    for index in range(start, start + count):
        rng = random.Random(f"{seed}:{index}")
        document_type = rng.choices(types, weights)[0]
        number = f"45{rng.randrange(10**8):08d}"
        vendor = f"{rng.choice(_NAMES)}{rng.randrange(10**6)}"
        total = f"{rng.randrange(10**6) / 100:.2f}"
        words = ["document", number, "vendor", vendor, "total", total]
        words += [
            rng.choice(_VOCAB) if rng.random() < 0.8 else str(rng.randrange(10**5))
            for _ in range(rng.randrange(60, 160))
        ]
        boxes = []
        for i in range(len(words)):
            x, y = (i % 10) * 95 + 10, (i // 10) * 18 + 20
            boxes.append([x, min(y, 980), x + 80, min(y + 14, 995)])
        ground_truth = json.dumps(
            {"document_number": number, "vendor": vendor, "total": total}, sort_keys=True
        )
        yield {
            "id": f"textgen:{seed}:{index:08d}",
            "source": "synthetic",
            "document_type": document_type,
            "subtype": None,
            "language": rng.choice(_LANGUAGES),
            "pdf_path": None,
            "image_path": None,
            "page_width": 595.0,
            "page_height": 842.0,
            "ocr_text": " ".join(words),
            "words": words,
            "boxes": boxes,
            "ground_truth": ground_truth,
            "field_spans": [
                {"field": "document_number", "label": "document_number", "word_indices": [1]},
                {"field": "vendor", "label": "vendor", "word_indices": [3]},
                {"field": "total", "label": "total", "word_indices": [5]},
            ],
            "extra": "{}",
            "content_sha256": content_hash(words, ground_truth),
        }


def text_table(count: int, seed: int = 0, start: int = 0) -> pa.Table:
    return pa.Table.from_pylist(list(text_rows(count, seed, start)), schema=DOCUMENT_RECORD_SCHEMA)
