"""Local vs production resources, selected by one setting.

``local`` (the default) needs nothing installed beyond the project: a data folder in the project.
``production`` reads every location from the environment through ``dg.EnvVar`` so that secrets and
URLs are resolved at run time in the pod, never baked into the code location.
"""

from __future__ import annotations

from typing import Any, Literal

import dagster as dg

from orchestration.launchers.training import TrainingLauncherResource
from orchestration.resources.mlflow import MLflowResource
from orchestration.resources.storage import StorageResource
from sap_llm_core.settings import get_settings

Deployment = Literal["local", "production"]


def resources_for(deployment: Deployment | None = None) -> dict[str, Any]:
    deployment = deployment or get_settings().deployment
    if deployment == "local":
        return {
            "storage": StorageResource(),
            "mlflow": MLflowResource(),
            "training_launcher": TrainingLauncherResource(mode="subprocess"),
        }
    if deployment == "production":
        return {
            "storage": StorageResource(root=dg.EnvVar("SAP_LLM_STORAGE__ROOT")),
            "mlflow": MLflowResource(tracking_uri=dg.EnvVar("MLFLOW_TRACKING_URI")),
            "training_launcher": TrainingLauncherResource(mode="k8s", load_incluster_config=True),
        }
    raise ValueError(f"deployment must be 'local' or 'production', got {deployment!r}")
