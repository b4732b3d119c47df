"""`smtpsh send HOST`: one message, as swaks sends it, built by the same code as /compose.

The session is the shell's (the same connection, TLS and AUTH options, --quit-after,
--timing, the dialogue printed as a piped run prints it); the message comes from the
options /compose takes (smtpsh.compose.message_options), so that `smtpsh send` and
`/compose --yes` with the same options send the same message. --dry-run builds and shows
it without connecting.
"""

from __future__ import annotations

import argparse
import os
import sys

from smtpsh import cli, exitcodes
from smtpsh.compose.message_options import TOKENS_HELP, add_message_options, chunk_size
from smtpsh.compose.scan import CHUNK
from smtpsh.shell.start import open_shell
from smtpsh.target import UsageError, default_helo, run_main

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from smtpsh.shell.app import Shell


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
        return run_send(args)
    except UsageError as exc:
        from smtpsh.output.printer import print_error

        print_error("smtpsh send", str(exc))
        return 2


# Options `smtpsh send` does not have, as the shell's code reads them.
_SEND_FIXED = {"sandbox": False, "mx": None, "scenario": None, "dns_server": None,
               "dns_timeout": None, "config": None, "profile": None}


def run_send(args: argparse.Namespace) -> int:
    """`smtpsh send` (smtpsh.send_command): one message, by /compose's code, no questions."""
    for name, value in _SEND_FIXED.items():
        if not hasattr(args, name):
            setattr(args, name, value)
    from smtpsh import state

    if os.path.exists(state.config_file()) or (args.target or "").startswith("@"):
        from smtpsh import config

        args.config = config.load()
        if (args.target or "").startswith("@"):
            try:
                args.profile = config.find_profile(args.config, args.target)
            except config.ConfigError as exc:
                raise UsageError(exc.message) from None
            args.target = args.profile.host
    if args.dry_run:
        return _dry_run(args)
    if not args.target:
        raise UsageError("which server? smtpsh send HOST[:PORT] --from ADDR --to ADDR")
    shell = open_shell(args, interactive=False, event_loop=True)
    return run_main(_send(shell, args))


async def _send(shell: Shell, args: argparse.Namespace) -> int:
    from smtpsh.shell.app import finish_piped
    from smtpsh.shell.compose_commands import compose_message

    if not await shell.connect():
        return exitcodes.FAILED
    if not shell.done and shell.link.connected:
        await shell.run_guarded(compose_message(shell, args))
    return await finish_piped(shell)


def _configured_sender(args: argparse.Namespace) -> str | None:
    if args.config is None:
        return None
    from smtpsh import config

    return config.envelope_sender(args.config, args.profile)


def _dry_run(args: argparse.Namespace) -> int:
    """--dry-run: the envelope and the message `smtpsh send` would send, built by the same
    code (for a server that offers 8BITMIME), and no connection."""
    from smtpsh.compose.message import build_message, parse_recipients, parse_sender
    from smtpsh.output.printer import Printer, colour_wanted
    from smtpsh.protocol.errors import SmtpshError
    from smtpsh.shell.compose_commands import draft_from_options

    printer = Printer(colour=colour_wanted(args.color, sys.stdout))
    try:
        sender_text = args.sender or _configured_sender(args)
        if not sender_text:
            raise UsageError("no sender: give --from ADDRESS (or mail_from in config.toml)")
        sender = parse_sender(sender_text)
        recipients = parse_recipients(", ".join([*args.to, *args.cc]))
        if not recipients:
            raise UsageError("no recipient: give --to ADDRESS")
        helo = args.helo or default_helo()
        draft = draft_from_options(args, sender, recipients, helo)
        if args.body is None and args.body_file is None:
            from smtpsh.shell.compose_commands import DEFAULT_BODY

            draft.body = DEFAULT_BODY
        domain = sender.rpartition("@")[2] if "@" in sender else helo
        built = build_message(draft, eight_bit=True, smtputf8=draft.needs_smtputf8(),
                              domain=domain)
    except SmtpshError as exc:
        raise UsageError(str(exc)) from None
    printer.line("--dry-run: nothing is sent; as for a server that offers 8BITMIME", "class:meta")
    printer.line(f"MAIL FROM:<{sender}>", "class:sent")
    for recipient in recipients:
        printer.line(f"RCPT TO:<{recipient}>", "class:sent")
    printer.line("DATA", "class:sent")
    for line in built.data.decode("utf-8", "replace").split("\r\n")[:-1]:
        printer.line(line)
    printer.line(".", "class:sent")
    for note in built.notes:
        printer.line(f"· {note}", "class:meta")
    return 0
