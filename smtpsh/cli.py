"""Command line: `smtpsh HOST[:PORT]` opens a session; sub-commands do one job each.

Argument parsing and dispatch only: a sub-command runs in its module (SUBCOMMANDS), a
session starts in smtpsh.shell.start. Only argparse is imported at start-up; each path
imports what it needs, so the time to the first prompt stays short.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from smtpsh import __version__, exitcodes, flags
from smtpsh.output.printer import terminal_columns
from smtpsh.target import InputFileError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    from typing import Any, NoReturn

# Sub-command -> (module exposing add_arguments(parser) and run(args) -> int, summary).
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "send": ("smtpsh.send_command", "send one message, built as /compose builds it (swaks-like)"),
    "dns": ("smtpsh.dns", "report a mail domain's DNS: MX, SPF, DMARC, MTA-STS, TLSA, DKIM"),
    "probe": ("smtpsh.audit.probe", "footprint a server: banner, EHLO, TLS, AUTH, VRFY, relay"),
    "enum": ("smtpsh.audit.enum", "enumerate users with VRFY/EXPN/RCPT (tarpit-aware)"),
    "relay": ("smtpsh.audit.relay", "run the 16 open-relay tests (never sends DATA)"),
    "replay": ("smtpsh.transcript.command", "replay a recorded session, diff the replies"),
    "tls": ("smtpsh.audit.tlscommand", "the TLS versions and cipher suites a server takes, graded"),
    "sandbox": ("smtpsh.sandbox.command", "run the practice server alone, for other tools"),
    "report": ("smtpsh.report.command", "an HTML or Markdown report from results and transcripts"),
}

EXAMPLES = """\
examples:
  smtpsh --sandbox                 practise on a built-in server (start here)
  smtpsh --sandbox --scenario inlanefreight   practise footprinting (/tour footprint)
  smtpsh mail.example.com          talk to port 25 of a server
  smtpsh mail.example.com:587 --starttls
  smtpsh [::1]:25 < script.txt     piped: send each line, print the dialogue
  smtpsh dns example.com           check a mail domain's DNS

sub-commands:
{subcommands}
Type /help in the shell for its commands, `help VERB` for an SMTP verb.

{exit_status}
"""


# Shown under each sub-command's --help (and in the reference); tests parse every one.
SUBCOMMAND_EXAMPLES: dict[str, tuple[tuple[str, str], ...]] = {
    "send": (
        ("smtpsh send mx.example.net --from a@example.net --to b@example.org", "a test message"),
        ("smtpsh send mx.example.net:587 --starttls --auth PLAIN --from a@x --to b@y",
         "submission"),
        ("smtpsh send mx.example.net --from a@x --to b@y --attach a.pdf --subject %DATE%",
         "a file, a token"),
        ("smtpsh send mx.example.net --from a@x --to b@example.org --quit-after rcpt",
         "is b@ accepted?"),
        ("smtpsh send mx.example.net --from a@x --to b@y --body-file - --dry-run",
         "only show it"),
    ),
    "dns": (
        ("smtpsh dns example.com", "MX, SPF, DMARC, MTA-STS, TLS-RPT, DANE"),
        ("smtpsh dns example.com --dkim-selector s1", "also check a DKIM key"),
        ("smtpsh dns example.com --json", "for scripts"),
        ("smtpsh dns -T domains.txt --jsonl dns.jsonl", "many domains, one JSON line each"),
    ),
    "probe": (
        ("smtpsh probe mail.example.com", "footprint port 25"),
        ("smtpsh probe mail.example.com:587 --no-relay", "the submission port, no relay tests"),
        ("smtpsh probe mail.example.com --json", "for scripts"),
        ("smtpsh probe -T hosts.txt --jsonl probe.jsonl", "many hosts, one JSON line each"),
        ("smtpsh probe 192.0.2.0/28 --delay 1", "a block, a second between connections"),
    ),
    "enum": (
        ("smtpsh enum mail.example.com -U names.txt", "check each name in names.txt"),
        ("smtpsh enum mail.example.com -u root -u admin -m rcpt", "two names, with RCPT"),
        ("smtpsh enum -T hosts.txt -U names.txt", "every name on every host"),
    ),
    "relay": (
        ("smtpsh relay mail.example.com", "the 16 tests, on port 25"),
        ("smtpsh relay mail.example.com --to you@example.org", "relay to an address you read"),
        ("smtpsh relay 192.0.2.10-20 --jsonl relay.jsonl", "a range of addresses"),
    ),
    "replay": (
        ("smtpsh replay session.smtpt", "against the server it was recorded on"),
        ("smtpsh replay session.smtpt staging.example.com", "against another server"),
        ("smtpsh replay session.smtpt --dry-run", "show what would be sent"),
    ),
    "tls": (
        ("smtpsh tls mail.example.com", "STARTTLS on port 25"),
        ("smtpsh tls mail.example.com:465", "implicit TLS"),
        ("smtpsh tls mail.example.com --json", "for scripts"),
        ("smtpsh tls -T hosts.txt --delay 0.5", "many servers, each connection spaced"),
    ),
    "sandbox": (
        ("smtpsh sandbox --scenario inlanefreight --port 2525", "a target for nmap or swaks"),
        ("smtpsh sandbox --scenario hardened", "one with nothing to find"),
    ),
    "report": (
        ("smtpsh report probe.json tls.json dns.json -o report.html", "findings by severity"),
        ("smtpsh report session.smtpt -o ladder.html", "a recorded session as a ladder diagram"),
        ("smtpsh report probe.json --markdown -o report.md", "Markdown, to paste"),
    ),
}


class _HelpFormatter(argparse.HelpFormatter):
    """Wraps prose as argparse does, but keeps indented lines (examples) as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        blocks = []
        for block in text.split("\n\n"):
            if any(line.startswith("  ") for line in block.splitlines()):
                blocks.append("\n".join(indent + line for line in block.splitlines()))
            else:
                blocks.append(super()._fill_text(block, width, indent))
        return "\n\n".join(blocks)


