"""The front door of a many-target run: `smtpsh probe|relay|enum|tls|dns` with -T FILE, a
CIDR block or range, several targets, --jsonl or --resume.

Reads the targets, runs the command's job on each (smtpsh.fleet.runner), prints one line a
host as each is done and a summary at the end, keeps a progress line on standard error
while it is a terminal, and says how to resume after Ctrl-C. The exit status is the
'many targets' column of smtpsh.exitcodes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shlex
import signal
import stat
import sys
from collections.abc import Callable, Sequence

from smtpsh import exitcodes
from smtpsh.flags import polite_delay
from smtpsh.fleet import TARGET_DEST
from smtpsh.fleet import targets as fleet_targets
from smtpsh.fleet.jobs import Plan, domain_check, make_plan, status_name
from smtpsh.fleet.runner import (
    MAX_CONCURRENCY,
    MAX_WORKERS,
    Digest,
    Document,
    JsonLines,
    JsonLinesError,
    Outcome,
    Runner,
    Tally,
    auto_workers,
    fleet_status,
    looks_like_results,
    loop_name,
    read_done,
    uvloop_factory,
)
from smtpsh.output.printer import Fragments, Printer, print_error, report_printer
from smtpsh.output.progress import StatusLine, bar
from smtpsh.target import UsageError

STATUS_STYLE = {
    exitcodes.OK: "class:green",
    exitcodes.FOUND: "class:red",
    exitcodes.UNDETERMINED: "class:yellow",
    exitcodes.FAILED: "class:yellow",
}


def run(command: str, args: argparse.Namespace, argv: Sequence[str]) -> int:
    """The run; ``argv``: the command's own arguments, to say how to resume."""
    prog = f"smtpsh {command}"
    try:
        return _run(command, args, argv)
    except UsageError as exc:
        print_error(prog, str(exc))
        return exitcodes.USAGE
    except JsonLinesError as exc:
        print_error(prog, str(exc))
        return exitcodes.USAGE
    except KeyboardInterrupt:  # while a list was read from standard input (-T -, -U -)
        print_error(prog, "interrupted before any host was checked")
        return 128 + signal.SIGINT


def _check(args: argparse.Namespace) -> None:
    if not 1 <= args.concurrency <= MAX_CONCURRENCY:
        raise UsageError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}")
    if not 0 <= args.processes <= MAX_WORKERS:
        raise UsageError(f"--processes must be from 0 (one per CPU) to {MAX_WORKERS}")
    if args.event_loop == "uvloop" and uvloop_factory() is None:
        raise UsageError("--event-loop uvloop: uvloop is not installed (pip install"
                         " 'smtpsh[fast]')")
    polite_delay(args)
    if args.host_timeout is not None and args.host_timeout <= 0:
        raise UsageError("--host-timeout must be more than 0 seconds (0: none)")
    if args.max_targets < 1:
        raise UsageError("--max-targets must be at least 1")
    port = getattr(args, "port", None)
    if port is not None and not 0 < port < 65536:
        raise UsageError("bad --port: must be a number from 1 to 65535")
    if args.targets_file.count("-") > 1:
        raise UsageError("-T -: standard input can be read once")


def _run(command: str, args: argparse.Namespace, argv: Sequence[str]) -> int:
    _check(args)
    if args.host_timeout == 0:
        args.host_timeout = None
    plan = make_plan(command, args)
    try:
        return _run_plan(command, args, argv, plan)
    finally:
        plan.close()


