"""Group ``knowledge_base``: SAP OData schemas, field mappings, business rules, the MongoDB knowledge
base and the vector index. Thin adapters over :mod:`sap_llm_core.knowledge_base.pipeline`."""

import dagster as dg

from orchestration.resources import MongoResource, StorageResource, VectorIndexResource
from sap_llm_core.knowledge_base import pipeline as kb
from sap_llm_core.knowledge_base.mongo_store import KnowledgeBaseLoadError
from sap_llm_core.settings import KnowledgeBaseSettings, get_settings

GROUP = "knowledge_base"
_KB = get_settings().knowledge_base


class EdmxSchemasConfig(dg.Config):
    """Where the ``$metadata`` files come from; defaults from params.yaml (``knowledge_base:``)."""

    edmx_dirs: list[str] = list(_KB.edmx_dirs)
    crawl: bool = _KB.crawler.enabled


class VectorIndexConfig(dg.Config):
    hnsw_m: int = _KB.hnsw_m
    hnsw_ef_construction: int = _KB.hnsw_ef_construction
    hnsw_ef_search: int = _KB.hnsw_ef_search
    lexical_weight: float = _KB.lexical_weight
    entity_weight: float = _KB.entity_weight
    evaluate: bool = True


@dg.asset(
    group_name=GROUP,
    code_version=kb.KB_CODE_VERSION,
    kinds={"python", "json"},
    description="Parsed OData V2/V4 $metadata (EDMX) per API: entity types, keys, properties with SAP "
    "annotations, navigation, associations, entity sets, function imports. Broken files are quarantined.",
)
def edmx_schemas(
    context: dg.AssetExecutionContext, config: EdmxSchemasConfig, storage: StorageResource
) -> dg.MaterializeResult:
    store = storage.store()
    settings = KnowledgeBaseSettings(edmx_dirs=config.edmx_dirs)
    dirs = settings.resolved_edmx_dirs()
    extra = []
    if config.crawl:
        from sap_llm_core.knowledge_base.hub_crawler import crawl_from_env

        extra = crawl_from_env(
            store.path(kb.EDMX_ASSET, "downloaded") if "://" not in store.root else None,
            _KB.crawler,
            log=context.log.info,
        )
    missing = [str(d) for d in dirs if not d.is_dir()]
    if missing:
        context.log.warning(f"EDMX folders not found (skipped): {missing}")
    manifest = kb.build_edmx_schemas(store, dirs, extra)
    for q in manifest["quarantined"]:
        context.log.warning(
            f"quarantined {q['source']} (line {q['line']}, column {q['column']}): {q['reason']}"
        )
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": len(manifest["apis"]),
            "apis": len(manifest["apis"]),
            "entity_types": manifest["totals"].get("entity_types", 0),
            "properties": manifest["totals"].get("properties", 0),
            "quarantined": len(manifest["quarantined"]),
            "schemas": dg.MetadataValue.md(kb.schema_counts_markdown(manifest)),
            "quarantine": dg.MetadataValue.json(manifest["quarantined"]),
            "path": dg.MetadataValue.path(store.url(kb.EDMX_ASSET)),
        },
    )


@dg.asset_check(
    asset=edmx_schemas,
    blocking=True,
    description="At least one API parsed and every parsed API has entity types and properties.",
)
def edmx_schemas_complete(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.EDMX_ASSET)
    empty = [
        a["api"] for a in manifest["apis"] if not a["counts"]["entity_types"] or not a["counts"]["properties"]
    ]
    return dg.AssetCheckResult(
        passed=bool(manifest["apis"]) and not empty,
        metadata={"apis": len(manifest["apis"]), "empty_apis": empty},
    )


@dg.asset_check(
    asset=edmx_schemas,
    blocking=False,
    description="No $metadata file was quarantined (a warning: the others still load).",
)
def edmx_schemas_no_quarantine(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.EDMX_ASSET)
    return dg.AssetCheckResult(
        passed=not manifest["quarantined"],
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"quarantined": dg.MetadataValue.json(manifest["quarantined"])},
    )


