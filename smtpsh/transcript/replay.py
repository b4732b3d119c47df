"""Replaying a transcript: send its client lines, compare each reply with the recorded one.

The engine walks the events in file order, which is also the order things happened: a
client line is sent when it comes, a recorded reply is awaited when it comes. Pipelined
commands therefore go out together, as they did, and everything else alternates.

A step is one recorded reply compared with the live one. By default the basic code and the
enhanced code (when the recorded reply has one) must match; ``strict`` compares the text of
every line too. A line holding ``~/regex/`` is always compared, its regex parts as regular
expressions. DATA bodies go through the core's DataEncoder (the file holds them stuffed;
they are un-stuffed first), STARTTLS upgrades wherever a 220 answers it, and masked AUTH
answers are computed from the credentials given for the replay.
"""

from __future__ import annotations

import asyncio
import difflib
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

from smtpsh.net.base import ClientBase
from smtpsh.net.client import ClientObserver, SMTPClient
from smtpsh.output.printer import Fragments, Printer
from smtpsh.protocol.auth import AuthError, AuthExchange, Credentials
from smtpsh.protocol.connection import SECRET_MASK, Command, ReplyEvent, redact_auth_command
from smtpsh.protocol.encoding import encode_message
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.transcript.model import (
    CLOSE_KEYWORDS,
    CLOSE_WORDS,
    CONNECT_KEYWORDS,
    Chunk,
    Event,
    Expect,
    LinePattern,
    Message,
    Meta,
    Send,
    Transcript,
)

UNSOLICITED_WAIT = 10.0  # seconds to wait for a reply the server sent without being asked
LABEL_WIDTH = 34

# Opens a connection: (the line of the file that opens it, implicit TLS) -> (client, banner).
# The caller decides the server from that line (Transcript.connects, checked before the
# replay starts). The banner is None when the connection was already open (replay on a
# live session).
Opener = Callable[[int, bool], Awaitable[tuple[SMTPClient, Reply | None]]]


@dataclass
class Step:
    """One recorded reply compared with the live one."""

    number: int
    label: str  # what was sent: "EHLO me", "banner", "message (3 lines) and '.'"
    expected: Expect
    line: int = 0  # the line in the file that this step is about (what was sent)
    got: Reply | None = None
    problems: list[str] = field(default_factory=list)
    not_run: str = ""  # why there was nothing to compare

    @property
    def matched(self) -> bool:
        return not self.not_run and not self.problems


@dataclass
class Summary:
    steps: list[Step] = field(default_factory=list)

    @property
    def matched(self) -> int:
        return sum(1 for s in self.steps if s.matched)

    @property
    def not_run(self) -> int:
        return sum(1 for s in self.steps if s.not_run)

    @property
    def differed(self) -> int:
        return len(self.steps) - self.matched - self.not_run

    @property
    def ok(self) -> bool:
        return self.matched == len(self.steps)

    def line(self) -> str:
        text = f"{len(self.steps)} steps, {self.matched} matched, {self.differed} differed"
        return text + (f", {self.not_run} not run" if self.not_run else "")


def compare(expected: Expect, got: Reply, *, strict: bool) -> list[str]:
    """Why ``got`` does not match the recorded reply (empty: it matches)."""
    if got.code != expected.code:
        return [f"got {_codes(got)}, expected {_codes(expected.reply)}"]
    problems = []
    if expected.enhanced and got.enhanced != expected.enhanced:
        problems.append(f"enhanced code {got.enhanced or 'none'}, expected {expected.enhanced}")
    live = got.wire_lines()
    if strict and len(live) != len(expected.lines):
        problems.append(f"{len(live)} lines, expected {len(expected.lines)}")
    for i, (want, pattern) in enumerate(zip(expected.lines, expected.patterns, strict=True)):
        if pattern is None and not strict:
            continue
        have = live[i] if i < len(live) else None
        if have is None:
            if not strict:
                problems.append(f"line {i + 1} is missing")
        elif pattern is not None and not pattern.fullmatch(have):
            problems.append(f"line {i + 1} does not match its ~/regex/")
        elif pattern is None and have != want:
            problems.append(f"line {i + 1} text differs")
    return problems


