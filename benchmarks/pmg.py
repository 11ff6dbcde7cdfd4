"""Process Memory Graph at scale: similar-case search and traversal latency, written to JSON.

Seed targets: similar-case search p95 < 100 ms at 100K documents; traversal < 200 ms.

The graph (documents, extractions, routings, 10% with feedback) is bulk-loaded into the embedded
nx-27017 server. Case vectors: ``--real`` documents are embedded with MiniLM; the rest are those
vectors with small Gaussian perturbations, re-normalised, which keeps the index's neighbourhood
structure realistic without spending minutes embedding 100K texts on two CPU cores (search latency
depends on the vectors' geometry, not on where they came from).

    python benchmarks/pmg.py [--documents 100000] [--real 3000] [--queries 300]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pymongo

from sap_llm_core.knowledge_base.embeddings import default_embedder
from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.pmg.graph_store import ProcessMemoryGraph
from sap_llm_core.pmg.model import EdgeType
from sap_llm_core.pmg.similar_cases import Case, SimilarCaseIndex, case_summary
from sap_llm_core.synthetic.catalog import DocumentType

RESULTS = Path(__file__).resolve().parent / "results" / "pmg.json"


def _percentiles(samples_ms: list[float]) -> dict[str, float]:
    arr = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(arr, 50)), 3),
        "p95_ms": round(float(np.percentile(arr, 95)), 3),
        "max_ms": round(float(arr.max()), 3),
    }


def _summaries(n: int, rng: random.Random) -> list[tuple[str, str]]:
    types = [t.value for t in DocumentType]
    vendors = [f"Vendor {i} GmbH" for i in range(300)]
    out = []
    for _ in range(n):
        doc_type = rng.choice(types)
        header = {
            "vendor_name": rng.choice(vendors),
            "company_code": rng.choice(["1010", "1710", "2010"]),
            "currency": rng.choice(["EUR", "USD", "GBP"]),
        }
        out.append((doc_type, case_summary(doc_type, header, rng.choice(["EN", "DE", "FR", "ES", "IT"]))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--real", type=int, default=3_000)
    parser.add_argument("--queries", type=int, default=300)
    args = parser.parse_args()
    rng = random.Random(7)
    summaries = _summaries(args.documents, rng)

    # similar-case search -----------------------------------------------------------------------
    embedder = default_embedder()
    started = time.perf_counter()
    real = embedder.encode([s for _, s in summaries[: args.real]])
    embed_s = time.perf_counter() - started
    noise = np.random.default_rng(7)
    base = real[noise.integers(0, len(real), args.documents - args.real)]
    derived = base + noise.normal(0, 0.05, base.shape).astype(np.float32)
    derived /= np.linalg.norm(derived, axis=1, keepdims=True)
    vectors = np.vstack([real, derived]).astype(np.float32)
    cases = [Case(f"doc-{i:06d}", t, s, {}) for i, (t, s) in enumerate(summaries)]
    index = SimilarCaseIndex(embedder.encode)
    started = time.perf_counter()
    index.add(cases, vectors)
    build_s = time.perf_counter() - started
    query_ids = [rng.randrange(args.documents) for _ in range(args.queries)]
    for i in query_ids[:10]:  # warm-up
        index.search_vector(vectors[i], k=5)
    search_ms, embed_and_search_ms, self_hits = [], [], 0
    for i in query_ids:
        t = time.perf_counter()
        hits = index.search_vector(vectors[i], k=5)
        search_ms.append((time.perf_counter() - t) * 1000)
        self_hits += hits[0].id == cases[i].document_id
    for i in query_ids[:100]:
        t = time.perf_counter()
        index.search(cases[i].summary, k=5)
        embed_and_search_ms.append((time.perf_counter() - t) * 1000)

    # graph traversal ---------------------------------------------------------------------------
    with tempfile.TemporaryDirectory() as tmp, LocalMongoServer(tmp) as server:
        client = pymongo.MongoClient(server.uri, tz_aware=True)
        graph = ProcessMemoryGraph(client["pmg_benchmark"])
        graph.ensure_indexes()
        started = time.perf_counter()
        graph.bulk_add_documents(
            {"_id": c.document_id, "document_type": c.document_type, "summary": c.summary} for c in cases
        )
        edges = []
        for c in cases:
            ex, rt = f"ex-{c.document_id}", f"rt-{c.document_id}"
            edges += [(c.document_id, EdgeType.HAS_EXTRACTION, ex), (ex, EdgeType.TRIGGERS_ROUTING, rt)]
            if rng.random() < 0.1:
                edges.append((c.document_id, EdgeType.HAS_FEEDBACK, f"fb-{c.document_id}"))
        graph.bulk_link(edges)
        load_s = time.perf_counter() - started
        traversal_ms = []
        for i in query_ids[:200]:
            t = time.perf_counter()
            trail = graph.document_history(cases[i].document_id)
            traversal_ms.append((time.perf_counter() - t) * 1000)
            assert len(trail["edges"]) >= 2
        client.close()

    result = {
        "benchmark": "pmg",
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "documents": args.documents,
        "edges": len(edges),
        "embedded_real_documents": args.real,
        "embedding_docs_per_second": round(args.real / embed_s, 1),
        "index_build_s": round(build_s, 2),
        "similar_case_search": {
            **_percentiles(search_ms),
            "queries": len(search_ms),
            "self_recall_at_1": round(self_hits / len(query_ids), 4),
        },
        "similar_case_embed_and_search": _percentiles(embed_and_search_ms),
        "graph_load_s": round(load_s, 2),
        "traversal": {**_percentiles(traversal_ms), "queries": len(traversal_ms), "backend": "nx-27017"},
        "targets": {"similar_case_p95_ms": 100, "traversal_ms": 200},
    }
    result["meets_targets"] = (
        result["similar_case_search"]["p95_ms"] < 100 and result["traversal"]["p95_ms"] < 200
    )
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
