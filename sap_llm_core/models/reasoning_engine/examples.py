"""Routing examples built from the corpus and the knowledge base.

Why the label is derived rather than annotated: the field mappings already say which API and entity
set a document type posts to (reviewed as data, checked against the real ``$metadata``), so the
routing ground truth follows from the ADC ground truth's document type and stays consistent with
what the mapping layer will actually write. The method comes from the EDMX entity set (``creatable``
-> POST, read-only -> GET), so it is also the knowledge base's word, not a hand-written table.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sap_llm_core.knowledge_base.edmx_models import EdmxDocument
from sap_llm_core.knowledge_base.field_mappings import FieldMappings
from sap_llm_core.knowledge_base.kb_items import api_list
from sap_llm_core.schema import DocumentRecord


class UnknownDocumentTypeError(ValueError):
    """A document type the field mappings do not route: there is no correct API to learn or pick."""


@dataclass(frozen=True, order=True)
class Routing:
    """One routing decision target: an API service, an entity set in it, and the HTTP method."""

    endpoint: str
    entity: str
    method: str

    def text(self) -> str:
        """The completion the LM is trained on and scored by (one token per value)."""
        return f"endpoint {self.endpoint} entity {self.entity} method {self.method}"

    def as_dict(self) -> dict[str, str]:
        return {"endpoint": self.endpoint, "entity": self.entity, "method": self.method}


@dataclass
class KnowledgeBaseView:
    """What the router needs from the knowledge base: the APIs and entity sets that exist, and the
    routing catalog (every API/entity/method that some document type can be routed to)."""

    apis: dict[str, dict[str, Any]]
    entity_sets: dict[str, set[str]]
    catalog: list[Routing]
    mappings: FieldMappings

    @classmethod
    def build(cls, mappings: FieldMappings, schemas: Sequence[EdmxDocument]) -> KnowledgeBaseView:
        apis = {a["api"]: a for a in api_list()["apis"]}
        by_api = {d.api: d for d in schemas}
        entity_sets: dict[str, set[str]] = {}
        for doc in schemas:
            apis.setdefault(
                doc.api, {"api": doc.api, "title": doc.api, "description": "", "document_types": []}
            )
            entity_sets[doc.api] = {es.name for es in doc.entity_sets()}
        for dtm in mappings.document_types.values():
            # APIs without a loaded EDMX (unverified references): the mapped entity sets are all we know.
            if dtm.api not in by_api:
                entity_sets.setdefault(dtm.api, set()).add(dtm.header_entity)
        catalog = sorted({label_from_mapping(mappings, t, by_api) for t in mappings.document_types})
        return cls(apis=apis, entity_sets=entity_sets, catalog=catalog, mappings=mappings)

    def is_valid(self, routing: Routing) -> bool:
        """The endpoint is a KB API and the entity an entity set of it."""
        return routing.endpoint in self.apis and routing.entity in self.entity_sets.get(
            routing.endpoint, set()
        )


def _method(api: str, entity: str, by_api: dict[str, EdmxDocument]) -> str:
    doc = by_api.get(api)
    if doc is None:
        return "POST"
    for es in doc.entity_sets():
        if es.name == entity:
            return "POST" if es.creatable else "GET"
    return "POST"


def label_from_mapping(
    mappings: FieldMappings, document_type: str, by_api: dict[str, EdmxDocument] | None = None
) -> Routing:
    """The correct routing of a document type: the mapping's API and header entity set; the method
    from the EDMX entity set's ``creatable`` flag. Unknown type -> :class:`UnknownDocumentTypeError`."""
    dtm = mappings.document_types.get(document_type)
    if dtm is None:
        raise UnknownDocumentTypeError(
            f"document type {document_type!r} has no field mapping, so no SAP API routes it; "
            f"known types: {', '.join(sorted(mappings.document_types))}"
        )
    return Routing(dtm.api, dtm.header_entity, _method(dtm.api, dtm.header_entity, by_api or {}))


@dataclass
class RoutingExample:
    document_id: str
    document_type: str
    language: str
    header: dict[str, Any]
    candidates: list[str] = field(default_factory=list)  # retrieved KB APIs, best first
    similar: list[str] = field(default_factory=list)  # endpoints of similar past cases
    label: Routing | None = None

    def prompt(self) -> str:
        """Whitespace-separated features: type, language, header field names, retrieved candidates and
        the routings of similar past cases. Values are left out: they are unique per document and say
        nothing about the API (the field *names* do)."""
        fields = " ".join(sorted(self.header))
        cands = " ".join(self.candidates) or "none"
        cases = " ".join(self.similar) or "none"
        return (
            f"route type {self.document_type} lang {self.language} fields {fields} "
            f"candidates {cands} cases {cases} ->"
        )