def _codes(reply: Reply) -> str:
    return " ".join(filter(None, (str(reply.code or "no code"), reply.enhanced)))


def _matches(want: str, pattern: LinePattern | None, have: str) -> bool:
    if pattern is not None:
        return pattern.fullmatch(have)
    return want == have


def diff_lines(expected: Expect, got: Reply) -> list[tuple[str, str]]:
    """(mark, line) pairs: ' ' same, '-' recorded only, '+' live only."""
    live = got.wire_lines()
    # A recorded line matching the live one at the same place counts as the same line.
    keys = [
        live[i] if i < len(live) and _matches(want, pat, live[i]) else want
        for i, (want, pat) in enumerate(zip(expected.lines, expected.patterns, strict=True))
    ]
    out: list[tuple[str, str]] = []
    matcher = difflib.SequenceMatcher(a=keys, b=live, autojunk=False)
    for op, a1, a2, b1, b2 in matcher.get_opcodes():
        if op == "equal":
            out.extend((" ", line) for line in live[b1:b2])
            continue
        out.extend(("-", line) for line in expected.lines[a1:a2])
        out.extend(("+", line) for line in live[b1:b2])
    return out


class Reporter:
    """Prints steps as they finish: ✓/✗, and a coloured diff where a reply differs."""

    def __init__(self, printer: Printer) -> None:
        self.printer = printer

    def note(self, text: str) -> None:
        self.printer.emit([("#888888", f"  · {text}")])

    def error(self, text: str) -> None:
        self.printer.emit([("ansired bold", f"✗ {text}")])

    def step(self, step: Step) -> None:
        label = (
            step.label if len(step.label) <= LABEL_WIDTH else step.label[: LABEL_WIDTH - 1] + "…"
        )
        where = f"line {step.line}"
        head: Fragments
        if step.matched:
            assert step.got is not None
            codes = _codes(step.got)
            head = [("ansigreen", "✓"), ("", f" {step.number:>3}  {label:<{LABEL_WIDTH}} {codes}")]
            self.printer.emit(head)
            return
        if step.not_run:
            head = [
                ("ansiyellow", "✗"),
                ("", f" {step.number:>3}  {label:<{LABEL_WIDTH}} "),
                ("ansiyellow", f"not run: {step.not_run}"),
                ("#888888", f"  ({where})"),
            ]
            self.printer.emit(head)
            return
        head = [
            ("ansired bold", "✗"),
            ("", f" {step.number:>3}  {label:<{LABEL_WIDTH}} "),
            ("ansired", "; ".join(step.problems)),
            ("#888888", f"  ({where})"),
        ]
        self.printer.emit(head)
        if step.got is None:
            return
        styles = {" ": "#888888", "-": "ansired", "+": "ansigreen"}
        for mark, line in diff_lines(step.expected, step.got):
            self.printer.emit([(styles[mark], f"        {mark} {line}")])

    def summary(self, summary: Summary) -> None:
        style = "ansigreen bold" if summary.ok else "ansired bold"
        self.printer.emit([(style, summary.line())])


