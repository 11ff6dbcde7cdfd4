"""FAISS HNSW index, BM25, the retriever, and the Weaviate backend's requests (no server here)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from sap_llm_core.knowledge_base.lexical import Bm25Index, tokenize
from sap_llm_core.knowledge_base.retrieval import KbRetriever
from sap_llm_core.knowledge_base.vector_index import (
    FaissHnswIndex,
    KbItem,
    WeaviateIndex,
    fold_weaviate_objects,
    vector_rows,
    weaviate_collection_config,
    weaviate_objects,
    weaviate_query,
)


def unit(rng: np.random.Generator, n: int, d: int = 16) -> np.ndarray:
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def make_items() -> list[KbItem]:
    items = [
        KbItem(
            f"property:API/E{i % 3}/P{i}",
            "property",
            f"prop {i}",
            {"api": "API", "entity": f"E{i % 3}", "name": f"P{i}"},
            aliases=(f"a{i}", f"b{i}"),
        )
        for i in range(60)
    ]
    items += [
        KbItem(f"entity:API/E{j}", "entity", f"entity {j}", {"api": "API", "entity": f"E{j}"})
        for j in range(3)
    ]
    return items


def test_faiss_multi_row_items_kind_filter_and_exactness() -> None:
    rng = np.random.default_rng(0)
    items = make_items()
    texts, owners = vector_rows(items)
    assert len(texts) == 60 * 2 + 3 and owners[:4] == [0, 0, 1, 1]
    vectors = unit(rng, len(texts))
    index = FaissHnswIndex(dimension=16, lexical_weight=0)
    index.add(items, vectors, owners)
    assert index.count() == 63 and index.row_count() == 123
    for row in (5, 40, 101):  # a row's own vector finds its item first, with cosine 1
        hits = index.search(vectors[row], k=3, kind="property")
        assert hits[0].id == items[owners[row]].id and hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert len({h.id for h in hits}) == 3 and all(h.kind == "property" for h in hits)
    ent = index.search(vectors[121], k=5, kind="entity")
    assert [h.kind for h in ent] == ["entity"] * 3  # filtered inside the graph search: all 3 found
    assert index.search(vectors[0], k=5, kind="rule") == []
    # brute-force agreement on the top hit for random queries
    queries = unit(rng, 20)
    for q in queries:
        best_row = int(np.argmax(vectors[:120] @ q))
        assert index.search(q, k=1, kind="property")[0].id == items[owners[best_row]].id
    with pytest.raises(ValueError):
        index.add(items[:1], vectors[:2])


def test_faiss_save_load_round_trip_is_deterministic(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    items = make_items()
    texts, owners = vector_rows(items)
    vectors = unit(rng, len(texts))
    a, b = FaissHnswIndex(dimension=16), FaissHnswIndex(dimension=16)
    a.add(items, vectors, owners)
    b.add(items, vectors, owners)
    a.save(tmp_path / "a")
    b.save(tmp_path / "b")
    assert (tmp_path / "a" / "index.faiss").read_bytes() == (tmp_path / "b" / "index.faiss").read_bytes()
    loaded = FaissHnswIndex.load(tmp_path / "a")
    q = unit(rng, 1)[0]
    assert loaded.search(q, k=5, text="prop 7") == a.search(q, k=5, text="prop 7")
    assert loaded.items == a.items


def test_bm25_folds_accents_splits_camel_case_and_matches_compounds() -> None:
    assert "datum" in tokenize("BestellDatum") and "fallig" in tokenize("fällig")
    assert "der" not in tokenize("Datum der Bestellung")
    bm = Bm25Index(["Bestelldatum Bestellung", "Rechnungsdatum Rechnung", "Währung"])
    scores = bm.scores("Datum der Bestellung")
    assert int(np.argmax(scores)) == 0 and scores[2] == 0
    assert int(np.argmax(bm.scores("waehrung währung"))) == 2


def test_hybrid_search_lets_a_lexical_match_win() -> None:
    rng = np.random.default_rng(2)
    items = [
        KbItem(f"property:A/E/P{i}", "property", f"word{i} filler", {"api": "A", "entity": "E"})
        for i in range(30)
    ]
    vectors = unit(rng, 30)
    index = FaissHnswIndex(dimension=16, lexical_weight=5.0)
    index.add(items, vectors)
    query = vectors[3]
    assert index.search(query, k=1, kind="property")[0].id == "property:A/E/P3"
    assert index.search(query, k=1, kind="property", text="word17")[0].id == "property:A/E/P17"


def test_retriever_boosts_properties_of_the_matching_entity() -> None:
    e1, e2 = np.eye(4, dtype=np.float32)[0], np.eye(4, dtype=np.float32)[1]
    p = np.array([0.7, 0.7, 0.1, 0.1], dtype=np.float32)
    p /= np.linalg.norm(p)
    items = [
        KbItem("property:A/Inv/Date", "property", "date", {"api": "A", "entity": "Inv"}),
        KbItem("property:A/PO/Date", "property", "date", {"api": "A", "entity": "PO"}),
        KbItem("entity:A/Inv", "entity", "invoice", {"api": "A", "entity": "Inv"}),
        KbItem("entity:A/PO", "entity", "purchase order", {"api": "A", "entity": "PO"}),
    ]
    index = FaissHnswIndex(dimension=4, lexical_weight=0)
    index.add(items, np.stack([p, p, e1, e2]))

    class Fixed:
        def encode_one(self, text: str) -> np.ndarray:
            v = 0.2 * p + (e1 if "invoice" in text else e2)
            return v / np.linalg.norm(v)

    retriever = KbRetriever(index, Fixed(), entity_weight=1.0, hybrid=False)
    assert retriever.search("date of the invoice", k=1)[0].id == "property:A/Inv/Date"
    assert retriever.search("date of the order", k=1)[0].id == "property:A/PO/Date"


# Weaviate: the requests and objects the backend builds (weaviate-client v4), without a server ------
def test_weaviate_collection_config_uses_own_vectors_and_cosine_hnsw() -> None:
    from weaviate.classes.config import DataType, VectorDistances

    config = weaviate_collection_config("SapKB")
    assert config["name"] == "SapKB"
    vc = config["vector_config"]
    assert vc.vectorizer.vectorizer.value == "none"
    assert vc.vectorIndexConfig.distance == VectorDistances.COSINE
    props = {p.name: p for p in config["properties"]}
    assert set(props) == {"kb_id", "kind", "text", "api", "entity", "name", "metadata_json"}
    assert props["kind"].dataType == DataType.TEXT and props["metadata_json"].indexFilterable is False


def test_weaviate_objects_have_stable_uuids_per_row() -> None:
    from weaviate.util import generate_uuid5

    items = make_items()[:2]
    texts, owners = vector_rows(items)
    vecs = unit(np.random.default_rng(3), len(texts))
    objs = weaviate_objects(items, vecs, owners)
    assert [o.uuid for o in objs] == [
        generate_uuid5(f"{items[0].id}#0"),
        generate_uuid5(f"{items[0].id}#1"),
        generate_uuid5(f"{items[1].id}#0"),
        generate_uuid5(f"{items[1].id}#1"),
    ]
    assert objs == weaviate_objects(items, vecs, owners)  # deterministic: re-adding overwrites
    assert objs[0].properties["kb_id"] == items[0].id and objs[0].properties["entity"] == "E0"
    assert objs[0].vector == pytest.approx(vecs[0].tolist())
    with pytest.raises(ValueError):
        weaviate_objects(items, vecs[:1], owners)


def test_weaviate_queries_hybrid_and_near_vector() -> None:
    from weaviate.classes.query import Filter

    q = np.ones(4, dtype=np.float32) / 2
    hybrid = weaviate_query(q, 5, "property", text="Rechnungsdatum", alpha=0.75)
    assert hybrid["query"] == "Rechnungsdatum" and hybrid["vector"] == [0.5] * 4 and hybrid["alpha"] == 0.75
    assert hybrid["limit"] == 40 and hybrid["return_metadata"].score is True
    expected_filter = Filter.by_property("kind").equal("property")
    assert (hybrid["filters"].target, hybrid["filters"].value) == (expected_filter.target, "property")
    near = weaviate_query(q, 3, None)
    assert "query" not in near and near["near_vector"] == [0.5] * 4 and near["filters"] is None
    assert near["return_metadata"].distance is True


def test_weaviate_results_fold_to_distinct_items() -> None:
    def obj(kb_id: str, distance: float) -> SimpleNamespace:
        return SimpleNamespace(
            properties={"kb_id": kb_id, "kind": "property", "metadata_json": '{"api": "A"}'},
            metadata=SimpleNamespace(score=None, distance=distance),
        )

    hits = fold_weaviate_objects([obj("p1", 0.1), obj("p1", 0.2), obj("p2", 0.3), obj("p3", 0.4)], k=2)
    assert [(h.id, round(h.score, 2)) for h in hits] == [("p1", 0.9), ("p2", 0.7)]
    assert hits[0].metadata == {"api": "A"}


def test_weaviate_index_drives_the_v4_collection_api() -> None:
    """The calls WeaviateIndex makes, recorded by a stand-in for the v4 client (no server exists here);
    the payloads themselves are the real weaviate-client objects checked above."""
    calls: list[tuple] = []

    class Collection:
        class data:
            @staticmethod
            def insert_many(objects):
                calls.append(("insert_many", len(objects)))
                return SimpleNamespace(errors={})

        class query:
            @staticmethod
            def hybrid(**kw):
                calls.append(("hybrid", kw["query"], kw["limit"]))
                return SimpleNamespace(objects=[])

    class Collections:
        def exists(self, name):
            calls.append(("exists", name))
            return False

        def create(self, **config):
            calls.append(("create", config["name"]))

        def get(self, name):
            return Collection()

    index = WeaviateIndex(SimpleNamespace(collections=Collections()), "SapKB", batch_size=50)
    items = make_items()
    texts, owners = vector_rows(items)
    index.add(items, unit(np.random.default_rng(4), len(texts)), owners)
    assert calls[:2] == [("exists", "SapKB"), ("create", "SapKB")]
    assert [c[1] for c in calls if c[0] == "insert_many"] == [50, 50, 23]
    assert index.search(np.ones(16, dtype=np.float32), k=5, kind="property", text="date") == []
    assert calls[-1] == ("hybrid", "date", 40)
