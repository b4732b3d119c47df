"""MX resolution and the mail-domain report: ``smtpsh dns DOMAIN``, ``/mx``, ``/dns``, ``/info``.

The checks live in :mod:`smtpsh.dnsinfo`; this module is the entry point the CLI and
the shell use. Data functions (``resolve_mx``, ``mx_candidates``, ``build_report``,
``check_ptr``) never print; the ``*_text`` functions return text for the shell and
never raise for bad input or DNS failures.

Typical use for ``smtpsh --mx DOMAIN``::

    resolver = make_resolver(args.dns_server, args.dns_timeout)
    mx = resolve_mx(domain, resolver)
    Printer(colour=False).lines(mx_lines(mx))   # smtpsh.output.printer
    for host, address in mx_candidates(mx):
        ...  # connect to address:25, stop at the first that answers
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import dns.resolver

if TYPE_CHECKING:
    import ssl

from smtpsh import exitcodes, flags, jsonout
from smtpsh.dnsinfo.lookup import (
    DNSInputError,
    Failure,
    make_resolver,
    parse_domain,
    parse_server,
)
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.mx import Exchanger, MXKind, MXResult, mx_candidates, resolve_mx
from smtpsh.dnsinfo.policy import resolving_fetch
from smtpsh.dnsinfo.ptr import PTRResult, banner_hostname, check_ptr
from smtpsh.dnsinfo.report import (
    EXIT_UNRESOLVED,
    DomainReport,
    DomainResolutionError,
    build_report,
    format_mx,
    mx_lines,
    ptr_lines,
    render_text,
    report_lines,
)
from smtpsh.output.printer import Fragments, print_error, render, report_printer
from smtpsh.target import UsageError

__all__ = [
    "DNSInputError",
    "DomainReport",
    "DomainResolutionError",
    "Exchanger",
    "Failure",
    "Item",
    "MXKind",
    "MXResult",
    "PTRResult",
    "Status",
    "add_arguments",
    "add_resolver_arguments",
    "banner_hostname",
    "build_report",
    "check_ptr",
    "dns_report_lines",
    "dns_report_text",
    "format_mx",
    "info_lines",
    "info_text",
    "make_resolver",
    "mx_candidates",
    "mx_lines",
    "mx_report_lines",
    "mx_report_text",
    "parse_server",
    "render_text",
    "resolve_mx",
    "resolver_from_args",
    "run",
]

PROG = "smtpsh dns"
DEFAULT_FETCH_TIMEOUT = 10.0


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value != value or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: must be more than 0 seconds")
    return value


def add_resolver_arguments(parser: argparse._ActionsContainer) -> None:
    """``--dns-server IP[:PORT]`` and ``--dns-timeout S``.

    Defaults are suppressed so that, used on both the main parser and a sub-command,
    the sub-command does not overwrite a value given before it."""
    parser.add_argument(
        "--dns-server",
        metavar="IP[:PORT]",
        default=argparse.SUPPRESS,
        help="DNS server to ask (default: the system resolver); [IPv6]:PORT for IPv6",
    )
    parser.add_argument(
        "--dns-timeout",
        metavar="S",
        type=_positive_seconds,
        default=argparse.SUPPRESS,
        help="seconds to wait for each DNS answer (default 5)",
    )


def resolver_from_args(args: argparse.Namespace) -> dns.resolver.Resolver:
    """The resolver the options ask for. Raises DNSInputError (one line) when bad."""
    return make_resolver(getattr(args, "dns_server", None), getattr(args, "dns_timeout", None))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Arguments of ``smtpsh dns``."""
    parser.add_argument("domain", metavar="DOMAIN", nargs="*",
                        help="the mail domain to check; several for many")
    checks = parser.add_argument_group("checks")
    checks.add_argument(
        "--dkim-selector",
        metavar="S",
        action="append",
        default=[],
        help="check the DKIM key of selector S (repeatable)",
    )
    checks.add_argument(
        "--dnsbl",
        metavar="ZONE",
        action="append",
        default=[],
        help="look each MX address up in the DNS blocklist ZONE (repeatable; RFC 5782)",
    )
    checks.add_argument(
        "--check-mx",
        action="store_true",
        help="connect to each MX (port 25, STARTTLS) and match its certificates against "
        "its TLSA records (DANE)",
    )
    checks.add_argument(
        "--trust-anchor",
        metavar="FILE",
        help="validate the MX, TLSA, MX-address and MTA-STS answers with DNSSEC from the "
        "DS/DNSKEY records in FILE",
    )
    checks.add_argument(
        "--mta-sts-fetch",
        action="store_true",
        help="also fetch the MTA-STS policy file over HTTPS from mta-sts.DOMAIN (its address "
        "from the DNS server this report asks)",
    )
    checks.add_argument(
        "--cafile",
        metavar="FILE",
        help="also trust the CA certificates in FILE when fetching the MTA-STS policy",
    )
    add_resolver_arguments(parser.add_argument_group("resolver"))
    output = parser.add_argument_group("output")
    output.add_argument("--json", action="store_true", help="print the report as JSON")
    output.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default=argparse.SUPPRESS,
        help="colour the ok/warning/error marks (default: auto, when writing to a terminal)",
    )
    flags.add_targets(
        parser, what="DOMAIN",
        delay="seconds between two connections to the same address: --check-mx's to each MX"
        " and --mta-sts-fetch's to each policy host (domains often share them); DNS queries"
        " are not spaced (default 0)",
    )


