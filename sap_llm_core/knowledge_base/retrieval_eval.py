"""Retrieval quality of the KB vector index on a hand-written, five-language evaluation set.

Metrics (one relevant *field* per query, possibly stored under several property ids):

* ``p_at_5``: share of queries with a correct property among the top 5 (success@5). With one right
  answer per query this is the form of precision@5 the seed target (>= 0.90) can refer to; the
  strict ratio (correct hits / 5) is reported too as ``strict_precision_at_5`` for completeness.
* ``mrr``: mean reciprocal rank of the first correct hit within the top 10 (0 when absent).
* latency: wall time of embed + search per query, p50 / p95 in milliseconds.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from pydantic import BaseModel

from sap_llm_core.knowledge_base.embeddings import query_threads
from sap_llm_core.knowledge_base.retrieval import KbRetriever

LANGUAGES = ("EN", "DE", "FR", "ES", "IT")


class EvalQuery(BaseModel):
    id: str
    language: str
    query: str
    relevant: list[str]  # property ids without the "property:" prefix


def load_eval_set(path: str | Path | None = None) -> list[EvalQuery]:
    if path is None:
        text = (
            resources.files("sap_llm_core.knowledge_base")
            .joinpath("data/retrieval_eval.yaml")
            .read_text("utf-8")
        )
    else:
        text = Path(path).read_text("utf-8")
    data = yaml.safe_load(text)
    out: list[EvalQuery] = []
    for t, target in enumerate(data["targets"]):
        for lang in LANGUAGES:
            out.append(
                EvalQuery(
                    id=f"t{t:03d}-{lang}",
                    language=lang,
                    query=target["queries"][lang],
                    relevant=list(target["relevant"]),
                )
            )
    return out


def evaluate(
    retriever: KbRetriever, queries: Sequence[EvalQuery], k: int = 10, warmup: int = 3
) -> dict[str, Any]:
    """Run every query one at a time (as the online path does) and compute the metrics."""
    with query_threads(1):
        return _evaluate(retriever, queries, k, warmup)


def _evaluate(retriever: KbRetriever, queries: Sequence[EvalQuery], k: int, warmup: int) -> dict[str, Any]:
    for q in queries[:warmup]:  # model load and first-call costs are not query latency
        retriever.search(q.query, k=k)
    latencies: list[float] = []
    per_query: list[dict[str, Any]] = []
    for q in queries:
        start = time.perf_counter()
        hits = retriever.search(q.query, k=k)
        latencies.append((time.perf_counter() - start) * 1000)
        ids = [h.id.removeprefix("property:") for h in hits]
        relevant = set(q.relevant)
        rank = next((i + 1 for i, h in enumerate(ids) if h in relevant), None)
        per_query.append(
            {
                "id": q.id,
                "language": q.language,
                "query": q.query,
                "rank": rank,
                "hit_at_5": rank is not None and rank <= 5,
                "top": ids[:5],
                "correct_in_top5": sum(1 for h in ids[:5] if h in relevant),
            }
        )
    n = len(per_query)
    by_lang: dict[str, dict[str, float]] = {}
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in per_query:
        groups[r["language"]].append(r)
    for lang in sorted(groups):
        rows = groups[lang]
        by_lang[lang] = {
            "p_at_5": round(sum(r["hit_at_5"] for r in rows) / len(rows), 4),
            "mrr": round(sum(1 / r["rank"] if r["rank"] else 0 for r in rows) / len(rows), 4),
            "queries": len(rows),
        }
    lat = np.array(latencies)
    return {
        "queries": n,
        "p_at_5": round(sum(r["hit_at_5"] for r in per_query) / n, 4),
        "strict_precision_at_5": round(sum(r["correct_in_top5"] for r in per_query) / (5 * n), 4),
        "mrr": round(sum(1 / r["rank"] if r["rank"] else 0 for r in per_query) / n, 4),
        "latency_ms_p50": round(float(np.percentile(lat, 50)), 3),
        "latency_ms_p95": round(float(np.percentile(lat, 95)), 3),
        "latency_ms_max": round(float(lat.max()), 3),
        "by_language": by_lang,
        "misses": [r for r in per_query if not r["hit_at_5"]],
    }
