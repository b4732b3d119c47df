"""What the sandbox received, and how `/mailbox` shows it."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class ReceivedMessage:
    """One message accepted after DATA.  Nothing ever leaves the sandbox: this is all of it."""

    mail_from: str  # reverse-path without <>; "" for the null sender <>
    rcpt_tos: list[str]  # forward-paths as the client wrote them, without <>
    data: bytes  # the message as received: CRLF line ends, dot-stuffing removed
    received_at: datetime  # local time, timezone-aware
    peer: str  # "127.0.0.1:54321" / "[::1]:54321"
    tls: bool  # sent after a STARTTLS upgrade
    authenticated_as: str | None  # AUTH user name, None when not authenticated
    queue_id: str = ""  # as given in `250 2.0.0 Ok: queued as <id>`
    helo: str | None = None  # what the client said in HELO/EHLO
    esmtp: bool = False  # the client greeted with EHLO (not HELO)
    mail_options: list[str] = field(default_factory=list)  # e.g. ["BODY=8BITMIME"]

    def headers(self) -> list[tuple[str, str]]:
        """The header fields, unfolded, in order (raw: encoded-words are not decoded)."""
        return header_fields(self.data)


# RFC 5322 §2.2: a field name is printable US-ASCII except the colon.
_FIELD = re.compile(r"([!-9;-~]+):(.*)", re.DOTALL)
_LINE_END = re.compile(r"\r\n|\n|\r")
# Control characters in a received header must not reach the terminal (escape sequences).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f]")


def header_fields(data: bytes) -> list[tuple[str, str]]:
    """Header fields up to the first empty line; none when the first line is not one.

    Done by hand rather than with the email package so that 8-bit bytes come out as UTF-8
    (or U+FFFD) and a malformed header never raises.
    """
    fields: list[tuple[str, str]] = []
    for line in _LINE_END.split(data.decode("utf-8", "replace")):
        if line[:1] in (" ", "\t") and fields:  # folded continuation (RFC 5322 §2.2.3)
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".strip())
            continue
        m = _FIELD.fullmatch(line)
        if m is None:  # the empty line before the body, or a body with no header at all
            break
        fields.append((m.group(1), m.group(2).strip()))
    return fields


def _visible(text: str) -> str:
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_message(number: int, total: int, msg: ReceivedMessage) -> str:
    """One `/mailbox` block: envelope, session facts, header fields, size."""
    when = msg.received_at.strftime("%Y-%m-%d %H:%M:%S %z")
    size = len(msg.data)
    facts = [f"from {msg.peer}"]
    if msg.helo:
        facts.append(f"{'EHLO' if msg.esmtp else 'HELO'} {_visible(msg.helo)}")
    facts.append("TLS" if msg.tls else "no TLS")
    facts.append(
        f"authenticated as {_visible(msg.authenticated_as)}"
        if msg.authenticated_as
        else "not authenticated"
    )
    options = f"  {' '.join(msg.mail_options)}" if msg.mail_options else ""
    lines = [
        f"── message {number} of {total} · queued as {msg.queue_id} · {when} · {size:,} bytes",
        f"   session    {' · '.join(facts)}",
        f"   MAIL FROM  <{_visible(msg.mail_from)}>{_visible(options)}",
        f"   RCPT TO    {', '.join(f'<{_visible(r)}>' for r in msg.rcpt_tos)}",
    ]
    headers = msg.headers()
    if not headers:
        lines.append("   (no header fields: the message starts with its body)")
    lines.extend(f"   {_visible(name)}: {_visible(value)}" for name, value in headers)
    return "\n".join(lines)


def body_lines(msg: ReceivedMessage) -> list[str]:
    """The body (after the first empty line; all of it when there is no header), escaped."""
    text = msg.data.decode("utf-8", "replace")
    lines = _LINE_END.split(text)
    if lines and lines[-1] == "":
        lines.pop()  # the line end after the last line
    if msg.headers():
        start = lines.index("") + 1 if "" in lines else len(lines)
        lines = lines[start:]
    return [_visible(line) for line in lines]


def format_mailbox(messages: Sequence[ReceivedMessage], number: int | None = None) -> str:
    """`/mailbox`: one block per message, oldest first (envelope and header fields);
    `/mailbox N`: message N whole, its body too."""
    if not messages:
        return "The sandbox mailbox is empty: no message has been received yet."
    total = len(messages)
    if number is None:
        blocks = [format_message(i, total, m) for i, m in enumerate(messages, start=1)]
        blocks.append(f"/mailbox N shows message N with its body (/mailbox {total}: the last)")
        return "\n".join(blocks)
    if not 1 <= number <= total:
        raise ValueError(f"no message {number}: the mailbox holds 1 to {total}")
    msg = messages[number - 1]
    body = body_lines(msg)
    return "\n".join(
        [format_message(number, total, msg), "   ── body" + (" (empty)" if not body else "")]
        + [f"   {line}" for line in body]
    )
