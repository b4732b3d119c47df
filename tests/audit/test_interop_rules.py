"""The rules that keep enum, relay and probe right on servers other than Postfix, on the
replies the real servers of the interop matrix give (docs/interop.md)."""

from __future__ import annotations

import pytest

from smtpsh.audit.enum import Verdict, bare_name_refused, classify, is_limit, needs_tls, tells_apart
from smtpsh.audit.fingerprint import best, fingerprint
from smtpsh.audit.relay import deferred_relay_refusal, routing_domain
from smtpsh.audit.software import Software, identify
from smtpsh.protocol.replies import Reply


def reply(code: int, *lines: str) -> Reply:
    return Reply(code, tuple(lines))


# --- enum ----------------------------------------------------------------------------------


def test_exims_nonmail_limit_is_not_an_answer() -> None:
    limit = reply(554, "Too many nonmail commands")
    canary = reply(550, "<zz@mx.exim.test> Unrouteable address")
    assert is_limit(limit) and classify(limit, canary) is None  # ask again, never "absent"
    assert is_limit(reply(421, "4.7.0 mx Error: too many errors"))
    assert is_limit(reply(452, "4.5.3 Too many recipients"))
    assert not is_limit(canary)


def test_a_bare_name_refused_as_syntax_is_asked_again_qualified() -> None:
    assert bare_name_refused(reply(501, "alice: recipient address must contain a domain"))
    # Exim's EXPN answers an unknown name with 553: an answer, not a syntax refusal.
    assert not bare_name_refused(reply(553, "zz@mx.exim.test is undeliverable"))
    assert bare_name_refused(reply(553, "5.1.3 Bad address syntax"))


@pytest.mark.parametrize(("canary", "tells"), [
    (reply(550, "5.1.1 <zz>: Recipient address rejected: User unknown"), True),  # Postfix
    (reply(550, "<zz@mx.exim.test> Unrouteable address"), True),  # Exim, qualified
    (reply(524, "5.2.4 Mailing list expansion problem: <zz@mx.opensmtpd.test>"), True),
    (reply(252, "Just try sending a mail and we'll see how it turns out..."), False),  # Haraka
    (reply(252, "Cannot VRFY user, but will accept message and attempt delivery"), False),
    (reply(501, "zz: recipient address must contain a domain"), False),  # Exim, bare
    (reply(554, "5.7.1 Relay access denied"), False),  # the domain, not the name
    (reply(530, "Must issue a STARTTLS command first"), False),
    (reply(554, "Too many nonmail commands"), False),
    # Exim's EXPN with no acl_smtp_expn (its default): the command refused, not the name.
    (reply(550, "Administrative prohibition"), False),
    (reply(550, "5.5.1 EXPN command is disabled"), False),
])
def test_which_canary_answers_tell_users_apart(canary: Reply, tells: bool) -> None:
    assert tells_apart(canary) is tells


def test_a_user_against_exims_canary() -> None:
    canary = reply(550, "<zz@mx.exim.test> Unrouteable address")
    assert classify(reply(250, "<alice@mx.exim.test> is deliverable"), canary) is Verdict.FOUND
    assert classify(reply(550, "<bob@mx.exim.test> Unrouteable address"), canary) \
        is Verdict.ABSENT


def test_tls_first() -> None:
    assert needs_tls(reply(530, "Must issue a STARTTLS command first"))
    assert needs_tls(reply(530, "5.7.0 Authentication required"))
    assert not needs_tls(reply(550, "5.1.1 unknown"))


# --- relay ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("address", "domain"), [
    ("relaytest@example.com", "example.com"),
    ("relaytest%example.com@mx.haraka.test", "mx.haraka.test"),
    ('"relaytest@example.com"', None),
    ('"relaytest@example.com"@[127.0.0.1]', "[127.0.0.1]"),
    ("relaytest@example.com@mx.exim.test", "mx.exim.test"),
    ("@mx.exim.test:relaytest@example.com", "example.com"),
    ("example.com!relaytest", None),
])
def test_routing_domain(address: str, domain: str | None) -> None:
    assert routing_domain(address) == domain


