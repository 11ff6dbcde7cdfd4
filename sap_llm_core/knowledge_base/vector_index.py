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
    """One retrievable thing: an API, entity type, property or rule. ``id`` is stable across runs."""

    id: str
    kind: str  # api | entity | property | rule
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Hit:
    id: str
    kind: str
    score: float
    metadata: dict[str, Any]


class VectorIndex(ABC):
    """Add unit-length vectors with their items; search by cosine similarity, optionally by kind."""

    @abstractmethod
    def add(self, items: Sequence[KbItem], vectors: np.ndarray) -> None: ...

    @abstractmethod
    def search(self, vector: np.ndarray, k: int = 5, kind: str | None = None) -> list[Hit]: ...

    @abstractmethod
    def count(self) -> int: ...


class FaissHnswIndex(VectorIndex):
    """FAISS ``IndexHNSWFlat`` with inner product on normalised vectors (= cosine).

    ``kind`` filtering uses FAISS's ID selector inside the HNSW search, so a filtered query still
    returns ``k`` results instead of whatever survived a post-filter.
    """

    def __init__(self, dimension: int = 384, m: int = 32, ef_construction: int = 200, ef_search: int = 128):
        import faiss

        self.dimension, self.m = dimension, m
        self.ef_construction, self.ef_search = ef_construction, ef_search
        self.index = faiss.IndexHNSWFlat(dimension, m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = ef_construction
        self.index.hnsw.efSearch = ef_search
        self.items: list[KbItem] = []
        self._by_kind: dict[str, np.ndarray] = {}

    def add(self, items: Sequence[KbItem], vectors: np.ndarray) -> None:
        import faiss

        if len(items) != len(vectors):
            raise ValueError(f"{len(items)} items but {len(vectors)} vectors")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(1)  # single-threaded insertion -> the same graph on every run
        try:
            self.index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        self.items.extend(items)
        self._reindex_kinds()

    def _reindex_kinds(self) -> None:
        kinds: dict[str, list[int]] = {}
        for i, item in enumerate(self.items):
            kinds.setdefault(item.kind, []).append(i)
        self._by_kind = {k: np.array(v, dtype=np.int64) for k, v in kinds.items()}

    def count(self) -> int:
        return int(self.index.ntotal)

    def search(self, vector: np.ndarray, k: int = 5, kind: str | None = None) -> list[Hit]:
        import faiss

        query = np.ascontiguousarray(vector.reshape(1, -1), dtype=np.float32)
        params = faiss.SearchParametersHNSW()
        params.efSearch = max(self.ef_search, k)
        if kind is not None:
            ids = self._by_kind.get(kind)
            if ids is None:
                return []
            params.sel = faiss.IDSelectorBatch(ids)
        scores, idx = self.index.search(query, k, params=params)
        hits = []
        for score, i in zip(scores[0], idx[0], strict=True):
            if i < 0:
                continue
            item = self.items[i]
            hits.append(Hit(id=item.id, kind=item.kind, score=float(score), metadata=item.metadata))
        return hits

    # persistence -------------------------------------------------------------------------------
    def save(self, directory: str | Path) -> list[Path]:
        import faiss

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        faiss.write_index(self.index, str(directory / "index.faiss"))
        meta = {"dimension": self.dimension, "m": self.m, "ef_construction": self.ef_construction,
                "ef_search": self.ef_search, "items": [asdict(i) for i in self.items]}
        (directory / "items.json").write_text(json.dumps(meta, sort_keys=True, ensure_ascii=False), "utf-8")
        return [directory / "index.faiss", directory / "items.json"]

    @classmethod
    def load(cls, directory: str | Path) -> FaissHnswIndex:
        import faiss

        directory = Path(directory)
        meta = json.loads((directory / "items.json").read_text("utf-8"))
        obj = cls(meta["dimension"], meta["m"], meta["ef_construction"], meta["ef_search"])
        obj.index = faiss.read_index(str(directory / "index.faiss"))
        obj.index.hnsw.efSearch = obj.ef_search
        obj.items = [KbItem(**i) for i in meta["items"]]
        obj._reindex_kinds()
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
            Property(name="metadata_json", data_type=DataType.TEXT, skip_vectorization=True,
                     index_filterable=False, index_searchable=False),
        ],
    }


