"""Queue ids in the reply to the end of a message, one pattern a server family (data).

The id is the server's name for the message in its queue and logs: the thing to quote
when asking its postmaster what happened. Each family words the reply its own way; a
reply that matches none carries no id (nodemailer's smtp-server and aiosmtpd by default
answer `250 OK: message queued` / `250 OK`), and smtpsh then says none was given rather
than take a word of the text for one.
"""

from __future__ import annotations

import re

# (family, pattern with one group: the id, an example reply text). Tried in order.
QUEUE_ID_PATTERNS: tuple[tuple[str, str, str], ...] = (
    ("Postfix", r"\bqueued as ([A-Za-z0-9]+)\b", "2.0.0 Ok: queued as 4XyZ1k2Q3sz9"),
    ("Exim", r"\bid=([A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)\b", "OK id=1t2AbC-000123-Ab"),
    ("Haraka", r"\bMessage Queued \(([0-9A-Fa-f]{8}(?:-[0-9A-Fa-f]{4}){3}-[0-9A-Fa-f]{12}"
     r"(?:\.\d+)*)\)", "Message Queued (6CC4D740-A4BC-434B-9624-234B458BE69A.2)"),
    ("OpenSMTPD / Sendmail", r"^(?:[245]\.\d{1,3}\.\d{1,3} )?([A-Za-z0-9]{8,16}) Message"
     r" accepted for delivery", "2.0.0 386299ba Message accepted for delivery"),
    ("qmail", r"\bok \d+ qp (\d+)\b", "ok 1700000000 qp 12345"),
    ("Microsoft Exchange", r"\[InternalId=(\d+)", "2.6.0 <a@b> [InternalId=123456] Queued"
     " mail for delivery"),
    ("generic", r"\bqueued? (?:as|with id|id)[:= ]+<?([A-Za-z0-9][A-Za-z0-9._-]{3,})",
     "Queued as 00A1B2"),
)
_COMPILED = tuple(
    (family, re.compile(pattern, re.IGNORECASE | re.MULTILINE))
    for family, pattern, _example in QUEUE_ID_PATTERNS
)


def find_queue_id(text: str) -> tuple[str, str] | None:
    """(queue id, the family whose wording matched) in a reply's text, or None."""
    for family, pattern in _COMPILED:
        match = pattern.search(text)
        if match:
            return match.group(1), family
    return None