def _error(message: str) -> None:
    print_error(PROG, message)


def checks_from_args(args: argparse.Namespace) -> tuple[dns.resolver.Resolver, Any]:
    """The resolver and the DNSSEC trust anchors (or None) the options ask for, the
    blocklist zones checked; DNSInputError (one line) for bad input."""
    for zone in args.dnsbl:
        parse_domain(zone)
    resolver = resolver_from_args(args)
    anchors = None
    if args.trust_anchor:
        from smtpsh.dnsinfo.dnssec import TrustAnchorError, load_trust_anchors

        try:
            anchors = load_trust_anchors(args.trust_anchor)
        except TrustAnchorError as exc:
            raise DNSInputError(str(exc)) from None
    if getattr(args, "cafile", None):
        policy_context(args.cafile)  # a bad file is a usage error, said before any check
    return resolver, anchors


@lru_cache(maxsize=4)
def policy_context(cafile: str | None) -> ssl.SSLContext:
    """The TLS context of the MTA-STS policy fetch: the system store, plus --cafile."""
    import ssl

    context = ssl.create_default_context()
    if cafile:
        try:
            context.load_verify_locations(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise DNSInputError(f"--cafile {cafile}: {getattr(exc, 'strerror', None) or exc}"
                                ) from None  # fmt: skip
    return context


def run(args: argparse.Namespace) -> int:
    """``smtpsh dns``: the exit status of smtpsh.exitcodes (FOUND: error items)."""
    try:
        domain = parse_domain(args.domain)
        resolver, anchors = checks_from_args(args)
    except DNSInputError as exc:
        if args.json:
            return jsonout.emit("dns", args.domain, exc.exit_status, error=(exc.fault, str(exc)))
        _error(str(exc))
        return exc.exit_status
    try:
        delay = flags.polite_delay(args)
    except UsageError as exc:
        _error(str(exc))
        if args.json:
            return jsonout.emit("dns", domain, exitcodes.USAGE, error=("usage", str(exc)))
        return exitcodes.USAGE
    connector = None
    if delay:  # --check-mx's connections to one MX address, as for many domains
        from smtpsh.net.polite import PoliteConnector, Politeness

        connector = PoliteConnector(Politeness(delay))
    try:
        status, report, error = domain_outcome(domain, resolver, args, anchors, connector)
    except KeyboardInterrupt:  # Ctrl-C amid the lookups: one line, not a traceback
        # (and no --json document: nothing was found yet, as with probe)
        if connector is not None:
            connector.politeness.stop()
        _error(f"interrupted: the check of {domain} was stopped")
        return exitcodes.INTERRUPTED
    if args.json:
        return jsonout.emit(
            "dns", domain, status, report.to_json() if report is not None else None, error
        )
    if error is not None:
        _error(error[1])
    elif report is not None:
        report_printer(getattr(args, "color", "auto")).lines(report_lines(report))
    return status


def domain_outcome(
    domain: str, resolver: dns.resolver.Resolver, args: argparse.Namespace, anchors: Any = None,
    connector: Any = None,
) -> tuple[int, DomainReport | None, tuple[str, str] | None]:
    """Check one domain (blocking) with the checks ``args`` asks for: (status, the report or
    None, (kind, message) when the domain does not resolve). ``connector``: how --check-mx
    connects to each MX (smtpsh.net.base.Connector; many domains: after --delay)."""
    timeout = getattr(args, "dns_timeout", None) or DEFAULT_FETCH_TIMEOUT
    # --delay spaces the MTA-STS policy fetches (HTTPS) per address too, with the same
    # bookings as --check-mx's connections: one politeness for every connection.
    politeness = getattr(connector, "politeness", None)
    context = policy_context(getattr(args, "cafile", None))
    try:
        report = build_report(
            domain,
            resolver,
            dkim_selectors=args.dkim_selector,
            mta_sts_fetch=args.mta_sts_fetch,
            fetch=resolving_fetch(resolver, timeout, context, politeness),
            dnsbl_zones=[parse_domain(z) for z in args.dnsbl],
            check_mx=args.check_mx,
            trust_anchors=anchors,
            mx_connector=connector,
        )
    except DomainResolutionError as exc:
        return EXIT_UNRESOLVED, None, (exc.failure.value, str(exc))
    return report.exit_code, report, None


async def domain_outcome_unwaited(
    domain: str, resolver: dns.resolver.Resolver, args: argparse.Namespace, anchors: Any = None,
    connector: Any = None,
) -> tuple[int, DomainReport | None, tuple[str, str] | None]:
    """domain_outcome for a run over many domains, in a daemon thread of its own rather
    than the event loop's executor: a domain's check is a dozen lookups in a row, each up to
    --dns-timeout, that nothing can interrupt. When the run is stopped (Ctrl-C, SIGTERM) or
    gives the domain up (--host-timeout), this returns at once and the thread is left to end
    on its own; the interpreter does not wait for it at exit, as it waits for executor
    threads (a stopped run over a slow DNS server took half a minute to exit)."""
    import asyncio
    import contextlib
    import threading

    loop = asyncio.get_running_loop()
    done: asyncio.Future[tuple[int, DomainReport | None, tuple[str, str] | None]] = (
        loop.create_future()
    )

    def settle(outcome: Any, error: BaseException | None) -> None:
        if done.done():  # given up meanwhile: nobody wants it
            return
        if error is not None:
            done.set_exception(error)
        else:
            done.set_result(outcome)

    def check() -> None:
        outcome: Any = None
        error: BaseException | None = None
        try:
            outcome = domain_outcome(domain, resolver, args, anchors, connector)
        except Exception as exc:  # the runner makes it the domain's failure line
            error = exc
        with contextlib.suppress(RuntimeError):  # the loop is closed: the run is over
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=check, name=f"smtpsh dns {domain}", daemon=True).start()
    return await done


