"""``dvc repro`` and a Dagster materialisation with the same params give byte-identical split files.

DVC runs in its own tool environment (``make dvc-env``: dvc's hydra pins antlr 4.9, which would
break dagster's string selections in the main environment). The repository is copied to a
temporary folder with a ``shared/public-datasets`` beside it holding the project's own fixtures,
so the test neither touches the working tree's ``data/`` nor needs the real datasets.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from corpus_helpers import FIXTURES, REPO_ROOT, write_source

from assets import corpus_sources, dataset
from orchestration.resources import MongoResource, SparkResource, StorageResource
from sap_llm_core.corpus.textgen import text_table
from sap_llm_core.storage import ArtifactStore

pytestmark = [pytest.mark.slow]
DVC = REPO_ROOT / ".tools" / "dvc" / "bin" / "dvc"


@pytest.fixture(scope="module")
def dvc() -> Path:
    if not DVC.exists():
        result = subprocess.run(
            ["make", "dvc-env"], cwd=REPO_ROOT, capture_output=True, text=True, timeout=900
        )
        if result.returncode != 0 or not DVC.exists():
            pytest.skip(f"could not create the DVC tool environment: {result.stderr[-500:]}")
    return DVC


def _copy_repo(target: Path) -> Path:
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    for name in files:
        source = REPO_ROOT / name
        if source.is_file() and not name.startswith("tests/"):
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    subprocess.run(["git", "init", "-q"], cwd=target, check=True)
    return target


def _file_hashes(root: Path, asset: str) -> dict[str, str]:
    folder = root / asset
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*.parquet"))
    }


def test_dvc_repro_and_dagster_give_the_same_split_files(dvc: Path, tmp_path: Path, spark, monkeypatch):
    repo = _copy_repo(tmp_path / "work" / "repo")
    (tmp_path / "work" / "shared").mkdir()
    (tmp_path / "work" / "shared" / "public-datasets").symlink_to(FIXTURES)
    synthetic = text_table(400, seed=11)
    write_source(ArtifactStore(str(repo / "data")), "synthetic_documents", synthetic)

    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("QORSYNC_DB_URI", "LABEL_STUDIO_URL", "SAP_LLM_PARAMS_FILE")
    }
    env.update(
        PATH=f"{Path(sys.executable).parent}:{env.get('PATH', '')}",
        PYTHONPATH=str(repo),
        SAP_LLM_SPARK__MASTER="local[2]",
        SAP_LLM_SPARK__SHUFFLE_PARTITIONS="2",
        SAP_LLM_SPARK__DRIVER_MEMORY="2g",
    )
    # The synthetic stage's output is the text-only corpus written above: commit it as that stage's
    # result so that repro starts from it (the real generator is issue 2's and slow with images).
    commit = subprocess.run(
        [str(dvc), "commit", "--force", "synthetic_documents"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
    )
    assert commit.returncode == 0, commit.stderr[-2000:]
    run = subprocess.run([str(dvc), "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    assert "Running stage 'synthetic_documents'" not in run.stdout
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    lock = (repo / "dvc.lock").read_text()
    for stage in ("public_documents", "unified_corpus", "corpus_splits", "corpus_statistics"):
        assert f"  {stage}:" in lock
    push = subprocess.run([str(dvc), "push"], cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert push.returncode == 0, push.stderr[-2000:]
    assert any((repo / "dvc-remote").rglob("*")), "the default local remote received nothing"

    # Dagster, same params (params.yaml is the same file), same inputs, its own storage root.
    dagster_root = tmp_path / "dagster-data"
    write_source(ArtifactStore(str(dagster_root)), "synthetic_documents", synthetic)
    monkeypatch.delenv("QORSYNC_DB_URI", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    result = dg.materialize(
        [
            corpus_sources.public_documents,
            corpus_sources.qorsync_documents,
            corpus_sources.label_studio_annotations,
            dataset.unified_corpus,
            dataset.corpus_splits,
        ],
        resources={
            "storage": StorageResource(root=str(dagster_root)),
            "mongo": MongoResource(local_data_dir=str(dagster_root / "mongo")),  # only for reviews
            "spark": SparkResource(master="local[2]", shuffle_partitions=2, driver_memory="2g"),
        },
        run_config={"ops": {"public_documents": {"config": {"root": str(FIXTURES)}}}},
    )
    assert result.success

    dvc_splits = _file_hashes(repo / "data", "corpus_splits")
    dagster_splits = _file_hashes(dagster_root, "corpus_splits")
    assert dvc_splits and dvc_splits == dagster_splits
    dvc_manifest = json.loads((repo / "data" / "corpus_splits" / "manifest.json").read_text())
    dagster_manifest = json.loads((dagster_root / "corpus_splits" / "manifest.json").read_text())
    assert dvc_manifest["data_version"] == dagster_manifest["data_version"]
    assert _file_hashes(repo / "data", "unified_corpus") == _file_hashes(dagster_root, "unified_corpus")

    # Nothing changed: a second repro re-runs only the always-changed external sources.
    again = subprocess.run(
        [str(dvc), "repro"], cwd=repo, env=env, capture_output=True, text=True, timeout=900
    )
    assert again.returncode == 0
    assert "Running stage 'unified_corpus'" not in again.stdout
    assert "Running stage 'corpus_splits'" not in again.stdout
