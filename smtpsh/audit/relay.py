"""`smtpsh relay HOST`: the 16 open-relay tests of nmap's smtp-open-relay, with verdicts
that hold on servers other than Postfix.

Each test is RSET, MAIL FROM, RCPT TO; DATA is never sent, so nothing reaches a third
party. A test is *relayed* when the server accepts a recipient that routes to the outside
domain, *refused* when it refuses it, and *inconclusive* (with the reason) when its answer
says nothing: a trick addressed to one of the server's own domains that a random local part
there (the control recipient) also gets accepted for (a catch-all, such as Haraka's
`rcpt_to.in_host_list`), a sender nothing could replace, or no answer. A server that
refuses before RCPT (530: STARTTLS or AUTH first) could not be tested; when it offers
STARTTLS the tests run again inside TLS. The connection is renewed before the server's
error limit would tarpit us (see tarpit.py).
"""

from __future__ import annotations

import argparse
import enum
import ipaddress
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from smtpsh import exitcodes, flags, jsonout
from smtpsh.audit.common import (
    AUTHORISATION_NOTE,
    AuditError,
    Refused,
    Target,
    add_target_arguments,
    hang_up,
    open_session,
    random_name,
    target_from_args,
)
from smtpsh.audit.enum import needs_tls
from smtpsh.audit.tarpit import ErrorBudget
from smtpsh.net.client import ConnectError, ConnectionClosedError, ReplyTimeout, SMTPClient
from smtpsh.output.printer import Fragments, print_error, report_printer
from smtpsh.protocol.codes import annotate
from smtpsh.protocol.errors import SmtpshError
from smtpsh.protocol.replies import Reply
from smtpsh.target import UsageError, run_main

DEFAULT_FROM = "antispam"  # nmap's defaults, so results compare one to one
DEFAULT_TO = "relaytest"
DEFAULT_DOMAIN = "example.com"  # RFC 2606 reserved: never a real victim

# (MAIL FROM, RCPT TO, what the trick is). {F}/{T}: local parts, {FD}: sender domain,
# {D}: the test domain, {S}: the server's own name, {IP}: its address literal.
RELAY_TESTS: tuple[tuple[str, str, str], ...] = (
    ("", "{T}@{D}", "null sender"),
    ("{F}@{FD}", "{T}@{D}", "outside sender"),
    ("{F}@{S}", "{T}@{D}", "sender in the server's own name"),
    ("{F}@{IP}", "{T}@{D}", "sender at the server's address"),
    ("{F}@{IP}", "{T}%{D}@{IP}", "%-hack via the address"),
    ("{F}@{IP}", "{T}%{D}@{S}", "%-hack via the server's name"),
    ("{F}@{IP}", '"{T}@{D}"', "quoted address as local part"),
    ("{F}@{IP}", '"{T}%{D}"', "quoted %-hack"),
    ("{F}@{IP}", "{T}@{D}@{IP}", "double @ via the address"),
    ("{F}@{IP}", '"{T}@{D}"@{IP}', "quoted address at the server's address"),
    ("{F}@{IP}", "{T}@{D}@{S}", "double @ via the server's name"),
    ("{F}@{IP}", "@{IP}:{T}@{D}", "source route via the address"),
    ("{F}@{IP}", "@{S}:{T}@{D}", "source route via the server's name"),
    ("{F}@{IP}", "{D}!{T}", "bang path"),
    ("{F}@{IP}", "{D}!{T}@{IP}", "bang path at the server's address"),
    ("{F}@{IP}", "{D}!{T}@{S}", "bang path at the server's name"),
)

# Enhanced codes that say the *domain* was refused, not the relaying: the test domain should
# then be one that receives mail (-D), or an open relay stays hidden.
DOMAIN_REFUSALS = {"4.1.2", "5.1.2", "5.1.10", "4.1.8", "5.1.8"}


class _Tarpitted(Exception):
    """A reply came slowly after errors: the server's tarpit bit this connection."""


class _RefusedBeforeRcpt(Exception):
    """MAIL FROM got 530 (TLS or AUTH first): no test can reach RCPT on this session."""

    def __init__(self, command: str, reply: Reply) -> None:
        super().__init__(command)
        self.command = command
        self.reply = reply


class Outcome(enum.Enum):
    RELAYED = "relayed"
    REFUSED = "refused"
    INCONCLUSIVE = "inconclusive"


class Verdict(enum.Enum):
    """The run's verdict (its exit status: VERDICT_STATUS)."""

    CLOSED = 0  # every test refused
    OPEN = 1  # at least one test relayed
    COULD_NOT_TEST = 2  # refused before RCPT (or no session at all)
    INCONCLUSIVE = 3  # none relayed, some told nothing


# 2xx to MAIL FROM: alternatives tried, in order, when the test's own sender is refused
# (Exim refuses domain literals: `501 ...: domain literals not allowed`).
FALLBACK_SENDERS = ("{F}@{S}", "{F}@{FD}", "")


