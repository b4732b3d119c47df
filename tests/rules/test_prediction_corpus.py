"""Prediction accuracy as a figure: the corpus replayed against real servers.

Goals (issue 22): no false alarm on any server, and at least 95 % of Postfix's refusals
predicted before sending. The confusion counts are printed at the end of the run
(tests/rules/conftest.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    assert not tally.skipped, tally.skipped
    assert tally.false_alarms() == []
    assert tally.recall >= 0.95, [o.line for o in tally.misses()]
