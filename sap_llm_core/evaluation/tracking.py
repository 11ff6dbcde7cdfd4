"""Evaluation results into MLflow: one run per evaluation (metrics, report, plots, predictions) in the
``<prefix>/evaluation`` experiment, and the headline metrics as ``eval.*`` tags on the model version
that was evaluated, so the registry shows what each version scored outside its training run."""

from __future__ import annotations

import json
import math
import re
import tempfile
from pathlib import Path

from sap_llm_core.evaluation.report import METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE, EvaluationReport

_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def log_evaluation(
    report: EvaluationReport,
    tracking_uri: str,
    experiment: str,
    tags: dict[str, str],
    artifact_location: str | None = None,
    model_version: tuple[str, str] | None = None,
) -> str:
    """Log ``report`` as a new MLflow run; tag ``model_version`` (name, version) when given."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking_uri)
    found = client.get_experiment_by_name(experiment)
    experiment_id = (
        found.experiment_id
        if found
        else client.create_experiment(experiment, artifact_location=artifact_location)
    )
    run = client.create_run(experiment_id, run_name=report.name, tags={**tags, "evaluation": report.name})
    run_id = run.info.run_id
    try:
        for name, value in sorted(report.metrics.items()):
            if isinstance(value, int | float) and math.isfinite(value):
                client.log_metric(run_id, _UNSAFE.sub("_", name), float(value))
        client.log_param(run_id, "targets_passed", str(report.passed))
        for key, value in sorted(report.context.items()):
            client.log_param(run_id, _UNSAFE.sub("_", f"context.{key}"), str(value)[:500])
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            (folder / REPORT_FILE).write_text(report.markdown())
            (folder / METRICS_FILE).write_text(json.dumps(report.metrics, indent=2, sort_keys=True))
            for stem, png in report.plots.items():
                (folder / f"{stem}.png").write_bytes(png)
            lines = [json.dumps(p, sort_keys=True, default=str) for p in report.predictions]
            (folder / PREDICTIONS_FILE).write_text("\n".join(lines) + "\n")
            client.log_artifacts(run_id, str(folder))
        client.set_terminated(run_id, "FINISHED")
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    if model_version is not None:
        name, version = model_version
        for metric in [t.metric for t in report.targets]:
            value = report.metrics.get(metric)
            if value is not None and math.isfinite(value):
                client.set_model_version_tag(name, version, f"eval.{metric}", f"{value:.4f}")
        client.set_model_version_tag(name, version, "eval.passed", str(report.passed))
        client.set_model_version_tag(name, version, "eval.mlflow_run_id", run_id)
    return run_id
