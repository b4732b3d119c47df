"""/mx, /dns and /info: the mail domain's DNS from inside the shell (smtpsh.dns does the work).

dnspython is synchronous, so the look-ups run in a worker thread: the shell keeps showing
replies that arrive meanwhile, and Ctrl-C stops the wait.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from smtpsh.shell.metacommands import meta

if TYPE_CHECKING:
    import dns.resolver

    from smtpsh.output.printer import Fragments
    from smtpsh.shell.app import Shell


def _resolver(shell: Shell) -> dns.resolver.Resolver | None:
    from smtpsh.dns import DNSInputError, make_resolver

    try:
        return make_resolver(shell.extra.get("dns_server"), shell.extra.get("dns_timeout"))
    except DNSInputError as exc:
        shell.error(str(exc))
        return None


async def _show(shell: Shell, work: Callable[[], list[Fragments]]) -> None:
    lines = await shell.guard(asyncio.get_running_loop().run_in_executor(None, work))
    shell.printer.lines(lines)


@meta("/mx", "/mx DOMAIN", "the domain's MX records, in the order a client tries them", "dns")
async def _mx(shell: Shell, args: str) -> None:
    from smtpsh.dns import mx_report_lines

    domain = args.strip()
    resolver = _resolver(shell)
    if not domain:
        shell.error("usage: /mx DOMAIN")
    elif resolver is not None:
        await _show(shell, lambda: mx_report_lines(domain, resolver))


@meta(
    "/dns", "/dns DOMAIN [DKIM-SELECTOR...]", "MX, SPF, DMARC, MTA-STS, TLS-RPT, TLSA, DKIM", "dns"
)
async def _dns(shell: Shell, args: str) -> None:
    from smtpsh.dns import dns_report_lines

    words = args.split()
    resolver = _resolver(shell)
    if not words:
        shell.error("usage: /dns DOMAIN [DKIM-SELECTOR...]")
    elif resolver is not None:
        await _show(shell, lambda: dns_report_lines(words[0], resolver, words[1:]))


@meta("/info", "/info", "PTR of the server's address, FCrDNS, banner name match", "dns")
async def _info(shell: Shell, args: str) -> None:
    from smtpsh.dns import info_lines

    peer = shell.client.peer
    if peer is None:
        shell.error("/info needs a connection: /reconnect first")
        return
    banner = shell.session.banner
    banner_text = f"{banner.code} {banner.lines[0]}" if banner and banner.lines else None
    resolver = _resolver(shell)
    if resolver is not None:
        shell.say(f"connected to {peer[0]} port {peer[1]}")
        await _show(shell, lambda: info_lines(peer[0], resolver, banner=banner_text))
    for line in family_lines(shell):
        shell.say(line)


def family_lines(shell: Shell) -> list[str]:
    """What software the banner names and which MTA family this session's banner and EHLO
    keywords point to (audit/fingerprint.py); `smtpsh probe` asks more to be sure."""
    from smtpsh.audit.fingerprint import best, fingerprint, reply_text
    from smtpsh.audit.software import identify

    session = shell.session
    banner = session.banner
    observations: dict[str, str] = {}
    lines: list[str] = []
    if banner is not None and banner.lines:
        observations["banner"] = reply_text(banner.code, banner.lines)
        found = identify(banner.lines[0], "banner")
        lines.append(f"software  {found.text} (from the banner)" if found else
                     "software  the banner names none")  # fmt: skip
    if session.extensions:
        observations["keywords"] = " ".join(session.extensions)
    guess = best(fingerprint(observations)) if observations else None
    if guess is None:
        lines.append("family    not told apart by the banner and EHLO alone "
                     "(smtpsh probe also looks at how it answers)")  # fmt: skip
    else:
        why = "; ".join(e.trait for e in guess.evidence)
        lines.append(f"family    {guess.family} (from this session's banner and EHLO; "
                     f"confidence {guess.level}, {guess.confidence:.2f}: {why})")
    return lines
