"""A Pipes message reader for local training subprocesses that never parses half a message.

Dagster's ``PipesFileMessageReader`` polls the message file with ``readline()`` and parses whatever it
gets; when it polls while the trainer is still writing a long line (a training result of a few KB),
it parses half a JSON object, its reader thread dies, and every later message -- the result itself --
is lost ("finished without reporting a result"). Seen here with the language decoder's result. This
reader keeps a partial line until its newline arrives.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from threading import Event
from typing import Any

import dagster as dg


class WholeLineFileMessageReader(dg.PipesFileMessageReader):
    """``PipesFileMessageReader`` that hands only complete lines (ending in a newline) to the parser."""

    def _reader_thread(self, handler: Any, is_resource_complete: Event) -> None:
        try:
            pending = ""
            with open(self._path, encoding="utf-8") as stream:
                while True:
                    chunk = stream.readline()
                    if chunk:
                        pending += chunk
                        if pending.endswith("\n"):
                            handler.handle_message(json.loads(pending))
                            pending = ""
                    elif is_resource_complete.is_set():
                        break
                    else:
                        time.sleep(0.01)
        except BaseException:
            handler.report_pipes_framework_exception(
                f"{self.__class__.__name__} reader thread", sys.exc_info()
            )
            raise


class WholeLineTempFileMessageReader(dg.PipesTempFileMessageReader):
    """``PipesTempFileMessageReader`` (a file in a temporary folder) with the whole-line reader."""

    @contextmanager
    def read_messages(self, handler: Any) -> Iterator[dict[str, Any]]:
        with tempfile.TemporaryDirectory() as folder:
            reader = WholeLineFileMessageReader(
                os.path.join(folder, "messages"), include_stdio_in_messages=self._include_stdio_in_messages
            )
            with reader.read_messages(handler) as params:
                yield params
