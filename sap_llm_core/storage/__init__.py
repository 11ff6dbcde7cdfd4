"""Where artifacts live: a local folder by default, any fsspec URL (s3://, gs://, ...) when configured."""

from sap_llm_core.storage.artifact_store import ArtifactStore

__all__ = ["ArtifactStore"]
