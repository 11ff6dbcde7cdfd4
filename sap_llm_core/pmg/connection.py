"""Reaching the PMG database: ``MONGO_URI`` when set (a real MongoDB), else the embedded
nx-27017 server over the SQLite file in ``data_dir`` (the knowledge base's folder, so the Dagster
assets and the CLI see one database), started for the duration of the block."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer

DATABASE = "sap_llm_pmg"
# Where the embedded server keeps its file, under the storage root; the same as MongoResource's.
LOCAL_DATA_FOLDER = "knowledge_base_mongo"


@contextlib.contextmanager
def pmg_database(data_dir: str | Path, uri: str | None = None) -> Iterator[Database]:
    uri = uri or os.environ.get("MONGO_URI")
    server = None
    if not uri:
        server = LocalMongoServer(Path(data_dir)).start()
        uri = server.uri
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    try:
        yield client[DATABASE]
    finally:
        client.close()
        if server is not None:
            server.stop()
