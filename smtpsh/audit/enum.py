"""`smtpsh enum HOST -U WORDLIST`: fast, tarpit-aware user enumeration (VRFY, EXPN, RCPT).

Correctness first: the meaning of a reply on a given server is only known by comparing it
with the reply to a name that cannot exist (the *canary*): Postfix answers VRFY of a real
user with 252 and of an unknown one with 550, a catch-all answers both alike. A name the
server did not answer definitely (timeout, 421, any 4xx) is retried, never called absent.

Speed: real MTAs tarpit clients that make errors (stock Postfix: 1 s before every reply
after 10 errors, 421 after 20), so each connection stops before its error budget runs out
(tarpit.py) and several connections work in parallel; RCPT checks are pipelined when the
server offers PIPELINING.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import enum
import itertools
import json
import re
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, BinaryIO, TextIO

from smtpsh import exitcodes, flags, jsonout
from smtpsh.audit.common import (
    AUTHORISATION_NOTE,
    AuditError,
    Refused,
    Target,
    Undetermined,
    add_target_arguments,
    hang_up,
    open_session,
    random_name,
    target_from_args,
)
from smtpsh.audit.fingerprint import best, fingerprint, reply_text
from smtpsh.audit.tarpit import ErrorBudget
from smtpsh.net.client import ConnectError, ConnectionClosedError, ReplyTimeout, SMTPClient
from smtpsh.output.printer import Printer, print_error
from smtpsh.output.progress import StatusLine, bar
from smtpsh.protocol.encoding import forbidden_in_command
from smtpsh.protocol.replies import Reply
from smtpsh.target import UsageError, run_main


@dataclass(frozen=True)
class Method:
    name: str
    command: str  # "VRFY {address}"
    transaction: bool  # needs an accepted MAIL FROM first
    pipelined: bool  # RFC 2920 lets RCPT be pipelined; VRFY/EXPN must end a group


METHODS: Mapping[str, Method] = MappingProxyType({
    "vrfy": Method("vrfy", "VRFY {address}", transaction=False, pipelined=False),
    "expn": Method("expn", "EXPN {address}", transaction=False, pipelined=False),
    "rcpt": Method("rcpt", "RCPT TO:<{address}>", transaction=True, pipelined=True),
})
AUTO_ORDER = ("vrfy", "expn", "rcpt")
# A name that exists on most Unix mail hosts, asked beside the canary for extra evidence.
# Never postmaster or abuse: RFC 5321 §4.5.1 and RFC 2142 oblige servers to accept those
# (Exim accepts postmaster even unqualified), so they say nothing about the method.
REFERENCE_NAMES = ("root",)
# Replies that mean "this command does not exist here", not "no such user".
UNSUPPORTED_CODES = frozenset({500, 502, 504})
# Replies to one name that say its *syntax* was refused.
SYNTAX_CODES = frozenset({500, 501, 502, 504})
SYNTAX_ENHANCED = frozenset({"5.1.3", "5.5.2", "5.5.4"})
# Words of a reply that is a limit (renew the connection and ask again), not an answer.
LIMIT_TEXT = re.compile(r"\btoo many\b|\blimit (?:exceeded|reached)\b|\brate.?limit",
                        re.IGNORECASE)
# Words of a blanket refusal of the command (Exim's `550 Administrative prohibition` to EXPN
# with no acl_smtp_expn): the server refused to look, it did not say "no such user".
POLICY_TEXT = re.compile(r"\bprohibit|\bnot (?:allowed|permitted)\b|\bdisabled\b|\bdenied\b",
                         re.IGNORECASE)
# Stock Postfix counts VRFY/NOOP/RSET beyond 100 per session as errors: stay well below.
# Lowered at run time when a server limits commands (Exim: 10 non-mail commands).
MAX_COMMANDS_PER_CONNECTION = 50
MAX_PIPELINE = 50
ATTEMPTS = 4  # per name: a name still unanswered after this many tries is "no answer"
MAX_CONNECT_FAILURES = 6  # in a row, with back-off: then the run gives up
DEFAULT_WORKERS = 8
MAX_LOCAL_PART = 64  # octets (RFC 5321 §4.5.3.1.1)
REFILL_AT = 512  # names queued ahead of the workers from a streamed word list
HANDOVER = 64  # names the reading thread hands over at once (one at a time while short)

# Hints for a canary reply that tells the user what to change (enhanced code -> hint).
CANARY_HINTS: Mapping[str, str] = MappingProxyType({
    "5.7.1": "the server refused the domain (relaying denied): give -D with a domain it"
             " receives mail for",
    "4.7.1": "the server refused the domain (relaying denied): give -D with a domain it"
             " receives mail for",
    "5.1.2": "the domain does not exist for this server: give -D with one of its domains",
    "5.7.0": "the server wants authentication or TLS first (try --starttls)",
})


# What to try when the server refuses the MAIL FROM the rcpt method needs.
SENDER_HINTS: Mapping[int, str] = MappingProxyType({
    530: "it wants TLS or authentication first: try --starttls",
    523: "it wants TLS first: try --starttls",
})


class Verdict(enum.Enum):
    FOUND = "found"
    ABSENT = "absent"
    LIKE_CANARY = "same answer as the canary"  # catch-all: the answer tells nothing
    OTHER = "answered differently from an unknown name"
    INVALID = "refused as bad syntax"
    NO_ANSWER = "no definite answer"  # only after every attempt got timeout/421/4xx


def signature(reply: Reply) -> tuple[int, str | None]:
    return reply.code, reply.enhanced


def classify(reply: Reply, canary: Reply) -> Verdict | None:
    """What ``reply`` says about a name, given the reply to a name that cannot exist.

    None: not a definite answer (4xx, 421, a connection limit, not a reply): ask again.
    """
    if reply.code == 0 or reply.klass in (1, 4) or is_limit(reply):
        return None
    if signature(reply) == signature(canary):
        return Verdict.LIKE_CANARY if reply.klass in (2, 3) else Verdict.ABSENT
    if reply.klass == 2:
        same_positive = canary.klass == 2 and reply.code == canary.code
        return Verdict.LIKE_CANARY if same_positive else Verdict.FOUND
    if reply.code in SYNTAX_CODES or reply.enhanced in SYNTAX_ENHANCED:
        return Verdict.INVALID
    return Verdict.OTHER


def is_limit(reply: Reply) -> bool:
    """A limit on the connection or session, not an answer about the name: 421, or a
    refusal whose text says "too many" (Exim's `554 Too many nonmail commands`)."""
    if reply.code == 421:
        return True
    return reply.klass in (4, 5) and bool(LIMIT_TEXT.search(reply.text))


def bare_name_refused(reply: Reply) -> bool:
    """A bare name refused as bad syntax (Exim: `501 name: recipient address must contain
    a domain`): worth asking again as NAME@DOMAIN. Exim's EXPN answers an unknown name with
    `553 … is undeliverable`, which is an answer, so 553 counts only with a syntax code."""
    return reply.code == 501 or (reply.code == 553 and reply.enhanced in SYNTAX_ENHANCED)


def needs_tls(reply: Reply) -> bool:
    """530 (or 5.7.0 / 5.7.10 / 5.7.11): TLS or authentication first (RFC 3207 §4)."""
    return reply.code in (523, 530) or (reply.enhanced or "") in ("5.7.0", "5.7.10", "5.7.11")


def tells_apart(canary: Reply) -> bool:
    """The impossible name got a definite "no such user": a name answered otherwise is
    worth a look. Not a syntax refusal, a policy refusal (5.7.x, or worded as one), TLS
    required or a limit."""
    return (canary.klass == 5 and canary.code not in SYNTAX_CODES and not needs_tls(canary)
            and not (canary.enhanced or "").startswith("5.7") and not is_limit(canary)
            and not POLICY_TEXT.search(canary.text))



class TLSUnusable(AuditError):
    """STARTTLS, which the server asks for, cannot be set up from here (the certificate
    does not verify, or the handshake fails): no method can be tried, and that is no
    answer of the server's about names."""


def _tls_failure(exc: Exception) -> bool:
    """A failed TLS set-up (smtpsh.net.client's 'TLS: …' and 'TLS handshake with … failed')
    rather than a passing fault that a new connection may not meet."""
    return str(exc).startswith("TLS")


@dataclass
class NameResult:
    name: str
    verdict: Verdict
    reply: Reply | None
    attempts: int
    place: int = 0  # in the word list (0: first), duplicates not counted

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "verdict": self.verdict.name.lower(),
            "reply": self.reply.wire_lines() if self.reply else None,
            "attempts": self.attempts,
        }


