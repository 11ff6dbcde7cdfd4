"""Group ``corpora``: raw document sources mapped into the unified record schema."""

import dagster as dg
from pydantic import ValidationError

from orchestration.resources import StorageResource
from sap_llm_core.settings import get_settings
from sap_llm_core.synthetic import quality
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, GENERATOR_VERSION, generate_corpus
from sap_llm_core.synthetic.preview import counts_table, records_preview, sample_page_markdown

_DEFAULTS = get_settings().synthetic


class SyntheticDocumentsConfig(dg.Config):
    """Generator settings; defaults come from params.yaml (``synthetic:``), like `dvc repro`'s."""

    seed: int = _DEFAULTS.seed
    num_documents: int = _DEFAULTS.num_documents
    shard_size: int = _DEFAULTS.shard_size
    languages: list[str] = list(_DEFAULTS.languages)
    mix: dict[str, float] = dict(_DEFAULTS.mix)
    augment_fraction: float = _DEFAULTS.augment_fraction
    render_images: bool = _DEFAULTS.render_images
    image_dpi: int = _DEFAULTS.image_dpi
    workers: int = 0  # 0: one per CPU core

    def generator_config(self) -> GeneratorConfig:
        """Validate before any work; a bad field fails the run with the field named."""
        try:
            return GeneratorConfig(**self.model_dump(exclude={"workers"}))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise dg.Failure(description=f"Invalid synthetic_documents config: {problems}") from exc


@dg.asset(
    group_name="corpora",
    code_version=GENERATOR_VERSION,
    kinds={"python", "parquet", "pdf"},
    tags={"sap_llm/layer": "source"},
    description="Synthetic SAP business documents (14 types, EN/DE/FR/ES/IT): PDF, page image, "
    "words + boxes in reading order, ground-truth ADC JSON and the word spans of each value.",
)
def synthetic_documents(
    context: dg.AssetExecutionContext, config: SyntheticDocumentsConfig, storage: StorageResource
) -> dg.MaterializeResult:
    generator_config = config.generator_config()
    store = storage.store()

    def progress(done: int, total: int) -> None:
        context.log.info(f"synthetic_documents: {done}/{total} shards ready")

    manifest, stats = generate_corpus(
        generator_config, store, workers=config.workers or None, progress=progress
    )
    context.log.info(f"synthetic_documents: {stats}")
    first_image = None
    preview = "_no records kept_"
    if manifest["shards"] and manifest["kept"]:
        table = store.read_table(
            ASSET,
            manifest["shards"][0]["path"],
        )
        first_image = table.column("image_path")[0].as_py()
        preview = records_preview(table)
    return dg.MaterializeResult(
        data_version=dg.DataVersion(manifest["data_version"]),
        metadata={
            "dagster/row_count": manifest["kept"],
            "quarantined": manifest["quarantined"],
            "path": dg.MetadataValue.path(store.url(ASSET)),
            "shards": len(manifest["shards"]),
            "shards_generated": stats["shards_generated"],
            "shards_reused": stats["shards_reused"],
            "documents_per_second": stats["documents_per_second"] or 0.0,
            "counts_by_type": dg.MetadataValue.md(counts_table(manifest["counts_by_type"], "document type")),
            "counts_by_language": dg.MetadataValue.md(
                counts_table(manifest["counts_by_language"], "language")
            ),
            "records_preview": dg.MetadataValue.md(preview),
            "sample_page": dg.MetadataValue.md(sample_page_markdown(store, first_image)),
            "data_version": manifest["data_version"],
        },
    )


def _result(check_name: str, outcome: quality.CheckOutcome) -> dg.AssetCheckResult:
    metadata = {
        k: (dg.MetadataValue.json(v) if isinstance(v, list | dict) else v)
        for k, v in outcome.metadata.items()
    }
    return dg.AssetCheckResult(
        asset_key=synthetic_documents.key,
        check_name=check_name,
        passed=outcome.passed,
        description=outcome.description,
        metadata=metadata,
    )


_CHECKS = {
    "synthetic_schema_valid": "Rows match the unified record schema.",
    "synthetic_types_and_languages_present": "Every configured type and language is present.",
    "synthetic_amounts_consistent": "Line totals, subtotal, tax and total add up; debits equal credits.",
    "synthetic_ground_truth_in_words": "Every ground-truth value equals the words its span points at.",
    "synthetic_unique_ids": "No document id appears twice.",
    "synthetic_counts_conserved": "Requested documents = kept + quarantined: nothing dropped silently.",
}


@dg.multi_asset_check(
    specs=[
        dg.AssetCheckSpec(name, asset=synthetic_documents, blocking=True, description=description)
        for name, description in _CHECKS.items()
    ],
    can_subset=False,
)
def synthetic_documents_checks(storage: StorageResource):
    """All checks in one step: the corpus is read back from storage once, not once per check."""
    store = storage.store()
    manifest = store.read_manifest(ASSET)
    table = quality.load_table(store, manifest)
    quarantine = quality.load_quarantine(store, manifest)
    yield _result("synthetic_schema_valid", quality.check_schema(table))
    yield _result(
        "synthetic_types_and_languages_present",
        quality.check_coverage(table, GeneratorConfig(**manifest["config"])),
    )
    yield _result("synthetic_amounts_consistent", quality.check_amounts(table))
    yield _result("synthetic_ground_truth_in_words", quality.check_ground_truth_in_words(table))
    yield _result("synthetic_unique_ids", quality.check_unique_ids(table))
    yield _result("synthetic_counts_conserved", quality.check_counts_conserved(table, quarantine, manifest))


defs = dg.Definitions(assets=[synthetic_documents], asset_checks=[synthetic_documents_checks])
