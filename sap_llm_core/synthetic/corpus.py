"""Writes the synthetic corpus as Parquet shards plus PDF/PNG files, incrementally and in parallel.

A shard is the unit of determinism and reuse. Its content depends only on the generator settings
that shape documents (``GeneratorConfig.shard_fingerprint_fields``) and its index, never on how many
shards were asked for, so raising ``num_documents`` keeps every complete shard byte for byte and
only writes new ones; a shard whose sidecar says it was made with other settings is rewritten.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import pyarrow as pa
from faker import Faker

from sap_llm_core.schema import QUARANTINE_SCHEMA, DocumentRecord, QuarantineRecord, records_to_table
from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.catalog import DocumentType, Language
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.content import PartyPool
from sap_llm_core.synthetic.document_factory import SOURCE, make_document
from sap_llm_core.synthetic.locales import LOCALES
from sap_llm_core.synthetic.validation import record_problems

ASSET = "synthetic_documents"
STAGE = "synthetic_documents.validate"
# Bump when a change to the generator changes its output: shards made by another version are
# regenerated, and the asset's code_version (the same string) marks downstream assets stale.
GENERATOR_VERSION = "2"

Validator = Callable[[DocumentRecord], list[str]]
Progress = Callable[[int, int], None]


def fingerprint(config: GeneratorConfig) -> str:
    fields = {**config.shard_fingerprint_fields(), "generator_version": GENERATOR_VERSION}
    payload = json.dumps(fields, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def shard_name(index: int) -> str:
    return f"shard-{index:05d}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _quota(mix: dict[str, float], n: int) -> list[str]:
    """Exactly ``round(share * n)`` documents per type (largest remainder), not a random draw, so a
    shard never overshoots a type's share (the splits cap any class at 30%)."""
    raw = {t: share * n for t, share in sorted(mix.items())}
    counts = {t: int(v) for t, v in raw.items()}
    for t in sorted(raw, key=lambda t: (-(raw[t] - counts[t]), t))[: n - sum(counts.values())]:
        counts[t] += 1
    return [t for t, c in counts.items() for _ in range(c)]


def shard_plan(config: GeneratorConfig, index: int) -> list[tuple[DocumentType, Language]]:
    """Type and language of each slot of a full shard; a partial shard uses a prefix of it."""
    rng = random.Random(f"{fingerprint(config)}:plan:{index}")
    types = _quota(config.mix, config.shard_size)
    rng.shuffle(types)
    languages = [config.languages[i % len(config.languages)] for i in range(config.shard_size)]
    rng.shuffle(languages)
    return [(DocumentType(t), Language(lang)) for t, lang in zip(types, languages, strict=True)]


_FAKERS: dict[str, Faker] = {}


def _faker(locale: str) -> Faker:
    # Building a Faker costs ~100 ms; keep one per locale for the life of the worker process.
    if locale not in _FAKERS:
        faker = Faker(locale)
        # Some providers build word lists from sets (it_IT's ``cities``), whose order changes with
        # the per-process hash seed; sort them so a seed gives the same values in every process.
        for provider in faker.get_providers():
            if isinstance(getattr(provider, "cities", None), list):
                provider.cities = sorted(provider.cities)
        _FAKERS[locale] = faker
    return _FAKERS[locale]


@dataclass
class ShardResult:
    index: int
    rows: int
    quarantined: int
    sha256: str
    quarantine_sha256: str
    counts_by_type: dict[str, int]
    counts_by_language: dict[str, int]
    reused: bool


def generate_shard(
    config: GeneratorConfig, index: int, rows: int, root: str, validator: Validator = record_problems
) -> ShardResult:
    store = ArtifactStore(root)
    fp = fingerprint(config)
    name = shard_name(index)
    seed_text = f"{fp}:shard:{index}"
    pool_rng = random.Random(f"{seed_text}:pools")
    pools = {}
    for lang_code in config.languages:
        lang = Language(lang_code)
        faker = _faker(LOCALES[lang].faker_locale)
        faker.seed_instance(pool_rng.getrandbits(64))
        pools[lang] = PartyPool(pool_rng, faker, lang)

    kept: list[DocumentRecord] = []
    quarantined: list[QuarantineRecord] = []
    for slot, (doc_type, lang) in enumerate(shard_plan(config, index)[:rows]):
        doc_id = f"syn-{fp[:8]}-{index:05d}-{slot:04d}"
        pdf_path = f"files/{name}/{doc_id}.pdf"
        image_path = f"files/{name}/{doc_id}.png" if config.render_images else None
        doc = make_document(
            doc_id=doc_id,
            rng=random.Random(f"{seed_text}:doc:{slot}"),
            document_type=doc_type,
            language=lang,
            pool=pools[lang],
            pdf_path=pdf_path,
            image_path=image_path,
            image_dpi=config.image_dpi,
            augment_fraction=config.augment_fraction,
        )
        problems = validator(doc.record)
        if problems:
            quarantined.append(
                QuarantineRecord(
                    id=doc_id,
                    source=SOURCE,
                    stage=STAGE,
                    reason="; ".join(problems),
                    payload=doc.record.model_dump_json(),
                )
            )
            continue
        store.write_bytes(doc.pdf, ASSET, pdf_path)
        if doc.png is not None:
            store.write_bytes(doc.png, ASSET, image_path)
        kept.append(doc.record)

    table = records_to_table(kept)
    quarantine = pa.Table.from_pylist([q.model_dump() for q in quarantined], schema=QUARANTINE_SCHEMA)
    store.write_table(table, ASSET, "shards", f"{name}.parquet")
    store.write_table(quarantine, ASSET, "quarantine", f"{name}.parquet")
    result = ShardResult(
        index=index,
        rows=len(kept),
        quarantined=len(quarantined),
        sha256=sha256(store.read_bytes(ASSET, "shards", f"{name}.parquet")),
        quarantine_sha256=sha256(store.read_bytes(ASSET, "quarantine", f"{name}.parquet")),
        counts_by_type=dict(Counter(r.document_type for r in kept)),
        counts_by_language=dict(Counter(r.language for r in kept)),
        reused=False,
    )
    sidecar = {"fingerprint": fp, "requested": rows, **result.__dict__}
    store.write_json(sidecar, ASSET, "shards", f"{name}.json")
    return result


