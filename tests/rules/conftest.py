"""The prediction-accuracy figures, printed at the end of the run (whatever -q says)."""

from __future__ import annotations

import pytest

from tests.rules.corpus import TALLIES, report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not TALLIES:
        return
    terminalreporter.section("prediction accuracy (tests/rules/prediction-corpus.txt)")
    for tally in TALLIES:
        for line in report(tally):
            terminalreporter.write_line(line)
    terminalreporter.write_line(
        "(predicted: smtpsh warned 'expect 4xx/5xx' before sending; a false alarm is any"
        " warning on a command the RFCs allow and the server accepted)"
    )