class _Unsolicited(ClientObserver):
    """Collects replies nobody asked for (an idle 421), which reply_to never returns."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[Reply] = asyncio.Queue()

    def on_reply(self, client: ClientBase, event: ReplyEvent) -> None:
        if event.command is None:
            self.queue.put_nowait(event.reply)


@dataclass
class _Sent:
    """A client line sent (or not) whose reply is still to be compared."""

    label: str
    verb: str
    line: int  # the client line in the file
    command: Command | None = None  # what was sent, whose reply is awaited
    reply: Reply | None = None  # already received (the end of a message waits at once)
    error: str = ""  # no reply came: why
    not_run: str = ""  # nothing was sent: why
    auth_answer: bool = False  # an answer inside an AUTH exchange
    # Another LMTP recipient's reply to the end of the message: the reader takes it for
    # one no command asked for (it does not count recipients), the replay knows better.
    after_end: bool = False
    # LMTP: replies the live server owes after this one that the recording does not have
    # (more recipients accepted than it holds replies for); each becomes a step that differs.
    unrecorded: list[Command] = field(default_factory=list)


class Replayer:
    def __init__(
        self,
        transcript: Transcript,
        opener: Opener,
        reporter: Reporter,
        *,
        strict: bool = False,
        pace: bool = False,
        credentials: Credentials | None = None,
        timeout: float | None = None,
        close_at_end: bool = True,
        insecure_auth: bool = False,
    ) -> None:
        self.transcript = transcript
        self.opener = opener
        self.reporter = reporter
        self.strict = strict
        self.pace = pace
        self.credentials = credentials
        self.timeout = timeout
        self.close_at_end = close_at_end
        self.insecure_auth = insecure_auth  # fill AUTH with the credentials without TLS
        self.summary = Summary()
        self.client: SMTPClient | None = None
        self.banner: Reply | None = None
        self.down = ""  # why there is no live connection ("" while there is one)
        self.need_open = True
        self.connect_line = 0  # the line of the file that opens the connection
        self.implicit_tls = False
        self.pending: deque[_Sent] = deque()
        self.data_ok = False  # the last DATA got its 354: the message may follow
        self.auth: AuthExchange | None = None
        self.auth_mechanism = ""
        self.challenge: Reply | None = None
        self.think_ms = 0  # recorded time since the last line we acted on
        self.unsolicited = _Unsolicited()

    # --- the walk ---------------------------------------------------------------------

    async def run(self) -> Summary:
        events = self.transcript.events
        try:
            for index, event in enumerate(events):
                if not isinstance(event, Meta) and not self.connect_line:
                    self.connect_line = event.line  # a dialogue with no '# connect' first
                if isinstance(event, Meta):
                    await self._meta(event, events[index + 1 :])
                elif isinstance(event, Expect):
                    await self._expect(event)
                else:
                    if self.need_open:
                        await self._open()
                    if isinstance(event, Send):
                        await self._send(event)
                    elif isinstance(event, Message):
                        await self._message(event, events[index + 1 :])
                    else:
                        await self._chunk(event, events[index + 1 :])
            self._unanswered("the transcript ends")
        finally:
            await self._close(at_end=True)
        self.reporter.summary(self.summary)
        return self.summary

    async def _meta(self, event: Meta, rest: list[Event]) -> None:
        self.think_ms += event.delay_ms
        if event.keyword in CONNECT_KEYWORDS:
            if self.client is not None:
                self._unanswered("the connection was replaced")
                await self._close(at_end=False)
            self.need_open = True
            self.connect_line = event.line
            self.implicit_tls = _tls_before_dialogue(rest)
        elif event.keyword in CLOSE_KEYWORDS:
            self._unanswered(CLOSE_WORDS[event.keyword])
            await self._close(at_end=False)
            self.down = "the recorded connection was closed; no '# connect' follows"

    async def _open(self) -> None:
        self.need_open = False
        self.banner = None
        try:
            client, self.banner = await self.opener(self.connect_line, self.implicit_tls)
        except SmtpshError as exc:
            self.client = None
            self.down = "could not connect (see above)"
            self.reporter.error(str(exc))
            return
        self.client = client
        self.down = ""
        if self.unsolicited not in client.observers:
            client.observers.append(self.unsolicited)

    async def _close(self, *, at_end: bool) -> None:
        client, self.client = self.client, None
        if client is None:
            return
        if self.unsolicited in client.observers:
            client.observers.remove(self.unsolicited)
        if self.close_at_end or not at_end:
            await client.close()

    def _unanswered(self, why: str) -> None:
        """Lines sent whose replies the transcript does not hold: said, not compared."""
        while self.pending:
            sent = self.pending.popleft()
            if not sent.not_run:
                self.reporter.note(f"{sent.label}: no reply recorded ({why}); not compared")

    # --- replies ----------------------------------------------------------------------

    async def _expect(self, event: Expect) -> None:
        self.think_ms = 0
        step = Step(len(self.summary.steps) + 1, "", event, event.line)
        sent: _Sent | None = None
        if event.banner:
            if self.need_open:
                await self._open()
            step.label = "banner"
            if self.client is None:
                step.not_run = self.down or "not connected"
            elif self.banner is None:
                self.reporter.note("banner: not compared (the session was already open)")
                return
            else:
                step.got = self.banner
        elif not self.pending or (event.unsolicited and not self.pending[0].after_end):
            step.label = "(reply sent without a command)"
            await self._wait_unsolicited(step)
        else:
            sent = self.pending.popleft()
            step.label, step.line = sent.label, sent.line
            await self._reply_for(sent, step)
            self._after(sent, step.got)
        if step.got is not None and not step.not_run:
            step.problems = compare(event, step.got, strict=self.strict)
        self.summary.steps.append(step)
        self.reporter.step(step)
        if sent is not None and sent.unrecorded:
            await self._unrecorded(sent)
        if self.data_ok and event.code != 354:
            await self._refuse_message()

    async def _unrecorded(self, sent: _Sent) -> None:
        """LMTP: the replies the live server owed after the message beyond those recorded,
        each a step that differs (the recording has none for it), the live reply shown."""
        commands, sent.unrecorded = sent.unrecorded, []
        for command in commands:
            nothing = Expect(sent.line, sent.line, (), Reply(0, ()), ())
            step = Step(len(self.summary.steps) + 1, f"'.' for <{command.recipient}>", nothing,
                        sent.line)
            if self.client is None:
                step.not_run = self.down or "not connected"
            else:
                try:
                    step.got = (await self.client.reply_to(command, self.timeout)).reply
                    step.problems = ["a reply the recording does not have"]
                except SmtpshError as exc:
                    step.problems = [f"no reply: {exc}"]
                    self._lost()
            self.summary.steps.append(step)
            self.reporter.step(step)

    async def _reply_for(self, sent: _Sent, step: Step) -> None:
        if sent.not_run:
            step.not_run = sent.not_run
            return
        if sent.reply is None and not sent.error:
            if self.client is None or sent.command is None:
                sent.error = self.down or "not connected"
            else:
                try:
                    sent.reply = (await self.client.reply_to(sent.command, self.timeout)).reply
                except SmtpshError as exc:
                    sent.error = str(exc)
        if sent.reply is None:
            # A failed TLS handshake after the 220 says so itself; anything else: no reply.
            step.problems = [
                sent.error if sent.error.startswith("TLS") else f"no reply: {sent.error}"
            ]
            self._lost()
        step.got = sent.reply

    async def _wait_unsolicited(self, step: Step) -> None:
        if self.client is None:
            step.not_run = self.down or "not connected"
            return
        wait = min(self.timeout or UNSOLICITED_WAIT, UNSOLICITED_WAIT)
        try:
            step.got = await asyncio.wait_for(self.unsolicited.queue.get(), wait)
        except TimeoutError:
            step.problems = [f"no such reply within {wait:g} s"]

    def _after(self, sent: _Sent, reply: Reply | None) -> None:
        code = reply.code if reply is not None else 0
        if sent.verb == "DATA":
            self.data_ok = code == 354
        if sent.verb == "AUTH" or sent.auth_answer:
            self.challenge = reply if code == 334 else None
            if code != 334:
                self.auth = None
        self._lost()

    async def _refuse_message(self) -> None:
        """The server said 354 where the recording has no message: send none, hang up."""
        self.data_ok = False
        if self.client is not None:
            self.client.abort("no message to send: the recording has none after this DATA")
        self.reporter.note(
            "the server waits for a message the recording does not have:"
            " connection closed (no empty message sent)"
        )
        self.down = f"the connection was closed after step {len(self.summary.steps)}"

    def _lost(self) -> None:
        """The live connection is gone: later steps say where, not the whole reason again."""
        if self.client is not None and not self.client.connected and not self.down:
            self.down = f"the connection closed during step {len(self.summary.steps) + 1}"

    # --- client lines -----------------------------------------------------------------

    async def _pace(self, delay_ms: int) -> None:
        self.think_ms += delay_ms
        if self.pace and self.think_ms > 0:
            await asyncio.sleep(self.think_ms / 1000)
        self.think_ms = 0

    def _label(self, event: Send) -> str:
        if event.auth:
            return SECRET_MASK if SECRET_MASK in event.text else "(AUTH answer)"
        return redact_auth_command(event.text) if event.verb == "AUTH" else event.text

    async def _send(self, event: Send) -> None:
        await self._pace(event.delay_ms)
        sent = _Sent(
            self._label(event), "" if event.auth else event.verb, event.line, auth_answer=event.auth
        )
        self.pending.append(sent)
        if self.client is None or not self.client.connected:
            sent.not_run = self.down or "the connection is closed"
            return
        try:
            text = self._fill_secrets(event)
            command = await self.client.send_line(text)
        except SmtpshError as exc:
            sent.not_run = str(exc)
            return
        sent.command = command
        sent.label = command.display or sent.label

    def _fill_secrets(self, event: Send) -> str:
        """The line to send: a masked AUTH step rebuilt from the replay's credentials."""
        if event.verb == "AUTH" and not event.auth:
            parts = event.text.split(None, 2)
            self.auth = None
            self.auth_mechanism = parts[1] if len(parts) > 1 else ""
            if len(parts) > 2 and SECRET_MASK in parts[2]:
                self._check_encrypted()
                self.auth = AuthExchange(self.auth_mechanism, self._credentials())
                return self.auth.start().line
            if not self._encrypted():
                self.reporter.note(
                    "AUTH in clear, as the transcript writes it: anyone on the path can read it"
                )
            return event.text
        if not (event.auth and event.text == SECRET_MASK):
            return event.text
        self._check_encrypted()
        if self.challenge is None:
            raise AuthError("a masked AUTH answer, but the server sent no 334 to answer")
        if self.auth is None:
            self.auth = AuthExchange(self.auth_mechanism, self._credentials())
            initial = self.auth.mechanism.initial
            if initial is not None:  # recorded without an initial response: it goes now
                self.auth.withheld = initial(self.auth.credentials)
        return self.auth.answer(self.challenge).line

    def _encrypted(self) -> bool:
        return self.client is not None and self.client.ssl_object is not None

    def _check_encrypted(self) -> None:
        """Credentials go only over TLS, as in the shell (--insecure-auth to send anyway)."""
        if self._encrypted():
            return
        if not self.insecure_auth:
            raise AuthError(
                "refused: the connection is not encrypted and anyone on the path could read"
                " the password; the transcript must STARTTLS first, or --insecure-auth to"
                " send anyway"
            )
        if self.auth is None:  # once an exchange
            self.reporter.note(
                "AUTH without TLS (--insecure-auth): anyone on the path can read it"
            )

    def _credentials(self) -> Credentials:
        if self.credentials is None:
            raise AuthError(
                "the transcript authenticates but no credentials were given"
                " (--user and --password-file)"
            )
        return self.credentials

    async def _message(self, event: Message, rest: list[Event]) -> None:
        count = len(event.lines)
        sent = _Sent(f"message ({count} line{'s' if count != 1 else ''}) and '.'", "", event.line)
        self.pending.append(sent)
        if self.client is None or not self.client.connected:
            sent.not_run = self.down or "the connection is closed"
            return
        if not self.data_ok:
            sent.not_run = "the server did not answer DATA with 354; the message was not sent"
            return
        self.data_ok = False
        try:
            await self.client.send_body(self._body(event))
            commands = await self.client.send_end_of_data()
        except SmtpshError as exc:
            sent.error = str(exc)
            return
        self._owed_after_end(sent, commands, rest)

    async def _body(self, event: Message) -> AsyncIterator[bytes]:
        if not self.pace:
            yield event.content()
            return
        for text, delay in zip(event.content_lines(), event.delays[:-1], strict=True):
            await self._pace(delay)
            yield text.encode("utf-8", "surrogateescape") + b"\r\n"
        await self._pace(event.delays[-1])

    async def _chunk(self, event: Chunk, rest: list[Event]) -> None:
        await self._pace(event.delay_ms)
        sent = _Sent(event.text.strip(), "BDAT", event.line)
        self.pending.append(sent)
        if self.client is None or not self.client.connected:
            sent.not_run = self.down or "the connection is closed"
            return
        try:
            commands = await self.client.send_bdat(event.data, last=event.last)
        except SmtpshError as exc:
            sent.not_run = str(exc)
            return
        self._owed_after_end(sent, commands, rest)

    def _owed_after_end(self, sent: _Sent, commands: list[Command], rest: list[Event]) -> None:
        """The replies the end of a message earns, each a step: one in SMTP; in LMTP one
        per accepted recipient (RFC 2033 §4.2), compared in order with the replies recorded
        after it. A live server owing more than were recorded: the extra ones are said, not
        compared; fewer: the recorded ones left over are steps that did not run."""
        sent.command = commands[0]
        if len(commands) == 1 and commands[0].recipient is None:
            return
        recorded = _replies_recorded(rest)
        last = sent  # the last reply after '.' that the recording holds
        for command in commands[: max(recorded, 1)][1:]:
            last = _Sent(f"'.' for <{command.recipient}>", "", sent.line, command=command,
                         after_end=True)
            self.pending.append(last)
        if commands[0].recipient is not None:
            sent.label += f" for <{commands[0].recipient}>"
        if len(commands) > recorded:
            last.unrecorded = commands[recorded:] if recorded else commands[1:]
            names = ", ".join(f"<{c.recipient}>" for c in last.unrecorded)
            self.reporter.note(
                f"LMTP: the server owes {len(commands)} replies after '.', the recording has"
                f" {recorded}: the replies for {names} are not in the recording (each counts"
                " as a difference)"
            )
        for _missing in range(len(commands), recorded):
            self.pending.append(_Sent(
                "'.' (a recorded recipient's reply)", "", sent.line, after_end=True,
                not_run=f"the server owed {len(commands)} replies after '.', the recording"
                f" has {recorded} (fewer recipients accepted)",
            ))  # fmt: skip


