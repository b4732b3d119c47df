"""probe's text report reads the HELP reply as the answer to HELP, as the shell does."""

from __future__ import annotations

from smtpsh.audit.probe import ProbeReport
from smtpsh.audit.report import render_text
from smtpsh.protocol.replies import Reply


def help_gloss(help_reply: Reply) -> str:
    report = ProbeReport("127.0.0.1", 25, banner=Reply(220, ("mx.test ESMTP",)), esmtp=True,
                         help=help_reply)
    lines = ["".join(text for _, text in line) for line in render_text(report)]
    start = lines.index("HELP")
    return lines[start + 1 + len(help_reply.lines)].strip()


def test_harakas_250_not_implemented_is_not_called_completed() -> None:
    # Haraka answers HELP `250 Not implemented`; probe glossed it "250 requested action
    # completed", the opposite of its text.
    gloss = help_gloss(Reply(250, ("Not implemented",)))
    assert gloss == "↳ 250 a success code, but the text says HELP is not implemented: no help" \
        " text here"


def test_aiosmtpd_s_help_under_250_is_help_text() -> None:
    gloss = help_gloss(Reply(250, ("Supported commands: AUTH DATA EHLO HELO HELP MAIL",)))
    assert gloss == "↳ 250 help text, under 250 (RFC 5321 gives HELP 211 or 214)"
