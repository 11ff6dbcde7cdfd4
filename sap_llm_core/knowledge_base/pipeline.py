"""The knowledge-base steps as plain functions over an :class:`ArtifactStore`.

Dagster assets (``assets/knowledge_base.py``), the CLI and DVC stages call these; each writes its
artifacts under ``<root>/<asset>/`` and its ``manifest.json`` last, and returns the manifest, whose
``data_version`` is a content hash (same inputs -> same version -> downstream stays fresh).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import tempfile
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sap_llm_core.knowledge_base.business_rules import RuleSet, load_rules, parse_errors
from sap_llm_core.knowledge_base.edmx_models import EdmxDocument
from sap_llm_core.knowledge_base.edmx_parser import find_edmx_files, parse_files
from sap_llm_core.knowledge_base.field_mappings import FieldMappings, check_references, load_mappings
from sap_llm_core.knowledge_base.mongo_store import KnowledgeBaseStore, build_documents, content_hash
from sap_llm_core.storage import ArtifactStore

EDMX_ASSET = "edmx_schemas"
MAPPINGS_ASSET = "field_mappings"
RULES_ASSET = "business_rules"
KB_ASSET = "knowledge_base"
INDEX_ASSET = "kb_vector_index"
KB_CODE_VERSION = "kb-1"


def _hash(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


# edmx_schemas ------------------------------------------------------------------------------------
def build_edmx_schemas(
    store: ArtifactStore, edmx_dirs: Sequence[Path], extra_files: Sequence[Path] = ()
) -> dict[str, Any]:
    """Parse every ``$metadata`` file; store one JSON model per API; quarantine broken files."""
    files = sorted({p for d in edmx_dirs for p in find_edmx_files(d)} | set(extra_files))
    report = parse_files(files)
    apis = []
    keep = set()
    for doc in sorted(report.documents, key=lambda d: d.api):
        name = f"{doc.api}.json"
        keep.add(name)
        store.write_bytes(doc.model_dump_json(indent=1).encode("utf-8"), EDMX_ASSET, "apis", name)
        apis.append(
            {
                "api": doc.api,
                "version": doc.version,
                "sha256": doc.sha256,
                "odata_version": doc.odata_version,
                "source": Path(doc.source).name,
                "path": f"apis/{name}",
                "counts": doc.counts(),
            }
        )
    for stale in set(store.list(EDMX_ASSET, "apis", suffix=".json")) - keep:
        store.remove(EDMX_ASSET, "apis", stale)
    quarantined = []
    store.remove(EDMX_ASSET, "quarantine")
    for err in report.quarantined:
        src = Path(err.source)
        if src.is_file():
            store.write_bytes(src.read_bytes(), EDMX_ASSET, "quarantine", src.name)
        quarantined.append(
            {
                "source": src.name,
                "line": err.line,
                "column": err.column,
                "reason": err.reason,
                "path": f"quarantine/{src.name}",
            }
        )
    totals = Counter()
    for a in apis:
        totals.update(a["counts"])
    manifest = {
        "asset": EDMX_ASSET,
        "apis": apis,
        "quarantined": quarantined,
        "totals": dict(sorted(totals.items())),
        "sources": [str(d) for d in edmx_dirs],
        "files_seen": len(files),
        "data_version": _hash([(a["api"], a["sha256"]) for a in apis]),
    }
    store.write_manifest(EDMX_ASSET, manifest)
    return manifest


def load_schemas(store: ArtifactStore) -> list[EdmxDocument]:
    manifest = store.read_manifest(EDMX_ASSET)
    return [
        EdmxDocument.model_validate_json(store.read_bytes(EDMX_ASSET, a["path"])) for a in manifest["apis"]
    ]


def schema_counts_markdown(manifest: dict[str, Any]) -> str:
    rows = [
        (
            a["api"],
            a["odata_version"],
            a["counts"]["entity_types"],
            a["counts"]["properties"],
            a["counts"]["navigation_properties"],
            a["counts"]["entity_sets"],
            a["counts"]["function_imports"],
            a["version"],
        )
        for a in manifest["apis"]
    ]
    return markdown_table(
        [
            "API",
            "OData",
            "entity types",
            "properties",
            "navigation",
            "entity sets",
            "function imports",
            "version",
        ],
        rows,
    )


# field_mappings ------------------------------------------------------------------------------------
def build_field_mappings(store: ArtifactStore, mappings_path: str | Path | None = None) -> dict[str, Any]:
    mappings = load_mappings(mappings_path)
    schemas = load_schemas(store)
    results = check_references(mappings, schemas)
    store.write_json(mappings.model_dump(), MAPPINGS_ASSET, "mappings.json")
    store.write_json([r.model_dump() for r in results], MAPPINGS_ASSET, "references.json")
    status = Counter(r.status for r in results)
    per_type = {}
    for r in results:
        row = per_type.setdefault(
            r.document_type,
            {"api": mappings.document_types[r.document_type].api, "ok": 0, "unverified": 0, "broken": 0},
        )
        row[r.status] += 1
    manifest = {
        "asset": MAPPINGS_ASSET,
        "document_types": len(mappings.document_types),
        "fields": len(results),
        "references": {k: status.get(k, 0) for k in ("ok", "unverified", "broken")},
        "per_type": per_type,
        "broken": [r.model_dump() for r in results if r.status == "broken"],
        "schema_versions": {d.api: d.version for d in schemas},
        "data_version": _hash([mappings.model_dump(), [r.model_dump() for r in results]]),
    }
    store.write_manifest(MAPPINGS_ASSET, manifest)
    return manifest


def load_field_mappings(store: ArtifactStore) -> FieldMappings:
    return FieldMappings.model_validate(store.read_json(MAPPINGS_ASSET, "mappings.json"))


# business_rules ------------------------------------------------------------------------------------
def build_business_rules(store: ArtifactStore, rules_path: str | Path | None = None) -> dict[str, Any]:
    rules = load_rules(rules_path)
    errors = parse_errors(rules)
    store.write_json(rules.model_dump(), RULES_ASSET, "rules.json")
    manifest = {
        "asset": RULES_ASSET,
        "rules": len(rules.rules),
        "parse_errors": errors,
        "by_category": dict(sorted(Counter(r.category for r in rules.rules).items())),
        "by_severity": dict(sorted(Counter(r.severity for r in rules.rules).items())),
        "auto_correctable": sum(r.auto_correctable for r in rules.rules),
        "data_version": _hash(rules.model_dump()),
    }
    store.write_manifest(RULES_ASSET, manifest)
    return manifest


def load_business_rules(store: ArtifactStore) -> RuleSet:
    return RuleSet.model_validate(store.read_json(RULES_ASSET, "rules.json"))


# knowledge_base (MongoDB) -----------------------------------------------------------------------------
def load_knowledge_base(
    store: ArtifactStore, kb: KnowledgeBaseStore, on_batch: Callable[[str, int], None] | None = None
) -> dict[str, Any]:
    documents = build_documents(load_schemas(store), load_field_mappings(store), load_business_rules(store))
    report = kb.load(documents, on_batch=on_batch)
    expected = {c: len(docs) for c, docs in documents.items()}
    manifest = {
        "asset": KB_ASSET,
        "database": kb.db.name,
        "expected": expected,
        "counts": report.counts,
        "upserted": report.upserted,
        "modified": report.modified,
        "removed": report.removed,
        "data_version": content_hash(documents)[:16],
    }
    store.write_manifest(KB_ASSET, manifest)
    return manifest


# kb_vector_index ------------------------------------------------------------------------------------
def build_vector_index(
    store: ArtifactStore,
    settings: Any,
    embedder: Any | None = None,
    evaluate_retrieval: bool = True,
    publish: Callable[[Any, Any, Any], str] | None = None,
) -> dict[str, Any]:
    """Embed the KB items, build the FAISS HNSW index, evaluate retrieval, store all of it.

    ``settings`` is :class:`KnowledgeBaseSettings`. The embedding cache lives beside the index so a
    rebuild only embeds texts it has not seen.
    """
    from sap_llm_core.knowledge_base.embeddings import EmbeddingCache, default_embedder
    from sap_llm_core.knowledge_base.kb_items import build_items
    from sap_llm_core.knowledge_base.retrieval import KbRetriever
    from sap_llm_core.knowledge_base.retrieval_eval import evaluate, load_eval_set
    from sap_llm_core.knowledge_base.vector_index import FaissHnswIndex, vector_rows

    items = build_items(load_schemas(store), load_field_mappings(store), load_business_rules(store))
    texts, owners = vector_rows(items)
    with tempfile.TemporaryDirectory() as tmp:
        cache_path = Path(tmp) / "embedding_cache.npz"
        if store.exists(INDEX_ASSET, "embedding_cache.npz"):
            cache_path.write_bytes(store.read_bytes(INDEX_ASSET, "embedding_cache.npz"))
        cache = EmbeddingCache(embedder or default_embedder(), cache_path)
        vectors = cache.encode(texts)
        cache.save()
        index = FaissHnswIndex(
            cache.dimension,
            settings.hnsw_m,
            settings.hnsw_ef_construction,
            settings.hnsw_ef_search,
            lexical_weight=settings.lexical_weight,
        )
        index.add(items, vectors, owners)
        out = Path(tmp) / "index"
        for path in index.save(out):
            store.write_bytes(path.read_bytes(), INDEX_ASSET, path.name)
        store.write_bytes(cache_path.read_bytes(), INDEX_ASSET, "embedding_cache.npz")
    published = publish(items, vectors, owners) if publish else "faiss files in the artifact store"
    kinds = Counter(i.kind for i in items)
    manifest: dict[str, Any] = {
        "asset": INDEX_ASSET,
        "backend": "faiss-hnsw",
        "items": len(items),
        "vectors": len(texts),
        "by_kind": dict(sorted(kinds.items())),
        "dimension": cache.dimension,
        "embedding_model": getattr(cache.embedder, "name", "unknown"),
        "embedding_cache": {"hits": cache.hits, "misses": cache.misses},
        "hnsw": {
            "m": settings.hnsw_m,
            "ef_construction": settings.hnsw_ef_construction,
            "ef_search": settings.hnsw_ef_search,
        },
        "lexical_weight": settings.lexical_weight,
        "entity_weight": settings.entity_weight,
        "published_to": published,
        # content identity: same items and vectors -> same version (latency figures excluded)
        "data_version": _hash(
            [[i.id, i.text, list(i.aliases)] for i in items] + [hashlib.sha256(vectors.tobytes()).hexdigest()]
        ),
    }
    if evaluate_retrieval:
        retriever = KbRetriever(index, cache, entity_weight=settings.entity_weight)
        result = evaluate(retriever, load_eval_set())
        store.write_json(result, INDEX_ASSET, "retrieval_eval.json")
        manifest["retrieval"] = {k: v for k, v in result.items() if k != "misses"}
        manifest["retrieval"]["misses"] = len(result["misses"])
    store.write_manifest(INDEX_ASSET, manifest)
    return manifest


def retrieval_plot_markdown(retrieval: dict[str, Any]) -> str:
    """P@5 and MRR per language as a small bar chart, embedded as a data URI for the Dagster UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    langs = sorted(retrieval["by_language"])
    p5 = [retrieval["by_language"][lang]["p_at_5"] for lang in langs]
    mrr = [retrieval["by_language"][lang]["mrr"] for lang in langs]
    fig, ax = plt.subplots(figsize=(5, 2.6), dpi=90)
    xs = range(len(langs))
    ax.bar([x - 0.2 for x in xs], p5, width=0.4, label="P@5 (hit@5)")
    ax.bar([x + 0.2 for x in xs], mrr, width=0.4, label="MRR")
    ax.axhline(0.9, color="red", linewidth=0.8, linestyle="--", label="target 0.90")
    ax.set_xticks(list(xs), langs)
    ax.set_ylim(0, 1)
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title("KB retrieval by query language", fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return f"![retrieval by language](data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()})"
