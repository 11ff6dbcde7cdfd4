import json
import os
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]


def _sap_llm(*args: str) -> subprocess.CompletedProcess:
    cli = Path(sys.executable).with_name("sap-llm")
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "COLUMNS": "200"}
    return subprocess.run(
        [str(cli), *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=300
    )


def test_cli_generates_the_same_corpus_as_the_library(storage_root):
    out = _sap_llm(
        "generate-synthetic", "--num-documents", "12", "--workers", "1", "--storage-root", storage_root
    )
    assert out.returncode == 0, out.stderr
    manifest = json.loads((Path(storage_root) / "synthetic_documents" / "manifest.json").read_text())
    assert manifest["kept"] == 12

    from sap_llm_core.settings import get_settings
    from sap_llm_core.storage import ArtifactStore
    from sap_llm_core.synthetic.corpus import generate_corpus

    config = get_settings().synthetic.model_copy(update={"num_documents": 12})
    expected, _ = generate_corpus(config, ArtifactStore(storage_root + "-lib"), workers=1)
    assert expected["data_version"] == manifest["data_version"]

    summary = _sap_llm("summary", "--storage-root", storage_root)
    assert summary.returncode == 0 and "synthetic_documents" in summary.stdout


def test_cli_rejects_bad_config_naming_the_field(storage_root):
    out = _sap_llm("generate-synthetic", "--num-documents", "-4", "--storage-root", storage_root)
    assert out.returncode != 0
    assert "num_documents" in out.stderr + out.stdout
