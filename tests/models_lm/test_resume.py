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


def test_killed_fine_tuning_resumes_from_last_checkpoint(tmp_path, corpus_records):
    """The LoRA run checkpoints every ``save_steps``; a rerun continues from the last checkpoint."""
    from sap_llm_core.models.language_decoder.sft import DecoderHyperparameters, finetune

    base_hp = BaseLMHyperparameters(
        vocab_size=512, hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, max_steps=2
    )
    records = corpus_records[:16]
    pretrain(records, base_hp, tmp_path / "base")
    hp = DecoderHyperparameters(
        batch_size=2, max_steps=6, save_steps=2, logging_steps=1, max_train_seconds=600, num_threads=1
    )

    def kill_at_3(name: str, value: float, step: int) -> None:
        if step == 3:
            raise Killed

    with pytest.raises(Killed):
        finetune(records, tmp_path / "base", hp, tmp_path / "decoder", log_metric=kill_at_3)
    result = finetune(records, tmp_path / "base", hp, tmp_path / "decoder")
    assert result["resumed_from"] is not None and result["resumed_from"].endswith("checkpoint-2")
    assert result["steps"] == 6
    assert (tmp_path / "decoder" / "adapter_model.safetensors").exists()
