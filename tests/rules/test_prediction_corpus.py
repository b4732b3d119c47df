"""Prediction accuracy as a figure: the corpus replayed against real servers.

Goals (issue 22): no false alarm on any server, and at least 95 % of Postfix's refusals
predicted before sending. The confusion counts are printed at the end of the run
(tests/rules/conftest.py). The servers: the project's Postfix, and each server of the
interop matrix (tests/interop, scripts/setup-interop)."""

from __future__ import annotations

import os
import smtplib
import ssl
from typing import TYPE_CHECKING

import pytest

from tests.interop.servers import Server, available
from tests.rules.corpus import CONTEXTS, TALLIES, CorpusServer, load_corpus, run_corpus

if TYPE_CHECKING:
    from tests.conftest import PostfixEnv

CORPUS = load_corpus()


def test_the_corpus_covers_every_verb_and_parameter_in_every_context() -> None:
    from smtpsh.protocol.commands import COMMANDS, PARAMETERS

    assert len(CORPUS) >= 150
    assert {case.context for case in CORPUS} == set(CONTEXTS)
    typed = " ".join(case.command.upper() for case in CORPUS)
    for verb in COMMANDS:
        assert verb in typed, verb
    for param in PARAMETERS:
        assert f" {param.keyword}" in typed, param.keyword
    assert sum(case.legal for case in CORPUS) >= 50  # valid ones too, not only mistakes


def postfix_server(postfix: PostfixEnv) -> CorpusServer:
    return CorpusServer(
        "postfix",
        postfix.host,
        postfix.port("smtp"),
        domain=postfix.domain,
        user=postfix.users[0],
        tls=postfix.tls_context(),
        tls_name=postfix.hostname,
    )


def test_predictions_on_postfix(postfix: PostfixEnv) -> None:
    tally = run_corpus(postfix_server(postfix), CORPUS)
    TALLIES.append(tally)
    # This listener offers no AUTH (the SASL listeners are tests/backends' business).
    assert {case.context for case, _ in tally.skipped} <= {"auth"}, tally.skipped
    assert tally.false_alarms() == []
    assert tally.recall >= 0.95, [o.line for o in tally.misses()]


# The servers of the interop matrix, from their facts (tests/interop/servers.py). Left out:
# aiosmtpd_tls (aiosmtpd again, with STARTTLS demanded first) and postfix_plain (Postfix
# again): they add no software to the figures.
INTEROP = ("exim", "opensmtpd", "haraka", "nodemailer", "aiosmtpd")


def interop_server(name: str) -> CorpusServer:
    """The named interop server as a corpus profile. Missing or down: fails under CI=true
    (as the interop matrix does), else skips."""
    server, reason = available(name)
    if server is None:
        if os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}:
            pytest.fail(f"interop server unavailable: {reason}", pytrace=False)
        pytest.skip(f"interop server unavailable ({reason}); run scripts/setup-test-env")
    context = ssl.create_default_context(cafile=str(server.ca_file))
    return CorpusServer(
        name,
        server.host,
        server.port,
        domain=server.domain,
        user=(server.users or ("alice",))[0],  # Haraka takes any local part
        sender=f"tester@{server.domain}",
        tls=context,
        tls_name=server.host,  # the test certificate names 127.0.0.1
        tls_problem=_tls_problem(server, context),
        auth_user=server.auth_user,
        auth_password=server.auth_password,
    )


def _tls_problem(server: Server, context: ssl.SSLContext) -> str:
    """Why STARTTLS does not complete with the server ("" when it does)."""
    try:
        with smtplib.SMTP(server.host, server.port, timeout=10) as client:
            client.starttls(context=context)
            client.ehlo("client.test")
    except (OSError, smtplib.SMTPException) as exc:
        return f"STARTTLS does not complete: {type(exc).__name__}: {exc}"
    return ""


@pytest.mark.parametrize("name", INTEROP)
def test_predictions_on_the_interop_servers(name: str) -> None:
    profile = interop_server(name)
    tally = run_corpus(profile, CORPUS)
    TALLIES.append(tally)
    # Only TLS and AUTH may be left out, and only where they cannot be set up.
    assert {case.context for case, _ in tally.skipped} <= {"tls", "auth"}, tally.skipped
    assert profile.tls_problem or all(c.context == "auth" for c, _ in tally.skipped)
    assert tally.false_alarms() == []
