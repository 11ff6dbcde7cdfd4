"""The knowledge base in MongoDB: API schemas, entity types, properties, field mappings and rules.

Idempotent by construction: every document has a deterministic ``_id`` (API + version + name) and is
written with ``ReplaceOne(upsert=True)``; no timestamps are stored, so re-materialising unchanged
inputs changes nothing, and a load that died half-way is completed by simply running it again.
Collections that mirror the current data set (mappings, rules) drop entries that left the data set.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pymongo import ASCENDING, MongoClient, ReplaceOne
from pymongo.database import Database
from pymongo.errors import ConnectionFailure, PyMongoError

from sap_llm_core.knowledge_base.business_rules import RuleSet
from sap_llm_core.knowledge_base.edmx_models import EdmxDocument
from sap_llm_core.knowledge_base.field_mappings import FieldMappings

COLLECTIONS = ("api_schemas", "entity_types", "properties", "field_mappings", "business_rules")

INDEXES: dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]] = {
    "api_schemas": [([("api", ASCENDING), ("version", ASCENDING)], {"unique": True})],
    "entity_types": [
        ([("api", ASCENDING), ("version", ASCENDING), ("name", ASCENDING)], {"unique": True}),
        ([("name", ASCENDING)], {}),
    ],
    "properties": [
        (
            [("api", ASCENDING), ("version", ASCENDING), ("entity", ASCENDING), ("name", ASCENDING)],
            {"unique": True},
        ),
        ([("name", ASCENDING)], {}),
    ],
    "field_mappings": [
        ([("document_type", ASCENDING), ("section", ASCENDING), ("field", ASCENDING)], {"unique": True})
    ],
    "business_rules": [([("category", ASCENDING)], {}), ([("applies_to", ASCENDING)], {})],
}


class KnowledgeBaseLoadError(RuntimeError):
    """MongoDB failed during a load. Safe to re-run: all writes are idempotent upserts."""


def redact_uri(uri: str) -> str:
    """``mongodb://user:secret@host`` -> ``mongodb://***@host``: URIs may carry credentials."""
    return re.sub(r"//[^@/]+@", "//***@", uri)


def build_documents(
    schemas: Sequence[EdmxDocument], mappings: FieldMappings, rules: RuleSet
) -> dict[str, list[dict[str, Any]]]:
    """Everything to store, per collection, in a deterministic order with deterministic ``_id``s."""
    out: dict[str, list[dict[str, Any]]] = {c: [] for c in COLLECTIONS}
    for doc in sorted(schemas, key=lambda d: d.api):
        key = f"{doc.api}@{doc.version}"
        out["api_schemas"].append(
            {
                "_id": key,
                "api": doc.api,
                "version": doc.version,
                "sha256": doc.sha256,
                "odata_version": doc.odata_version,
                "source": doc.source.rsplit("/", 1)[-1],
                "counts": doc.counts(),
                "entity_sets": [es.model_dump() for es in doc.entity_sets()],
                "function_imports": [fi.model_dump() for fi in doc.function_imports()],
            }
        )
        for et in doc.entity_types():
            body = et.model_dump(exclude={"properties"})
            out["entity_types"].append(
                {
                    "_id": f"{key}/{et.name}",
                    "api": doc.api,
                    "version": doc.version,
                    **body,
                    "property_names": [p.name for p in et.properties],
                }
            )
            for p in et.properties:
                out["properties"].append(
                    {
                        "_id": f"{key}/{et.name}/{p.name}",
                        "api": doc.api,
                        "version": doc.version,
                        "entity": et.name,
                        "key": p.name in et.keys,
                        **p.model_dump(),
                    }
                )
    for doc_type in sorted(mappings.document_types):
        dtm = mappings.document_types[doc_type]
        for section, name, api, entity, m in dtm.targets():
            out["field_mappings"].append(
                {
                    "_id": f"{doc_type}/{section}/{name}",
                    "document_type": doc_type,
                    "section": section,
                    "field": name,
                    "api": api,
                    "entity": entity,
                    **m.model_dump(exclude={"api", "entity"}),
                }
            )
    for rule in rules.rules:
        out["business_rules"].append({"_id": rule.id, **rule.model_dump()})
    return out


