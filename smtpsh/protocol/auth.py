"""SMTP AUTH (RFC 4954) client side, sans-IO: credentials and 334 challenges in, lines out.

``AuthExchange`` produces the AUTH line and the answer to each ``334`` challenge for PLAIN
(RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195) and XOAUTH2 (Google's
OAuth 2.0 SASL profile).  Every line comes with a display form whose secrets are masked,
so a front-end can show each step decoded without ever putting a password on screen.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from smtpsh.protocol.connection import SECRET_MASK
from smtpsh.protocol.encoding import MAX_COMMAND_LINE
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply

CANCEL = "*"  # RFC 4954 §4: a line with a single '*' cancels the exchange
EMPTY_INITIAL_RESPONSE = "="  # RFC 4954 §4: an empty initial response is sent as '='
MAX_STEPS = 8  # no mechanism here needs more; a server asking on and on gets '*'


class AuthError(SmtpshError):
    """The exchange cannot go on (bad credentials for the mechanism, odd challenge)."""


@dataclass(frozen=True)
class Credentials:
    username: str
    secret: str = field(repr=False)  # the password, or the OAuth 2.0 access token
    authzid: str = ""  # PLAIN's authorization identity (act as another user); usually empty


@dataclass(frozen=True)
class Step:
    """One client line of the exchange."""

    line: str = field(repr=False)  # what goes on the wire: secret, never show or store it
    shown: str  # the same line decoded, secrets masked ("\\0alice\\0********")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _escape(text: str) -> str:
    """Control characters written visibly (PLAIN's NULs as \\0, XOAUTH2's ^A as \\1)."""
    return "".join(f"\\{ord(c)}" if ord(c) < 8 else c for c in text)


def _check(value: str, what: str, forbidden: str) -> None:
    for ch in forbidden:
        if ch in value:
            raise AuthError(f"the {what} may not contain the control character U+{ord(ch):04X}")


# --- the mechanisms --------------------------------------------------------------------
# Each mechanism: an optional initial response, and an answer to each decoded challenge.
# Both return (bytes for the wire, text for the screen with secrets masked).

Payload = tuple[bytes, str]


def _plain_initial(creds: Credentials) -> Payload:
    # RFC 4616: [authzid] NUL authcid NUL passwd, UTF-8; NUL may appear nowhere else.
    for value, what in ((creds.authzid, "authorization id"), (creds.username, "user name")):
        _check(value, what, "\0")
    _check(creds.secret, "password", "\0")
    data = f"{creds.authzid}\0{creds.username}\0{creds.secret}".encode()
    return data, _escape(f"{creds.authzid}\0{creds.username}\0") + SECRET_MASK


def _xoauth2_initial(creds: Credentials) -> Payload:
    _check(creds.username, "user name", "\1")
    _check(creds.secret, "access token", "\1")
    data = f"user={creds.username}\1auth=Bearer {creds.secret}\1\1".encode()
    return data, _escape(f"user={creds.username}\1auth=Bearer ") + SECRET_MASK + "\\1\\1"


# LOGIN prompts are free text; real servers say "Username:" / "Password:" (also "User Name").
_LOGIN_PROMPTS: tuple[tuple[str, str], ...] = (("user", "username"), ("pass", "password"))


def _login_answer(creds: Credentials, challenge: bytes, step: int) -> Payload:
    if step >= 2:
        raise AuthError("the server asked a third LOGIN question; LOGIN has only two")
    prompt = challenge.decode("utf-8", "replace").strip().lower()
    wanted = next((what for start, what in _LOGIN_PROMPTS if prompt.startswith(start)), None)
    if wanted is None:  # an unknown prompt: the user name first, then the password
        wanted = "username" if step == 0 else "password"
    if wanted == "username":
        return creds.username.encode(), creds.username
    return creds.secret.encode(), f"{SECRET_MASK} (the password)"


def _cram_md5_answer(creds: Credentials, challenge: bytes, step: int) -> Payload:
    # RFC 2195: "user SP hex(HMAC-MD5(key=password, text=challenge))", lower-case hex.
    if step > 0:
        raise AuthError("the server sent a second CRAM-MD5 challenge; the exchange is over")
    digest = hmac.new(creds.secret.encode(), challenge, "md5").hexdigest()
    return f"{creds.username} {digest}".encode(), f"{creds.username} {SECRET_MASK}"


def _xoauth2_answer(creds: Credentials, challenge: bytes, step: int) -> Payload:
    # After a refused token the server sends a JSON error as a 334 challenge; the client
    # answers with an empty line and then gets the final 5xx.
    if step > 0:
        raise AuthError("the server kept the XOAUTH2 exchange going after its error")
    return b"", "(empty line: acknowledges the server's error report)"


def _no_challenge(creds: Credentials, challenge: bytes, step: int) -> Payload:
    raise AuthError("the server sent a challenge although the mechanism has said everything")


@dataclass(frozen=True)
class Mechanism:
    name: str
    secret_label: str  # how to ask for the secret
    summary: str
    initial: Callable[[Credentials], Payload] | None
    answer: Callable[[Credentials, bytes, int], Payload]
    plaintext: bool  # the password itself crosses the wire (only base64-encoded)


MECHANISMS: Mapping[str, Mechanism] = MappingProxyType(
    {
        m.name: m
        for m in (
            Mechanism(
                "PLAIN", "Password", "user and password in one base64 line (RFC 4616)",
                _plain_initial, _no_challenge, plaintext=True,
            ),
            Mechanism(
                "LOGIN", "Password", "user name, then password, each asked for by a 334",
                None, _login_answer, plaintext=True,
            ),
            Mechanism(
                "CRAM-MD5", "Password",
                "HMAC-MD5 of the server's challenge: the password never crosses the wire "
                "(RFC 2195)",
                None, _cram_md5_answer, plaintext=False,
            ),
            Mechanism(
                "XOAUTH2", "OAuth 2.0 access token",
                "an OAuth 2.0 bearer token (Google, Microsoft)",
                _xoauth2_initial, _xoauth2_answer, plaintext=True,
            ),
        )
    }
)  # fmt: skip


def mechanism(name: str) -> Mechanism | None:
    """The mechanism called ``name`` (case-insensitive, RFC 4422 §3.1), if supported."""
    return MECHANISMS.get(name.upper())


def decode_challenge_bytes(reply: Reply) -> bytes:
    """The raw challenge of a 334 reply; AuthError if it is not base64 (RFC 4954 §4)."""
    text = reply.lines[0].strip() if reply.lines else ""
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuthError(f"the server's 334 challenge is not base64: {text[:40]!r}") from None


class AuthExchange:
    """One AUTH exchange: ``start()`` gives the AUTH line, ``answer(reply)`` each next line.

    ``AuthExchange("PLAIN", Credentials("alice", "s3cret")).start()`` is the line
    ``AUTH PLAIN AGFsaWNlAHMzY3JldA==``, shown as ``AUTH PLAIN \\0alice\\0********``.
    """

    def __init__(
        self, name: str, credentials: Credentials, *, max_line: int = MAX_COMMAND_LINE
    ) -> None:
        found = mechanism(name)
        if found is None:
            raise AuthError(f"unsupported mechanism {name}; smtpsh knows {', '.join(MECHANISMS)}")
        self.mechanism = found
        self.credentials = credentials
        self.max_line = max_line
        self.steps = 0  # challenges answered
        self.withheld: Payload | None = None  # initial response too long for the AUTH line
        self.cancelled = False

    def start(self) -> Step:
        """The AUTH command, with the initial response inline when it fits (RFC 4954 §4)."""
        verb = f"AUTH {self.mechanism.name}"
        if self.mechanism.initial is None:
            return Step(verb, verb)
        data, shown = self.mechanism.initial(self.credentials)
        encoded = _b64(data) if data else EMPTY_INITIAL_RESPONSE
        line = f"{verb} {encoded}"
        if len(line.encode("ascii")) + 2 > self.max_line:
            # Too long for a command line: send it after the server's empty 334 instead.
            self.withheld = (data, shown)
            return Step(verb, f"{verb}   (initial response withheld: over {self.max_line} octets)")
        return Step(line, f"{verb} {shown}")

    def answer(self, reply: Reply) -> Step:
        """The line answering a 334 challenge; AuthError when the exchange cannot go on."""
        if reply.code != 334:
            raise AuthError(f"a {reply.code} reply ends the exchange; there is nothing to answer")
        if self.steps >= MAX_STEPS:
            raise AuthError(f"the server sent more than {MAX_STEPS} challenges")
        challenge = decode_challenge_bytes(reply)
        if self.withheld is not None and not challenge:
            data, shown = self.withheld
            self.withheld = None
        else:
            data, shown = self.mechanism.answer(self.credentials, challenge, self.steps)
            self.steps += 1
        return Step(_b64(data), shown or "(empty line)")

    def cancel(self) -> Step:
        self.cancelled = True
        return Step(CANCEL, "* (cancels the exchange)")