@dataclass
class Stats:
    total: int = 0
    done: int = 0
    found: int = 0
    retries: int = 0  # transient answers (timeout, 421, 4xx, hang-ups) that led to a retry
    connections: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0


@dataclass
class EnumConfig:
    method: str = "auto"
    domain: str | None = None
    sender: str = ""  # MAIL FROM for the rcpt method; <> must always be accepted
    workers: int = DEFAULT_WORKERS
    rate: float | None = None  # names per second at most
    budget: ErrorBudget = field(default_factory=ErrorBudget)


@dataclass
class _Conn:
    client: SMTPClient
    errors: int = 0  # negative replies drawn on this connection
    commands: int = 0
    pipelining: bool = False


class _Pace:
    """At most ``rate`` names per second over all connections (None: no limit)."""

    def __init__(self, rate: float | None) -> None:
        self.interval = 1.0 / rate if rate else 0.0
        self.next = 0.0

    async def wait(self, count: int) -> None:
        if not self.interval:
            return
        for _ in range(count):
            now = time.monotonic()
            self.next = max(self.next, now)
            delay = self.next - now
            self.next += self.interval
            if delay > 0:
                await asyncio.sleep(delay)


ResultCallback = Callable[[NameResult], None]
InfoCallback = Callable[[str], None]


def family_of(banner: Reply, hello: Reply, extensions: Iterable[str]) -> str | None:
    """The MTA family the banner and the EHLO reply show (fingerprint.py), when they show
    one clearly; None otherwise."""
    observations = {"banner": reply_text(banner.code, banner.lines),
                    "keywords": " ".join(extensions)}
    if hello.lines:
        observations["ehlo"] = hello.lines[0].partition(" ")[2]
    guess = best(fingerprint(observations))
    return guess.family if guess is not None else None


