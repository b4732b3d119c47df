"""A message line that cannot be sent refuses the whole message: a piped DATA with a NUL
line must not deliver the message without that line. DATA cannot be taken back once lines
went out (no RSET inside DATA), so smtpsh closes the connection instead of sending the
final '.', the server discards the unfinished message, and the run exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.run import run_piped
from tests.helpers.scripted_server import scripted_server
from tests.hostile.drivers import assert_no_traceback
from tests.hostile.servers import serve

SCRIPT = (
    "EHLO me.test\nMAIL FROM:<a@me.test>\nRCPT TO:<b@hostile.test>\nDATA\n"
    "Subject: half\n\nbefore\nbad\0line\nafter\n.\n"
)


@pytest.mark.parametrize("extra", [[], ["--record", "s.smtpt"]], ids=["blocking", "asyncio"])
def test_a_nul_line_refuses_the_whole_message(
    tmp_path: Path, hostile_row: Callable[[str, str], None], extra: list[str]
) -> None:
    hostile_row("piped DATA: a line with a NUL byte", "piped")
    received: list[bytes] = []
    args = [a if a != "s.smtpt" else str(tmp_path / a) for a in extra]
    with scripted_server(serve({}, received=received)) as port:
        result = run_piped([*args, f"127.0.0.1:{port}"], SCRIPT + "NOOP\nQUIT\n", tmp_path)
    out = result.stdout + result.stderr
    assert_no_traceback(out)
    assert "the whole message is refused" in out, out
    assert result.returncode != 0, out
    lines = [line.rstrip(b"\r\n") for line in received]
    assert b"." not in lines, lines  # never ended: nothing delivered
    assert b"after" not in lines and b"NOOP" not in lines, lines
