"""Throughput of the synthetic corpus generator on this machine, written to a JSON file.

Measures (1) documents per second for PDF + ground truth (words, boxes, spans, validation, Parquet)
with all cores and with one, and (2) pages per second for page-image rendering (pdfium raster +
PNG encoding), the part ``render_images`` adds. Seed target: 859 docs/s; ours: >= 1,000 docs/s.

    python benchmarks/synthetic_generation.py [--documents 10000] [--pages 600]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic import image_renderer
from sap_llm_core.synthetic.config import GeneratorConfig
from sap_llm_core.synthetic.corpus import ASSET, generate_corpus

RESULTS = Path(__file__).resolve().parent / "results" / "synthetic_generation.json"
TARGET_DOCS_PER_SECOND = 1000


def _docs_per_second(documents: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        config = GeneratorConfig(num_documents=documents, shard_size=500, render_images=False)
        started = time.perf_counter()
        manifest, _ = generate_corpus(config, ArtifactStore(root), workers=workers)
        elapsed = time.perf_counter() - started
    assert manifest["kept"] + manifest["quarantined"] == documents
    return {
        "documents": documents,
        "workers": workers,
        "elapsed_s": round(elapsed, 2),
        "documents_per_second": round(documents / elapsed, 1),
    }


def _render_pdf_file(path: str) -> int:
    png = image_renderer.to_png(image_renderer.render_page(Path(path).read_bytes(), 72))
    return len(png)


def _pages_per_second(pages: int, workers: int) -> dict:
    with tempfile.TemporaryDirectory() as root:
        store = ArtifactStore(root)
        generate_corpus(GeneratorConfig(num_documents=pages, render_images=False), store, workers=workers)
        pdfs = sorted(str(p) for p in Path(store.url(ASSET, "files")).rglob("*.pdf"))
        started = time.perf_counter()
        with ProcessPoolExecutor(max_workers=workers) as pool:
            sizes = list(pool.map(_render_pdf_file, pdfs, chunksize=16))
        elapsed = time.perf_counter() - started
    return {
        "pages": len(sizes),
        "dpi": 72,
        "workers": workers,
        "elapsed_s": round(elapsed, 2),
        "pages_per_second": round(len(sizes) / elapsed, 1),
        "mean_png_bytes": int(sum(sizes) / len(sizes)),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=10_000)
    parser.add_argument("--pages", type=int, default=600)
    args = parser.parse_args()
    cores = os.cpu_count() or 1
    all_cores = _docs_per_second(args.documents, cores)
    one_core = _docs_per_second(max(args.documents // 5, 500), 1)
    images = _pages_per_second(args.pages, cores)
    result = {
        "benchmark": "synthetic_generation",
        "machine": {"cpu_count": cores, "platform": platform.platform(), "python": platform.python_version()},
        "pdf_and_ground_truth": all_cores,
        "pdf_and_ground_truth_one_core": one_core,
        "page_images": images,
        "target_documents_per_second": TARGET_DOCS_PER_SECOND,
        "meets_target": all_cores["documents_per_second"] >= TARGET_DOCS_PER_SECOND,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
