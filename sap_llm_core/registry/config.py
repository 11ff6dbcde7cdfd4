"""Registry settings (params.yaml ``registry:``): targets per model and the regression tolerance."""

from __future__ import annotations

from pydantic import BaseModel, Field, field_validator

from sap_llm_core.registry.policy import Target, parse_targets


class RegistrySettings(BaseModel):
    model_prefix: str = "sap_llm"
    tolerance: float = Field(0.01, ge=0)
    targets: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {
            "vision_encoder": {
                "type_accuracy": ">= 0.95",
                "subtype_accuracy": ">= 0.92",
                "field_f1": ">= 0.94",
            },
            "language_decoder": {
                "constrained/schema_compliance": ">= 1.0",
                "constrained/field_f1": ">= 0.92",
                "constrained/hallucination_rate": "<= 0.0",
            },
            "reasoning_engine": {"routing_accuracy": ">= 0.97", "ece": "<= 0.05"},
        }
    )

    @field_validator("targets")
    @classmethod
    def _parseable(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for spec in value.values():
            parse_targets(spec)  # raises naming the metric
        return value

    def targets_for(self, model: str) -> list[Target]:
        return parse_targets(self.targets.get(model, {}))

    def registered_name(self, model: str) -> str:
        return f"{self.model_prefix}.{model}"
