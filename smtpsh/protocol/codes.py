"""Reply-code knowledge as tables: basic codes, enhanced status codes, advice, timeouts.

Sources: RFC 5321 (§4.2 reply codes, §4.5.3.2 timeouts), RFC 3463 and the IANA
"SMTP Enhanced Status Codes" registry (RFC 5248), RFC 2034, and the extension RFCs that
add codes (4954 AUTH, 3207 STARTTLS, 1985 ETRN, 2645 ATRN, 7504, 7505, 6531, 6710, ...).
Everything here is pure data plus small lookups: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

from smtpsh.protocol.meanings import meaning_of
from smtpsh.protocol.record import Record

__all__ = [
    "BASIC_CODES",
    "BASIC_CODE_SOURCES",
    "ENHANCED_CLASSES",
    "ENHANCED_DETAILS",
    "ENHANCED_DETAIL_SOURCES",
    "ENHANCED_SUBJECTS",
    "REPLY_TIMEOUTS",
    "annotate",
    "describe_basic",
    "describe_enhanced",
    "explain",
    "parse_enhanced",
    "reply_timeout",
]

# --------------------------------------------------------------------------- basic codes

# (code, short meaning, where it is defined)
_BASIC: tuple[tuple[int, str, str], ...] = (
    (211, "system status or help reply", "RFC 5321 §4.2.3"),
    (214, "help message", "RFC 5321 §4.2.3"),
    (220, "service ready", "RFC 5321 §4.2.3"),
    (221, "service closing transmission channel", "RFC 5321 §4.2.3"),
    (235, "authentication succeeded", "RFC 4954 §6"),
    (250, "requested action completed", "RFC 5321 §4.2.3"),
    (251, "user not local; will forward", "RFC 5321 §4.2.3"),
    (252, "cannot verify user, but will accept and attempt delivery", "RFC 5321 §4.2.3"),
    (253, "pending messages for node started", "RFC 1985 §5"),
    (334, "server challenge: send the next authentication line", "RFC 4954 §4"),
    (354, "start mail input; end with <CRLF>.<CRLF>", "RFC 5321 §4.2.3"),
    (421, "service not available, closing transmission channel", "RFC 5321 §4.2.3"),
    (422, "recipient's mailbox over its storage limit (temporary)",
     "RFC 5248 registry (X.2.2)"),
    (432, "password transition needed", "RFC 4954 §6"),
    (450, "mailbox unavailable (temporary)", "RFC 5321 §4.2.3"),
    (451, "local error in processing; action aborted", "RFC 5321 §4.2.3"),
    (452, "insufficient system storage", "RFC 5321 §4.2.3"),
    (453, "no mail waiting", "RFC 2645 §4"),
    (454, "temporary failure: TLS or authentication not available now", "RFC 3207 §4, RFC 4954 §6"),
    (455, "server unable to accommodate parameters", "RFC 5321 §4.2.3"),
    (458, "unable to queue messages for node", "RFC 1985 §5"),
    (459, "node not allowed", "RFC 1985 §5"),
    (500, "syntax error, command unrecognized", "RFC 5321 §4.2.3"),
    (501, "syntax error in parameters or arguments", "RFC 5321 §4.2.3"),
    (502, "command not implemented", "RFC 5321 §4.2.3"),
    (503, "bad sequence of commands", "RFC 5321 §4.2.3"),
    (504, "command parameter not implemented", "RFC 5321 §4.2.3"),
    (521, "host does not accept mail", "RFC 7504 §3"),
    (523, "encryption needed", "RFC 5248 registry (X.7.10)"),
    (524, "encryption required for requested authentication mechanism",
     "RFC 5248 registry (X.7.11)"),
    (525, "user account disabled", "RFC 5248 registry (X.7.13)"),
    (530, "authentication required (or STARTTLS first)", "RFC 4954 §6, RFC 3207 §4"),
    (534, "authentication mechanism too weak", "RFC 4954 §6"),
    (535, "authentication credentials invalid", "RFC 4954 §6"),
    (538, "encryption required for requested authentication mechanism", "RFC 4954 §6"),
    (550, "mailbox unavailable", "RFC 5321 §4.2.3"),
    (551, "user not local; please try the forward-path", "RFC 5321 §4.2.3"),
    (552, "exceeded storage allocation", "RFC 5321 §4.2.3"),
    (553, "mailbox name not allowed", "RFC 5321 §4.2.3"),
    (554, "transaction failed (or no SMTP service here)", "RFC 5321 §4.2.3"),
    (555, "MAIL FROM/RCPT TO parameters not recognized or not implemented", "RFC 5321 §4.2.3"),
    (556, "domain does not accept mail", "RFC 7504 §3"),
)

BASIC_CODES: Mapping[int, str] = MappingProxyType({c: m for c, m, _ in _BASIC})
BASIC_CODE_SOURCES: Mapping[int, str] = MappingProxyType({c: s for c, _, s in _BASIC})

# RFC 5321 §4.2.1: the first digit says how it went, the second what it is about.
_FIRST_DIGIT: Mapping[int, str] = MappingProxyType({
    1: "positive preliminary",
    2: "positive completion",
    3: "positive intermediate",
    4: "transient negative completion",
    5: "permanent negative completion",
})
_SECOND_DIGIT: Mapping[int, str] = MappingProxyType({
    0: "syntax",
    1: "information",
    2: "connections",
    3: "unspecified",
    4: "unspecified",
    5: "mail system",
})

# ------------------------------------------------------------------------ enhanced codes

ENHANCED_CLASSES: Mapping[int, str] = MappingProxyType({
    2: "success",
    4: "persistent transient failure",
    5: "permanent failure",
})

ENHANCED_SUBJECTS: Mapping[int, str] = MappingProxyType({
    0: "other or undefined status",
    1: "addressing status",
    2: "mailbox status",
    3: "mail system status",
    4: "network and routing status",
    5: "mail delivery protocol status",
    6: "message content or media status",
    7: "security or policy status",
})

# (subject, detail, short meaning, reference) for every entry of the IANA registry.
_ENHANCED: tuple[tuple[int, int, str, str], ...] = (
    (0, 0, "other undefined status", "RFC 3463"),
    (1, 0, "other address status", "RFC 3463"),
    (1, 1, "bad destination mailbox address", "RFC 3463"),
    (1, 2, "bad destination system address", "RFC 3463"),
    (1, 3, "bad destination mailbox address syntax", "RFC 3463"),
    (1, 4, "destination mailbox address ambiguous", "RFC 3463"),
    (1, 5, "destination address valid", "RFC 3463"),
    (1, 6, "destination mailbox has moved, no forwarding address", "RFC 3463"),
    (1, 7, "bad sender's mailbox address syntax", "RFC 3463"),
    (1, 8, "bad sender's system address", "RFC 3463"),
    (1, 9, "message relayed to non-compliant mailer", "RFC 3886"),
    (1, 10, "recipient address has null MX", "RFC 7505"),
    (2, 0, "other or undefined mailbox status", "RFC 3463"),
    (2, 1, "mailbox disabled, not accepting messages", "RFC 3463"),
    (2, 2, "mailbox full", "RFC 3463"),
    (2, 3, "message length exceeds administrative limit", "RFC 3463"),
    (2, 4, "mailing list expansion problem", "RFC 3463"),
    (3, 0, "other or undefined mail system status", "RFC 3463"),
    (3, 1, "mail system full", "RFC 3463"),
    (3, 2, "system not accepting network messages", "RFC 3463"),
    (3, 3, "system not capable of selected features", "RFC 3463"),
    (3, 4, "message too big for system", "RFC 3463"),
    (3, 5, "system incorrectly configured", "RFC 3463"),
    (3, 6, "requested priority was changed", "RFC 6710"),
    (4, 0, "other or undefined network or routing status", "RFC 3463"),
    (4, 1, "no answer from host", "RFC 3463"),
    (4, 2, "bad connection", "RFC 3463"),
    (4, 3, "directory server failure", "RFC 3463"),
    (4, 4, "unable to route", "RFC 3463"),
    (4, 5, "mail system congestion", "RFC 3463"),
    (4, 6, "routing loop detected", "RFC 3463"),
    (4, 7, "delivery time expired", "RFC 3463"),
    (5, 0, "other or undefined protocol status", "RFC 3463"),
    (5, 1, "invalid command", "RFC 3463"),
    (5, 2, "syntax error", "RFC 3463"),
    (5, 3, "too many recipients", "RFC 3463"),
    (5, 4, "invalid command arguments", "RFC 3463"),
    (5, 5, "wrong protocol version", "RFC 3463"),
    (5, 6, "authentication exchange line too long", "RFC 4954"),
    (6, 0, "other or undefined media error", "RFC 3463"),
    (6, 1, "media not supported", "RFC 3463"),
    (6, 2, "conversion required and prohibited", "RFC 3463"),
    (6, 3, "conversion required but not supported", "RFC 3463"),
    (6, 4, "conversion with loss performed", "RFC 3463"),
    (6, 5, "conversion failed", "RFC 3463"),
    (6, 6, "message content not available", "RFC 4468"),
    (6, 7, "non-ASCII addresses not permitted for that sender or recipient", "RFC 6531"),
    (6, 8, "UTF-8 string reply required, but not permitted by the client", "RFC 6531"),
    (6, 9, "UTF-8 header message cannot be transferred to some recipients", "RFC 6531"),
    (6, 10, "deprecated duplicate of X.6.8", "RFC 6531"),
    (7, 0, "other or undefined security status", "RFC 3463"),
    (7, 1, "delivery not authorized, message refused", "RFC 3463"),
    (7, 2, "mailing list expansion prohibited", "RFC 3463"),
    (7, 3, "security conversion required but not possible", "RFC 3463"),
    (7, 4, "security features not supported", "RFC 3463"),
    (7, 5, "cryptographic failure", "RFC 3463"),
    (7, 6, "cryptographic algorithm not supported", "RFC 3463"),
    (7, 7, "message integrity failure", "RFC 3463"),
    (7, 8, "authentication credentials invalid", "RFC 4954"),
    (7, 9, "authentication mechanism too weak", "RFC 4954"),
    (7, 10, "encryption needed", "RFC 5248"),
    (7, 11, "encryption required for requested authentication mechanism", "RFC 4954"),
    (7, 12, "password transition needed", "RFC 4954"),
    (7, 13, "user account disabled", "RFC 5248"),
    (7, 14, "trust relationship required", "RFC 5248"),
    (7, 15, "priority level too low", "RFC 6710"),
    (7, 16, "message too big for the specified priority", "RFC 6710"),
    (7, 17, "mailbox owner has changed", "RFC 7293"),
    (7, 18, "domain owner has changed", "RFC 7293"),
    (7, 19, "RRVS test cannot be completed", "RFC 7293"),
    (7, 20, "no passing DKIM signature found", "RFC 7372"),
    (7, 21, "no acceptable DKIM signature found", "RFC 7372"),
    (7, 22, "no valid author-matched DKIM signature found", "RFC 7372"),
    (7, 23, "SPF validation failed", "RFC 7372"),
    (7, 24, "SPF validation error", "RFC 7372"),
    (7, 25, "reverse DNS validation failed", "RFC 7372"),
    (7, 26, "multiple authentication checks failed", "RFC 7372"),
    (7, 27, "sender address has null MX", "RFC 7505"),
    (7, 28, "mail flood detected", "IANA registry (RFC 5248 procedure)"),
    (7, 29, "ARC validation failure", "RFC 8617"),
    (7, 30, "REQUIRETLS support required", "RFC 8689"),
)

ENHANCED_DETAILS: Mapping[tuple[int, int], str] = MappingProxyType(
    {(s, d): m for s, d, m, _ in _ENHANCED}
)
ENHANCED_DETAIL_SOURCES: Mapping[tuple[int, int], str] = MappingProxyType(
    {(s, d): r for s, d, _, r in _ENHANCED}
)

# RFC 3463 §2: class 2/4/5, subject and detail 1 to 3 digits each.  Used at the start of
# reply text, so the code must stand alone (followed by whitespace or the end).
_ENHANCED_AT_START = re.compile(r"[ \t]*([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
# RFC 3463 §2: "leading zeros MUST NOT" appear in a sub-code: "5.01.1" is malformed.
_ENHANCED_WHOLE = re.compile(r"([245])\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})")
_LEADING_ZERO = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
LEADING_ZERO_NOTE = "malformed: a sub-code with a leading zero (RFC 3463 §2 forbids them)"


def _split_enhanced(enhanced: str) -> tuple[int, int, int] | None:
    m = _ENHANCED_WHOLE.fullmatch(enhanced.strip())
    if m is None:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def enhanced_problem(enhanced: str) -> str:
    """Why ``enhanced`` is not a valid enhanced status code (it is not one)."""
    if _LEADING_ZERO.fullmatch(enhanced.strip()):
        return LEADING_ZERO_NOTE
    return "not a valid enhanced status code"


def parse_enhanced(text: str) -> str | None:
    """The enhanced status code at the start of reply *text* (``"5.1.1 ..."``), or None.

    The code is returned as written (``"5.1.1"``); ``"5.1.1text"`` and class 6 do not match.
    """
    m = _ENHANCED_AT_START.match(text)
    if m is None:
        return None
    return f"{m.group(1)}.{m.group(2)}.{m.group(3)}"


def describe_basic(code: int) -> str | None:
    """Short meaning of a basic reply code defined by an RFC, or None."""
    return BASIC_CODES.get(code)


def describe_enhanced(enhanced: str) -> str | None:
    """Short meaning of an enhanced status code; None if it is not one.

    Unregistered details are described from their subject, e.g.
    ``"addressing status, detail 99 unregistered"``.
    """
    parts = _split_enhanced(enhanced)
    if parts is None:
        return None
    _, subject, detail = parts
    known = ENHANCED_DETAILS.get((subject, detail))
    if known is not None:
        return known
    subject_text = ENHANCED_SUBJECTS.get(subject)
    if subject_text is None:
        return f"unregistered subject {subject}, detail {detail}"
    return f"{subject_text}, detail {detail} unregistered"


def _describe_by_digits(code: int) -> str:
    """RFC 5321 §4.2.1 reading of a code no RFC defines, from its first two digits."""
    if not 100 <= code <= 999:
        return "not a valid SMTP reply code"
    first, second = code // 100, code // 10 % 10
    first_text = _FIRST_DIGIT.get(first)
    if first_text is None:
        return "not a valid SMTP reply code"
    second_text = _SECOND_DIGIT.get(second, "undefined category")
    return f"{first}yz {first_text}, x{second}z {second_text}"


_REGISTRY_ONLY = re.compile(r"^RFC 5248 registry \((X\.\d+\.\d+)\)$")
_OUTCOME = {2: "success", 4: "temporary failure", 5: "permanent failure"}


def _registry_misfit(code: int, enhanced: str | None) -> bool:
    """A basic code that no RFC defines by itself, only the registry's sample for one
    enhanced code (524 for X.7.11), carried with another enhanced code: the registry's
    meaning does not apply (OpenSMTPD answers an unknown user `524 5.2.4 Mailing list
    expansion problem`, nothing about encryption)."""
    found = _REGISTRY_ONLY.match(BASIC_CODE_SOURCES.get(code, ""))
    parts = _split_enhanced(enhanced) if enhanced is not None else None
    return found is not None and parts is not None and (
        f"X.{parts[1]}.{parts[2]}" != found.group(1))


def annotate(
    code: int, enhanced: str | None, *, verb: str | None = None, text: str = "",
    when: frozenset[str] = frozenset(),
) -> str:
    """One line such as ``550 mailbox unavailable · 5.1.1 bad destination mailbox address``.

    With the command it answers (``verb``, sent when the session was ``when``) and the
    reply's ``text``, a reply whose meaning depends on them (``meanings.MEANINGS``) gets
    that meaning instead of the code's."""
    meaning = meaning_of(verb, code, enhanced, text, when) if verb is not None else None
    if meaning is not None:
        basic = meaning.gloss
    elif _registry_misfit(code, enhanced):
        basic = (f"{_OUTCOME.get(code // 100, 'reply')} (no RFC defines {code} by itself;"
                 f" the enhanced code says what)")
    else:
        basic = describe_basic(code) or _describe_by_digits(code)
    line = f"{code} {basic}"
    if enhanced is None:
        return line
    parts = _split_enhanced(enhanced)
    if parts is None:
        return f"{line} · {enhanced!r} {enhanced_problem(enhanced)}"
    mismatch = str(parts[0]) != str(code)[:1]
    if parts[1:] == (0, 0) and not mismatch:
        return line  # X.0.0 "other undefined status" adds nothing to the basic code
    line = f"{line} · {enhanced.strip()} {describe_enhanced(enhanced)}"
    if mismatch:
        line += " (class mismatch)"
    return line


