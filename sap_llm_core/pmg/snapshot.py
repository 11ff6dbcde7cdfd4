"""Merkle snapshots of the PMG: one root hash that names exactly what a training set saw.

Each vertex and edge is a leaf (SHA-256 of its canonical JSON); leaves are sorted by collection and
``_id`` and hashed pairwise up to one root. The same contents always give the same root, any change
to any record changes it, and a snapshot also lists the feedback ids it covers, so a retrained
adapter can be traced to the exact corrections it learned from.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from pymongo.database import Database

from sap_llm_core.pmg.model import COLLECTION, EDGES, SNAPSHOTS, VertexType

EMPTY_ROOT = hashlib.sha256(b"").hexdigest()


def _canonical(doc: dict[str, Any]) -> bytes:
    def default(value: Any) -> str:
        if isinstance(value, dt.datetime):
            value = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return value.astimezone(dt.UTC).isoformat()
        return str(value)

    return json.dumps(doc, sort_keys=True, default=default, ensure_ascii=False).encode()


def merkle_root(leaves: list[str]) -> str:
    if not leaves:
        return EMPTY_ROOT
    level = [bytes.fromhex(h) for h in leaves]
    while len(level) > 1:
        if len(level) % 2:
            level.append(level[-1])
        level = [hashlib.sha256(level[i] + level[i + 1]).digest() for i in range(0, len(level), 2)]
    return level[0].hex()


def collection_leaves(db: Database, name: str) -> list[str]:
    return [
        hashlib.sha256(name.encode() + b"\x00" + _canonical(doc)).hexdigest()
        for doc in db[name].find({}).sort("_id", 1)
    ]


def compute_snapshot(db: Database) -> dict[str, Any]:
    names = [*COLLECTION.values(), EDGES]
    roots, counts, leaves = {}, {}, []
    for name in names:
        own = collection_leaves(db, name)
        roots[name], counts[name] = merkle_root(own), len(own)
        leaves.extend(own)
    feedback_ids = [d["_id"] for d in db[COLLECTION[VertexType.FEEDBACK]].find({}, {"_id": 1}).sort("_id", 1)]
    return {
        "root": merkle_root(leaves),
        "collection_roots": roots,
        "counts": counts,
        "feedback_ids": feedback_ids,
    }


def take_snapshot(db: Database) -> dict[str, Any]:
    """Compute and store a snapshot; storing the same root twice keeps one record."""
    snapshot = compute_snapshot(db)
    record = {"_id": snapshot["root"], **snapshot, "taken_at": dt.datetime.now(dt.UTC)}
    existing = db[SNAPSHOTS].find_one({"_id": snapshot["root"]})
    if existing is None:
        db[SNAPSHOTS].insert_one(record)
        return record
    return existing
