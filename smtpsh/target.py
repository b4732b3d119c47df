"""What a sub-command starts from: the connection it makes (HOST[:PORT], client options
from the parsed arguments, the EHLO name), the usage error that ends it with status 2, and
how its coroutine is run. Below the CLI, so that the sub-commands (audit/, transcript/,
compose/) and the shell share it without importing ``smtpsh.cli``.

Nothing heavy at import time: the plain piped path goes through here (ssl and socket load
only when needed, bench/bench_session.py).
"""

from __future__ import annotations

import os

from smtpsh import exitcodes
from smtpsh.protocol.errors import SmtpshError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import argparse
    import ssl
    from collections.abc import Coroutine
    from typing import Any

    from smtpsh.net.base import ClientOptions, Connector


class UsageError(SmtpshError):
    """The command line (or a file it names) is wrong: nothing was done."""

    exit_status = exitcodes.USAGE
    fault = "user"


class InputFileError(UsageError):
    """A file named by an option cannot be read: the line names both, no usage text."""


def parse_target(target: str, port: int | None) -> tuple[str, int | None]:
    """'host', 'host:25', '[::1]:25', '::1' -> (host, port or None)."""
    if target.startswith("["):
        host, sep, rest = target[1:].partition("]")
        if not sep:
            raise UsageError(f"bad address '{target}': missing ']'")
        if rest and not rest.startswith(":"):
            raise UsageError(f"bad address '{target}'")
        return host, _port(rest[1:], target) if rest else port
    if target.count(":") == 1:
        host, _, text = target.partition(":")
        return host, _port(text, target)
    return target, port


def local_address(text: str | None) -> tuple[str, int] | None:
    """--local-address: 'ADDR', 'ADDR:PORT', '[v6]' or '[v6]:PORT' -> (address, port)."""
    if not text:
        return None
    try:
        host, port = parse_target(text, None)
    except UsageError:
        raise UsageError(f"bad --local-address '{text}'") from None
    if not host:
        raise UsageError(f"bad --local-address '{text}': no address")
    return host, port or 0


