"""Fixtures of the hostile-server tests, and the matrix printed at the end of the run.

Each matrix test records what smtpsh said (``record_property("said", ...)``); the
terminal summary prints one row per behaviour with the piped and the shell verdicts and
a pass count, whatever ``-s``/``-q`` say.
"""

from __future__ import annotations

import ssl
from collections.abc import Callable
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

# The second matrix: hostile input that is not a server's reply (a transcript, a file on
# disk, a config, a word list, a regex) and the server replies that only some front-ends
# meet. A test joins it with the ``hostile_row`` fixture: (row, front-end) -> passed.
INPUT_FRONT_ENDS = ("shell", "piped", "send", "replay", "probe", "enum", "relay", "tls", "dns",
                    "report",
                    "files")
INPUT_ROWS: dict[tuple[str, str], list[bool]] = {}


@pytest.fixture
def hostile_row(record_property: Callable[[str, object], None]) -> Callable[[str, str], None]:
    """Call with (row, front-end): the test's outcome is that cell of the input matrix."""

    def join(row: str, front_end: str) -> None:
        assert front_end in INPUT_FRONT_ENDS, front_end
        record_property("input_row", row)
        record_property("front_end", front_end)

    return join


@dataclass(frozen=True)
class HostileCA:
    cafile: Path
    server: ssl.SSLContext  # for the scripted servers' side of STARTTLS
    wants_client_cert: ssl.SSLContext  # the same, requiring a client certificate (TLS 1.3)


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> HostileCA:
    # Names with terminal controls: a certificate is as much the server's words as a reply.
    ca = trustme.CA(organization_name="hostile CA \x1b[2J\x1b]0;pwned\x07")
    cert = ca.issue_cert("127.0.0.1", "localhost", organization_name="hostile \x1b[31m\rred")
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(server)
    wants = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    cert.configure_cert(wants)
    ca.configure_trust(wants)
    wants.verify_mode = ssl.CERT_REQUIRED
    wants.minimum_version = ssl.TLSVersion.TLSv1_3
    cafile = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(cafile))
    return HostileCA(cafile, server, wants)


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _input_row(report)
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


def _input_row(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "input_row" not in props or report.when not in ("setup", "call"):
        return
    if report.when == "setup" and report.passed:
        return
    key = (str(props["input_row"]), str(props["front_end"]))
    INPUT_ROWS.setdefault(key, []).append(report.passed)


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "")) if crash is not None else ""
    return message.splitlines()[0] if message else ""


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    _input_summary(terminalreporter)
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


def _input_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not INPUT_ROWS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("hostile-input matrix")
    rows = list(dict.fromkeys(row for row, _ in INPUT_ROWS))
    used = [f for f in INPUT_FRONT_ENDS if any(f == fe for _, fe in INPUT_ROWS)]
    width = max(len(row) for row in rows)
    write(f"{'hostile input':<{width}}  " + "".join(f"{f:<9}" for f in used))
    for row in rows:
        cells = []
        for front_end in used:
            runs = INPUT_ROWS.get((row, front_end))
            cells.append("-" if runs is None else "PASS" if all(runs) else "FAIL")
        write(f"{row:<{width}}  " + "".join(f"{c:<9}" for c in cells))
    passed = sum(all(runs) for runs in INPUT_ROWS.values())
    write(f"{passed}/{len(INPUT_ROWS)} cells passed ({len(rows)} hostile inputs)")
