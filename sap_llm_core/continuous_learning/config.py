"""Continuous-learning settings (params.yaml ``continuous_learning:``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class ContinuousLearningSettings(BaseModel):
    # New corrections per model that trigger a LoRA retrain through the sensor.
    thresholds: dict[str, int] = Field(
        default_factory=lambda: {"language_decoder": 20, "vision_encoder": 20, "reasoning_engine": 10}
    )
    # Replayed original training documents per corrected document, against forgetting.
    replay_ratio: float = Field(4.0, ge=0)
    seed: int = 17
    sensor_interval_s: int = Field(60, ge=5)
    nightly_cron: str = "0 2 * * *"
    timezone: str = "UTC"
