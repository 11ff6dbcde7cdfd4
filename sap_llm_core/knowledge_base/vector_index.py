"""Vector index over knowledge-base items: one interface, FAISS HNSW (default) and Weaviate backends.

Callers (the ``kb_vector_index`` asset, the reasoning engine, the retrieval evaluation) see only
:class:`VectorIndex`; the deployment picks the backend. FAISS keeps the embedded default free of
servers (an HNSW graph in a file); Weaviate is the production store. The Weaviate backend builds its
collection config, objects and queries in small pure functions so they can be tested without a server.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class KbItem:
    """One retrievable thing: an API, entity type, property or rule. ``id`` is stable across runs.

    ``text`` is the full description (lexical search, display); ``aliases`` are the short phrasings
    that get one vector each (a label, a German label with its document title, ...). Several short
    vectors per item match short queries far better than one long averaged vector.
    """

    id: str
    kind: str  # api | entity | property | rule
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    aliases: tuple[str, ...] = ()

    def vector_texts(self) -> list[str]:
        return list(self.aliases) or [self.text]


def vector_rows(items: Sequence[KbItem]) -> tuple[list[str], list[int]]:
    """Texts to embed and, for each, the position of the item it belongs to."""
    texts: list[str] = []
    owners: list[int] = []
    for i, item in enumerate(items):
        for t in item.vector_texts():
            texts.append(t)
            owners.append(i)
    return texts, owners


@dataclass(frozen=True)
class Hit:
    id: str
    kind: str
    score: float
    metadata: dict[str, Any]


class VectorIndex(ABC):
    """Add items with unit-length vectors (one or more rows per item, ``owners[row]`` = item position);
    search by cosine similarity, optionally restricted to a kind and fused with a lexical score of
    ``text`` (hybrid search)."""

    @abstractmethod
    def add(
        self, items: Sequence[KbItem], vectors: np.ndarray, owners: Sequence[int] | None = None
    ) -> None: ...

    @abstractmethod
    def search(
        self, vector: np.ndarray, k: int = 5, kind: str | None = None, text: str | None = None
    ) -> list[Hit]: ...

    @abstractmethod
    def count(self) -> int: ...


class FaissHnswIndex(VectorIndex):
    """FAISS ``IndexHNSWFlat`` with inner product on normalised vectors (= cosine), plus BM25.

    Search: HNSW finds the nearest vector rows (restricted to ``kind`` by an ID selector inside the
    graph search, so filtering never starves the result), rows are folded to items by their best row,
    and when ``text`` is given the BM25 top candidates join in; the final score is
    ``cosine + lexical_weight * bm25 / max(bm25)``. Candidates found only lexically get their exact
    cosine from the stored rows, so every returned score means the same thing.
    """

    def __init__(
        self,
        dimension: int = 384,
        m: int = 32,
        ef_construction: int = 200,
        ef_search: int = 128,
        lexical_weight: float = 0.35,
        candidates: int = 50,
    ):
        import faiss

        self.dimension, self.m = dimension, m
        self.ef_construction, self.ef_search = ef_construction, ef_search
        self.lexical_weight, self.candidates = lexical_weight, candidates
        self.index = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.items: list[KbItem] = []
        self.owners = np.zeros(0, dtype=np.int64)
        self.vectors = np.zeros((0, dimension), dtype=np.float32)
        self._rows_by_kind: dict[str, np.ndarray] = {}
        self._items_by_kind: dict[str, np.ndarray] = {}
        self._rows_of_item: list[np.ndarray] = []
        self._lexical = None

    def add(self, items: Sequence[KbItem], vectors: np.ndarray, owners: Sequence[int] | None = None) -> None:
        import faiss

        owners_arr = np.arange(len(items)) if owners is None else np.asarray(owners, dtype=np.int64)
        if len(owners_arr) != len(vectors):
            raise ValueError(f"{len(vectors)} vectors but {len(owners_arr)} owners")
        if len(owners_arr) and (owners_arr.min() < 0 or owners_arr.max() >= len(items)):
            raise ValueError("owners must index into items")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # single-threaded insertion -> the same graph on every run
        try:
            self.index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        self.owners = np.concatenate([self.owners, owners_arr + len(self.items)])
        self.vectors = np.concatenate([self.vectors, vectors])
        self.items.extend(items)
        self._rebuild()

    def _rebuild(self) -> None:
        from sap_llm_core.knowledge_base.lexical import Bm25Index

        kinds = np.array([item.kind for item in self.items])
        row_kinds = kinds[self.owners] if len(self.owners) else np.array([], dtype=str)
        self._rows_by_kind = {k: np.flatnonzero(row_kinds == k) for k in sorted(set(kinds.tolist()))}
        self._items_by_kind = {k: np.flatnonzero(kinds == k) for k in sorted(set(kinds.tolist()))}
        order = np.argsort(self.owners, kind="stable")
        bounds = np.searchsorted(self.owners[order], np.arange(len(self.items) + 1))
        self._rows_of_item = [order[bounds[i] : bounds[i + 1]] for i in range(len(self.items))]
        self._lexical = Bm25Index([f"{it.text} {' '.join(it.aliases)}" for it in self.items])

    def count(self) -> int:
        return len(self.items)

    def row_count(self) -> int:
        return int(self.index.ntotal)

    def search(
        self, vector: np.ndarray, k: int = 5, kind: str | None = None, text: str | None = None
    ) -> list[Hit]:
        import faiss

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        fetch = min(self.row_count(), max(self.candidates, 4 * k))
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, fetch)
        if kind is not None:
            rows = self._rows_by_kind.get(kind)
            if rows is None or not len(rows):
                return []
            params.sel = faiss.IDSelectorBatch(rows)
        scores, idx = self.index.search(query, fetch, params=params)
        dense: dict[int, float] = {}
        for score, row in zip(scores[0], idx[0], strict=True):
            if row < 0:
                continue
            owner = int(self.owners[row])
            dense[owner] = max(dense.get(owner, -1.0), float(score))
        fused = dict(dense)
        if text and self.lexical_weight > 0 and self._lexical is not None:
            lex = self._lexical.scores(text)
            allowed = self._items_by_kind.get(kind) if kind is not None else np.arange(len(self.items))
            lex_allowed = lex[allowed]
            top = lex_allowed.max() if len(lex_allowed) else 0.0
            if top > 0:
                best = allowed[np.argsort(-lex_allowed, kind="stable")[: self.candidates]]
                for owner in best.tolist():
                    if owner not in dense:
                        rows = self._rows_of_item[owner]
                        dense[owner] = float((self.vectors[rows] @ query[0]).max())
                fused = {o: dense[o] + self.lexical_weight * float(lex[o]) / float(top) for o in dense}
        ranked = sorted(fused.items(), key=lambda kv: (-kv[1], self.items[kv[0]].id))[:k]
        return [
            Hit(
                id=self.items[o].id,
                kind=self.items[o].kind,
                score=round(s, 6),
                metadata=self.items[o].metadata,
            )
            for o, s in ranked
        ]

    # persistence -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / "index.faiss"))
        np.save(directory / "owners.npy", self.owners)
        meta = {
            "dimension": self.dimension,
            "m": self.m,
            "ef_construction": self.ef_construction,
            "ef_search": self.ef_search,
            "lexical_weight": self.lexical_weight,
            "candidates": self.candidates,
            "items": [asdict(i) for i in self.items],
        }
        (directory / "items.json").write_text(json.dumps(meta, sort_keys=True, ensure_ascii=False), "utf-8")
        return [directory / "index.faiss", directory / "owners.npy", directory / "items.json"]

    @classmethod
    def load(cls, directory: str | Path) -> FaissHnswIndex:
        import faiss

        directory = Path(directory)
        meta = json.loads((directory / "items.json").read_text("utf-8"))
        obj = cls(
            meta["dimension"],
            meta["m"],
            meta["ef_construction"],
            meta["ef_search"],
            meta["lexical_weight"],
            meta["candidates"],
        )
        obj.index = faiss.read_index(str(directory / "index.faiss"))
        obj.index.hnsw.efSearch = obj.ef_search
        obj.items = [KbItem(**{**i, "aliases": tuple(i.get("aliases", ()))}) for i in meta["items"]]
        obj.owners = np.load(directory / "owners.npy")
        obj.vectors = (
            np.vstack([obj.index.reconstruct(i) for i in range(obj.index.ntotal)]).astype(np.float32)
            if obj.index.ntotal
            else np.zeros((0, obj.dimension), dtype=np.float32)
        )
        obj._rebuild()
        return obj


# Weaviate -------------------------------------------------------------------------------------
WEAVIATE_PROPERTIES = ("kb_id", "kind", "text", "api", "entity", "name", "metadata_json")


def weaviate_collection_config(name: str) -> dict[str, Any]:
    """Arguments for ``client.collections.create``: our own vectors (no server-side vectoriser),
    HNSW with cosine distance, and the item fields as filterable text properties."""
    from weaviate.classes.config import Configure, DataType, Property, VectorDistances

    return {
        "name": name,
        "vector_config": Configure.Vectors.self_provided(
            vector_index_config=Configure.VectorIndex.hnsw(distance_metric=VectorDistances.COSINE)
        ),
        "properties": [
            Property(name="kb_id", data_type=DataType.TEXT, skip_vectorization=True),
            Property(name="kind", data_type=DataType.TEXT, skip_vectorization=True),
            Property(name="text", data_type=DataType.TEXT),
            Property(name="api", data_type=DataType.TEXT, skip_vectorization=True),
            Property(name="entity", data_type=DataType.TEXT, skip_vectorization=True),
            Property(name="name", data_type=DataType.TEXT, skip_vectorization=True),
            Property(
                name="metadata_json",
                data_type=DataType.TEXT,
                skip_vectorization=True,
                index_filterable=False,
                index_searchable=False,
            ),
        ],
    }


def weaviate_objects(
    items: Sequence[KbItem], vectors: np.ndarray, owners: Sequence[int] | None = None
) -> list[Any]:
    """One ``DataObject`` per vector row. The UUID is v5 of ``<item id>#<row number within the item>``,
    so re-adding the same items overwrites objects instead of duplicating them."""
    from weaviate.classes.data import DataObject
    from weaviate.util import generate_uuid5

    owners = list(range(len(items))) if owners is None else list(owners)
    if len(owners) != len(vectors):
        raise ValueError(f"{len(vectors)} vectors but {len(owners)} owners")
    seen: dict[int, int] = {}
    objects = []
    for owner, vec in zip(owners, vectors, strict=True):
        item = items[owner]
        n = seen.get(owner, 0)
        seen[owner] = n + 1
        md = item.metadata
        objects.append(
            DataObject(
                uuid=generate_uuid5(f"{item.id}#{n}"),
                properties={
                    "kb_id": item.id,
                    "kind": item.kind,
                    "text": item.text,
                    "api": str(md.get("api", "")),
                    "entity": str(md.get("entity", "")),
                    "name": str(md.get("name", "")),
                    "metadata_json": json.dumps(md, sort_keys=True, ensure_ascii=False),
                },
                vector=[float(x) for x in vec],
            )
        )
    return objects


def weaviate_query(
    vector: np.ndarray,
    k: int,
    kind: str | None,
    text: str | None = None,
    alpha: float = 0.75,
    overfetch: int = 8,
) -> dict[str, Any]:
    """Arguments for ``collection.query.hybrid`` (with ``text``) or ``near_vector`` (without).

    Several objects belong to one item (one per alias vector), so the query over-fetches
    ``k * overfetch`` objects and :meth:`WeaviateIndex.search` folds them back to ``k`` items.
    ``alpha`` weights vector against BM25 in Weaviate's hybrid fusion (1.0 = vector only).
    """
    from weaviate.classes.query import Filter, MetadataQuery

    common: dict[str, Any] = {
        "limit": k * overfetch,
        "filters": Filter.by_property("kind").equal(kind) if kind else None,
        "return_properties": list(WEAVIATE_PROPERTIES),
    }
    vec = [float(x) for x in np.asarray(vector).reshape(-1)]
    if text:
        return {
            "query": text,
            "vector": vec,
            "alpha": alpha,
            "query_properties": ["text"],
            "return_metadata": MetadataQuery(score=True),
            **common,
        }
    return {"near_vector": vec, "return_metadata": MetadataQuery(distance=True), **common}


class WeaviateIndex(VectorIndex):
    """Weaviate (v4 client) behind the same interface. ``client`` is a connected ``WeaviateClient``."""

    def __init__(self, client: Any, collection: str = "SapKnowledgeBase", batch_size: int = 200):
        self.client = client
        self.collection_name = collection
        self.batch_size = batch_size

    @classmethod
    def connect(
        cls,
        url: str,
        api_key: str | None = None,
        collection: str = "SapKnowledgeBase",
        grpc_port: int = 50051,
    ) -> WeaviateIndex:
        import urllib.parse

        import weaviate
        from weaviate.auth import AuthApiKey

        parts = urllib.parse.urlparse(url)
        secure = parts.scheme == "https"
        client = weaviate.connect_to_custom(
            http_host=parts.hostname or "localhost",
            http_port=parts.port or (443 if secure else 8080),
            http_secure=secure,
            grpc_host=parts.hostname or "localhost",
            grpc_port=grpc_port,
            grpc_secure=secure,
            auth_credentials=AuthApiKey(api_key) if api_key else None,
        )
        return cls(client, collection)

    def ensure_collection(self) -> Any:
        if not self.client.collections.exists(self.collection_name):
            self.client.collections.create(**weaviate_collection_config(self.collection_name))
        return self.client.collections.get(self.collection_name)

    def add(self, items: Sequence[KbItem], vectors: np.ndarray, owners: Sequence[int] | None = None) -> None:
        collection = self.ensure_collection()
        objects = weaviate_objects(items, vectors, owners)
        for start in range(0, len(objects), self.batch_size):
            result = collection.data.insert_many(objects[start : start + self.batch_size])
            errors = getattr(result, "errors", None)
            if errors:
                first = next(iter(errors.values()))
                raise RuntimeError(f"Weaviate rejected {len(errors)} objects, e.g. {first}")

    def search(
        self, vector: np.ndarray, k: int = 5, kind: str | None = None, text: str | None = None
    ) -> list[Hit]:
        collection = self.client.collections.get(self.collection_name)
        request = weaviate_query(vector, k, kind, text)
        response = collection.query.hybrid(**request) if text else collection.query.near_vector(**request)
        return fold_weaviate_objects(response.objects, k)

    def count(self) -> int:
        collection = self.client.collections.get(self.collection_name)
        return int(collection.aggregate.over_all(total_count=True).total_count)


def fold_weaviate_objects(objects: Sequence[Any], k: int) -> list[Hit]:
    """Weaviate result objects (best first) -> at most ``k`` distinct items, best object per item."""
    hits: list[Hit] = []
    seen: set[str] = set()
    for obj in objects:
        props = obj.properties
        if props["kb_id"] in seen:
            continue
        seen.add(props["kb_id"])
        md = obj.metadata
        if md is not None and getattr(md, "score", None) is not None:
            score = float(md.score)
        elif md is not None and getattr(md, "distance", None) is not None:
            score = 1.0 - float(md.distance)
        else:
            score = 0.0
        hits.append(
            Hit(
                id=props["kb_id"],
                kind=props["kind"],
                score=score,
                metadata=json.loads(props.get("metadata_json") or "{}"),
            )
        )
        if len(hits) == k:
            break
    return hits