class Enumerator:
    def __init__(
        self,
        target: Target,
        config: EnumConfig,
        *,
        on_result: ResultCallback | None = None,
        on_info: InfoCallback | None = None,
    ) -> None:
        self.target = target
        self.config = config
        self.budget = config.budget
        self.on_result = on_result or (lambda result: None)
        self.on_info = on_info or (lambda text: None)
        self.method: Method = METHODS.get(config.method, METHODS["vrfy"])
        self.canary_name = random_name()
        self.canary: Reply | None = None
        self.domain = config.domain
        self.domain_source = "-D" if config.domain else ""
        self.server_name = ""
        self.ehlo_name = ""
        self.family: str | None = None  # the MTA family the banner and EHLO show, if any
        self.starttls_offered = False
        self.command_cap = MAX_COMMANDS_PER_CONNECTION
        self.choice = ""  # why auto chose the method it did
        self._order: dict[str, int] = {}  # name -> place in the word list
        self.method_notes: dict[str, str] = {}  # why auto passed over a method
        self.reference: tuple[str, Reply] | None = None  # auto: the name that told apart
        self._indefinite: list[Reply] = []  # 4xx answers while preparing (for hints)
        self.stats = Stats()
        self.results: dict[str, NameResult] = {}
        # Results that tell nothing (absent, like the canary) are counted; keeping each one
        # too is for callers that want them (the sub-command streams millions: it does not).
        self.keep_all = True
        self.counts: dict[Verdict, int] = dict.fromkeys(Verdict, 0)
        self._source: Iterator[str] = iter(())
        self.source_left = False  # names of the list were never taken (stopped early)
        self.interrupted = False
        self.fatal: str | None = None
        self._queue: deque[str] = deque()
        self._attempts: dict[str, int] = {}
        self._in_flight = 0
        self._changed = asyncio.Condition()
        self._stopping = False
        self._failures = 0
        self._allowed = max(1, config.workers)
        self._opening = 0  # connections being opened: each will take at least one name
        self._pace = _Pace(config.rate)
        self._tasks: list[asyncio.Task[None]] = []

    # --- properties the report uses ------------------------------------------------------

    @property
    def catch_all(self) -> bool:
        return self.canary is not None and self.canary.klass == 2

    @property
    def canary_says_nothing(self) -> bool:
        """The impossible name was refused for something other than the name (relaying or
        policy: Exim's `550 relay not permitted`, smtp-server's `554 Relay access denied`
        at a domain they do not serve; 5.7.x; syntax): with a method given by -m nothing
        checked that. A name answered otherwise still counts as found; a name answered
        alike says nothing."""
        return self.canary is not None and self.canary.klass == 5 and not tells_apart(
            self.canary)

    def of(self, verdict: Verdict) -> list[NameResult]:
        """The results with ``verdict``, in word-list order (two runs can be diffed)."""
        found = [r for r in self.results.values() if r.verdict is verdict]
        return sorted(found, key=lambda r: self._order.get(r.name, len(self._order)))

    @property
    def unchecked(self) -> int:
        return self.stats.total - self.stats.done

    # --- one connection ------------------------------------------------------------------

    def address(self, name: str) -> str:
        return f"{name}@{self.domain}" if self.domain and "@" not in name else name

    def line(self, name: str) -> str:
        return self.method.command.format(address=self.address(name))

    async def _open(self) -> _Conn:
        client, banner, hello = await open_session(self.target)
        conn = _Conn(client)
        if hello.lines and not self.ehlo_name:
            self.ehlo_name = hello.lines[0].split(" ", 1)[0]
            self.family = family_of(banner, hello, client.session.extensions)
            self.budget.assume_for(self.family)
        self.starttls_offered = self.starttls_offered or client.session.advertises("STARTTLS")
        # A refused EHLO (then HELO) already counts as one error on this connection.
        conn.errors = int(not client.session.esmtp)
        self.server_name = self.server_name or client.session.server_name
        if self.method.transaction:
            sender = f"MAIL FROM:<{self.config.sender}>"
            try:
                reply = await client.command(sender)
            except BaseException:
                await client.close()
                raise
            if reply.klass != 2:
                await client.close()
                if needs_tls(reply) and not self.target.starttls and self.starttls_offered:
                    # As for a VRFY answered so (prepare): the method is not refused, only
                    # its clear-text road; every connection starts with STARTTLS from now.
                    self.on_info(f"{sender} answered {reply.one_line()}: the server wants TLS"
                                 " first; it offers STARTTLS, so every connection now starts"
                                 " with it")
                    self.target.starttls = True
                    return await self._open()
                if reply.code == 421 or reply.klass == 4:
                    raise Refused(f"{sender} deferred: {reply.one_line()}")
                hint = SENDER_HINTS.get(reply.code, "try another --from")
                raise AuditError(f"the server refused {sender}: {reply.one_line()} ({hint})")
        conn.pipelining = self.method.pipelined and client.session.advertises("PIPELINING")
        self.stats.connections += 1
        return conn

    async def _release(self, conn: _Conn) -> None:
        await hang_up(conn.client, polite=not self.budget.exhausted(conn.errors))

    async def _exchange(self, conn: _Conn, names: Sequence[str]) -> tuple[list[Reply], str]:
        """Ask about ``names`` (pipelined if possible); the replies got, and why it stopped
        early ("" if every name was answered and the connection may go on)."""
        replies: list[Reply] = []
        client = conn.client
        assert conn.pipelining or len(names) == 1
        try:
            sent = []
            for name in names:
                sent.append(await client.send_line(self.line(name)))
                conn.commands += 1
            last = time.monotonic()
            for name, command in zip(names, sent, strict=True):
                waiting_for = f"the answer for '{name}'"
                reply = (await client.reply_to(command, waiting_for=waiting_for)).reply
                now = time.monotonic()
                errors_before = conn.errors
                conn.errors += reply.klass in (4, 5)
                slow = self.budget.observe(now - last, errors_before)
                last = now
                replies.append(reply)
                if reply.code == 421:
                    self.budget.on_lost(errors_before, "said 421")
                    return replies, "421"
                if is_limit(reply):
                    # A cap on commands a connection (not on errors): stay below it.
                    asked = conn.commands - len(names) + len(replies)
                    if asked - 1 < self.command_cap:
                        self.command_cap = max(1, asked - 1)
                        self.on_info(f"'{reply.one_line()}' after {asked} commands:"
                                     f" at most {self.command_cap} a connection from now on")
                    return replies, "limit"
                if slow:
                    return replies, "slow"
        except ReplyTimeout:
            self.budget.on_lost(conn.errors, "stopped answering")
            return replies, "timeout"
        except ConnectionClosedError:
            self.budget.on_lost(conn.errors, "hung up")
            return replies, "closed"
        return replies, ""

    # --- before the run: method and canary -----------------------------------------------

    async def _ask(self, names: Sequence[str]) -> dict[str, Reply]:
        """Definite answers for a few names, one at a time, retrying transient ones."""
        answers: dict[str, Reply] = {}
        last: dict[str, str] = {}  # name -> the last indefinite answer (or why none came)
        for _attempt in range(ATTEMPTS):
            todo = [n for n in names if n not in answers]
            if not todo:
                return answers
            try:
                conn = await self._open()
            except (ConnectError, ConnectionClosedError, ReplyTimeout, Refused) as exc:
                if self.target.starttls and _tls_failure(exc):
                    raise TLSUnusable(f"STARTTLS failed: {exc}") from None
                last[todo[0]] = str(exc)
                await asyncio.sleep(0.2)
                continue
            try:
                for name in todo:
                    replies, why = await self._exchange(conn, [name])
                    if not replies or classify(replies[0], replies[0]) is None:
                        last[name] = replies[0].one_line() if replies else why
                        if replies:
                            self._indefinite.append(replies[0])
                        break  # a fresh connection for the rest
                    answers[name] = replies[0]
            finally:
                await self._release(conn)
        todo = [n for n in names if n not in answers]
        if todo:
            got = "; ".join(f"{n}: {why}" for n, why in last.items())
            raise AuditError(
                f"no definite answer to {self.method.name.upper()} after {ATTEMPTS} tries"
                f" ({got})"
            )
        return answers

    def _unsupported(self, reply: Reply) -> str | None:
        if reply.code in UNSUPPORTED_CODES:
            return f"{self.method.name.upper()} not supported: {reply.one_line()}"
        return None

    async def prepare(self) -> None:
        """Pick the method and learn the canary's answer; AuditError if none can work.

        Auto takes the first method whose answer to a name that cannot exist is a definite
        "no such user" (or whose answer to a common name differs from it). A bare name
        refused as bad syntax is asked again as NAME@DOMAIN; a 530 is asked again inside
        STARTTLS when the server offers it. What was passed over, and why, is kept in
        ``method_notes``; why the chosen one was taken in ``choice``.
        """
        auto = self.config.method == "auto"
        canaries: list[Reply] = []
        for name in AUTO_ORDER if auto else (self.config.method,):
            self.method = METHODS[name]
            await self._set_domain()
            asked = [self.canary_name, *REFERENCE_NAMES] if auto else [self.canary_name]
            try:
                answers = await self._ask(asked)
                canary = answers[self.canary_name]
                if needs_tls(canary) and not self.target.starttls and self.starttls_offered:
                    self.on_info(f"{self.verb} answered {canary.one_line()}: the server"
                                 " wants TLS first; it offers STARTTLS, so every connection"
                                 " now starts with it")
                    self.target.starttls = True
                    answers = await self._ask(asked)
                    canary = answers[self.canary_name]
                if (not self.method.transaction and bare_name_refused(canary)
                        and not self.domain):
                    domain, source = self._domain_guess()
                    if domain:
                        self.on_info(f"{self.verb} {self.canary_name} → {canary.one_line()}:"
                                     f" the server wants NAME@DOMAIN; asking NAME@{domain}"
                                     f" (the domain from {source}; -D to change)")
                        self.domain, self.domain_source = domain, source
                        answers = await self._ask(asked)
                        canary = answers[self.canary_name]
            except TLSUnusable:
                raise  # the same for every method: said as it is, not as the server's answer
            except AuditError as exc:
                self.method_notes[name] = str(exc)
                continue
            canaries.append(canary)
            why = self._unsupported(canary)
            if why:
                self.method_notes[name] = why
                continue
            if not auto:
                self.canary = canary
                return
            for reference in REFERENCE_NAMES:
                if classify(answers[reference], canary) is Verdict.FOUND:
                    self.canary = canary
                    self.reference = (reference, answers[reference])
                    self.choice = f"'{reference}' is answered differently from the canary"
                    return
            if tells_apart(canary):
                self.canary = canary
                self.choice = (f"a name that cannot exist gets a definite no"
                               f" ({canary.code}), so a name answered otherwise exists")
                return
            self.method_notes[name] = self._passed_over(canary)
        hints = [CANARY_HINTS[r.enhanced or ""] for r in [*canaries, *self._indefinite]
                 if r.enhanced in CANARY_HINTS]
        hint = f"; {hints[0]}" if hints else ""
        if not auto:
            raise Undetermined(self.method_notes[self.config.method] + hint)
        raise Undetermined(
            "no method tells users apart on this server ("
            + "; ".join(f"{m}: {why}" for m, why in self.method_notes.items()) + ")" + hint
        )

    @property
    def verb(self) -> str:
        return self.method.name.upper()

    def _passed_over(self, canary: Reply) -> str:
        """Why a method whose canary answer tells nothing was passed over."""
        said = f"{self.address(self.canary_name)} → {canary.one_line()}"
        if canary.klass in (2, 3):
            what = ("accepts any name at the domain (catch-all)" if self.method.transaction
                    else "gives every name the same non-committal answer")
            return f"the server {what}: {said}"
        if needs_tls(canary):
            return f"refused until TLS or AUTH (try --starttls): {said}"
        if canary.code in SYNTAX_CODES:
            return f"refused as bad syntax: {said}"
        return f"refused by policy, not an answer about the name: {said}"

    def _domain_guess(self) -> tuple[str, str]:
        """A domain for NAME@DOMAIN: the server's name from its banner, else from EHLO."""
        for name, source in ((self.server_name, "the banner"), (self.ehlo_name, "EHLO")):
            if "." in name and all(c.isalnum() or c in ".-" for c in name):
                return name, source
        return "", ""

    def canary_hint(self) -> str | None:
        """What to change when the canary's answer shows a set-up problem (e.g. relaying)."""
        if self.canary is None or self.canary.klass != 5:
            return None
        return CANARY_HINTS.get(self.canary.enhanced or "")

    async def _set_domain(self) -> None:
        """RCPT needs a domain: default to the server's own name from its banner."""
        if self.domain or not self.method.transaction:
            return
        if not self.server_name:
            try:
                conn = await self._open_plain()
            except (ConnectError, ConnectionClosedError, ReplyTimeout, Refused) as exc:
                raise AuditError(str(exc)) from None
            await self._release(conn)
        domain, source = self._domain_guess()
        if domain:
            self.domain, self.domain_source = domain, source
            self.on_info(f"domain {self.domain} (the server's name from {source}; -D to change)")

    async def _open_plain(self) -> _Conn:
        transaction, self.method = self.method, METHODS["vrfy"]
        try:
            return await self._open()
        finally:
            self.method = transaction

    # --- the run -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ctrl-C: stop asking; what was found so far stays."""
        self.interrupted = True
        self._stopping = True
        for task in self._tasks:
            task.cancel()

    async def run(self, names: Iterable[str]) -> None:
        """Check ``names``, taken from the iterable as the run needs them (a word list is
        streamed, never held whole); ``stats.total`` counts the names taken so far."""
        if self.canary is None:
            raise AuditError("prepare() first")
        self._source = iter(names)
        self.source_left = True
        self.stats = Stats(connections=self.stats.connections)
        # The list is read in a thread: a pipe that pauses (or a slow disk) must not stall
        # the event loop, where the replies of the names already asked are waiting.
        loop = asyncio.get_running_loop()
        threading.Thread(target=self._produce, args=(loop,), daemon=True).start()
        self._tasks = [
            asyncio.ensure_future(self._worker(i)) for i in range(max(1, self.config.workers))
        ]
        try:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        finally:
            self.stats.finished = time.monotonic()
        for task in self._tasks:
            if not task.cancelled() and isinstance(task.exception(), AuditError):
                raise task.exception()  # type: ignore[misc]

    # --- the names, from a thread reading the word list --------------------------------

    def _produce(self, loop: asyncio.AbstractEventLoop) -> None:
        """Hand the names over to the loop in order, a few at a time while it is short of
        them; wait (no more than REFILL_AT queued) while it has plenty."""
        error = ""
        batch: list[str] = []
        try:
            for name in self._source:
                batch.append(name)
                if len(batch) >= HANDOVER or len(self._queue) < HANDOVER:
                    if not self._hand_over(loop, self._put(batch)):
                        return
                    batch = []
        except WordListError as exc:
            error = str(exc)
        except (OSError, ValueError) as exc:
            error = f"word list: {exc}"
        self._hand_over(loop, self._end(batch, error))

    @staticmethod
    def _hand_over(loop: asyncio.AbstractEventLoop, step: Coroutine[Any, Any, bool]) -> bool:
        """Run ``step`` on the loop and wait for it; False once the run is over."""
        try:
            return asyncio.run_coroutine_threadsafe(step, loop).result()
        except RuntimeError:  # the loop is closed
            step.close()
            return False
        except concurrent.futures.CancelledError:  # the run ended while we waited
            return False

    async def _put(self, names: list[str]) -> bool:
        async with self._changed:
            while len(self._queue) >= REFILL_AT and not self._stopping:
                await self._changed.wait()
            if self._stopping:
                return False
            for name in names:
                if name not in self._attempts:  # else already queued or in flight
                    self._attempts[name] = 0
                    self._order[name] = self.stats.total  # its place in the word list
                    self._queue.append(name)
                    self.stats.total += 1
            self._changed.notify_all()
        return True

    async def _end(self, names: list[str], error: str) -> bool:
        await self._put(names)
        self.source_left = False
        if error:  # unreadable half-way: stop; what was found is kept and printed
            self.fatal = error
            self._stopping = True
        await self._notify()
        return True

    def _take(self, count: int) -> list[str]:
        batch: list[str] = []
        while self._queue and len(batch) < count:
            batch.append(self._queue.popleft())
        self._in_flight += len(batch)
        return batch

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _settle(self, name: str, reply: Reply | None) -> None:
        """Record the answer for a name, or put it back in the queue."""
        assert self.canary is not None
        self._in_flight -= 1
        self._attempts[name] += 1
        verdict = classify(reply, self.canary) if reply is not None else None
        if verdict is None:
            self.stats.retries += 1
            if self._attempts[name] < ATTEMPTS:
                self._queue.append(name)
                await self._notify()
                return
            verdict = Verdict.NO_ANSWER
        place = self._order.pop(name, self.stats.total)
        result = NameResult(name, verdict, reply, self._attempts.pop(name), place)
        self.counts[verdict] += 1
        if self.keep_all or verdict not in (Verdict.ABSENT, Verdict.LIKE_CANARY):
            self.results[name] = result
            self._order[name] = place  # kept with the result, for of()'s order
        self.stats.done += 1
        self.stats.found += verdict is Verdict.FOUND
        self.on_result(result)
        await self._notify()

    def _finished(self) -> bool:
        """Nothing queued, nothing left in the list, nothing awaiting a reply (or the
        run failed)."""
        return not self._queue and not self.source_left and (
            self._in_flight == 0 or bool(self.fatal))

    async def _worker(self, index: int) -> None:
        backoff = 0.1
        while not self._stopping:
            if index >= self._allowed:
                # The server refused connections: fewer workers now. Those waiting while
                # this one was still counted as opening must look again (else the names
                # left in the queue are never asked, and the run never ends).
                await self._notify()
                return
            if len(self._queue) <= self._opening:
                if self._finished():
                    await self._notify()
                    return
                async with self._changed:
                    # Looked at again under the lock: a change notified while this worker
                    # waited for the lock would be missed by wait().
                    if (len(self._queue) <= self._opening and not self._stopping
                            and not self._finished()):
                        await self._changed.wait()
                continue
            self._opening += 1
            try:
                conn = await self._open()
            except (ConnectError, ConnectionClosedError, ReplyTimeout, Refused) as exc:
                # Fewer connections first (a server limits connections per client); give up
                # only when even one connection keeps failing.
                if self._allowed > 1:
                    self._allowed -= 1
                    self.on_info(f"{exc}: down to {self._allowed} parallel connections")
                else:
                    self._failures += 1
                if self._failures >= MAX_CONNECT_FAILURES:
                    self.fatal = f"giving up after {self._failures} failed connections: {exc}"
                    self._stopping = True
                    await self._notify()
                    return
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            finally:
                self._opening -= 1
            self._failures = 0
            backoff = 0.1
            try:
                await self._serve(conn)
            finally:
                await self._release(conn)

    async def _serve(self, conn: _Conn) -> None:
        while not self._stopping and not self.budget.exhausted(conn.errors):
            room = self.command_cap - conn.commands
            # Pipelined: as many as the budget allows even if every one is an error.
            count = min(self.budget.limit - conn.errors, MAX_PIPELINE) if conn.pipelining else 1
            batch = self._take(min(count, room))
            if not batch:
                return
            await self._pace.wait(len(batch))
            replies, stopped = await self._exchange(conn, batch)
            for name, reply in zip(batch, replies, strict=False):
                await self._settle(name, reply)
            for name in batch[len(replies):]:
                await self._settle(name, None)
            if stopped:
                if stopped == "slow":
                    self.on_info(
                        f"the server slowed down after {self.budget.limit} errors on a"
                        " connection: reconnecting sooner from now on"
                    )
                return
            if room <= len(batch):
                return


