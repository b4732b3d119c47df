"""The prediction corpus (prediction-corpus.txt) and its runner.

Each case is replayed on a fresh connection to a real server: the context's lines first
(each must succeed), then smtpsh's pre-send verdict on the command is taken from the same
code the shell uses (``pre_send_warnings``: ``expect …`` lines say "will be refused",
the others are notes), the command is sent, and its reply class is the truth.

Servers come as ``CorpusServer`` profiles, so any server of the interop matrix can be
added by building one from its facts file.
"""

from __future__ import annotations

import base64
import re
import socket
import ssl
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from smtpsh.protocol.address import parse_path_command
from smtpsh.protocol.commands import ALSO_ENABLED_BY, COMMANDS, PARAMETER_INFO
from smtpsh.protocol.connection import NEED_DATA, ClientConnection, ReplyEvent, verb_of
from smtpsh.protocol.rules import pre_send_warnings
from smtpsh.protocol.session import Session

CORPUS_FILE = Path(__file__).with_name("prediction-corpus.txt")
CONTEXTS = ("greeted", "ehlo", "helo", "mail", "rcpt", "tls", "auth")
_BDAT_SIZE = re.compile(r"BDAT +(\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Case:
    number: int  # line number in the corpus file
    context: str
    command: str  # with {placeholders}
    rfc: str  # "ok", "policy: ...", or the rule the command breaks

    @property
    def legal(self) -> bool:
        """The RFCs allow it here: a warning on it, if the server accepts, is a false alarm."""
        return self.rfc == "ok" or self.rfc.startswith("policy:")


@dataclass(frozen=True)
class CorpusServer:
    """What the runner needs to know of one server."""

    name: str
    host: str
    port: int
    domain: str  # a domain the server receives mail for
    user: str  # an existing user there
    sender: str = "tester@client.test"
    tls: ssl.SSLContext | None = None  # for STARTTLS (None: the tls context is skipped)
    tls_name: str = ""  # the name to verify the certificate against
    tls_problem: str = ""  # why STARTTLS cannot complete with this server ("" if it can)
    auth_user: str = ""  # an account for the auth context ("": the context is skipped)
    auth_password: str = field(default="", repr=False)

    def fill(self, text: str) -> str:
        return text.format(sender=self.sender, user=self.user, domain=self.domain)


@dataclass(frozen=True)
class Outcome:
    case: Case
    line: str  # the command as sent
    predicted: tuple[str, ...]  # predictions: "expect REPLY: reason"
    notes: tuple[str, ...]  # the other warnings
    reply: str  # the server's first reply line, or why there was none
    refused: bool  # the server refused (4xx, 5xx, or no reply)
    unoffered: str = ""  # an extension the line uses that this server did not advertise

    @property
    def legal(self) -> bool:
        """The RFCs allow the line here: legal in the corpus, and every extension it uses
        advertised by this server (RFC 5321 §4.1.1.3)."""
        return self.case.legal and not self.unoffered

    @property
    def verdict(self) -> str:
        if self.predicted:
            if self.refused:
                return "hit"
            return "lenient" if not self.legal else "false alarm"
        if self.refused:
            return "miss"
        return "false alarm" if self.notes and self.legal else "quiet"


def unoffered_extension(session: Session, line: str) -> str:
    """The EHLO keyword the line needs that the server did not advertise ("" if none).
    Only after an accepted EHLO: before it, the corpus's own column says what is legal."""
    if not session.esmtp:
        return ""
    info = COMMANDS.get(verb_of(line))
    if info is not None and info.extension and not session.advertises(info.extension):
        return info.extension
    command = parse_path_command(line)
    for keyword, _ in command.parameters if command is not None else ():
        param = PARAMETER_INFO.get(keyword)
        if param is None:
            continue
        enablers = (param.extension, *ALSO_ENABLED_BY.get(keyword, ()))
        if not any(session.advertises(e) for e in enablers):
            return param.extension
    return ""


@dataclass
class Tally:
    """The confusion counts of one server."""

    server: str
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: list[tuple[Case, str]] = field(default_factory=list)  # context failed

    def count(self, verdict: str) -> int:
        return sum(o.verdict == verdict for o in self.outcomes)

    @property
    def refusals(self) -> int:
        return sum(o.refused for o in self.outcomes)

    @property
    def recall(self) -> float:
        return self.count("hit") / self.refusals if self.refusals else 1.0

    def misses(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict == "miss"]

    def false_alarms(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.verdict == "false alarm"]


# Filled by the tests, printed by tests/rules/conftest.py (here, not in the conftest: pytest
# may import a conftest under another module name than the tests do).
TALLIES: list[Tally] = []


def load_corpus(path: Path = CORPUS_FILE) -> list[Case]:
    cases = []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in raw.split(" | ")]
        if len(parts) != 3 or parts[0] not in CONTEXTS or not parts[1] or not parts[2]:
            raise ValueError(f"{path.name}:{number}: not CONTEXT | COMMAND | RFC: {raw!r}")
        cases.append(Case(number, parts[0], parts[1], parts[2]))
    return cases


