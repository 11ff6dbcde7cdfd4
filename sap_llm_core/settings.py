"""One settings model for the whole project, read from ``params.yaml`` plus the environment.

Dagster ``Config`` classes and DVC stages take their defaults from here, so the UI, the CLI and
``dvc repro`` never disagree about a default. Secrets never live in ``params.yaml``: they come from
the environment only (``MONGO_URI``, ``MLFLOW_TRACKING_URI``, ...).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sap_llm_core.corpus.config import (
    LabelStudioSettings,
    PublicDataSettings,
    QorSyncSettings,
    QualitySettings,
    SparkSettings,
    SplitSettings,
)
from sap_llm_core.synthetic.config import GeneratorConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PARAMS_FILE_ENV = "SAP_LLM_PARAMS_FILE"


def params_file() -> Path:
    """The params file in force: ``$SAP_LLM_PARAMS_FILE`` or the project's ``params.yaml``."""
    return Path(os.environ.get(PARAMS_FILE_ENV, PROJECT_ROOT / "params.yaml"))


class StorageSettings(BaseModel):
    root: str = Field("data", description="Local folder (relative to the project root) or fsspec URL.")

    def resolved_root(self) -> str:
        """Absolute path for local roots, the URL unchanged for remote ones."""
        if "://" in self.root:
            return self.root
        path = Path(self.root)
        return str(path if path.is_absolute() else PROJECT_ROOT / path)


class CrawlerSettings(BaseModel):
    """SAP Business Accelerator Hub crawler; off by default (needs ``SAP_API_KEY`` in the env)."""

    enabled: bool = False
    base_url: str = "https://sandbox.api.sap.com/s4hanacloud"
    rate_limit_per_s: float = Field(10.0, gt=0)
    max_retries: int = Field(5, ge=0)
    backoff_s: float = Field(1.0, ge=0)
    timeout_s: float = Field(30.0, gt=0)


class KnowledgeBaseSettings(BaseModel):
    edmx_dirs: list[str] = Field(
        default_factory=lambda: ["../shared/sap-edmx"],
        description="Folders of $metadata files, relative to the project root (or absolute).",
    )
    mongo_database: str = "sap_kb"
    mongo_batch_size: int = Field(200, gt=0)
    vector_backend: Literal["faiss", "weaviate"] = "faiss"
    weaviate_collection: str = "SapKnowledgeBase"
    hnsw_m: int = Field(32, ge=4)
    hnsw_ef_construction: int = Field(200, ge=8)
    hnsw_ef_search: int = Field(128, ge=8)
    lexical_weight: float = Field(0.35, ge=0)
    entity_weight: float = Field(0.6, ge=0)
    min_precision_at_5: float = Field(0.90, ge=0, le=1)
    max_latency_p95_ms: float = Field(100.0, gt=0)
    crawler: CrawlerSettings = CrawlerSettings()

    def resolved_edmx_dirs(self) -> list[Path]:
        out = []
        for d in self.edmx_dirs:
            path = Path(d)
            out.append(path if path.is_absolute() else (PROJECT_ROOT / path).resolve())
        return out


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAP_LLM_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    deployment: Literal["local", "production"] = "local"
    storage: StorageSettings = StorageSettings()
    synthetic: GeneratorConfig = GeneratorConfig()
    knowledge_base: KnowledgeBaseSettings = KnowledgeBaseSettings()
    public_data: PublicDataSettings = PublicDataSettings()
    qorsync: QorSyncSettings = QorSyncSettings()
    label_studio: LabelStudioSettings = LabelStudioSettings()
    spark: SparkSettings = SparkSettings()
    quality: QualitySettings = QualitySettings()
    splits: SplitSettings = SplitSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Precedence: explicit arguments > environment > params.yaml > field defaults.
        yaml_source = YamlConfigSettingsSource(settings_cls, yaml_file=params_file())
        return (init_settings, env_settings, yaml_source)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings loaded once per process; call ``get_settings.cache_clear()`` after changing the env."""
    return Settings()
