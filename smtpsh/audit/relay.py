"""`smtpsh relay HOST`: the 16 open-relay tests of nmap's smtp-open-relay.

Each test is RSET, MAIL FROM, RCPT TO; a recipient the server accepts for a domain that is
not its own means it relays. DATA is never sent, so nothing reaches a third party. The
connection is renewed before the server's error limit would tarpit us (see tarpit.py).
"""

from __future__ import annotations

import argparse
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from smtpsh.audit.common import (
    AUTHORISATION_NOTE,
    AuditError,
    Refused,
    Target,
    add_target_arguments,
    hang_up,
    open_session,
    run_main,
    target_from_args,
)
from smtpsh.audit.tarpit import ErrorBudget
from smtpsh.net.client import ConnectError, ConnectionClosedError, ReplyTimeout, SMTPClient
from smtpsh.output.printer import Fragments, print_error, report_printer
from smtpsh.protocol.codes import annotate
from smtpsh.protocol.replies import Reply
from smtpsh.target import UsageError

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


class Outcome(enum.Enum):
    RELAYED = "relayed"
    REFUSED = "refused"
    SENDER_REFUSED = "sender refused"
    AUTH_REQUIRED = "authentication required"
    NO_ANSWER = "no answer"


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
    note: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "test": self.case.number,
            "mail_from": self.case.mail_from,
            "rcpt_to": self.case.rcpt_to,
            "trick": self.case.trick,
            "outcome": self.outcome.value,
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

    @property
    def relayed(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome is Outcome.RELAYED]

    @property
    def open_relay(self) -> bool:
        return bool(self.relayed)

    @property
    def auth_required(self) -> bool:
        return any(r.outcome is Outcome.AUTH_REQUIRED for r in self.results)

    @property
    def unanswered(self) -> list[CaseResult]:
        return [r for r in self.results if r.outcome is Outcome.NO_ANSWER]

    @property
    def summary(self) -> str:
        total = len(RELAY_TESTS)
        if self.open_relay:
            return f"open relay ({len(self.relayed)}/{total} tests)"
        if self.auth_required:
            return "not an open relay: authentication required (530)"
        if self.unanswered:
            return (
                f"undetermined: {len(self.unanswered)} of {total} tests got no answer,"
                " none relayed"
            )
        return f"not an open relay (0/{total} tests relayed)"

    def as_dict(self) -> dict[str, object]:
        return {
            "open_relay": self.open_relay,
            "relayed": len(self.relayed),
            "tests": len(RELAY_TESTS),
            "summary": self.summary,
            "server_name": self.server_name,
            "address_literal": self.address_literal,
            "domain": self.domain,
            "results": [r.as_dict() for r in self.results],
        }


def address_literal(ip: str) -> str:
    """'192.0.2.1' -> '[192.0.2.1]', '::1' -> '[IPv6:::1]' (RFC 5321 §4.1.3)."""
    ip = ip.strip("[]")
    if ip.lower().startswith("ipv6:"):
        return f"[{ip}]"
    return f"[IPv6:{ip}]" if ":" in ip else f"[{ip}]"


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
    ) -> None:
        self.target = target
        self.config = config
        self.budget = budget or ErrorBudget()
        self.on_case = on_case or (lambda result: None)
        self.on_info = on_info or (lambda text: None)
        self.client: SMTPClient | None = None
        self.errors = 0  # negative replies on the current connection
        self.connections = 0
        self.server_name = ""
        self.peer_ip = ""

    async def _connect(self) -> SMTPClient:
        await self._close()
        try:
            client, banner, hello = await open_session(self.target)
        except (ConnectError, ConnectionClosedError, ReplyTimeout, Refused) as exc:
            raise AuditError(str(exc)) from None
        self.connections += 1
        self.errors = 0
        self.server_name = self.server_name or _server_name(banner, hello)
        if client.peer:
            self.peer_ip = client.peer[0]
        self.client = client
        return client

    async def _close(self) -> None:
        if self.client is not None:
            await hang_up(self.client, polite=not self.budget.exhausted(self.errors))
        self.client = None

    async def _ask(self, line: str) -> Reply:
        assert self.client is not None
        started = time.monotonic()
        reply = await self.client.command(line)
        errors_before = self.errors
        if reply.klass in (4, 5):
            self.errors += 1
        if self.budget.observe(time.monotonic() - started, errors_before):
            self.on_info(f"the server slowed down after {errors_before} errors: reconnecting")
            raise _Tarpitted  # every further reply here would be slow too: redo the test
        return reply

    async def run(self) -> RelayReport:
        started = time.monotonic()
        await self._connect()
        cfg = self.config
        literal = address_literal(cfg.ip or self.peer_ip or self.target.options.host)
        cases = build_cases(
            sender=cfg.sender, recipient=cfg.recipient, domain=cfg.domain,
            sender_domain=cfg.sender_domain or cfg.domain, server=self.server_name or literal,
            literal=literal,
        )
        report = RelayReport([], self.server_name or literal, literal, cfg.domain)
        try:
            for case in cases:
                result = await self._run_case(case)
                report.results.append(result)
                self.on_case(result)
                if result.outcome is Outcome.AUTH_REQUIRED:
                    break  # every later test would get the same 530
        finally:
            await self._close()
        report.connections = self.connections
        report.seconds = time.monotonic() - started
        return report

    async def _run_case(self, case: RelayCase) -> CaseResult:
        last_error = ""
        for attempt in range(3):
            # Each test can draw two errors (MAIL, RCPT): renew the connection first if the
            # budget would run out in the middle of it.
            fits = self.errors + 2 <= self.budget.limit
            if self.client is None or not self.client.connected or not fits:
                if attempt or self.client is not None:
                    self.on_info("new connection (staying under the server's error limit)")
                try:
                    await self._connect()
                except AuditError as exc:
                    last_error = str(exc)
                    continue
            try:
                return await self._dialogue(case)
            except _Tarpitted:
                last_error = "every attempt was slowed down by the server's tarpit"
                await self._close()
            except (ConnectionClosedError, ReplyTimeout) as exc:
                self.budget.on_lost(self.errors, "hung up")
                last_error = str(exc)
                await self._close()
        return CaseResult(case, Outcome.NO_ANSWER, note=last_error)

    async def _dialogue(self, case: RelayCase) -> CaseResult:
        result = CaseResult(case, Outcome.REFUSED)
        steps = (("RSET", None), (f"MAIL FROM:<{case.mail_from}>", Outcome.SENDER_REFUSED),
                 (f"RCPT TO:<{case.rcpt_to}>", Outcome.REFUSED))
        for line, refusal in steps:
            reply = await self._ask(line)
            if reply.code == 421:
                raise ConnectionClosedError(f"the server closed the session: {reply.text}")
            result.replies.append((line, reply))
            if reply.code == 530:
                result.outcome = Outcome.AUTH_REQUIRED
                return result
            if refusal is not None and reply.klass != 2:
                result.outcome = refusal
                if (reply.enhanced or "") in DOMAIN_REFUSALS:
                    result.note = (
                        f"the server refused the domain itself; use -D with a domain that"
                        f" receives mail to be sure ({reply.enhanced})"
                    )
                return result
        result.outcome = Outcome.RELAYED
        return result


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
    Outcome.SENDER_REFUSED: "green",
    Outcome.AUTH_REQUIRED: "green",
    Outcome.NO_ANSWER: "yellow",
}


