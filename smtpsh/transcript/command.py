"""`smtpsh replay FILE [HOST[:PORT]]`: a recorded session as a regression test.

Exit status: 0 when every step matched, 1 when one differed or could not run, 2 for a
file or option that is wrong (nothing was sent).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TYPE_CHECKING

from smtpsh import exitcodes, flags, jsonout
from smtpsh.net.client import SMTPClient
from smtpsh.output.printer import Printer, colour_wanted, print_error
from smtpsh.protocol.auth import Credentials
from smtpsh.protocol.encoding import visible
from smtpsh.protocol.replies import Reply
from smtpsh.target import UsageError, run_main
from smtpsh.transcript.model import Transcript, TranscriptError
from smtpsh.transcript.reader import read

if TYPE_CHECKING:
    from smtpsh.net.base import ClientOptions
    from smtpsh.transcript.replay import Summary

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Send the client lines of a transcript (smtpsh --record, swaks output or an RFC-style"
        " C:/S: dialogue) and compare each reply with the recorded one. Exit 0 only when"
        " every step matched."
    )
    parser.add_argument("file", metavar="FILE", help="the transcript to replay")
    parser.add_argument(
        "target",
        nargs="?",
        metavar="HOST[:PORT]",
        help="the server, or unix:PATH (default: each '# connect' line's, reached the same"
        " way: a UNIX socket, a PROXY header; through SOCKS or a pipe only with --socks5 or"
        " --pipe given)",
    )
    check = parser.add_argument_group("comparing")
    check.add_argument(
        "--strict", action="store_true", help="compare the text of every reply line too"
    )
    check.add_argument("--pace", action="store_true", help="keep the recorded timing")
    check.add_argument(
        "--dry-run", action="store_true", help="print what would be sent; connect to nothing"
    )
    check.add_argument(
        "-v", "--verbose", action="store_true", help="show every line sent and received"
    )
    flags.add_auth(parser, "AUTH (the transcript holds no secrets)")
    conn = flags.add_connection(
        parser, timeout=None, port=False, helo=False,
        timeout_help="seconds to wait for each reply and each write (default: RFC 5321's)",
    )
    conn.add_argument(
        "--pipe",
        metavar="COMMAND",
        help="the server is COMMAND on its stdin/stdout, for every connection (a transcript"
        " recorded over --pipe names its command, but replay never runs it on its own)",
    )
    flags.add_proxies(conn)
    conn.add_argument(
        "--follow-connects",
        action="store_true",
        help="with no HOST: connect to every server the transcript's '# connect' lines name"
        " (refused by default when they name more than one)",
    )
    tls = flags.add_tls(parser, starttls=None)
    tls.add_argument(
        "--insecure-auth",
        action="store_true",
        help="fill a recorded AUTH with your credentials even without TLS (refused by default)",
    )
    out = parser.add_argument_group("output")
    flags.add_colour(out)
    flags.add_json(out, "the steps and the verdict")


def run(args: argparse.Namespace) -> int:
    if args.json:  # the document alone on standard output: the steps are not shown
        printer = Printer(colour=False, stream=open(os.devnull, "w"))  # noqa: SIM115
    else:
        printer = Printer(colour=colour_wanted(args.color, sys.stdout))
    try:
        transcript = read(args.file)
        target = _target(args, transcript)
        _check_options(args, target)
        plan = connection_plan(args, transcript, target)
        if args.dry_run:
            from smtpsh.transcript.replay import dry_run

            dry_run(transcript, plan, printer)
            problem = _host_change(args, transcript, plan)
            if problem:
                printer.emit([("ansired bold", f"a replay would be refused: {problem}")])
                return exitcodes.USAGE
            return exitcodes.OK
        problem = _host_change(args, transcript, plan)
        if problem:
            raise UsageError(problem)
        credentials = load_credentials(args, transcript) if transcript.has_secrets_to_fill else None
    except (EOFError, KeyboardInterrupt):
        sys.stderr.write("\n")
        print_error("smtpsh replay", "cancelled; nothing was sent")
        return exitcodes.INTERRUPTED
    except (TranscriptError, UsageError) as exc:
        print_error("smtpsh replay", str(exc))
        if args.json:
            return jsonout.emit("replay", args.file, exc.exit_status, error=(exc.fault, str(exc)))
        return exc.exit_status
    return run_main(_replay(args, transcript, plan, target, credentials, printer))

def _target(args: argparse.Namespace, transcript: Transcript) -> str:
    """Where the replay goes when a '# connect' line does not say: HOST[:PORT], unix:PATH
    or --pipe's command as given, else the first '# connect' line's (its whole route)."""
    from smtpsh.net.client import format_address
    from smtpsh.target import UsageError, parse_target
    from smtpsh.transcript.route import PIPE_PREFIX, UNIX_PREFIX, parse_route

    if args.pipe:
        if args.target:
            raise UsageError("--pipe runs the server itself: give no HOST as well")
        return PIPE_PREFIX + visible(args.pipe)
    if args.target and args.target.startswith(UNIX_PREFIX):
        return str(args.target)
    if not args.target:
        written = next((value for _line, value in transcript.connects() if value), None)
        if not written:
            raise UsageError(
                f"{transcript.source} names no server (no '# connect' line): give HOST[:PORT]"
            )
        return visible(parse_route(written).describe())
    try:
        host, port = parse_target(args.target, None)
    except UsageError as exc:
        raise UsageError(str(exc)) from None
    return format_address(host, port or 25)


