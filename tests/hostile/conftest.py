"""Fixtures of the hostile-server tests, and the matrix printed at the end of the run.

Each matrix test records what smtpsh said (``record_property("said", ...)``); the
terminal summary prints one row per behaviour with the piped and the shell verdicts and
a pass count, whatever ``-s``/``-q`` say.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trustme

MATRIX_TEST = "tests/hostile/test_matrix.py::test_hostile["


@dataclass
class Cell:
    passed: bool
    seconds: float
    said: str
    peak_kib: int  # the client's peak resident memory (0: not measured)


@dataclass
class Matrix:
    summaries: dict[str, str] = field(default_factory=dict)  # behaviour -> what it does
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)  # (behaviour, mode)


MATRIX = Matrix()


@dataclass(frozen=True)
class HostileCA:
    cafile: Path
    server: ssl.SSLContext  # for the scripted servers' side of STARTTLS


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> HostileCA:
    # Names with terminal controls: a certificate is as much the server's words as a reply.
    ca = trustme.CA(organization_name="hostile CA \x1b[2J\x1b]0;pwned\x07")
    cert = ca.issue_cert("127.0.0.1", "localhost", organization_name="hostile \x1b[31m\rred")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(server)
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return HostileCA(cafile, server)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(MATRIX_TEST) or report.when not in ("setup", "call"):
        return
    if report.when == "setup" and report.passed:
        return  # the verdict comes with the call
    params = report.nodeid[len(MATRIX_TEST) : -1]
    name, _, mode = params.rpartition("-")
    props = dict(report.user_properties)
    MATRIX.summaries.setdefault(name, str(props.get("summary", name)))
    MATRIX.cells[name, mode] = Cell(
        report.passed,
        float(str(props.get("seconds", report.duration))),
        str(props.get("said", _crash_message(report))),
        int(str(props.get("peak_kib", 0))),
    )


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "")) if crash is not None else ""
    return message.splitlines()[0] if message else ""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MATRIX.cells:
        return
    write = terminalreporter.write_line
    modes = ("piped", "shell")
    passed = sum(cell.passed for cell in MATRIX.cells.values())
    terminalreporter.section("hostile-server matrix")
    width = max(len(s) for s in MATRIX.summaries.values())
    write(f"{'behaviour':<{width}}  {'piped':<18}{'shell':<18}what smtpsh said (piped)")
    for name, summary in MATRIX.summaries.items():
        verdicts = []
        for mode in modes:
            cell = MATRIX.cells.get((name, mode))
            verdicts.append(
                "-"
                if cell is None
                else f"{'PASS' if cell.passed else 'FAIL'} {cell.seconds:4.1f}s"
                + (f" {cell.peak_kib / 1024:3.0f}M" if cell.peak_kib else "")
            )
        piped = MATRIX.cells.get((name, "piped"))
        said = piped.said if piped is not None else ""
        write(f"{summary:<{width}}  {verdicts[0]:<18}{verdicts[1]:<18}{said[:60]}")
    write("(seconds to the verdict, peak resident memory of the client)")
    write(
        f"{passed}/{len(MATRIX.cells)} runs passed"
        f" ({len(MATRIX.summaries)} hostile behaviours; front-ends: piped, shell)"
    )