def _normalise(doc: dict[str, Any] | None) -> str | None:
    """Compare documents by canonical JSON (servers may reorder keys or turn tuples into lists)."""
    return None if doc is None else json.dumps(doc, sort_keys=True, default=str)


def content_hash(documents: dict[str, list[dict[str, Any]]]) -> str:
    text = json.dumps(documents, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass
class LoadReport:
    upserted: dict[str, int]
    modified: dict[str, int]
    removed: dict[str, int]
    counts: dict[str, int]


class KnowledgeBaseStore:
    """pymongo access to the knowledge base database."""

    def __init__(self, client: MongoClient, database: str = "sap_kb", batch_size: int = 200):
        self.client = client
        self.db: Database = client[database]
        self.batch_size = batch_size

    def ensure_indexes(self) -> None:
        for collection, specs in INDEXES.items():
            for keys, options in specs:
                self.db[collection].create_index(keys, **options)

    def load(
        self,
        documents: dict[str, list[dict[str, Any]]],
        mirror: Iterable[str] = ("field_mappings", "business_rules"),
        on_batch: Callable[[str, int], None] | None = None,
    ) -> LoadReport:
        """Upsert every document; ``on_batch(collection, written_so_far)`` runs after each batch."""
        mirror = set(mirror)
        upserted: dict[str, int] = {}
        modified: dict[str, int] = {}
        removed: dict[str, int] = {}
        current = "indexes"
        written = 0
        try:
            self.ensure_indexes()
            for collection in COLLECTIONS:
                current, written = collection, 0
                docs = documents.get(collection, [])
                upserted[collection] = modified[collection] = 0
                for start in range(0, len(docs), self.batch_size):
                    batch = docs[start : start + self.batch_size]
                    # Write only what differs: a re-run over unchanged inputs then writes nothing at all
                    # (servers differ on whether an identical replace counts as "modified").
                    existing = {
                        d["_id"]: d
                        for d in self.db[collection].find({"_id": {"$in": [d["_id"] for d in batch]}})
                    }
                    changed = [d for d in batch if _normalise(existing.get(d["_id"])) != _normalise(d)]
                    if changed:
                        result = self.db[collection].bulk_write(
                            [ReplaceOne({"_id": d["_id"]}, d, upsert=True) for d in changed], ordered=False
                        )
                        upserted[collection] += result.upserted_count
                        modified[collection] += len(changed) - result.upserted_count
                    written += len(batch)
                    if on_batch:
                        on_batch(collection, written)
                if collection in mirror:
                    ids = [d["_id"] for d in docs]
                    removed[collection] = (
                        self.db[collection].delete_many({"_id": {"$nin": ids}}).deleted_count
                    )
        except (ConnectionFailure, PyMongoError) as exc:
            total = len(documents.get(current, []))
            raise KnowledgeBaseLoadError(
                f"MongoDB became unavailable while loading '{current}' ({written} of {total} documents "
                f"written): {type(exc).__name__}: {str(exc)[:300]}. Nothing is left inconsistent: "
                "writes are idempotent upserts, so re-running the load completes it without duplicates."
            ) from exc
        return LoadReport(upserted=upserted, modified=modified, removed=removed, counts=self.counts())

    def counts(self) -> dict[str, int]:
        return {c: self.db[c].count_documents({}) for c in COLLECTIONS}

    def mapping_for(self, document_type: str) -> list[dict[str, Any]]:
        return list(self.db.field_mappings.find({"document_type": document_type}).sort("_id", ASCENDING))

    def property(self, api: str, entity: str, name: str) -> dict[str, Any] | None:
        return self.db.properties.find_one({"api": api, "entity": entity, "name": name})
