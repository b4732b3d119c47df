"""`smtpsh sandbox [--scenario NAME] [--port N]`: the practice server on its own, until Ctrl-C.

Without the shell, so that other tools (nmap, swaks, smtp-user-enum, telnet, or smtpsh's own
probe/enum/relay) can be pointed at a known-answer target. It listens on loopback only and
prints each connection and each message it keeps.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence

from smtpsh import exitcodes, flags, jsonout
from smtpsh.output.printer import Printer, print_error
from smtpsh.protocol.encoding import visible
from smtpsh.sandbox.mailbox import ReceivedMessage
from smtpsh.sandbox.scenario import Scenario, ScenarioError, available, load
from smtpsh.sandbox.server import Sandbox, SandboxError, check_loopback

DESCRIPTION = "Run the smtpsh practice SMTP server on loopback until Ctrl-C."
PROG = "smtpsh sandbox"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    play = parser.add_argument_group("what to play")
    play.add_argument(
        "--scenario",
        default="default",
        metavar="NAME",
        help=f"which server to play: {', '.join(available())}, or a .toml file "
        "(default: default)",
    )
    play.add_argument("--no-tls", action="store_true", help="do not offer STARTTLS")
    listen = parser.add_argument_group("where to listen")
    listen.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    listen.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    flags.refuse_json(parser, jsonout.NO_JSON["sandbox"])


def _say(text: str) -> None:
    # What clients of the sandbox sent (names, addresses) is shown made safe.
    # `smtpsh sandbox | head`: a reader that went away is noted by the Printer; _serve stops.
    Printer(colour=False).line(text)


def _announce(message: ReceivedMessage) -> None:
    rcpts = ", ".join(f"<{visible(r)}>" for r in message.rcpt_tos)
    _say(
        f"received {message.queue_id}: <{visible(message.mail_from)}> → {rcpts} "
        f"({len(message.data):,} bytes)"
    )


async def _serve(args: argparse.Namespace, scenario: Scenario) -> int:
    try:
        sandbox = await Sandbox.start(
            host=args.host, port=args.port, tls=not args.no_tls, scenario=scenario
        )
    except SandboxError as exc:  # e.g. the port is taken
        print_error(PROG, str(exc))
        return exitcodes.FAILED
    sandbox.on_message = _announce
    sandbox.on_session = _say
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: there Ctrl-C arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    _say(sandbox.welcome_text())
    if scenario.wordlist_path() is not None:
        _say(f"  words    a word list for smtpsh enum -U: {scenario.wordlist_path()}")
    _say("Press Ctrl-C to stop.")
    try:
        while not stop.is_set() and not exitcodes.output_gone():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.5):  # to notice a reader that went away
                    await stop.wait()
    finally:
        count = len(sandbox.mailbox)
        await sandbox.stop()
        _say(f"\nsandbox stopped ({count} message{'s' if count != 1 else ''} received)")
    return exitcodes.OK  # or BROKEN_PIPE, which cli.main says when the reader went away


def run(args: argparse.Namespace) -> int:
    """Exit statuses: smtpsh.exitcodes (OK once stopped; USAGE for a bad command line or
    scenario; FAILED when it cannot listen)."""
    try:
        if not 0 <= args.port <= 65535:
            raise SandboxError(f"--port must be 0..65535, not {args.port}")
        check_loopback(args.host)
        scenario = load(args.scenario)
    except (SandboxError, ScenarioError) as exc:
        print_error(PROG, str(exc))
        return exitcodes.USAGE
    try:
        return asyncio.run(_serve(args, scenario))
    except KeyboardInterrupt:  # Ctrl-C before the handlers were set: stopped all the same
        return exitcodes.OK


def main(argv: Sequence[str] | None = None, prog: str = "smtpsh sandbox") -> int:
    parser = flags.CommandLineParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    status = run(parser.parse_args(argv))
    return exitcodes.BROKEN_PIPE if exitcodes.output_gone() else status  # as cli.main
