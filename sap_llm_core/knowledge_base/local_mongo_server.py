"""The embedded MongoDB default: an ``nx-27017`` MongoDB-wire-protocol server (MIT, on SQLite),
started on demand as a child process and reached with plain pymongo.

No real ``mongod`` can be installed everywhere the project runs (CI, laptops, this sandbox); nx-27017
speaks the wire protocol pymongo needs (CRUD, bulk writes, unique indexes), so the same store code
runs against it and against a production MongoDB named by ``MONGO_URI``.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import time
from pathlib import Path

import pymongo
from pymongo.errors import PyMongoError

_LAUNCH = "import sys; from nx_27017.nx_27017 import main; sys.argv[0] = 'nx-27017'; sys.exit(main())"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalMongoServer:
    """One nx-27017 process on 127.0.0.1 with its SQLite file under ``data_dir``.

    Use as a context manager, or ``start()``/``stop()``. ``uri`` is what pymongo connects to.
    """

    def __init__(self, data_dir: str | Path, port: int | None = None, startup_timeout_s: float = 30.0):
        self.data_dir = Path(data_dir)
        self.port = port or free_port()
        self.startup_timeout_s = startup_timeout_s
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def db_file(self) -> Path:
        return self.data_dir / "knowledge_base.nx.db"

    @property
    def uri(self) -> str:
        return f"mongodb://127.0.0.1:{self.port}/?directConnection=true"

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> LocalMongoServer:
        if self.is_running():
            return self
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir / "nx-27017.log"
        cmd = [
            sys.executable,
            "-c",
            _LAUNCH,
            "--host",
            "127.0.0.1",
            "-p",
            str(self.port),
            "--db",
            str(self.db_file),
            "--log-file",
            str(log),
            "--pid-file",
            str(self.data_dir / f"nx-27017-{self.port}.pid"),
        ]
        self.process = subprocess.Popen(
            cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True
        )
        deadline = time.monotonic() + self.startup_timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise RuntimeError(f"nx-27017 exited with code {self.process.returncode}: {err[-2000:]}")
            try:
                with pymongo.MongoClient(self.uri, serverSelectionTimeoutMS=300) as client:
                    client.admin.command("ping")
                return self
            except PyMongoError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"nx-27017 did not answer on port {self.port} within {self.startup_timeout_s}s")

    def stop(self, kill: bool = False) -> None:
        """Stop the server; ``kill=True`` sends SIGKILL (tests simulate a crash with it)."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process.stderr:
            with contextlib.suppress(OSError):
                self.process.stderr.close()
        self.process = None

    def __enter__(self) -> LocalMongoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
