"""Shared fixtures for the knowledge-base tests: fixture files, the real shared EDMX folder (skipped
when absent), parsed schemas, and a real nx-27017 server per test that needs one."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_EDMX = REPO_ROOT.parent / "shared" / "sap-edmx"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def shared_edmx_dir() -> Path:
    if not SHARED_EDMX.is_dir() or not any(SHARED_EDMX.glob("*.edmx")):
        pytest.skip(f"shared SAP EDMX files not present at {SHARED_EDMX}")
    return SHARED_EDMX


@pytest.fixture(scope="session")
def real_schemas(shared_edmx_dir: Path):
    from sap_llm_core.knowledge_base.edmx_parser import find_edmx_files, parse_files

    report = parse_files(find_edmx_files(shared_edmx_dir))
    assert not report.quarantined, [str(e) for e in report.quarantined]
    return report.documents


@pytest.fixture()
def mongo_server(tmp_path: Path):
    from sap_llm_core.knowledge_base.local_mongo_server import LocalMongoServer

    server = LocalMongoServer(tmp_path / "mongo")
    server.start()
    yield server
    server.stop()
