"""Postfix's XCLIENT and XFORWARD from the shell: /xclient and /xforward.

XCLIENT (XCLIENT_README) makes an authorised client look like another one — its address,
name, HELO — so access rules can be tested from one machine. The server then starts the
session again: its reply is a new 220 greeting, and EHLO must be said again (smtpsh does).
XFORWARD only changes what the server logs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smtpsh.protocol.commands import XCLIENT_ATTRIBUTES, XFORWARD_ATTRIBUTES, xtext
from smtpsh.shell.metacommands import meta

if TYPE_CHECKING:
    from smtpsh.shell.app import Shell


def forward_line(verb: str, args: str) -> tuple[str | None, str]:
    """'addr=192.0.2.1 helo=x' -> ('XCLIENT ADDR=192.0.2.1 HELO=x', ''), or (None, why)."""
    table = XCLIENT_ATTRIBUTES if verb == "XCLIENT" else XFORWARD_ATTRIBUTES
    parts = []
    for word in args.split():
        name, sep, value = word.partition("=")
        name = name.upper()
        if not sep or not value:
            return None, f"'{word}': give NAME=VALUE (attributes: {' '.join(table)})"
        if name not in table:
            return None, f"{verb} has no attribute {name} (it has: {' '.join(table)})"
        # [UNAVAILABLE] and [TEMPUNAVAIL] are written as they are (XCLIENT_README).
        parts.append(f"{name}={value if value.startswith('[') else xtext(value)}")
    if not parts:
        return None, f"usage: /{verb.lower()} NAME=VALUE ... (attributes: {' '.join(table)})"
    return f"{verb} {' '.join(parts)}", ""


async def _forward(shell: Shell, verb: str, args: str) -> None:
    line, problem = forward_line(verb, args)
    if line is None:
        shell.error(problem)
        return
    session = shell.session
    if session.esmtp and not session.advertises(verb):
        shell.warn(
            f"the server did not advertise {verb} (Postfix offers it only to hosts in"
            f" smtpd_authorized_{verb.lower()}_hosts); sending anyway"
        )
    from smtpsh.shell.tls_commands import send_shown

    reply = await send_shown(shell, line)
    if reply is None or verb != "XCLIENT" or reply.klass != 2:
        return
    helo = next(
        (w.split("=", 1)[1] for w in args.split() if w.upper().startswith("HELO=")),
        shell.settings.helo,
    )
    greeting = "LHLO" if session.lmtp else "EHLO"
    shell.info(
        f"XCLIENT accepted: the {reply.code} is a new greeting and the session starts again"
        f" as the client you described; {greeting} again"
    )
    await send_shown(shell, f"{greeting} {helo}")


@meta(
    "/xclient",
    "/xclient NAME=VALUE ...",
    "Postfix XCLIENT: act as another client (ADDR=, NAME=, HELO=…), then EHLO again",
    "proxy",
)
async def _xclient(shell: Shell, args: str) -> None:
    await _forward(shell, "XCLIENT", args)


@meta(
    "/xforward",
    "/xforward NAME=VALUE ...",
    "Postfix XFORWARD: pass an original client's details (for the server's logs)",
    "proxy",
)
async def _xforward(shell: Shell, args: str) -> None:
    await _forward(shell, "XFORWARD", args)