@dg.asset(
    group_name=GROUP,
    code_version=kb.KB_CODE_VERSION,
    deps=[edmx_schemas],
    kinds={"python", "yaml"},
    description="Document type -> SAP API/entity and ADC field -> SAP property, transformation and "
    "validation pattern (data/field_mappings.yaml), with every reference checked against the schemas.",
)
def field_mappings(storage: StorageResource) -> dg.MaterializeResult:
    store = storage.store()
    manifest = kb.build_field_mappings(store)
    rows = [
        (t, v["api"], v["ok"], v["unverified"], v["broken"]) for t, v in sorted(manifest["per_type"].items())
    ]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": manifest["fields"],
            "document_types": manifest["document_types"],
            "references_ok": manifest["references"]["ok"],
            "references_unverified": manifest["references"]["unverified"],
            "references_broken": manifest["references"]["broken"],
            "by_document_type": dg.MetadataValue.md(
                kb.markdown_table(["document type", "API", "verified", "no EDMX", "broken"], rows)
            ),
        },
    )


@dg.asset_check(
    asset=field_mappings,
    blocking=True,
    description="0 broken references: every mapped entity/property exists in the parsed schemas "
    "(for APIs whose EDMX is present) and every named transformation exists.",
)
def field_mappings_references_valid(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.MAPPINGS_ASSET)
    return dg.AssetCheckResult(
        passed=manifest["references"]["broken"] == 0,
        metadata={
            **{k: v for k, v in manifest["references"].items()},
            "broken_refs": dg.MetadataValue.json(manifest["broken"]),
        },
    )


@dg.asset(
    group_name=GROUP,
    code_version=kb.KB_CODE_VERSION,
    kinds={"python", "yaml"},
    description="Declarative business rules (tolerances, dates, mandatory fields, formats, 3-way match, "
    "duplicates) evaluated by a small safe evaluator (data/business_rules.yaml).",
)
def business_rules(storage: StorageResource) -> dg.MaterializeResult:
    manifest = kb.build_business_rules(storage.store())
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": manifest["rules"],
            "auto_correctable": manifest["auto_correctable"],
            "by_category": dg.MetadataValue.md(
                kb.markdown_table(["category", "rules"], sorted(manifest["by_category"].items()))
            ),
            "by_severity": dg.MetadataValue.json(manifest["by_severity"]),
        },
    )


@dg.asset_check(asset=business_rules, blocking=True, description="Every rule parses with the safe evaluator.")
def business_rules_parse(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.RULES_ASSET)
    return dg.AssetCheckResult(
        passed=not manifest["parse_errors"],
        metadata={"parse_errors": dg.MetadataValue.json(manifest["parse_errors"])},
    )


@dg.asset(
    group_name=GROUP,
    code_version=kb.KB_CODE_VERSION,
    deps=[edmx_schemas, field_mappings, business_rules],
    kinds={"mongodb"},
    description="Schemas, entity types, properties, mappings and rules in MongoDB (idempotent upserts "
    "keyed by API + version). MONGO_URI in production; a local nx-27017 server by default.",
)
def knowledge_base(
    context: dg.AssetExecutionContext, storage: StorageResource, mongo: MongoResource
) -> dg.MaterializeResult:
    context.log.info(f"knowledge_base: loading into {mongo.describe()}")
    try:
        with mongo.kb_store() as kb_store:
            manifest = kb.load_knowledge_base(storage.store(), kb_store)
    except KnowledgeBaseLoadError as exc:
        raise dg.Failure(description=str(exc)) from exc
    rows = [
        (
            c,
            manifest["expected"][c],
            manifest["counts"][c],
            manifest["upserted"].get(c, 0),
            manifest["modified"].get(c, 0),
        )
        for c in manifest["expected"]
    ]
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": sum(manifest["counts"].values()),
            "database": manifest["database"],
            "collections": dg.MetadataValue.md(
                kb.markdown_table(["collection", "expected", "stored", "inserted", "updated"], rows)
            ),
        },
    )


@dg.asset_check(
    asset=knowledge_base,
    blocking=True,
    description="Every collection holds exactly the documents built (no duplicates, none missing).",
)
def knowledge_base_counts_match(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.KB_ASSET)
    diff = {
        c: (n, manifest["counts"].get(c))
        for c, n in manifest["expected"].items()
        if manifest["counts"].get(c) != n
    }
    return dg.AssetCheckResult(passed=not diff, metadata={"mismatches": dg.MetadataValue.json(diff)})