# --- word lists --------------------------------------------------------------------------


MAX_LINE = 1024  # octets of a word-list line read at once; a longer line is skipped whole
MAX_JUNK = 1 << 20  # octets in a row without a usable name: not a word list (/dev/zero)
DEDUPE_LIMIT = 100_000  # names remembered to ask a repeated one once (memory stays bounded)


class WordListError(Exception):
    """A word list that cannot be read on (one line: which file and why)."""


class WordList:
    """The names to check, streamed: -u names, then each -U file ('-': standard input) a
    line at a time, so a list of millions costs no memory and the first name is asked at
    once. Lines that cannot be sent (control characters, over 64 octets, spaces or <> for
    rcpt, not UTF-8) are skipped and counted; a name seen again among the first
    DEDUPE_LIMIT is asked once."""

    def __init__(self, paths: Sequence[str], singles: Sequence[str], method: str) -> None:
        self.paths = list(paths)
        self.singles = list(singles)
        self.method = method
        self.skipped = 0
        self.exhausted = False  # every name was handed out
        self._seen: set[str] = set()

    def check(self) -> None:
        """Each file can be opened (UsageError before anything is sent)."""
        for path in self.paths:
            if path == "-":
                continue
            try:
                with open(path, "rb"):
                    pass
            except FileNotFoundError:
                raise UsageError(f"no such word list: {path}") from None
            except OSError as exc:
                raise UsageError(f"cannot read {path}: {exc.strerror}") from None

    def usable(self, name: str) -> bool:
        return not (
            forbidden_in_command(name)
            or len(name.encode("utf-8")) > MAX_LOCAL_PART
            or (self.method == "rcpt" and any(c.isspace() or c in "<>" for c in name))
        )

    def __iter__(self) -> Iterator[str]:
        yield from self._singles()
        for path in self.paths:
            try:
                if path == "-":
                    yield from self._names(sys.stdin.buffer, "standard input")
                else:
                    with open(path, "rb") as stream:
                        yield from self._names(stream, path)
            except OSError as exc:
                raise WordListError(f"cannot read {path}: {exc.strerror or exc}") from None
        self.exhausted = True

    def _new(self, name: str) -> bool:
        if name in self._seen:
            return False
        if len(self._seen) < DEDUPE_LIMIT:
            self._seen.add(name)
        return True

    def _singles(self) -> Iterator[str]:
        for raw in self.singles:
            name = raw.strip()
            if name and not self.usable(name):
                self.skipped += 1
            elif name and self._new(name):
                yield name

    def _names(self, stream: BinaryIO, path: str) -> Iterator[str]:
        junk = 0  # octets read since the last usable name
        while line := stream.readline(MAX_LINE):
            if len(line) == MAX_LINE and not line.endswith(b"\n"):
                junk += len(line) + _skip_rest(stream)
                self.skipped += 1
            else:
                try:
                    name: str | None = line.decode("utf-8").strip()
                except UnicodeDecodeError:
                    name = None
                if name and self.usable(name):
                    junk = 0
                    if self._new(name):
                        yield name
                    continue
                self.skipped += name != ""
                junk += len(line)
            if junk > MAX_JUNK:
                raise WordListError(
                    f"{path}: no usable name in {MAX_JUNK // 2**20} MiB: not a word list"
                )


