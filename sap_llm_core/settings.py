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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SAP_LLM_", env_nested_delimiter="__", extra="ignore", frozen=True
    )

    deployment: Literal["local", "production"] = "local"
    storage: StorageSettings = StorageSettings()
    synthetic: GeneratorConfig = GeneratorConfig()
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