# ---------------------------------------------------------------- for the shell


def _one_line(text: str) -> list[Fragments]:
    return [[("", text)]]


def mx_report_lines(domain: str, resolver: dns.resolver.Resolver) -> list[Fragments]:
    """``/mx DOMAIN``: the MX table and try order, or one line saying what failed."""
    try:
        return mx_lines(resolve_mx(parse_domain(domain), resolver))
    except DNSInputError as exc:
        return _one_line(f"mx: {exc}")


def dns_report_lines(
    domain: str, resolver: dns.resolver.Resolver, dkim_selectors: Sequence[str] = ()
) -> list[Fragments]:
    """``/dns DOMAIN``: the full mail-domain report, or one line saying what failed."""
    try:
        report = build_report(parse_domain(domain), resolver, dkim_selectors=dkim_selectors)
    except (DNSInputError, DomainResolutionError) as exc:
        return _one_line(f"dns: {exc}")
    return report_lines(report)


def info_lines(
    address: str, resolver: dns.resolver.Resolver, banner: str | None = None
) -> list[Fragments]:
    """``/info``: PTR of the connected address, FCrDNS, and the banner host name match.
    ``banner`` is the server's greeting text (``220 mx.example.com ESMTP ...``)."""
    host = banner_hostname(banner) if banner else None
    try:
        result = check_ptr(address, resolver, banner_host=host)
    except DNSInputError as exc:
        return _one_line(f"info: {exc}")
    if banner and host is None:
        result.add(Status.WARNING, "the banner does not start with a host name (RFC 5321 §4.2)")
    return ptr_lines(result)


# The same as text (coloured with SGR codes when asked).


def mx_report_text(domain: str, resolver: dns.resolver.Resolver, color: bool = False) -> str:
    return render(mx_report_lines(domain, resolver), colour=color)


def dns_report_text(
    domain: str,
    resolver: dns.resolver.Resolver,
    dkim_selectors: Sequence[str] = (),
    color: bool = False,
) -> str:
    return render(dns_report_lines(domain, resolver, dkim_selectors), colour=color)


def info_text(
    address: str,
    resolver: dns.resolver.Resolver,
    banner: str | None = None,
    color: bool = False,
) -> str:
    return render(info_lines(address, resolver, banner), colour=color)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m smtpsh.dns``: the sub-command on its own."""
    parser = argparse.ArgumentParser(prog=PROG, description="Check a mail domain's DNS records.")
    add_arguments(parser)
    args = parser.parse_args(argv)
    if len(args.domain) != 1:
        parser.error("give one DOMAIN (`smtpsh dns` takes several)")
    args.domain = args.domain[0]
    return run(args)


if __name__ == "__main__":
    raise SystemExit(main())
