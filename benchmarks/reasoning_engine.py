"""Reasoning engine: default training on the corpus splits, then routing throughput and latency,
written to ``benchmarks/results/reasoning_engine.json``.

Uses the ``corpus_splits`` (and ``kb_vector_index`` when present) of ``--storage-root``; when the store
has no splits, a synthetic stand-in of ``--documents`` documents is generated and split 70/15/15 by id
hash (the real asset is Spark-stratified, same contract). Latency is per document, one at a time, as
a serving worker sees it: MiniLM embedding of the retrieval query and case summary (one call), KB
candidate search, similar-case search, catalog scoring. Throughput is batched routing of the test split.

    python benchmarks/reasoning_engine.py [--storage-root DIR] [--documents 2000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "reasoning_engine.json"


def _ensure_splits(root: str, documents: int) -> str:
    from sap_llm_core.schema import table_to_records
    from sap_llm_core.storage import ArtifactStore
    from sap_llm_core.synthetic.config import GeneratorConfig
    from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
    from sap_llm_core.training.data import write_hash_splits

    store = ArtifactStore(root)
    if store.exists("corpus_splits", "manifest.json"):
        return "corpus_splits of the store"
    manifest, _ = generate_corpus(
        GeneratorConfig(num_documents=documents, render_images=False), store, workers=1
    )
    records = [r for s in manifest["shards"] for r in table_to_records(store.read_table(ASSET, s["path"]))]
    write_hash_splits(store, records, manifest["data_version"])
    return f"synthetic stand-in: {documents} documents, id-hash splits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-root", default="/tmp/sap_llm_router_benchmark/data")
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--output-dir", default="/tmp/sap_llm_router_benchmark/run")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

    import torch

    from sap_llm_core.knowledge_base.embeddings import default_embedder
    from sap_llm_core.models.reasoning_engine.examples import build_examples
    from sap_llm_core.models.reasoning_engine.model import Router
    from sap_llm_core.models.reasoning_engine.train import SimilarCases, load_kb, load_retriever, train
    from sap_llm_core.storage import ArtifactStore
    from sap_llm_core.training.data import load_split
    from sap_llm_core.training.reporter import TrainingReporter

    data = _ensure_splits(args.storage_root, args.documents)
    start = time.perf_counter()
    result = train(
        {"storage_root": args.storage_root, "output_dir": args.output_dir, "resume": False},
        TrainingReporter("reasoning_engine"),
    )
    wall = time.perf_counter() - start
    m = result["metrics"]

    # Batched routing throughput over the test split (context attached in batches, 1 thread).
    store = ArtifactStore(args.storage_root)
    router = Router.load(result["checkpoint_dir"])
    kb, _ = load_kb(store)
    embed = default_embedder().encode
    retriever, _ = load_retriever(store, embed, result["hyperparameters"]["candidates_k"])
    train_ex, _ = build_examples(load_split(store, "train"), kb, retriever)
    similar = SimilarCases(embed, train_ex, result["hyperparameters"]["similar_cases_k"])
    records = load_split(store, "test")
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    examples, _ = build_examples(records, kb, retriever, similar)
    router.route(examples)
    throughput = len(examples) / (time.perf_counter() - t0)

    out = {
        "data": data,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg": os.getloadavg()},
        "training": {
            "samples_per_second": round(m["train_samples_per_second"], 2),
            "training_seconds": round(m["training_seconds"], 1),
            "wall_seconds_incl_data_and_eval": round(wall, 1),
            "train_documents": int(m["train_documents"]),
        },
        "routing": {
            "documents_per_second_batched": round(throughput, 1),
            "latency_p50_ms": round(m["latency_p50_ms"], 1),
            "latency_p95_ms": round(m["latency_p95_ms"], 1),
        },
        "quality": {
            k: round(m[k], 4)
            for k in (
                "routing_accuracy",
                "api_accuracy",
                "api_validity",
                "ece",
                "majority_baseline_accuracy",
                "mean_reward",
                "test_documents",
            )
        },
        "hyperparameters": result["hyperparameters"],
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(out, indent=2, sort_keys=True) + "\n")
    print(json.dumps(out, indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
