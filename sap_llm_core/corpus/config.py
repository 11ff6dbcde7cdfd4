"""Settings of the corpus pipeline (issue 3), as sub-models of the project's one settings model.

They live here rather than in ``sap_llm_core/settings.py`` so the corpus package owns its own knobs;
``settings.py`` only mounts them (``public_data``, ``qorsync``, ``label_studio``, ``spark``,
``quality``, ``splits``). Secrets and server URLs are deliberately *not* fields: they come from the
environment only (``QORSYNC_DB_URI``, ``LABEL_STUDIO_URL``, ``LABEL_STUDIO_API_KEY``) so that they
can never end up in ``params.yaml``, a DVC lock file or Dagster run config.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

_PROJECT_ROOT = Path(__file__).resolve().parents[2]

QORSYNC_DB_URI_ENV = "QORSYNC_DB_URI"
LABEL_STUDIO_URL_ENV = "LABEL_STUDIO_URL"
LABEL_STUDIO_TOKEN_ENV = "LABEL_STUDIO_API_KEY"


class PublicDataSettings(BaseModel):
    """Where the public datasets lie, each in its own native format. A missing folder means 0 rows."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    root: str = Field("../shared/public-datasets", description="Relative to the project root.")
    funsd: str = "funsd"
    cord: str = "cord"
    sroie: str = "sroie"
    rvl_cdip: str = "rvl_cdip"
    enabled: tuple[str, ...] = ("funsd", "cord", "sroie", "rvl_cdip")
    max_documents_per_dataset: int = Field(0, ge=0, description="0 = no limit.")

    def folder(self, dataset: str) -> Path:
        root = Path(self.root)
        root = root if root.is_absolute() else _PROJECT_ROOT / root
        return (root / getattr(self, dataset)).resolve()


class QorSyncSettings(BaseModel):
    """Extraction window of the QorSync database. The connection URI is ``$QORSYNC_DB_URI`` only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    start_date: str | None = Field(None, description="ISO date; documents created on/after it.")
    end_date: str | None = Field(None, description="ISO date; documents created before it.")
    incremental: bool = Field(True, description="Only rows updated after the last watermark.")
    min_confidence: float = Field(0.0, ge=0.0, le=1.0)
    batch_size: int = Field(5000, ge=1)

    @staticmethod
    def db_uri() -> str | None:
        return os.environ.get(QORSYNC_DB_URI_ENV) or None


class LabelStudioSettings(BaseModel):
    """Label Studio project used for human review. URL and token come from the environment only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    project_title: str = "SAP_LLM document review"
    push_limit: int = Field(200, ge=0, description="At most this many documents pushed per run.")
    review_sources: tuple[str, ...] = ("qorsync",)

    @staticmethod
    def url() -> str | None:
        return os.environ.get(LABEL_STUDIO_URL_ENV) or None

    @staticmethod
    def token() -> str | None:
        return os.environ.get(LABEL_STUDIO_TOKEN_ENV) or None


class SparkSettings(BaseModel):
    """Spark session. ``master`` may be any Spark URL (``spark://host:7077``, ``k8s://...``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    master: str = "local[*]"
    app_name: str = "sap-llm-corpus"
    driver_memory: str = "4g"
    shuffle_partitions: int = Field(8, ge=1)
    # Input files are packed into partitions by size and this number, not by the core count, so the
    # same inputs give the same output files on local[2], local[*] and a cluster.
    min_file_partitions: int = Field(8, ge=1)
    conf: dict[str, str] = Field(default_factory=dict)


class QualitySettings(BaseModel):
    """The seeds' quality rules, applied in ``unified_corpus`` and checked by GX suites."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_words_document: int = Field(50, ge=0)
    min_words_form: int = Field(5, ge=0)
    form_types: tuple[str, ...] = ("FORM", "VENDOR_MASTER", "CUSTOMER_MASTER", "MATERIAL_MASTER")
    # Per-type exceptions to the two seed thresholds. Receipts are short by nature (CORD's median is
    # ~25 words); the seeds' 50-word rule is about SAP business documents and would quarantine 96%
    # of CORD, so receipts get their own floor.
    min_words_by_type: dict[str, int] = Field(default_factory=lambda: {"RECEIPT": 10})
    min_annotation_coverage: float = Field(0.8, ge=0.0, le=1.0)
    max_class_share: float = Field(0.30, gt=0.0, le=1.0)
    # Hash-based assignment draws each split independently, so a split's class shares scatter
    # around the corpus share; this is how far above ``max_class_share`` a split may go.
    class_share_tolerance: float = Field(0.03, ge=0.0, le=1.0)
    split_tolerance: float = Field(0.03, ge=0.0, le=1.0)

    def min_words(self, document_type: str) -> int:
        if document_type in self.min_words_by_type:
            return self.min_words_by_type[document_type]
        return self.min_words_form if document_type in self.form_types else self.min_words_document


class SplitSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 13
    train: float = Field(0.70, gt=0.0, lt=1.0)
    val: float = Field(0.15, ge=0.0, lt=1.0)
    test: float = Field(0.15, ge=0.0, lt=1.0)
    shard_rows: int = Field(20000, ge=1, description="Rows per Parquet file of a split.")

    @model_validator(mode="after")
    def _sum_to_one(self) -> SplitSettings:
        total = self.train + self.val + self.test
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"splits.train + splits.val + splits.test must be 1, got {total}")
        return self