def test_postfix_454_relay_access_denied_is_a_refusal() -> None:
    assert deferred_relay_refusal(reply(454, "4.7.1 <x@example.com>: Relay access denied"))
    assert not deferred_relay_refusal(reply(450, "4.2.0 <x@example.com>: Greylisted"))
    assert not deferred_relay_refusal(reply(451, "4.3.0 Temporary lookup failure"))


# --- probe: software and family ------------------------------------------------------------


def test_banner_leaks() -> None:
    infreight = identify("mx.smtpsh.test ESMTP InFreight v2.11", "banner")
    assert infreight is not None and (infreight.name, infreight.version) == ("InFreight", "2.11")
    # The footprinting exercise's own banner: the product before the protocol word.
    exercise = identify("mail1.inlanefreight.htb InFreight ESMTP v2.11", "banner")
    assert exercise is not None and (exercise.name, exercise.version) == ("InFreight", "2.11")
    aiosmtpd = identify("mx.aiosmtpd.test Python SMTP 1.4.6", "banner")
    assert aiosmtpd is not None and (aiosmtpd.name, aiosmtpd.version) == ("aiosmtpd", "1.4.6")
    assert identify("mx.aiosmtpd.test", "EHLO greeting") is None  # a host name only


# What each server of the matrix said (banner, EHLO greeting, keywords, HELP, ...).
OBSERVED = {
    "Postfix": {
        "banner": "220 mx1.inlanefreight.htb InFreight ESMTP v2.11", "ehlo": "",
        "keywords": "PIPELINING SIZE VRFY ETRN STARTTLS ENHANCEDSTATUSCODES 8BITMIME DSN"
                    " SMTPUTF8 CHUNKING",
        "help": "500 5.5.2 Error: command not recognized",
        "unknown": "500 5.5.2 Error: command not recognized",
        "bad_mail": "250 2.1.0 Ok", "nested_mail": "503 5.5.1 Error: nested MAIL command"},
    "Exim": {
        "banner": "220 mx.example ESMTP", "ehlo": "Hello me [127.0.0.1]",
        "keywords": "SIZE 8BITMIME VRFY EXPN PIPELINING PIPECONNECT CHUNKING STARTTLS SMTPUTF8"
                    " HELP",
        "help": "214 Commands supported: | 214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA",
        "unknown": "500 unrecognized command",
        "bad_mail": "501 bad: sender address must contain a domain"},
    "OpenSMTPD": {
        "banner": "220 mx.example ESMTP", "ehlo": "Hello me [127.0.0.1], pleased to meet you",
        "keywords": "8BITMIME ENHANCEDSTATUSCODES SIZE DSN STARTTLS HELP",
        "help": "214 2.0.0 This is OpenSMTPD | 214 2.0.0 End of HELP info",
        "unknown": "500 5.5.1 Invalid command: Command unrecognized",
        "bad_mail": "553 5.1.0 Sender address syntax error"},
    "Haraka": {
        "banner": "220 mx.example ESMTP", "ehlo": "Hello me [127.0.0.1], Haraka is at your"
        " service.", "keywords": "PIPELINING 8BITMIME SMTPUTF8 SIZE STARTTLS AUTH",
        "help": "250 Not implemented", "unknown": "500 Unrecognized command",
        "bad_mail": '501 Invalid MAIL FROM address bad: Invalid RFC-5321 address at position'
                    ' 3: expected "@"'},
    "nodemailer smtp-server": {
        "banner": "220 mx.example ESMTP", "ehlo": "Nice to meet you, me",
        "keywords": "PIPELINING 8BITMIME SMTPUTF8 AUTH STARTTLS SIZE",
        "help": "214 See https://tools.ietf.org/html/rfc5321 for details",
        "unknown": "500 Error: command not recognized",
        "bad_mail": "501 Error: Bad sender address syntax"},
    "aiosmtpd": {
        "banner": "220 mx.example ESMTP", "ehlo": "", "keywords": "SIZE 8BITMIME STARTTLS HELP",
        "help": "250 Supported commands: AUTH DATA EHLO HELO HELP MAIL NOOP QUIT RCPT RSET",
        "unknown": '500 Error: command "XSMTPSH" not recognized', "bad_mail": "250 OK",
        "nested_mail": "503 Error: nested MAIL command"},
}