def _skip_rest(stream: BinaryIO) -> int:
    """Read past the rest of a line too long to be a name (at most MAX_JUNK octets)."""
    count = 0
    while count <= MAX_JUNK and (rest := stream.readline(MAX_LINE)):
        count += len(rest)
        if rest.endswith(b"\n"):
            break
    return count


# --- the sub-command ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Find which user names exist on a server, comparing every answer with the answer "
        "to a random name that cannot exist. Fast and tarpit-aware: parallel connections, "
        "each renewed before the server's error limit, RCPT pipelined when offered. "
        + AUTHORISATION_NOTE
    )
    parser.epilog = (
        "output: each found user as it is found ('robin  252 2.0.0 robin'), then a summary;"
        " interrupted (Ctrl-C: 130, SIGTERM: 143), what was found is still printed."
    )
    add_target_arguments(parser)
    names = parser.add_argument_group("names")
    names.add_argument("-U", "--wordlist", action="append", default=[], metavar="FILE",
                       help="one name a line ('-' reads standard input); repeatable")
    names.add_argument("-u", "--name", dest="names", action="append", default=[],
                       metavar="NAME", help="a single name to check; repeatable")
    how = parser.add_argument_group("method")
    how.add_argument("-m", "--method", choices=("auto", *METHODS), default="auto",
                     help="vrfy, expn, rcpt, or auto: the first that tells a real-looking name"
                     " from an impossible one (default auto)")
    flags.add_domain(how, "check NAME@DOMAIN (rcpt default: the server's own name)")
    how.add_argument("--from", dest="sender", default="", metavar="ADDR",
                     help="MAIL FROM for the rcpt method (default <>)")
    speed = parser.add_argument_group("speed")
    speed.add_argument("-w", "--workers", type=int, default=DEFAULT_WORKERS, metavar="N",
                       help=f"parallel connections (default {DEFAULT_WORKERS})")
    speed.add_argument("--rate", type=float, metavar="R", help="at most R names a second")
    speed.add_argument("--errors-per-connection", type=int, metavar="N",
                       help="failed checks a connection may draw before it is renewed"
                       " (default: 10, a common default such as Postfix's soft limit,"
                       " lowered when the server slows down or hangs up sooner)")
    out = parser.add_argument_group("output")
    out.add_argument("-o", "--output", metavar="FILE",
                     help="write the results to FILE (JSON if it ends in .json)")
    flags.add_json(out, "the results")
    out.add_argument("-q", "--quiet", action="store_true", help="no progress line")
    flags.add_targets(parser, quiet=False)


