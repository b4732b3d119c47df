"""SMTP AUTH (RFC 4954) client side, sans-IO: credentials and 334 challenges in, lines out.

``AuthExchange`` produces the AUTH line and the answer to each ``334`` challenge for PLAIN
(RFC 4616), LOGIN (draft-murchison-sasl-login), CRAM-MD5 (RFC 2195), SCRAM-SHA-1 and
SCRAM-SHA-256 (RFC 5802, RFC 7677), NTLM ([MS-NLMP] NTLMv2, as Exchange offers it; the
messages are made by the optional pyspnego, ``smtpsh[ntlm]``) and XOAUTH2 (Google's
OAuth 2.0 SASL profile).  Every
line comes with a display form whose secrets are masked, so a front-end can show each step
decoded without ever putting a password on screen.

SCRAM is mutual: the server proves it knows the password too. ``AuthExchange.success_problem``
says when a 235 came without that proof (or with a wrong one): a front-end must then report
a failure, not a success.

The -PLUS variants (channel binding) are not offered: TLS 1.3 needs the ``tls-exporter``
binding (RFC 9266), which Python's ssl module does not expose, and ``tls-unique`` is defined
for TLS 1.2 and below only. Claiming a binding we cannot compute would be dishonest, so the
GS2 header says "n" (the client does not support channel binding).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
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


# --- a line typed (or piped) where an exchange waits for an answer ------------------------

_ANSWER = re.compile(r"[A-Za-z0-9+/]+={0,2}|[*=]")


def looks_like_answer(line: str) -> bool:
    """Whether ``line`` has the shape of an answer to a 334 (RFC 4954 §4): one base64
    token, '*' (cancel) or '=' (empty), and is no SMTP command (answer_is_command)."""
    text = line.strip()
    return _ANSWER.fullmatch(text) is not None and not answer_is_command(text)


def answer_is_command(line: str) -> bool:
    """Whether ``line``, given where an AUTH exchange waits for its answer, is an SMTP
    command rather than the answer: a script's QUIT after 'AUTH LOGIN' must quit, not go
    to the server, masked, as the user name. A bare verb ('QUIT', 'NOOP') is valid base64
    too; it counts as an answer only if it decodes to text, which no verb does."""
    from smtpsh.protocol.commands import COMMANDS  # only when an exchange is under way

    text = line.strip()
    words = text.split()
    if not words or words[0].split(":", 1)[0].upper() not in COMMANDS:
        return False
    if _ANSWER.fullmatch(text) is None:
        return True  # 'MAIL FROM:<a@b>', 'EHLO me': no base64
    try:
        decoded = base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return True
    return not decoded.isprintable()


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
    # A mechanism that keeps state between steps (SCRAM): makes one client per exchange.
    client: Callable[[Credentials], SaslClient] | None = None
    authzid: bool = False  # can carry an authorization identity (--authzid)
    mutual: bool = False  # the server proves it knows the password (SCRAM)
    strength: int = 0  # for /auth without a mechanism: the highest offered is chosen
    why: str = ""  # why it ranks where it does (said when it is chosen)
    requires: str = ""  # an optional module the mechanism needs (NTLM: pyspnego's "spnego")


class SaslClient:
    """The client side of one exchange of a mechanism that keeps state between steps."""

    def initial(self) -> Payload | None:
        return None

    def answer(self, challenge: bytes, step: int) -> Payload:
        raise NotImplementedError

    def success_problem(self) -> str | None:
        """Why a 235 must not be believed (None: the exchange is complete)."""
        return None


# --- SCRAM (RFC 5802; SHA-256: RFC 7677) -------------------------------------------------

SCRAM_MIN_ITERATIONS = 4096  # RFC 7677 §4: fewer is a weak server setting (said, not refused)


def saslprep(text: str, what: str) -> str:
    """RFC 4013 SASLprep (stringprep profile) of a user name or password."""
    import stringprep  # here: only SCRAM needs it
    import unicodedata

    mapped = "".join(
        " " if stringprep.in_table_c12(c) else c for c in text if not stringprep.in_table_b1(c)
    )
    normal = unicodedata.normalize("NFKC", mapped)
    prohibited = (
        stringprep.in_table_c12, stringprep.in_table_c21, stringprep.in_table_c22,
        stringprep.in_table_c3, stringprep.in_table_c4, stringprep.in_table_c5,
        stringprep.in_table_c6, stringprep.in_table_c7, stringprep.in_table_c8,
        stringprep.in_table_c9, stringprep.in_table_a1,
    )  # fmt: skip
    for c in normal:
        if any(test(c) for test in prohibited):
            raise AuthError(f"the {what} contains U+{ord(c):04X}, which SASLprep prohibits")
    rtl = [stringprep.in_table_d1(c) for c in normal]
    if any(rtl) and (any(stringprep.in_table_d2(c) for c in normal) or not (rtl[0] and rtl[-1])):
        raise AuthError(f"the {what} mixes right-to-left and left-to-right text (RFC 3454 §6)")
    return normal


def _scram_name(text: str) -> str:
    # RFC 5802 §5.1: ',' and '=' in a name are written =2C and =3D.
    return text.replace("=", "=3D").replace(",", "=2C")


def _scram_attributes(message: str, what: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in message.split(","):
        key, sep, value = part.partition("=")
        if not sep or len(key) != 1:
            raise AuthError(f"the server's SCRAM {what} is malformed: {message[:60]!r}")
        found.setdefault(key, value)
    return found


class ScramClient(SaslClient):
    """SCRAM-SHA-1 / SCRAM-SHA-256 without channel binding (see the module doc)."""

    def __init__(self, creds: Credentials, hash_name: str, nonce: str | None = None) -> None:
        self.creds = creds
        self.hash_name = hash_name
        self.nonce = nonce or base64.b64encode(os.urandom(18)).decode("ascii")
        authzid = (
            f"a={_scram_name(saslprep(creds.authzid, 'authorization id'))}"
            if (creds.authzid)
            else ""
        )
        self.gs2_header = f"n,{authzid},"
        user = _scram_name(saslprep(creds.username, "user name"))
        self.client_first_bare = f"n={user},r={self.nonce}"
        self.expected_signature: bytes | None = None
        self.verified = False
        self.iterations = 0

    def initial(self) -> Payload:
        message = self.gs2_header + self.client_first_bare
        return message.encode(), message

    def answer(self, challenge: bytes, step: int) -> Payload:
        if step == 0:
            return self._client_final(challenge)
        if step == 1:
            return self._verify_server_final(challenge)
        raise AuthError("the server sent a third SCRAM challenge; SCRAM has only two")

    def _client_final(self, challenge: bytes) -> Payload:
        server_first = challenge.decode("utf-8", "replace")
        attrs = _scram_attributes(server_first, "first message")
        if "m" in attrs:
            raise AuthError("the server asks for a SCRAM extension (m=) smtpsh does not know")
        nonce, salt_text, count = attrs.get("r", ""), attrs.get("s", ""), attrs.get("i", "")
        if not nonce.startswith(self.nonce) or len(nonce) == len(self.nonce):
            raise AuthError(
                "the server's SCRAM nonce does not extend ours (RFC 5802 §5.1): not answering"
            )
        try:
            salt = base64.b64decode(salt_text, validate=True)
        except (binascii.Error, ValueError):
            raise AuthError("the server's SCRAM salt is not base64") from None
        if not count.isdigit() or int(count) < 1:
            raise AuthError(f"the server's SCRAM iteration count {count[:20]!r} is not a number")
        self.iterations = int(count)
        password = saslprep(self.creds.secret, "password").encode()
        salted = hashlib.pbkdf2_hmac(self.hash_name, password, salt, self.iterations)
        client_key = hmac.new(salted, b"Client Key", self.hash_name).digest()
        stored_key = hashlib.new(self.hash_name, client_key).digest()
        server_key = hmac.new(salted, b"Server Key", self.hash_name).digest()
        channel = base64.b64encode(self.gs2_header.encode()).decode("ascii")
        without_proof = f"c={channel},r={nonce}"
        auth_message = f"{self.client_first_bare},{server_first},{without_proof}".encode()
        signature = hmac.new(stored_key, auth_message, self.hash_name).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
        self.expected_signature = hmac.new(server_key, auth_message, self.hash_name).digest()
        message = f"{without_proof},p={base64.b64encode(proof).decode('ascii')}"
        weak = (
            f"; the server uses only {self.iterations} iterations"
            f" (RFC 7677 asks for at least {SCRAM_MIN_ITERATIONS})"
            if self.iterations < SCRAM_MIN_ITERATIONS
            else ""
        )
        return message.encode(), f"{without_proof},p={SECRET_MASK}{weak}"

    def _verify_server_final(self, challenge: bytes) -> Payload:
        attrs = _scram_attributes(challenge.decode("utf-8", "replace"), "final message")
        if "e" in attrs:
            raise AuthError(f"the server reports a SCRAM error: {attrs['e'][:60]}")
        if self.expected_signature is None:
            raise AuthError("the server sent its SCRAM signature before our proof")
        try:
            signature = base64.b64decode(attrs.get("v", ""), validate=True)
        except (binascii.Error, ValueError):
            signature = b""
        if not hmac.compare_digest(signature, self.expected_signature):
            raise AuthError(
                "the server's SCRAM signature is WRONG: it does not know the password"
                " (an impostor, or a man in the middle)"
            )
        self.verified = True
        return b"", "(empty line: the server's signature is verified)"

    def success_problem(self) -> str | None:
        if self.verified:
            return None
        return (
            "the server said 235 without proving it knows the password (no SCRAM server"
            " signature): not trusted"
        )

    def server_final_in_success(self, reply: Reply) -> None:
        """Some servers put the server-final message in the 235 itself (RFC 4954 §4 allows
        'additional data' only in a 334, but check it if it is there)."""
        text = reply.lines[0].strip() if reply.lines else ""
        try:
            data = base64.b64decode(text.split(" ")[-1], validate=True)
        except (binascii.Error, ValueError):
            return
        if data.startswith(b"v="):
            self._verify_server_final(data)


# --- NTLM ([MS-NLMP]; SMTP: [MS-SMTPX]) ----------------------------------------------------
# The message work (NTLMv2 response, MD4 of the password, which OpenSSL 3's hashlib lacks)
# is pyspnego's, a maintained NTLM implementation; it is an optional extra, imported only
# when an NTLM exchange starts. What is shown is read back with protocol/ntlm.py.

NTLM_EXTRA = "AUTH NTLM needs the optional pyspnego: pip install 'smtpsh[ntlm]'"


def unavailable(mech: Mechanism) -> str | None:
    """Why ``mech`` cannot be used here (a missing optional module), or None."""
    if not mech.requires:
        return None
    import importlib.util

    if importlib.util.find_spec(mech.requires) is None:
        return NTLM_EXTRA
    return None


class NtlmClient(SaslClient):
    """AUTH NTLM: NEGOTIATE as the initial response, AUTHENTICATE answering the CHALLENGE.

    The user name may be ``DOMAIN\\user`` (the domain is the server's NetBIOS domain, or
    its machine name for a local account) or a UPN ``user@dns.domain`` (sent with no domain,
    for Active Directory to resolve). Only NTLMv2 responses
    are sent: NTLMv1 can be cracked in hours."""

    def __init__(self, creds: Credentials) -> None:
        try:
            import spnego
        except ImportError:
            raise AuthError(NTLM_EXTRA) from None
        self.creds = creds
        try:
            self.context = spnego.client(
                creds.username, creds.secret, hostname="unspecified", service="SMTP",
                protocol="ntlm", options=spnego.NegotiateOptions.use_ntlm,
            )
        except Exception as exc:  # pyspnego's own errors, or a bad LM_COMPAT_LEVEL
            raise AuthError(f"NTLM: {exc}") from None

    def initial(self) -> Payload:
        token = self._step(None)
        return token, "NTLMSSP NEGOTIATE (no credentials yet)"

    def answer(self, challenge: bytes, step: int) -> Payload:
        from smtpsh.protocol.ntlm import NTLMError, decode_challenge, summarize_authenticate

        if step > 0:
            raise AuthError("the server sent a second NTLM challenge; NTLM has only one")
        try:
            info = decode_challenge(challenge)
        except NTLMError as exc:
            raise AuthError(f"the server's NTLM challenge: {exc}") from None
        token = self._step(challenge)
        try:
            sent = summarize_authenticate(token)
        except NTLMError as exc:  # pyspnego made something we cannot read: not sent
            raise AuthError(f"NTLM: {exc}") from None
        if not sent.ntlmv2:
            raise AuthError(
                "pyspnego made an NTLMv1 response (LM_COMPAT_LEVEL in the environment is"
                " below 3?): not sent; NTLMv1 can be cracked"
            )
        who = f"{sent.domain}\\{sent.user}" if sent.domain else sent.user
        server = info.target_name or info.netbios_computer or "the server"
        host = f" from workstation {sent.workstation}" if sent.workstation else ""
        return token, (
            f"NTLMSSP AUTHENTICATE as {who}{host}, NTLMv2 response {SECRET_MASK}"
            f" (to the CHALLENGE of {server})"
        )

    def _step(self, token: bytes | None) -> bytes:
        try:
            out = self.context.step(token)
        except Exception as exc:  # pyspnego raises its own types for a message it rejects
            raise AuthError(f"NTLM: pyspnego cannot answer: {exc}") from None
        if not out:
            raise AuthError("NTLM: pyspnego had nothing to send")
        return out


MECHANISMS: Mapping[str, Mechanism] = MappingProxyType(
    {
        m.name: m
        for m in (
            Mechanism(
                "PLAIN", "Password", "user and password in one base64 line (RFC 4616)",
                _plain_initial, _no_challenge, plaintext=True, authzid=True, strength=20,
                why="sends the password itself (base64 only), in one step",
            ),
            Mechanism(
                "LOGIN", "Password", "user name, then password, each asked for by a 334",
                None, _login_answer, plaintext=True, strength=10,
                why="sends the password itself (base64 only), in two steps",
            ),
            Mechanism(
                "CRAM-MD5", "Password",
                "HMAC-MD5 of the server's challenge: the password never crosses the wire "
                "(RFC 2195)",
                None, _cram_md5_answer, plaintext=False, strength=30,
                why="the password does not cross the wire, but the server does not prove"
                " it knows it, and MD5 digests can be cracked offline",
            ),
            Mechanism(
                "SCRAM-SHA-1", "Password",
                "salted challenge-response; the server proves it knows the password too"
                " (RFC 5802)",
                None, _no_challenge, plaintext=False, authzid=True, mutual=True,
                client=lambda creds: ScramClient(creds, "sha1"), strength=40,
                why="the password does not cross the wire and the server proves it knows it",
            ),
            Mechanism(
                "SCRAM-SHA-256", "Password",
                "SCRAM with SHA-256: salted, mutual, the strongest here (RFC 7677)",
                None, _no_challenge, plaintext=False, authzid=True, mutual=True,
                client=lambda creds: ScramClient(creds, "sha256"), strength=50,
                why="the password does not cross the wire, the server proves it knows it,"
                " and SHA-256 replaces SHA-1",
            ),
            Mechanism(
                "NTLM", "Password",
                "NTLMv2 challenge-response (Exchange); DOMAIN\\user accepted ([MS-NLMP])",
                None, _no_challenge, plaintext=False,
                client=NtlmClient, strength=25, requires="spnego",
                why="the password does not cross the wire, but the server does not prove it"
                " knows it, and an NTLMv2 response can be cracked offline or relayed",
            ),
            Mechanism(
                "XOAUTH2", "OAuth 2.0 access token",
                "an OAuth 2.0 bearer token (Google, Microsoft)",
                _xoauth2_initial, _xoauth2_answer, plaintext=True,
                why="needs an OAuth 2.0 token, not a password: never chosen on its own",
            ),
        )
    }
)  # fmt: skip


def mechanism(name: str) -> Mechanism | None:
    """The mechanism called ``name`` (case-insensitive, RFC 4422 §3.1), if supported."""
    return MECHANISMS.get(name.upper())


AUTO = "AUTO"  # --auth auto: the strongest mechanism the server offers


def by_strength(offered: list[str], *, authzid: bool = False) -> list[Mechanism]:
    """The offered mechanisms smtpsh can do with a password, strongest first (XOAUTH2,
    which needs a token, is never among them; with ``authzid`` only those carrying one)."""
    found = [m for name in offered if (m := mechanism(name)) is not None and m.strength > 0]
    found = [m for m in found if unavailable(m) is None]  # NTLM without pyspnego
    if authzid:
        found = [m for m in found if m.authzid]
    return sorted(dict.fromkeys(found), key=lambda m: -m.strength)


def choose(offered: list[str], *, authzid: bool = False) -> tuple[Mechanism | None, str]:
    """The strongest offered mechanism and why it was chosen (None and why not)."""
    ranked = by_strength(offered, authzid=authzid)
    if not ranked:
        carrying = " that can carry --authzid" if authzid else ""
        missing = {
            why for name in offered if (m := mechanism(name)) and (why := unavailable(m))
        }
        return None, (
            f"none of the offered mechanisms ({' '.join(offered) or 'none'}){carrying}"
            " is one smtpsh can do with a password"
            + "".join(f" ({why})" for why in sorted(missing))
        )
    best = ranked[0]
    others = [m.name for m in ranked[1:]]
    beats = f" (stronger than {', '.join(others)})" if others else " (the only one usable)"
    return best, f"{best.name}{beats}: {best.why}"


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
        if credentials.authzid and not found.authzid:
            raise AuthError(f"{found.name} cannot carry an authorization identity (--authzid)")
        self.client = found.client(credentials) if found.client is not None else None

    def start(self) -> Step:
        """The AUTH command, with the initial response inline when it fits (RFC 4954 §4)."""
        verb = f"AUTH {self.mechanism.name}"
        if self.client is not None:
            first = self.client.initial()
        elif self.mechanism.initial is not None:
            first = self.mechanism.initial(self.credentials)
        else:
            first = None
        if first is None:
            return Step(verb, verb)
        data, shown = first
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
        elif self.client is not None:
            data, shown = self.client.answer(challenge, self.steps)
            self.steps += 1
        else:
            data, shown = self.mechanism.answer(self.credentials, challenge, self.steps)
            self.steps += 1
        return Step(_b64(data), shown or "(empty line)")

    def success_problem(self, reply: Reply) -> str | None:
        """After a 235: why it must not be believed (a mutual mechanism whose server did not
        prove itself, or proved wrong), or None."""
        if self.client is None:
            return None
        if isinstance(self.client, ScramClient) and not self.client.verified:
            try:
                self.client.server_final_in_success(reply)
            except AuthError as exc:
                return str(exc)
        return self.client.success_problem()

    def cancel(self) -> Step:
        self.cancelled = True
        return Step(CANCEL, "* (cancels the exchange)")
