"""``make mlflow-ui`` serves the project's local MLflow store: runs and registered models logged to the
SQLite file (as the training assets do) are visible in the MLflow UI in headless Chromium.

The store lives in a temp ``MLFLOW_DIR``; the server is the Makefile's own recipe, so the target the
README names is the thing tested."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.dagster_ui import REPO_ROOT, free_port, group_alive, launch_chromium, restore_sigint

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXPERIMENT = "sap_llm-ui-check"
RUN_NAME = "vision-encoder-ui-check"
MODEL = "sap_llm-vision_encoder-ui-check"


def _log_like_the_training_assets(mlflow_dir: Path) -> dict[str, str]:
    """A run with params, metrics and an artifact, and a registered version with alias ``champion``."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=f"sqlite:///{mlflow_dir / 'mlflow.db'}")
    experiment_id = client.create_experiment(
        EXPERIMENT, artifact_location=str(mlflow_dir / "artifacts" / EXPERIMENT)
    )
    run = client.create_run(experiment_id, run_name=RUN_NAME)
    client.log_param(run.info.run_id, "learning_rate", "0.0002")
    for step, loss in enumerate([2.0, 1.2, 0.7]):
        client.log_metric(run.info.run_id, "train_loss", loss, step=step)
    report = mlflow_dir / "report.md"
    report.write_text("# metrics\n")
    client.log_artifact(run.info.run_id, str(report))
    client.set_terminated(run.info.run_id)
    client.create_registered_model(MODEL)
    version = client.create_model_version(
        MODEL, source=f"runs:/{run.info.run_id}/model", run_id=run.info.run_id
    )
    client.set_registered_model_alias(MODEL, "champion", version.version)
    return {"experiment_id": experiment_id, "run_id": run.info.run_id}


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextlib.contextmanager
def _make_mlflow_ui(mlflow_dir: Path, port: int, log: Path) -> Iterator[str]:
    """``make mlflow-ui`` without re-checking the environment (``-o``: the venv is the one running us)."""
    bin_dir = Path(sys.executable).parent
    cmd = [
        "make",
        "-s",
        "-o",
        ".venv/.installed-stamp",
        "-o",
        ".dagster_home/dagster.yaml",
        "mlflow-ui",
        f"BIN={bin_dir}",
        f"MLFLOW_DIR={mlflow_dir}",
        f"MLFLOW_PORT={port}",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, "DAGSTER_HOME": str(mlflow_dir / "dagster_home")},
            preexec_fn=restore_sigint,  # see restore_sigint
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"make mlflow-ui exited:\n{log.read_text()[-3000:]}")
            if _healthy(url):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"MLflow not healthy after 90s:\n{log.read_text()[-3000:]}")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=30)
        deadline = time.monotonic() + 15
        while group_alive(process.pid) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = group_alive(process.pid)
        if leftovers:
            os.killpg(process.pid, signal.SIGKILL)
        assert not leftovers, f"mlflow processes ignored SIGTERM: {leftovers}"


def test_make_mlflow_ui_shows_runs_and_registered_models(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    mlflow_dir = tmp_path / ".mlflow"
    mlflow_dir.mkdir()
    ids = _log_like_the_training_assets(mlflow_dir)
    with (
        _make_mlflow_ui(mlflow_dir, free_port(), tmp_path / "mlflow.log") as url,
        sync_playwright() as playwright,
    ):
        context = launch_chromium(playwright, tmp_path / "chromium-profile")
        try:
            page: Any = context.new_page()
            page.set_default_timeout(30_000)
            page.goto(f"{url}/#/experiments/{ids['experiment_id']}/runs")
            expect(page.get_by_text(RUN_NAME, exact=True).first).to_be_visible()
            page.goto(f"{url}/#/models")
            expect(page.get_by_text(MODEL, exact=True).first).to_be_visible()
            page.goto(f"{url}/#/models/{MODEL}")
            expect(page.get_by_text("champion").first).to_be_visible()
            artifacts = Path(REPO_ROOT / "tests" / "artifacts")
            artifacts.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(artifacts / "mlflow-registered-model.png"), full_page=True)
        finally:
            context.close()
        # The artifact the run logged is served from the project-style local artifact folder.
        with urllib.request.urlopen(
            f"{url}/get-artifact?path=report.md&run_uuid={ids['run_id']}", timeout=10
        ) as response:
            assert response.read().decode() == "# metrics\n"
    assert (mlflow_dir / "artifacts" / EXPERIMENT / ids["run_id"] / "artifacts" / "report.md").exists()
