"""A small facade over fsspec so that assets, the CLI and DVC stages address artifacts the same way.

Every asset owns a prefix named after it (``<root>/<asset_name>/...``) and writes a
``manifest.json`` there last, so a reader never sees a half-written artifact as complete.
"""

from __future__ import annotations

import io
import json
import posixpath
from typing import Any

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq

MANIFEST = "manifest.json"


class ArtifactStore:
    def __init__(self, root: str):
        self.root = root.rstrip("/")
        self.fs, self._base = fsspec.core.url_to_fs(self.root)

    def __repr__(self) -> str:
        return f"ArtifactStore({self.root!r})"

    # paths -----------------------------------------------------------------------------------
    def path(self, *parts: str) -> str:
        """Path inside the store's filesystem (no protocol), for use with ``self.fs``."""
        return posixpath.join(self._base, *parts)

    def url(self, *parts: str) -> str:
        """Full URL or local path a person can open."""
        return posixpath.join(self.root, *parts)

    def exists(self, *parts: str) -> bool:
        return self.fs.exists(self.path(*parts))

    def list(self, *parts: str, suffix: str = "") -> list[str]:
        """Names (not paths) directly under a prefix, sorted."""
        prefix = self.path(*parts)
        if not self.fs.exists(prefix):
            return []
        names = [posixpath.basename(p.rstrip("/")) for p in self.fs.ls(prefix, detail=False)]
        return sorted(n for n in names if n.endswith(suffix))

    def remove(self, *parts: str) -> None:
        target = self.path(*parts)
        if self.fs.exists(target):
            self.fs.rm(target, recursive=True)

    # bytes -----------------------------------------------------------------------------------
    def write_bytes(self, data: bytes, *parts: str) -> str:
        target = self.path(*parts)
        self.fs.makedirs(posixpath.dirname(target), exist_ok=True)
        with self.fs.open(target, "wb") as fh:
            fh.write(data)
        return target

    def read_bytes(self, *parts: str) -> bytes:
        with self.fs.open(self.path(*parts), "rb") as fh:
            return fh.read()

    # JSON ------------------------------------------------------------------------------------
    def write_json(self, obj: Any, *parts: str) -> str:
        text = json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        return self.write_bytes(text.encode("utf-8"), *parts)

    def read_json(self, *parts: str) -> Any:
        return json.loads(self.read_bytes(*parts).decode("utf-8"))

    # Parquet ---------------------------------------------------------------------------------
    def write_table(self, table: pa.Table, *parts: str) -> str:
        """Write Parquet deterministically: no creation timestamps, fixed row-group layout."""
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd", write_statistics=True, store_schema=True)
        return self.write_bytes(buffer.getvalue(), *parts)

    def read_table(self, *parts: str, schema: pa.Schema | None = None) -> pa.Table:
        with self.fs.open(self.path(*parts), "rb") as fh:
            return pq.read_table(fh, schema=schema)

    # manifests -------------------------------------------------------------------------------
    def write_manifest(self, asset_name: str, manifest: dict[str, Any]) -> str:
        return self.write_json(manifest, asset_name, MANIFEST)

    def read_manifest(self, asset_name: str) -> dict[str, Any]:
        if not self.exists(asset_name, MANIFEST):
            raise FileNotFoundError(
                f"{self.url(asset_name, MANIFEST)} does not exist: materialise {asset_name} first"
            )
        return self.read_json(asset_name, MANIFEST)
