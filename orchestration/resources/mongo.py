"""MongoDB for the knowledge base: ``MONGO_URI`` when set (production), otherwise a local nx-27017
MongoDB-wire server started on demand over a SQLite file in the data folder (the embedded default)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
from pymongo import MongoClient
from pymongo.database import Database

from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer
from sap_llm_core.knowledge_base.mongo_store import KnowledgeBaseStore, redact_uri
from sap_llm_core.settings import get_settings

_KB = get_settings().knowledge_base


class MongoResource(dg.ConfigurableResource):
    """``uri`` empty -> start nx-27017 for the duration of the step, data in ``local_data_dir``.

    The URI may carry credentials; it is never logged (see :meth:`describe`).
    """

    uri: str = ""
    database: str = _KB.mongo_database
    local_data_dir: str = str(Path(get_settings().storage.resolved_root()) / "knowledge_base_mongo")
    server_selection_timeout_ms: int = 5000
    batch_size: int = _KB.mongo_batch_size

    def describe(self) -> str:
        return redact_uri(self.uri) if self.uri else f"local nx-27017 ({self.local_data_dir})"

    @contextlib.contextmanager
    def pmg_database(self) -> Iterator[Database]:
        """The Process Memory Graph's database, on the same server as the knowledge base."""
        from sap_llm_core.pmg.connection import pmg_database

        with pmg_database(self.local_data_dir, self.uri or None) as db:
            yield db

    @contextlib.contextmanager
    def kb_store(self) -> Iterator[KnowledgeBaseStore]:
        server = None
        uri = self.uri
        if not uri:
            server = LocalMongoServer(self.local_data_dir).start()
            uri = server.uri
        client: MongoClient = MongoClient(
            uri,
            serverSelectionTimeoutMS=self.server_selection_timeout_ms,
            connectTimeoutMS=self.server_selection_timeout_ms,
            socketTimeoutMS=30_000,
        )
        try:
            yield KnowledgeBaseStore(client, self.database, batch_size=self.batch_size)
        finally:
            client.close()
            if server is not None:
                server.stop()