@dataclass(frozen=True)
class RelayCase:
    number: int
    mail_from: str
    rcpt_to: str
    trick: str


@dataclass
class CaseResult:
    case: RelayCase
    outcome: Outcome
    replies: list[tuple[str, Reply]] = field(default_factory=list)  # (command, reply)
    note: str = ""  # why: the reason of an inconclusive test, or what was changed
    sender: str | None = None  # the MAIL FROM used, when not the test's own

    def answer(self) -> tuple[str, Reply] | None:
        """The test's own RCPT and its reply: the first RCPT asked (a control RCPT for a
        random name may follow it, in the same transaction)."""
        rcpts = [(c, r) for c, r in self.replies if c.startswith("RCPT")]
        if rcpts:
            return rcpts[0]
        return self.replies[-1] if self.replies else None

    def as_dict(self) -> dict[str, object]:
        return {
            "test": self.case.number,
            "mail_from": self.case.mail_from,
            "rcpt_to": self.case.rcpt_to,
            "trick": self.case.trick,
            "outcome": self.outcome.value,
            **({"sender_used": self.sender} if self.sender is not None else {}),
            "dialogue": [
                {"command": cmd, "reply": reply.wire_lines()} for cmd, reply in self.replies
            ],
            **({"note": self.note} if self.note else {}),
        }


@dataclass
class RelayReport:
    results: list[CaseResult]
    server_name: str
    address_literal: str
    domain: str
    connections: int = 0
    seconds: float = 0.0
    could_not_test: str = ""  # why no test could reach RCPT
    notes: list[str] = field(default_factory=list)  # what the run changed, and why
    starttls: bool = False  # the tests ran inside STARTTLS
    controls: dict[str, tuple[str, Reply]] = field(default_factory=dict)  # domain -> control
    # The server's address when this client is on its own host or network (a loopback or
    # private address, reached directly): where servers relay by design.
    near: str = ""

    def of(self, outcome: Outcome) -> list[CaseResult]:
        return [r for r in self.results if r.outcome is outcome]

    @property
    def relayed(self) -> list[CaseResult]:
        return self.of(Outcome.RELAYED)

    @property
    def inconclusive(self) -> list[CaseResult]:
        return self.of(Outcome.INCONCLUSIVE)

    unanswered = inconclusive  # the name report.py knows

    @property
    def open_relay(self) -> bool:
        return bool(self.relayed)

    @property
    def verdict(self) -> Verdict:
        if self.could_not_test:
            return Verdict.COULD_NOT_TEST
        if self.relayed:
            return Verdict.OPEN
        if self.inconclusive or len(self.results) < len(RELAY_TESTS):
            return Verdict.INCONCLUSIVE
        return Verdict.CLOSED

    @property
    def summary(self) -> str:
        total = len(RELAY_TESTS)
        verdict = self.verdict
        if verdict is Verdict.COULD_NOT_TEST:
            return f"could not test: {self.could_not_test}"
        if verdict is Verdict.OPEN:
            return f"open relay ({len(self.relayed)}/{total} tests)"
        refused = len(self.of(Outcome.REFUSED))
        if verdict is Verdict.INCONCLUSIVE:
            return (f"inconclusive: {len(self.inconclusive)} of {total} tests told nothing,"
                    f" none relayed, {refused} refused")
        return f"not an open relay (0/{total} tests relayed, {refused} refused)"

    @property
    def caveat(self) -> str:
        """What the verdict cannot know: the tests end at RCPT (no message is ever sent)."""
        if self.verdict is not Verdict.OPEN:
            return ""
        caveat = (
            "caveat: an accepted RCPT is not a delivered message; DATA is never sent, so a"
            " server that refuses relaying at DATA or after it shows here as relaying:"
            " confirm with a message to a mailbox you own"
        )
        if self.near:
            caveat += (f"; and the tests came from the server's own {nearness(self.near)}:"
                       " servers relay for their own host and network by design (Postfix's"
                       " mynetworks, Exim's relay_from_hosts), so only the same tests from"
                       " outside that network tell an open relay")  # fmt: skip
        return caveat

    def as_dict(self) -> dict[str, object]:
        return {
            "verdict": self.verdict.name.lower().replace("_", " "),
            "caveat": self.caveat or None,
            "open_relay": self.open_relay,
            "relayed": len(self.relayed),
            "refused": len(self.of(Outcome.REFUSED)),
            "inconclusive": len(self.inconclusive),
            "tests": len(RELAY_TESTS),
            "summary": self.summary,
            "could_not_test": self.could_not_test or None,
            "notes": self.notes,
            "starttls": self.starttls,
            "server_name": self.server_name,
            "address_literal": self.address_literal,
            "domain": self.domain,
            "controls": {domain or "(no domain)": {"rcpt_to": rcpt, "reply": reply.wire_lines()}
                         for domain, (rcpt, reply) in self.controls.items()},
            "results": [r.as_dict() for r in self.results],
        }


