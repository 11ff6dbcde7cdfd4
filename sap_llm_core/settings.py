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

from pydantic import BaseModel, ConfigDict, Field
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    YamlConfigSettingsSource,
)

from sap_llm_core.continuous_learning.config import ContinuousLearningSettings
from sap_llm_core.corpus.config import (
    LabelStudioSettings,
    PublicDataSettings,
    QorSyncSettings,
    QualitySettings,
    SparkSettings,
    SplitSettings,
)
from sap_llm_core.evaluation.config import EvaluationSettings
from sap_llm_core.registry.config import RegistrySettings
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


class VisionEncoderSettings(BaseModel):
    """Defaults of the ``vision_encoder`` asset's hyperparameters (params.yaml ``models.vision_encoder``)."""

    base_model: str = "sentence-transformers/all-MiniLM-L6-v2"
    production_base_model: str = "microsoft/layoutlmv3-base"
    base_models_dir: str = "models/base"
    seed: int = 42
    max_length: int = 512
    max_subtokens_per_word: int = 1
    layout_encoding: Literal["table", "fourier"] = "fourier"
    word_shapes: bool = True
    epochs: float = 1
    batch_size: int = 2
    learning_rate: float = 1e-3
    layout_learning_rate: float = 1e-4
    head_learning_rate: float = 5e-3
    weight_decay: float = 0.01
    warmup_ratio: float = 0.06
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] = ["query", "key", "value", "dense"]
    save_steps: int = 100
    logging_steps: int = 10
    max_train_documents: int = 0
    max_eval_documents: int = 0
    bf16: bool = False
    fp16: bool = False
    device: str = "auto"
    gradient_checkpointing: bool = False
    num_threads: int = 1


class ModelsSettings(BaseModel):
    """One section per model asset; other models' sections are kept as plain dicts until typed."""

    model_config = ConfigDict(extra="allow")

    vision_encoder: VisionEncoderSettings = VisionEncoderSettings()


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
    continuous_learning: ContinuousLearningSettings = ContinuousLearningSettings()
    registry: RegistrySettings = RegistrySettings()
    evaluation: EvaluationSettings = EvaluationSettings()
    models: ModelsSettings = ModelsSettings()

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
