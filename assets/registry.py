"""Group ``registry``: challenger -> champion promotion in the MLflow model registry."""

import dagster as dg
from mlflow.exceptions import MlflowException

from orchestration.resources import MLflowResource
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
    deps=[dg.AssetKey(m) for m in MODELS],
    description="Moves each model's `champion` alias to its new version only if every target is met "
    "and it is not worse than the current champion; decisions are tags on the versions.",
)
def model_registry(context: dg.AssetExecutionContext, mlflow: MLflowResource) -> dg.MaterializeResult:
    client = mlflow.client()
    rows, decisions = [], {}
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
        },
    )


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