# -------------------------------------------------------------------------- explanations

class _Advice(Record):
    __slots__ = ("next", "what")

    def __init__(self, what: str, next: str) -> None:
        self.what = what  # what the reply means, in plain words
        self.next = next  # what to try next


# Keyed by the basic code.
_ADVICE_BY_CODE: Mapping[int, _Advice] = MappingProxyType({
    211: _Advice(
        "The server is reporting its status or answering a request for help.",
        "Read the text; nothing needs fixing.",
    ),
    214: _Advice(
        "This is the server's help text, meant for a human reading the session.",
        "Read it for hints about what this server supports, then carry on.",
    ),
    220: _Advice(
        "The server is ready. As a greeting it means you may now introduce yourself; "
        "after STARTTLS it means the TLS handshake can begin.",
        "Send EHLO with your host name (or HELO for very old servers).",
    ),
    221: _Advice(
        "The server is closing the connection, normally because you sent QUIT.",
        "Nothing: the session is over. Connect again to start a new one.",
    ),
    235: _Advice(
        "Authentication worked: the server now knows who you are and may allow relaying.",
        "Start a mail transaction with MAIL FROM:<address>.",
    ),
    250: _Advice(
        "The command was accepted and completed. After EHLO the following lines list the "
        "extensions the server supports; after the final dot of DATA it means the server "
        "has taken responsibility for the message.",
        "Continue with the next step of the dialogue (MAIL, RCPT, DATA or QUIT).",
    ),
    251: _Advice(
        "The recipient is not local to this server, but it will forward the message to "
        "the address it names.",
        "Nothing needs doing; note the new address if you maintain the recipient list.",
    ),
    252: _Advice(
        "The server will not say whether the user exists, but will accept mail for it. "
        "Many servers answer 252 to every VRFY, so it does not prove the user exists.",
        "Compare with the answer for a name that cannot exist; if they match, VRFY "
        "tells you nothing here and RCPT TO is the better test.",
    ),
    253: _Advice(
        "The server has started delivering the messages it was holding for your node (ETRN).",
        "Wait for the server to connect back and deliver them.",
    ),
    334: _Advice(
        "The server is in the middle of an authentication exchange and waits for your next "
        "line: the text after 334 is a base64 challenge (for LOGIN it decodes to "
        "'Username:' or 'Password:').",
        "Send the base64 answer the mechanism requires, or a single '*' to cancel.",
    ),
    354: _Advice(
        "The server is ready for the message itself: headers, a blank line, then the body.",
        "Type the message and end it with a line holding only a dot ('.').",
    ),
    421: _Advice(
        "The server is shutting this connection down: it may be overloaded, restarting, or "
        "limiting you (too many errors, too many connections, or too slow).",
        "Reconnect later; if it keeps happening, slow down and send fewer bad commands.",
    ),
    432: _Advice(
        "The server wants you to move to a new password scheme before this mechanism works.",
        "Authenticate once with AUTH PLAIN over TLS, then retry the mechanism you wanted.",
    ),
    450: _Advice(
        "The mailbox is not available right now, for example because it is busy, locked, "
        "or because the server is greylisting you.",
        "Try the same command again in a few minutes; greylisting accepts the retry.",
    ),
    451: _Advice(
        "The server hit a local problem and aborted the action. Nothing is wrong with your "
        "command as such.",
        "Retry later. If it persists, read the text: it often names the failing check.",
    ),
    452: _Advice(
        "The server is short of storage, or you reached its limit of recipients for one "
        "message.",
        "Retry later, or send the remaining recipients in a second transaction.",
    ),
    453: _Advice(
        "There is no mail waiting for you (ATRN).",
        "Nothing to do; try again when mail is expected.",
    ),
    454: _Advice(
        "A temporary failure: TLS is not available at the moment, or authentication could "
        "not be completed for a reason on the server's side.",
        "Retry later; if STARTTLS keeps failing the server's TLS set-up is probably broken.",
    ),
    455: _Advice(
        "The server cannot handle the parameters you gave right now (for example a SIZE it "
        "has no room for at the moment).",
        "Retry later, or drop the parameter.",
    ),
    458: _Advice(
        "The server could not start delivering the queue for that node (ETRN).",
        "Retry later.",
    ),
    459: _Advice(
        "You are not allowed to ask for that node's queue (ETRN).",
        "Check the node name, or ask the administrator to allow you.",
    ),
    500: _Advice(
        "The server did not understand the command: an unknown verb, a typo, or a line "
        "that is too long.",
        "Check the spelling with 'help'; commands are one line, at most 512 octets.",
    ),
    501: _Advice(
        "The command was recognised but its arguments were not: a missing or malformed "
        "address, a bad domain, or an argument where none is allowed.",
        "Check the syntax with 'help VERB', e.g. MAIL FROM:<you@example.com> with the "
        "angle brackets and no space after the colon.",
    ),
    502: _Advice(
        "The server does not implement this command (or has switched it off, as many do "
        "with VRFY and EXPN).",
        "Look at the EHLO reply to see what is supported, and use something else.",
    ),
    503: _Advice(
        "The command came in the wrong order: for example RCPT before MAIL, DATA before any "
        "accepted RCPT, MAIL before EHLO, or AUTH after a transaction started.",
        "Follow the order EHLO, MAIL FROM, RCPT TO, DATA; RSET starts a transaction over.",
    ),
    504: _Advice(
        "The command is known but the parameter you gave is not implemented, e.g. an "
        "unknown AUTH mechanism.",
        "Use one of the values the server advertised in its EHLO reply.",
    ),
    521: _Advice(
        "This host never accepts mail; it answers every connection like this.",
        "Check the domain's MX records: you are probably talking to the wrong host.",
    ),
    523: _Advice(
        "The server needs an encrypted connection before it will do this.",
        "Run STARTTLS, EHLO again, then retry.",
    ),
    524: _Advice(
        "This authentication mechanism may only be used over an encrypted connection.",
        "Run STARTTLS, EHLO again, then retry AUTH.",
    ),
    525: _Advice(
        "The account authenticated, but it is disabled.",
        "Contact the administrator of the server; retrying will not help.",
    ),
    530: _Advice(
        "Access is refused until you do something first: usually this server wants you to "
        "authenticate (AUTH); some servers send 530 to demand STARTTLS first.",
        "If the text mentions TLS, run STARTTLS and EHLO again; otherwise authenticate "
        "(try /auth), then repeat the command.",
    ),
    534: _Advice(
        "The authentication mechanism you chose is weaker than this server allows for "
        "your account.",
        "Pick a stronger mechanism from the EHLO AUTH line, or STARTTLS first.",
    ),
    535: _Advice(
        "The credentials were rejected: wrong user name or password, or a mechanism the "
        "account may not use.",
        "Check user name and password and try again (with care: repeated failures are "
        "often rate-limited or get the account locked).",
    ),
    538: _Advice(
        "This authentication mechanism is only allowed over an encrypted connection.",
        "Run STARTTLS, EHLO again, then retry AUTH.",
    ),
    550: _Advice(
        "The action was refused for good: the mailbox does not exist, or policy forbids it "
        "(relaying, a blocklist, a failed sender check).",
        "Read the text and the enhanced code; fix the address or the policy problem before "
        "retrying, since the same command will fail again.",
    ),
    551: _Advice(
        "The user is not local here; the server will not forward, but may name a better "
        "address.",
        "Send to the address given in the text, if any.",
    ),
    552: _Advice(
        "A storage limit was exceeded: the message is too big or the mailbox is full.",
        "Send a smaller message; check the SIZE value in the EHLO reply.",
    ),
    553: _Advice(
        "The address is not allowed: its syntax is wrong or the server refuses that name "
        "(for example a sender you may not use).",
        "Check the address syntax and that you may use that sender.",
    ),
    554: _Advice(
        "The transaction failed for good. As a greeting it means this server will not talk "
        "to you at all; after DATA it usually means the content was rejected.",
        "Read the text; a greeting 554 usually means your address is blocked.",
    ),
    555: _Advice(
        "A parameter after the address in MAIL FROM or RCPT TO was not recognised or is "
        "not implemented.",
        "Only use parameters whose extension appears in the EHLO reply, or leave them out.",
    ),
    556: _Advice(
        "The recipient's domain does not accept mail at all (it may publish a null MX).",
        "Nothing will deliver there; check the address for typos.",
    ),
})

