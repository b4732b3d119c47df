"""Servers reached without TCP: a UNIX socket (``unix:/path``, e.g. Dovecot's LMTP socket)
and a child process speaking SMTP on its stdin/stdout (``--pipe 'COMMAND'``, e.g. Postfix's
``sendmail -bs`` or ``exim -bh``).

Both give the transports an ordinary stream socket (a socketpair for the pipe), so
everything above them — the blocking and asyncio clients, STARTTLS, the observers — works
unchanged.
"""

from __future__ import annotations

import atexit
import os
import socket
import subprocess
import sys
import threading

from smtpsh.net.base import ClientOptions, ConnectError, Connector
from smtpsh.output.safe import safe
from smtpsh.protocol.encoding import visible

UNIX_PREFIX = "unix:"
CHILD_EXIT_GRACE = 3.0  # after our end closes, the child should finish within this


class UnixConnector(Connector):
    """``unix:/path``: a stream connection to a UNIX-domain socket."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, opts: ClientOptions) -> socket.socket:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(opts.connect_timeout)
            sock.connect(self.path)
        except TimeoutError:
            sock.close()
            raise ConnectError(f"cannot connect to unix:{self.path}: no answer in time") from None
        except OSError as exc:
            sock.close()
            raise ConnectError(
                f"cannot connect to unix:{self.path}: {exc.strerror or exc}"
            ) from None
        return sock

    def describe(self, opts: ClientOptions) -> str:
        return f"{UNIX_PREFIX}{self.path}"


class PipeConnector(Connector):
    """``--pipe 'COMMAND'``: the server is COMMAND (run by /bin/sh, as swaks does), talking
    on its stdin and stdout; what it writes to stderr is shown, escaped, as it comes."""

    def __init__(self, command: str) -> None:
        self.command = command
        self.children: list[subprocess.Popen[bytes]] = []

    def __call__(self, opts: ClientOptions) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            child = subprocess.Popen(
                ["/bin/sh", "-c", self.command],  # the user's own command, as swaks runs it
                stdin=theirs.fileno(),
                stdout=theirs.fileno(),
                stderr=subprocess.PIPE,
                start_new_session=True,  # Ctrl-C in the shell must not kill the server
                close_fds=True,
            )
        except OSError as exc:
            ours.close()
            raise ConnectError(f"cannot run {self.command!r}: {exc.strerror or exc}") from None
        finally:
            theirs.close()
        self.children.append(child)
        if len(self.children) == 1:
            atexit.register(self._reap_all)
        assert child.stderr is not None
        threading.Thread(target=_relay_stderr, args=(child.stderr, child.pid), daemon=True).start()
        return ours

    def describe(self, opts: ClientOptions) -> str:
        return f"pipe:{visible(self.command)}"

    def _reap_all(self) -> None:
        for child in self.children:
            try:
                child.wait(CHILD_EXIT_GRACE)
            except subprocess.TimeoutExpired:
                child.terminate()
                try:
                    child.wait(CHILD_EXIT_GRACE)
                except subprocess.TimeoutExpired:
                    child.kill()


def _relay_stderr(stream: object, pid: int) -> None:
    """The child's stderr, line by line, escaped (its bytes never drive the terminal)."""
    assert hasattr(stream, "readline")
    for raw in iter(stream.readline, b""):
        text = safe(raw.decode("utf-8", "backslashreplace").rstrip("\r\n"))
        try:
            print(f"smtpsh: pipe (pid {pid}) stderr: {text}", file=sys.stderr, flush=True)
        except (OSError, ValueError):
            return


def parse_unix_target(target: str) -> str | None:
    """'unix:/run/dovecot/lmtp' -> the path; None if the target is not a UNIX socket."""
    if not target.startswith(UNIX_PREFIX):
        return None
    path = target[len(UNIX_PREFIX) :]
    return os.path.expanduser(path)
