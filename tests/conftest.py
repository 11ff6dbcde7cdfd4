"""Shared fixtures. Tests never touch the project's data/ folder or the user's home."""

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = REPO_ROOT.parent / "shared"


@pytest.fixture
def storage_root(tmp_path: Path) -> str:
    root = tmp_path / "data"
    root.mkdir()
    return str(root)


@pytest.fixture
def dagster_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPO_ROOT / "orchestration" / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def split_corpus(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, int], str]:
    """``make(name, n)``: ``n`` synthetic documents (no images) split 70/15/15 by id hash in the
    ``corpus_splits`` layout, in a session temp folder; returns the storage root."""
    from sap_llm_core.schema import table_to_records
    from sap_llm_core.storage import ArtifactStore
    from sap_llm_core.synthetic.config import GeneratorConfig
    from sap_llm_core.synthetic.corpus import ASSET, generate_corpus
    from sap_llm_core.training.data import write_hash_splits

    def make(name: str, num_documents: int) -> str:
        store = ArtifactStore(str(tmp_path_factory.mktemp(name) / "data"))
        config = GeneratorConfig(num_documents=num_documents, render_images=False)
        manifest, _ = generate_corpus(config, store, workers=1)
        shards = [store.read_table(ASSET, s["path"]) for s in manifest["shards"]]
        write_hash_splits(store, [r for t in shards for r in table_to_records(t)], manifest["data_version"])
        return store.root

    return make


@pytest.fixture
def copy_of_corpus(corpus_root: str, tmp_path: Path) -> str:
    """A private copy of the folder's ``corpus_root``, for tests that write beside or break the data."""
    target = tmp_path / "data"
    shutil.copytree(corpus_root, target)
    return str(target)
