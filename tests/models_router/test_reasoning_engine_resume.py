"""Resuming the router's training: a run interrupted inside a TRL stage (a callback raising right after
a checkpoint is saved, as a killed process would leave it) picks up from that checkpoint; completed
stages are skipped; checkpoints and stages of other settings are never reused. Then the optional GRPO
stage on the seeds' reward, resumed the same way on top of the reused stages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from transformers import TrainerCallback

from sap_llm_core.models.reasoning_engine.train import train
from sap_llm_core.training.reporter import TrainingReporter
from sap_llm_core.training.resume import STAGE_MARKER, latest_checkpoint
from tests.models_router.conftest import TINY_HP

HP = {**TINY_HP, "save_steps": 2}


class Killed(RuntimeError):
    pass


class KillAfterCheckpoint(TrainerCallback):
    """Interrupts ``stage`` right after it saved the checkpoint of step ``step``."""

    def __init__(self, stage: str, step: int):
        self.stage, self.step = stage, step

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        if Path(args.output_dir).name == self.stage and state.global_step >= self.step:
            raise Killed(f"{self.stage} killed after step {state.global_step}")


class RecordingReporter(TrainingReporter):
    def __init__(self) -> None:
        super().__init__("reasoning_engine")
        self.metrics: dict[str, list[float]] = {}

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        for name, value in metrics.items():
            self.metrics.setdefault(name, []).append(value)


def _marker(out: Path, stage: str) -> dict:
    return json.loads((out / "stages" / stage / STAGE_MARKER).read_text())


def _assert_quality_gates(result: dict) -> None:
    m = result["metrics"]
    assert m["routing_accuracy"] >= max(0.85, m["majority_baseline_accuracy"] + 0.4), m
    assert m["api_validity"] == 1.0
    assert 0.0 <= m["ece"] <= 0.15


@pytest.fixture(scope="module")
def resumed_run(corpus_root: str, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Kill in SFT; rerun with other SFT settings, killed in DPO; rerun those settings to the end."""
    out = tmp_path_factory.mktemp("router_resume")

    def config(hp: dict) -> dict:
        return {"storage_root": corpus_root, "output_dir": str(out), "hyperparameters": hp}

    with pytest.raises(Killed):
        train(config(HP), RecordingReporter(), callbacks=[KillAfterCheckpoint("sft", 2)])
    after_sft_kill = {
        "pretrain_marker": (out / "stages" / "pretrain" / STAGE_MARKER).is_file(),
        "sft_marker": (out / "stages" / "sft" / STAGE_MARKER).exists(),
        "sft_checkpoint": latest_checkpoint(out / "sft"),
    }
    changed = {**HP, "learning_rate": HP.get("learning_rate", 0.002) * 1.5}
    second = RecordingReporter()
    with pytest.raises(Killed):
        train(config(changed), second, callbacks=[KillAfterCheckpoint("dpo", 2)])
    after_dpo_kill = {
        "metrics": second.metrics,
        "sft_marker": _marker(out, "sft"),
        "dpo_checkpoint": latest_checkpoint(out / "dpo"),
    }
    third = RecordingReporter()
    result = train(config(changed), third)
    return {
        "out": out,
        "config": config,
        "changed": changed,
        "after_sft_kill": after_sft_kill,
        "after_dpo_kill": after_dpo_kill,
        "third": third.metrics,
        "result": result,
    }


def test_interrupted_sft_leaves_pretraining_done_and_a_checkpoint(resumed_run: dict) -> None:
    state = resumed_run["after_sft_kill"]
    assert state["pretrain_marker"] and not state["sft_marker"]
    assert state["sft_checkpoint"] is not None and state["sft_checkpoint"].name == "checkpoint-2"


def test_changed_settings_reuse_pretraining_but_not_the_stale_sft_checkpoint(resumed_run: dict) -> None:
    state = resumed_run["after_dpo_kill"]
    assert state["metrics"].get("pretrain_skipped") == [1.0]
    assert "sft_skipped" not in state["metrics"]
    assert "sft_resumed_from_step" not in state["metrics"], "resumed from another config's checkpoint"
    assert state["sft_marker"]["resumed_from_step"] == 0 and state["sft_marker"]["global_step"] > 2
    assert state["dpo_checkpoint"] is not None and state["dpo_checkpoint"].name == "checkpoint-2"


def test_rerun_skips_completed_stages_and_resumes_dpo_from_its_checkpoint(resumed_run: dict) -> None:
    result, metrics = resumed_run["result"], resumed_run["third"]
    stages = result["stages"]
    assert stages["pretrain"]["status"] == stages["sft"]["status"] == "skipped"
    assert stages["dpo"]["status"] == "resumed" and stages["dpo"]["resumed_from_step"] == 2
    assert metrics["dpo_resumed_from_step"] == [2]
    # DPO ran to its full length: 64 pairs, batch 16, one epoch
    assert stages["dpo"]["global_step"] == 4
    assert [s for s, _ in result["dpo_loss_history"]] == [2, 4]
    assert "sft_loss" in metrics and result["loss_history"], "SFT history lost on skip"
    assert not (resumed_run["out"] / "dpo").exists(), "checkpoints of a finished stage kept"
    _assert_quality_gates(result)


def test_grpo_stage_on_top_of_reused_stages_logs_the_reward_and_resumes(resumed_run: dict) -> None:
    config, out = resumed_run["config"], resumed_run["out"]
    hp = {**resumed_run["changed"], "grpo_steps": 4, "grpo_num_generations": 4}
    with pytest.raises(Killed):
        train(config(hp), RecordingReporter(), callbacks=[KillAfterCheckpoint("grpo", 2)])
    reporter = RecordingReporter()
    result = train(config(hp), reporter)
    stages = result["stages"]
    assert {stages[s]["status"] for s in ("pretrain", "sft", "dpo")} == {"skipped"}
    assert stages["grpo"]["status"] == "resumed" and stages["grpo"]["resumed_from_step"] == 2
    assert stages["grpo"]["global_step"] == 4
    rewards = [r for _, r in result["grpo_reward_history"]]
    # sampled routings parse and score (all-unparseable completions would give 0); tiny model: ~0.3-0.4
    assert rewards and all(0.15 < r <= 1.0 for r in rewards), rewards
    assert reporter.metrics["grpo_reward"] == rewards
    assert _marker(out, "grpo")["history"] == result["grpo_reward_history"]
    _assert_quality_gates(result)
