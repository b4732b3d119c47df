"""The toolbar's warning while a line is typed (rules.predict_typed): in this server's
terms, and a typo named as soon as the verb is complete."""

from __future__ import annotations

from smtpsh.protocol.rules import predict_line, predict_typed
from smtpsh.protocol.session import Session, State


def exim_ready() -> Session:
    session = Session(State.READY, esmtp=True)
    session.extensions = {"SIZE": "52428800", "PIPELINING": "", "CHUNKING": "", "HELP": ""}
    return session


def test_no_enhanced_code_the_server_never_sends() -> None:
    # Exim offers no ENHANCEDSTATUSCODES: the toolbar said '503 5.5.1' while the warning
    # shown on Enter (and Exim's reply) had none.
    prediction = predict_typed(exim_ready(), "RCPT TO:<alice@exim.test>")
    assert prediction is not None and prediction.reply.startswith("503 need MAIL")
    assert predict_line(exim_ready(), "RCPT TO:<alice@exim.test>")[0].reply == prediction.reply
    postfix = exim_ready()
    postfix.extensions["ENHANCEDSTATUSCODES"] = ""
    typed = predict_typed(postfix, "RCPT TO:<alice@exim.test>")
    assert typed is not None and typed.reply.startswith("503 5.5.1")


def test_a_typo_is_named_once_the_verb_is_complete() -> None:
    session = exim_ready()
    assert predict_typed(session, "MIA") is None  # still typing: no warning
    assert predict_typed(session, "MIAL") is None
    typed = predict_typed(session, "MIAL ")
    assert typed is not None and typed.reply == "500 command not recognized"
    assert typed.reason.startswith("did you mean MAIL? MIAL is no SMTP command")
    assert predict_line(session, "MIAL FROM:<a@b.test>")[0].reason == typed.reason
    nothing_close = predict_typed(session, "XYZZY now")
    assert nothing_close is not None and "did you mean" not in nothing_close.reason
    # LHLO is no guess for an SMTP server; it is for an LMTP one.
    assert "LHLO" not in (predict_typed(session, "HLEO x") or nothing_close).reason
    lmtp = Session(State.GREETED, lmtp=True)
    assert "LHLO" in (predict_typed(lmtp, "HLEO x") or nothing_close).reason


def test_an_advertised_verb_is_not_unknown() -> None:
    session = exim_ready()
    session.extensions["XYZZY"] = ""
    assert predict_typed(session, "XYZZY now") is None
    assert predict_typed(session, "MAIL FROM:<a@exim.test>") is None
