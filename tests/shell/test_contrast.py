"""The note that two answers to the same verb tell users apart: said only when they do.

The replies are the real servers' (seen on the interop servers: Exim 4.96, OpenSMTPD 6.8,
Haraka 3.3, smtp-server, Postfix). Before the fix each "must not" case below printed
"the server reveals which recipients exist …; user enumeration works here".
"""

from __future__ import annotations

from smtpsh.protocol.replies import Reply
from smtpsh.shell.contrast import Contrasts


def reply(line: str) -> Reply:
    code, _, text = line.partition(" ")
    return Reply(int(code), (text,))


def notes(*exchanges: tuple[str, str]) -> list[str | None]:
    contrasts = Contrasts()
    return [contrasts.note(line.split()[0], line, reply(answer)) for line, answer in exchanges]


def test_vrfy_252_against_550_is_the_finding() -> None:
    said = notes(("VRFY nosuch", "550 5.1.1 <nosuch>: Recipient address rejected: User unknown"
                  " in local recipient table"), ("VRFY alice", "252 2.0.0 alice"))
    assert said[0] is None
    assert said[1] is not None and "user enumeration works here" in said[1]
    assert "VRFY alice → 252 but VRFY nosuch → 550" in said[1]


def test_rcpt_250_against_no_such_user_at_the_same_domain() -> None:
    # smtp-server's onRcptTo refusal for an unknown name at its own domain.
    said = notes(("RCPT TO:<zz@node.test>", "550 No such user here"),
                 ("RCPT TO:<alice@node.test>", "250 Accepted"))
    assert said[1] is not None and "which recipients exist" in said[1]


def test_a_sequence_error_is_no_answer_about_the_user() -> None:
    # Exim: RCPT before MAIL (RFC 5321 §4.1.4 / 503), then a real recipient.
    said = notes(("RCPT TO:<c@d>", "503 sender not yet given"),
                 ("RCPT TO:<alice@exim.test>", "250 Accepted"))
    assert said == [None, None]


def test_a_refusal_at_another_domain_is_about_the_domain() -> None:
    # OpenSMTPD refuses a domain it does not serve; Haraka, a catch-all, accepts every name
    # at its own domain and refuses other domains: neither tells users apart.
    assert notes(("RCPT TO:<alice@opensmtpd.test>", "250 2.1.5 Destination address valid:"
                  " Recipient ok"), ("RCPT TO:<x@example.com>",
                                     "550 Invalid recipient: <x@example.com>")) == [None, None]
    assert notes(("RCPT TO:<alice@haraka.test>", "250 recipient <alice@haraka.test> OK"),
                 ("RCPT TO:<nobody1@haraka.test>", "250 recipient <nobody1@haraka.test> OK"),
                 ("RCPT TO:<x@example.com>", "550 I cannot deliver mail for <x@example.com>"),
                 ) == [None, None, None]


def test_syntax_size_and_policy_refusals_are_not_compared() -> None:
    for refusal in ("501 5.1.3 Recipient address syntax error",
                    "553 5.1.3 Error: malformed address",
                    "552 5.3.4 Message size exceeds fixed limit",
                    "554 5.7.1 Relay access denied",
                    "530 5.7.0 Must issue a STARTTLS command first",
                    "550 5.1.2 bad destination system address"):
        said = notes(("RCPT TO:<x@d.test>", refusal), ("RCPT TO:<alice@d.test>", "250 OK"))
        assert said == [None, None], refusal


def test_exim_expn_undeliverable_against_an_expansion() -> None:
    # Exim's EXPN: `553 … is undeliverable` for an unknown name, the members for a list.
    said = notes(("EXPN zz@exim.test", "553 zz@exim.test is undeliverable"),
                 ("EXPN postmaster@exim.test", "250 <alice@mx.exim.test>"))
    assert said[1] is not None and "which lists exist" in said[1]


def test_opensmtpd_s_524_for_an_unknown_user_is_its_no_such_user() -> None:
    # OpenSMTPD answers a name that is neither a user nor an alias `524 5.2.4 Mailing list
    # expansion problem` and a user with 250: the shell said nothing of it, though the two
    # answers tell who exists.
    said = notes(("RCPT TO:<zzq@opensmtpd.test>", "524 5.2.4 Mailing list expansion problem:"
                  " <zzq@opensmtpd.test>"),
                 ("RCPT TO:<alice@opensmtpd.test>", "250 2.1.5 Destination address valid:"
                  " Recipient ok"))
    assert said[0] is None
    assert said[1] is not None and "which recipients exist" in said[1], said
    assert "→ 250 but RCPT TO:<zzq@opensmtpd.test> → 524" in said[1]


def test_a_full_or_disabled_mailbox_is_no_absent_user() -> None:
    # 5.2.2 (mailbox full) and 5.2.1 (disabled) are said of a mailbox that exists.
    assert notes(("RCPT TO:<bob@example.org>", "552 5.2.2 Mailbox full"),
                 ("RCPT TO:<alice@example.org>", "250 2.1.5 Ok")) == [None, None]
    assert notes(("RCPT TO:<bob@example.org>", "550 5.2.1 Mailbox disabled"),
                 ("RCPT TO:<alice@example.org>", "250 2.1.5 Ok")) == [None, None]
