"""Fixtures for the sandbox tests: the server runs in a background event loop, and the tests
drive it with the standard library's smtplib, a client that knows nothing about smtpsh."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sandbox_loop import LoopThread

from smtpsh.sandbox import Sandbox


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.close()


@pytest.fixture
def sandbox(loop_thread: LoopThread) -> Iterator[Sandbox]:
    sb = loop_thread.run(Sandbox.start(host="127.0.0.1", port=0, tls=True))
    yield sb
    loop_thread.run(sb.stop())
