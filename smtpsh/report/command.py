"""`smtpsh report FILE...`: one self-contained HTML page (or Markdown) from the JSON results
of probe, relay, tls, dns and enum, and from recorded sessions drawn as ladder diagrams."""

from __future__ import annotations

import argparse
import os
import sys

from smtpsh.output.printer import print_error
from smtpsh.safefile import UnsafePath, open_private

PROG = "smtpsh report"
# 0 written, nothing high or medium; 1 written, something high or medium; 2 not written.
EXIT_OK, EXIT_FINDINGS, EXIT_FAILED = 0, 1, 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE",
        help="JSON from probe/relay/tls/dns --json (or enum -o x.json), JSON Lines, or a"
             " transcript (.smtpt); - for standard input",
    )  # fmt: skip
    parser.epilog = ("exit status: 0 report written, nothing of high or medium severity;"
                     " 1 written, with high or medium findings; 2 not written")  # fmt: skip
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="write to FILE (default: standard output)")  # fmt: skip
    out.add_argument("--markdown", action="store_true", help="Markdown instead of HTML")
    out.add_argument("--title", default="SMTP assessment", help="the report's heading")


def _is_report(head: bytes) -> bool:
    """An existing -o file is overwritten only when it is an earlier report (HTML or
    Markdown), never some other file the path happens to name."""
    return head.lstrip().startswith((b"<!DOCTYPE html>", b"# "))


def run(args: argparse.Namespace) -> int:
    from smtpsh.report.load import ReportInputError, load
    from smtpsh.report.render import render_html, render_markdown

    try:
        report = load(args.files)
    except ReportInputError as exc:
        print_error(PROG, str(exc))
        return EXIT_FAILED
    page = (render_markdown if args.markdown else render_html)(report, args.title)
    if args.output and args.output != "-":
        try:
            with os.fdopen(open_private(args.output, what="report", recognise=_is_report), "w",
                           encoding="utf-8", errors="surrogateescape") as stream:  # fmt: skip
                stream.write(page)
        except (UnsafePath, OSError) as exc:
            print_error(PROG, f"{args.output}: {exc.strerror or exc}")
            return EXIT_FAILED
    else:
        if sys.stdout.isatty() and not args.markdown:
            print_error(PROG, "HTML on a terminal: use -o FILE (or --markdown)")
            return EXIT_FAILED
        sys.stdout.write(page)
    counts = report.counts()
    return EXIT_FINDINGS if counts["high"] or counts["medium"] else EXIT_OK