def config_from_args(args: argparse.Namespace) -> EnumConfig:
    if not 1 <= args.workers <= 64:
        raise UsageError("--workers must be from 1 to 64")
    if args.rate is not None and args.rate <= 0:
        raise UsageError("--rate must be more than 0")
    if args.errors_per_connection is not None and args.errors_per_connection < 1:
        raise UsageError("--errors-per-connection must be at least 1")
    if any(c.isspace() or c in "<>" for c in args.sender):
        raise UsageError(f"bad --from '{args.sender}': no spaces or angle brackets")
    if args.domain is not None and (not args.domain or any(c.isspace() or c in "<>@"
                                                           for c in args.domain)):
        raise UsageError(f"bad -D '{args.domain}': a domain such as example.com")
    budget = (ErrorBudget.given(args.errors_per_connection)
              if args.errors_per_connection else ErrorBudget())
    return EnumConfig(args.method, args.domain, args.sender, args.workers, args.rate, budget)


class _Progress:
    """The live progress line on a terminal (smtpsh.output.progress): bar, names/s, found,
    errors, connections."""

    def __init__(self, stream: TextIO, enumerator: Enumerator, enabled: bool) -> None:
        self.status = StatusLine(stream, enabled=enabled)
        self.enum = enumerator

    def clear(self) -> None:
        self.status.clear()

    def draw(self) -> None:
        if not self.enum.stats.total:  # still choosing the method
            return
        s = self.enum.stats
        self.status.update(
            f"{bar(s.done, s.total)} {s.done}/{s.total}  {s.rate:.0f} names/s  found {s.found}"
            f"  errors {s.retries}  connections {s.connections}"
        )

    async def tick(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.1)


