"""A killed pre-training run resumes from its last checkpoint instead of starting over."""

from __future__ import annotations

import json

import pytest

from sap_llm_core.models.base_lm.pretrain import STATE_DIR, BaseLMHyperparameters, pretrain


class Killed(Exception):
    pass


def test_killed_pretraining_resumes_from_last_checkpoint(tmp_path, corpus_records):
    hp = BaseLMHyperparameters(
        vocab_size=512,
        hidden_size=32,
        num_layers=1,
        num_heads=2,
        intermediate_size=64,
        batch_tokens=1024,
        max_steps=8,
        save_steps=4,
        logging_steps=1,
        warmup_steps=2,
        max_train_seconds=600,
    )
    records = corpus_records[:24]
    seen: list[int] = []

    def kill_at_6(name: str, value: float, step: int) -> None:
        seen.append(step)
        if step == 6:
            raise Killed

    with pytest.raises(Killed):
        pretrain(records, hp, tmp_path / "base", log_metric=kill_at_6)
    assert (tmp_path / "base" / STATE_DIR / "state.pt").exists()

    resumed: list[int] = []
    result = pretrain(records, hp, tmp_path / "base", log_metric=lambda n, v, s: resumed.append(s))
    assert resumed == [5, 6, 7, 8]  # continued after the step-4 checkpoint, not from step 1
    assert result["steps"] == 8 and result["resumed_from_step"] == 4
    history = json.loads((tmp_path / "base" / "loss_history.json").read_text())
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert (tmp_path / "base" / "model.safetensors").exists()
    assert not (tmp_path / "base" / STATE_DIR).exists()
