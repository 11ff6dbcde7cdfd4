"""Human-readable views of the corpus for the Dagster UI and the CLI: count tables and a page."""

from __future__ import annotations

import base64
import io

import pyarrow as pa
from PIL import Image

from sap_llm_core.storage import ArtifactStore
from sap_llm_core.synthetic.corpus import ASSET


def counts_table(counts: dict[str, int], key: str) -> str:
    total = sum(counts.values()) or 1
    lines = [f"| {key} | documents | share |", "|---|---:|---:|"]
    lines += [f"| {k} | {v} | {v / total:.1%} |" for k, v in sorted(counts.items(), key=lambda kv: -kv[1])]
    return "\n".join(lines)


def sample_page_markdown(store: ArtifactStore, image_path: str | None, width: int = 420) -> str:
    """A page image embedded in Markdown (the Dagster UI renders data URIs), downscaled to stay small."""
    if not image_path or not store.exists(ASSET, image_path):
        return "_no page images rendered (render_images is off)_"
    image = Image.open(io.BytesIO(store.read_bytes(ASSET, image_path)))
    image.thumbnail((width, width * 2))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"![sample page](data:image/png;base64,{encoded})"


def records_preview(table: pa.Table, rows: int = 5, text_chars: int = 60) -> str:
    """The first records as a Markdown table, so a reviewer sees real rows (type, language, how many
    words and labelled fields, the start of the text) without opening a Parquet file."""
    lines = [
        "| id | type | subtype | language | words | fields | text |",
        "|---|---|---|---|---:|---:|---|",
    ]
    for record in table.slice(0, rows).to_pylist():
        text = " ".join(record["ocr_text"].split())[:text_chars].replace("|", "\\|")
        lines.append(
            f"| `{record['id']}` | {record['document_type']} | {record['subtype'] or ''} "
            f"| {record['language']} | {len(record['words'])} | {len(record['field_spans'])} | {text}… |"
        )
    if table.num_rows == 0:
        lines.append("| _no records_ | | | | | | |")
    return "\n".join(lines)