def run(args: argparse.Namespace) -> int:
    try:
        if not args.wordlist and not args.names:
            raise UsageError("give names: -U WORDLIST and/or -u NAME")
        target = target_from_args(args)
        config = config_from_args(args)
        wordlist = WordList(args.wordlist, args.names, args.method)
        wordlist.check()
        names = iter(wordlist)
        try:
            first = next(names)  # before connecting: a list with no name is a usage error
        except StopIteration:
            raise UsageError("the word list holds no usable names") from None
        except WordListError as exc:
            raise UsageError(str(exc)) from None
    except UsageError as exc:
        if args.json:
            return jsonout.emit("enum", args.target, exc.exit_status, error=("usage", str(exc)))
        print_error("smtpsh enum", str(exc))
        return exc.exit_status
    return run_main(_main(target, config, itertools.chain((first,), names), args, wordlist))


async def _main(target: Target, config: EnumConfig, names: Iterable[str],
                args: argparse.Namespace, wordlist: WordList | None = None) -> int:
    err = sys.stderr
    out, notes = Printer(colour=False), Printer(colour=False, stream=err)
    enumerator = Enumerator(target, config)
    enumerator.keep_all = False  # millions of absent names: counted, not kept
    progress = _Progress(err, enumerator, not args.quiet)

    def info(text: str) -> None:
        progress.clear()
        notes.line(f"· {text}")

    # Found names are printed as soon as every name before them in the word list is
    # settled: early, yet in word-list order (two runs give the same output).
    settled: dict[int, NameResult] = {}  # by place: only those ahead of an unsettled one
    shown = 0

    def found(result: NameResult) -> None:
        nonlocal shown
        settled[result.place] = result
        while shown in settled:
            done = settled.pop(shown)
            shown += 1
            if done.verdict is Verdict.FOUND and done.reply is not None and not args.json:
                progress.clear()
                out.line(f"{done.name}  {done.reply.one_line()}")

    enumerator.on_info = info
    enumerator.on_result = found
    loop = asyncio.get_running_loop()
    stopped_by: list[int] = []

    def stop(signum: int) -> None:
        stopped_by.append(signum)
        enumerator.stop()

    for signum in (signal.SIGINT, signal.SIGTERM):  # either way: what was found is printed
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop, signum)
    ticker = asyncio.ensure_future(progress.tick())
    try:
        prepare = asyncio.ensure_future(enumerator.prepare())
        enumerator._tasks = [prepare]  # Ctrl-C during preparation cancels it
        try:
            await prepare
        except asyncio.CancelledError:
            progress.clear()
            print_error("smtpsh enum", "interrupted before the run started")
            return exitcodes.INTERRUPTED
        assert enumerator.canary is not None
        for passed, why in enumerator.method_notes.items():
            info(f"{passed.upper()} passed over: {why}")
        method, canary = enumerator.verb, enumerator.canary.one_line()
        line = (f"{method}: '{enumerator.address(enumerator.canary_name)}' (cannot exist)"
                f" → {canary}")
        if enumerator.reference:
            ref, ref_reply = enumerator.reference
            line += f"; '{ref}' → {ref_reply.one_line()}"
        if enumerator.choice:
            line += f" (chosen by --method auto: {enumerator.choice})"
        info(line)
        hint = enumerator.canary_hint()
        if hint:
            info(hint)
        if enumerator.catch_all:
            info("the server accepts a name that cannot exist (catch-all, or the same answer"
                 " for everything): answers like the canary's are not taken as found")
        await enumerator.run(names)
    except AuditError as exc:
        progress.clear()
        print_error("smtpsh enum", str(exc))
        if args.json:
            where = f"{target.options.host}:{target.options.port}"
            jsonout.emit("enum", where, exc.exit_status, error=(exc.fault, str(exc)))
        return exc.exit_status
    finally:
        ticker.cancel()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
    progress.draw()
    progress.clear()
    for line in summary_lines(enumerator):
        notes.line(line)
    if wordlist is not None and wordlist.skipped:
        print_error("smtpsh enum", f"skipped {wordlist.skipped} names that cannot be sent"
                    " (control characters, over 64 octets, not UTF-8, or spaces/<> for rcpt)")
    if args.output:
        try:
            write_output(Path(args.output), enumerator)
        except OSError as exc:
            print_error("smtpsh enum", f"cannot write {args.output}: {exc.strerror}")
            return exitcodes.FAILED
    if enumerator.interrupted:
        return 128 + (stopped_by[0] if stopped_by else signal.SIGINT)
    status = exit_status(enumerator)
    if args.json:
        where = f"{target.options.host}:{target.options.port}"
        error = ("failed", enumerator.fatal) if enumerator.fatal else None
        jsonout.emit("enum", where, status, result_json(enumerator, where), error)
    return status


