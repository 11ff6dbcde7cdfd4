"""Driving the real Dagster UI: ``dagster dev`` in its own process group, its GraphQL endpoint, and
headless Debian Chromium through Playwright.

Kept apart from the test module so that other end-to-end tests (and the ``make asset-graph`` export)
start the UI the same way. Nothing here is mocked: it is the webserver, daemon and code server a
person gets from ``make ui``, on a free loopback port with a throw-away instance and storage root.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path(os.environ.get("SAP_LLM_CHROMIUM", "/usr/bin/chromium"))

# The sandbox and GPU are unavailable in containers and CI; everything else keeps Chromium from
# reaching the network (only loopback exists here) and from stalling on first-run work.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it, so parallel runs do not clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def restore_sigint() -> None:
    """``dagster dev`` shuts down on KeyboardInterrupt; a background child inherits SIGINT ignored,
    and then SIGTERM (which dagster turns into an interrupt) is ignored too. Reset it in the child."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def group_alive(pgid: int) -> list[int]:
    """Pids still in a process group that are not zombies (zombies hold no resources)."""
    alive = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
        except OSError:
            continue
        # Fields after the command name in parentheses: state ppid pgrp ...
        after = stat.rsplit(")", 1)[1].split()
        if int(after[2]) == pgid and after[0] != "Z":
            alive.append(int(proc.name))
    return alive


@dataclass
class DagsterDev:
    """A running ``dagster dev``: webserver, daemon and code server, all in one process group."""

    port: int
    dagster_home: Path
    storage_root: Path
    log_path: Path
    workspace: Path = REPO_ROOT / "workspace.yaml"
    process: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 120.0) -> None:
        self.dagster_home.mkdir(parents=True, exist_ok=True)
        self.storage_root.mkdir(parents=True, exist_ok=True)
        # The project's instance settings: telemetry and the start-up "nux" pop-up off, queued runs.
        (self.dagster_home / "dagster.yaml").write_text(
            (REPO_ROOT / "orchestration" / "dagster.yaml").read_text()
        )
        env = {
            **os.environ,
            "DAGSTER_HOME": str(self.dagster_home),
            "SAP_LLM_STORAGE__ROOT": str(self.storage_root),
            "PYTHONPATH": str(REPO_ROOT),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            **self.extra_env,
        }
        dagster = Path(sys.executable).with_name("dagster")
        cmd = [str(dagster), "dev", "-h", "127.0.0.1", "-p", str(self.port), "-w", str(self.workspace)]
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            cmd,
            cwd=REPO_ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=restore_sigint,  # see restore_sigint
            start_new_session=True,
        )
        log.close()
        self._wait_until_ready(timeout_s)

    def _wait_until_ready(self, timeout_s: float) -> None:
        """Ready means the webserver answers and the code location has loaded without error."""
        deadline = time.monotonic() + timeout_s
        last_error = ""
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"dagster dev exited early:\n{self.log_tail()}")
            try:
                data = self.graphql(
                    "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus "
                    "locationOrLoadError { __typename ... on PythonError { message } } } } } }"
                )
                entries = data["workspaceOrError"]["locationEntries"]
                if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                    errors = [
                        e["locationOrLoadError"]
                        for e in entries
                        if e["locationOrLoadError"]["__typename"] == "PythonError"
                    ]
                    if errors:
                        raise RuntimeError(f"code location failed to load: {errors}")
                    return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                last_error = str(exc)
            time.sleep(0.5)
        raise TimeoutError(f"dagster dev not ready after {timeout_s}s ({last_error}):\n{self.log_tail()}")

    def graphql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST to /graphql, the endpoint the UI itself talks to; raise on GraphQL errors."""
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(
            f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            payload = json.load(response)
        if payload.get("errors"):
            raise RuntimeError(f"GraphQL errors: {payload['errors']}")
        return payload["data"]

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:] if self.log_path.exists() else ""

    def stop(self, timeout_s: float = 60.0) -> list[int]:
        """SIGTERM the whole process group, wait, SIGKILL what is left; return pids that had to be
        killed. Dagster's own shutdown (daemon threads, code server) takes about ten seconds."""
        if self.process is None:
            return []
        pgid = self.process.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        forced: list[int] = []
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            forced.append(pgid)
        deadline = time.monotonic() + 15
        while group_alive(pgid) and time.monotonic() < deadline:
            time.sleep(0.5)
        leftovers = group_alive(pgid)
        if leftovers or forced:
            forced.extend(leftovers)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=10)
        return forced


@contextlib.contextmanager
def dagster_dev(workdir: Path, workspace: Path | None = None) -> Iterator[DagsterDev]:
    """Start ``dagster dev`` with a fresh instance and storage root under ``workdir``; always stop it."""
    server = DagsterDev(
        port=free_port(),
        dagster_home=workdir / "dagster_home",
        storage_root=workdir / "data",
        log_path=workdir / "dagster-dev.log",
        workspace=workspace or REPO_ROOT / "workspace.yaml",
    )
    try:
        server.start()
        yield server
    finally:
        server.stop()


def launch_chromium(playwright: Any, user_data_dir: Path, width: int = 1600, height: int = 1000) -> Any:
    """Headless Debian Chromium with a fresh profile; Playwright drives it over its own pipe."""
    if not CHROMIUM.exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: run `make browser-deps` (apt-get install chromium)")
    return playwright.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=str(CHROMIUM),
        headless=True,
        args=CHROMIUM_ARGS,
        viewport={"width": width, "height": height},
    )
