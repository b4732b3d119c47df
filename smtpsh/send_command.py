"""`smtpsh send HOST`: one message, as swaks sends it, built by the same code as /compose.

The session is the shell's (the same connection, TLS and AUTH options, --quit-after,
--timing, the dialogue printed as a piped run prints it); the message comes from the
options /compose takes (smtpsh.compose.message_options), so that `smtpsh send` and
`/compose --yes` with the same options send the same message. --dry-run builds and shows
it without connecting. --json prints what became of the message in smtpsh's envelope
(smtpsh.jsonout) on standard output, and the dialogue on standard error.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from smtpsh import cli, exitcodes, flags, jsonout
from smtpsh.compose.message_options import TOKENS_HELP, add_message_options, chunk_size
from smtpsh.compose.scan import CHUNK
from smtpsh.shell.start import open_shell
from smtpsh.target import UsageError, default_helo, run_main

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from collections.abc import Callable

    from smtpsh.compose.outcome import TransactionRecord
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
    flags.add_json(transfer, "what became of the message (the dialogue on standard error)")
    # What /compose's parser has that this command fixes: no questions, no editor.
    parser.set_defaults(yes=True, edit=False, help=False)


def run(args: argparse.Namespace) -> int:
    if args.json:
        return _run_json(args)
    try:
        return run_send(args)
    except UsageError as exc:
        from smtpsh.output.printer import print_error

        print_error("smtpsh send", str(exc))
        return exc.exit_status


class _Said:
    """Standard error, for the dialogue of a --json run, remembering the last error line
    (the renderer marks one with META_MARKS["error"]): the envelope's error says it."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.last_error = ""

    def write(self, text: str) -> int:
        from smtpsh.output.dialogue import META_MARKS

        if text.startswith(META_MARKS["error"] + " "):
            # one line, even where a terminal's width wrapped it
            self.last_error = " ".join(text[len(META_MARKS["error"]) + 1 :].split())
        return int(self.stream.write(text))

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return int(self.stream.fileno())


def _run_json(args: argparse.Namespace) -> int:
    from smtpsh.compose.outcome import TransactionRecord

    record = TransactionRecord()
    said = _Said(sys.stderr)
    args.color = "never"  # the dialogue goes to standard error, as plain text

    def prepare(shell: Shell) -> None:
        shell.printer.stream = said  # type: ignore[assignment]
        shell.settings.observers.append(record)  # for a connection made later
        shell.link.observers.insert(0, record)

    try:
        status = run_send(args, prepare=prepare)
    except UsageError as exc:
        return jsonout.emit("send", args.target, exc.exit_status, error=("usage", str(exc)))
    if args.dry_run:  # _dry_run printed its document
        return status
    result = record.to_json()
    error = None
    if status in (exitcodes.FAILED, exitcodes.USAGE):
        error = _why(record, said.last_error, status)
    return jsonout.emit("send", record.target or args.target, status, result, error)


def _why(record: TransactionRecord, said: str, status: int) -> tuple[str, str]:
    """(kind, message) for a send that failed: what smtpsh said, by the step it failed."""
    if status == exitcodes.USAGE:
        return "usage", said or "bad command line"
    if record.banner is None:
        return "connect", said or "no connection"
    refused = record.refused()
    if refused:
        return "refused", refused
    return "error", said or "the session did not end with smtpsh's QUIT"


# Options `smtpsh send` does not have, as the shell's code reads them.
_SEND_FIXED = {"sandbox": False, "mx": None, "scenario": None, "dns_server": None,
               "dns_timeout": None, "config": None, "profile": None}


def run_send(
    args: argparse.Namespace, prepare: Callable[[Shell], None] | None = None
) -> int:
    """`smtpsh send` (smtpsh.send_command): one message, by /compose's code, no questions.
    ``prepare``: called with the shell before it connects (--json adds its observer)."""
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
    check_message_options(args)  # a mistake there is a usage error, found before connecting
    shell = open_shell(args, interactive=False, event_loop=True)
    shell.renderer.no_script = True
    if prepare is not None:
        prepare(shell)
    return run_main(_send(shell, args))


async def _send(shell: Shell, args: argparse.Namespace) -> int:
    from smtpsh.protocol.errors import SmtpshError
    from smtpsh.shell.app import finish_piped
    from smtpsh.shell.compose_commands import compose_message
    from smtpsh.shell.steps import StepReached

    if not await shell.connect():
        return exitcodes.FAILED

    async def compose() -> None:
        try:
            await compose_message(shell, args)
        except StepReached:
            raise  # --quit-after: the session ends as asked
        except SmtpshError:
            shell.exit_code = exitcodes.FAILED  # said by run_guarded; not sent
            raise

    if not shell.done and shell.link.connected:
        await shell.run_guarded(compose())
    return await finish_piped(shell)


def _configured_sender(args: argparse.Namespace) -> str | None:
    if args.config is None:
        return None
    from smtpsh import config

    return config.envelope_sender(args.config, args.profile)


def _dry_run(args: argparse.Namespace) -> int:
    """--dry-run: the envelope and the message `smtpsh send` would send, built by the same
    code (for a server that offers 8BITMIME), and no connection."""
    from smtpsh.output.printer import Printer, colour_wanted

    sender, recipients, built = dry_run_message(args)
    if args.json:  # the shape of a send's record (compose/outcome.py), without replies
        return jsonout.emit("send", args.target, exitcodes.OK, {
            "target": args.target, "dry_run": True, "accepted": False, "sender":
            {"address": sender, "reply": None}, "recipients": [
                {"address": r, "reply": None, "accepted": None, "delivery": None}
                for r in recipients],
            "message": {"transfer": None, "replies": [], "reply": None, "queue_id": None,
                        "text": built.data.decode("utf-8", "replace")},
        })  # fmt: skip
    printer = Printer(colour=colour_wanted(args.color, sys.stdout))
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


def check_message_options(args: argparse.Namespace) -> tuple[str, list[str]]:
    """The sender and the recipients the options give, and their headers, attachments and
    body file checked, without reading the body: UsageError names the mistake."""
    from smtpsh.compose.message import parse_recipient_values, parse_sender
    from smtpsh.compose.message_options import attachments, extra_headers
    from smtpsh.protocol.errors import SmtpshError

    try:
        sender_text = args.sender or _configured_sender(args)
        if not sender_text:
            raise UsageError("no sender: give --from ADDRESS (or mail_from in config.toml)")
        sender = parse_sender(sender_text)
        recipients = parse_recipient_values([*args.to, *args.cc])
        if not recipients:
            raise UsageError("no recipient: give --to ADDRESS")
        extra_headers(args)
        attachments(args)
    except SmtpshError as exc:
        raise UsageError(str(exc)) from None
    body_file = args.body_file
    if body_file not in (None, "-") and not os.access(os.path.expanduser(body_file), os.R_OK):
        raise UsageError(f"--body-file {body_file}: cannot read it")
    return sender, recipients


def dry_run_message(args: argparse.Namespace) -> tuple[str, list[str], Any]:
    """The sender, the recipients and the message (BuiltMessage) --dry-run shows."""
    from smtpsh.compose.message import build_message
    from smtpsh.protocol.errors import SmtpshError
    from smtpsh.shell.compose_commands import draft_from_options

    sender, recipients = check_message_options(args)
    try:
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
    return sender, recipients, built