class ContextFailed(Exception):
    pass


class _Dialogue:
    """One connection driven through ClientConnection, so the session state is smtpsh's."""

    def __init__(self, server: CorpusServer, timeout: float) -> None:
        self.server = server
        self.conn = ClientConnection()
        self.sock: socket.socket | ssl.SSLSocket = socket.create_connection(
            (server.host, server.port), timeout=timeout
        )

    def close(self) -> None:
        self.sock.close()

    def _event(self) -> ReplyEvent | None:
        while True:
            event = self.conn.next_event()
            if event is not NEED_DATA:
                assert isinstance(event, ReplyEvent)
                return event
            data = self.sock.recv(65536)
            if not data:
                self.conn.receive_eof()
                return None
            self.conn.receive_data(data)

    def banner(self) -> None:
        event = self._event()
        if event is None or event.reply.klass != 2:
            raise ContextFailed(f"banner: {event.reply.lines if event else 'closed'}")

    def send(self, line: str) -> ReplyEvent | None:
        wire = self.conn.send_command(line)
        size = _BDAT_SIZE.match(line)
        if size is not None:  # the chunk follows its command line (RFC 3030 §2)
            wire += b"x" * int(size.group(1))
        self.sock.sendall(wire)
        return self._event()

    def step(self, line: str, want: int = 2) -> None:
        event = self.send(self.server.fill(line))
        if event is None or event.reply.klass != want:
            got = event.reply.lines[0] if event and event.reply.lines else "no reply"
            raise ContextFailed(f"{line}: {got}")

    def authenticate(self) -> None:
        """AUTH PLAIN with the profile's account (RFC 4616), which must succeed (235)."""
        if not self.server.auth_user:
            raise ContextFailed("no account to log in with on this server")
        if "PLAIN" not in self.conn.session.auth_mechanisms:
            raise ContextFailed("the server offers no AUTH PLAIN here")
        secret = f"\0{self.server.auth_user}\0{self.server.auth_password}".encode()
        self.step(f"AUTH PLAIN {base64.b64encode(secret).decode()}")

    def start_tls(self) -> None:
        if self.server.tls is None or self.server.tls_problem:
            raise ContextFailed(self.server.tls_problem or "no STARTTLS for this server")
        self.step("STARTTLS")
        assert isinstance(self.sock, socket.socket)
        self.sock = self.server.tls.wrap_socket(self.sock, server_hostname=self.server.tls_name)


_CONTEXT_STEPS: dict[str, tuple[str, ...]] = {
    "greeted": (),
    "ehlo": ("EHLO client.test",),
    "helo": ("HELO client.test",),
    "mail": ("EHLO client.test", "MAIL FROM:<{sender}>"),
    "rcpt": ("EHLO client.test", "MAIL FROM:<{sender}>", "RCPT TO:<{user}@{domain}>"),
    "tls": ("<starttls>", "EHLO client.test"),
    # Inside TLS when the server can (most offer AUTH only there), then a successful AUTH.
    "auth": ("<starttls-if-offered>", "EHLO client.test", "<auth>"),
}


