"""Training entry points shared by every model: ``python -m sap_llm_core.training <model> --config``.

The same command runs as a local subprocess and in a Kubernetes GPU pod; it reports back through
Dagster Pipes when launched by Dagster and to MLflow when ``MLFLOW_TRACKING_URI`` is set.
"""

from sap_llm_core.training.registry import TRAINERS, get_trainer
from sap_llm_core.training.reporter import TrainingReporter

__all__ = ["TRAINERS", "TrainingReporter", "get_trainer"]
