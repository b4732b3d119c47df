"""Exim as it ships: no acl_smtp_vrfy and no acl_smtp_expn, so VRFY and EXPN are refused
for every name ('252 Administrative prohibition', '550 Administrative prohibition') and not
listed in EHLO. The interop Exim allows both (to test enumeration); this is the same Exim
binary and configuration without those two lines, one `exim4 -bs` a connection, as
scripts/setup-interop runs it, on a free port for the length of the test.

The shell glossed the EXPN refusal '550 mailbox unavailable' (as if postmaster had no
mailbox) and the VRFY one 'cannot verify user, but will accept and attempt delivery', and
predicted 502 for EXPN; the probe called VRFY 'answers, but gives a real-looking name
the same answer' and EXPN 'inconclusive'.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.ports import pick_free_port
from tests.interop.conftest import server_fixture
from tests.interop.servers import FACTS_FILE, Server

POLICY = "refused by the server's policy: not an answer about the user"


def _exim_stock(tmp_path: Path) -> tuple[Path, Server]:
    """A session script running the interop Exim with its configuration minus the two
    ACLs that allow VRFY and EXPN."""
    exim = server_fixture("exim")
    run_dir = Path(json.loads(FACTS_FILE.read_text(encoding="utf-8"))["exim_log"]).parents[1]
    session = (run_dir / "session.sh").read_text(encoding="utf-8")
    libs = re.search(r'LD_LIBRARY_PATH="([^"]+)"', session)
    binary = re.search(r'exec "([^"]+)"', session)
    assert libs and binary, session
    conf = tmp_path / "exim-stock.conf"
    conf.write_text("".join(
        line for line in (run_dir / "exim.conf").read_text(encoding="utf-8")
        .splitlines(keepends=True)
        if not line.startswith(("acl_smtp_vrfy", "acl_smtp_expn"))
    ), encoding="utf-8")
    conf.chmod(0o644)
    script = tmp_path / "session.sh"
    script.write_text(
        f'#!/bin/sh\nexport LD_LIBRARY_PATH="{libs.group(1)}"\n'
        f'exec "{binary.group(1)}" -C "{conf}" -bs -oMa "${{SOCAT_PEERADDR:-127.0.0.1}}.'
        '${SOCAT_PEERPORT:-1}" -oMi 127.0.0.1.25\n', encoding="utf-8")
    script.chmod(0o755)
    return script, exim


@pytest.fixture
def stock_exim(tmp_path: Path) -> Iterator[tuple[str, Server]]:
    """HOST:PORT of the stock-policy Exim under socat, and the interop Exim's facts."""
    script, exim = _exim_stock(tmp_path)
    port = pick_free_port()
    socat = subprocess.Popen(
        ["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
         f"EXEC:{script},nofork"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(0.05)
        yield f"127.0.0.1:{port}", exim
    finally:
        socat.terminate()
        socat.wait(timeout=10)


def _gloss_of(lines: list[str], reply: str) -> str:
    at = next(i for i, line in enumerate(lines) if line.startswith(f"S: {reply}"))
    return lines[at + 1]


def test_a_stock_exim_s_vrfy_and_expn_refusals_are_said_as_refusals(
    stock_exim: tuple[str, Server],
) -> None:
    target, exim = stock_exim
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", target],
        input=f"EHLO me\nVRFY alice@{exim.domain}\nEXPN postmaster\nQUIT\n",
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    assert _gloss_of(lines, "252 Administrative prohibition") == f"  ↳ 252 {POLICY}", out
    assert _gloss_of(lines, "550 Administrative prohibition") == f"  ↳ 550 {POLICY}", out
    assert "mailbox unavailable" not in out and "will accept" not in out, out
    # EXPN, not listed in EHLO, is predicted as Exim refuses it, not as '502'.
    expected = [line for line in lines if line.startswith("! expect ")]
    assert [line.split(":", 1)[0] for line in expected] == [
        "! expect 550 Administrative prohibition"], out


def test_the_interop_exim_that_allows_them_gets_no_such_prediction() -> None:
    exim = server_fixture("exim")
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", exim.target],
        input=f"EHLO me\nVRFY alice@{exim.domain}\nEXPN postmaster\nQUIT\n",
        capture_output=True, text=True, timeout=60,
    ).stdout  # fmt: skip
    assert "Administrative prohibition" not in out and "! expect" not in out, out
    assert "S: 250 <alice@mx.exim.test>" in out, out  # EXPN postmaster: its alias


def test_probe_says_a_stock_exim_refuses_vrfy_and_expn_by_policy(
    stock_exim: tuple[str, Server],
) -> None:
    target, exim = stock_exim
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", target, "--no-relay", "--json",
         "--cafile", str(exim.ca_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads(proc.stdout)["result"]
    assert result["vrfy"]["state"] == "prohibited", result["vrfy"]
    assert result["expn"]["state"] == "prohibited", result["expn"]
    assert not {"vrfy", "expn"} & {f["key"] for f in result["findings"]}
    text = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", target, "--no-relay", "--cafile",
         str(exim.ca_file)],
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    said = "refused by the server's policy, for every name (says nothing about users)"
    assert re.search(rf"^VRFY +{re.escape(said)}$", text, re.MULTILINE), text
    assert re.search(rf"^EXPN +{re.escape(said)}$", text, re.MULTILINE), text
