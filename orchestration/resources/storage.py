import dagster as dg

from sap_llm_core.settings import get_settings
from sap_llm_core.storage import ArtifactStore


class StorageResource(dg.ConfigurableResource):
    """Artifact storage: the project's ``data/`` folder by default, any fsspec URL when configured
    (``SAP_LLM_STORAGE__ROOT=s3://bucket/prefix``; credentials come from the usual fsspec/boto env)."""

    root: str = get_settings().storage.resolved_root()

    def store(self) -> ArtifactStore:
        return ArtifactStore(self.root)