class _MainFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        width = terminal_columns() - 2 if width is None else width  # as argparse does
        super().__init__(prog, indent_increment, max_help_position, width)


# --quit-after / --drop-after steps (smtpsh.shell.steps.STEPS, not imported at start-up).
STEPS = ("connect", "banner", "first-ehlo", "tls", "auth", "mail", "rcpt", "data", "dot")


def _scenario_names() -> list[str]:
    """The shipped sandbox scenarios, without importing the sandbox (start-up budget)."""
    folder = os.path.join(os.path.dirname(__file__), "sandbox", "scenarios")
    try:
        return sorted(n[: -len(".toml")] for n in os.listdir(folder) if n.endswith(".toml"))
    except OSError:
        return []


SESSION_TIMEOUT_HELP = (
    "seconds to wait for each reply and each write (default: RFC 5321's per command)"
)


def add_session_options(parser: argparse.ArgumentParser, *, shell: bool = True) -> None:
    """The options of a session: `smtpsh HOST` and `smtpsh send HOST` share them (``shell``:
    also --mx, --sandbox and --scenario, which only the shell has)."""
    conn = flags.add_connection(parser, timeout=None, timeout_help=SESSION_TIMEOUT_HELP)
    conn.add_argument(
        "--local-address",
        metavar="ADDR",
        help="connect from this local address (ADDR, ADDR:PORT or [v6]:PORT)",
    )
    if shell:
        conn.add_argument(
            "--mx",
            metavar="DOMAIN",
            help="connect to DOMAIN's best mail exchanger (MX), falling back to the next",
        )
        conn.add_argument(
            "--sandbox",
            action="store_true",
            help="start the built-in practice server and connect to it",
        )
        conn.add_argument(
            "--scenario",
            metavar="NAME",
            help="with --sandbox: which server to play ("
            + ", ".join(_scenario_names())
            + ", or a .toml file; default: default)",
        )
    ways = parser.add_argument_group("other ways in (LMTP, pipes, proxies)")
    ways.add_argument(
        "--lmtp",
        action="store_true",
        help="speak LMTP (RFC 2033): LHLO, and one reply per recipient after the final"
        " dot (default port 24)",
    )
    ways.add_argument(
        "--pipe",
        metavar="COMMAND",
        help="the server is COMMAND talking on its stdin/stdout, e.g. '/usr/sbin/sendmail -bs'",
    )
    flags.add_proxies(ways)
    flags.add_tls(
        parser,
        starttls="EHLO, STARTTLS, EHLO again right after connecting; never go on in clear",
    )
    auth = flags.add_auth(
        parser, "authentication (/auth in the shell; secrets never on the command line)"
    )
    auth.add_argument(
        "--auth",
        metavar="MECH",
        help="authenticate right after connecting: SCRAM-SHA-256, SCRAM-SHA-1, CRAM-MD5,"
        " NTLM (--user 'DOMAIN\\user'; needs smtpsh[ntlm]), PLAIN, LOGIN, XOAUTH2, or auto"
        " (the strongest the server offers)",
    )
    auth.add_argument(
        "--auth-try-all",
        action="store_true",
        help="try every offered mechanism in turn (a new session each), report each, go on",
    )
    auth.add_argument(
        "--authzid",
        metavar="ID",
        help="authorize as ID (act for another user; PLAIN and SCRAM carry it)",
    )
    auth.add_argument(
        "--insecure-auth",
        action="store_true",
        help="allow AUTH on a connection that is not encrypted (the password is readable)",
    )
    script = parser.add_argument_group("scripting (as swaks)")
    stop = script.add_mutually_exclusive_group()
    stop.add_argument(
        "--quit-after",
        metavar="STEP",
        choices=STEPS,
        help="send QUIT once STEP is done: " + ", ".join(STEPS),
    )
    stop.add_argument(
        "--drop-after",
        metavar="STEP",
        choices=STEPS,
        help="hang up without QUIT once STEP is done (drop tests)",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--no-annotate", action="store_true", help="do not explain each reply")
    out.add_argument(
        "--record",
        metavar="FILE",
        help="write the dialogue to a transcript FILE (mode 0600) for `smtpsh replay`",
    )
    flags.add_colour(out)
    out.add_argument(
        "--timing", action="store_true", help="show how long each reply took (/timing on)"
    )


def build_parser() -> argparse.ArgumentParser:
    subcommands = "".join(
        f"  smtpsh {name:<8} {summary}\n" for name, (_, summary) in SUBCOMMANDS.items()
    )
    parser = flags.CommandLineParser(
        prog="smtpsh",
        usage="smtpsh [options] HOST[:PORT] | unix:PATH | @PROFILE | --sandbox | --mx DOMAIN\n"
        "       smtpsh [options] --pipe COMMAND | <sub-command>",
        description="An interactive SMTP shell: every reply parsed and explained.",
        epilog=EXAMPLES.format(subcommands=subcommands, exit_status=exitcodes.epilog("session")),
        formatter_class=_MainFormatter,
        allow_abbrev=False,  # `--password` must be unknown, not "ambiguous"
    )
    parser.add_argument(
        "target",
        nargs="?",
        metavar="HOST[:PORT]",
        help="the server to talk to, unix:PATH for a UNIX socket, or @PROFILE from"
        " ~/.config/smtpsh/config.toml",
    )
    parser.add_argument("-V", "--version", action="version", version=f"smtpsh {__version__}")
    add_session_options(parser)
    # Declared here rather than through smtpsh.dns: importing dnspython would slow start-up.
    dns = parser.add_argument_group("DNS (--mx, /mx, /dns, /info)")
    dns.add_argument(
        "--dns-server", metavar="IP[:PORT]", help="resolver to ask (default: the system's)"
    )
    dns.add_argument("--dns-timeout", type=float, metavar="S", help="DNS timeout in seconds")
    docs = parser.add_argument_group("documentation")
    docs.add_argument("--man", action="store_true", help="print the man page (roff): | man -l -")
    docs.add_argument(
        "--completion",
        choices=("bash", "zsh", "fish"),
        help="print the completion script for SHELL (see docs/guide.md)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """smtpsh's entry point; a reader of standard output that goes away (`| head`) ends
    every command the same way, here: it stops, and the status is BROKEN_PIPE."""
    try:
        status = _main(argv)
    except BrokenPipeError:
        exitcodes.reader_gone()
        return exitcodes.BROKEN_PIPE
    return exitcodes.BROKEN_PIPE if exitcodes.output_gone() else status


def _main(argv: Sequence[str] | None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    # Started with stdin or stdout closed (`smtpsh host <&-`): read nothing, write nowhere,
    # as with /dev/null, instead of failing on None.
    if sys.stdin is None:
        sys.stdin = open(os.devnull)  # noqa: SIM115 (lives as long as the process)
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
    if args_list and args_list[0] in SUBCOMMANDS:
        return _run_subcommand(args_list[0], args_list[1:])
    parser = build_parser()
    args = parser.parse_args(args_list)
    if args.man or args.completion:
        from smtpsh import docgen

        return docgen.print_man() if args.man else docgen.print_completion(args.completion)
    try:
        from smtpsh.shell.start import run_session

        args = _apply_config(parser, args_list, args)
        return run_session(args)
    except UsageError as exc:
        from smtpsh.output.printer import print_error

        if not isinstance(exc, InputFileError):
            parser.print_usage(sys.stderr)
        print_error("smtpsh", str(exc))
        return exitcodes.USAGE


def _config_errors(errors: Sequence[str], notes: Sequence[str] = ()) -> None:
    """The config file's problems, one line each: ``errors`` made the whole file ignored,
    ``notes`` a key ignored while the rest is used."""
    from smtpsh.output.printer import print_error

    for error in errors:
        print_error("smtpsh", f"{error}; starting with the defaults")
    for note in notes:
        print_error("smtpsh", note)


def _apply_config(
    parser: argparse.ArgumentParser, args_list: list[str], args: argparse.Namespace
) -> argparse.Namespace:
    """config.toml values become defaults (the command line still wins); @NAME a profile."""
    from smtpsh import state

    at_profile = bool(args.target and args.target.startswith("@"))
    if not at_profile and not os.path.exists(state.config_file()):
        args.config = args.profile = None  # nothing to read: the config parser stays unloaded
        return args
    from smtpsh import config

    cfg = config.load()
    _config_errors(cfg.errors, cfg.notes)
    profile = None
    if args.target and args.target.startswith("@"):
        try:
            profile = config.find_profile(cfg, args.target)
        except config.ConfigError as exc:
            raise UsageError(exc.message) from None
    parser.set_defaults(**config.argument_defaults(cfg, profile))
    args = parser.parse_args(args_list)
    args.config, args.profile = cfg, profile
    if profile is not None:
        args.target = profile.host
    return args


class _SubcommandParser(flags.CommandLineParser):
    """argparse, keeping the error it reports: a --json run says it in its envelope too."""

    error_message = ""

    def error(self, message: str) -> NoReturn:
        self.error_message = message
        super().error(message)


def subcommand_parser(name: str) -> argparse.ArgumentParser:
    """The parser of `smtpsh NAME` (scripts/gen-docs reads it for the reference too)."""
    module_name, summary = SUBCOMMANDS[name]
    module: Any = importlib.import_module(module_name)
    parser = _SubcommandParser(
        prog=f"smtpsh {name}", description=summary, formatter_class=_HelpFormatter
    )
    module.add_arguments(parser)
    examples = SUBCOMMAND_EXAMPLES.get(name, ())
    if examples:
        width = max(len(command) for command, _ in examples) + 2
        lines = "\n".join(f"  {command:<{width}} {what}" for command, what in examples)
        parser.epilog = f"{parser.epilog or ''}\n\nexamples:\n{lines}".lstrip()
    if name in exitcodes.COMMANDS:
        parser.epilog = f"{parser.epilog or ''}\n\n{exitcodes.epilog(name)}".lstrip()
    return parser


def _run_subcommand(name: str, rest: list[str]) -> int:
    from smtpsh import config

    module: Any = importlib.import_module(SUBCOMMANDS[name][0])
    parser = subcommand_parser(name)
    # config.toml's defaults (helo, color) for the options this sub-command has too.
    cfg = config.load()
    _config_errors(cfg.errors, cfg.notes)
    dests = {action.dest for action in parser._actions}
    defaults = config.argument_defaults(cfg)
    parser.set_defaults(**{dest: v for dest, v in defaults.items() if dest in dests})
    from smtpsh import fleet

    dest = fleet.TARGET_DEST.get(name)
    try:
        args = parser.parse_args(rest)
        many = dest is not None and fleet.wants_many(args, name)  # -T, a block, --jsonl...
        if dest is not None and not many:
            words = getattr(args, dest)
            if len(words) != 1:
                parser.error(f"give the {dest.replace('target', 'server')} to check"
                             " (several, a CIDR block or -T FILE for many)")
            setattr(args, dest, words[0])
    except SystemExit as exc:
        # A bad command line with --json: the usage on standard error as always, and the
        # envelope on standard output, so that a script reading it gets one document.
        message = getattr(parser, "error_message", "")
        if exc.code == exitcodes.USAGE and message and "--json" in rest:
            from smtpsh import jsonout

            if name in jsonout.COMMANDS:
                jsonout.emit(name, None, exitcodes.USAGE, error=("usage", message))
        raise
    if many:
        from smtpsh.fleet import command

        return command.run(name, args, rest)
    result: int = module.run(args)
    return result
