"""`smtpsh send HOST`: one message, as swaks sends it, built by the same code as /compose.

The session is the shell's (the same connection, TLS and AUTH options, --quit-after,
--timing, the dialogue printed as a piped run prints it); the message comes from the
options /compose takes (smtpsh.compose.message_options), so that `smtpsh send` and
`/compose --yes` with the same options send the same message. --dry-run builds and shows
it without connecting.
"""

from __future__ import annotations

import argparse

from smtpsh import cli
from smtpsh.compose.message_options import TOKENS_HELP, add_message_options, chunk_size
from smtpsh.compose.scan import CHUNK
from smtpsh.target import UsageError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Send one message: the session options of `smtpsh HOST`, the message options of"
        f" /compose. {TOKENS_HELP}."
    )
    parser.add_argument("target", nargs="?", metavar="HOST[:PORT]",
                        help="the server (@PROFILE from config.toml too)")
    cli.add_session_options(parser, shell=False)
    message = parser.add_argument_group("message (the same options as /compose)")
    add_message_options(message)  # type: ignore[arg-type]
    transfer = parser.add_argument_group("transfer")
    transfer.add_argument("--bdat", action="store_true", help="send with BDAT (CHUNKING)")
    transfer.add_argument("--chunk", type=chunk_size, default=CHUNK, metavar="N",
                          help=f"BDAT chunk size in octets (default {CHUNK})")
    transfer.add_argument("--pipeline", action="store_true",
                          help="MAIL and all RCPT in one write (PIPELINING)")
    transfer.add_argument("--notify", metavar="WHEN", help="DSN NOTIFY: NEVER or SUCCESS,...")
    transfer.add_argument("--ret", metavar="FULL|HDRS", help="DSN RET")
    transfer.add_argument("--envid", metavar="ID", help="DSN ENVID")
    transfer.add_argument("--orcpt", action="store_true", help="DSN ORCPT on every RCPT")
    transfer.add_argument("--dry-run", action="store_true",
                          help="build and show the envelope and message; connect to nothing")
    # What /compose's parser has that this command fixes: no questions, no editor.
    parser.set_defaults(yes=True, edit=False, help=False)


def run(args: argparse.Namespace) -> int:
    try:
        return cli.run_send(args)
    except UsageError as exc:
        from smtpsh.output.printer import print_error

        print_error("smtpsh send", str(exc))
        return 2
