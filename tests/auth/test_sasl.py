"""The sans-IO SASL client: the lines it sends, and what it lets a screen show."""

from __future__ import annotations

import base64
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smtpsh.protocol.auth import (
    MECHANISMS,
    AuthError,
    AuthExchange,
    Credentials,
    decode_challenge_bytes,
    mechanism,
)
from smtpsh.protocol.connection import SECRET_MASK
from smtpsh.protocol.replies import Reply


def challenge(text: bytes) -> Reply:
    return Reply(334, (base64.b64encode(text).decode(),))


def decoded(line: str) -> bytes:
    return base64.b64decode(line, validate=True)


def test_plain_sends_the_rfc4616_message_inline() -> None:
    step = AuthExchange("plain", Credentials("alice", "s3cret")).start()
    verb, mech, response = step.line.split(" ")
    assert (verb, mech) == ("AUTH", "PLAIN")
    assert decoded(response) == b"\0alice\0s3cret"
    assert step.shown == "AUTH PLAIN \\0alice\\0" + SECRET_MASK
    assert "s3cret" not in step.shown and response not in step.shown


def test_plain_with_an_authorization_identity() -> None:
    step = AuthExchange("PLAIN", Credentials("alice", "pw", authzid="admin")).start()
    assert decoded(step.line.split()[2]) == b"admin\0alice\0pw"


def test_plain_refuses_nul_inside_a_field() -> None:
    with pytest.raises(AuthError, match="password"):
        AuthExchange("PLAIN", Credentials("alice", "a\0b")).start()


def test_plain_is_encoded_as_utf8() -> None:
    step = AuthExchange("PLAIN", Credentials("jörg", "päss")).start()
    assert decoded(step.line.split()[2]) == "\0jörg\0päss".encode()


def test_login_answers_by_prompt_text() -> None:
    ex = AuthExchange("LOGIN", Credentials("bob", "hunter2"))
    assert ex.start().line == "AUTH LOGIN"
    user = ex.answer(challenge(b"Username:"))
    assert decoded(user.line) == b"bob" and user.shown == "bob"
    password = ex.answer(challenge(b"Password:"))
    assert decoded(password.line) == b"hunter2"
    assert password.shown == f"{SECRET_MASK} (the password)"


def test_login_follows_the_prompt_even_out_of_order() -> None:
    ex = AuthExchange("LOGIN", Credentials("bob", "hunter2"))
    ex.start()
    assert decoded(ex.answer(challenge(b"Password:")).line) == b"hunter2"


def test_login_with_unknown_prompts_sends_user_then_password() -> None:
    ex = AuthExchange("LOGIN", Credentials("bob", "hunter2"))
    ex.start()
    assert decoded(ex.answer(challenge(b"Who?")).line) == b"bob"
    assert decoded(ex.answer(challenge(b"Secret?")).line) == b"hunter2"
    with pytest.raises(AuthError, match="third"):
        ex.answer(challenge(b"More?"))


def test_cram_md5_matches_the_rfc2195_example() -> None:
    ex = AuthExchange("CRAM-MD5", Credentials("tim", "tanstaaftanstaaf"))
    assert ex.start().line == "AUTH CRAM-MD5"
    step = ex.answer(challenge(b"<1896.697170952@postoffice.reston.mci.net>"))
    assert decoded(step.line) == b"tim b913a602c7eda7a495b4e6e7334d3890"
    assert step.shown == f"tim {SECRET_MASK}"
    with pytest.raises(AuthError):
        ex.answer(challenge(b"<again@x>"))


def test_xoauth2_initial_response_and_error_challenge() -> None:
    ex = AuthExchange("XOAUTH2", Credentials("a@example.com", "ya29.token"))
    step = ex.start()
    assert decoded(step.line.split()[2]) == b"user=a@example.com\1auth=Bearer ya29.token\1\1"
    assert "ya29.token" not in step.shown
    # On a refused token the server sends a JSON error; the client answers an empty line.
    error = challenge(b'{"status":"401","schemes":"bearer"}')
    assert ex.answer(error).line == ""
    with pytest.raises(AuthError):
        ex.answer(error)


def test_an_initial_response_too_long_for_the_line_is_sent_after_334() -> None:
    token = "t" * 600  # RFC 4954 §4: an AUTH line over 512 octets must not carry it inline
    ex = AuthExchange("XOAUTH2", Credentials("a@example.com", token))
    first = ex.start()
    assert first.line == "AUTH XOAUTH2"
    assert token not in first.shown
    second = ex.answer(Reply(334, ("",)))
    assert decoded(second.line) == f"user=a@example.com\1auth=Bearer {token}\1\1".encode()
    assert token not in second.shown


def test_the_line_limit_is_512_octets_with_crlf() -> None:
    def plain_line(password: str) -> str:
        return AuthExchange("PLAIN", Credentials("u", password)).start().line

    # "AUTH PLAIN " is 11 octets; base64 of "\0u\0" + n chars is 4*ceil((n+3)/3).
    fits = plain_line("p" * 372)  # 11 + 500 + 2 = 513 > 512: withheld
    assert fits == "AUTH PLAIN"
    inline = plain_line("p" * 369)  # 11 + 496 + 2 = 509: inline
    assert len(inline) + 2 <= 512 and inline.startswith("AUTH PLAIN ")


def test_bad_base64_challenge_and_non_334_replies_are_errors() -> None:
    ex = AuthExchange("LOGIN", Credentials("bob", "pw"))
    ex.start()
    with pytest.raises(AuthError, match="not base64"):
        ex.answer(Reply(334, ("not*base64",)))
    with pytest.raises(AuthError):
        ex.answer(Reply(535, ("5.7.8 no",)))
    with pytest.raises(AuthError, match="not base64"):
        decode_challenge_bytes(Reply(334, ("%%%",)))


def test_cancel_is_a_single_star() -> None:
    ex = AuthExchange("LOGIN", Credentials("bob", "pw"))
    assert ex.cancel().line == "*" and ex.cancelled


def test_unknown_mechanism() -> None:
    assert mechanism("gssapi") is None and mechanism("cram-md5") is MECHANISMS["CRAM-MD5"]
    with pytest.raises(AuthError, match="unsupported mechanism GSSAPI"):
        AuthExchange("GSSAPI", Credentials("a", "b"))


def test_credentials_repr_hides_the_secret() -> None:
    assert "hunter2" not in repr(Credentials("bob", "hunter2"))


_text = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x2FF), min_size=1, max_size=100
)


@given(user=_text, password=_text)
def test_plain_round_trips_and_shows_only_the_user(user: str, password: str) -> None:
    step = AuthExchange("PLAIN", Credentials(user, password)).start()
    assert decoded(step.line.split(" ")[2]) == f"\0{user}\0{password}".encode()
    assert step.shown == f"AUTH PLAIN \\0{user}\\0{SECRET_MASK}"


@given(user=_text, password=_text, nonce=st.binary(min_size=1, max_size=64))
def test_cram_md5_is_the_hmac_of_the_challenge(user: str, password: str, nonce: bytes) -> None:
    ex = AuthExchange("CRAM-MD5", Credentials(user, password))
    ex.start()
    step = ex.answer(challenge(nonce))
    expected = hmac.new(password.encode(), nonce, "md5").hexdigest()
    assert decoded(step.line) == f"{user} {expected}".encode()
    assert expected not in step.shown
