"""Reaching the PMG database: ``MONGO_URI`` when set (a real MongoDB), else the embedded
nx-27017 server on the project's storage folder, started for the duration of the block."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from pymongo import MongoClient
from pymongo.database import Database

from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer

DATABASE = "sap_llm_pmg"


@contextlib.contextmanager
def pmg_database(data_dir: str | Path, uri: str | None = None) -> Iterator[Database]:
    uri = uri or os.environ.get("MONGO_URI")
    server = None
    if not uri:
        server = LocalMongoServer(Path(data_dir) / "pmg").start()
        uri = server.uri
    client: MongoClient = MongoClient(uri, serverSelectionTimeoutMS=5000, tz_aware=True)
    try:
        yield client[DATABASE]
    finally:
        client.close()
        if server is not None:
            server.stop()
