"""The message options `/compose` and `smtpsh send` share, so that both build the same
message from the same options (swaks users will know them): --header (replaces a header
of that name), --add-header (adds one more), --attach with --attach-type and --attach-name,
the body from --body, --body-file or standard input ('-'), and tokens in headers and body.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from smtpsh.compose.message import Attachment, ComposeError, header_problem

TOKENS_HELP = "%DATE%, %MESSAGEID%, %TO% and %FROM% in headers and body become their values"


class _AttachAction(argparse.Action):
    """--attach FILE: one attachment, with the --attach-type / --attach-name given
    before it (as in swaks: a type holds for the files after it, a name for the next)."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[object] | None,
        option_string: str | None = None,
    ) -> None:
        found = list(getattr(namespace, "attach", None) or [])
        found.append(
            Attachment(
                Path(str(values)),
                getattr(namespace, "attach_type", None),
                getattr(namespace, "attach_name", None),
            )
        )
        namespace.attach = found
        namespace.attach_name = None  # a name is for one file


def add_message_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--from", dest="sender", metavar="ADDR",
                        help="envelope sender and From (default: mail_from in config.toml)")
    parser.add_argument("--to", action="append", default=[], metavar="ADDR",
                        help="recipient (repeat, or commas)")
    parser.add_argument("--cc", action="append", default=[], metavar="ADDR", help="Cc recipient")
    parser.add_argument("--subject", metavar="TEXT")
    parser.add_argument("--body", metavar="TEXT", help=r"the text (\n for a line break)")
    parser.add_argument("--body-file", metavar="FILE", help="the text from FILE ('-': stdin)")
    parser.add_argument("--header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="set a header, replacing one of that name (repeatable)")
    parser.add_argument("--add-header", action="append", default=[], metavar="'NAME: VALUE'",
                        help="add a header, even if one of that name exists (repeatable)")
    parser.add_argument("--attach", action=_AttachAction, default=[], metavar="FILE",
                        help="attach FILE (repeatable)")
    parser.add_argument("--attach-type", metavar="TYPE",
                        help="MIME type of the --attach files after it (default: guessed)")
    parser.add_argument("--attach-name", metavar="NAME",
                        help="file name shown for the next --attach (default: its own)")


def chunk_size(text: str) -> int:
    """--chunk N: a BDAT chunk of at least one octet (0 would never end the message)."""
    try:
        size = int(text)
    except ValueError:
        size = 0
    if size < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of octets, 1 or more")
    return size


def parse_header(text: str, option: str) -> tuple[str, str]:
    """'Name: value' -> (Name, value); ComposeError naming the option otherwise."""
    name, sep, value = text.partition(":")
    name, value = name.strip(), value.strip()
    if not sep or not name or any(ch <= " " or ch == "\x7f" for ch in name):
        raise ComposeError(f"{option} '{text}': write it as 'Name: value'")
    problem = header_problem(value)
    if problem:
        raise ComposeError(f"{option} {name}: {problem}")
    return name, value


def extra_headers(opts: argparse.Namespace) -> list[tuple[str, str, bool]]:
    """(name, value, replace) from --header (replace) and --add-header, in order."""
    out = [(*parse_header(h, "--header"), True) for h in opts.header]
    out += [(*parse_header(h, "--add-header"), False) for h in opts.add_header]
    return out


def attachments(opts: argparse.Namespace) -> list[Attachment]:
    found = []
    for item in opts.attach:
        path = item.path.expanduser()
        if not path.is_file():
            raise ComposeError(f"--attach {path}: no such file")
        if item.content_type is not None and "/" not in item.content_type:
            raise ComposeError(f"--attach-type {item.content_type}: write it as TYPE/SUBTYPE")
        found.append(Attachment(path, item.content_type, item.name))
    return found


def body_text(opts: argparse.Namespace) -> str | None:
    """The body the options give (None: they give none)."""
    if opts.body is not None:
        return str(opts.body).replace("\\n", "\n")
    if opts.body_file is None:
        return None
    try:
        if opts.body_file == "-":
            return sys.stdin.read()
        return Path(opts.body_file).expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise ComposeError(f"--body-file {opts.body_file}: cannot read it ({why})") from None
