"""The command-line flags smtpsh's commands share, declared in one place.

A flag means the same thing in every command that has it: the session, dns, probe, enum,
relay, replay and the shell's meta-commands (/probe parses its words with probe's parser).
Each builder adds one group; a command takes the groups that apply to it. --user is always
the user to authenticate as; -u (enum only) a name to check, as smtp-user-enum has it.

    -p/--port, --timeout, --connect-timeout, --helo, -4/-6      add_connection
    --tls, --starttls, --no-verify, --cafile, --client-*       add_tls
    --user, --password-file, --password-env                     add_auth (read_secret)
    --socks5, --socks5-password-*, --proxy-v1/-v2               add_proxies
    -D/--domain                                                 add_domain
    --color, --json                                             add_colour, add_json
    --json refused, saying why (report, sandbox)                refuse_json
    -T, --concurrency, --delay, --jsonl, --resume, ...          add_targets (many targets)

Only argparse is needed to declare them: the piped start-up path goes through here.
"""

from __future__ import annotations

import argparse
import os

from smtpsh.target import UsageError, check_combinations  # noqa: F401

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (the piped path)
if TYPE_CHECKING:
    from typing import NoReturn

COLOUR_CHOICES = ("auto", "always", "never")
# The same for every command: how long a name and its addresses may take to answer.
CONNECT_TIMEOUT = 30.0


def add_connection(
    parser: argparse.ArgumentParser,
    *,
    timeout: float | None,
    timeout_help: str,
    port: bool = True,
    helo: bool = True,
) -> argparse._ArgumentGroup:
    """How to reach the server. ``timeout``: the command's default reply timeout (an audit
    gives up on a silent server sooner than a session's RFC 5321 minutes)."""
    conn = parser.add_argument_group("connection")
    if port:
        conn.add_argument("-p", "--port", type=int,
                          help="port (default 25; 465 means implicit TLS)")
    conn.add_argument("--timeout", type=float, default=timeout, metavar="S", help=timeout_help)
    conn.add_argument(
        "--connect-timeout", type=float, default=CONNECT_TIMEOUT, metavar="S",
        help=f"seconds to resolve the name and connect, every address tried within it"
        f" (default {CONNECT_TIMEOUT:g})",
    )
    if helo:
        conn.add_argument("--helo", metavar="NAME", default=None,
                          help="the name to offer in EHLO/HELO")
    family = conn.add_mutually_exclusive_group()
    family.add_argument("-4", dest="family", action="store_const", const=4, help="IPv4 only")
    family.add_argument("-6", dest="family", action="store_const", const=6, help="IPv6 only")
    return conn


def add_tls(
    parser: argparse.ArgumentParser,
    *,
    starttls: str | None,
    client_certificate: bool = True,
) -> argparse._ArgumentGroup:
    """TLS: implicit (--tls) or STARTTLS, which exclude each other wherever both exist
    (check_combinations); ``starttls``: the help of --starttls (None: the command has none)."""
    tls = parser.add_argument_group("TLS")
    tls.add_argument("--tls", action="store_true",
                     help="implicit TLS from the first byte (default on port 465)")
    if starttls is not None:  # with --tls (or port 465): refused by check_combinations
        tls.add_argument("--starttls", action="store_true", help=starttls)
    tls.add_argument("--no-verify", action="store_true",
                     help="do not verify the server's certificate (warned about)")
    tls.add_argument("--cafile", metavar="FILE", help="also trust the CA certificates in FILE")
    if client_certificate:
        tls.add_argument("--client-cert", metavar="FILE", help="present this client certificate")
        tls.add_argument("--client-key", metavar="FILE", help="the key of --client-cert")
    else:
        parser.set_defaults(client_cert=None, client_key=None)
    return tls


def add_auth(parser: argparse.ArgumentParser, title: str) -> argparse._ArgumentGroup:
    """The AUTH user and where its secret comes from (never the command line: argv is
    visible to every user of the machine)."""
    auth = parser.add_argument_group(title)
    auth.add_argument("--user", metavar="NAME", help="the user name to authenticate as")
    auth.add_argument(
        "--password-file", metavar="FILE",
        help="the password (or XOAUTH2 token): the first line of FILE",
    )
    auth.add_argument(
        "--password-env", metavar="NAME",
        help="the password (or token) from this environment variable",
    )
    return auth


