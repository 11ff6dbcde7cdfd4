"""Resources, and the one switch (``deployment`` in params.yaml / ``SAP_LLM_DEPLOYMENT``) that picks
local or production implementations of them."""

from orchestration.resources.deployment import resources_for
from orchestration.resources.mlflow import MLflowResource
from orchestration.resources.mongo import MongoResource
from orchestration.resources.spark import SparkResource
from orchestration.resources.storage import StorageResource
from orchestration.resources.vector_index import VectorIndexResource

__all__ = [
    "MLflowResource",
    "MongoResource",
    "SparkResource",
    "StorageResource",
    "VectorIndexResource",
    "resources_for",
]
