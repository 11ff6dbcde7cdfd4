"""Group ``evaluation``: each model's held-out evaluation and the 8-stage pipeline end to end.

Thin adapters over ``sap_llm_core.evaluation``: load the checkpoint the model asset last produced,
score the test split, write ``metrics.json`` / ``report.md`` / PNGs / ``predictions.jsonl`` to the
asset's folder, log them to MLflow (experiment ``<prefix>/evaluation``) and tag the evaluated model
version with its ``eval.*`` figures. The end-to-end run also writes each document's trail to the PMG.
"""

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg

from assets.models import REGISTERED_PREFIX, _checkpoint_dir, _latest_result
from orchestration.resources import MLflowResource, MongoResource, StorageResource
from sap_llm_core.evaluation.plots import markdown_image
from sap_llm_core.evaluation.report import METRICS_FILE, REPORT_FILE, EvaluationReport, table
from sap_llm_core.evaluation.tracking import log_evaluation
from sap_llm_core.settings import get_settings
from sap_llm_core.training.data import SPLITS_ASSET, load_split, seeded_sample

_SETTINGS = get_settings()
_EVAL = _SETTINGS.evaluation
CODE_VERSION = "1"


class ModelEvaluationConfig(dg.Config):
    """How many test documents to score (0: the whole test split); default from params.yaml."""

    max_documents: int = _EVAL.max_documents


class LanguageDecoderEvaluationConfig(ModelEvaluationConfig):
    """A seeded sample, extracted constrained and free (slow); default from params.yaml."""

    max_documents: int = _EVAL.language_decoder_documents


class EndToEndConfig(dg.Config):
    """Pipeline sample size, touchless threshold and the compute price; defaults from params.yaml."""

    max_documents: int = _EVAL.end_to_end_documents
    touchless_confidence: float = _EVAL.touchless_confidence
    compute: str = _EVAL.compute
    hourly_rate_usd: float = _EVAL.rate
    # Extraction stage: the language decoder (ADC JSON, constrained) or the vision encoder's fields.
    extractor: str = _EVAL.extractor


def _evaluated(context: dg.AssetExecutionContext, model: str, mlflow: MLflowResource) -> tuple[Path, dict]:
    """The checkpoint of the model asset's latest materialisation and what identifies it."""
    result = _latest_result(context, model)
    event = context.instance.get_latest_materialization_event(dg.AssetKey(model))
    metadata = event.asset_materialization.metadata if event and event.asset_materialization else {}
    version = metadata.get("registered_version")
    return _checkpoint_dir(result, mlflow), {
        f"{model}.registered_version": str(version.value) if version is not None else "",
        f"{model}.mlflow_training_run": result.get("mlflow_run_id", ""),
    }


def _test_records(store: Any, limit: int) -> list:
    """The test split, or a seeded sample of ``limit`` documents from all of it."""
    return seeded_sample(load_split(store, "test"), limit)


def _publish(
    context: dg.AssetExecutionContext,
    report: EvaluationReport,
    storage: StorageResource,
    mlflow: MLflowResource,
    model: str | None = None,
) -> dict[str, Any]:
    store = storage.store()
    asset = context.asset_key.to_user_string()
    files = report.write(store, asset)
    mlflow.ensure_experiment("evaluation")
    version = report.context.get(f"{model}.registered_version") if model else ""
    run_id = log_evaluation(
        report,
        mlflow.resolved_tracking_uri(),
        mlflow.experiment_name("evaluation"),
        tags={"dagster.run_id": context.run_id, "dagster.asset_key": asset},
        model_version=(f"{REGISTERED_PREFIX}.{model}", version) if model and version else None,
    )
    verdict = "all targets met" if report.passed else f"missed {report.failed_targets()}"
    context.log.info(f"{asset}: {verdict}")
    headline = {
        t.metric: float(t.value) for t in report.targets if t.value is not None and math.isfinite(t.value)
    }
    return {
        **headline,
        "targets": dg.MetadataValue.md(
            table(["metric", "value", "target", "result"], [t.row() for t in report.targets])
        ),
        "report": dg.MetadataValue.md(report.markdown(plots="none")),
        **{f"plot_{s}": dg.MetadataValue.md(markdown_image(png, s)) for s, png in report.plots.items()},
        "report_path": dg.MetadataValue.path(files["report"]),
        "metrics_path": dg.MetadataValue.path(files["metrics"]),
        "mlflow_run_id": run_id,
        "dagster/row_count": int(report.metrics.get("test_documents", 0)),
    }


def _evaluate_model(
    context: dg.AssetExecutionContext,
    config: ModelEvaluationConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    model: str,
    evaluate: Callable[..., EvaluationReport],
) -> dg.MaterializeResult:
    """The model asset's latest checkpoint scored on the test split against the model's targets."""
    checkpoint, identity = _evaluated(context, model, mlflow)
    report = evaluate(
        checkpoint,
        _test_records(storage.store(), config.max_documents),
        _SETTINGS.registry.targets_for(model),
        _EVAL.failure_examples,
        context=identity,
    )
    return dg.MaterializeResult(metadata=_publish(context, report, storage, mlflow, model))