def near_address(ip: str) -> bool:
    """Whether a server at ``ip`` is on this client's host (loopback) or, likely, its
    network (a private address reached directly: this client is inside it too)."""
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    return address.is_loopback or address.is_private


def nearness(ip: str) -> str:
    """How near a ``near_address`` is, for "the server's own ..."."""
    if ipaddress.ip_address(ip.split("%", 1)[0]).is_loopback:
        return f"host (loopback: {ip})"
    return f"network, it seems (a private address: {ip})"


def routing_domain(address: str) -> str | None:
    """The domain a server routes ``address`` by: after the last @ outside quotes, a
    source route dropped (RFC 5321 §4.1.2 lets servers ignore it); None if unqualified."""
    if address.startswith("@") and ":" in address:
        address = address.split(":", 1)[1]
    quoted, at = False, -1
    for i, char in enumerate(address):
        if char == '"':
            quoted = not quoted
        elif char == "@" and not quoted:
            at = i
    return address[at + 1:].lower() if at >= 0 else None


def deferred_relay_refusal(reply: Reply) -> bool:
    """A 4xx that refuses relaying (4.7.1 or "relay" in the text), not a greylisting or
    a passing trouble, which say nothing yet."""
    text = reply.text.lower()
    if "grey" in text or "gray" in text:
        return False
    return (reply.enhanced or "").startswith("4.7.") or "relay" in text



def address_literal(ip: str) -> str:
    """'192.0.2.1' -> '[192.0.2.1]', '::1' -> '[IPv6:::1]' (RFC 5321 §4.1.3)."""
    ip = ip.strip("[]")
    if ip.lower().startswith("ipv6:"):
        return f"[{ip}]"
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


