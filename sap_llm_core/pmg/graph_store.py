"""The PMG in MongoDB: vertex collections, one edge collection, indexes and traversal queries.

Every write is an upsert keyed by a deterministic ``_id``, so re-ingesting a pipeline run or
re-recording the same feedback changes nothing. Each edge is stored once in ``edges`` and mirrored
into its source's ``adjacency`` entry; traversals walk level by level with ``_id`` look-ups on
``adjacency`` rather than ``$graphLookup``, so they run unchanged and fast on MongoDB and on the
embedded nx-27017 server (whose secondary indexes do not serve ``$in`` queries).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReplaceOne, UpdateOne
from pymongo.database import Database

from sap_llm_core.pmg.model import (
    ADJACENCY,
    COLLECTION,
    CORRECTIONS,
    EDGES,
    EdgeType,
    Feedback,
    VertexType,
)


def _stable_id(prefix: str, payload: Any) -> str:
    digest = hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}-{digest[:24]}"


def _edge_id(source: str, edge: EdgeType, target: str) -> str:
    return _stable_id("e", [source, edge.value, target])


class ProcessMemoryGraph:
    def __init__(self, db: Database):
        self.db = db

    def collection(self, vertex: VertexType):
        return self.db[COLLECTION[vertex]]

    def ensure_indexes(self) -> None:
        self.db[EDGES].create_index([("from", ASCENDING), ("type", ASCENDING)])
        self.db[EDGES].create_index([("to", ASCENDING), ("type", ASCENDING)])
        self.collection(VertexType.DOCUMENT).create_index([("document_type", ASCENDING)])
        for vertex in (VertexType.EXTRACTION, VertexType.ROUTING_DECISION, VertexType.EXCEPTION):
            self.collection(vertex).create_index([("document_id", ASCENDING)])
        feedback = self.collection(VertexType.FEEDBACK)
        feedback.create_index([("document_id", ASCENDING)])
        feedback.create_index([("kind", ASCENDING), ("created_at", DESCENDING)])
        feedback.create_index([("document_type", ASCENDING), ("created_at", DESCENDING)])

    # writes -------------------------------------------------------------------------------------
    def _upsert(self, vertex: VertexType, doc: dict[str, Any]) -> str:
        self.collection(vertex).replace_one({"_id": doc["_id"]}, doc, upsert=True)
        return doc["_id"]

    def link(self, source: str, edge: EdgeType, target: str, **attributes: Any) -> str:
        edge_id = _edge_id(source, edge, target)
        self.db[EDGES].replace_one(
            {"_id": edge_id},
            {"_id": edge_id, "from": source, "to": target, "type": edge.value, **attributes},
            upsert=True,
        )
        self.db[ADJACENCY].update_one(
            {"_id": source},
            {"$addToSet": {"out": {"to": target, "type": edge.value, "edge": edge_id}}},
            upsert=True,
        )
        return edge_id

    def add_document(self, document_id: str, document_type: str, language: str, **fields: Any) -> str:
        return self._upsert(
            VertexType.DOCUMENT,
            {
                "_id": document_id,
                "document_type": document_type,
                "language": language,
                **fields,
            },
        )

    def add_extraction(
        self, document_id: str, extraction: dict[str, Any], model_version: str, **fields: Any
    ) -> str:
        extraction_id = _stable_id("ex", [document_id, model_version, extraction])
        self._upsert(
            VertexType.EXTRACTION,
            {
                "_id": extraction_id,
                "document_id": document_id,
                "model_version": model_version,
                "extraction": extraction,
                **fields,
            },
        )
        self.link(document_id, EdgeType.HAS_EXTRACTION, extraction_id)
        return extraction_id

    def add_routing(
        self, document_id: str, extraction_id: str, decision: dict[str, Any], model_version: str
    ) -> str:
        routing_id = _stable_id("rt", [extraction_id, model_version, decision])
        self._upsert(
            VertexType.ROUTING_DECISION,
            {
                "_id": routing_id,
                "document_id": document_id,
                "model_version": model_version,
                **decision,
            },
        )
        self.link(extraction_id, EdgeType.TRIGGERS_ROUTING, routing_id)
        return routing_id

    def add_sap_response(self, routing_id: str, status: int, body: dict[str, Any]) -> str:
        response_id = _stable_id("sr", [routing_id, status, body])
        self._upsert(VertexType.SAP_RESPONSE, {"_id": response_id, "status": status, "body": body})
        self.link(routing_id, EdgeType.SENDS_TO_SAP, response_id)
        return response_id

    def add_exception(self, source_id: str, document_id: str, code: str, message: str) -> str:
        exception_id = _stable_id("exc", [source_id, code, message])
        self._upsert(
            VertexType.EXCEPTION,
            {
                "_id": exception_id,
                "document_id": document_id,
                "code": code,
                "message": message,
            },
        )
        self.link(source_id, EdgeType.CAUSES_EXCEPTION, exception_id)
        return exception_id

    def add_rule(self, rule_id: str, description: str, **fields: Any) -> str:
        return self._upsert(VertexType.RULE, {"_id": rule_id, "description": description, **fields})

    def add_similar(self, document_id: str, other_id: str, score: float) -> str:
        return self.link(document_id, EdgeType.SIMILAR_TO, other_id, score=round(float(score), 6))

    def record_feedback(
        self, feedback: Feedback, target_id: str | None = None, resolves: str | None = None
    ) -> str:
        """Store feedback on a document (or one of its extractions/routings) and, optionally, mark
        an exception as resolved by it. The document must exist: feedback never dangles."""
        document = self.collection(VertexType.DOCUMENT).find_one({"_id": feedback.document_id})
        if document is None:
            raise KeyError(f"no document {feedback.document_id!r} in the PMG; ingest it before feedback")
        doc = feedback.model_dump(mode="python")
        doc.update({"_id": feedback.id, "document_type": document["document_type"]})
        self._upsert(VertexType.FEEDBACK, doc)
        self.link(target_id or feedback.document_id, EdgeType.HAS_FEEDBACK, feedback.id)
        if resolves:
            self.link(resolves, EdgeType.RESOLVED_BY, feedback.id)
        return feedback.id

    def bulk_add_documents(self, documents: Iterable[dict[str, Any]], batch: int = 2000) -> int:
        """Bulk upsert of Document vertices (``_id`` required); for ingestion and benchmarks."""
        ops, written = [], 0
        coll = self.collection(VertexType.DOCUMENT)
        for doc in documents:
            ops.append(ReplaceOne({"_id": doc["_id"]}, doc, upsert=True))
            if len(ops) >= batch:
                written += coll.bulk_write(ops, ordered=False).upserted_count
                ops = []
        if ops:
            written += coll.bulk_write(ops, ordered=False).upserted_count
        return written

    def bulk_link(self, edges: Iterable[tuple[str, EdgeType, str]], batch: int = 2000) -> None:
        ops, adjacency = [], []
        for source, edge, target in edges:
            edge_id = _edge_id(source, edge, target)
            ops.append(
                UpdateOne(
                    {"_id": edge_id},
                    {"$set": {"from": source, "to": target, "type": edge.value}},
                    upsert=True,
                )
            )
            adjacency.append(
                UpdateOne(
                    {"_id": source},
                    {"$addToSet": {"out": {"to": target, "type": edge.value, "edge": edge_id}}},
                    upsert=True,
                )
            )
            if len(ops) >= batch:
                self.db[EDGES].bulk_write(ops, ordered=False)
                self.db[ADJACENCY].bulk_write(adjacency, ordered=False)
                ops, adjacency = [], []
        if ops:
            self.db[EDGES].bulk_write(ops, ordered=False)
            self.db[ADJACENCY].bulk_write(adjacency, ordered=False)

    # reads --------------------------------------------------------------------------------------
    def document_history(self, document_id: str, max_depth: int = 6) -> dict[str, Any]:
        """Everything reachable from a document (extractions, routings, SAP responses, exceptions,
        feedback and what resolved them), grouped by vertex type, plus the edges walked."""
        document = self.collection(VertexType.DOCUMENT).find_one({"_id": document_id})
        if document is None:
            raise KeyError(f"no document {document_id!r} in the PMG")
        seen = {document_id}
        frontier = [document_id]
        edges: list[dict[str, Any]] = []
        for _ in range(max_depth):
            if not frontier:
                break
            found = [
                {"_id": out["edge"], "from": row["_id"], "to": out["to"], "type": out["type"]}
                for row in self.db[ADJACENCY].find({"_id": {"$in": frontier}})
                for out in row.get("out", [])
                if out["type"] != EdgeType.SIMILAR_TO.value
            ]
            edges.extend(found)
            frontier = sorted({e["to"] for e in found} - seen)
            seen.update(frontier)
        by_prefix = {
            "ex-": VertexType.EXTRACTION,
            "rt-": VertexType.ROUTING_DECISION,
            "sr-": VertexType.SAP_RESPONSE,
            "exc-": VertexType.EXCEPTION,
            "fb-": VertexType.FEEDBACK,
        }
        wanted: dict[VertexType, list[str]] = defaultdict(list)
        for vertex_id in seen - {document_id}:
            vertex = next((v for p, v in by_prefix.items() if vertex_id.startswith(p)), VertexType.RULE)
            wanted[vertex].append(vertex_id)
        history: dict[str, Any] = {"document": document, "edges": sorted(edges, key=lambda e: e["_id"])}
        for vertex in VertexType:
            if vertex is VertexType.DOCUMENT:
                continue
            ids = sorted(wanted.get(vertex, []))
            history[COLLECTION[vertex]] = (
                list(self.collection(vertex).find({"_id": {"$in": ids}})) if ids else []
            )
        return history

    def corrections_by_document_type(
        self,
        since: dt.datetime,
        until: dt.datetime | None = None,
    ) -> dict[str, dict[str, int]]:
        """Corrections per document type and kind in ``[since, until)``: what retraining would learn."""
        window: dict[str, Any] = {"$gte": since}
        if until is not None:
            window["$lt"] = until
        # Counted client-side from an indexed find: the embedded nx-27017 server does not group by
        # compound keys, and correction volumes per window are small.
        query = {"kind": {"$in": [k.value for k in CORRECTIONS]}, "created_at": window}
        counts = Counter(
            (row["document_type"], row["kind"])
            for row in self.collection(VertexType.FEEDBACK).find(query, {"document_type": 1, "kind": 1})
        )
        out: dict[str, dict[str, int]] = defaultdict(dict)
        for (document_type, kind), count in counts.items():
            out[document_type][kind] = count
        return {k: dict(sorted(v.items())) for k, v in sorted(out.items())}

    def corrections_since(
        self,
        since: dt.datetime | None,
        until: dt.datetime | None = None,
    ) -> list[dict[str, Any]]:
        """The correction records themselves, oldest first (the feedback training set's input)."""
        query: dict[str, Any] = {"kind": {"$in": [k.value for k in CORRECTIONS]}}
        window: dict[str, Any] = {}
        if since is not None:
            window["$gt"] = since
        if until is not None:
            window["$lte"] = until
        if window:
            query["created_at"] = window
        return list(self.collection(VertexType.FEEDBACK).find(query).sort([("created_at", 1), ("_id", 1)]))
