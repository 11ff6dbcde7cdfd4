"""A thin MLflow resource: tracking location, experiments and model registration.

Deliberately not dagster-mlflow (its op-era resource ends runs early, dagster issue 21872): the
training process owns its MLflow run (see ``sap_llm_core.training.reporter``); this resource only
tells it where to log (environment variables) and registers the resulting model version with tags
that link back to the Dagster run, asset key and data/code versions. Aliases, never stages.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import Field

from sap_llm_core.settings import PROJECT_ROOT
from sap_llm_core.training.reporter import ARTIFACT_ROOT_ENV, EXPERIMENT_ENV

DEFAULT_DIR = PROJECT_ROOT / ".mlflow"


class MLflowResource(dg.ConfigurableResource):
    """``MLFLOW_TRACKING_URI`` if set, else a SQLite file + artifact folder under ``.mlflow/``."""

    tracking_uri: str | None = Field(
        default=None,
        description="MLflow tracking URI; empty: $MLFLOW_TRACKING_URI or the local SQLite store.",
    )
    artifact_root: str | None = Field(
        default=None, description="Where new experiments keep artifacts; empty: <project>/.mlflow/artifacts."
    )
    experiment_prefix: str = "sap_llm"

    # locations ---------------------------------------------------------------------------------
    def resolved_tracking_uri(self) -> str:
        uri = self.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
        if uri:
            return uri
        DEFAULT_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{DEFAULT_DIR / 'mlflow.db'}"

    def resolved_artifact_root(self) -> str:
        if self.artifact_root:
            return self.artifact_root
        uri = self.resolved_tracking_uri()
        if uri.startswith("sqlite:///"):
            # Artifacts beside the database, never in ./mlruns of whatever folder a process runs in.
            root = Path(uri.removeprefix("sqlite:///")).parent / "artifacts"
            root.mkdir(parents=True, exist_ok=True)
            return str(root)
        return ""  # a tracking server picks its own default artifact root

    def client(self) -> Any:
        import mlflow

        return mlflow.MlflowClient(tracking_uri=self.resolved_tracking_uri())

    def experiment_name(self, model: str) -> str:
        return f"{self.experiment_prefix}/{model}"

    def ensure_experiment(self, model: str) -> str:
        """Create the model's experiment with an explicit artifact location if it does not exist."""
        client = self.client()
        name = self.experiment_name(model)
        experiment = client.get_experiment_by_name(name)
        if experiment is not None:
            return experiment.experiment_id
        root = self.resolved_artifact_root()
        location = f"{root.rstrip('/')}/{name.replace('/', '_')}" if root else None
        return client.create_experiment(name, artifact_location=location)

    def training_env(self, model: str) -> dict[str, str]:
        """Environment for the training process so that it logs to this store and experiment."""
        self.ensure_experiment(model)
        env = {
            "MLFLOW_TRACKING_URI": self.resolved_tracking_uri(),
            EXPERIMENT_ENV: self.experiment_name(model),
        }
        if self.resolved_artifact_root():
            env[ARTIFACT_ROOT_ENV] = self.resolved_artifact_root()
        return env

    # registry ----------------------------------------------------------------------------------
    def register_model_version(
        self,
        name: str,
        run_id: str,
        artifact_path: str = "checkpoint",
        tags: dict[str, str] | None = None,
        aliases: tuple[str, ...] = ("challenger",),
        description: str = "",
    ) -> Any:
        """Register ``runs:/<run_id>/<artifact_path>`` as a new version of ``name`` and alias it.

        The source is the run's artifact folder (an HF ``save_pretrained`` adapter folder, not an
        MLflow-flavoured model), so versions are created with the client API. ``champion`` is moved
        by the promotion asset only, past its blocking checks.
        """
        from mlflow.exceptions import MlflowException

        client = self.client()
        try:
            client.create_registered_model(name, description=description or None)
        except MlflowException as exc:
            if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
                raise
        run = client.get_run(run_id)
        source = f"{run.info.artifact_uri.rstrip('/')}/{artifact_path}"
        clean_tags = {k: str(v) for k, v in (tags or {}).items() if v is not None}
        version = client.create_model_version(
            name, source=source, run_id=run_id, tags=clean_tags, description=description or None
        )
        for alias in aliases:
            client.set_registered_model_alias(name, alias, version.version)
        return client.get_model_version(name, version.version)
