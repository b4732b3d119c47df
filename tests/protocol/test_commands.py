"""The command table, ESMTP parameters and EHLO keywords (smtpsh.protocol.commands)."""

from __future__ import annotations

import pytest

from smtpsh.protocol.commands import (
    COMMANDS,
    EXTENSIONS,
    PARAMETERS,
    CommandInfo,
    lookup,
    parameters_for,
)

VERBS = ["HELO", "EHLO", "MAIL", "RCPT", "DATA", "BDAT", "RSET", "VRFY", "EXPN", "HELP",
         "NOOP", "QUIT", "STARTTLS", "AUTH", "ETRN", "ATRN", "TURN", "XCLIENT", "XFORWARD"]


def test_all_verbs_present_and_keyed_by_verb() -> None:
    assert set(VERBS) <= set(COMMANDS)
    for key, info in COMMANDS.items():
        assert key == info.verb == info.verb.upper()


@pytest.mark.parametrize("verb", VERBS)
def test_command_entries_are_complete(verb: str) -> None:
    info = COMMANDS[verb]
    assert info.insert.startswith(verb)
    assert info.syntax.startswith(verb)
    assert info.summary and "\n" not in info.summary
    assert info.rfc
    assert info.description.count(". ") >= 1  # a few sentences, not a stub
    # the example is itself a line that looks up to this command
    looked_up = lookup(info.example)
    assert looked_up is not None and looked_up.verb == verb


def test_completion_inserts() -> None:
    assert COMMANDS["MAIL"].insert == "MAIL FROM:"
    assert COMMANDS["RCPT"].insert == "RCPT TO:"
    assert COMMANDS["EHLO"].insert == "EHLO "
    assert COMMANDS["QUIT"].insert == "QUIT"


def test_base_verbs_need_no_extension_and_extension_verbs_name_theirs() -> None:
    for verb in ("HELO", "EHLO", "MAIL", "RCPT", "DATA", "RSET", "VRFY", "NOOP", "QUIT"):
        assert COMMANDS[verb].extension is None
    assert COMMANDS["BDAT"].extension == "CHUNKING"
    assert COMMANDS["STARTTLS"].extension == "STARTTLS"
    assert COMMANDS["AUTH"].extension == "AUTH"
    assert COMMANDS["ETRN"].extension == "ETRN"


def test_non_standard_and_obsolete_verbs_say_so() -> None:
    assert "obsolete" in COMMANDS["TURN"].summary.lower()
    assert "obsolete" in COMMANDS["TURN"].description.lower()
    for verb in ("XCLIENT", "XFORWARD"):
        assert "Postfix" in COMMANDS[verb].summary
        assert "not an RFC" in COMMANDS[verb].rfc


def test_rfc_sections_of_base_commands() -> None:
    assert COMMANDS["MAIL"].rfc == "RFC 5321 §4.1.1.2"
    assert COMMANDS["RCPT"].rfc == "RFC 5321 §4.1.1.3"
    assert COMMANDS["QUIT"].rfc == "RFC 5321 §4.1.1.10"
    assert COMMANDS["STARTTLS"].rfc.startswith("RFC 3207")
    assert COMMANDS["BDAT"].rfc.startswith("RFC 3030")


@pytest.mark.parametrize(
    ("line", "verb"),
    [
        ("mail from:<x>", "MAIL"),
        ("MAIL FROM:<a@b.c> SIZE=10", "MAIL"),
        ("  rcpt to:<b@c>", "RCPT"),
        ("Ehlo me", "EHLO"),
        ("quit", "QUIT"),
        ("starttls\r\n", "STARTTLS"),
        ("data", "DATA"),
    ],
)
def test_lookup_finds_first_word(line: str, verb: str) -> None:
    found = lookup(line)
    assert isinstance(found, CommandInfo) and found.verb == verb


@pytest.mark.parametrize("line", ["", "   ", "/auth plain", "mailfrom:<x>", "FOO bar", "MAI"])
def test_lookup_unknown(line: str) -> None:
    assert lookup(line) is None


def test_parameters_reference_known_verbs_and_extensions() -> None:
    for p in PARAMETERS:
        assert p.verb in ("MAIL", "RCPT")
        assert p.extension in EXTENSIONS, p.keyword
        assert p.rfc.startswith("RFC"), p.keyword
        if not p.takes_value:
            assert p.values == (), p.keyword
    for info in COMMANDS.values():
        assert info.extension is None or info.extension in EXTENSIONS


def test_required_parameters_exist() -> None:
    keys = {(p.verb, p.keyword) for p in PARAMETERS}
    for needed in [("MAIL", "SIZE"), ("MAIL", "BODY"), ("MAIL", "SMTPUTF8"), ("MAIL", "RET"),
                   ("MAIL", "ENVID"), ("MAIL", "AUTH"), ("MAIL", "REQUIRETLS"),
                   ("MAIL", "MT-PRIORITY"), ("MAIL", "BY"), ("MAIL", "HOLDFOR"),
                   ("MAIL", "HOLDUNTIL"), ("RCPT", "NOTIFY"), ("RCPT", "ORCPT")]:
        assert needed in keys


def test_parameters_for_rcpt_with_dsn() -> None:
    names = [p.keyword for p in parameters_for("RCPT", {"DSN": ""})]
    assert "NOTIFY" in names and "ORCPT" in names
    assert "SIZE" not in names
    notify = next(p for p in parameters_for("RCPT", {"DSN": ""}) if p.keyword == "NOTIFY")
    assert notify.values == ("NEVER", "SUCCESS", "FAILURE", "DELAY")


def test_parameters_for_only_what_is_advertised() -> None:
    assert parameters_for("MAIL", {}) == []
    assert [p.keyword for p in parameters_for("MAIL", {"SIZE": "10240000"})] == ["SIZE"]
    assert parameters_for("RCPT", {"SIZE": "10240000"}) == []
    mail_dsn = {p.keyword for p in parameters_for("MAIL", {"DSN": ""})}
    assert mail_dsn == {"RET", "ENVID"}


def test_parameters_for_is_case_insensitive() -> None:
    assert [p.keyword for p in parameters_for("mail", {"size": ""})] == ["SIZE"]


def test_body_values_follow_the_advertised_keywords() -> None:
    def body(adv: dict[str, str]) -> tuple[str, ...] | None:
        found = [p for p in parameters_for("MAIL", adv) if p.keyword == "BODY"]
        return found[0].values if found else None

    assert body({"8BITMIME": ""}) == ("7BIT", "8BITMIME")
    assert body({"8BITMIME": "", "BINARYMIME": "", "CHUNKING": ""}) == (
        "7BIT", "8BITMIME", "BINARYMIME")
    assert body({"BINARYMIME": ""}) == ("7BIT", "BINARYMIME")
    assert body({"SIZE": "0"}) is None


def test_extensions_cover_common_keywords() -> None:
    for kw in ["PIPELINING", "SIZE", "VRFY", "ETRN", "STARTTLS", "AUTH", "ENHANCEDSTATUSCODES",
               "8BITMIME", "BINARYMIME", "CHUNKING", "DSN", "SMTPUTF8", "DELIVERBY",
               "REQUIRETLS", "MT-PRIORITY", "FUTURERELEASE", "XCLIENT", "XFORWARD"]:
        assert kw in EXTENSIONS


def test_extension_explanations_name_their_source() -> None:
    for kw, text in EXTENSIONS.items():
        assert kw == kw.upper()
        assert "RFC" in text or "not" in text, kw
    assert "RFC 2920" in EXTENSIONS["PIPELINING"]
    assert "RFC 3207" in EXTENSIONS["STARTTLS"]
