"""Group ``registry``: challenger -> champion promotion in the MLflow model registry."""

import datetime as dt

import dagster as dg
from mlflow.exceptions import MlflowException

from orchestration.resources import MLflowResource, StorageResource
from sap_llm_core.registry.mlflow_registry import (
    CHAMPION,
    alias_version,
    evaluate_challenger,
    version_metrics,
)
from sap_llm_core.registry.policy import decide
from sap_llm_core.settings import get_settings

_REGISTRY = get_settings().registry
MODELS = ("vision_encoder", "language_decoder", "reasoning_engine")


@dg.asset(
    group_name="registry",
    code_version="1",
    kinds={"mlflow"},
    deps=[dg.AssetKey(m) for m in MODELS] + [dg.AssetKey(f"{m}_evaluation") for m in MODELS],
    description="Moves each model's `champion` alias to its new version only if every target is met "
    "and it is not worse than the current champion; decisions are tags on the versions.",
)
def model_registry(
    context: dg.AssetExecutionContext, mlflow: MLflowResource, storage: StorageResource
) -> dg.MaterializeResult:
    client = mlflow.client()
    rows, decisions = [], {}
    feedback_seconds: dict[str, float] = {}
    for model in MODELS:
        name = _REGISTRY.registered_name(model)
        try:
            client.get_registered_model(name)
        except MlflowException:
            rows.append(f"| {model} | - | - | - | not registered yet |")
            continue
        result = evaluate_challenger(client, name, _REGISTRY.targets_for(model), _REGISTRY.tolerance)
        decisions[model] = {
            "version": result.version,
            "promoted": result.decision.promote,
            "champion": result.champion_after,
            "reasons": result.decision.reasons,
        }
        context.log.info(f"{name} v{result.version}: {result.decision.summary}")
        waited = _feedback_to_decision_seconds(storage, client.get_model_version(name, result.version).tags)
        if waited is not None:
            feedback_seconds[model] = waited
            decisions[model]["feedback_to_decision_s"] = round(waited, 1)
            client.set_model_version_tag(name, result.version, "feedback.to_decision_s", f"{waited:.1f}")
        rows.append(
            f"| {model} | {result.version} | {result.champion_before or '-'} "
            f"| {result.champion_after or '-'} | {result.decision.summary} |"
        )
    table = "\n".join(
        [
            "| model | challenger | champion before | champion after | decision |",
            "|---|---|---|---|---|",
            *rows,
        ]
    )
    return dg.MaterializeResult(
        metadata={
            "decisions": dg.MetadataValue.md(table),
            "details": dg.MetadataValue.json(decisions),
            "mlflow_tracking_uri": mlflow.resolved_tracking_uri(),
            **{f"feedback_to_decision_s.{m}": round(v, 1) for m, v in feedback_seconds.items()},
        },
    )


def _feedback_to_decision_seconds(storage: StorageResource, tags: dict[str, str]) -> float | None:
    """For a version retrained on feedback: seconds from its oldest correction to this decision (the
    seeds' anchor is 48 hours from feedback to an improved model)."""
    from sap_llm_core.continuous_learning.pipeline import PMG_FEEDBACK

    store = storage.store()
    root = tags.get("feedback.snapshot_root")
    if not root or not store.exists(PMG_FEEDBACK, "manifest.json"):
        return None
    if store.read_manifest(PMG_FEEDBACK)["snapshot_root"] != root:
        return None
    corrections = store.read_json(PMG_FEEDBACK, "corrections.json")
    created = [dt.datetime.fromisoformat(str(c["created_at"])) for c in corrections]
    if not created:
        return None
    oldest = min(c if c.tzinfo else c.replace(tzinfo=dt.UTC) for c in created)
    return (dt.datetime.now(dt.UTC) - oldest).total_seconds()


@dg.asset_check(asset=model_registry, description="Every champion meets its model's targets.")
def champions_meet_targets(mlflow: MLflowResource) -> dg.AssetCheckResult:
    client = mlflow.client()
    failures, checked = [], 0
    for model in MODELS:
        name = _REGISTRY.registered_name(model)
        try:
            champion = alias_version(client, name, CHAMPION)
        except MlflowException:
            champion = None
        if champion is None:
            continue
        checked += 1
        verdict = decide(version_metrics(client, name, champion), None, _REGISTRY.targets_for(model), 0.0)
        if not verdict.promote:
            failures.append(f"{name} v{champion}: {verdict.summary}")
    return dg.AssetCheckResult(
        passed=not failures,
        metadata={"champions_checked": checked, "failures": dg.MetadataValue.json(failures)},
    )


defs = dg.Definitions(assets=[model_registry], asset_checks=[champions_meet_targets])
