"""How a recorded connection was made, read back from its '# connect' line, and how a replay
makes it again.

The recorder writes the connector's own description (smtpsh.net: ``describe``):

    # connect mx.example:25
    # connect unix:/run/dovecot/lmtp
    # connect pipe:/usr/sbin/sendmail -bs
    # connect mx.example:25 via SOCKS5 127.0.0.1:1080
    # connect 127.0.0.1:10025 (PROXY v2 from 198.51.100.7:40000)

A replay goes the same way where the file can say how (a UNIX socket, a PROXY header), and
otherwise refuses with one line naming what to pass: the file does not hold the SOCKS
password, and replay runs no command a file names (--pipe is the user's to give).
"""

from __future__ import annotations

import argparse
import copy
import re
from dataclasses import dataclass

from smtpsh.target import UsageError

_PROXY = re.compile(r"^(?P<rest>.+) \(PROXY v(?P<version>[12]) from (?P<source>\S+)\)$")
_SOCKS = re.compile(r"^(?P<where>\S+) via SOCKS5 (?P<proxy>\S+)$")
PIPE_PREFIX = "pipe:"
UNIX_PREFIX = "unix:"  # as smtpsh.net.local (not imported: it loads subprocess)


@dataclass(frozen=True)
class Route:
    where: str  # HOST:PORT, unix:PATH or pipe:COMMAND
    socks: str = ""  # the SOCKS5 proxy the connection went through (HOST:PORT)
    proxy_version: int = 0  # the PROXY header sent first (0: none)
    proxy_source: str = ""  # the client address it claimed (SRC:PORT)

    def describe(self) -> str:
        text = self.where
        if self.socks:
            text += f" via SOCKS5 {self.socks}"
        if self.proxy_version:
            text += f" (PROXY v{self.proxy_version} from {self.proxy_source})"
        return text


def parse_route(value: str) -> Route:
    """A '# connect' line's value as a Route (a plain HOST:PORT when nothing else is said)."""
    value = value.strip()
    if value.startswith(PIPE_PREFIX):  # the command is free text: nothing follows it
        return Route(value)
    version, source = 0, ""
    if found := _PROXY.match(value):
        value, version, source = found["rest"], int(found["version"]), found["source"]
    socks = ""
    if found := _SOCKS.match(value):
        value, socks = found["where"], found["proxy"]
    return Route(value.split()[0] if value else value, socks, version, source)


def route_problem(args: argparse.Namespace, route: Route) -> str:
    """Why this recorded connection cannot be made again with these options ('' if it can)."""
    if route.where.startswith(PIPE_PREFIX) and not args.pipe:
        command = route.where[len(PIPE_PREFIX) :]
        return (
            f"the transcript was recorded over a pipe to '{command}': replay runs no command a"
            f" file names; give --pipe '{command}' to run it yourself (or HOST[:PORT])"
        )
    if route.socks and not args.socks5:
        return (
            f"the transcript was recorded through the SOCKS5 proxy {route.socks}: give --socks5"
            f" [USER@]{route.socks} (and --socks5-password-file/-env) to go the same way, or"
            " HOST[:PORT] to connect directly"
        )
    return ""


def route_args(args: argparse.Namespace, route: Route) -> argparse.Namespace:
    """The replay's options for one recorded connection: its own target, and the PROXY
    header it sent unless the user gives one; the user's --socks5 and --pipe as given."""
    made = copy.copy(args)
    made.target = route.where
    made.lmtp = False  # learnt from the recorded LHLO, as in a session
    if route.proxy_version and not (args.proxy_v1 or args.proxy_v2):
        made.proxy_v1 = route.proxy_source if route.proxy_version == 1 else None
        made.proxy_v2 = route.proxy_source if route.proxy_version == 2 else None
    if route.where.startswith(PIPE_PREFIX):
        made.target = None  # --pipe runs the user's command, given as --pipe
    return made


def endpoint(route: Route) -> tuple[str, int]:
    """The host and port the options name (for TLS names; a socket or pipe is localhost)."""
    from smtpsh.target import parse_target

    if route.where.startswith((PIPE_PREFIX, UNIX_PREFIX)):
        return "localhost", 25
    host, port = parse_target(route.where, None)
    if not host:
        raise UsageError(f"bad server '{route.where}' in the transcript")
    return host, port or 25
