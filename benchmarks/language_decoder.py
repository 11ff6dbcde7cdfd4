"""Benchmark of the language models on this machine's CPU; writes benchmarks/results/language_decoder.json.

Trains ``base_language_model`` + ``language_decoder`` with the params.yaml defaults (unless the models
already exist under the storage root and ``--reuse`` is given), then times extraction on held-out test
documents: training samples/s, extraction documents/s (one document at a time), p50/p95 latency per
document, and field F1 / schema compliance / hallucination for free vs constrained decoding.

    python benchmarks/language_decoder.py [--storage-root DIR] [--documents 2000] [--eval 40] [--reuse]

Without ``corpus_splits`` under the root, a synthetic corpus is generated there and split by id hash
(a stand-in for the corpus_splits asset with the same file contract).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "language_decoder.json"


class LogReporter:
    def log_params(self, params: dict) -> None:
        pass

    def log_metric(self, name: str, value: float, step: int) -> None:
        print(f"  step {step}: {name}={value:.4g}", flush=True)


def ensure_splits(root: str, documents: int) -> None:
    from sap_llm_core.schema import records_to_table, table_to_records
    from sap_llm_core.storage import ArtifactStore
    from sap_llm_core.synthetic.config import GeneratorConfig
    from sap_llm_core.synthetic.corpus import ASSET, generate_corpus

    store = ArtifactStore(root)
    if store.exists("corpus_splits", "manifest.json"):
        return
    manifest, _ = generate_corpus(GeneratorConfig(num_documents=documents, render_images=False), store)
    records = [r for s in manifest["shards"] for r in table_to_records(store.read_table(ASSET, s["path"]))]
    splits: dict[str, list] = {"train": [], "val": [], "test": []}
    for record in records:
        bucket = int(hashlib.sha256(record.id.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        splits["train" if bucket < 0.7 else "val" if bucket < 0.85 else "test"].append(record)
    files = {}
    for split, rows in splits.items():
        store.write_table(records_to_table(rows), "corpus_splits", f"{split}/shard-00000.parquet")
        files[split] = [{"path": f"{split}/shard-00000.parquet", "rows": len(rows)}]
    store.write_manifest("corpus_splits", {"files": files, "data_version": manifest["data_version"]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--storage-root", default=str(ROOT / "data" / "benchmark_lm"))
    parser.add_argument("--documents", type=int, default=2000)
    parser.add_argument("--eval", type=int, default=40, help="held-out test documents to score")
    parser.add_argument("--reuse", action="store_true", help="reuse trained models under the root")
    parser.add_argument("--output", default=str(RESULTS))
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    import torch

    from sap_llm_core.models.base_lm.train import train as train_base
    from sap_llm_core.models.language_decoder.extract import evaluate, load_extractor
    from sap_llm_core.models.language_decoder.train import train as train_decoder
    from sap_llm_core.models.lm_data import extraction_records
    from sap_llm_core.storage import ArtifactStore

    params = yaml.safe_load((ROOT / "params.yaml").read_text())["models"]
    base_params = {k: v for k, v in params["base_language_model"].items()}
    decoder_params = {k: v for k, v in params["language_decoder"].items()}
    root = args.storage_root
    ensure_splits(root, args.documents)
    base_dir, decoder_dir = Path(root) / "base_language_model", Path(root) / "language_decoder"
    report: dict = {
        "machine": {"cpu_threads": torch.get_num_threads(), "platform": platform.platform()},
        "load_average_at_start": os.getloadavg(),
    }
    if not (args.reuse and (decoder_dir / "adapter_model.safetensors").exists()):
        hp_base = {
            k: v
            for k, v in base_params.items()
            if k not in {"base_model", "production_base_model", "base_models_dir", "max_train_documents"}
        }
        started = time.perf_counter()
        base = train_base({"storage_root": root, "hyperparameters": hp_base}, LogReporter())
        base_seconds = time.perf_counter() - started
        hp_dec = {
            k: v
            for k, v in decoder_params.items()
            if k
            not in {
                "max_train_documents",
                "eval_documents",
                "lora_target_modules",
                "max_new_tokens",
                "prior_weight",
            }
        }
        hp_dec["target_modules"] = decoder_params["lora_target_modules"]
        started = time.perf_counter()
        decoder = train_decoder(
            {
                "storage_root": root,
                "hyperparameters": hp_dec,
                "eval_documents": args.eval,
                "prior_weight": decoder_params.get("prior_weight", 2.0),
            },
            LogReporter(),
        )
        decoder_seconds = time.perf_counter() - started
        bm, dm = base["metrics"], decoder["metrics"]
        report["training"] = {
            "base_language_model_wall_s": round(base_seconds, 1),
            "base_language_model_train_s": bm["train_seconds"],
            "base_language_model_steps": bm["steps"],
            "base_language_model_tokens_per_s": bm["train_tokens_per_second"],
            "base_language_model_samples_per_s": bm["train_samples_per_second"],
            "base_language_model_val_loss": bm["val_loss"],
            "language_decoder_wall_s_incl_eval": round(decoder_seconds, 1),
            "language_decoder_train_s": dm["train_seconds"],
            "language_decoder_steps": dm["steps"],
            "language_decoder_samples_per_s": dm["train_samples_per_second"],
        }
    extractor = load_extractor(base_dir, decoder_dir)
    records = extraction_records(ArtifactStore(root), "test")[: args.eval]
    evaluation_file = decoder_dir / "evaluation.json"
    if evaluation_file.exists() and "training" in report:  # measured right after training, same docs
        metrics = json.loads(evaluation_file.read_text())["metrics"]
    else:
        metrics, prior = {}, extractor.prior
        for constrained, use_prior, name in (
            (False, False, "unconstrained"),
            (True, False, "constrained_lm_only"),
            (True, True, "constrained"),
        ):
            extractor.prior = prior if use_prior else None
            metrics.update(evaluate(extractor, records, constrained=constrained).metrics(name))
        extractor.prior = prior
    quality: dict[str, dict] = {"constrained": {}, "constrained_lm_only": {}, "unconstrained": {}}
    for key, value in metrics.items():
        mode, name = key.split("/", 1)
        quality[mode][name] = round(value, 4)
    timed = records[: min(len(records), 16)]
    started = time.perf_counter()
    extractor.extract(timed, constrained=True)
    rate = len(timed) / (time.perf_counter() - started)
    report["extraction"] = {
        "documents": len(records),
        "constrained_docs_per_s": round(rate, 3),
        "constrained_latency_p50_s": quality["constrained"]["latency_p50_s"],
        "constrained_latency_p95_s": quality["constrained"]["latency_p95_s"],
        "unconstrained_latency_p50_s": quality["unconstrained"]["latency_p50_s"],
        "docs_per_hour": round(rate * 3600),
    }
    report["quality"] = quality
    report["f1"] = {
        "constrained": quality["constrained"]["field_f1"],
        "constrained_lm_only": quality["constrained_lm_only"]["field_f1"],
        "unconstrained": quality["unconstrained"]["field_f1"],
    }
    report["load_average_at_end"] = os.getloadavg()
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
