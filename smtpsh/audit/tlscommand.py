"""`smtpsh tls HOST[:PORT]`: the TLS versions and cipher suites a mail server accepts, and a
grade with the reason it is capped (smtpsh.audit.tlsscan does the work)."""

from __future__ import annotations

import argparse
import os
import socket

from smtpsh import exitcodes, flags, jsonout
from smtpsh.audit.tlsscan import (
    DEFAULT_TIMEOUT,
    VERSIONS,
    ScanError,
    Target,
    TLSScan,
    report_lines,
    scan,
)
from smtpsh.output.printer import print_error, report_printer
from smtpsh.target import UsageError, check_combinations, default_helo, parse_target

PROG = "smtpsh tls"
IMPLICIT_PORTS = frozenset({465, 10465})
# The shared exit-status table (smtpsh/exitcodes.py): grade A/B ok, C/F found, or failed.
EXIT_OK, EXIT_WEAK, EXIT_FAILED = exitcodes.OK, exitcodes.FOUND, exitcodes.FAILED


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "target", metavar="HOST[:PORT]", nargs="*",
        help="the server (default port 25); several, a CIDR block or a range for many",
    )
    flags.add_connection(
        parser, timeout=DEFAULT_TIMEOUT,
        timeout_help=f"seconds to wait for each reply and each handshake (default"
        f" {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--starttls", action="store_true", help="STARTTLS first (default)")
    tls.add_argument("--tls", action="store_true", help="implicit TLS (default on 465)")
    tls.add_argument("--sni", metavar="NAME", help="the server name to send (default: HOST)")
    tls.add_argument("--cafile", metavar="FILE", help="also trust the CA certificates in FILE")
    out = parser.add_argument_group("output")
    flags.add_json(out, "the result")
    flags.add_colour(out)
    flags.add_targets(
        parser,
        delay="seconds between two connections to the same host: a scan opens dozens, one"
        " ClientHello each, and each waits its turn (default 0)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        host, port = parse_target(args.target, args.port)
        check_combinations(args, implicit_tls=args.tls)  # --starttls with --tls, as everywhere
    except UsageError as exc:
        return _fail(args, args.target, "usage", str(exc), exitcodes.USAGE)
    port = port or 25
    if args.cafile and not os.access(args.cafile, os.R_OK):
        message = f"--cafile {args.cafile}: cannot read the file"
        return _fail(args, f"{host}:{port}", "usage", message, exitcodes.USAGE)
    try:
        delay = flags.polite_delay(args)
    except UsageError as exc:
        return _fail(args, f"{host}:{port}", "usage", str(exc), exitcodes.USAGE)
    import dataclasses
    import threading

    stop = threading.Event()
    target = dataclasses.replace(target_for(args, host, port), stop=stop)
    politeness = None
    if delay:  # the scan's dozens of connections, each after the one before by --delay
        from smtpsh.net.polite import PoliteConnector, Politeness

        politeness = Politeness(delay)
        target = dataclasses.replace(target, connector=PoliteConnector(politeness))
    try:
        status, result, error = scan_outcome(target)
    except KeyboardInterrupt:
        stop.set()
        if politeness is not None:
            politeness.stop()
        # One line, and no --json document: the schema has an interrupted run carry what it
        # found, and a scan stopped half-way has no result to give (as probe and dns).
        print_error(PROG, "interrupted: the scan was stopped")
        return exitcodes.INTERRUPTED
    if error is not None:
        return _fail(args, f"{host}:{port}", error[0], error[1], status)
    assert result is not None
    if args.json:
        return jsonout.emit("tls", result.target, status, result.to_json())
    report_printer(args.color).lines([[("", line)] for line in report_lines(result)])
    return status


def target_for(args: argparse.Namespace, host: str, port: int) -> Target:
    """What to scan: STARTTLS unless --tls or an implicit-TLS port."""
    implicit = args.tls or (port in IMPLICIT_PORTS and not args.starttls)
    return Target(host, port, starttls=not implicit, server_name=args.sni or host,
                  timeout=args.timeout, helo=args.helo or default_helo(),
                  cafile=args.cafile, connect_timeout=args.connect_timeout,
                  family={4: socket.AF_INET, 6: socket.AF_INET6}.get(args.family or 0, 0))


def scan_outcome(target: Target) -> tuple[int, TLSScan | None, tuple[str, str] | None]:
    """Scan one server (blocking): (status, the scan or None, (kind, message) of an error)."""
    try:
        result = scan(target, tuple(VERSIONS))
    except ScanError as exc:
        return EXIT_FAILED, None, ("connect", str(exc))
    if result.grade == "-":  # no version accepted: nothing was scanned
        return EXIT_FAILED, None, ("tls", "no TLS version was accepted")
    if result.grade == "?":  # none accepted, and some never answered: no verdict
        return EXIT_FAILED, None, ("tls", "; ".join(result.caps))
    return (EXIT_WEAK if result.grade in ("C", "F") else EXIT_OK), result, None


def _fail(args: argparse.Namespace, target: str, kind: str, message: str, status: int) -> int:
    """One line on stderr; with --json also the envelope saying why."""
    print_error(PROG, message)
    if args.json:
        jsonout.emit("tls", target, status, None, (kind, message))
    return status