def connection_plan(
    args: argparse.Namespace, transcript: Transcript, default: str
) -> dict[int, str]:
    """The server each connection of the replay goes to, by the line that opens it: HOST
    (or --pipe) given on the command line for all of them, else each '# connect' line's own
    route (transcript/route.py)."""
    from smtpsh.transcript.route import parse_route

    plan: dict[int, str] = {}
    for line, written in transcript.connects():
        if args.target or args.pipe or not written:
            plan[line] = default
            continue
        route = parse_route(written)
        if not route.where:
            raise TranscriptError(transcript.source, line, "a '# connect' line names no server")
        plan[line] = visible(route.describe())
    return plan


def _host_change(args: argparse.Namespace, transcript: Transcript, plan: dict[int, str]) -> str:
    """Why the plan is refused ('' when it is not): a transcript that moves to another
    server decides where smtpsh connects, and with --user, where the password goes; a
    connection that cannot be made again as recorded says what to pass."""
    from smtpsh.transcript.route import parse_route, route_problem

    for where in dict.fromkeys(plan.values()):
        problem = route_problem(args, parse_route(where))
        if problem:
            return problem
    if args.follow_connects:
        return ""
    first_line, first = next(iter(plan.items()), (0, ""))
    for line, host in plan.items():
        if host != first:
            return (
                f"{transcript.source} connects to {first} (line {first_line}) and then to"
                f" {host} (line {line}); a transcript does not choose the servers smtpsh"
                " talks to: give HOST[:PORT] to replay every connection against one server,"
                " or --follow-connects to connect to each as recorded"
            )
    return ""


def replay_options(args: argparse.Namespace, where: str) -> ClientOptions:
    """The client options of one connection of the replay, made the way ``where`` (a plan
    entry) says; UsageError for a bad option or file (nothing was sent yet)."""
    from smtpsh.target import TRANSPORT_OPTIONS, apply_transport, client_options
    from smtpsh.transcript.route import endpoint, parse_route, route_args

    route = parse_route(where)
    made = route_args(args, route)
    host, port = endpoint(route)
    options = client_options(made, host, port)
    if (made.target and made.target.startswith("unix:")) or any(
        getattr(made, name, None) for name in TRANSPORT_OPTIONS
    ):
        apply_transport(made, options)
    return options


def _check_options(args: argparse.Namespace, target: str) -> None:
    """Load the TLS files once before anything is sent: a bad --cafile is a usage error."""
    from smtpsh.target import UsageError

    try:
        replay_options(args, target)
    except UsageError as exc:
        raise UsageError(str(exc)) from None


def load_credentials(args: argparse.Namespace, transcript: Transcript) -> Credentials:
    """User name and secret for a recorded AUTH: options first, then a prompt on a terminal."""
    interactive = sys.stdin.isatty()
    need = f"{transcript.source} authenticates (AUTH, masked in the file): give"
    user = args.user
    if not user:
        if not interactive:
            raise UsageError(f"{need} --user NAME and --password-file FILE")
        user = input("user name for AUTH: ").strip()
    if args.password_file or args.password_env:
        secret, warnings = flags.read_secret(args.password_file, args.password_env)
        for warning in warnings:
            print_error("smtpsh replay", warning)
    elif interactive:
        secret = getpass.getpass(f"password for {user} (hidden): ")
    else:
        raise UsageError(f"{need} --password-file FILE or --password-env NAME")
    return Credentials(user, secret)


async def _replay(
    args: argparse.Namespace,
    transcript: Transcript,
    plan: dict[int, str],
    default_target: str,
    credentials: Credentials | None,
    printer: Printer,
) -> int:
    from smtpsh.output.dialogue import Renderer
    from smtpsh.transcript.replay import Replayer, Reporter

    observers = [Renderer(printer, annotate_on=False, echo_sent=True)] if args.verbose else []

    hosts = list(dict.fromkeys(plan.values())) or [default_target]

    async def opener(line: int, implicit_tls: bool) -> tuple[SMTPClient, Reply | None]:
        where = plan.get(line, default_target)
        if where not in hosts:  # the plan was checked; a connection outside it is a bug
            raise UsageError(f"line {line}: {where} is not a server of this replay")
        if len(hosts) > 1:
            printer.emit([("#888888", f"  · connecting to {where} (line {line})")])
        options = replay_options(args, where)
        options.implicit_tls = options.implicit_tls or implicit_tls
        client = SMTPClient(options, observers)
        banner = await client.open()
        return client, banner

    mode = "codes and text must match" if args.strict else "codes must match, text may differ"
    against = ", then ".join(hosts)
    printer.emit([("bold", f"replaying {transcript.source} against {against} ({mode})")])
    replayer = Replayer(
        transcript,
        opener,
        Reporter(printer),
        strict=args.strict,
        pace=args.pace,
        credentials=credentials,
        timeout=args.timeout,
        insecure_auth=args.insecure_auth,
    )
    summary = await replayer.run()
    status = exit_status(summary)
    if args.json:
        result = summary_json(summary, transcript.source, against)
        error = ("failed", "some steps could not run") if status == exitcodes.FAILED else None
        jsonout.emit("replay", against, status, result, error)
    return status


def exit_status(summary: Summary) -> int:
    """Every step matched; a reply differed (FOUND); or steps could not run (FAILED)."""
    if summary.ok:
        return exitcodes.OK
    return exitcodes.FOUND if summary.differed else exitcodes.FAILED


def summary_json(summary: Summary, source: str, target: str) -> dict[str, object]:
    return {
        "transcript": source,
        "target": target,
        "steps": [
            {
                "number": step.number,
                "label": step.label,
                "line": step.line,
                "ok": step.matched,
                "expected": list(step.expected.lines),
                "got": step.got.wire_lines() if step.got is not None else None,
                "problems": step.problems,
                "not_run": step.not_run or None,
            }
            for step in summary.steps
        ],
        "matched": summary.matched,
        "differed": summary.differed,
        "not_run": summary.not_run,
    }
