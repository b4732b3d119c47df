"""What the footprinting sub-commands share: target options, the authorisation note,
opening a greeted connection."""

from __future__ import annotations

import argparse
import contextlib
import secrets
import ssl
import string
from dataclasses import dataclass

from smtpsh import exitcodes, flags
from smtpsh.net.client import ClientOptions, SMTPClient
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.target import (
    TRANSPORT_OPTIONS,
    UsageError,
    apply_transport,
    client_options,
    default_helo,
    parse_target,
)

AUTHORISATION_NOTE = (
    "Only for servers you are authorised to test: probing, user enumeration and relay tests "
    "against other people's servers can be illegal, and are logged by them."
)

# Footprinting gives up on a silent server sooner than RFC 5321's 5 minutes.
DEFAULT_TIMEOUT = 10.0


class AuditError(SmtpshError):
    """The audit cannot go on (one line says why)."""

    exit_status = exitcodes.FAILED


def add_target_arguments(parser: argparse.ArgumentParser, *, starttls: bool = True) -> None:
    """HOST[:PORT] and the connection options every footprinting command takes."""
    parser.add_argument(
        "target", metavar="HOST[:PORT]", nargs="*",
        help="the server (default port 25); several, a CIDR block or a range for many",
    )
    flags.add_connection(
        parser, timeout=DEFAULT_TIMEOUT,
        timeout_help=f"seconds to wait for each reply and each write (default {DEFAULT_TIMEOUT:g})",
    )
    flags.add_tls(
        parser,
        starttls="STARTTLS (and EHLO again) on every connection" if starttls else None,
        client_certificate=False,
    )
    flags.add_proxies(parser.add_argument_group("through a proxy (every connection)"))


@dataclass
class Target:
    options: ClientOptions
    helo: str
    starttls: bool

    @property
    def context(self) -> ssl.SSLContext:
        assert self.options.ssl_context is not None
        return self.options.ssl_context


def target_from_args(args: argparse.Namespace) -> Target:
    """ClientOptions from the parsed options; UsageError (one line) for bad input."""
    for name in ("timeout", "connect_timeout"):
        value = getattr(args, name)
        if value is not None and value <= 0:
            raise UsageError(f"--{name.replace('_', '-')} must be more than 0 seconds")
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError("bad --port: must be a number from 1 to 65535")
    host, port = parse_target(args.target, args.port)
    if not host:
        raise UsageError(f"bad target '{args.target}': no host")
    options = client_options(args, host, port or 25)
    if any(getattr(args, name, None) for name in TRANSPORT_OPTIONS):
        apply_transport(args, options)  # --socks5, --proxy-v1/-v2
    delay = flags.polite_delay(args)
    if delay:  # every connection the command opens waits its turn (a probe opens several)
        from smtpsh.net.polite import PoliteConnector, Politeness

        options.connector = PoliteConnector(Politeness(delay), options.connector)
    return Target(options, args.helo or default_helo(), bool(getattr(args, "starttls", False)))


async def greet(client: SMTPClient, helo: str) -> tuple[Reply, Reply]:
    """Open the connection: (banner, EHLO reply; HELO's if EHLO was refused)."""
    banner = await client.open()
    if banner.code != 220:
        return banner, banner
    reply = await client.command(f"EHLO {helo}")
    if reply.klass == 5 and reply.code != 421:
        reply = await client.command(f"HELO {helo}")
    return banner, reply


class Undetermined(AuditError):
    """The audit ran, but the server's answers allow no verdict (e.g. every name answered
    alike): said in one line, exit status UNDETERMINED."""

    exit_status = exitcodes.UNDETERMINED


class Refused(AuditError):
    """The server would not give a usable session (banner or EHLO refused): try later."""


async def open_session(target: Target) -> tuple[SMTPClient, Reply, Reply]:
    """A greeted connection (STARTTLS and EHLO again if the target asks): (client, banner,
    EHLO/HELO reply). Raises Refused, AuditError (STARTTLS refused) or the client's
    ConnectError / ConnectionClosedError / ReplyTimeout; the connection is closed then."""
    client = SMTPClient(target.options)
    try:
        banner, hello = await greet(client, target.helo)
        if banner.code != 220:
            raise Refused(f"the server refused the session: {banner.one_line()}")
        if hello.klass != 2:
            raise Refused(f"the server refused EHLO and HELO: {hello.one_line()}")
        if target.starttls:
            reply = await client.starttls(target.context)
            if reply.code != 220:
                raise AuditError(f"STARTTLS refused: {reply.one_line()}")
            hello = await client.command(f"EHLO {target.helo}")
    except BaseException:
        await client.close()
        raise
    return client, banner, hello


async def hang_up(client: SMTPClient, *, polite: bool = True) -> None:
    """QUIT without waiting for 221, then close.

    ``polite=False`` closes without QUIT: once a connection has used up its error budget
    the server tarpits even QUIT's reply, holding the connection (and its per-client
    connection slot) open for that long, while a plain close ends it at once.
    """
    if client.connected and polite:
        with contextlib.suppress(SmtpshError):
            await client.send_line("QUIT")
    await client.close()


def random_name() -> str:
    """'zz' and 12 random lowercase letters: a name no real user has (letters only: valid
    everywhere), for the canary of user enumeration and the control of the relay tests.
    One draw from the system's randomness (a letter at a time read it 12 times)."""
    number = secrets.randbelow(26**12)
    letters = []
    for _ in range(12):
        number, digit = divmod(number, 26)
        letters.append(string.ascii_lowercase[digit])
    return "zz" + "".join(letters)