def _reusable(store: ArtifactStore, config: GeneratorConfig, index: int, rows: int) -> ShardResult | None:
    name = shard_name(index)
    if not (
        store.exists(ASSET, "shards", f"{name}.json") and store.exists(ASSET, "shards", f"{name}.parquet")
    ):
        return None
    meta = store.read_json(ASSET, "shards", f"{name}.json")
    if meta.get("fingerprint") != fingerprint(config) or meta.get("requested") != rows:
        return None
    if sha256(store.read_bytes(ASSET, "shards", f"{name}.parquet")) != meta.get("sha256"):
        return None  # edited or truncated on disk: regenerate rather than trust it
    fields = {k: meta[k] for k in ShardResult.__dataclass_fields__ if k != "reused"}
    return ShardResult(**fields, reused=True)


def _remove_stale(store: ArtifactStore, keep: int) -> None:
    for sub in ("shards", "quarantine"):
        for entry in store.list(ASSET, sub):
            if entry.startswith("shard-") and int(entry[6:11]) >= keep:
                store.remove(ASSET, sub, entry)
    for entry in store.list(ASSET, "files"):
        if entry.startswith("shard-") and int(entry[6:11]) >= keep:
            store.remove(ASSET, "files", entry)


def generate_corpus(
    config: GeneratorConfig,
    store: ArtifactStore,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
    validator: Validator = record_problems,
) -> tuple[dict, dict]:
    """Generate (or reuse) every shard and write the manifest. Returns (manifest, run statistics).

    The manifest is a pure function of the config, so it is stable across re-runs; the run
    statistics (timings, which shards were reused) are returned separately for logs and metadata.
    """
    started = time.perf_counter()
    sizes = [
        min(config.shard_size, config.num_documents - i * config.shard_size) for i in range(config.num_shards)
    ]
    results: dict[int, ShardResult] = {}
    todo = []
    for index, rows in enumerate(sizes):
        reused = _reusable(store, config, index, rows)
        if reused:
            results[index] = reused
        else:
            todo.append((index, rows))
    done = len(results)
    if progress:
        progress(done, len(sizes))

    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    if workers == 1:
        for index, rows in todo:
            results[index] = generate_shard(config, index, rows, store.root, validator)
            done += 1
            if progress:
                progress(done, len(sizes))
    elif todo:
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            futures = [pool.submit(generate_shard, config, i, n, store.root, validator) for i, n in todo]
            for future in futures:
                result = future.result()
                results[result.index] = result
                done += 1
                if progress:
                    progress(done, len(sizes))
    _remove_stale(store, len(sizes))

    ordered = [results[i] for i in range(len(sizes))]
    by_type: Counter[str] = Counter()
    by_language: Counter[str] = Counter()
    for r in ordered:
        by_type.update(r.counts_by_type)
        by_language.update(r.counts_by_language)
    shards = [
        {
            "name": shard_name(r.index),
            "path": f"shards/{shard_name(r.index)}.parquet",
            "quarantine_path": f"quarantine/{shard_name(r.index)}.parquet",
            "rows": r.rows,
            "quarantined": r.quarantined,
            "sha256": r.sha256,
            "quarantine_sha256": r.quarantine_sha256,
        }
        for r in ordered
    ]
    data_version = sha256(json.dumps([[s["sha256"], s["quarantine_sha256"]] for s in shards]).encode())
    manifest = {
        "asset": ASSET,
        "data_version": data_version,
        "fingerprint": fingerprint(config),
        "config": config.model_dump(mode="json"),
        "requested": config.num_documents,
        "kept": sum(r.rows for r in ordered),
        "quarantined": sum(r.quarantined for r in ordered),
        "counts_by_type": dict(sorted(by_type.items())),
        "counts_by_language": dict(sorted(by_language.items())),
        "shards": shards,
    }
    store.write_manifest(ASSET, manifest)
    elapsed = time.perf_counter() - started
    generated = [r for r in ordered if not r.reused]
    stats = {
        "elapsed_s": round(elapsed, 3),
        "shards_generated": len(generated),
        "shards_reused": len(ordered) - len(generated),
        "documents_generated": sum(r.rows + r.quarantined for r in generated),
        "documents_per_second": round(sum(r.rows + r.quarantined for r in generated) / elapsed, 1)
        if generated
        else None,
        "workers": workers,
    }
    return manifest, stats
