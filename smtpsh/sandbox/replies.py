"""Make aiosmtpd's built-in replies look like a real MTA's.

aiosmtpd answers many commands itself (`250 OK`, `503 Error: need MAIL command`, ...)
without enhanced status codes, although the sandbox advertises ENHANCEDSTATUSCODES.
Each reply line goes through `realistic()`: known aiosmtpd wordings are replaced with
Postfix's, and any other line still lacking an enhanced code gets the usual one for its
basic code.  Tables, not branches, so a new aiosmtpd wording is a one-line fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

# aiosmtpd's exact wording -> what Postfix says in the same situation.
EXACT: Mapping[str, str] = MappingProxyType(
    {
        "250 OK": "250 2.0.0 Ok",
        "221 Bye": "221 2.0.0 Bye",
        "220 Ready to start TLS": "220 2.0.0 Ready to start TLS",
        "454 TLS not available": "454 4.7.0 TLS not available due to local problem",
        "500 Command line too long": "500 5.5.0 Error: line too long",
        "503 Error: send HELO first": "503 5.5.1 Error: send HELO/EHLO first",
        "503 Error: send EHLO first": "503 5.5.1 Error: send HELO/EHLO first",
        "503 Already authenticated": "503 5.5.1 Error: already authenticated",
        "501 Not enough value": "501 5.5.4 Syntax: AUTH mechanism",
        "501 Too many values": "501 5.5.4 Syntax: AUTH mechanism [initial-response]",
        "501 5.7.0 Auth aborted": "501 5.7.0 Authentication aborted",
        "552 Error: Too much mail data": "552 5.3.4 Error: message file too big",
        "552 Error: message size exceeds fixed maximum message size": (
            "552 5.3.4 Message size exceeds fixed limit"
        ),
        "554 Command refused due to lack of security": (
            "554 5.7.0 Command refused: the TLS handshake failed"
        ),
    }
)

# aiosmtpd wordings that carry a variable tail: the prefix is replaced, the tail kept.
PREFIXES: tuple[tuple[str, str], ...] = (
    # Postfix does not echo an unknown verb: `500 5.5.2 Error: command not recognized`.
    ('500 Error: command "', "500 5.5.2 Error: command not recognized"),
    ("500 Error: command '", "500 5.5.2 Error: command not recognized"),
    ("500 Error: (", "451 4.3.0 Error: internal error in the sandbox ("),
    ("250 Supported commands: ", "214 2.0.0 Commands: "),
    ("501 Supported commands: ", "504 5.5.1 No help for that; commands: "),
    ("250 Syntax: ", "214 2.0.0 Syntax: "),
    ("502 Could not VRFY ", "501 5.1.3 Bad recipient address syntax: "),
)

# The enhanced code a reply gets when neither table above knew it (RFC 3463 / 5248).
DEFAULT_ENHANCED: Mapping[int, str] = MappingProxyType(
    {
        211: "2.0.0",
        214: "2.0.0",
        220: "2.0.0",
        221: "2.0.0",
        235: "2.7.0",
        250: "2.0.0",
        251: "2.1.5",
        252: "2.0.0",
        421: "4.3.2",
        450: "4.2.0",
        451: "4.3.0",
        452: "4.3.1",
        454: "4.7.0",
        455: "4.5.0",
        500: "5.5.2",
        501: "5.5.4",
        502: "5.5.1",
        503: "5.5.1",
        504: "5.5.4",
        530: "5.7.0",
        534: "5.7.9",
        535: "5.7.8",
        538: "5.7.11",
        550: "5.0.0",
        551: "5.1.6",
        552: "5.3.4",
        553: "5.1.3",
        554: "5.0.0",
        555: "5.5.4",
    }
)

# Exim's wording for what aiosmtpd answers itself; Exim adds no enhanced codes.
EXIM_EXACT: Mapping[str, str] = MappingProxyType(
    {
        "250 OK": "250 OK",
        "221 Bye": "221 {host} closing connection",
        "220 Ready to start TLS": "220 TLS go ahead",
        "503 Error: need MAIL command": "503 sender not yet given",
        "503 Error: nested MAIL command": "503 sender already given",
        "503 Error: need RCPT command": "503 valid RCPT command must precede DATA",
        "503 Error: send HELO first": "503 HELO or EHLO required",
        "503 Error: send EHLO first": "503 HELO or EHLO required",
        "503 Already authenticated": "503 already authenticated",
        "354 End data with <CR><LF>.<CR><LF>": (
            '354 Enter message, ending with "." on a line by itself'
        ),
        "530 Must issue a STARTTLS command first": "530 Must issue a STARTTLS command first",
    }
)
EXIM_PREFIXES: tuple[tuple[str, str], ...] = (
    ("500 Error: command ", "500 unrecognized command"),  # Exim does not echo the verb
    ("250 Supported commands: ", "214 Commands supported: "),
    ("250 Syntax: ", "214 Syntax: "),
)

_REPLY = re.compile(r"(?P<code>[2-5]\d\d)(?P<sep>[ -])(?P<text>.*)\Z", re.DOTALL)
_ENHANCED = re.compile(r"[245]\.\d{1,3}\.\d{1,3}(?: |\Z)")


def exim_like(line: str, host: str) -> str:
    """One reply line in Exim's wording (no enhanced status code is added)."""
    if line in EXIM_EXACT:
        return EXIM_EXACT[line].format(host=host)
    for old, new in EXIM_PREFIXES:
        if line.startswith(old):
            return new if new.startswith("500") else new + line[len(old) :]
    return line


def realistic(line: str) -> str:
    """One reply line, reworded like Postfix and carrying an enhanced status code.

    3xx replies are left alone: `354` has none in practice and a `334` carries base64.
    """
    if line in EXACT:
        return EXACT[line]
    for old, new in PREFIXES:
        if line.startswith(old):
            return new if new.endswith("not recognized") else new + line[len(old) :]
    m = _REPLY.match(line)
    if m is None or m["code"].startswith("3") or _ENHANCED.match(m["text"]):
        return line
    enhanced = DEFAULT_ENHANCED.get(int(m["code"]))
    if enhanced is None:
        return line
    return f"{m['code']}{m['sep']}{enhanced} {m['text']}"