def _port(text: str, target: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise UsageError(f"bad port in '{target}': must be a number from 1 to 65535")
    return int(text)


def client_options(args: argparse.Namespace, host: str, port: int) -> ClientOptions:
    import socket

    from smtpsh.net.base import ClientOptions

    implicit_tls = args.tls or port == 465
    check_combinations(args, implicit_tls)
    family = {4: socket.AF_INET, 6: socket.AF_INET6}.get(args.family or 0, 0)
    options = ClientOptions(
        host=host,
        port=port,
        timeout=args.timeout,
        connect_timeout=args.connect_timeout,
        implicit_tls=implicit_tls,
        family=family,
        extra={"cafile": args.cafile},
        verify=not args.no_verify,
        source_address=local_address(getattr(args, "local_address", None)),
    )
    tls_asked = implicit_tls or args.cafile or args.client_cert or args.client_key
    if not tls_asked and not args.no_verify and not getattr(args, "starttls", False):
        # The default context, made if STARTTLS is ever typed: ssl costs ~10 ms to import.
        options.tls_factory = _default_context
        return options
    from smtpsh.inputfiles import first_problem

    problem = first_problem(
        [
            ("--cafile", args.cafile),
            ("--client-cert", args.client_cert),
            ("--client-key", args.client_key),
        ]
    )
    if problem is not None:
        raise InputFileError(problem)
    from smtpsh.net.tls import TLSSettings, make_context

    settings = TLSSettings(
        verify=not args.no_verify,
        cafile=args.cafile,
        client_cert=args.client_cert,
        client_key=args.client_key,
    )
    try:
        options.ssl_context = make_context(settings)  # a bad file is a usage error now
    except (OSError, ValueError) as exc:
        named = ", ".join(
            f"{option} {path}"
            for option, path in (
                ("--cafile", args.cafile),
                ("--client-cert", args.client_cert),
                ("--client-key", args.client_key),
            )
            if path
        )
        why = getattr(exc, "reason", None) or exc
        raise InputFileError(f"{named}: not usable ({why})") from None
    return options


def _default_context() -> ssl.SSLContext:
    from smtpsh.net.tls import TLSSettings, make_context

    return make_context(TLSSettings())


def default_helo() -> str:
    import socket

    # gethostname, not getfqdn: getfqdn asks DNS and can hang on a machine without it.
    name = socket.gethostname()
    return name if "." in name else "smtpsh.localdomain"


# Options that change how the server is reached (smtpsh.net.local, .socks, .proxy).
TRANSPORT_OPTIONS = (
    "lmtp", "pipe", "socks5", "socks5_password_file", "socks5_password_env", "proxy_v1", "proxy_v2",
)  # fmt: skip


def apply_transport(args: argparse.Namespace, options: ClientOptions) -> None:
    """unix:PATH, --pipe, --socks5 and --proxy-v1/v2 as a Connector; --lmtp as a flag the
    session starts with. Their modules load only when used. The footprinting commands have
    only --socks5 and --proxy-v1/-v2 (flags.add_proxies)."""
    if getattr(args, "lmtp", False):
        options.extra["lmtp"] = True
    connector: Connector | None = None
    target = getattr(args, "target", None)
    pipe = getattr(args, "pipe", None)
    if target and target.startswith("unix:"):
        from smtpsh.net.local import UnixConnector, parse_unix_target

        path = parse_unix_target(target)
        if not path:
            raise UsageError("unix: needs a path, e.g. unix:/run/dovecot/lmtp")
        connector = UnixConnector(path)
    elif pipe:
        from smtpsh.net.local import PipeConnector

        connector = PipeConnector(pipe)
    if args.socks5:
        if connector is not None:
            raise UsageError("--socks5 reaches a network server: not with unix: or --pipe")
        connector = _socks_connector(args)
    elif args.socks5_password_file or args.socks5_password_env:
        raise UsageError("--socks5-password-file/-env without --socks5")
    source = args.proxy_v1 or args.proxy_v2
    if source:
        if connector is not None and not args.socks5:
            raise UsageError("--proxy-v1/-v2 goes on a TCP connection: not with unix: or --pipe")
        from smtpsh.net.proxy import ProxyHeaderConnector, parse_source

        try:
            address = parse_source(source)
        except ValueError as exc:
            raise UsageError(f"--proxy-v{1 if args.proxy_v1 else 2} {exc}") from None
        connector = ProxyHeaderConnector(1 if args.proxy_v1 else 2, address, connector)
    options.connector = connector


def _socks_connector(args: argparse.Namespace) -> Connector:
    from smtpsh.net.socks import SocksConnector, SocksProxy

    text: str = args.socks5
    user, at, where = text.rpartition("@")
    host, port = parse_target(where, None)
    if not host or port is None:
        raise UsageError(f"--socks5 {text}: give HOST:PORT (and USER@ for a user)")
    password = None
    if args.socks5_password_file and args.socks5_password_env:
        raise UsageError("give --socks5-password-file or --socks5-password-env, not both")
    if args.socks5_password_file:
        from smtpsh.inputfiles import first_problem

        path = args.socks5_password_file
        problem = first_problem([("--socks5-password-file", path)])
        if problem is not None:
            raise UsageError(problem)
        try:
            with open(path, encoding="utf-8") as fh:
                password = fh.readline().rstrip("\r\n")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
            raise UsageError(f"--socks5-password-file {path}: {reason}") from None
        if not password:
            raise UsageError(
                f"--socks5-password-file {path}: empty (the password is its first line)"
            )
    elif args.socks5_password_env:
        password = os.environ.get(args.socks5_password_env)
        if password is None:
            raise UsageError(f"--socks5-password-env: {args.socks5_password_env} is not set")
    if password is not None and not at:
        raise UsageError("a SOCKS5 password needs a user: --socks5 USER@HOST:PORT")
    return SocksConnector(SocksProxy(host, port, user if at else None, password))


def run_main(main: Coroutine[Any, Any, int]) -> int:
    """Run a front-end's coroutine to its exit status: Ctrl-C is INTERRUPTED without a
    traceback, and a reader that went away (``| head``) ends the run quietly with
    BROKEN_PIPE, as every command ends then (smtpsh.exitcodes)."""
    import asyncio

    try:
        return asyncio.run(main)
    except KeyboardInterrupt:
        return exitcodes.INTERRUPTED
    except BrokenPipeError:
        exitcodes.reader_gone()
        return exitcodes.BROKEN_PIPE


def check_combinations(args: argparse.Namespace, implicit_tls: bool) -> None:
    """Flags that exclude each other, refused the same way by every command that has them
    (smtpsh.target.client_options calls this for all of them)."""
    if getattr(args, "starttls", False) and implicit_tls:
        raise UsageError("--starttls and --tls (or port 465) exclude each other: TLS is already on")
    if getattr(args, "password_file", None) and getattr(args, "password_env", None):
        raise UsageError("give --password-file or --password-env, not both")