def _replies_recorded(rest: list[Event]) -> int:
    """How many replies the recording holds right after the end of a message: the
    per-recipient replies of an LMTP message (comments between them do not count)."""
    count = 0
    for event in rest:
        if isinstance(event, Expect) and not event.banner:
            count += 1
        elif not isinstance(event, Meta) or event.keyword in CONNECT_KEYWORDS | CLOSE_KEYWORDS:
            break
    return count


def _tls_before_dialogue(rest: list[Event]) -> bool:
    """Whether a '# tls' line comes before any reply or client line: implicit TLS."""
    for event in rest:
        if isinstance(event, Meta):
            if event.keyword == "tls":
                return True
            if event.keyword in CONNECT_KEYWORDS:
                return False
            continue
        return False
    return False


# --- dry run ---------------------------------------------------------------------------


def dry_run(transcript: Transcript, plan: dict[int, str], printer: Printer) -> int:
    """Print what a replay would send and which replies it would compare, and every server
    it would connect to (``plan``: the server by the line that opens the connection, as
    the replay will use it); sends nothing."""
    sends = replies = messages = 0
    opened = False
    for i, event in enumerate(transcript.events):
        connect = isinstance(event, Meta) and event.keyword in CONNECT_KEYWORDS
        if connect or (not opened and not isinstance(event, Meta)):
            opened = True
            where = plan.get(event.line, "?")
            implicit = connect and _tls_before_dialogue(transcript.events[i + 1 :])
            tls = " (TLS from the first byte)" if implicit else ""
            printer.emit([("#888888", f"# would connect to {where}{tls}")])
        if isinstance(event, Expect):
            replies += 1
            what = " (banner)" if event.banner else ""
            codes = " ".join(filter(None, (str(event.code), event.enhanced)))
            printer.emit([("#888888", f"    expect {codes}{what}")])
        elif isinstance(event, Send):
            sends += 1
            text = event.text
            if event.verb == "AUTH" and not event.auth:
                text = redact_auth_command(text)
            if SECRET_MASK in text:
                text += "   (secret from --password-file or a prompt)"
            printer.emit([("ansiblue", f"C: {text}")])
        elif isinstance(event, Message):
            messages += 1
            wire = encode_message(event.content())
            for line in wire.decode("utf-8", "surrogateescape").split("\r\n")[:-1]:
                printer.emit([("ansiblue", f"C: {line}")])
        elif isinstance(event, Chunk):
            sends += 1
            printer.emit([("ansiblue", f"C: {event.text}")])
            printer.emit([("#888888", f"    ({len(event.data)} octets)")])
    bodies = f" and {messages} message{'s' if messages != 1 else ''}" if messages else ""
    printer.emit([("", f"dry run: {sends} commands{bodies} to send, {replies} replies to compare")])
    return 0
