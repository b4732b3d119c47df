"""`smtpsh relay` stops at RCPT: a server that accepts the recipient and refuses at DATA
(anti-relay checks some servers run there) is reported as relaying, so the verdict says so.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable

from tests.audit.fakesmtp import Policy, running

ENV = {**os.environ, "NO_COLOR": "1"}


def test_an_open_relay_verdict_says_data_was_never_sent(
    hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("server: accepts RCPT, would refuse at DATA", "relay")
    with running(Policy(relay=True)) as server:
        text = subprocess.run(
            [sys.executable, "-m", "smtpsh", "relay", f"127.0.0.1:{server.port}"],
            capture_output=True, text=True, timeout=60, env=ENV,
        )
        as_json = subprocess.run(
            [sys.executable, "-m", "smtpsh", "relay", f"127.0.0.1:{server.port}", "--json"],
            capture_output=True, text=True, timeout=60, env=ENV,
        )
        commands = list(server.commands)
    lines = text.stdout.splitlines()
    verdict = lines.index("open relay (6/16 tests)")
    assert lines[verdict + 1].startswith("caveat: an accepted RCPT is not a delivered message;")
    assert "DATA is never sent" in lines[verdict + 1]
    assert json.loads(as_json.stdout)["result"]["caveat"].startswith("caveat: an accepted RCPT")
    assert not any(c.upper().startswith("DATA") for c in commands)


def test_a_refused_relay_has_no_caveat(hostile_row: Callable[[str, str], None]) -> None:
    hostile_row("server: accepts RCPT, would refuse at DATA", "relay")
    with running(Policy()) as server:
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", "relay", f"127.0.0.1:{server.port}", "--json"],
            capture_output=True, text=True, timeout=60, env=ENV,
        )
    data = json.loads(result.stdout)["result"]  # inside the versioned envelope
    assert data["verdict"] != "open" and data["caveat"] is None
