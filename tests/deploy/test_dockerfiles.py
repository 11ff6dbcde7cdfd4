"""deploy/docker: the images install the pinned CPU/CUDA torch before the project, copy what the
package needs, and start the same entry points the Helm values and the training pod use.

No Docker daemon runs here, so the Dockerfiles are parsed, not built; each assertion is about a
mistake that would otherwise surface only in a cluster."""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKER = REPO_ROOT / "deploy" / "docker"
CODE_LOCATION = DOCKER / "Dockerfile.code-location"
TRAINING = DOCKER / "Dockerfile.training"


def _instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    text = re.sub(r"\\\n", " ", path.read_text())
    result = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            result.append((word.upper(), rest.strip()))
    return result


def _args(path: Path) -> dict[str, str]:
    return dict(a.split("=", 1) for i, a in _instructions(path) if i == "ARG" and "=" in a)


def _exec_form(path: Path, instruction: str) -> list[str]:
    (value,) = [a for i, a in _instructions(path) if i == instruction]
    return json.loads(value)


def _pyproject() -> dict:
    return tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())


def _project_torch_pin() -> str:
    (pin,) = [d for d in _pyproject()["project"]["dependencies"] if d.startswith("torch")]
    return pin.split("==")[1]


@pytest.mark.parametrize("path", [CODE_LOCATION, TRAINING], ids=lambda p: p.name)
def test_torch_is_pinned_and_installed_before_the_project(path: Path) -> None:
    assert _args(path)["TORCH_VERSION"] == _project_torch_pin() == "2.13.0"
    runs = [a for i, a in _instructions(path) if i == "RUN"]
    torch_step = next(i for i, r in enumerate(runs) if '"torch==${TORCH_VERSION}"' in r)
    project_step = next(i for i, r in enumerate(runs) if re.search(r"pip install \.(\s|$)", r))
    assert torch_step < project_step, "torch must be installed before the project"
    assert "--index-url" in runs[torch_step], "without the wheel index pip picks another torch build"


def test_code_location_is_cpu_python_311_and_serves_the_helm_module() -> None:
    (base,) = [a for i, a in _instructions(CODE_LOCATION) if i == "FROM"]
    assert base == "python:3.11-slim"
    assert _args(CODE_LOCATION)["TORCH_INDEX_URL"].endswith("/cpu")
    cmd = _exec_form(CODE_LOCATION, "CMD")
    values = yaml.safe_load((REPO_ROOT / "deploy" / "helm" / "values.yaml").read_text())
    grpc_args = values["dagster-user-deployments"]["deployments"][0]["dagsterApiGrpcArgs"]
    assert cmd[:3] == ["dagster", "api", "grpc"]
    module = cmd[cmd.index("-m") + 1]
    assert module == grpc_args[grpc_args.index("-m") + 1] == _pyproject()["tool"]["dagster"]["module_name"]
    assert str(values["dagster-user-deployments"]["deployments"][0]["port"]) in cmd


def test_training_image_is_cuda_and_runs_the_training_entry_point() -> None:
    (base,) = [a for i, a in _instructions(TRAINING) if i == "FROM"]
    assert base.startswith("nvidia/cuda:") and "runtime" in base
    assert "/cu" in _args(TRAINING)["TORCH_INDEX_URL"]
    entry = _exec_form(TRAINING, "ENTRYPOINT")
    assert entry == ["python", "-m", "sap_llm_core.training"]
    pod = yaml.safe_load((REPO_ROOT / "deploy" / "k8s" / "training-pod-template.yaml").read_text())
    assert pod["spec"]["containers"][0]["command"] == entry


@pytest.mark.parametrize("path", [CODE_LOCATION, TRAINING], ids=lambda p: p.name)
def test_every_copied_path_exists_and_every_package_is_copied(path: Path) -> None:
    copied: list[str] = []
    for instruction, args in _instructions(path):
        if instruction == "COPY":
            *sources, _dest = shlex.split(args)
            copied += sources
    missing = [s for s in copied if not (REPO_ROOT / s).exists()]
    assert not missing, f"{path.name} copies paths that do not exist: {missing}"
    packages = _pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    top_level = {p.rstrip("*") for p in packages}
    assert top_level <= set(copied), f"{path.name} misses packages: {top_level - set(copied)}"
    assert "pyproject.toml" in copied and "params.yaml" in copied


def test_build_context_excludes_local_state() -> None:
    ignored = set((REPO_ROOT / ".dockerignore").read_text().split())
    assert {".venv", "data", ".dagster_home", ".mlflow", ".git"} <= ignored
