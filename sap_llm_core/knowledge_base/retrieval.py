"""Knowledge-base retrieval: which SAP property (or entity, API, rule) does a field description mean?

Property search alone confuses fields with the same meaning in different documents (the date of a
purchase order vs. of a supplier invoice). The retriever therefore scores a property by its own match
*plus* how well the query matches the property's entity (whose index text carries the document titles
in five languages): ``score = property_score + entity_weight * entity_score``. It works over any
:class:`VectorIndex` backend, FAISS or Weaviate.
"""

from __future__ import annotations

from dataclasses import dataclass

from sap_llm_core.knowledge_base.vector_index import Hit, VectorIndex


@dataclass
class KbRetriever:
    index: VectorIndex
    embedder: object  # Embedder or EmbeddingCache: anything with encode_one(text) -> vector
    entity_weight: float = 0.5
    candidates: int = 50
    hybrid: bool = True

    def search(self, query: str, k: int = 5, kind: str | None = "property") -> list[Hit]:
        vector = self.embedder.encode_one(query)  # type: ignore[attr-defined]
        text = query if self.hybrid else None
        if kind != "property" or self.entity_weight <= 0:
            return self.index.search(vector, k=k, kind=kind, text=text)
        props = self.index.search(vector, k=max(self.candidates, k), kind="property", text=text)
        entities = {h.id: h.score for h in self.index.search(vector, k=200, kind="entity", text=text)}
        floor = min(entities.values()) if entities else 0.0

        def score(h: Hit) -> float:
            ent = entities.get(f"entity:{h.metadata.get('api')}/{h.metadata.get('entity')}", floor)
            return h.score + self.entity_weight * ent

        ranked = sorted(props, key=lambda h: (-score(h), h.id))[:k]
        return [Hit(id=h.id, kind=h.kind, score=round(score(h), 6), metadata=h.metadata) for h in ranked]
