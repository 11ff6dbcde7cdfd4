"""Model name -> trainer, as import strings so that ``python -m sap_llm_core.training`` imports only the
model it runs (torch/transformers for one model, not every model's dependencies).

A trainer is ``def train(config: dict, reporter: TrainingReporter) -> dict`` returning at least
``{"metrics": {...}, "checkpoint_dir": str}``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

TRAINERS: dict[str, str] = {
    "vision_encoder": "sap_llm_core.models.vision_encoder.train:train",
    "base_language_model": "sap_llm_core.models.base_lm.train:train",
    "language_decoder": "sap_llm_core.models.language_decoder.train:train",
    "reasoning_engine": "sap_llm_core.models.reasoning_engine.train:train",
}

Trainer = Callable[[dict[str, Any], Any], dict[str, Any]]


def get_trainer(model: str) -> Trainer:
    """Resolve a trainer by model name; an unknown name lists the known ones."""
    if model not in TRAINERS:
        raise KeyError(f"unknown model {model!r}; known models: {', '.join(sorted(TRAINERS))}")
    module_name, _, attr = TRAINERS[model].partition(":")
    return getattr(importlib.import_module(module_name), attr)
