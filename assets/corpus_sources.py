"""Group ``corpora``: public datasets, QorSync and Label Studio as versioned record assets.

Thin adapters over ``sap_llm_core.corpus.pipeline``: the same functions back the ``sap-llm corpus``
CLI and therefore ``dvc repro``. Each asset's data version is its manifest's content hash; each has
a check that every document it saw is either a record or a quarantine row (nothing dropped).
"""

import dagster as dg

from assets.corpus_metadata import counts_table, md_table, preview
from orchestration.resources import MongoResource, StorageResource
from sap_llm_core.corpus import pipeline
from sap_llm_core.corpus.config import LabelStudioSettings, PublicDataSettings, QorSyncSettings
from sap_llm_core.corpus.records_io import read_quarantine, read_record_asset
from sap_llm_core.settings import get_settings

_S = get_settings()
CODE_VERSION = "corpus-sources-1"


class PublicDocumentsConfig(dg.Config):
    root: str = _S.public_data.root
    enabled: list[str] = list(_S.public_data.enabled)
    max_documents_per_dataset: int = _S.public_data.max_documents_per_dataset


class QorSyncConfig(dg.Config):
    start_date: str | None = _S.qorsync.start_date
    end_date: str | None = _S.qorsync.end_date
    incremental: bool = _S.qorsync.incremental
    min_confidence: float = _S.qorsync.min_confidence


def _record_metadata(storage: StorageResource, asset: str, manifest: dict) -> dict:
    store = storage.store()
    table = read_record_asset(store, asset)
    quarantine = read_quarantine(store, asset)
    reasons = [
        {"id": q["id"], "stage": q["stage"], "reason": q["reason"]}
        for q in quarantine.slice(0, 10).to_pylist()
    ]
    return {
        "dagster/row_count": manifest["rows"],
        "quarantined": manifest["quarantined"],
        "data_version": manifest["data_version"],
        "path": dg.MetadataValue.path(store.url(asset)),
        "preview": preview(table),
        "quarantine_preview": dg.MetadataValue.md(md_table(reasons)),
    }


@dg.asset(
    group_name="corpora",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "source"},
    kinds={"python", "parquet"},
    description="FUNSD, CORD v2, SROIE 2019 and RVL-CDIP from local folders in their native formats.",
)
def public_documents(
    context: dg.AssetExecutionContext, config: PublicDocumentsConfig, storage: StorageResource
):
    settings = PublicDataSettings(
        root=config.root,
        enabled=tuple(config.enabled),
        max_documents_per_dataset=config.max_documents_per_dataset,
    )
    manifest = pipeline.build_public_documents(storage.store(), settings)
    for note in manifest.get("notes", []):
        context.log.info(note)
    metadata = _record_metadata(storage, "public_documents", manifest)
    metadata["per_dataset"] = dg.MetadataValue.md(counts_table(manifest["datasets"], key="dataset"))
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(manifest["data_version"]))


@dg.asset(
    group_name="corpora",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "source"},
    kinds={"postgres", "parquet"},
    description="Historical documents + validated extractions from QorSync (off without QORSYNC_DB_URI).",
)
def qorsync_documents(context: dg.AssetExecutionContext, config: QorSyncConfig, storage: StorageResource):
    settings = QorSyncSettings(
        start_date=config.start_date,
        end_date=config.end_date,
        incremental=config.incremental,
        min_confidence=config.min_confidence,
    )
    manifest = pipeline.build_qorsync_documents(storage.store(), settings, QorSyncSettings.db_uri())
    if not manifest.get("enabled"):
        context.log.info(manifest["reason"])
    metadata = _record_metadata(storage, "qorsync_documents", manifest)
    metadata.update(
        {
            "enabled": manifest.get("enabled", False),
            "reason": manifest.get("reason", ""),
            "mode": manifest.get("mode", "off"),
            "watermark": str(manifest.get("watermark")),
        }
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(manifest["data_version"]))


@dg.asset(
    group_name="corpora",
    code_version=CODE_VERSION,
    tags={"sap_llm/layer": "source"},
    kinds={"labelstudio", "parquet"},
    deps=[qorsync_documents, public_documents],
    description="Human-corrected ground truth from Label Studio (off without its URL and token).",
)
def label_studio_annotations(
    context: dg.AssetExecutionContext, storage: StorageResource, mongo: MongoResource
):
    settings = _S.label_studio
    manifest = pipeline.build_label_studio_annotations(
        storage.store(), settings, LabelStudioSettings.url(), LabelStudioSettings.token()
    )
    if not manifest.get("enabled"):
        context.log.info(manifest["reason"])
    metadata = _record_metadata(storage, "label_studio_annotations", manifest)
    if manifest.get("enabled") and manifest["rows"]:
        # Reviews are feedback too: corrections of what the pipeline extracted, or approvals.
        from sap_llm_core.continuous_learning.label_studio_feedback import record_review_feedback
        from sap_llm_core.pmg import ProcessMemoryGraph
        from sap_llm_core.schema import table_to_records

        reviewed = table_to_records(read_record_asset(storage.store(), "label_studio_annotations"))
        with mongo.pmg_database() as db:
            feedback = record_review_feedback(ProcessMemoryGraph(db), reviewed)
        context.log.info(f"label_studio_annotations -> PMG feedback: {feedback}")
        metadata["pmg_feedback"] = dg.MetadataValue.json(feedback)
    metadata.update(
        {
            "enabled": manifest.get("enabled", False),
            "reason": manifest.get("reason", ""),
            "pushed": manifest.get("pushed", 0),
        }
    )
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(manifest["data_version"]))


def _accounting_check(asset: str, seen_key: str | None):
    """Documents seen == records + quarantined, and every shard in the manifest is readable."""

    def check(storage: StorageResource) -> dg.AssetCheckResult:
        store = storage.store()
        manifest = store.read_manifest(asset)
        records = read_record_asset(store, asset).num_rows
        quarantined = read_quarantine(store, asset).num_rows
        if seen_key == "datasets":
            seen = sum(d["seen"] for d in manifest["datasets"].values())
        elif seen_key:
            seen = (manifest.get(seen_key) or {}).get("seen", records + quarantined)
        else:
            seen = records + quarantined
        passed = records == manifest["rows"] and quarantined == manifest["quarantined"]
        if seen_key == "datasets":
            passed = passed and seen == records + quarantined
        return dg.AssetCheckResult(
            passed=passed,
            metadata={"seen": seen, "records": records, "quarantined": quarantined},
        )

    return check


@dg.asset_check(asset=public_documents, description="Every document seen is a record or a quarantine row.")
def public_documents_accounting(storage: StorageResource) -> dg.AssetCheckResult:
    return _accounting_check("public_documents", "datasets")(storage)


@dg.asset_check(asset=qorsync_documents, description="Records + quarantine rows match the manifest.")
def qorsync_documents_accounting(storage: StorageResource) -> dg.AssetCheckResult:
    return _accounting_check("qorsync_documents", None)(storage)


@dg.asset_check(asset=label_studio_annotations, description="Records + quarantine rows match the manifest.")
def label_studio_annotations_accounting(storage: StorageResource) -> dg.AssetCheckResult:
    return _accounting_check("label_studio_annotations", None)(storage)


defs = dg.Definitions(
    assets=[public_documents, qorsync_documents, label_studio_annotations],
    asset_checks=[
        public_documents_accounting,
        qorsync_documents_accounting,
        label_studio_annotations_accounting,
    ],
)