def render_case(result: CaseResult) -> list[Fragments]:
    case = result.case
    lines: list[Fragments] = [
        [("class:bold", f"[{case.number:>2}/{len(RELAY_TESTS)}] {case.trick}")]
    ]
    for command, reply in result.replies:
        if command == "RSET" and reply.klass == 2:  # routine: one line
            lines.append([("class:dim", f"  C: RSET → {' '.join(reply.wire_lines())}")])
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
    parser.epilog = "exit status: 0 not an open relay, 1 open relay, 2 could not test"
    add_target_arguments(parser)
    rel = parser.add_argument_group("relay tests")
    rel.add_argument("--from", dest="sender", metavar="ADDR", default=DEFAULT_FROM,
                     help=f"sender local part, or local@domain (default {DEFAULT_FROM})")
    rel.add_argument("--to", dest="recipient", metavar="ADDR", default=DEFAULT_TO,
                     help=f"recipient local part, or local@domain (default {DEFAULT_TO})")
    rel.add_argument("-D", "--domain", metavar="DOMAIN",
                     help=f"outside domain to relay to (default {DEFAULT_DOMAIN}, or --to's)")
    rel.add_argument("--ip", metavar="IP", help="address for the [IP] tricks (default: the"
                     " server's address)")
    rel.add_argument("--json", action="store_true", help="print the results as JSON")
    rel.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour (default auto; NO_COLOR respected)")


def config_from_args(args: argparse.Namespace) -> RelayConfig:
    sender, sender_domain = split_address(args.sender)
    recipient, recipient_domain = split_address(args.recipient)
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
        print_error("smtpsh relay", str(exc))
        return 2
    return run_main(_main(target, config, args))


async def _main(target: Target, config: RelayConfig, args: argparse.Namespace) -> int:
    out = report_printer(args.color)

    def show(result: CaseResult) -> None:
        if not args.json:
            out.lines(render_case(result))

    def info(text: str) -> None:
        if not args.json:
            out.line(f"· {text}", "class:dim")

    runner = RelayRunner(target, config, on_case=show, on_info=info)
    if not args.json:
        out.line(f"relay tests against {target.options.host}:{target.options.port}"
                 f" (domain {config.domain}; never DATA)", "class:bold")
    try:
        report = await runner.run()
    except AuditError as exc:
        print_error("smtpsh relay", str(exc))
        return 2
    if args.json:
        print(json.dumps(report.as_dict(), indent=2))
    else:
        style = "red" if report.open_relay else ("yellow" if report.unanswered else "green")
        out.line(report.summary, f"class:{style}")
        out.line(f"· {len(report.results)} tests over {report.connections} connection(s)"
                 f" in {report.seconds:.2f} s", "class:dim")
    if report.open_relay:
        return 1
    return 2 if report.unanswered else 0