def add_proxies(group: argparse._ArgumentGroup) -> None:
    """How the connection is carried: through a SOCKS5 proxy (a pivot), and/or with a
    HAProxy PROXY header first (smtpsh.target.apply_transport makes them a Connector)."""
    group.add_argument(
        "--socks5",
        metavar="[USER@]HOST:PORT",
        help="connect through this SOCKS5 proxy; it resolves the server's name (remote DNS)",
    )
    group.add_argument(
        "--socks5-password-file", metavar="FILE", help="the SOCKS5 password: first line of FILE"
    )
    group.add_argument(
        "--socks5-password-env", metavar="NAME", help="the SOCKS5 password from this variable"
    )
    proxy = group.add_mutually_exclusive_group()
    proxy.add_argument(
        "--proxy-v1",
        metavar="SRC:PORT",
        help="send a HAProxy PROXY v1 header first, claiming the client is SRC:PORT",
    )
    proxy.add_argument(
        "--proxy-v2",
        metavar="SRC:PORT",
        help="the same in PROXY protocol v2 (binary)",
    )


def add_domain(group: argparse._ArgumentGroup | argparse.ArgumentParser, help: str) -> None:
    """-D/--domain: the outside domain a command works with (relay tests, RCPT checks)."""
    group.add_argument("-D", "--domain", metavar="DOMAIN", help=help)


def add_colour(group: argparse._ArgumentGroup | argparse.ArgumentParser) -> None:
    group.add_argument("--color", choices=COLOUR_CHOICES, default="auto",
                       help="colour (default auto; NO_COLOR respected)")


def add_json(group: argparse._ArgumentGroup | argparse.ArgumentParser, what: str) -> None:
    group.add_argument(
        "--json", action="store_true",
        help=f"{what} as JSON on standard output (smtpsh's versioned envelope)",
    )


class _RefuseJSON(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, *_: object) -> None:
        parser.error(f"--json: {self.help}")


def refuse_json(group: argparse._ArgumentGroup | argparse.ArgumentParser, why: str) -> None:
    """A command without JSON output says why on --json (a usage error, status 2), rather
    than leaving a script to guess from argparse's "unrecognized arguments"."""
    group.add_argument("--json", nargs=0, action=_RefuseJSON, help=why)


# Many targets (smtpsh.fleet): how many hosts at once, and the most a list may hold.
DEFAULT_CONCURRENCY = 32
DEFAULT_HOST_TIMEOUT = 300.0
MAX_TARGETS = 65536


DELAY_HELP = ("seconds between two connections to the same host, every connection a"
              " check opens (default 0)")


def add_targets(
    parser: argparse.ArgumentParser, *, what: str = "HOST[:PORT]", delay: str = DELAY_HELP,
    quiet: bool = True,
) -> argparse._ArgumentGroup:
    """Many targets: -T FILE, and what a run over them needs (smtpsh.fleet). ``delay``: the
    help of --delay, the politeness pause between two connections to one host (which
    connections a command opens differs: say so); ``quiet``: add -q (a command with its own
    -q already has it)."""
    many = parser.add_argument_group(
        "many targets",
        "Several targets, a CIDR block (192.0.2.0/24), a range (192.0.2.10-20) or -T FILE:"
        " the hosts are checked a few at a time, one line each, then a summary.",
    )
    many.add_argument("-T", "--targets", dest="targets_file", action="append", default=[],
                      metavar="FILE",
                      help=f"one {what} a line ('-': standard input; # comments); repeatable")
    many.add_argument("--concurrency", type=int, default=DEFAULT_CONCURRENCY, metavar="N",
                      help=f"hosts checked at once (default {DEFAULT_CONCURRENCY})")
    many.add_argument("--processes", type=int, default=0, metavar="N",
                      help="processes the hosts are shared out among (default 0: one per"
                      " CPU, at most 4, from 200 hosts on; 1: this process alone)")
    many.add_argument("--event-loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                      help="auto (default): uvloop's when installed (pip install"
                      " 'smtpsh[fast]'; a sixth less CPU a host), else asyncio's")
    many.add_argument("--delay", type=float, default=0.0, metavar="S", help=delay)
    many.add_argument("--host-timeout", type=float, default=DEFAULT_HOST_TIMEOUT, metavar="S",
                      help="give a host up after S seconds in all, recorded as failed"
                      f" (default {DEFAULT_HOST_TIMEOUT:g}; 0: no limit)")
    many.add_argument("--jsonl", metavar="FILE",
                      help="write each host's result to FILE as it is done: one JSON"
                      " envelope a line (as --json's), kept if the run is stopped; a FILE"
                      " that holds results already is refused (go on with --resume)")
    many.add_argument("--resume", metavar="FILE",
                      help="skip the hosts FILE (a --jsonl file) already holds and add the"
                      " rest to it")
    many.add_argument("--max-targets", type=int, default=MAX_TARGETS, metavar="N",
                      help=f"refuse a list or block of more hosts (default {MAX_TARGETS})")
    if quiet:
        many.add_argument("-q", "--quiet", action="store_true",
                          help="no progress line (it is shown only on a terminal anyway)")
    return many


