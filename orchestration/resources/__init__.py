"""Resources, and the one switch (``deployment`` in params.yaml / ``SAP_LLM_DEPLOYMENT``) that picks
local or production implementations of them."""

from orchestration.resources.deployment import resources_for
from orchestration.resources.mlflow import MLflowResource
from orchestration.resources.storage import StorageResource

__all__ = ["MLflowResource", "StorageResource", "resources_for"]
