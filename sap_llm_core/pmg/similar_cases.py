"""Similar past cases for the reasoning engine: document embeddings in the shared vector index.

A case is summarised as text (type, parties, key header values) and embedded with MiniLM; the
vector index (FAISS HNSW by default, Weaviate in production, one interface) returns the nearest
past documents, whose routing decisions and corrections the reasoning engine can then read.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sap_llm_core.knowledge_base.vector_index import FaissHnswIndex, Hit, KbItem, VectorIndex

CASE_KIND = "case"
SUMMARY_FIELDS = (
    "vendor_name",
    "customer_name",
    "partner_name",
    "payee_name",
    "company_code",
    "plant",
    "currency",
    "movement_type",
    "po_reference",
    "sales_org",
    "purchasing_org",
)


def case_summary(document_type: str, header: dict[str, Any], language: str = "") -> str:
    """Short text that places a document among its peers; amounts and numbers are left out on
    purpose, since they make every document look unique to the encoder."""
    parts = [document_type.replace("_", " ").lower()]
    if language:
        parts.append(language)
    parts += [f"{k.replace('_', ' ')} {header[k]}" for k in SUMMARY_FIELDS if header.get(k)]
    return "; ".join(parts)


@dataclass(frozen=True)
class Case:
    document_id: str
    document_type: str
    summary: str
    metadata: dict[str, Any]


class SimilarCaseIndex:
    def __init__(self, embed, index: VectorIndex | None = None):
        """``embed``: callable mapping a list of texts to unit-length float32 vectors."""
        self.embed = embed
        self.index = index or FaissHnswIndex(lexical_weight=0.0)

    def add(self, cases: Sequence[Case], vectors: np.ndarray | None = None) -> None:
        items = [
            KbItem(
                id=c.document_id,
                kind=CASE_KIND,
                text=c.summary,
                metadata={"document_type": c.document_type, **c.metadata},
            )
            for c in cases
        ]
        vectors = self.embed([c.summary for c in cases]) if vectors is None else vectors
        self.index.add(items, vectors)

    def search(self, summary: str, k: int = 5, exclude: str | None = None) -> list[Hit]:
        vector = self.embed([summary])[0]
        hits = self.index.search(vector, k=k + (1 if exclude else 0), kind=CASE_KIND)
        return [h for h in hits if h.id != exclude][:k]

    def search_vector(self, vector: np.ndarray, k: int = 5) -> list[Hit]:
        return self.index.search(vector, k=k, kind=CASE_KIND)