MAX_DELAY = 3600.0  # an hour between two connections: more is surely a typo


def polite_delay(args: argparse.Namespace) -> float:
    """--delay: seconds between two connections to the same host (0: none); UsageError
    when negative or absurd. One host or many: a command's connections are spaced the same way."""
    delay = float(getattr(args, "delay", 0.0) or 0.0)
    if not 0 <= delay <= MAX_DELAY:  # negative, NaN, inf
        raise UsageError(f"--delay must be from 0 to {MAX_DELAY:g} seconds")
    return delay


class CommandLineParser(argparse.ArgumentParser):
    """argparse with its error line made safe to show: argparse quotes some words of the
    command line as they were given ('unrecognized arguments: ...', 'ambiguous option:
    ...'), and those are text from outside like any other (an ESC in an argument would
    reach the terminal)."""

    def error(self, message: str) -> NoReturn:
        from smtpsh.output.safe import safe

        super().error(safe(message))


class WordsParser(argparse.ArgumentParser):
    """The parser of a shell meta-command's words: the same flags as the sub-command, but a
    bad word is one line (UsageError) instead of an exit."""

    def __init__(self, prog: str, description: str = "") -> None:
        super().__init__(prog=prog, description=description, add_help=False,
                         allow_abbrev=False)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")

    def parse_words(self, text: str) -> argparse.Namespace:
        import shlex

        try:
            words = shlex.split(text)
        except ValueError as exc:
            raise UsageError(f"{self.prog}: {exc}") from None
        return self.parse_args(words)


# --- the one reader of secrets -----------------------------------------------------------


class SecretError(UsageError):
    """The secret cannot be read as asked (one line says why)."""


def read_secret(password_file: str | None, password_env: str | None) -> tuple[str, list[str]]:
    """The secret --password-file or --password-env names, and warnings to show.

    The same rules for every command: a file's first line without its line ending, ``~``
    expanded, a warning when others may read it; an environment variable that is unset or
    empty is an error (an empty password is a mistake, not a password)."""
    warnings: list[str] = []
    if password_file:
        path = os.path.expanduser(password_file)
        try:
            with open(path, "rb") as handle:
                info = os.fstat(handle.fileno())
                first = handle.readline(65536)
        except OSError as exc:
            raise SecretError(
                f"--password-file: cannot read {password_file}: {exc.strerror or exc}"
            ) from None
        try:
            secret = first.decode("utf-8").rstrip("\r\n")
        except UnicodeDecodeError:
            raise SecretError(f"--password-file: {password_file} is not UTF-8 text") from None
        if info.st_mode & 0o077:
            warnings.append(
                f"--password-file: {password_file} is readable by others (chmod 600 it)"
            )
        if not secret:
            raise SecretError(
                f"--password-file: {password_file} is empty (the secret is its first line)"
            )
        return secret, warnings
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise SecretError(f"--password-env: the environment variable {password_env} is not set")
        if not value:
            raise SecretError(f"--password-env: the environment variable {password_env} is empty")
        return value, warnings
    raise SecretError("no secret given: --password-file FILE or --password-env NAME")
