"""Aliases in the MLflow model registry: ``challenger`` for the newest version, ``champion`` for
the one serving. Each decision is written onto the version as tags, so the registry itself explains
why a version is (or is not) champion; stages are deprecated in MLflow and not used."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from sap_llm_core.registry.policy import Decision, Target, decide

CHAMPION, CHALLENGER = "champion", "challenger"
METRIC_TAG = "metric."


@dataclass
class PromotionResult:
    model: str
    version: str
    champion_before: str | None
    champion_after: str | None
    decision: Decision


def version_metrics(client: MlflowClient, model: str, version: str) -> dict[str, float]:
    """Metrics a version was registered with (``metric.<name>`` tags), else its run's ``test_*``."""
    mv = client.get_model_version(model, version)
    metrics = {k[len(METRIC_TAG) :]: float(v) for k, v in mv.tags.items() if k.startswith(METRIC_TAG)}
    if not metrics and mv.run_id:
        run_metrics = client.get_run(mv.run_id).data.metrics
        metrics = {k.removeprefix("test_"): float(v) for k, v in run_metrics.items() if k.startswith("test_")}
    return metrics


def alias_version(client: MlflowClient, model: str, alias: str) -> str | None:
    try:
        return client.get_model_version_by_alias(model, alias).version
    except MlflowException:
        return None


def evaluate_challenger(
    client: MlflowClient, model: str, targets: list[Target], tolerance: float, version: str | None = None
) -> PromotionResult:
    """Decide on ``version`` (default: the ``challenger`` alias) and move ``champion`` if it passes."""
    version = version or alias_version(client, model, CHALLENGER)
    if version is None:
        raise LookupError(f"{model} has no {CHALLENGER!r} version to evaluate")
    champion = alias_version(client, model, CHAMPION)
    champion_metrics = version_metrics(client, model, champion) if champion and champion != version else None
    decision = decide(version_metrics(client, model, version), champion_metrics, targets, tolerance)
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    client.set_model_version_tag(
        model, version, "promotion.decision", "promoted" if decision.promote else "rejected"
    )
    client.set_model_version_tag(model, version, "promotion.reasons", "; ".join(decision.reasons)[:4500])
    client.set_model_version_tag(model, version, "promotion.compared_with", str(champion or "none"))
    client.set_model_version_tag(model, version, "promotion.decided_at", now)
    if decision.promote:
        client.set_registered_model_alias(model, CHAMPION, version)
    return PromotionResult(model, version, champion, alias_version(client, model, CHAMPION), decision)


def rollback(
    client: MlflowClient, model: str, version: str, reason: str = "manual rollback"
) -> dict[str, Any]:
    """Point ``champion`` at an earlier version (it must exist) and record why on that version."""
    client.get_model_version(model, version)  # raises if the version does not exist
    before = alias_version(client, model, CHAMPION)
    client.set_registered_model_alias(model, CHAMPION, version)
    client.set_model_version_tag(model, version, "promotion.rollback_from", str(before or "none"))
    client.set_model_version_tag(model, version, "promotion.rollback_reason", reason)
    return {"model": model, "champion_before": before, "champion_after": version}