def _run_plan(command: str, args: argparse.Namespace, argv: Sequence[str], plan: Plan) -> int:
    prog = f"smtpsh {command}"
    words: list[str] = getattr(args, TARGET_DEST[command]) or []
    found = fleet_targets.collect(
        words, args.targets_file, port=plan.port,
        domain_check=domain_check() if plan.port is None else None,
        limit=args.max_targets,
    )
    for problem in found.problems:
        print_error(prog, problem)
    if found.duplicates:
        many = found.duplicates > 1
        print_error(prog, f"{found.duplicates} target{'s' if many else ''} given more than"
                          f" once, checked once (the first: {found.first_duplicate})")
    if not found.hosts:
        unread = f" ({len(found.problems)} lines could not be read)" if found.problems else ""
        raise UsageError(f"no targets to check{unread}")
    done: dict[str, int] = {}
    if args.resume:
        done, notes = read_done(args.resume, command)
        for note in notes:
            print_error(prog, note)
    path = args.jsonl or args.resume
    if args.jsonl and args.jsonl != args.resume:
        _check_fresh(args.jsonl)
    try:
        jsonl = JsonLines(path, append=bool(args.resume) and path == args.resume) \
            if path else None
    except JsonLinesError as exc:
        if args.jsonl:
            raise
        # The file was named by --resume alone: say so, not --jsonl.
        raise JsonLinesError(str(exc).replace("--jsonl ", "--resume ", 1)) from None
    todo = [host for host in found.hosts if host.key not in done]
    before: dict[int, int] = {}
    for host in found.hosts:
        if host.key in done:
            before[done[host.key]] = before.get(done[host.key], 0) + 1
    view = _View(command, args, plan, jsonl)
    workers = args.processes or auto_workers(len(todo), args.concurrency)
    runner = Runner(command, plan.job, concurrency=args.concurrency,
                    host_timeout=args.host_timeout, jsonl=jsonl, on_result=view.result,
                    workers=workers, digest=view.digest,
                    loop_factory=None if args.event_loop == "asyncio" else uvloop_factory())
    view.runner = runner
    if done:
        view.note(f"{len(found.hosts) - len(todo)} of {len(found.hosts)} targets already in"
                  f" {args.resume}: skipped")
    _raise_file_limit(args.concurrency)
    try:
        tally = _loop_run(runner, todo, len(found.hosts), before, view, plan.stop)
    finally:
        view.status.finish()
        if jsonl is not None:
            jsonl.close()
    interrupted = runner.stopped_by is not None
    view.summary(tally, unread=len(found.problems), interrupted=interrupted)
    if interrupted:
        _say_how_to_resume(prog, command, argv, tally, path)
        return 128 + (runner.stopped_by or signal.SIGINT)
    return fleet_status(tally, unread=len(found.problems))


def _check_fresh(path: str) -> None:
    """--jsonl FILE that already holds results (an earlier run's): refused, rather than
    emptied, saying how to go on from them (--resume) or start again."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return  # absent (made by the run), or a problem JsonLines names when it opens it
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return
        head = os.read(fd, 64)
    finally:
        os.close(fd)
    if looks_like_results(head):
        raise UsageError(f"--jsonl {path}: already holds the results of an earlier run: add"
                         f" --resume {path} to go on from them, or remove it to start again")


def _loop_run(runner: Runner, todo: list[fleet_targets.Host], total: int,
              before: dict[int, int], view: _View, on_stop: Callable[[], None]) -> Tally:
    _small_tls_buffers()

    async def main() -> Tally:
        from concurrent.futures import ThreadPoolExecutor

        # Connections are opened in worker threads (smtpsh.net.blocking.open_socket): one
        # for each host in progress, so that a host that never answers holds only its own.
        loop = asyncio.get_running_loop()
        loop.set_default_executor(ThreadPoolExecutor(max_workers=runner.concurrency + 4))
        ticker = asyncio.ensure_future(view.tick())
        try:
            return await runner.run(todo, total, before)
        finally:
            ticker.cancel()
            if runner.stopped_by is not None:
                on_stop()  # before asyncio.run waits for the worker threads

    with asyncio.Runner(loop_factory=runner.loop_factory) as loop:
        return loop.run(main())


def _small_tls_buffers() -> None:
    """asyncio gives every TLS connection a 256 KiB read buffer (SSLProtocol.max_size): a
    hundred hosts in progress held ~80 MB in them. A TLS record holds at most 16 KiB of
    data and an SMTP reply far less, so 32 KiB is ample; only reads of more than that in
    one go are split. Set for this process, which runs nothing but the many-host run."""
    from asyncio import sslproto

    sslproto.SSLProtocol.max_size = min(sslproto.SSLProtocol.max_size, 32 * 1024)


def _raise_file_limit(concurrency: int) -> None:
    """Each host in progress holds a socket or two: lift the soft limit on open files
    towards the hard one when the default (often 1024) would be too few."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = concurrency * 4 + 64
        if soft != resource.RLIM_INFINITY and soft < want:
            top = want if hard == resource.RLIM_INFINITY else min(want, hard)
            resource.setrlimit(resource.RLIMIT_NOFILE, (top, hard))
    except (ImportError, ValueError, OSError):
        pass  # the run still works, with fewer hosts at once if it must


def _say_how_to_resume(prog: str, command: str, argv: Sequence[str], tally: Tally,
                       path: str | None) -> None:
    kept = f"{tally.done + tally.skipped} of {tally.total} hosts done"
    if path is None:
        print_error(prog, f"interrupted: {kept}; no --jsonl file kept them: next time add"
                          " --jsonl FILE to be able to resume")
        return
    again = list(argv)
    if "--resume" not in again and not any(a.startswith("--resume=") for a in again):
        again += ["--resume", path]
    print_error(prog, f"interrupted: {kept}, kept in {path}")
    print_error(prog, "resume with: " + shlex.join(["smtpsh", command, *again]))
    if "-" in again:
        print_error(prog, "(with the same standard input again: '-' reads it)")