def run_case(server: CorpusServer, case: Case, timeout: float = 20.0) -> Outcome:
    """One case on a fresh connection; ContextFailed if the context could not be set up."""
    try:
        dialogue = _Dialogue(server, timeout)
    except OSError as exc:
        raise ContextFailed(f"connect: {exc}") from None
    try:
        dialogue.banner()
        for step in _CONTEXT_STEPS[case.context]:
            if step == "<starttls>" or (
                step == "<starttls-if-offered>" and server.tls and not server.tls_problem
            ):
                dialogue.step("EHLO client.test")
                dialogue.start_tls()
            elif step == "<auth>":
                dialogue.authenticate()
            elif not step.startswith("<"):
                dialogue.step(step)
        line = server.fill(case.command)
        session = dialogue.conn.session
        warnings = pre_send_warnings(session, line)  # what the shell would show
        predicted = tuple(w for w in warnings if w.startswith("expect "))
        notes = tuple(w for w in warnings if not w.startswith("expect "))
        unoffered = unoffered_extension(session, line)
        try:
            event = dialogue.send(line)
        except (OSError, ssl.SSLError) as exc:
            return Outcome(case, line, predicted, notes, f"(no reply: {exc})", True, unoffered)
        if event is None:
            return Outcome(case, line, predicted, notes, "(connection closed)", True, unoffered)
        reply = event.reply
        first = f"{reply.code} {reply.lines[0] if reply.lines else ''}".strip()
        return Outcome(
            case, line, predicted, notes, first, reply.klass not in (2, 3), unoffered
        )
    except (OSError, ssl.SSLError) as exc:
        raise ContextFailed(f"{type(exc).__name__}: {exc}") from None
    finally:
        dialogue.close()


def _attempt(server: CorpusServer, case: Case) -> Outcome | str:
    """The case's outcome, or why its context could not be set up. A context that timed
    out is tried again, up to three times in all (OpenSMTPD now and then stalls for seconds
    under load: two attempts both timed out in a full run beside other test runs)."""
    for attempt in (1, 2, 3):
        try:
            return run_case(server, case)
        except ContextFailed as exc:
            if "timed out" not in str(exc) or attempt == 3:
                return str(exc)
    raise AssertionError("unreachable")


def run_corpus(server: CorpusServer, cases: list[Case], workers: int = 8) -> Tally:
    """Every case on its own connection, several at a time (Exim under socat forks a
    process a connection; OpenSMTPD now and then takes 5 s to answer); results in corpus
    order."""
    tally = Tally(server.name)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(lambda case: _attempt(server, case), cases))
    for case, result in zip(cases, results, strict=True):
        if isinstance(result, str):
            tally.skipped.append((case, result))
        else:
            tally.outcomes.append(result)
    return tally


def report(tally: Tally) -> Iterator[str]:
    """The lines printed at the end of the test run for one server."""
    n = len(tally.outcomes)
    yield (
        f"{tally.server}: {n} commands · refused {tally.refusals}: predicted"
        f" {tally.count('hit')}, missed {tally.count('miss')}"
        f" ({100 * tally.recall:.1f} % predicted) · accepted {n - tally.refusals}:"
        f" quiet {tally.count('quiet')}, false alarms {tally.count('false alarm')},"
        f" warned and accepted though the RFCs forbid it {tally.count('lenient')}"
    )
    for outcome in tally.misses():
        yield (
            f"    not predicted ({outcome.case.context}): {outcome.line!r} ->"
            f" {outcome.reply[:64]} [{outcome.case.rfc}]"
        )
    for outcome in tally.false_alarms():
        said = (outcome.predicted + outcome.notes)[0]
        yield (
            f"    FALSE ALARM ({outcome.case.context}): {outcome.line!r} ->"
            f" {outcome.reply[:50]}; smtpsh said {said}"
        )
    lenient = [f"({o.case.context}) {o.line}" for o in tally.outcomes if o.verdict == "lenient"]
    if lenient:
        more = f" and {len(lenient) - 4} more" if len(lenient) > 4 else ""
        yield f"    accepted though warned (the server is lenient): {', '.join(lenient[:4])}{more}"
    reasons: dict[str, list[Case]] = {}
    for case, why in tally.skipped:
        reasons.setdefault(why, []).append(case)
    for why, skipped in reasons.items():
        contexts = sorted({case.context for case in skipped})
        yield f"    not run: {len(skipped)} commands ({', '.join(contexts)}): {why[:90]}"
