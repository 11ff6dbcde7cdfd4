"""Validated generator configuration: a bad config fails here, before any document is drawn."""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from sap_llm_core.synthetic.catalog import DocumentType, Language

DEFAULT_MIX: dict[str, float] = {
    "PURCHASE_ORDER": 0.30,
    "SUPPLIER_INVOICE": 0.30,
    "GOODS_RECEIPT": 0.20,
    "SALES_ORDER": 0.035,
    "CUSTOMER_INVOICE": 0.03,
    "DELIVERY_NOTE": 0.02,
    "CREDIT_MEMO": 0.02,
    "PAYMENT_ADVICE": 0.02,
    "GOODS_ISSUE": 0.015,
    "JOURNAL_ENTRY": 0.015,
    "MATERIAL_DOCUMENT": 0.015,
    "VENDOR_MASTER": 0.01,
    "CUSTOMER_MASTER": 0.01,
    "MATERIAL_MASTER": 0.01,
}


class GeneratorConfig(BaseModel):
    """What to generate. Field names are the ones users see in params.yaml and error messages."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 42
    num_documents: int = Field(2000, ge=0, description="How many documents in total.")
    shard_size: int = Field(250, ge=1, le=100_000)
    languages: tuple[str, ...] = tuple(lang.value for lang in Language)
    mix: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_MIX))
    augment_fraction: float = Field(0.2, ge=0.0, le=1.0)
    render_images: bool = True
    image_dpi: int = Field(72, ge=36, le=300)

    @field_validator("languages")
    @classmethod
    def _known_languages(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        known = {lang.value for lang in Language}
        unknown = [lang for lang in value if lang not in known]
        if unknown:
            raise ValueError(f"unsupported language(s) {unknown}; supported: {sorted(known)}")
        if not value:
            raise ValueError("at least one language is required")
        if len(set(value)) != len(value):
            raise ValueError("languages must not repeat")
        return value

    @field_validator("mix")
    @classmethod
    def _valid_mix(cls, value: dict[str, float]) -> dict[str, float]:
        known = {t.value for t in DocumentType}
        unknown = sorted(set(value) - known)
        if unknown:
            raise ValueError(f"unknown document type(s) {unknown}; known: {sorted(known)}")
        negative = sorted(k for k, v in value.items() if v < 0)
        if negative:
            raise ValueError(f"shares must be >= 0, negative for {negative}")
        total = sum(value.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"shares must sum to 1, they sum to {total:.6f}")
        return value

    @model_validator(mode="after")
    def _types_present(self) -> GeneratorConfig:
        if not any(share > 0 for share in self.mix.values()):
            raise ValueError("mix: at least one document type needs a positive share")
        return self

    @property
    def document_types(self) -> list[DocumentType]:
        return [DocumentType(t) for t, share in self.mix.items() if share > 0]

    @property
    def num_shards(self) -> int:
        return math.ceil(self.num_documents / self.shard_size)

    def shard_fingerprint_fields(self) -> dict[str, object]:
        """The fields that decide a shard's content. ``num_documents`` is not one of them, so asking
        for more documents keeps every complete shard; ``shard_size`` is, since it moves boundaries."""
        return {
            "seed": self.seed,
            "shard_size": self.shard_size,
            "languages": list(self.languages),
            "mix": dict(sorted(self.mix.items())),
            "augment_fraction": self.augment_fraction,
            "render_images": self.render_images,
            "image_dpi": self.image_dpi,
        }