def exit_status(e: Enumerator) -> int:
    """Found users; none (and the answers could tell); or cannot say (no method tells
    names apart, a catch-all, names left without a definite answer)."""
    if e.interrupted:
        return exitcodes.INTERRUPTED
    if e.fatal:
        return exitcodes.FAILED
    if e.stats.found:
        return exitcodes.FOUND
    if e.catch_all or e.of(Verdict.NO_ANSWER) or e.canary_says_nothing:
        return exitcodes.UNDETERMINED
    return exitcodes.OK


def summary_lines(e: Enumerator) -> list[str]:
    s = e.stats
    lines = []
    state = "interrupted: " if e.interrupted else ""
    lines.append(
        f"{state}{s.done} of {s.total} names checked with {e.method.name.upper()} in"
        f" {s.elapsed:.2f} s ({s.rate:.0f} names/s), {s.connections} connections,"
        f" {e.config.workers} parallel"
    )
    lines.append(f"error budget: {e.budget.limit} per connection; {e.budget.source}")
    found = e.of(Verdict.FOUND)
    lines.append(f"found {len(found)}: " + (", ".join(r.name for r in found) or "none"))
    if not found and e.canary_says_nothing and e.canary is not None:
        hint = e.canary_hint() or ("give -D with a domain the server receives mail for"
                                   if e.method.transaction else "try another --method")
        lines.append(f"inconclusive: the impossible name was refused for another reason than"
                     f" the name ({e.canary.one_line()}), and no name was answered as existing:"
                     f" nothing is known about them; {hint}")
    if e.catch_all:
        # A catch-all accepts mail for any name; VRFY/EXPN's 252 only declines to say.
        label = "catch-all" if e.method.transaction else "no answer tells"
        example = f" ({e.canary.one_line()})" if e.canary is not None else ""
        lines.append(f"{label}: {e.counts[Verdict.LIKE_CANARY]} names got the same answer"
                     f" as the impossible name{example}, so they tell nothing")
    for verdict in (Verdict.OTHER, Verdict.INVALID, Verdict.NO_ANSWER):
        group = e.of(verdict)
        if group:
            shown = ", ".join(
                f"{r.name} ({r.reply.one_line() if r.reply else 'timeout/hang-up'})"
                for r in group[:10]
            )
            more = f" and {len(group) - 10} more" if len(group) > 10 else ""
            lines.append(f"{verdict.value}: {len(group)}: {shown}{more}")
    if s.retries:
        lines.append(f"retried {s.retries} times after timeouts, 421, connection limits or 4xx"
                     " answers")
    if e.budget.slow_replies:
        lines.append(f"note: {e.budget.slow_replies} replies were slow with no error before"
                     " them (a slow server or network, not a tarpit)")
    if e.fatal:
        lines.append(f"stopped: {e.fatal}")
    if e.unchecked or e.source_left:
        rest = " and the rest of the word list" if e.source_left else ""
        lines.append(f"not checked: {e.unchecked} names{rest}")
    return lines


def result_json(e: Enumerator, target: str = "") -> dict[str, object]:
    """The results as data (enum --json's ``result``, and -o FILE.json)."""
    return {
        "target": target,
        "method": e.method.name,
        "canary": {"name": e.canary_name, "reply": e.canary.wire_lines() if e.canary else None},
        "catch_all": e.catch_all,
        "interrupted": e.interrupted,
        "results": [r.as_dict() for r in e.results.values()],
        "found": [r.as_dict() for r in e.of(Verdict.FOUND)],
        "checked": e.stats.done,
        "total": e.stats.total,
        "seconds": round(e.stats.elapsed, 3),
        "errors_per_connection": e.budget.limit,
    }


def write_output(path: Path, e: Enumerator) -> None:
    if path.suffix.lower() == ".json":
        data = {
            "method": e.method.name,
            "method_choice": e.choice or None,
            "passed_over": e.method_notes,
            "domain": e.domain,
            "domain_source": e.domain_source or None,
            "canary": {"name": e.canary_name,
                       "reply": e.canary.wire_lines() if e.canary else None},
            "catch_all": e.catch_all,
            "interrupted": e.interrupted,
            "found": [r.as_dict() for r in e.of(Verdict.FOUND)],
            "other": [r.as_dict() for r in e.of(Verdict.OTHER)],
            "invalid": [r.as_dict() for r in e.of(Verdict.INVALID)],
            "no_answer": [r.as_dict() for r in e.of(Verdict.NO_ANSWER)],
            "checked": e.stats.done,
            "total": e.stats.total,
            "seconds": round(e.stats.elapsed, 3),
            "errors_per_connection": e.budget.limit,
        }
        _save(path, json.dumps(data, indent=2) + "\n")
        return
    lines = [f"{r.name}\t{r.reply.one_line()}" for r in e.of(Verdict.FOUND) if r.reply]
    _save(path, "".join(line + "\n" for line in lines))


def _save(path: Path, text: str) -> None:
    """Through open_private: an -o path planted as a symlink must not overwrite its target."""
    import os

    from smtpsh.safefile import open_private

    with os.fdopen(open_private(path), "w", encoding="utf-8") as stream:
        stream.write(text)