@pytest.mark.parametrize("family", list(OBSERVED))
def test_each_family_is_named_from_behaviour_alone(family: str) -> None:
    guesses = fingerprint(OBSERVED[family])
    named = best(guesses)
    assert named is not None and named.family == family, [(g.family, g.confidence)
                                                          for g in guesses]
    assert named.evidence and all(e.text for e in named.evidence)


def test_nothing_known_names_nothing() -> None:
    assert best(fingerprint({"banner": "220 mx ESMTP", "unknown": "500 what?"})) is None


def test_postfix_keyword_order_with_xclient_xforward_and_old_auth() -> None:
    # The project's XCLIENT listener (Postfix 3.7): XCLIENT and XFORWARD between AUTH and
    # ENHANCEDSTATUSCODES; the order trait did not match, and the family fell to "medium".
    seen = {"keywords": "PIPELINING SIZE VRFY ETRN STARTTLS XCLIENT XFORWARD"
                        " ENHANCEDSTATUSCODES 8BITMIME DSN SMTPUTF8 CHUNKING"}
    assert [e.source for e in fingerprint(seen)[0].evidence] == ["keywords"]
    seen["keywords"] = ("PIPELINING SIZE STARTTLS AUTH AUTH=PLAIN ENHANCEDSTATUSCODES 8BITMIME"
                        " DSN")
    assert fingerprint(seen)[0].family == "Postfix"


def test_a_dotted_quad_after_a_word_is_an_address_not_a_version() -> None:
    from smtpsh.audit.software import identify

    for banner in ("mail.example.com SMTP Relay 192.0.2.10 ready",
                   "mx.example.com ESMTP ready; client 203.0.113.7"):
        assert identify(banner, "banner") is None, banner
    found = identify("mx ESMTP IceWarp 13.0.2.10; Sun", "banner")  # its own four parts
    assert found is not None and found.text == "IceWarp 13.0.2.10"
    found = identify("mx ESMTP hello 127.0.0.1, FooMail 2.1 here", "banner")
    assert found is not None and found.text == "FooMail 2.1"


# --- software named twice, and banners that carry the version their own way ---------------


def test_mailenable_s_version_is_read_from_its_banner() -> None:
    # MailEnable's SMTP connector: "ESMTP MailEnable Service, Version: 10.44-- ready at …"
    # gave "MailEnable" with no version, so no 'banner leaks software and version'.
    for banner, version in (
        ("mail.example.com ESMTP MailEnable Service, Version: 10.44-- ready at 12/06/2026"
         " 08:00:00", "10.44"),
        ("mx.example.org ESMTP MailEnable Service, Version: 9.83--9.83 ready at 06/01/2021"
         " 12:00:00", "9.83"),
        ("smtp.example.net ESMTP MailEnable Service, Version: 10.4.1-- ready at 01/02/2026"
         " 10:11:12", "10.4.1"),
    ):
        found = identify(banner, "banner")
        assert found is not None and (found.name, found.version) == ("MailEnable", version), (
            banner, found)
    # An old build's "Version: 0-1.2-" is not a dotted version: the product, no version.
    old = identify("smtp.example.net ESMTP MailEnable Service, Version: 0-1.2- ready at"
                   " 08/22/05 17:26:13", "banner")
    assert old is not None and (old.name, old.version) == ("MailEnable", None)


def test_one_product_named_twice_is_one_finding() -> None:
    # Haraka's banner and its EHLO greeting both name it; probe listed "Haraka 3.3.4 (from
    # the banner), Haraka (from the EHLO greeting)".
    from smtpsh.audit.software import add_found

    banner = identify("mx.haraka.test ESMTP Haraka/3.3.4 ready (3E3EA1)", "banner")
    greeting = identify("mx.haraka.test Hello me [127.0.0.1], Haraka is at your service.",
                        "EHLO greeting")
    assert banner is not None and greeting is not None
    known: list[Software] = []
    for found in (banner, greeting):
        add_found(known, found)
    assert known == [banner]
    # The versionless one first: the versioned one takes its place.
    known = []
    for found in (greeting, banner):
        add_found(known, found)
    assert known == [banner]
    # Two versions of one product are a contradiction worth seeing: both stay.
    other = identify("mx.haraka.test ESMTP Haraka/2.8.0 ready", "HELP")
    assert other is not None
    add_found(known, other)
    assert [s.version for s in known] == ["3.3.4", "2.8.0"]