def weaviate_objects(items: Sequence[KbItem], vectors: np.ndarray) -> list[Any]:
    """``DataObject``s with a UUIDv5 from the item id: re-adding an item overwrites, never duplicates."""
    from weaviate.classes.data import DataObject
    from weaviate.util import generate_uuid5

    if len(items) != len(vectors):
        raise ValueError(f"{len(items)} items but {len(vectors)} vectors")
    objects = []
    for item, vec in zip(items, vectors, strict=True):
        md = item.metadata
        objects.append(DataObject(
            uuid=generate_uuid5(item.id),
            properties={
                "kb_id": item.id, "kind": item.kind, "text": item.text,
                "api": str(md.get("api", "")), "entity": str(md.get("entity", "")),
                "name": str(md.get("name", "")),
                "metadata_json": json.dumps(md, sort_keys=True, ensure_ascii=False),
            },
            vector=[float(x) for x in vec],
        ))
    return objects


def weaviate_query(vector: np.ndarray, k: int, kind: str | None) -> dict[str, Any]:
    """Arguments for ``collection.query.near_vector``."""
    from weaviate.classes.query import Filter, MetadataQuery

    return {
        "near_vector": [float(x) for x in np.asarray(vector).reshape(-1)],
        "limit": k,
        "filters": Filter.by_property("kind").equal(kind) if kind else None,
        "return_metadata": MetadataQuery(distance=True),
        "return_properties": list(WEAVIATE_PROPERTIES),
    }


class WeaviateIndex(VectorIndex):
    """Weaviate (v4 client) behind the same interface. ``client`` is a connected ``WeaviateClient``."""

    def __init__(self, client: Any, collection: str = "SapKnowledgeBase", batch_size: int = 200):
        self.client = client
        self.collection_name = collection
        self.batch_size = batch_size

    @classmethod
    def connect(cls, url: str, api_key: str | None = None, collection: str = "SapKnowledgeBase",
                grpc_port: int = 50051) -> WeaviateIndex:
        import urllib.parse

        import weaviate
        from weaviate.auth import AuthApiKey

        parts = urllib.parse.urlparse(url)
        secure = parts.scheme == "https"
        client = weaviate.connect_to_custom(
            http_host=parts.hostname or "localhost", http_port=parts.port or (443 if secure else 8080),
            http_secure=secure, grpc_host=parts.hostname or "localhost", grpc_port=grpc_port,
            grpc_secure=secure, auth_credentials=AuthApiKey(api_key) if api_key else None,
        )
        return cls(client, collection)

    def ensure_collection(self) -> Any:
        if not self.client.collections.exists(self.collection_name):
            self.client.collections.create(**weaviate_collection_config(self.collection_name))
        return self.client.collections.get(self.collection_name)

    def add(self, items: Sequence[KbItem], vectors: np.ndarray) -> None:
        collection = self.ensure_collection()
        objects = weaviate_objects(items, vectors)
        for start in range(0, len(objects), self.batch_size):
            result = collection.data.insert_many(objects[start : start + self.batch_size])
            errors = getattr(result, "errors", None)
            if errors:
                raise RuntimeError(f"Weaviate rejected {len(errors)} objects, e.g. {next(iter(errors.values()))}")

    def search(self, vector: np.ndarray, k: int = 5, kind: str | None = None) -> list[Hit]:
        collection = self.client.collections.get(self.collection_name)
        response = collection.query.near_vector(**weaviate_query(vector, k, kind))
        hits = []
        for obj in response.objects:
            props = obj.properties
            distance = obj.metadata.distance if obj.metadata and obj.metadata.distance is not None else 1.0
            hits.append(Hit(id=props["kb_id"], kind=props["kind"], score=1.0 - float(distance),
                            metadata=json.loads(props.get("metadata_json") or "{}")))
        return hits

    def count(self) -> int:
        collection = self.client.collections.get(self.collection_name)
        return int(collection.aggregate.over_all(total_count=True).total_count)
