"""`python -m smtpsh.sandbox [--port N]`: run the practice server on its own until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from smtpsh.sandbox.mailbox import ReceivedMessage
from smtpsh.sandbox.server import Sandbox, SandboxError


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m smtpsh.sandbox",
        description="Run the smtpsh practice SMTP server on loopback until Ctrl-C.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    parser.add_argument("--no-tls", action="store_true", help="do not offer STARTTLS")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0..65535, not {args.port}")
    return args


def _announce(message: ReceivedMessage) -> None:
    rcpts = ", ".join(f"<{r}>" for r in message.rcpt_tos)
    print(
        f"received {message.queue_id}: <{message.mail_from}> → {rcpts} "
        f"({len(message.data):,} bytes)",
        flush=True,
    )


async def _serve(args: argparse.Namespace) -> int:
    try:
        sandbox = await Sandbox.start(host=args.host, port=args.port, tls=not args.no_tls)
    except SandboxError as exc:
        print(f"smtpsh sandbox: {exc}", file=sys.stderr)
        return 1
    sandbox.on_message = _announce
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        # Not available on Windows: there Ctrl-C arrives as KeyboardInterrupt instead.
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    print(sandbox.welcome_text(), flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    try:
        await stop.wait()
    finally:
        count = len(sandbox.mailbox)
        await sandbox.stop()
        print(f"\nsandbox stopped ({count} message{'s' if count != 1 else ''} received)")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0


if __name__ == "__main__":
    sys.exit(main())
