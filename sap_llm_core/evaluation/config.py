"""Evaluation settings (params.yaml ``evaluation:``): how much of the test split is scored, when a
document counts as touchless, what an hour of compute costs, and the end-to-end targets."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

from sap_llm_core.registry.policy import Target, parse_targets


class EvaluationSettings(BaseModel):
    # Test documents scored per model evaluation; 0: the whole test split.
    max_documents: int = Field(0, ge=0)
    # Documents the language decoder extracts twice (constrained and free), a seeded sample; 0: all.
    # Free decoding writes a whole document per extraction, so all of them would take minutes.
    language_decoder_documents: int = Field(100, ge=0)
    # Documents sent through the 8-stage pipeline (one at a time, as in serving); 0: all.
    end_to_end_documents: int = Field(200, ge=0)
    # A document goes straight through only if the classifier and the router are at least this sure,
    # the extraction passes the quality check and no blocking business rule fails.
    touchless_confidence: float = Field(0.8, ge=0, le=1)
    # The pipeline's extraction stage: the language decoder's ADC JSON, or the vision encoder's fields.
    extractor: Literal["language_decoder", "vision_encoder"] = "language_decoder"
    compute: Literal["cpu", "gpu"] = "cpu"
    hourly_rate_usd: dict[str, float] = Field(default_factory=lambda: {"cpu": 0.10, "gpu": 2.50})
    failure_examples: int = Field(5, ge=0)
    targets: dict[str, str] = Field(
        default_factory=lambda: {
            "classification_accuracy": ">= 0.95",
            "subtype_accuracy": ">= 0.92",
            "extraction_f1": ">= 0.92",
            "schema_compliance": ">= 1.0",
            "routing_accuracy": ">= 0.97",
            "api_validity": ">= 1.0",
            "touchless_rate": ">= 0.85",
        }
    )

    @field_validator("targets")
    @classmethod
    def _parseable(cls, value: dict[str, str]) -> dict[str, str]:
        parse_targets(value)  # raises naming the metric
        return value

    def end_to_end_targets(self) -> list[Target]:
        return parse_targets(self.targets)

    @property
    def rate(self) -> float:
        return self.hourly_rate_usd.get(self.compute, 0.0)
