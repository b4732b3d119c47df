"""`smtpsh tls HOST[:PORT]`: the TLS versions and cipher suites a mail server accepts, and a
grade with the reason it is capped (smtpsh.audit.tlsscan does the work)."""

from __future__ import annotations

import argparse
import json
import os

from smtpsh.audit.tlsscan import DEFAULT_TIMEOUT, VERSIONS, ScanError, Target, report_lines, scan
from smtpsh.output.printer import print_error, report_printer
from smtpsh.target import UsageError, default_helo, parse_target

PROG = "smtpsh tls"
IMPLICIT_PORTS = frozenset({465, 10465})
# 0 grade A or B; 1 grade C or F (a weak setting found); 2 could not scan.
EXIT_OK, EXIT_WEAK, EXIT_FAILED = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="HOST[:PORT]", help="the server (default port 25)")
    parser.epilog = "exit status: 0 grade A or B, 1 grade C or F, 2 could not scan"
    how = parser.add_argument_group("connection")
    how.add_argument("-p", "--port", type=int, help="port (default 25; 465 means implicit TLS)")
    mode = how.add_mutually_exclusive_group()
    mode.add_argument("--starttls", action="store_true", help="STARTTLS first (default)")
    mode.add_argument("--tls", action="store_true", help="implicit TLS (default on 465)")
    how.add_argument("--sni", metavar="NAME", help="the server name to send (default: HOST)")
    how.add_argument("--helo", metavar="NAME", help="the name to offer in EHLO")
    how.add_argument("--cafile", metavar="FILE", help="also trust the CAs in FILE when verifying")
    how.add_argument(
        "--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="S",
        help=f"per connection (default {DEFAULT_TIMEOUT:g})",
    )  # fmt: skip
    out = parser.add_argument_group("output")
    out.add_argument("--json", action="store_true", help="print the result as JSON")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour (default: auto)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    try:
        host, port = parse_target(args.target, args.port)
    except UsageError as exc:
        print_error(PROG, str(exc))
        return EXIT_FAILED
    port = port or 25
    if args.cafile and not os.access(args.cafile, os.R_OK):
        print_error(PROG, f"--cafile {args.cafile}: cannot read the file")
        return EXIT_FAILED
    implicit = args.tls or (port in IMPLICIT_PORTS and not args.starttls)
    target = Target(host, port, starttls=not implicit, server_name=args.sni or host,
                    timeout=args.timeout, helo=args.helo or default_helo(),
                    cafile=args.cafile)  # fmt: skip
    try:
        result = scan(target, tuple(VERSIONS))
    except ScanError as exc:
        print_error(PROG, str(exc))
        return EXIT_FAILED
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
    else:
        report_printer(args.color).lines([[("", line)] for line in report_lines(result)])
    return EXIT_WEAK if result.grade in ("C", "F") else EXIT_OK