def _is_ip(text: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(text.strip("[]"))
    except ValueError:
        return False
    return True


def split_address(value: str) -> tuple[str, str | None]:
    """'user@domain' -> ('user', 'domain'); 'user' -> ('user', None)."""
    local, at, domain = value.rpartition("@")
    return (local, domain) if at and local and domain else (value, None)


def build_cases(
    *, sender: str, recipient: str, domain: str, sender_domain: str, server: str, literal: str
) -> list[RelayCase]:
    values = {"F": sender, "T": recipient, "D": domain, "FD": sender_domain, "S": server,
              "IP": literal}
    return [
        RelayCase(i, mail.format(**values), rcpt.format(**values), trick)
        for i, (mail, rcpt, trick) in enumerate(RELAY_TESTS, start=1)
    ]


CaseCallback = Callable[[CaseResult], None]
InfoCallback = Callable[[str], None]


@dataclass
class RelayConfig:
    sender: str = DEFAULT_FROM
    recipient: str = DEFAULT_TO
    domain: str = DEFAULT_DOMAIN
    sender_domain: str | None = None
    ip: str | None = None  # default: the address we connected to


class RelayRunner:
    """Runs the 16 tests over as few connections as the server's error limit allows."""

    def __init__(
        self,
        target: Target,
        config: RelayConfig,
        *,
        budget: ErrorBudget | None = None,
        on_case: CaseCallback | None = None,
        on_info: InfoCallback | None = None,
        last_words: Callable[[SMTPClient], Awaitable[None]] | None = None,
    ) -> None:
        self.target = target
        # Run on the last connection once every test is done, before QUIT, if the error
        # budget leaves room (the probe checks the certificate there).
        self.last_words = last_words
        self.config = config
        self.budget = budget or ErrorBudget()
        self.on_case = on_case or (lambda result: None)
        self.on_info = on_info or (lambda text: None)
        self.client: SMTPClient | None = None
        self.errors = 0  # negative replies on the current connection
        self.connections = 0
        self.server_name = ""
        self.peer_ip = ""
        self.starttls_offered = False
        self.values: dict[str, str] = {}
        self.good_sender: str | None = None  # a MAIL FROM the server accepted
        # Senders MAIL took: the tests with them go in one write (PIPELINING).
        self.accepted_senders: set[str] = set()
        # Senders MAIL refused when another was taken, each with the test that saw it and
        # the refusal as it was said (`MAIL FROM:<...> → 501 ...`): a later test with one
        # is run with the good sender straight away, the earlier refusal kept as its
        # evidence. Sending a sender known to be refused again would only draw an error a
        # test (and, on Exim, count towards smtp_max_synprot_errors), so a connection
        # would hold fewer tests.
        self.refusals: dict[str, tuple[int, str]] = {}
        self.controls: dict[str | None, tuple[str, Reply]] = {}  # routing domain -> control
        # The next test's RSET and MAIL, sent behind this test's RCPT on this connection:
        # (connection, the MAIL line, their replies); see _dialogue.
        self._ahead: tuple[SMTPClient, str, list[Reply]] | None = None

    async def _connect(self) -> SMTPClient:
        await self._close()
        try:
            client, banner, hello = await open_session(self.target)
        except (ConnectError, ConnectionClosedError, ReplyTimeout, Refused) as exc:
            raise AuditError(str(exc)) from None
        self.connections += 1
        self.errors = 0
        self.server_name = self.server_name or _server_name(banner, hello)
        self.starttls_offered = client.session.advertises("STARTTLS") or self.starttls_offered
        connector = self.target.options.connector
        if client.peer and not (connector is not None and connector.tunnelled):
            self.peer_ip = client.peer[0]
        self.client = client
        self._ahead = None
        return client

    async def _last_words(self) -> None:
        client = self.client
        if (self.last_words is None or client is None or not client.connected
                or self.budget.exhausted(self.errors)):
            return
        try:
            await self.last_words(client)
        except SmtpshError:
            await self._close()  # the tests are done: only the extra look was lost

    async def _close(self) -> None:
        if self.client is not None:
            await hang_up(self.client, polite=not self.budget.exhausted(self.errors))
        self.client = None
        self._ahead = None

    async def _ask(self, line: str) -> Reply:
        assert self.client is not None
        started = time.monotonic()
        reply = await self.client.command(line)
        return self._check(reply, time.monotonic() - started)

    async def _ask_group(
        self, lines: Sequence[str], replies: list[Reply] | None = None
    ) -> list[Reply]:
        """Several commands in one write (the server offers PIPELINING, RFC 2920), each
        reply checked as _ask checks one: a test costs one round trip instead of three.
        The replies are appended to ``replies`` as they come, so a caller still has those
        that came before a tarpit or a hang-up raised."""
        assert self.client is not None
        started = time.monotonic()
        commands = await self.client.send_lines(lines)
        replies = [] if replies is None else replies
        taken = len(replies)
        try:
            for command in commands:
                event = await self.client.reply_to(command)
                now = time.monotonic()
                replies.append(self._check(event.reply, now - started))
                started = now
        finally:
            self.client.forget(*commands[len(replies) - taken:])
        return replies

    def _check(self, reply: Reply, latency: float) -> Reply:
        """Count an error, notice the tarpit (a reply slow after errors) and a 421."""
        errors_before = self.errors
        if reply.klass in (4, 5):
            self.errors += 1
        if self.budget.observe(latency, errors_before):
            self.on_info(f"the server slowed down after {errors_before} errors: reconnecting")
            raise _Tarpitted  # every further reply here would be slow too: redo the test
        if reply.code == 421:
            raise ConnectionClosedError(f"the server closed the session: {reply.text}")
        return reply

    async def run(self) -> RelayReport:
        started = time.monotonic()
        await self._connect()
        cfg = self.config
        host = self.target.options.host
        if not (cfg.ip or self.peer_ip or _is_ip(host)):
            self.on_info(
                "through the SOCKS proxy the server's IP address is not known here (the proxy"
                f" resolved {host}): the [IP] tests use [{host}]; give --ip ADDR for them"
            )
        literal = address_literal(cfg.ip or self.peer_ip or host)
        self.values = {"F": cfg.sender, "FD": cfg.sender_domain or cfg.domain,
                       "S": self.server_name or literal}
        cases = build_cases(
            sender=cfg.sender, recipient=cfg.recipient, domain=cfg.domain,
            sender_domain=cfg.sender_domain or cfg.domain, server=self.server_name or literal,
            literal=literal,
        )
        report = RelayReport([], self.server_name or literal, literal, cfg.domain)
        try:
            while True:
                try:
                    pending = list(cases)
                    while pending:
                        done = await self._run_batch(pending)
                        if not done:
                            following = pending[1] if len(pending) > 1 else None
                            done = [(await self._run_case(pending[0], following), True)]
                        for result, decided in done:
                            if not decided:
                                result = await self._decide(result)
                            report.results.append(result)
                            self.on_case(result)
                        del pending[:len(done)]
                    await self._last_words()
                    break
                except _RefusedBeforeRcpt as refused:
                    said = f"{refused.command} → {' | '.join(refused.reply.wire_lines())}"
                    if self.target.starttls or not self.starttls_offered:
                        how = ("even inside TLS" if self.target.starttls
                               else "and it offers no STARTTLS")
                        report.could_not_test = (f"the server refuses before RCPT ({said})"
                                                 f" {how}; authenticate first to test")
                        break
                    note = (f"the server refuses before RCPT without TLS ({said}); it offers"
                            " STARTTLS: the tests run again inside TLS")
                    self.on_info(note)
                    report.notes.append(note)
                    report.results.clear()
                    # What the server said of senders in clear may not hold inside TLS.
                    self.accepted_senders.clear()
                    self.refusals.clear()
                    self.good_sender = None
                    await self._close()
                    self.target = Target(self.target.options, self.target.helo, starttls=True)
                    report.starttls = True
                    await self._connect()
        finally:
            await self._close()
        reached = [r for r in report.results
                   if any(command.startswith("RCPT") for command, _ in r.replies)]
        if report.results and not reached:
            report.could_not_test = "no test reached RCPT: " + report.results[0].note
        report.controls = {domain or "": control for domain, control in self.controls.items()}
        # Only a direct connection: through SOCKS the server sees the proxy, behind a PROXY
        # header the address it claims.
        if (self.target.options.connector is None and self.peer_ip
                and near_address(self.peer_ip)):
            report.near = self.peer_ip
        report.connections = self.connections
        report.seconds = time.monotonic() - started
        return report

    def _draws(self, case: RelayCase) -> int:
        """The most errors ``case`` can draw as things stand: its RCPT; a control RCPT for
        a trick addressed to a domain whose control is not known yet; and, for a sender
        not seen yet, its MAIL and each fallback MAIL that may follow it."""
        sender = case.mail_from
        if sender in self.accepted_senders or (
            sender in self.refusals and self.good_sender is not None
        ):
            mails = 0
        elif self.good_sender is not None:
            mails = 1  # its own MAIL; the good sender follows if it is refused
        else:
            mails = 1 + len(FALLBACK_SENDERS)
        if self._ahead is not None and self._ahead[1] == f"MAIL FROM:<{sender}>":
            mails -= 1  # its MAIL went ahead and its error, if any, is counted already
        domain = routing_domain(case.rcpt_to)
        control = domain != self.config.domain.lower() and domain not in self.controls
        return mails + 1 + int(control)

    async def _run_case(
        self, case: RelayCase, following: RelayCase | None = None
    ) -> CaseResult:
        last_error = ""
        for attempt in range(3):
            # Renew the connection first if the budget would run out in the middle of the
            # test (what it can draw, not a flat allowance: a connection then holds ~10
            # tests on a server that refuses each RCPT with an error, not 7).
            fits = self.errors + self._draws(case) <= self.budget.limit
            if self.client is None or not self.client.connected or not fits:
                if attempt or self.client is not None:
                    self.on_info("new connection (staying under the server's error limit)")
                try:
                    await self._connect()
                except AuditError as exc:
                    last_error = str(exc)
                    continue
            try:
                return await self._dialogue(case, following)
            except _Tarpitted:
                last_error = "every attempt was slowed down by the server's tarpit"
                await self._close()
            except (ConnectionClosedError, ReplyTimeout) as exc:
                self.budget.on_lost(self.errors, "hung up")
                last_error = str(exc)
                await self._close()
        return CaseResult(case, Outcome.INCONCLUSIVE, note=f"no answer: {last_error}")

    async def _mail(self, result: CaseResult) -> Reply | None:
        """MAIL FROM with the test's sender, else with one the server accepts; None (and
        the result made inconclusive) when every sender is refused. A sender refused in an
        earlier test is not sent again: the good sender is, and the refusal seen then is
        the evidence."""
        evidence = self.refusals.get(result.case.mail_from)
        line = f"MAIL FROM:<{result.case.mail_from}>"
        if evidence is not None and self.good_sender is not None:
            sender = self.good_sender
            good = f"MAIL FROM:<{sender}>"
            reply = await self._reset_and_mail(result, good)
            if reply.klass == 2:
                self._swapped(result, sender, evidence)
                return reply
            # The sender taken before is refused now: find out afresh, the long way.
            self.good_sender = None
            self.accepted_senders.discard(sender)
            self.refusals.clear()
            reply = await self._ask(line)
            result.replies.append((line, reply))
        else:
            reply = await self._reset_and_mail(result, line)
        if needs_tls(reply):
            raise _RefusedBeforeRcpt(line, reply)
        if reply.klass == 2:
            self.accepted_senders.add(result.case.mail_from)
            return reply
        first = f"{line} → {' | '.join(reply.wire_lines())}"
        candidates = ([self.good_sender] if self.good_sender is not None else
                      [s.format(**self.values) for s in FALLBACK_SENDERS])
        for sender in candidates:
            if sender == result.case.mail_from:
                continue
            line = f"MAIL FROM:<{sender}>"
            reply = await self._ask(line)
            result.replies.append((line, reply))
            if reply.klass == 2:
                self.good_sender = sender
                self.accepted_senders.add(sender)
                self.refusals[result.case.mail_from] = (result.case.number, first)
                result.sender = sender
                result.note = f"sender refused ({first}); tested with <{sender}> instead"
                return reply
        result.outcome = Outcome.INCONCLUSIVE
        result.note = f"the sender was refused and no other was accepted ({first})"
        return None

    async def _reset_and_mail(self, result: CaseResult, mail: str) -> Reply:
        """RSET and ``mail``, in one write where the server offers PIPELINING (RFC 2920
        lets both go ahead of their replies); the MAIL's reply. The RCPT waits for it: a
        MAIL refused here is answered by trying other senders, and a RCPT sent with it
        would only draw a 503 (an error towards the server's limits) and tell nothing."""
        assert self.client is not None
        ahead, self._ahead = self._ahead, None
        if ahead is not None and ahead[0] is self.client and ahead[1] == mail:
            replies = ahead[2]  # sent behind the previous test's RCPT
        elif self.client.session.advertises("PIPELINING"):
            replies = await self._ask_group(["RSET", mail])
        else:
            replies = [await self._ask("RSET")]
            replies.append(await self._ask(mail))
        result.replies += [("RSET", replies[0]), (mail, replies[1])]
        return replies[1]

    async def _dialogue(self, case: RelayCase, following: RelayCase | None) -> CaseResult:
        """The test one step at a time: RSET and MAIL (its sender, else one the server
        takes), then RCPT, and the control RCPT in the same transaction if it takes one.
        Where nothing can follow the RCPT in this transaction, the ``following`` test's
        RSET and MAIL go in the same write when its sender is new (see _ahead_of)."""
        result = CaseResult(case, Outcome.REFUSED)
        if await self._mail(result) is None:
            return result
        line = f"RCPT TO:<{case.rcpt_to}>"
        mail = self._ahead_of(case, following)
        if mail is None:
            reply = await self._ask(line)
        else:
            assert self.client is not None
            replies = await self._ask_group([line, "RSET", mail])
            reply = replies[0]
            self._ahead = (self.client, mail, replies[1:])
        result.replies.append((line, reply))
        if not self._judge(result, reply):
            await self._control(routing_domain(case.rcpt_to), result)
            self._judge(result, reply)
        return result

    def _ahead_of(self, case: RelayCase, following: RelayCase | None) -> str | None:
        """The MAIL line of the ``following`` test if its RSET and MAIL may go behind this
        test's RCPT (RFC 2920 lets all three go ahead of their replies): the server offers
        PIPELINING, the following test's sender is new (a known one goes in a batch), no
        control RCPT can be needed after this RCPT (its domain is the test domain, or its
        control is known), and the connection's budget holds both tests. Else None."""
        if following is None or self.client is None:
            return None
        if not self.client.session.advertises("PIPELINING"):
            return None
        if self._known_sender(following) is not None:
            return None
        domain = routing_domain(case.rcpt_to)
        if domain != self.config.domain.lower() and domain not in self.controls:
            return None
        if self.errors + 1 + self._draws(following) > self.budget.limit:
            return None
        return f"MAIL FROM:<{following.mail_from}>"

    def _judge(self, result: CaseResult, reply: Reply) -> bool:
        """The test's outcome from its RCPT's ``reply``; False (nothing decided) when the
        recipient was accepted at a domain whose control RCPT has not been asked yet."""
        if reply.klass == 4:
            if not deferred_relay_refusal(reply):
                result.outcome = Outcome.INCONCLUSIVE
                result.note = f"a temporary refusal, not an answer ({reply.code})"
                return True
            # Postfix's stock defer_unauth_destination: `454 4.7.1 <...>: Relay access
            # denied` refuses relaying as surely as a 554 (it only leaves a sender that
            # is misconfigured a chance to retry); retrying never makes it relay.
            code = " ".join(filter(None, (str(reply.code), reply.enhanced)))
            result.note = f"refused with a temporary code ({code})"
            return True
        if reply.klass != 2:
            if (reply.enhanced or "") in DOMAIN_REFUSALS:
                result.note = (
                    f"the server refused the domain itself; use -D with a domain that"
                    f" receives mail to be sure ({reply.enhanced})"
                )
            return True
        domain = routing_domain(result.case.rcpt_to)
        if domain == self.config.domain.lower():
            result.outcome = Outcome.RELAYED
            return True
        # Addressed to one of the server's own domains (or to no domain): accepted means
        # relayed only if a random local part there is refused.
        if domain not in self.controls:
            return False
        control, control_reply = self.controls[domain]
        random = f"a random local part at {domain}" if domain else "a random bare local part"
        if control_reply.klass == 2:
            result.outcome = Outcome.INCONCLUSIVE
            result.note = (f"{random} is accepted too (control <{control}> →"
                           f" {control_reply.code}: a catch-all), so accepting this says nothing"
                           " about relaying")
        else:
            result.outcome = Outcome.RELAYED
            result.note = (f"{random} is refused (control <{control}> → {control_reply.code}),"
                           " this one accepted: the server routes the trick")
        return True

    def _known_sender(self, case: RelayCase) -> str | None:
        """The MAIL FROM ``case`` can be sent with unseen: its own sender if the server took
        it before, the good sender if it refused the case's own in an earlier test; None
        when the case's sender has not been tried yet."""
        own = case.mail_from
        if own in self.accepted_senders:
            return own
        if own in self.refusals and self.good_sender is not None:
            return self.good_sender
        return None

    async def _decide(self, result: CaseResult) -> CaseResult:
        """A test of a batch whose recipient was accepted at a domain whose control was not
        known then: judged now if an earlier test has since asked that control (a property
        of the server, not of one transaction), else run again one step at a time, the
        control RCPT in its transaction (the batch's answers are then not its result)."""
        answer = result.answer()
        assert answer is not None
        if self._judge(result, answer[1]):
            return result
        return await self._run_case(result.case)

    async def _run_batch(
        self, pending: Sequence[RelayCase]
    ) -> list[tuple[CaseResult, bool]]:
        """The tests at the head of ``pending`` whose sender the server is known to take,
        in one write where it offers PIPELINING (RFC 2920 lets RSET, MAIL and RCPT all go
        ahead of their replies): RSET, MAIL, RCPT for each, as many as the error budget
        holds (each draws at most its refused RCPT). Twelve tests then cost a round trip or
        two instead of twelve. The results of the tests answered in full, in order, up to
        the first whose sender was refused this time or that a tarpit or a hang-up cut
        short ([] when none was: the caller runs the next test one step at a time), each
        with whether it is decided: a recipient accepted at a domain whose control is not
        known yet is not (see _decide)."""
        batch: list[tuple[RelayCase, str]] = []
        for case in pending:
            sender = self._known_sender(case)
            if sender is None:
                break
            batch.append((case, sender))
        client = self.client
        if not batch or client is None or not client.connected:
            return []
        if self.budget.exhausted(self.errors):
            self.on_info("new connection (staying under the server's error limit)")
            try:
                client = await self._connect()
            except AuditError:
                return []  # the test one step at a time tries again, and says why
        if not client.session.advertises("PIPELINING"):
            return []
        batch = batch[:self.budget.limit - self.errors]
        lines = [line for case, sender in batch
                 for line in ("RSET", f"MAIL FROM:<{sender}>", f"RCPT TO:<{case.rcpt_to}>")]
        replies: list[Reply] = []
        try:
            await self._ask_group(lines, replies)
        except _Tarpitted:
            await self._close()
        except (ConnectionClosedError, ReplyTimeout):
            self.budget.on_lost(self.errors, "hung up")
            await self._close()
        results: list[tuple[CaseResult, bool]] = []
        for index, (case, sender) in enumerate(batch):
            answered = replies[3 * index:3 * index + 3]
            if len(answered) < 3:
                break
            if answered[1].klass != 2:
                # Refused now although taken before: find out afresh, one step at a time
                # (this attempt's answers are not part of the result).
                self.accepted_senders.discard(sender)
                if sender == self.good_sender:
                    self.good_sender = None
                    self.refusals.clear()
                break
            result = CaseResult(case, Outcome.REFUSED)
            if sender != case.mail_from:
                self._swapped(result, sender, self.refusals[case.mail_from])
            result.replies += list(zip(lines[3 * index:3 * index + 3], answered, strict=True))
            results.append((result, self._judge(result, answered[2])))
        return results

    def _swapped(self, result: CaseResult, sender: str, evidence: tuple[int, str]) -> None:
        """The test ran with ``sender`` because its own was refused in an earlier test."""
        number, said = evidence
        result.sender = sender
        result.note = (f"sender refused in test {number} ({said}), not sent again; tested"
                       f" with <{sender}> instead")

    async def _control(self, domain: str | None, result: CaseResult) -> tuple[str, Reply]:
        """The answer for a random local part at ``domain``, in the open transaction."""
        if domain not in self.controls:
            name = random_name()
            control = f"{name}@{domain}" if domain else name
            line = f"RCPT TO:<{control}>"
            reply = await self._ask(line)
            result.replies.append((line, reply))
            self.controls[domain] = (control, reply)
        return self.controls[domain]


def _server_name(banner: Reply, hello: Reply) -> str:
    """The server's name as nmap takes it: first word of the banner, else of the EHLO reply."""
    for reply in (banner, hello):
        if reply.lines:
            word = reply.lines[0].split(" ", 1)[0]
            if word and (word[0].isalnum()) and all(c.isalnum() or c in ".-" for c in word):
                return word
    return ""


# --- rendering ---------------------------------------------------------------------------

OUTCOME_STYLE = {
    Outcome.RELAYED: "red",
    Outcome.REFUSED: "green",
    Outcome.INCONCLUSIVE: "yellow",
}


def render_line(result: CaseResult) -> Fragments:
    """One line a test, the verdict first: what was asked and what the server said."""
    case = result.case
    verdict = result.outcome.value.upper() if result.outcome is Outcome.RELAYED else (
        result.outcome.value)
    command, reply = result.answer() or ("", None)
    said = f"{command} → {reply.wire_lines()[0]}" if reply is not None else ""
    line: Fragments = [(f"class:{OUTCOME_STYLE[result.outcome]}", f"{verdict:<12}"),
                       ("", f" [{case.number:>2}/{len(RELAY_TESTS)}] {case.trick}: {said}")]
    if result.note:
        line.append(("class:dim", f" ({result.note})"))
    return line


def render_case(result: CaseResult) -> list[Fragments]:
    case = result.case
    lines: list[Fragments] = [
        [("class:bold", f"[{case.number:>2}/{len(RELAY_TESTS)}] {case.trick}")]
    ]
    for command, reply in result.replies:
        if command == "RSET" and reply.klass == 2:  # routine: one line
            lines.append([("class:dim", f"  C: RSET → {reply.one_line()}")])
            continue
        lines.append([("", f"  C: {command}")])
        lines.extend([("", f"  S: {text}")] for text in reply.wire_lines())
        if reply.code:
            verb = command.split(" ", 1)[0].split(":", 1)[0].upper()
            gloss = annotate(reply.code, reply.enhanced, verb=verb, text=reply.text)
            lines.append([("class:dim", f"     ↳ {gloss}")])
    verdict = result.outcome.value.upper() if result.outcome is Outcome.RELAYED else (
        result.outcome.value)
    lines.append([("", "  → "), (f"class:{OUTCOME_STYLE[result.outcome]}", verdict)])
    if result.note:
        lines.append([("class:yellow", f"  ! {result.note}")])
    return lines


# --- the sub-command ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Run nmap's 16 open-relay tests (MAIL FROM / RCPT TO tricks; RSET between tests, "
        "never DATA, so nothing is sent to anyone). " + AUTHORISATION_NOTE
    )
    parser.epilog = (
        "output: one line a test, the verdict first (relayed / refused / inconclusive and"
        " why); -v shows each test's whole dialogue.")
    add_target_arguments(parser)
    rel = parser.add_argument_group("relay tests")
    rel.add_argument("--from", dest="sender", metavar="ADDR", default=DEFAULT_FROM,
                     help=f"sender local part, or local@domain (default {DEFAULT_FROM})")
    rel.add_argument("--to", dest="to", metavar="ADDR", default=DEFAULT_TO,
                     help=f"recipient local part, or local@domain (default {DEFAULT_TO})")
    flags.add_domain(rel, f"outside domain to relay to (default {DEFAULT_DOMAIN}, or --to's)")
    rel.add_argument("--ip", metavar="IP", help="address for the [IP] tricks (default: the"
                     " server's address)")
    flags.add_json(rel, "the results")
    rel.add_argument("-v", "--verbose", action="store_true",
                     help="each test's whole dialogue instead of one line a test")
    flags.add_colour(rel)
    flags.add_targets(parser)