# Keyed by a full enhanced code ("5.7.1"), or class-agnostic ("X.1.1").
_ADVICE_BY_ENHANCED: Mapping[str, _Advice] = MappingProxyType({
    "X.1.1": _Advice(
        "The mailbox (the part before the @) does not exist on that server.",
        "Check the spelling of the address; when enumerating users, this is the answer "
        "for a name that does not exist.",
    ),
    "X.1.2": _Advice(
        "The domain (the part after the @) does not exist or does not receive mail.",
        "Check the domain part of the address.",
    ),
    "X.1.3": _Advice(
        "The recipient address is not valid syntax.",
        "Write it as <local@domain>, with angle brackets.",
    ),
    "X.1.7": _Advice(
        "The sender address is not valid syntax.",
        "Write it as MAIL FROM:<local@domain>, or <> for a bounce.",
    ),
    "X.1.8": _Advice(
        "The sender's domain does not exist or cannot receive replies, so the server will "
        "not accept mail from it.",
        "Use a sender address in a domain that resolves and has MX or A records.",
    ),
    "X.1.10": _Advice(
        "The recipient's domain publishes a null MX: it declares that it accepts no mail.",
        "Nothing will deliver there; check the address for typos.",
    ),
    "X.2.1": _Advice(
        "The mailbox exists but is disabled.",
        "Contact the recipient another way.",
    ),
    "X.2.2": _Advice(
        "The recipient's mailbox is full.",
        "Retry later, after the recipient has made room.",
    ),
    "X.3.4": _Advice(
        "The message is bigger than this server accepts.",
        "Send something smaller; the EHLO SIZE line gives the limit.",
    ),
    "X.5.6": _Advice(
        "An authentication line was longer than the server accepts.",
        "Send the initial response on its own line after the 334 instead of inline.",
    ),
    "X.6.7": _Advice(
        "An address has non-ASCII characters, which this server (or this transaction) does "
        "not allow.",
        "Use an ASCII address, or SMTPUTF8 if the server advertises it.",
    ),
    "4.7.0": _Advice(
        "A temporary security or policy problem, e.g. TLS not available right now or an "
        "authentication back end that is down.",
        "Retry later.",
    ),
    "5.7.0": _Advice(
        "A security or policy rule refused the command, without naming which.",
        "Read the text for the rule that fired.",
    ),
    "4.7.1": _Advice(
        "A policy check deferred you for now; often greylisting or rate limiting.",
        "Retry in a few minutes, and slow down.",
    ),
    "5.7.1": _Advice(
        "Delivery was not authorized. Often this is relaying denied: a server only carries "
        "mail for its own domains, or for clients that authenticated or sit on trusted "
        "networks; asking it to deliver to another domain is 'relaying', and refusing "
        "that is what stops it being an open relay. It can also be a blocklist or a "
        "sender the server does not trust.",
        "Send to a recipient in one of the server's own domains, or authenticate first "
        "(/auth) if you are a legitimate user of this server.",
    ),
    "X.7.8": _Advice(
        "The credentials were wrong.",
        "Check user name and password; repeated failures may lock the account.",
    ),
    "X.7.9": _Advice(
        "The chosen authentication mechanism is too weak for this account.",
        "Use a stronger mechanism, or STARTTLS first.",
    ),
    "X.7.10": _Advice(
        "Encryption is needed before this can go ahead.",
        "Try STARTTLS, then EHLO again and repeat the command.",
    ),
    "X.7.11": _Advice(
        "Encryption is required for the authentication mechanism you chose: the password "
        "would otherwise cross the network in the clear.",
        "Try STARTTLS (then EHLO again) before AUTH.",
    ),
    "X.7.13": _Advice(
        "The account is disabled.",
        "Contact the server's administrator.",
    ),
    "X.7.23": _Advice(
        "The sender's SPF record says your client may not send mail for that domain.",
        "Send from an address whose domain allows your IP, or fix the SPF record.",
    ),
    "X.7.25": _Advice(
        "Your client's IP address failed the reverse-DNS check.",
        "Give the sending host a PTR record that matches its forward name.",
    ),
    "X.7.26": _Advice(
        "The message failed several authentication checks (SPF, DKIM, DMARC, ...).",
        "Fix the sender domain's SPF and DKIM set-up.",
    ),
    "X.7.27": _Advice(
        "The sender's domain publishes a null MX, so it could never receive a bounce.",
        "Use a sender address in a domain that accepts mail.",
    ),
    "X.7.30": _Advice(
        "The message asked for REQUIRETLS, but a server on the way does not support it.",
        "Send without REQUIRETLS, or to a server that supports it.",
    ),
})

