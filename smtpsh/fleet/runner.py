"""Running one command's per-host job over many hosts: bounded concurrency, a deadline per
host, a politeness delay between connections to the same host, each result streamed as a
line of JSON the moment it is known, and --resume from such a file.

Headless: the caller gets each host's outcome (``on_result``) and the counts (``Tally``);
what is shown, and how, is the front-end's (smtpsh.fleet.command).

Per-host cost matters here (a thousand hosts): what every host shares — the TLS context,
the parsed options, the job's configuration — is made once by the job's factory, and the
runner itself does a dictionary update and one write() per host.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import signal
import stat
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from smtpsh import exitcodes, jsonout
from smtpsh.fleet.targets import Host
from smtpsh.safefile import UnsafePath, open_private

# What a job gives for one host: the envelope smtpsh.jsonout makes for its --json.
Document = dict[str, Any]
Job = Callable[[Host], Awaitable[Document]]

DEFAULT_CONCURRENCY = 32
MAX_CONCURRENCY = 1000
MAX_WORKERS = 16
# A worker process pays for itself from about this many hosts (its start-up is a fork, but
# the hosts are shared out in advance and a short run ends before the split helps).
HOSTS_PER_WORKER = 100
# The cyclic collector's first threshold during a run over many targets (see Runner.run).
FEWER_COLLECTIONS = 10_000


LoopFactory = Callable[[], asyncio.AbstractEventLoop]


def uvloop_factory() -> LoopFactory | None:
    """uvloop's event loop when it is installed (the optional extra: pip install
    'smtpsh[fast]'), else None. Only a run over many targets uses it, and imports it then:
    its event loop is written in C over libuv and takes a sixth or so off the CPU time of a
    probe of many hosts (the round trips, the connections; a session of one host and the
    shell's start-up gain nothing from it and do not pay for the import)."""
    try:
        import uvloop
    except ImportError:
        return None
    factory: LoopFactory = uvloop.new_event_loop
    return factory


def loop_name(factory: LoopFactory | None) -> str:
    return "asyncio" if factory is None else "uvloop"


def auto_workers(hosts: int, concurrency: int) -> int:
    """How many processes a run of ``hosts`` at ``concurrency`` should use: one per CPU this
    process may run on (one event loop is CPU-bound at about a hundred hosts a second of
    `probe`), none beyond what the hosts and the concurrency can keep busy, at most 4."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 4, hosts // HOSTS_PER_WORKER, concurrency // 8))


@dataclass
class Tally:
    """The counts of a run so far, for the progress line, the summary and the exit
    status. ``errors``: hosts that could not be checked (failed) or were not read."""

    total: int = 0
    skipped: int = 0  # already in the --resume file
    done: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    before: dict[int, int] = field(default_factory=dict)  # the skipped ones' statuses
    started: float = field(default_factory=time.monotonic)

    def add(self, status: int) -> None:
        self.done += 1
        self.by_status[status] = self.by_status.get(status, 0) + 1

    def count(self, status: int) -> int:
        return self.by_status.get(status, 0)

    @property
    def found(self) -> int:
        return self.count(exitcodes.FOUND)

    @property
    def errors(self) -> int:
        return self.count(exitcodes.FAILED) + self.count(exitcodes.USAGE)

    @property
    def left(self) -> int:
        return max(0, self.total - self.skipped - self.done)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        """Hosts a second so far (0 before the first second's worth is known)."""
        elapsed = self.elapsed
        return self.done / elapsed if elapsed > 0 and self.done else 0.0

    @property
    def eta(self) -> float | None:
        """Seconds until the last host is done at the rate so far (None: unknown yet)."""
        rate = self.rate
        return self.left / rate if rate else None


def fleet_status(tally: Tally, *, interrupted: bool = False, unread: int = 0) -> int:
    """The exit status of a many-target run (smtpsh.exitcodes, column 'many targets'):
    FOUND when any host had a finding; else FAILED when no host could be checked at all;
    UNDETERMINED when some host gave no verdict, could not be checked, or a line of the
    list could not be read; OK only when every host was checked and clean."""
    if interrupted:
        return exitcodes.INTERRUPTED
    counts = dict(tally.before)  # a resumed run answers for the hosts done before too
    for status, n in tally.by_status.items():
        counts[status] = counts.get(status, 0) + n
    done = sum(counts.values())
    errors = counts.get(exitcodes.FAILED, 0) + counts.get(exitcodes.USAGE, 0)
    if counts.get(exitcodes.FOUND):
        return exitcodes.FOUND
    if done and done == errors:
        return exitcodes.FAILED
    if errors or counts.get(exitcodes.UNDETERMINED) or unread:
        return exitcodes.UNDETERMINED
    return exitcodes.OK


def failure(command: str, host: Host, kind: str, message: str) -> Document:
    """The envelope of a host that could not be checked."""
    return jsonout.envelope(command, host.key, exitcodes.FAILED, None, (kind, message))


# --- JSON Lines ------------------------------------------------------------------------------


class JsonLinesError(OSError):
    """The --jsonl / --resume file cannot be used (one line says why)."""


def looks_like_results(head: bytes) -> bool:
    """Whether a file starting with ``head`` holds smtpsh results (JSON Lines envelopes)."""
    return head.lstrip().startswith(b'{"smtpsh"')


def read_done(path: str, command: str) -> tuple[dict[str, int], list[str]]:
    """The targets --resume FILE already holds for ``command``, each with its exit status,
    and the problems met (lines that are not results, or results of another command, are
    left alone and counted). A last line cut short (the run was killed while writing it)
    is removed from the file, so that appending goes on from a whole line. Read a line at
    a time: the file of a large run may be hundreds of megabytes."""
    done: dict[str, int] = {}
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except FileNotFoundError:
        return done, []  # nothing done yet: --resume starts the file
    except OSError as exc:
        if os.path.islink(path):
            raise JsonLinesError(f"--resume {path}: is a symbolic link: refused") from None
        raise JsonLinesError(f"--resume {path}: {exc.strerror or exc}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise JsonLinesError(f"--resume {path}: not a regular file: refused")
    os.set_blocking(fd, True)
    unreadable: list[int] = []  # line numbers
    others: dict[str, int] = {}  # command -> lines
    problems: list[str] = []
    with os.fdopen(fd, "r+b") as stream:
        whole = 0  # bytes up to the end of the last whole line
        for number, line in enumerate(stream, 1):
            if not line.endswith(b"\n"):
                stream.truncate(whole)
                problems.append(f"{path}:{number}: the last line was cut short (an interrupted"
                                " write): removed; that host is checked again")
                break
            whole += len(line)
            if not line.strip():
                continue
            try:
                doc = json.loads(line)
                target, kind, status = doc["target"], doc["command"], int(doc["exit"])
            except (ValueError, TypeError, KeyError):
                unreadable.append(number)
                continue
            if kind != command:
                others[str(kind)] = others.get(str(kind), 0) + 1
            elif isinstance(target, str):
                done[target] = status
    if unreadable:
        problems.insert(0, f"{path}:{unreadable[0]}: not a smtpsh result line: ignored"
                        + (f" (and {len(unreadable) - 1} more)" if len(unreadable) > 1 else ""))
    for kind, count in others.items():
        problems.append(f"{path}: {count} result{'s' if count > 1 else ''} of 'smtpsh {kind}',"
                        f" not '{command}': ignored")
    return done, problems


class JsonLines:
    """The --jsonl file: one compact envelope a line, each written whole with one write()
    as soon as its host is done (a Ctrl-C or SIGTERM keeps every line before it).

    Opened without following a symbolic link; an existing file is overwritten only when it
    holds smtpsh results (``append``: added to, for --resume)."""

    def __init__(self, path: str, *, append: bool) -> None:
        self.path = path
        try:
            self.fd = open_private(path, append=append, recognise=looks_like_results,
                                   what="smtpsh JSON Lines file")
        except UnsafePath as exc:
            raise JsonLinesError(f"--jsonl {exc}") from None
        except OSError as exc:
            raise JsonLinesError(f"--jsonl {path}: {exc.strerror or exc}") from None
        self.lines = 0

    def write(self, document: Document) -> None:
        self.write_line((json.dumps(document, separators=(",", ":")) + "\n").encode())

    def write_line(self, data: bytes) -> None:
        """One envelope already made compact JSON, its newline included."""
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        self.lines += 1

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


# --- the run -------------------------------------------------------------------------------


# What the front-end shows of a host besides its envelope: {"summary": the text of its line,
# "findings": what it counts towards in the run's summary} (the plan's, see Runner).
Digest = dict[str, Any]


class Outcome:
    """A host done: its envelope, and what the front-end shows of it when a worker process
    worked that out (``digest``). From a worker the envelope comes as the compact JSON line
    it goes into the --jsonl file as, and is parsed only if something asks for it: the
    parent of a run over many hosts then reads a small header a host, not its 15 KB."""

    __slots__ = ("_document", "digest", "host", "line", "status")

    def __init__(self, host: Host, document: Document | None = None, *,
                 line: bytes | None = None, status: int | None = None,
                 digest: Digest | None = None) -> None:
        if document is None and line is None:
            raise ValueError("an outcome needs its envelope or its JSON line")
        self.host = host
        self._document = document
        self.line = line  # the envelope as compact JSON, its newline included
        if status is None:
            status = (document if document is not None else json.loads(line or b"{}"))["exit"]
        self.status: int = status
        self.digest = digest

    @property
    def document(self) -> Document:
        if self._document is None:
            assert self.line is not None
            self._document = json.loads(self.line)
        return self._document


class Runner:
    """Runs ``job`` on each host, at most ``concurrency`` at once; each outcome goes to
    ``on_result`` (and the --jsonl file) as soon as it is known.

    ``host_timeout``: a host whose job takes longer is given up and recorded as failed
    (None: no limit). SIGINT and SIGTERM stop the run: the hosts in progress are dropped
    (not written), the ones done are kept; ``stopped_by`` says which signal.

    ``workers`` > 1: the hosts are shared out among that many forked processes, each with
    its own event loop and a share of the concurrency, which send each host's envelope
    back as a JSON line; this process writes the --jsonl file and tells ``on_result`` as
    before. One event loop is CPU-bound at about a hundred `probe` hosts a second (the
    TLS handshakes, the round trips): a second CPU then does the other half."""

    def __init__(
        self,
        command: str,
        job: Job,
        *,
        concurrency: int = DEFAULT_CONCURRENCY,
        host_timeout: float | None = None,
        jsonl: JsonLines | None = None,
        on_result: Callable[[Outcome], None] | None = None,
        workers: int = 1,
        loop_factory: LoopFactory | None = None,
        digest: Callable[[Document], Digest] | None = None,
    ) -> None:
        self.command = command
        self.job = job
        # What the front-end shows of a host, worked out by a worker process beside its
        # envelope (the parent then need not parse the envelope); None: nothing.
        self.digest = digest
        self.concurrency = max(1, min(concurrency, MAX_CONCURRENCY))
        self.workers = max(1, min(workers, MAX_WORKERS, self.concurrency))
        self._children: list[int] = []  # the worker processes' ids, while they run
        self.loop_factory = loop_factory  # the workers' event loop (None: asyncio's)
        self.host_timeout = host_timeout
        self.jsonl = jsonl
        self.on_result = on_result or (lambda outcome: None)
        self.tally = Tally()
        self.stopped_by: int | None = None
        self._workers: list[asyncio.Task[None]] = []

    async def run(self, hosts: Iterable[Host], total: int,
                  before: dict[int, int] | None = None, *,
                  feed: asyncio.Queue[Host | None] | None = None) -> Tally:
        """Check ``hosts``; ``total`` counts all the targets, ``before`` the statuses of
        those done before (--resume), for the progress, the summary and the status.
        ``feed``: the hosts come from this queue instead, as a worker process is handed
        them, each of its ``concurrency`` takers ending at a None."""
        before = before or {}
        skipped = sum(before.values())
        self.tally = Tally(total=total, skipped=skipped, before=before)
        # Each reply makes many short-lived objects, few in cycles: at the default
        # threshold (700) the cyclic collector ran ~150 times over 300 hosts, 7 % of the
        # CPU; at 10,000 a handful of times, for a little more memory between them.
        # (Forked workers inherit it.)
        thresholds = gc.get_threshold()
        gc.set_threshold(FEWER_COLLECTIONS, *thresholds[1:])
        loop = asyncio.get_running_loop()
        pending = iter(hosts)
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, self.stop, signum)
        if feed is not None:
            self._workers = [asyncio.ensure_future(self._fed(feed))
                             for _ in range(self.concurrency)]
        elif self.workers > 1:
            todo = list(pending)
            self._workers = [asyncio.ensure_future(self._forked(todo))]
        else:
            self._workers = [asyncio.ensure_future(self._worker(pending))
                             for _ in range(min(self.concurrency, max(total - skipped, 1)))]
        try:
            await asyncio.gather(*self._workers, return_exceptions=True)
        finally:
            gc.set_threshold(*thresholds)
            for signum in (signal.SIGINT, signal.SIGTERM):
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)
        return self.tally

    def stop(self, signum: int = signal.SIGINT) -> None:
        """Stop now: hosts in progress are abandoned, nothing half-done is written."""
        if self.stopped_by is None:
            self.stopped_by = signum
        for worker in self._workers:
            worker.cancel()
        for pid in self._children:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGTERM)

    async def _worker(self, pending: Iterable[Host]) -> None:
        for host in pending:  # one shared iterator: each host is taken once
            if self.stopped_by is not None or exitcodes.output_gone():
                return
            document = await self._one(host)
            if self.stopped_by is not None:
                return
            self._take(Outcome(host, document))

    async def _fed(self, feed: asyncio.Queue[Host | None]) -> None:
        while (host := await feed.get()) is not None:
            if self.stopped_by is not None or exitcodes.output_gone():
                return
            document = await self._one(host)
            if self.stopped_by is not None:
                return
            self._take(Outcome(host, document))

    def _take(self, outcome: Outcome) -> None:
        """A host is done: its line in the --jsonl file, the tally, the front-end."""
        if self.jsonl is not None:
            if outcome.line is None:
                self.jsonl.write(outcome.document)
            else:
                self.jsonl.write_line(outcome.line)
        self.tally.add(outcome.status)
        self.on_result(outcome)

    async def _forked(self, hosts: list[Host]) -> None:
        """The hosts handed out to ``workers`` forked processes as they go (_Dispatch): a
        worker whose hosts end sooner (they answer faster, or a neighbour on the machine
        slows the other worker) is given more, and the workers end together. Each envelope
        comes back as a line on a pipe and is taken here as the in-process run takes it."""
        loop = asyncio.get_running_loop()
        groups = by_address(hosts)
        count = min(self.workers, len(groups))
        per_worker = -(-self.concurrency // max(count, 1))
        by_key = {host.key: host for host in hosts}
        dispatch = _Dispatch(groups, limit=per_worker + max(2, per_worker // 4))
        readers: list[asyncio.Future[None]] = []
        pipes: list[asyncio.BaseTransport] = []
        try:
            for index in range(count):
                control_read, control_write = os.pipe()
                result_read, result_write = os.pipe()
                try:
                    pid = os.fork()
                except OSError:
                    for fd in (control_read, control_write, result_read, result_write):
                        os.close(fd)
                    raise
                if pid == 0:  # the worker: never returns
                    os.close(result_read)
                    os.close(control_write)
                    # The earlier workers' hand-out pipes: each must see its end when the
                    # parent closes it, not when this process ends too.
                    dispatch.forget_writers()
                    _work(self, groups, per_worker, control_read, result_write)
                os.close(result_write)
                os.close(control_read)
                dispatch.add(control_write)
                self._children.append(pid)
                ended: asyncio.Future[None] = loop.create_future()
                pipe, _ = await loop.connect_read_pipe(
                    lambda ended=ended, index=index: _Results(  # type: ignore[misc]
                        self, by_key, ended, lambda: dispatch.done(index)),
                    os.fdopen(result_read, "rb", buffering=0))
                pipes.append(pipe)
                readers.append(ended)
            dispatch.start()
            await asyncio.gather(*readers)
        finally:
            dispatch.close()
            for transport in pipes:
                transport.close()
            if any(not reader.done() for reader in readers):
                for pid in self._children:  # stopped: the workers stop too
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGTERM)
            for pid in self._children:
                await _reap(pid)
            self._children = []

    async def _one(self, host: Host) -> Document:
        try:
            if self.host_timeout is None:
                return await self.job(host)
            async with asyncio.timeout(self.host_timeout):
                return await self.job(host)
        except TimeoutError:
            return failure(self.command, host, "timeout",
                           f"no result within {self.host_timeout:g} s (--host-timeout)")
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # one host's surprise must not end the others' run
            return failure(self.command, host, "error",
                           f"smtpsh failed on this host: {type(exc).__name__}: {exc}")


# --- worker processes -----------------------------------------------------------------------


def by_address(hosts: list[Host]) -> list[list[Host]]:
    """The hosts in groups, every port of one address together, in the order of the list:
    the unit a worker is handed, as one process spaces all connections to an address
    (--delay: the politeness is per process)."""
    groups: dict[str, list[Host]] = {}
    for host in hosts:
        groups.setdefault(host.host, []).append(host)
    return list(groups.values())


class _Dispatch:
    """The parent's side of handing the hosts out: each worker is given address groups
    (their numbers, a line each, on its own pipe) until it holds ``limit`` hosts not yet
    done, then another group each time it sends one back, so no worker idles while the
    other has hosts waiting. The first groups go round the workers one at a time (the
    hosts of a block are spread over them). When every group is given, the pipes are
    closed: a worker ends once it has done what it holds."""

    def __init__(self, groups: list[list[Host]], limit: int) -> None:
        self.groups = groups
        self.limit = limit
        self.given = 0  # the groups handed out so far, in order
        self.writers: list[int] = []  # a pipe a worker (-1: closed, or its worker gone)
        self.held: list[int] = []  # a worker's hosts not yet done

    def add(self, fd: int) -> None:
        self.writers.append(fd)
        self.held.append(0)

    def forget_writers(self) -> None:
        """In a new worker: close the copies of the other workers' pipes it inherited."""
        for fd in self.writers:
            if fd >= 0:
                os.close(fd)

    def start(self) -> None:
        while self.given < len(self.groups):
            open_ones = [w for w, fd in enumerate(self.writers)
                         if fd >= 0 and self.held[w] < self.limit]
            if not open_ones:
                break
            for worker in open_ones:
                if self.given < len(self.groups):
                    self._give(worker)
        self._close_when_all_given()

    def done(self, worker: int) -> None:
        """``worker`` sent a host back: it may take more."""
        self.held[worker] -= 1
        while (self.held[worker] < self.limit and self.given < len(self.groups)
               and self.writers[worker] >= 0):
            self._give(worker)
        self._close_when_all_given()

    def _give(self, worker: int) -> None:
        try:
            # A few bytes: the pipe (64 KiB) never fills, at most ``limit`` lines wait in it.
            os.write(self.writers[worker], b"%d\n" % self.given)
        except OSError:  # the worker is gone: the others take the rest
            self._close(worker)
            return
        self.held[worker] += len(self.groups[self.given])
        self.given += 1

    def _close_when_all_given(self) -> None:
        if self.given >= len(self.groups):
            self.close()

    def _close(self, worker: int) -> None:
        if self.writers[worker] >= 0:
            with contextlib.suppress(OSError):
                os.close(self.writers[worker])
            self.writers[worker] = -1

    def close(self) -> None:
        for worker in range(len(self.writers)):
            self._close(worker)


class _Feed(asyncio.Protocol):
    """A worker's end of its hand-out pipe: each group number read puts that group's hosts
    in the queue its takers take from; at the pipe's end, a None for each taker."""

    def __init__(self, groups: list[list[Host]], queue: asyncio.Queue[Host | None],
                 takers: int) -> None:
        self.groups = groups
        self.queue = queue
        self.takers = takers
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            for host in self.groups[int(line)]:
                self.queue.put_nowait(host)

    def connection_lost(self, exc: Exception | None) -> None:
        for _ in range(self.takers):
            self.queue.put_nowait(None)


class _Results(asyncio.Protocol):
    """The parent's end of a worker's pipe: a line a host, a small JSON header (the target,
    the exit status, the digest), a TAB, then the compact JSON envelope (compact JSON holds
    no TAB or newline: json escapes them in strings and puts no space between items)."""

    def __init__(self, runner: Runner, by_key: dict[str, Host],
                 ended: asyncio.Future[None], on_line: Callable[[], None]) -> None:
        self.runner = runner
        self.by_key = by_key
        self.ended = ended
        self.on_line = on_line  # a host done: the worker may be handed another
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        for line in lines:
            if self.runner.stopped_by is not None or not line:
                continue
            self.on_line()
            head, _, envelope = line.partition(b"\t")
            header: dict[str, Any] = json.loads(head)
            host = self.by_key.get(str(header.get("target")))
            if host is not None:
                self.runner._take(Outcome(host, line=envelope + b"\n", status=header["exit"],
                                          digest=header.get("digest")))

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ended.done():
            self.ended.set_result(None)


async def _reap(pid: int) -> None:
    """Wait for a worker to end (in a thread: the loop goes on); one that does not end
    within seconds of being told to is killed."""
    loop = asyncio.get_running_loop()
    for signum in (None, signal.SIGKILL):
        if signum is not None:
            with contextlib.suppress(OSError):
                os.kill(pid, signum)
        try:
            await asyncio.wait_for(loop.run_in_executor(None, os.waitpid, pid, 0), 5)
            return
        except ChildProcessError:
            return
        except TimeoutError:
            continue


def _work(parent: Runner, groups: list[list[Host]], concurrency: int, control: int,
          fd: int) -> None:
    """A forked worker: its own event loop runs the job over the groups of hosts it is
    handed on ``control`` and writes each envelope to ``fd``; then the process ends
    (os._exit: nothing of the parent's, its buffers or its exit handlers, runs twice)."""
    status = 1
    try:
        # Until this process's own loop takes SIGINT and SIGTERM, they end it at once:
        # the parent's handlers would wake the parent's loop through the descriptor both
        # processes now share.
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, signal.SIG_DFL)
        def send(outcome: Outcome) -> None:
            document = outcome.document
            header: dict[str, Any] = {"target": document.get("target"),
                                      "exit": outcome.status}
            if parent.digest is not None:
                header["digest"] = parent.digest(document)
            data = (json.dumps(header, separators=(",", ":")) + "\t"
                    + json.dumps(document, separators=(",", ":")) + "\n").encode()
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

        runner = Runner(parent.command, parent.job, concurrency=concurrency,
                        host_timeout=parent.host_timeout, on_result=send)

        async def main() -> None:
            queue: asyncio.Queue[Host | None] = asyncio.Queue()
            reader, _ = await asyncio.get_running_loop().connect_read_pipe(
                lambda: _Feed(groups, queue, runner.concurrency),
                os.fdopen(control, "rb", buffering=0))
            try:
                await runner.run((), sum(map(len, groups)), feed=queue)
            finally:
                reader.close()

        with asyncio.Runner(loop_factory=parent.loop_factory) as loop:
            loop.run(main())
        status = 0
    except BaseException:  # the worker ends here, whatever happened
        status = 1
    finally:
        os._exit(status)
