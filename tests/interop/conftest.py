"""Fixtures of the interop tests (real servers started by scripts/setup-interop), and the
matrix printed at the end of the run.

Each matrix test records what it saw (``record_property("said", ...)``) and, when the
feature cannot apply to that server, why (``record_property("why", ...)``); the terminal
summary prints one row a server, one column a feature, and the reasons below.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import pytest

from tests.interop.servers import Server, available

MATRIX_TEST = "tests/interop/test_matrix.py::test_interop["
# Features whose verdict is printed under the matrix, one line a server.
SAID_SHOWN = ("enum", "relay", "fingerprint", "queueid")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def server_fixture(name: str) -> Server:
    """The named interop server. Missing or down: fails under CI=true, else skips."""
    server, reason = available(name)
    if server is None:
        if _in_ci():
            pytest.fail(f"interop server unavailable: {reason}", pytrace=False)
        pytest.skip(f"interop server unavailable ({reason}); run scripts/setup-test-env")
    return server


@dataclass
class Cell:
    passed: bool
    why: str  # "" when the feature applied; else why it cannot apply
    said: str
    seconds: float


@dataclass
class Matrix:
    features: list[str] = field(default_factory=list)
    servers: list[str] = field(default_factory=list)
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)


MATRIX = Matrix()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not report.nodeid.startswith(MATRIX_TEST) or report.when not in ("setup", "call"):
        return
    if report.when == "setup" and report.passed:
        return
    server, _, feature = report.nodeid[len(MATRIX_TEST):-1].partition("-")
    props = dict(report.user_properties)
    if feature not in MATRIX.features:
        MATRIX.features.append(feature)
    if server not in MATRIX.servers:
        MATRIX.servers.append(server)
    said = str(props.get("said", "")) or _crash_message(report)
    MATRIX.cells[server, feature] = Cell(
        report.passed, str(props.get("why", "")), said, report.duration
    )


def _crash_message(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    message = str(getattr(crash, "message", "")) if crash is not None else ""
    return message.splitlines()[0] if message else ""


def _mark(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if not cell.passed:
        return "FAIL"
    return "n/a" if cell.why else "pass"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not MATRIX.cells:
        return
    write = terminalreporter.write_line
    terminalreporter.section("interop matrix (real servers)")
    widths = [max(len(f), 4) for f in MATRIX.features]
    name_width = max(len(s) for s in MATRIX.servers)
    write(" ".join([f"{'server':<{name_width}}",
                    *(f"{f:<{w}}" for f, w in zip(MATRIX.features, widths, strict=True))]))
    for server in MATRIX.servers:
        marks = [_mark(MATRIX.cells.get((server, f))) for f in MATRIX.features]
        write(" ".join([f"{server:<{name_width}}",
                        *(f"{m:<{w}}" for m, w in zip(marks, widths, strict=True))]))
    notes = [(s, f, c) for (s, f), c in MATRIX.cells.items() if c.why or not c.passed]
    if notes:
        write("")
        write("why a cell is n/a (it passed: smtpsh said so plainly) or failed:")
        for server, feature, cell in notes:
            text = cell.why if cell.passed else f"FAILED: {cell.said}"
            write(f"  {server} {feature}: {text}")
    verdicts = [(s, f, c) for (s, f), c in MATRIX.cells.items()
                if f in SAID_SHOWN and c.passed and not c.why]
    if verdicts:
        write("")
        write("what smtpsh said (verdicts):")
        for server, feature, cell in sorted(verdicts, key=lambda v: (v[1], v[0])):
            write(f"  {feature:<11} {server:<13} {cell.said[:140]}")
    passed = sum(c.passed for c in MATRIX.cells.values())
    na = sum(c.passed and bool(c.why) for c in MATRIX.cells.values())
    write(f"{passed}/{len(MATRIX.cells)} cells passed ({na} of them n/a with the reason above);"
          f" {len(MATRIX.servers)} servers x {len(MATRIX.features)} features")