def adc_header(record: DocumentRecord) -> dict[str, Any]:
    gt = json.loads(record.ground_truth or "{}")
    header = gt.get("header") if isinstance(gt.get("header"), dict) else {}
    return header or {k: v for k, v in gt.items() if not isinstance(v, list | dict)}


def query_text(document_type: str, header: dict[str, Any]) -> str:
    """Retrieval query for candidate APIs: the type in words plus the header field names."""
    return f"{document_type.replace('_', ' ').lower()} document with " + ", ".join(
        k.replace("_", " ") for k in sorted(header)
    )


class CandidateRetriever:
    """Candidate APIs from the KB vector index (hybrid: MiniLM cosine + BM25), restricted to kind api."""

    def __init__(self, index: Any, embed: Callable[[list[str]], np.ndarray], k: int = 3):
        self.index, self.embed, self.k = index, embed, k

    def candidates(self, queries: list[str], vectors: np.ndarray | None = None) -> list[list[str]]:
        vectors = self.embed(queries) if vectors is None else vectors
        out = []
        for q, v in zip(queries, vectors, strict=True):
            hits = self.index.search(v, k=self.k, kind="api", text=q)
            out.append([h.metadata.get("api") or h.id.removeprefix("api:") for h in hits])
        return out


def api_only_index(embed: Callable[[list[str]], np.ndarray]) -> Any:
    """A small FAISS index of the API items alone, when the full ``kb_vector_index`` is not at hand
    (tests, a fresh store): the same item texts the KB asset indexes, so the candidates agree."""
    from sap_llm_core.knowledge_base.kb_items import build_items
    from sap_llm_core.knowledge_base.vector_index import FaissHnswIndex, vector_rows

    items = [i for i in build_items([], _empty_mappings(), _empty_rules()) if i.kind == "api"]
    texts, owners = vector_rows(items)
    index = FaissHnswIndex(lexical_weight=0.35)
    index.add(items, embed(texts), owners)
    return index


def _empty_mappings() -> FieldMappings:
    return FieldMappings(version=1, document_types={})


def _empty_rules() -> Any:
    from sap_llm_core.knowledge_base.business_rules import RuleSet

    return RuleSet.model_validate({"version": 1, "rules": []})


def load_index(directory: str | Path) -> Any:
    from sap_llm_core.knowledge_base.vector_index import FaissHnswIndex

    return FaissHnswIndex.load(directory)


def build_examples(
    records: Sequence[DocumentRecord],
    kb: KnowledgeBaseView,
    retriever: CandidateRetriever | None,
    similar: Any | None = None,
    labelled: bool = True,
    strict: bool = False,
) -> tuple[list[RoutingExample], dict[str, int]]:
    """Examples for every record whose type the mappings route. Others (public forms and receipts
    have no SAP API) are counted and skipped for training, or, with ``strict`` (serving a document),
    raise :class:`UnknownDocumentTypeError`. Returns ``(examples, skipped_by_type)``."""
    examples: list[RoutingExample] = []
    skipped: dict[str, int] = {}
    for r in records:
        if r.document_type not in kb.mappings.document_types:
            if strict:
                label_from_mapping(kb.mappings, r.document_type)  # raises with the known types
            skipped[r.document_type] = skipped.get(r.document_type, 0) + 1
            continue
        examples.append(
            RoutingExample(
                document_id=r.id,
                document_type=r.document_type,
                language=r.language,
                header=adc_header(r),
                label=kb_label(kb, r.document_type) if labelled else None,
            )
        )
    attach_context(examples, retriever, similar)
    return examples, skipped


def kb_label(kb: KnowledgeBaseView, document_type: str) -> Routing:
    base = label_from_mapping(kb.mappings, document_type)
    for option in kb.catalog:
        if option.endpoint == base.endpoint and option.entity == base.entity:
            return option
    return base


def attach_context(
    examples: list[RoutingExample],
    retriever: CandidateRetriever | None,
    similar: Any | None,
) -> None:
    """Retrieved candidates and similar cases for each example. When both are wanted, the retrieval
    query and the case summary are embedded in one MiniLM call: the encoder is most of a document's
    routing latency, so one forward pass instead of two matters."""
    if not examples:
        return
    queries = [query_text(e.document_type, e.header) for e in examples]
    if retriever is not None and similar is not None:
        summaries = [similar.summary(e) for e in examples]
        vectors = retriever.embed(queries + summaries)
        for ex, cands, cases in zip(
            examples,
            retriever.candidates(queries, vectors[: len(examples)]),
            similar(examples, vectors[len(examples) :]),
            strict=True,
        ):
            ex.candidates, ex.similar = cands, cases
        return
    if retriever is not None:
        for ex, cands in zip(examples, retriever.candidates(queries), strict=True):
            ex.candidates = cands
    if similar is not None:
        for ex, cases in zip(examples, similar(examples), strict=True):
            ex.similar = cases
