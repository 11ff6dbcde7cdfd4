"""The launcher's Pipes reader parses a message only once its whole line has been written."""

from __future__ import annotations

import time
from threading import Event, Thread

from orchestration.launchers.pipes_reader import WholeLineFileMessageReader


class _Handler:
    def __init__(self) -> None:
        self.messages: list[dict] = []
        self.errors: list[tuple] = []

    def handle_message(self, message: dict) -> None:
        self.messages.append(message)

    def report_pipes_framework_exception(self, *args: object) -> None:
        self.errors.append(args)


def test_a_line_read_mid_write_is_kept_until_its_newline(tmp_path):
    path = tmp_path / "messages"
    path.write_text("")
    handler, done = _Handler(), Event()
    thread = Thread(target=WholeLineFileMessageReader(str(path))._reader_thread, args=(handler, done))
    thread.start()
    with open(path, "a", encoding="utf-8") as stream:
        stream.write('{"method": "report_custom_message", "params": {"payload": "first half')
        stream.flush()
        time.sleep(0.2)  # the reader polls the half line now
        stream.write(' and second"}}\n{"method": "closed"}\n')
        stream.flush()
    time.sleep(0.2)
    done.set()
    thread.join(timeout=5)
    assert not handler.errors
    assert handler.messages == [
        {"method": "report_custom_message", "params": {"payload": "first half and second"}},
        {"method": "closed"},
    ]