@dg.asset(
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=[dg.AssetKey("vision_encoder"), dg.AssetKey(SPLITS_ASSET)],
    kinds={"pytorch", "mlflow"},
    description="vision_encoder on the held-out test split: type/subtype accuracy, field F1 per label, "
    "type, language and source, calibration, latency, failure modes.",
)
def vision_encoder_evaluation(
    context: dg.AssetExecutionContext,
    config: ModelEvaluationConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    from sap_llm_core.evaluation.vision import evaluate_vision

    return _evaluate_model(context, config, storage, mlflow, "vision_encoder", evaluate_vision)


@dg.asset(
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=[dg.AssetKey("reasoning_engine"), dg.AssetKey(SPLITS_ASSET), dg.AssetKey("kb_vector_index")],
    kinds={"pytorch", "mlflow"},
    description="reasoning_engine serving held-out documents one at a time (retrieval + similar cases + "
    "scoring): routing accuracy, API validity, ECE, reward, latency per stage, wrong routings.",
)
def reasoning_engine_evaluation(
    context: dg.AssetExecutionContext,
    config: ModelEvaluationConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    from sap_llm_core.evaluation.routing import RoutingService, evaluate_routing

    def evaluate(checkpoint: Path, *args: Any, **kwargs: Any) -> EvaluationReport:
        return evaluate_routing(RoutingService(checkpoint, storage.store()), *args, **kwargs)

    return _evaluate_model(context, config, storage, mlflow, "reasoning_engine", evaluate)


@dg.asset(
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=[dg.AssetKey("language_decoder"), dg.AssetKey("base_language_model"), dg.AssetKey(SPLITS_ASSET)],
    kinds={"pytorch", "mlflow"},
    description="language_decoder on held-out documents, constrained and free decoding side by side: "
    "schema compliance, field F1, hallucinated values, latency; per type, language and field.",
)
def language_decoder_evaluation(
    context: dg.AssetExecutionContext,
    config: LanguageDecoderEvaluationConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
) -> dg.MaterializeResult:
    from sap_llm_core.evaluation.extraction import evaluate_extraction

    def evaluate(adapter: Path, *args: Any, **kwargs: Any) -> EvaluationReport:
        return evaluate_extraction(_language_extractor(context, mlflow, adapter), *args, **kwargs)

    return _evaluate_model(context, config, storage, mlflow, "language_decoder", evaluate)


def _language_extractor(context: dg.AssetExecutionContext, mlflow: MLflowResource, adapter: Path) -> Any:
    """The decoder's adapter on the base it was trained on (the base asset's latest checkpoint)."""
    from sap_llm_core.models.language_decoder.extract import load_extractor

    base = _checkpoint_dir(_latest_result(context, "base_language_model"), mlflow)
    return load_extractor(base, adapter)


@dg.asset(
    group_name="evaluation",
    code_version=CODE_VERSION,
    deps=[
        dg.AssetKey("vision_encoder"),
        dg.AssetKey("language_decoder"),
        dg.AssetKey("reasoning_engine"),
        dg.AssetKey("business_rules"),
        dg.AssetKey("kb_vector_index"),
        dg.AssetKey(SPLITS_ASSET),
    ],
    kinds={"pytorch", "mongodb", "mlflow"},
    description="The 8-stage pipeline (inbox -> routing) over held-out documents: accuracy, extraction "
    "F1, schema compliance, rules, routing, touchless rate, latency per stage, cost per document; "
    "each document's trail is written to the PMG.",
)
def end_to_end_evaluation(
    context: dg.AssetExecutionContext,
    config: EndToEndConfig,
    storage: StorageResource,
    mlflow: MLflowResource,
    mongo: MongoResource,
) -> dg.MaterializeResult:
    from sap_llm_core.evaluation.end_to_end import (
        PipelineModels,
        evaluate_end_to_end,
        language_extractor,
        vision_extractor,
    )
    from sap_llm_core.evaluation.pmg_trail import record_trails
    from sap_llm_core.evaluation.routing import RoutingService
    from sap_llm_core.evaluation.vision import VisionClassifier
    from sap_llm_core.knowledge_base.business_rules import load_rules
    from sap_llm_core.knowledge_base.pipeline import RULES_ASSET, load_business_rules
    from sap_llm_core.models.base_lm.formatting import ExtractionSchema
    from sap_llm_core.pmg.graph_store import ProcessMemoryGraph

    store = storage.store()
    vision_checkpoint, vision_identity = _evaluated(context, "vision_encoder", mlflow)
    router_checkpoint, router_identity = _evaluated(context, "reasoning_engine", mlflow)
    versions = {
        **vision_identity,
        **router_identity,
        "reasoning_engine": f"reasoning_engine v{router_identity['reasoning_engine.registered_version']}",
    }
    if config.extractor == "language_decoder":
        adapter, decoder_identity = _evaluated(context, "language_decoder", mlflow)
        decoder = _language_extractor(context, mlflow, adapter)
        schema, extract = decoder.schema, language_extractor(decoder)
        versions.update(decoder_identity)
        version = decoder_identity["language_decoder.registered_version"]
    else:
        schema = ExtractionSchema.from_records(load_split(store, "train"))
        extract = vision_extractor(schema)
        version = vision_identity["vision_encoder.registered_version"]
    versions["extraction_model"] = f"{config.extractor} v{version}"
    models = PipelineModels(
        classifier=VisionClassifier(vision_checkpoint),
        router=RoutingService(router_checkpoint, store),
        rules=load_business_rules(store) if store.exists(RULES_ASSET, "rules.json") else load_rules(),
        schema=schema,
        extract=extract,
        extractor_name=config.extractor,
        versions=versions,
    )
    records = _test_records(store, config.max_documents)

    def progress(done: int, total: int) -> None:
        if done % 25 == 0 or done == total:
            context.log.info(f"end_to_end_evaluation: {done}/{total} documents")

    report = evaluate_end_to_end(
        models,
        records,
        _EVAL.end_to_end_targets(),
        config.touchless_confidence,
        config.hourly_rate_usd,
        config.compute,
        _EVAL.failure_examples,
        progress,
    )
    with mongo.pmg_database() as db:
        counts = record_trails(ProcessMemoryGraph(db), report.predictions, versions, context.run_id)
    metadata = _publish(context, report, storage, mlflow)
    metadata["pmg_trails"] = dg.MetadataValue.json(counts)
    for name in ("latency_p50_ms", "latency_p95_ms", "documents_per_hour", "cost_per_document_usd"):
        metadata[name] = float(report.metrics[name])
    return dg.MaterializeResult(metadata=metadata)


# checks ------------------------------------------------------------------------------------------
def report_checks(asset: dg.AssetsDefinition) -> list:
    """Every evaluation writes a complete, finite report (blocking: promotion reads it) and is held
    to its targets (a warning: a missed target is a finding, the report is still right)."""
    name = asset.key.to_user_string()

    @dg.asset_check(
        asset=asset,
        name=f"{name}_report_written",
        blocking=True,
        description="metrics.json, report.md and the plots exist; every target metric is finite.",
    )
    def report_written(storage: StorageResource) -> dg.AssetCheckResult:
        store = storage.store()
        problems = [f for f in (METRICS_FILE, REPORT_FILE) if not store.exists(name, f)]
        payload = store.read_json(name, METRICS_FILE) if not problems else {"targets": {}}
        problems += [
            f"{metric} not finite"
            for metric, outcome in payload["targets"].items()
            if outcome["value"] is None or not math.isfinite(outcome["value"])
        ]
        plots = store.list(name, suffix=".png")
        if not plots:
            problems.append("no plots")
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={"problems": dg.MetadataValue.json(problems), "plots": dg.MetadataValue.json(plots)},
        )

    @dg.asset_check(
        asset=asset,
        name=f"{name}_meets_targets",
        blocking=False,
        description="The held-out figures against the seeds' targets.",
    )
    def meets_targets(storage: StorageResource) -> dg.AssetCheckResult:
        payload = storage.store().read_json(name, METRICS_FILE)
        missed = {m: o["value"] for m, o in payload["targets"].items() if not o["passed"]}
        return dg.AssetCheckResult(
            passed=not missed,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"missed": dg.MetadataValue.json(missed), "targets": len(payload["targets"])},
        )

    return [report_written, meets_targets]


