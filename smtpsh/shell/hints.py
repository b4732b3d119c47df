"""Recovery hints as commands that work where they are shown.

The network layer words its hints with smtpsh's command-line options ("reconnect with
--tls", "trust it with --cafile FILE"): right for a piped run, which is started again with
them. In the interactive shell the same advice is a /reconnect with those options (a failed
handshake has closed the connection), so the hint is rewritten into that command.
"""

from __future__ import annotations

import re

# (pattern, replacement); {mode} is --tls or --starttls: how the failed connection began.
_SHELL_FORMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"reconnect with --tls", "/reconnect --tls"),
        (r"try without --tls, then STARTTLS", "/reconnect --starttls"),
        # Only where an option is advice ("use --cafile FILE", "or --no-verify"), never
        # where it names what was done ("verified: NO (--no-verify, ...)").
        (r"\b(use|with) --cafile FILE", r"\1 /reconnect {mode} --cafile FILE"),
        (r"\b(or|with) --no-verify\b", r"\1 /reconnect {mode} --no-verify"),
        (r"(?<![\w/-])--client-cert FILE \(and --client-key\)",
         "smtpsh --client-cert FILE --client-key FILE (not available in /reconnect)"),
    )
)


def in_shell(text: str, *, implicit_tls: bool) -> str:
    """``text`` with command-line advice turned into the shell command that does it."""
    if "--" not in text:
        return text
    mode = "--tls" if implicit_tls else "--starttls"
    for pattern, replacement in _SHELL_FORMS:
        text = pattern.sub(replacement.format(mode=mode), text)
    return text
