"""Starting a session from the parsed command line: `smtpsh HOST`, piped or at a prompt,
and the shell `smtpsh send` drives without a prompt.

cli.py parses the arguments; this module turns them into a Shell (the target, --mx,
--sandbox, the transports, TLS and AUTH options, config.toml's theme, keys and sender,
--record, --quit-after) and runs it on the front-end that fits: the blocking piped loop
when nothing needs an event loop, else asyncio (the interactive prompt, the sandbox, TLS).
Like cli.py it imports at start-up only what every session needs, each path the rest
(bench/bench_session.py: the time to the prompt, the piped one-shot).
"""

from __future__ import annotations

import sys

from smtpsh.net.base import SILENT_BANNER_HINT_START, ClientObserver
from smtpsh.target import (
    TRANSPORT_OPTIONS,
    InputFileError,
    UsageError,
    apply_transport,
    client_options,
    default_helo,
    parse_target,
    run_main,
)

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy knows the name)
if TYPE_CHECKING:
    import argparse
    from typing import TextIO

    from smtpsh.net.base import ClientBase
    from smtpsh.output.printer import Printer
    from smtpsh.shell.app import Shell, ShellSettings


def run_session(args: argparse.Namespace) -> int:
    shell = open_shell(args, interactive=sys.stdin.isatty() and sys.stdout.isatty())
    if args.sandbox:
        return run_main(_with_sandbox(shell, args))
    if shell.blocking:
        from smtpsh.shell.app import run_piped_blocking

        return run_piped_blocking(shell)
    return run_main(_drive(shell))