@dg.asset_check(
    asset=end_to_end_evaluation,
    blocking=True,
    description="Every processed document's trail is in the PMG (Document, Extraction, RoutingDecision).",
)
def end_to_end_trails_in_pmg(storage: StorageResource, mongo: MongoResource) -> dg.AssetCheckResult:
    from sap_llm_core.pmg.graph_store import ProcessMemoryGraph

    store = storage.store()
    trails = [
        json.loads(line)
        for line in store.read_bytes("end_to_end_evaluation", "predictions.jsonl").decode().splitlines()
        if line
    ]
    with mongo.pmg_database() as db:
        graph = ProcessMemoryGraph(db)
        missing = [t["id"] for t in trails if not t["exception"] and not _has_extraction(graph, t["id"])]
    return dg.AssetCheckResult(
        passed=bool(trails) and not missing,
        metadata={"documents": len(trails), "missing": dg.MetadataValue.json(missing[:20])},
    )


def _has_extraction(graph, document_id: str) -> bool:
    try:
        return bool(graph.document_history(document_id, max_depth=1).get("extractions"))
    except KeyError:
        return False


_ASSETS = [
    vision_encoder_evaluation,
    language_decoder_evaluation,
    reasoning_engine_evaluation,
    end_to_end_evaluation,
]
defs = dg.Definitions(
    assets=_ASSETS,
    asset_checks=[check for asset in _ASSETS for check in report_checks(asset)] + [end_to_end_trails_in_pmg],
)