# A particular code and enhanced code together, when the pair means more than the parts.
_ADVICE_BY_PAIR: Mapping[tuple[int, str], _Advice] = MappingProxyType({
    (530, "5.7.0"): _Advice(
        "This server wants AUTH: it will not go on until you authenticate. (If the text "
        "says 'STARTTLS', it wants encryption first instead.)",
        "Try /auth (or AUTH with a mechanism from the EHLO reply); run STARTTLS first if "
        "the server asks for it or lists no AUTH yet.",
    ),
    (454, "4.7.0"): _Advice(
        "TLS is not available right now, or authentication failed for a temporary reason "
        "on the server's side.",
        "Retry later.",
    ),
})

_ADVICE_BY_CLASS: Mapping[int, _Advice] = MappingProxyType({
    1: _Advice(
        "A preliminary positive reply, which SMTP does not normally use.",
        "Wait for the final reply.",
    ),
    2: _Advice("The command succeeded.", "Carry on with the dialogue."),
    3: _Advice(
        "The server accepted the command so far and waits for more from you.",
        "Send what the server asks for.",
    ),
    4: _Advice(
        "A temporary failure: the same command may work later.",
        "Wait a little and try again.",
    ),
    5: _Advice(
        "A permanent failure: repeating the command unchanged will fail again.",
        "Read the text, change the command, and try again.",
    ),
})