def config_from_args(args: argparse.Namespace) -> RelayConfig:
    sender, sender_domain = split_address(args.sender)
    recipient, recipient_domain = split_address(args.to)
    domain = args.domain or recipient_domain or DEFAULT_DOMAIN
    for label, value in (("--from", sender), ("--to", recipient), ("-D", domain)):
        if not value or any(c.isspace() or c in "<>" for c in value):
            raise UsageError(f"bad {label} '{value}': no spaces or angle brackets")
    return RelayConfig(sender, recipient, domain, sender_domain, args.ip)


def run(args: argparse.Namespace) -> int:
    try:
        target = target_from_args(args)
        config = config_from_args(args)
    except UsageError as exc:
        if args.json:
            return jsonout.emit("relay", args.target, exc.exit_status, error=("usage", str(exc)))
        print_error("smtpsh relay", str(exc))
        return exc.exit_status
    return run_main(_main(target, config, args))


async def _main(target: Target, config: RelayConfig, args: argparse.Namespace) -> int:
    out = report_printer(args.color)

    def show(result: CaseResult) -> None:
        if args.json:
            return
        out.lines(render_case(result) if args.verbose else [render_line(result)])

    def info(text: str) -> None:
        if not args.json:
            out.line(f"· {text}", "class:dim")

    runner = RelayRunner(target, config, on_case=show, on_info=info)
    if not args.json:
        out.line(f"relay tests against {target.options.host}:{target.options.port}"
                 f" (domain {config.domain}; never DATA)", "class:bold")
    where = f"{target.options.host}:{target.options.port}"
    try:
        report = await runner.run()
    except AuditError as exc:
        print_error("smtpsh relay", str(exc))
        if args.json:
            jsonout.emit("relay", where, exc.exit_status, error=(exc.fault, str(exc)))
        return exc.exit_status
    verdict = report.verdict
    status = VERDICT_STATUS[verdict]
    if args.json:
        return jsonout.emit("relay", where, status, report.as_dict())
    else:
        style = {Verdict.OPEN: "red", Verdict.CLOSED: "green"}.get(verdict, "yellow")
        out.line(report.summary, f"class:{style}")
        if report.caveat:
            out.line(report.caveat, "class:yellow")
        out.line(f"· {len(report.results)} tests over {report.connections} connection(s)"
                 f" in {report.seconds:.2f} s", "class:dim")
    return status


# The run's verdict as an exit status of smtpsh.exitcodes.
VERDICT_STATUS = {
    Verdict.CLOSED: exitcodes.OK,
    Verdict.OPEN: exitcodes.FOUND,
    Verdict.INCONCLUSIVE: exitcodes.UNDETERMINED,
    Verdict.COULD_NOT_TEST: exitcodes.FAILED,
}
