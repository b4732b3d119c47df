"""Reply-code tables and lookups (smtpsh.protocol.codes)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpsh.protocol.codes import (
    BASIC_CODE_SOURCES,
    BASIC_CODES,
    ENHANCED_CLASSES,
    ENHANCED_DETAIL_SOURCES,
    ENHANCED_DETAILS,
    ENHANCED_SUBJECTS,
    REPLY_TIMEOUTS,
    annotate,
    describe_basic,
    describe_enhanced,
    explain,
    parse_enhanced,
    reply_timeout,
)

# Codes from RFC 5321 §4.2.3 and the extensions that add basic codes:
# 4954 (AUTH), 3207 (STARTTLS), 7504 (521/556), 1985 (ETRN), 2645 (ATRN).
RFC_DEFINED = {
    211, 214, 220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 455,
    500, 501, 502, 503, 504, 550, 551, 552, 553, 554, 555,
    235, 334, 432, 454, 530, 534, 535, 538,
    521, 556,
    253, 458, 459,
    453,
}

# The registered detail ranges per subject (IANA registry, as of RFC 8689).
REGISTERED_RANGES = {0: 0, 1: 10, 2: 4, 3: 6, 4: 7, 5: 6, 6: 10, 7: 30}


def test_every_rfc_defined_basic_code_is_present() -> None:
    missing = sorted(RFC_DEFINED - set(BASIC_CODES))
    assert missing == []


def test_basic_codes_are_three_digit_smtp_codes_with_sources() -> None:
    for code, meaning in BASIC_CODES.items():
        assert 200 <= code <= 599, code
        assert meaning and meaning == meaning.strip()
        assert BASIC_CODE_SOURCES[code].startswith("RFC"), code
    assert set(BASIC_CODE_SOURCES) == set(BASIC_CODES)


def test_describe_basic() -> None:
    assert describe_basic(550) == "mailbox unavailable"
    assert "<CRLF>.<CRLF>" in (describe_basic(354) or "")
    assert describe_basic(299) is None


def test_enhanced_classes_and_subjects() -> None:
    assert set(ENHANCED_CLASSES) == {2, 4, 5}
    assert set(ENHANCED_SUBJECTS) == set(range(8))
    assert ENHANCED_SUBJECTS[1] == "addressing status"


def test_every_registered_detail_is_present() -> None:
    expected = {(s, d) for s, top in REGISTERED_RANGES.items() for d in range(top + 1)}
    assert expected - set(ENHANCED_DETAILS) == set()
    assert set(ENHANCED_DETAILS) - expected == set()
    assert set(ENHANCED_DETAIL_SOURCES) == set(ENHANCED_DETAILS)


def test_enhanced_meanings_are_short_lowercase_phrases() -> None:
    for key, meaning in ENHANCED_DETAILS.items():
        first_word = meaning.split()[0]
        # lower case, except words that are acronyms (SPF, UTF-8, ARC, ...)
        assert meaning[0].islower() or first_word.isupper(), (key, meaning)
        assert not meaning.endswith("."), key
        assert len(meaning) <= 70, key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5.1.1", "5.1.1"),
        ("5.1.1 <bob@example.org>: User unknown", "5.1.1"),
        ("2.0.0", "2.0.0"),
        ("2.0.0 Ok: queued as 1234", "2.0.0"),
        ("4.7.1\tgreylisted", "4.7.1"),
        ("5.7.30 REQUIRETLS needed", "5.7.30"),
        ("5.999.999 x", "5.999.999"),
        ("5.1.1text", None),
        ("5.1.1.", None),
        ("5.1.1:", None),
        ("6.1.1 bad class", None),
        ("3.0.0 no class 3", None),
        ("1.0.0", None),
        ("5.1000.1 too long subject", None),
        ("5.1.1000 too long detail", None),
        ("5.1 short", None),
        ("5..1 empty subject", None),
        ("Ok 5.1.1 not at start", None),
        ("", None),
    ],
)
def test_parse_enhanced(text: str, expected: str | None) -> None:
    assert parse_enhanced(text) == expected


@given(
    cls=st.integers(0, 9),
    subject=st.integers(0, 9999),
    detail=st.integers(0, 9999),
    tail=st.sampled_from(["", " text", "text", ".", "\tx"]),
)
def test_parse_enhanced_follows_rfc3463_ranges(cls: int, subject: int, detail: int,
                                               tail: str) -> None:
    code = f"{cls}.{subject}.{detail}"
    valid = cls in (2, 4, 5) and subject <= 999 and detail <= 999
    standalone = tail == "" or tail[0].isspace()
    assert parse_enhanced(code + tail) == (code if valid and standalone else None)


def test_describe_enhanced() -> None:
    assert describe_enhanced("5.1.1") == "bad destination mailbox address"
    assert describe_enhanced("4.2.2") == "mailbox full"
    assert describe_enhanced("2.1.5") == "destination address valid"
    assert describe_enhanced("5.7.27") == "sender address has null MX"
    assert describe_enhanced("5.1.99") == "addressing status, detail 99 unregistered"
    assert describe_enhanced("4.7.31") == "security or policy status, detail 31 unregistered"
    assert describe_enhanced("5.9.1") == "unregistered subject 9, detail 1"
    assert describe_enhanced("6.1.1") is None
    assert describe_enhanced("banana") is None


def test_annotate_basic_and_enhanced() -> None:
    assert annotate(550, "5.1.1") == (
        "550 mailbox unavailable · 5.1.1 bad destination mailbox address"
    )


def test_annotate_without_enhanced() -> None:
    assert annotate(250, None) == "250 requested action completed"


def test_annotate_class_mismatch() -> None:
    assert annotate(250, "5.1.1") == (
        "250 requested action completed · 5.1.1 bad destination mailbox address"
        " (class mismatch)"
    )
    assert annotate(451, "5.3.0").endswith(" (class mismatch)")
    assert not annotate(451, "4.3.0").endswith("(class mismatch)")
    assert not annotate(550, "5.7.1").endswith("(class mismatch)")


def test_annotate_unknown_code_uses_first_two_digits() -> None:
    assert annotate(559, None) == "559 5yz permanent negative completion, x5z mail system"
    assert annotate(427, None) == "427 4yz transient negative completion, x2z connections"
    assert annotate(209, None) == "209 2yz positive completion, x0z syntax"
    assert annotate(319, None) == "319 3yz positive intermediate, x1z information"
    assert annotate(599, None).endswith("x9z undefined category")


def test_annotate_never_fails_on_odd_input() -> None:
    assert annotate(42, None) == "42 not a valid SMTP reply code"
    assert annotate(699, None) == "699 not a valid SMTP reply code"
    assert annotate(550, "9.9.9") == (
        "550 mailbox unavailable · '9.9.9' not a valid enhanced status code"
    )


@given(code=st.integers(-1000, 2000), enhanced=st.one_of(st.none(), st.text(max_size=12)))
def test_annotate_and_explain_are_total(code: int, enhanced: str | None) -> None:
    line = annotate(code, enhanced)
    assert line.startswith(str(code))
    assert "\n" not in line
    assert "What to try next:" in explain(code, enhanced)


EXPLAINED = [220, 221, 250, 251, 252, 354, 421, 450, 451, 452, 454, 500, 501, 502, 503, 504,
             530, 534, 535, 538, 550, 551, 552, 553, 554, 555]


def _sentences(text: str) -> int:
    return len(re.findall(r"[.!?)](?:\s|$)", text))


@pytest.mark.parametrize("code", EXPLAINED)
def test_explain_covers_common_codes(code: int) -> None:
    text = explain(code, None)
    assert text.splitlines()[0].startswith(annotate(code, None))
    assert "What to try next:" in text
    assert _sentences(text) >= 3, text


def test_explanations_are_specific_not_copies() -> None:
    bodies = {code: explain(code, None).split("\n", 1)[1] for code in EXPLAINED}
    assert len(set(bodies.values())) == len(bodies)


def test_explain_relay_denied_says_what_relaying_is() -> None:
    text = explain(550, "5.7.1")
    assert "relaying" in text.lower()
    assert "own domains" in text
    assert "5.7.1 delivery not authorized" in text


def test_explain_unknown_user() -> None:
    text = explain(550, "5.1.1")
    assert "does not exist" in text
    assert text.splitlines()[-1].startswith("What to try next:")


def test_explain_530_with_5_7_0_points_to_auth() -> None:
    text = explain(530, "5.7.0")
    assert "wants AUTH" in text
    assert "/auth" in text
    # 5.7.0 with another code is a generic policy refusal, not an AUTH request
    assert "/auth" not in explain(554, "5.7.0")


def test_explain_encryption_required_suggests_starttls() -> None:
    for code in (538, 530):
        text = explain(code, "5.7.11")
        assert "encryption" in text.lower() or "encrypted" in text.lower()
        assert "STARTTLS" in text.split("What to try next:")[1]


def test_explain_falls_back_to_class_and_subject() -> None:
    text = explain(499, "5.4.99")  # no table entry for 499
    assert "temporary failure" in text.lower()
    assert "network or routing" in text
    assert "class does not match" in text
    text = explain(526, None)
    assert "permanent failure" in text.lower()


def test_explain_reports_a_malformed_enhanced_code() -> None:
    assert "not a valid enhanced status code" in explain(550, "5.1")


def test_reply_timeouts_follow_rfc5321() -> None:
    assert REPLY_TIMEOUTS["greeting"] == 5 * 60
    assert REPLY_TIMEOUTS["MAIL"] == 5 * 60
    assert REPLY_TIMEOUTS["RCPT"] == 5 * 60
    assert REPLY_TIMEOUTS["DATA"] == 2 * 60
    assert REPLY_TIMEOUTS["data-block"] == 3 * 60
    assert REPLY_TIMEOUTS["data-end"] == 10 * 60
    assert REPLY_TIMEOUTS["default"] == 5 * 60


def test_reply_timeout_lookup() -> None:
    assert reply_timeout("data") == 120
    assert reply_timeout("rcpt") == 300
    assert reply_timeout("data-end") == 600
    assert reply_timeout("VRFY") == REPLY_TIMEOUTS["default"]


def test_sub_codes_with_leading_zeros_are_malformed() -> None:
    # RFC 3463 §2: the subject and detail sub-codes have no leading zeros.
    assert describe_enhanced("5.01.1") is None
    assert "leading zero" in annotate(550, "5.01.1") and "RFC 3463 §2" in annotate(550, "5.01.1")
    assert "bad destination mailbox address" not in annotate(550, "5.01.1")
    assert "leading zeros" in explain(550, "5.1.01")
    assert describe_enhanced("5.0.0") is not None  # a lone zero is a number, not a lead


def test_code_422_is_known() -> None:
    assert describe_basic(422) is not None and "mailbox" in (describe_basic(422) or "")


def test_the_x_0_0_gloss_is_left_out() -> None:
    # "2.0.0 other undefined status" after every 250/221/220 says nothing the code does not.
    assert annotate(250, "2.0.0") == "250 requested action completed"
    assert annotate(221, "2.0.0") == "221 service closing transmission channel"
    assert "class mismatch" in annotate(250, "5.0.0")  # a contradiction is still shown
