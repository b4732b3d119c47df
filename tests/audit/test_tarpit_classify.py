"""The error budget (sans-IO) and how enumeration reads a reply against the canary's."""

from __future__ import annotations

import pytest

from smtpsh.audit.enum import Verdict, classify
from smtpsh.audit.tarpit import DEFAULT_ERRORS_PER_CONNECTION, ErrorBudget
from smtpsh.protocol.replies import ReplyParser


def reply(text: str):  # type: ignore[no-untyped-def]
    parser = ReplyParser()
    parser.feed(text.encode() + b"\r\n")
    result = parser.next_reply()
    assert result is not None
    return result


def test_budget_starts_at_postfix_soft_limit_and_stays_while_fast() -> None:
    budget = ErrorBudget()
    assert budget.limit == DEFAULT_ERRORS_PER_CONNECTION == 10
    for errors in range(10):
        assert budget.observe(0.001, errors) is False
    assert budget.limit == 10 and budget.tarpit_seen == 0
    assert not budget.exhausted(9) and budget.exhausted(10)


def test_the_assumed_budget_names_the_limit_of_the_family_it_is_said_of() -> None:
    # "assumed: stock Postfix's smtpd_soft_error_limit" was said of Exim too.
    generic = ErrorBudget()
    assert "Postfix's smtpd_soft_error_limit" in generic.source
    assert generic.source.startswith("assumed 10 errors a connection: a common default")
    exim = ErrorBudget()
    exim.assume_for("Exim")
    assert "smtp_accept_max_nonmail (10)" in exim.source
    assert "smtp_max_synprot_errors (3)" in exim.source
    assert "smtpd_soft_error_limit" not in exim.source and exim.limit == 10
    postfix = ErrorBudget()
    postfix.assume_for("Postfix")
    assert postfix.source.startswith("assumed: Postfix's stock smtpd_soft_error_limit")
    for family in ("Haraka", None):  # no documented limit, or not known: the generic line
        other = ErrorBudget()
        other.assume_for(family)
        assert other.source == generic.source
    # What was given or learnt is not overwritten by an assumption.
    given = ErrorBudget.given(5)
    given.assume_for("Exim")
    assert given.source == "given with --errors-per-connection"
    learnt = ErrorBudget()
    learnt.on_lost(4, "said 421")
    learnt.assume_for("Exim")
    assert "421" in learnt.source


def test_slow_reply_after_errors_lowers_the_budget() -> None:
    budget = ErrorBudget()
    for errors in range(3):
        budget.observe(0.002, errors)
    assert budget.observe(1.0, 3) is True  # the tarpit bit after 3 errors
    assert budget.limit == 3
    assert "slowed down after 3 errors" in budget.source
    # A later, higher observation never raises it again.
    budget.observe(1.0, 5)
    assert budget.limit == 3


def test_slow_reply_with_a_clean_record_is_not_a_tarpit() -> None:
    budget = ErrorBudget()
    budget.observe(0.001, 0)
    assert budget.observe(2.0, 0) is False
    assert budget.limit == 10 and budget.slow_replies == 1


def test_slowness_is_relative_to_the_usual_latency() -> None:
    budget = ErrorBudget()
    for _ in range(20):
        budget.observe(0.2, 0)  # a distant server: 200 ms is normal
    assert not budget.is_slow(0.5)
    assert budget.is_slow(5.0)


def test_hang_up_after_errors_lowers_the_budget() -> None:
    budget = ErrorBudget()
    budget.on_lost(4, "said 421")
    assert budget.limit == 4 and "421" in budget.source
    budget.on_lost(0, "hung up")  # no errors before: says nothing about a limit
    assert budget.limit == 4


def test_given_budget_is_never_changed() -> None:
    budget = ErrorBudget.given(25)
    budget.observe(0.001, 0)
    assert budget.observe(1.5, 12) is True  # still told: abandon this connection
    budget.on_lost(3, "hung up")
    assert budget.limit == 25 and "given" in budget.source


UNKNOWN_550 = "550 5.1.1 <zzq>: Recipient address rejected: User unknown"


@pytest.mark.parametrize(
    ("answer", "canary", "verdict"),
    [
        # Postfix VRFY: 252 for a real user, 550 for an unknown one.
        ("252 2.0.0 robin", UNKNOWN_550, Verdict.FOUND),
        ("550 5.1.1 <bob>: Recipient address rejected: User unknown", UNKNOWN_550,
         Verdict.ABSENT),
        ("250 2.1.5 Ok", UNKNOWN_550, Verdict.FOUND),
        # Catch-all: the same positive code as the impossible name tells nothing.
        ("252 2.0.0 robin", "252 2.0.0 zzq", Verdict.LIKE_CANARY),
        ("250 2.1.5 Ok", "250 2.1.5 Ok", Verdict.LIKE_CANARY),
        # ... but a different positive code does.
        ("250 2.1.5 Robin Hood <robin@x>", "252 2.0.0 zzq", Verdict.FOUND),
        ("550 5.2.1 <carol>: mailbox disabled", UNKNOWN_550, Verdict.OTHER),
        ("501 5.1.3 Bad recipient address syntax", UNKNOWN_550, Verdict.INVALID),
        # Not definite: ask again, never "absent".
        ("421 4.7.0 too many errors", UNKNOWN_550, None),
        ("450 4.2.0 try later", UNKNOWN_550, None),
        ("452 4.5.3 too many recipients", UNKNOWN_550, None),
    ],
)
def test_classify(answer: str, canary: str, verdict: Verdict | None) -> None:
    assert classify(reply(answer), reply(canary)) is verdict
