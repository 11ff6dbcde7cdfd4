"""The vision encoder trainer: resumable checkpoints, the LayoutLMv3 path, base-model resolution."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from sap_llm_core.models.vision_encoder import model as vem
from sap_llm_core.models.vision_encoder.checks import nonfinite_tensors, predict_held_out_batch
from sap_llm_core.models.vision_encoder.features import LabelSpace, TokenizerAdapter, bio_tags, encode
from sap_llm_core.models.vision_encoder.metrics import entities, entity_prf
from sap_llm_core.models.vision_encoder.train import train
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.training.data import load_split
from sap_llm_core.training.reporter import TrainingReporter
from tests.models.conftest import TINY_HP

REPO = Path(__file__).resolve().parents[2]


def test_bio_tags_and_subtoken_alignment(corpus_root: str) -> None:
    record = load_split(ArtifactStore(corpus_root), "train", limit=1)[0]
    tags = bio_tags(record)
    span = record.field_spans[0]
    first, *rest = sorted(span.word_indices)
    assert tags[first] == f"B-{span.label}" and all(tags[i] == f"I-{span.label}" for i in rest)
    tokenizer = vem.load_tokenizer(vem.resolve_base_model("sentence-transformers/all-MiniLM-L6-v2"))
    labels = LabelSpace.from_records([record])
    item = encode(record, TokenizerAdapter(tokenizer, 3), labels, max_length=512)
    # exactly one labelled sub-token per word, in order, carrying that word's tag
    labelled = [(w, t) for w, t in zip(item["word_of_token"], item["tag_labels"], strict=True) if w >= 0]
    assert [w for w, _ in labelled] == list(range(len(record.words)))
    assert [labels.tags[t] for _, t in labelled] == tags
    assert len(item["input_ids"]) == len(item["bbox"]) > len(record.words)


def test_entity_f1_counts_exact_spans_only() -> None:
    gold = [["B-a", "I-a", "O", "B-b"]]
    assert entities(gold[0]) == {("a", 0, 1), ("b", 3, 3)}
    assert entity_prf(gold, gold)["f1"] == 1.0
    partial = entity_prf(gold, [["B-a", "O", "O", "B-b"]])  # a's span is cut short: wrong
    assert partial["precision"] == 0.5 and partial["recall"] == 0.5


def test_unknown_base_model_fails_with_the_paths_it_looked_in(copy_of_corpus: str, tmp_path: Path) -> None:
    config = {
        "storage_root": copy_of_corpus,
        "output_dir": str(tmp_path / "out"),
        "hyperparameters": {
            **TINY_HP,
            "base_model": "microsoft/layoutlmv3-base",
            "base_models_dir": str(tmp_path),
        },
    }
    with pytest.raises(vem.BaseModelNotFound) as err:
        train(config, TrainingReporter("vision_encoder"))
    assert str(tmp_path / "microsoft/layoutlmv3-base") in str(err.value)
    assert not (tmp_path / "out" / "final").exists()


def test_layoutlmv3_code_path_with_a_tiny_random_model(corpus_root: str, tmp_path: Path) -> None:
    from transformers import LayoutLMv3Config, LayoutLMv3Model

    tokenizer = vem.load_tokenizer(vem.resolve_base_model("sentence-transformers/all-MiniLM-L6-v2"))
    config = LayoutLMv3Config(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        coordinate_size=6,
        shape_size=4,
        visual_embed=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(0)
    base_dir = tmp_path / "tiny-layoutlmv3"
    LayoutLMv3Model(config).save_pretrained(base_dir)
    tokenizer.save_pretrained(base_dir)
    result = train(
        {
            "storage_root": corpus_root,
            "output_dir": str(tmp_path / "out"),
            "hyperparameters": {**TINY_HP, "base_model": str(base_dir), "save_steps": 0},
        },
        TrainingReporter("vision_encoder"),
    )
    final = Path(result["checkpoint_dir"])
    meta = json.loads((final / vem.CONFIG_FILE).read_text())
    assert meta["kind"] == "layoutlmv3"
    assert (final / "adapter" / "adapter_model.safetensors").is_file()
    heads = vem.load_file(final / vem.HEADS_FILE)
    assert not any(k.startswith("layout.") for k in heads)  # LayoutLMv3 has its own 2-D embeddings
    assert result["metrics"]["nonfinite_weights"] == 0
    outcome = predict_held_out_batch(final, ArtifactStore(corpus_root), size=4)
    assert outcome["passed"] and outcome["documents"] == 4


def test_killed_run_resumes_from_its_last_checkpoint(corpus_root: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    config = {
        "storage_root": corpus_root,
        "output_dir": str(out),
        "hyperparameters": {**TINY_HP, "epochs": 4, "save_steps": 3, "max_length": 32},
    }
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("MLFLOW_TRACKING_URI", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "sap_llm_core.training", "vision_encoder", "--config", str(config_file)],
        cwd=REPO,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    try:
        while not list((out / "checkpoints").glob("step-*/COMPLETE")):
            assert proc.poll() is None, "training ended before its first checkpoint"
            assert time.monotonic() < deadline, "no checkpoint within 300 s"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not (out / "final").exists()
    saved = sorted(int(p.parent.name.split("-")[1]) for p in (out / "checkpoints").glob("step-*/COMPLETE"))
    checkpoint = out / "checkpoints" / f"step-{saved[-1]:07d}"
    assert (checkpoint / "adapter" / "adapter_model.safetensors").is_file()
    assert nonfinite_tensors(checkpoint)[0] == []

    result = train(config, TrainingReporter("vision_encoder"))
    total_steps = 4 * 24 // 4
    assert result["resumed_from_step"] == saved[-1] > 0
    assert result["global_step"] == total_steps
    assert result["loss_history"][0][0] == TINY_HP["logging_steps"]  # history from before the kill kept
    assert Path(result["checkpoint_dir"], "heads.safetensors").is_file()


def test_viterbi_returns_the_most_probable_valid_bio_sequence() -> None:
    import itertools

    import numpy as np

    from sap_llm_core.models.vision_encoder.predict import bio_structure, viterbi_bio

    tags = ["O", "B-a", "I-a", "B-b", "I-b"]
    structure = bio_structure(tags)

    def valid(path: tuple[int, ...]) -> bool:
        previous = "O"
        for tag in (tags[i] for i in path):
            if tag.startswith("I-") and previous[2:] != tag[2:]:
                return False
            previous = tag
        return True

    def score(lp: np.ndarray, path) -> float:
        return float(sum(lp[t, k] for t, k in enumerate(path)))

    rng = np.random.default_rng(0)
    for _ in range(100):
        lp = np.log(rng.dirichlet(np.ones(len(tags)), size=int(rng.integers(1, 6))))
        best = max(
            (p for p in itertools.product(range(len(tags)), repeat=len(lp)) if valid(p)),
            key=lambda p: score(lp, p),
        )
        path = viterbi_bio(lp, structure)
        assert valid(tuple(path)) and score(lp, path) == pytest.approx(score(lp, best))
    # greedy would read "I-b" after "B-a" (two entities); the valid path keeps one "a" entity
    lp = np.log(np.array([[0.1, 0.8, 0.05, 0.03, 0.02], [0.1, 0.05, 0.4, 0.0, 0.45]]) + 1e-9)
    assert [tags[i] for i in viterbi_bio(lp, structure)] == ["B-a", "I-a"]
    assert viterbi_bio(np.zeros((0, len(tags))), structure) == []


def test_word_shapes_keep_the_format_and_drop_the_content() -> None:
    from sap_llm_core.models.vision_encoder.features import SHAPE_BUCKETS, shape_id, word_shape

    assert word_shape("2.234,96") == word_shape("1.792,81") == "d.ddd,dd"
    assert word_shape("117.717") == "ddd.ddd" != word_shape("117.71")
    assert word_shape("11/22/2024") == "dd/dd/dddd"
    assert word_shape("Hydraulic") == word_shape("Maintenance") == "Xxxx"
    assert word_shape("DE123456789") == "XXddddddddd"
    assert shape_id("4552052957") == shape_id("5050626501") != shape_id("56807829")
    assert all(0 < shape_id(w) < SHAPE_BUCKETS for w in ("a", "1", "-", "ÄÖÜ"))


def test_public_sources_are_the_corpus_loaders() -> None:
    from sap_llm_core.corpus.loaders import LOADERS
    from sap_llm_core.models.vision_encoder.metrics import PUBLIC_SOURCES

    assert set(LOADERS) == PUBLIC_SOURCES


def test_field_f1_is_reported_for_sap_documents_and_public_datasets_separately(
    corpus_root: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sap_llm_core.models.vision_encoder import predict as predict_module

    sap = load_split(ArtifactStore(corpus_root), "test", limit=2)
    public = sap[0].model_copy(update={"id": "funsd-x", "source": "funsd"})
    records = [*sap, public]

    def fake_predict(model, tokenizer, recs, **_):  # SAP documents perfect, the public one all O
        return [
            predict_module.Prediction(
                r.document_type, r.subtype, 1.0, bio_tags(r) if r.source != "funsd" else ["O"] * len(r.words)
            )
            for r in recs
        ]

    monkeypatch.setattr(predict_module, "predict", fake_predict)
    metrics = predict_module.evaluate(None, None, records)
    assert metrics["field_f1"] == metrics["field_f1.synthetic"] == 1.0
    assert metrics["public_entity_f1"] == metrics["field_f1.funsd"] == 0.0
    assert 0.0 < metrics["field_f1_all"] < 1.0
    assert metrics["eval_sap_documents"] == 2 and metrics["type_accuracy"] == 1.0
    only_public = predict_module.evaluate(None, None, [public])
    assert only_public["field_f1"] == only_public["field_f1_all"] == only_public["public_entity_f1"] == 0.0
