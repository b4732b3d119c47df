"""`smtpsh report FILE...`: one self-contained HTML page (or Markdown) from the JSON results
of probe, relay, tls, dns and enum, and from recorded sessions drawn as ladder diagrams."""

from __future__ import annotations

import argparse
import os
import sys

from smtpsh import exitcodes, flags, jsonout
from smtpsh.output.printer import print_error
from smtpsh.safefile import UnsafePath, open_private

PROG = "smtpsh report"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "files", nargs="+", metavar="FILE",
        help="JSON from probe/relay/tls/dns --json (or enum -o x.json), JSON Lines, or a"
             " transcript (.smtpt); - for standard input",
    )  # fmt: skip
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="write to FILE (default: standard output)")  # fmt: skip
    out.add_argument("--markdown", action="store_true", help="Markdown instead of HTML")
    out.add_argument("--title", default="SMTP assessment", help="the report's heading")
    flags.refuse_json(out, jsonout.NO_JSON["report"])


def _is_report(head: bytes) -> bool:
    """An existing -o file is overwritten only when it is an earlier report (HTML or
    Markdown), never some other file the path happens to name."""
    return head.lstrip().startswith((b"<!DOCTYPE html>", b"# "))


def run(args: argparse.Namespace) -> int:
    from smtpsh.report.load import ReportInputError, load
    from smtpsh.report.render import render_html, render_markdown

    to_stdout = not args.output or args.output == "-"
    if to_stdout and sys.stdout.isatty() and not args.markdown:
        print_error(PROG, "HTML on a terminal: use -o FILE (or --markdown)")
        return exitcodes.USAGE
    try:
        report = load(args.files)
    except ReportInputError as exc:  # an input file that is missing, unreadable or not ours
        print_error(PROG, str(exc))
        return exitcodes.USAGE
    except KeyboardInterrupt:  # e.g. while `-` waits for standard input
        return exitcodes.INTERRUPTED
    page = (render_markdown if args.markdown else render_html)(report, args.title)
    if to_stdout:
        sys.stdout.write(page)
    else:
        try:
            with os.fdopen(open_private(args.output, what="report", recognise=_is_report), "w",
                           encoding="utf-8", errors="surrogateescape") as stream:  # fmt: skip
                stream.write(page)
        except (UnsafePath, OSError) as exc:  # the report could not be written
            print_error(PROG, f"{args.output}: {exc.strerror or exc}")
            return exitcodes.FAILED
    counts = report.counts()
    return exitcodes.FOUND if counts["high"] or counts["medium"] else exitcodes.OK