class _View:
    """What the user sees: a line a host, the progress line, the summary."""

    def __init__(self, command: str, args: argparse.Namespace, plan: Plan,
                 jsonl: JsonLines | None) -> None:
        self.command = command
        self.plan = plan
        self.json = bool(getattr(args, "json", False))
        self.out = report_printer(getattr(args, "color", "auto"))
        self.err = Printer(colour=False, stream=sys.stderr)
        self.status = StatusLine(sys.stderr, enabled=not getattr(args, "quiet", False),
                                 colour=self.out.colour)
        self.runner: Runner | None = None
        self.found_hosts: dict[str, list[str]] = {}  # finding -> hosts (the first few)
        self.found_counts: dict[str, int] = {}
        self.width = 22

    def note(self, text: str) -> None:
        self.status.clear()
        self.err.line(f"· {text}")

    def digest(self, doc: Document) -> Digest:
        """What a host's line and the run's summary take from its result (worked out where
        the host ran: a worker process sends it with the envelope)."""
        try:
            summary = self.plan.summary(doc)
        except (KeyError, TypeError, AttributeError):  # a result of an unusual shape
            summary = ""
        return {"summary": summary, "findings": self.plan.findings(doc)}

    def result(self, outcome: Outcome) -> None:
        self.status.clear()
        digest = outcome.digest if outcome.digest is not None else self.digest(
            outcome.document)
        if self.json:
            if outcome.line is not None:
                sys.stdout.write(outcome.line.decode())
            else:
                import json

                sys.stdout.write(json.dumps(outcome.document, separators=(",", ":")) + "\n")
            sys.stdout.flush()
        else:
            self.out.emit(self._line(outcome, str(digest.get("summary", ""))))
        for finding in digest.get("findings", []):
            self.found_counts[finding] = self.found_counts.get(finding, 0) + 1
            hosts = self.found_hosts.setdefault(finding, [])
            if len(hosts) < 5:
                hosts.append(outcome.host.key)
        self.draw()

    def _line(self, outcome: Outcome, summary: str) -> Fragments:
        key = outcome.host.key
        self.width = max(self.width, len(key) + 1)
        status = outcome.status
        return [("class:bold", f"{key:<{self.width}}"),
                (STATUS_STYLE.get(status, ""), f"{status_name(status):<13}"),
                ("", summary)]

    def draw(self) -> None:
        if self.runner is None:
            return
        t = self.runner.tally
        total = t.total - t.skipped if t.total else 0
        eta = t.eta
        when = "" if eta is None else f" · ETA {_duration(eta)}"
        self.status.update(
            f"{bar(t.done, total)} {t.done}/{total} hosts · found {t.found}"
            f" · errors {t.errors} · {t.rate:.0f}/s{when}"
        )

    async def tick(self) -> None:
        while True:
            await asyncio.sleep(0.5)
            self.draw()

    def summary(self, tally: Tally, *, unread: int, interrupted: bool) -> None:
        printer = self.err if self.json else self.out
        seconds = tally.elapsed
        rate = f" ({tally.done / seconds:.0f} hosts/s)" if seconds > 0 and tally.done else ""
        runner = self.runner
        if rate and runner is not None and runner.workers > 1:
            rate = (f"{rate[:-1]}; {runner.workers} processes,"
                    f" {loop_name(runner.loop_factory)})")
        counts = ", ".join(
            f"{tally.count(code)} {status_name(code)}"
            for code in (exitcodes.FOUND, exitcodes.OK, exitcodes.UNDETERMINED,
                         exitcodes.FAILED)
            if tally.count(code)
        ) or "none done"
        head = "interrupted: " if interrupted else ""
        printer.line("")
        printer.line(f"{head}{tally.done} hosts checked in {seconds:.1f} s{rate}: {counts}",
                     "class:bold")
        if tally.skipped:
            earlier = ", ".join(f"{n} {status_name(code)}" for code, n in tally.before.items())
            printer.line(f"{tally.skipped} done before (--resume): {earlier}", "class:dim")
        if unread:
            printer.line(f"{unread} lines of the target list could not be read (above)",
                         "class:yellow")
        for finding, count in sorted(self.found_counts.items(), key=lambda kv: -kv[1]):
            hosts = ", ".join(self.found_hosts[finding])
            more = f" and {count - len(self.found_hosts[finding])} more" \
                if count > len(self.found_hosts[finding]) else ""
            printer.line(f"  {finding}: {count} host{'s' if count != 1 else ''}"
                         f" ({hosts}{more})", "class:red")


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