class BannerHintOnStderr(ClientObserver):
    """The hint that no banner came (a port that wants TLS from the first byte needs --tls)
    also on standard error, once, when the dialogue goes to a file or a pipe: the person
    waiting for it is told, not only the file. Said in the dialogue as every note is."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer
        self.told = False

    def on_meta(self, client: ClientBase, text: str, level: str = "info") -> None:
        if self.told or not text.startswith(SILENT_BANNER_HINT_START):
            return
        stream = self.printer.stream
        if stream is sys.stderr or stream.isatty() or _same_file(stream, sys.stderr):
            return  # the dialogue itself is where the person looks (2>&1: said once)
        self.told = True
        from smtpsh.output.printer import print_error

        print_error("smtpsh", text)


def _same_file(one: TextIO, other: TextIO) -> bool:
    """Whether two streams write to the same file or pipe (`2>&1`)."""
    import os

    try:
        a, b = os.fstat(one.fileno()), os.fstat(other.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)


def open_shell(
    args: argparse.Namespace, *, interactive: bool, event_loop: bool = False
) -> Shell:
    """The shell for these options, not yet connected (``event_loop``: never start on the
    blocking transport, as `smtpsh send`, whose message code runs on asyncio)."""
    candidates: list[tuple[str, str]] = []
    if args.sandbox:
        host, port = "127.0.0.1", 0
    elif args.mx:
        candidates = _mx_candidates(args)
        host, port = candidates[0][1], args.port or 25
    elif args.pipe or (args.target and args.target.startswith("unix:")):
        if args.pipe and args.target:
            raise UsageError("--pipe runs the server itself: give no HOST as well")
        host, port = "localhost", args.port or (24 if args.lmtp else 25)  # names for TLS
    elif args.target:
        host, parsed_port = parse_target(args.target, args.port)
        port = parsed_port or (24 if args.lmtp else 25)
    else:
        raise UsageError("give a HOST[:PORT], --mx DOMAIN, or --sandbox to practise")
    if args.scenario and not args.sandbox:
        raise UsageError("--scenario goes with --sandbox (smtpsh --sandbox --scenario NAME)")
    if args.port is not None and not 0 < args.port < 65536:
        raise UsageError("bad --port: must be a number from 1 to 65535")
    options = client_options(args, host, port)
    if args.password_file and not args.password_env:  # read at AUTH, checked before connecting
        from smtpsh.inputfiles import first_problem

        problem = first_problem([("--password-file", args.password_file)])
        if problem is not None:
            raise InputFileError(problem)
    if any(getattr(args, name) for name in TRANSPORT_OPTIONS) or (
        args.target and args.target.startswith("unix:")
    ):
        apply_transport(args, options)

    from smtpsh.output.printer import Printer, colour_wanted
    from smtpsh.shell.app import Shell, ShellSettings

    colour = (
        colour_wanted(args.color, sys.stdout) if interactive or args.color == "always" else False
    )
    printer = Printer(colour=colour)
    settings = ShellSettings(
        helo=args.helo or default_helo(), annotate=not args.no_annotate, interactive=interactive
    )
    _configure_shell(args, settings, printer, host)
    if not interactive:
        settings.observers.append(BannerHintOnStderr(printer))
    if args.record:
        from smtpsh.transcript.recorder import RecordError, TranscriptRecorder

        try:
            settings.observers.append(TranscriptRecorder.open(args.record))
        except RecordError as exc:
            raise UsageError(str(exc)) from None
    tls_or_auth = any(getattr(args, name) for name in TLS_AUTH_OPTIONS)
    # A plain piped session starts without an event loop (smtpsh.shell.app's module doc).
    blocking = not (
        interactive
        or args.sandbox
        or candidates
        or args.record
        or tls_or_auth
        or options.implicit_tls
        or event_loop
    )
    early = None
    if interactive and not args.sandbox and not candidates:
        from smtpsh.net.blocking import EarlyConnection

        # Connect while the shell's modules load (prompt_toolkit, asyncio: ~150 ms).
        early = EarlyConnection(options)
    steps = None
    if args.quit_after or args.drop_after:
        from smtpsh.shell.steps import StepWatch

        steps = StepWatch(args.quit_after or args.drop_after, drop=bool(args.drop_after))
        settings.observers.append(steps)  # sees the dialogue like the recorder
    shell = Shell(options, settings, printer, blocking=blocking)
    shell.steps = steps
    shell.renderer.timing = args.timing
    shell.candidates = candidates
    shell.early = early
    shell.extra.update(dns_server=args.dns_server, dns_timeout=args.dns_timeout)
    if tls_or_auth:
        from smtpsh.shell.tls_commands import configure

        problem = configure(shell, args)
        if problem:
            if early is not None:
                early.discard()
            raise UsageError(problem)
    return shell


# The options tls_commands.configure reads: without them it has nothing to set.
TLS_AUTH_OPTIONS = (
    "user", "password_file", "password_env", "insecure_auth", "starttls", "auth",
    "auth_try_all", "authzid",
)  # fmt: skip


async def _drive(shell: Shell) -> int:
    if shell.settings.interactive:
        from smtpsh.shell.interactive import run_interactive

        return await run_interactive(shell)
    from smtpsh.shell.app import run_piped

    return await run_piped(shell)


async def _with_sandbox(shell: Shell, args: argparse.Namespace) -> int:
    from smtpsh.net.tls import TLSSettings, make_context
    from smtpsh.sandbox import Sandbox
    from smtpsh.sandbox.scenario import ScenarioError, load

    try:
        scenario = load(args.scenario or "default")
    except ScenarioError as exc:
        raise UsageError(str(exc)) from None
    sandbox = await Sandbox.start(
        host="127.0.0.1", port=args.port or 0, tls=True, scenario=scenario
    )
    try:
        shell.sandbox = sandbox
        shell.options.port = sandbox.port
        if sandbox.cafile is not None and shell.options.ssl_context is not None:
            shell.options.ssl_context = make_context(
                TLSSettings(verify=not args.no_verify, cafile=str(sandbox.cafile))
            )
        shell.options.extra["cafile"] = str(sandbox.cafile) if sandbox.cafile else None
        shell.link = shell._new_client()
        for line in sandbox.welcome_text().splitlines():
            shell.say(line)
        if shell.settings.interactive:
            shell.say("  new?     /tour walks you through a whole session, step by step")
        return await _drive(shell)
    finally:
        await sandbox.stop()


def _mx_candidates(args: argparse.Namespace) -> list[tuple[str, str]]:
    """--mx DOMAIN: print the MX table and return (exchanger, address) in the order to try."""
    from smtpsh.dns import DNSInputError, make_resolver, mx_candidates, mx_lines, resolve_mx
    from smtpsh.dnsinfo.lookup import parse_domain
    from smtpsh.output.printer import Printer

    try:
        resolver = make_resolver(args.dns_server, args.dns_timeout)
        result = resolve_mx(parse_domain(args.mx), resolver)
    except DNSInputError as exc:
        raise UsageError(str(exc)) from None
    Printer(colour=False).lines(mx_lines(result))
    families = {4: (4,), 6: (6,)}.get(args.family or 0, (4, 6))
    candidates = mx_candidates(result, families=families)
    if not candidates:
        raise UsageError(f"{args.mx}: no mail exchanger to connect to")
    return candidates


def _configure_shell(
    args: argparse.Namespace, settings: ShellSettings, printer: Printer, host: str
) -> None:
    """What config.toml sets beyond option defaults: theme, keys, sender, hosts, record_dir."""
    if getattr(args, "config", None) is None:  # no config file: the defaults, and the hosts
        if args.target and not args.sandbox:
            from smtpsh import state

            settings.on_connect.insert(0, state.host_recorder(args.target))
        return
    from smtpsh import config

    cfg: config.Config = args.config
    profile: config.Profile | None = getattr(args, "profile", None)
    printer.theme, settings.keys = cfg.theme, cfg.keys
    sender = config.envelope_sender(cfg, profile)
    if sender:
        settings.on_connect.append(config.sender_defaulter(sender))
    if args.target and profile is None and not args.sandbox:
        settings.on_connect.insert(0, config.host_recorder(args.target))
    if cfg.record_dir and not args.record and not args.sandbox:
        args.record = str(config.record_file(cfg.record_dir, host))
