"""How a training run talks to the outside world, whoever started it.

* Launched by Dagster (a ``PipesSubprocessClient`` locally or a ``PipesK8sClient`` pod): step metrics go
  to the Dagster log and the final metrics + checkpoint location come back as the asset
  materialisation, over the Pipes protocol (``dagster_pipes`` only: ``sap_llm_core`` never imports
  ``dagster``).
* Run from a shell: the same calls just log.
* ``MLFLOW_TRACKING_URI`` set: params, per-step metrics, upstream data versions and the checkpoint are
  logged to an MLflow run whose id is returned to the caller, who registers the model version (the
  registry belongs to the orchestrator, which knows the Dagster run and asset version).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any

LOG = logging.getLogger("sap_llm_core.training")

EXPERIMENT_ENV = "MLFLOW_EXPERIMENT_NAME"
ARTIFACT_ROOT_ENV = "SAP_LLM_MLFLOW_ARTIFACT_ROOT"
RESULT_FILE = "training_result.json"


def _flat_params(params: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(_flat_params(value, f"{name}."))
        else:
            flat[name] = str(value)[:500]  # MLflow caps a param value at 6000 chars; keep it readable
    return flat


def _pipes_metadata(result: Mapping[str, Any]) -> dict[str, Any]:
    """Scalar metrics as numbers (plottable in the UI), everything else as JSON/text entries."""
    metadata: dict[str, Any] = {}
    for name, value in (result.get("metrics") or {}).items():
        if isinstance(value, int | float) and math.isfinite(value):
            metadata[name] = {"raw_value": float(value), "type": "float"}
    for key in ("checkpoint_dir", "mlflow_run_id", "base_model"):
        if result.get(key):
            metadata[key] = {"raw_value": str(result[key]), "type": "text"}
    metadata["training_result"] = {"raw_value": json.loads(json.dumps(result, default=str)), "type": "json"}
    return metadata


class TrainingReporter:
    """Reports params, step metrics and the final result to Pipes, MLflow and the log."""

    def __init__(self, model: str, pipes: Any | None = None, mlflow_run_id: str | None = None):
        self.model = model
        self.pipes = pipes
        self.mlflow_run_id = mlflow_run_id

    # construction ------------------------------------------------------------------------------
    @classmethod
    @contextmanager
    def open(cls, model: str, config: Mapping[str, Any] | None = None) -> Iterator[TrainingReporter]:
        """Open Pipes (if launched by Dagster) and an MLflow run (if tracking is configured)."""
        from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, open_dagster_pipes

        with ExitStack() as stack:
            pipes = None
            if os.environ.get(DAGSTER_PIPES_CONTEXT_ENV_VAR):
                pipes = stack.enter_context(open_dagster_pipes())
            run_id = None
            if os.environ.get("MLFLOW_TRACKING_URI"):
                run_id = stack.enter_context(cls._mlflow_run(model, pipes))
            reporter = cls(model, pipes=pipes, mlflow_run_id=run_id)
            if config:
                reporter.log_params(config.get("hyperparameters", config))
            yield reporter

    @staticmethod
    @contextmanager
    def _mlflow_run(model: str, pipes: Any | None) -> Iterator[str]:
        import mlflow

        mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
        name = os.environ.get(EXPERIMENT_ENV) or f"sap_llm/{model}"
        client = mlflow.MlflowClient()
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            root = os.environ.get(ARTIFACT_ROOT_ENV)
            location = f"{root.rstrip('/')}/{name.replace('/', '_')}" if root else None
            experiment_id = client.create_experiment(name, artifact_location=location)
        else:
            experiment_id = experiment.experiment_id
        tags = {"sap_llm.model": model}
        if pipes is not None:
            tags["dagster.run_id"] = pipes.run_id or ""
            with suppress(Exception):  # a multi-asset or op session has no single key
                tags["dagster.asset_key"] = pipes.asset_key
            if pipes.extras:
                tags.update({f"dagster.{k}": str(v) for k, v in pipes.extras.items() if k != "config"})
        with mlflow.start_run(experiment_id=experiment_id, run_name=model, tags=tags) as run:
            yield run.info.run_id

    # reporting ---------------------------------------------------------------------------------
    def _log(self, message: str) -> None:
        LOG.info(message)
        if self.pipes is not None:
            self.pipes.log.info(message)

    def log_params(self, params: Mapping[str, Any]) -> None:
        flat = _flat_params(params)
        self._log(f"{self.model} params: {json.dumps(flat, sort_keys=True)}")
        if self.mlflow_run_id:
            import mlflow

            mlflow.log_params(flat)

    def log_metric(self, name: str, value: float, step: int) -> None:
        self.log_metrics({name: value}, step)

    def log_metrics(self, metrics: Mapping[str, float], step: int) -> None:
        text = " ".join(f"{k}={v:.4g}" for k, v in metrics.items())
        self._log(f"{self.model} step {step}: {text}")
        if self.mlflow_run_id:
            import mlflow

            mlflow.log_metrics({k: float(v) for k, v in metrics.items()}, step=step)

    def log_dataset_versions(self, versions: Mapping[str, str]) -> None:
        """The upstream data versions the run trained on, as MLflow tags and params."""
        self._log(f"{self.model} data versions: {dict(versions)}")
        if self.mlflow_run_id:
            import mlflow

            mlflow.set_tags({f"data_version.{k}": v for k, v in versions.items()})

    def log_artifacts(self, local_dir: str | Path, artifact_path: str) -> None:
        if self.mlflow_run_id:
            import mlflow

            mlflow.log_artifacts(str(local_dir), artifact_path=artifact_path)

    def report_result(self, result: dict[str, Any]) -> dict[str, Any]:
        """Final metrics + checkpoint location: to MLflow, to Dagster (materialisation), to the log."""
        if self.mlflow_run_id:
            import mlflow

            final = {
                f"final.{k}": float(v)
                for k, v in (result.get("metrics") or {}).items()
                if isinstance(v, int | float) and math.isfinite(v)
            }
            mlflow.log_metrics(final)
            if result.get("checkpoint_dir") and Path(result["checkpoint_dir"]).is_dir():
                self.log_artifacts(result["checkpoint_dir"], "checkpoint")
            result = {**result, "mlflow_run_id": self.mlflow_run_id}
        if self.pipes is not None:
            self.pipes.report_asset_materialization(
                metadata=_pipes_metadata(result), data_version=result.get("data_version")
            )
            self.pipes.report_custom_message(json.loads(json.dumps(result, default=str)))
        self._log(f"{self.model} result: {json.dumps(result, default=str, sort_keys=True)}")
        return result