_SUBJECT_HINTS: Mapping[int, str] = MappingProxyType({
    0: "The enhanced code adds nothing beyond its class.",
    1: "The enhanced code concerns an address (sender or recipient).",
    2: "The enhanced code concerns the recipient's mailbox.",
    3: "The enhanced code concerns the receiving mail system.",
    4: "The enhanced code concerns the network or routing (DNS, connections, timeouts).",
    5: "The enhanced code concerns the SMTP protocol itself: commands, syntax, order.",
    6: "The enhanced code concerns the message content or its encoding.",
    7: "The enhanced code concerns security or policy: authentication, encryption, "
       "filtering.",
})


def _enhanced_advice(parts: tuple[int, int, int]) -> _Advice | None:
    cls, subject, detail = parts
    exact = _ADVICE_BY_ENHANCED.get(f"{cls}.{subject}.{detail}")
    return exact or _ADVICE_BY_ENHANCED.get(f"X.{subject}.{detail}")


def explain(
    code: int, enhanced: str | None, *, verb: str | None = None, text: str = "",
    when: frozenset[str] = frozenset(),
) -> str:
    """A plain-language explanation of a reply for learners, ending with what to try next.

    Lines: what the basic code means, what the enhanced code adds (if any), then
    ``What to try next: ...``. Given the command it answers and the reply's text, a reply
    whose meaning depends on them is explained from ``meanings.MEANINGS``.
    """
    parts = _split_enhanced(enhanced) if enhanced is not None else None
    norm = f"{parts[0]}.{parts[1]}.{parts[2]}" if parts else None
    shown = norm if norm is not None else enhanced
    meaning = meaning_of(verb, code, enhanced, text, when) if verb is not None else None
    if meaning is not None:
        return "\n".join([
            annotate(code, shown, verb=verb, text=text, when=when) + ".",
            meaning.what,
            f"What to try next: {meaning.next}",
        ])
    lines = [annotate(code, shown) + "."]

    pair = _ADVICE_BY_PAIR.get((code, norm)) if norm else None
    if pair is not None:
        lines.append(pair.what)
        lines.append(f"What to try next: {pair.next}")
        return "\n".join(lines)

    # A registry-only code with another enhanced code: its registry advice does not apply.
    by_code = None if _registry_misfit(code, enhanced) else _ADVICE_BY_CODE.get(code)
    basic = by_code or _ADVICE_BY_CLASS.get(code // 100)
    if basic is None:
        lines.append("This is not a reply code SMTP defines; the server may be broken or "
                     "not speaking SMTP.")
        lines.append("What to try next: check that you are connected to a mail server.")
        return "\n".join(lines)
    lines.append(basic.what)
    next_step = basic.next

    if enhanced is not None and parts is None:
        if _LEADING_ZERO.fullmatch(enhanced.strip()):
            lines.append(f"{enhanced!r} is malformed: RFC 3463 §2 forbids leading zeros in"
                         " the subject and detail, so it is not read as a code.")
        else:
            lines.append(f"{enhanced!r} is not a valid enhanced status code"
                         " (class.subject.detail, class 2, 4 or 5).")
    elif parts is not None:
        detail = _enhanced_advice(parts)
        if detail is not None:
            lines.append(detail.what)
            next_step = detail.next  # the enhanced code is the more specific of the two
        else:
            lines.append(_SUBJECT_HINTS.get(parts[1], "The enhanced code's subject is not "
                                                      "registered."))
        if str(parts[0]) != str(code)[:1]:
            lines.append("The enhanced code's class does not match the basic code's first "
                         "digit, which RFC 3463 says it should; trust the basic code.")
    lines.append(f"What to try next: {next_step}")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ timeouts

# RFC 5321 §4.5.3.2 client timeouts in seconds, keyed by what is being waited for.
REPLY_TIMEOUTS: Mapping[str, int] = MappingProxyType({
    "greeting": 300,     # the 220 banner
    "MAIL": 300,
    "RCPT": 300,
    "DATA": 120,         # the 354 after DATA
    "data-block": 180,   # each write of message data
    "data-end": 600,     # the reply after the final "."
    "default": 300,      # any other command
})


def reply_timeout(awaiting: str) -> int:
    """Seconds to wait for *awaiting* (a key of REPLY_TIMEOUTS or any verb)."""
    if awaiting in REPLY_TIMEOUTS:
        return REPLY_TIMEOUTS[awaiting]
    return REPLY_TIMEOUTS.get(awaiting.upper(), REPLY_TIMEOUTS["default"])