@dg.asset(
    group_name=GROUP,
    code_version=kb.KB_CODE_VERSION,
    deps=[edmx_schemas, field_mappings, business_rules],
    kinds={"faiss", "python"},
    description="all-MiniLM-L6-v2 embeddings of APIs, entities, properties (with five-language labels) "
    "and rules in a FAISS HNSW index (Weaviate in production), with retrieval P@5/MRR on 240 queries.",
)
def kb_vector_index(
    context: dg.AssetExecutionContext,
    config: VectorIndexConfig,
    storage: StorageResource,
    vector_index: VectorIndexResource,
) -> dg.MaterializeResult:
    settings = _KB.model_copy(update=config.model_dump(exclude={"evaluate"}))
    manifest = kb.build_vector_index(
        storage.store(), settings, evaluate_retrieval=config.evaluate, publish=vector_index.publish
    )
    metadata = {
        "dagster/row_count": manifest["items"],
        "vectors": manifest["vectors"],
        "items_by_kind": dg.MetadataValue.json(manifest["by_kind"]),
        "published_to": manifest["published_to"],
        "embedding_cache_misses": manifest["embedding_cache"]["misses"],
    }
    retrieval = manifest.get("retrieval")
    if retrieval:
        metadata.update(
            {
                "precision_at_5": retrieval["p_at_5"],
                "mrr": retrieval["mrr"],
                "strict_precision_at_5": retrieval["strict_precision_at_5"],
                "eval_queries": retrieval["queries"],
                "latency_ms_p50": retrieval["latency_ms_p50"],
                "latency_ms_p95": retrieval["latency_ms_p95"],
                "retrieval_by_language": dg.MetadataValue.md(
                    kb.markdown_table(
                        ["language", "P@5", "MRR", "queries"],
                        [
                            (lang, v["p_at_5"], v["mrr"], v["queries"])
                            for lang, v in sorted(retrieval["by_language"].items())
                        ],
                    )
                ),
                "retrieval_plot": dg.MetadataValue.md(kb.retrieval_plot_markdown(retrieval)),
            }
        )
        context.log.info(
            f"kb_vector_index: P@5={retrieval['p_at_5']} MRR={retrieval['mrr']} "
            f"p95={retrieval['latency_ms_p95']} ms"
        )
    return dg.MaterializeResult(data_version=dg.DataVersion(manifest["data_version"]), metadata=metadata)


@dg.asset_check(
    asset=kb_vector_index,
    blocking=True,
    description="Retrieval precision@5 (hit@5) on the 240-query, five-language set >= target (0.90).",
)
def kb_vector_index_precision(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.INDEX_ASSET)
    retrieval = manifest.get("retrieval")
    if not retrieval:
        return dg.AssetCheckResult(passed=False, description="retrieval was not evaluated (evaluate=false)")
    return dg.AssetCheckResult(
        passed=retrieval["p_at_5"] >= _KB.min_precision_at_5,
        metadata={
            "precision_at_5": retrieval["p_at_5"],
            "mrr": retrieval["mrr"],
            "target": _KB.min_precision_at_5,
        },
    )


@dg.asset_check(
    asset=kb_vector_index,
    blocking=False,
    description="Query latency p95 (embed + search) below the target (100 ms).",
)
def kb_vector_index_latency(storage: StorageResource) -> dg.AssetCheckResult:
    manifest = storage.store().read_manifest(kb.INDEX_ASSET)
    retrieval = manifest.get("retrieval") or {}
    p95 = retrieval.get("latency_ms_p95")
    return dg.AssetCheckResult(
        passed=p95 is not None and p95 < _KB.max_latency_p95_ms,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"latency_ms_p95": p95 or -1.0, "target_ms": _KB.max_latency_p95_ms},
    )


defs = dg.Definitions(
    assets=[edmx_schemas, field_mappings, business_rules, knowledge_base, kb_vector_index],
    asset_checks=[
        edmx_schemas_complete,
        edmx_schemas_no_quarantine,
        field_mappings_references_valid,
        business_rules_parse,
        knowledge_base_counts_match,
        kb_vector_index_precision,
        kb_vector_index_latency,
    ],
)
