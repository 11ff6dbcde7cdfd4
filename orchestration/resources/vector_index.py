"""Where ``kb_vector_index`` publishes: FAISS HNSW files in the artifact store (default, always
written) and, when ``backend="weaviate"``, also a Weaviate collection at ``WEAVIATE_URL``."""

from __future__ import annotations

from collections.abc import Sequence

import dagster as dg
import numpy as np

from sap_llm_core.knowledge_base.vector_index import KbItem, WeaviateIndex
from sap_llm_core.settings import get_settings

_KB = get_settings().knowledge_base


class VectorIndexResource(dg.ConfigurableResource):
    backend: str = _KB.vector_backend  # faiss | weaviate
    weaviate_url: str = ""
    collection: str = _KB.weaviate_collection

    def publish(self, items: Sequence[KbItem], vectors: np.ndarray, owners: Sequence[int]) -> str:
        """Push to the production backend; a no-op for FAISS (its files are the asset's artifact)."""
        if self.backend == "faiss":
            return "faiss files in the artifact store"
        if self.backend != "weaviate":
            raise ValueError(f"vector backend must be 'faiss' or 'weaviate', got {self.backend!r}")
        if not self.weaviate_url:
            raise dg.Failure("backend=weaviate needs WEAVIATE_URL")
        index = WeaviateIndex.connect(self.weaviate_url, collection=self.collection)
        try:
            index.add(items, vectors, owners)
        finally:
            index.client.close()
        return f"weaviate collection {self.collection}"
