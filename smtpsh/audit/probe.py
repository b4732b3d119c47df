"""`smtpsh probe HOST` (and `/probe` in the shell): one footprint of an SMTP service.

Banner and the software it names, EHLO capabilities, HELP, STARTTLS (offered, works,
required, the certificate), AUTH mechanisms before and after TLS, whether VRFY and EXPN
tell users apart, the 16 open-relay tests and, when AUTH NTLM is offered, what the NTLM
challenge reveals. report.py turns the result into findings, text and JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from smtpsh import exitcodes, flags, jsonout
from smtpsh.audit.common import (
    AUTHORISATION_NOTE,
    AuditError,
    Refused,
    Target,
    add_target_arguments,
    greet,
    hang_up,
    random_name,
    target_from_args,
)
from smtpsh.audit.enum import (
    POLICY_TEXT,
    REFERENCE_NAMES,
    Verdict,
    bare_name_refused,
    classify,
    needs_tls,
    tells_apart,
)
from smtpsh.audit.fingerprint import Guess, best, fingerprint, reply_text
from smtpsh.audit.relay import RelayConfig, RelayReport, RelayRunner, near_address
from smtpsh.audit.report import Line, exit_status, render_json, render_text
from smtpsh.audit.software import Software, add_found, identify
from smtpsh.net.client import (
    ClientOptions,
    ConnectError,
    ConnectionClosedError,
    ReplyTimeout,
    SMTPClient,
)
from smtpsh.net.tls import TLSSettings, make_context
from smtpsh.output.printer import print_error, report_printer
from smtpsh.protocol.ntlm import NTLMError, NTLMInfo, decode_challenge_line, negotiate_line
from smtpsh.protocol.replies import Reply
from smtpsh.target import UsageError, run_main

# The names VRFY/EXPN are asked about beside the impossible one: root, as enum asks, then
# postmaster, which RFC 5321 §4.5.1 makes every mail domain accept. Asked at the same
# domain as the impossible name (Exim wants NAME@DOMAIN), so the two answers compare: Exim
# answers `550 Unrouteable address` for root and the canary alike, and `250 <postmaster@…>
# is deliverable` (EXPN: its members) for postmaster. (enum never uses postmaster as
# evidence that a *method* works: there the canary may be refused for its form alone.)
PROBE_REFERENCES = (*REFERENCE_NAMES, "postmaster")


@dataclass
class VerbCheck:
    """How the server answers VRFY or EXPN for an impossible name and for real-looking ones."""

    verb: str
    # reveals | same-answer | inconclusive | unsupported | prohibited | refused | not tried
    state: str = "not tried"
    why: str = ""  # how the state was decided, when the replies alone do not show it
    canary: tuple[str, Reply] | None = None
    reference: tuple[str, Reply] | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "state": self.state,
            **{key: {"name": pair[0], "reply": pair[1].wire_lines()}
               for key, pair in (("canary", self.canary), ("reference", self.reference))
               if pair is not None},
        }


@dataclass
class TLSResult:
    offered: bool = False
    implicit: bool = False
    works: bool | None = None
    reply: Reply | None = None  # the answer to STARTTLS
    error: str = ""  # why the handshake (or STARTTLS) failed
    verified: bool | None = None
    verify_error: str = ""  # the certificate did not verify (the session was redone without)
    version: str | None = None
    cipher: str | None = None
    lines: list[str] = field(default_factory=list)  # certificate summary, one fact a line
    problems: list[str] = field(default_factory=list)
    summary_source: str = ""  # how the certificate summary was made
    required: bool | None = None  # MAIL refused in clear (530) before STARTTLS
    required_evidence: Reply | None = None

    def as_dict(self) -> dict[str, object]:
        return {
            "offered": self.offered,
            "implicit": self.implicit,
            "works": self.works,
            "error": self.error or None,
            "verified": self.verified,
            "verify_error": self.verify_error or None,
            "version": self.version,
            "cipher": self.cipher,
            "certificate": self.lines,
            "problems": self.problems,
            "required": self.required,
        }


@dataclass
class ProbeReport:
    host: str
    port: int
    banner: Reply | None = None
    banner_ms: float | None = None
    server_name: str = ""
    hello: Reply | None = None
    esmtp: bool = False
    capabilities: dict[str, str] = field(default_factory=dict)
    capabilities_tls: dict[str, str] | None = None
    help: Reply | None = None
    software: list[Software] = field(default_factory=list)
    tls: TLSResult = field(default_factory=TLSResult)
    auth_plain: list[str] = field(default_factory=list)
    auth_tls: list[str] | None = None
    # AUTH offered in clear, tried there without credentials: (mechanism, the reply).
    auth_clear: tuple[str, Reply] | None = None
    vrfy: VerbCheck = field(default_factory=lambda: VerbCheck("VRFY"))
    expn: VerbCheck = field(default_factory=lambda: VerbCheck("EXPN"))
    relay: RelayReport | None = None
    relay_error: str = ""
    ntlm: NTLMInfo | None = None
    ntlm_error: str = ""
    problems: list[str] = field(default_factory=list)  # steps that could not be done
    fatal: str = ""  # nothing could be probed
    observations: dict[str, str] = field(default_factory=dict)  # for the fingerprint
    guesses: list[Guess] = field(default_factory=list)  # MTA families, most likely first
    # The server's address when it is on this client's host or network (reached directly):
    # what a server offers there (AUTH in clear, relaying) it may not offer the internet.
    near: str = ""

    @property
    def family(self) -> Guess | None:
        """The MTA family named from behaviour (None: not sure enough)."""
        return best(self.guesses)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _describe_tls(
    client: SMTPClient, context: ssl.SSLContext, name: str, result: TLSResult
) -> None:
    """Session and certificate summary: smtpsh.net.certinfo when present, else the basics."""
    obj = client.ssl_object
    if obj is None:
        return
    result.version = obj.version()
    cipher = obj.cipher()
    result.cipher = cipher[0] if cipher else None
    try:
        from smtpsh.net import certinfo
    except ImportError:
        certinfo = None  # type: ignore[assignment]
    if certinfo is not None:
        # The client read the session when TLS began (the same context and name).
        info = client.tls_info or certinfo.session_info(obj, context, name)
        result.lines = [text.strip() for text, _level in certinfo.summary_lines(info)]
        if info.leaf is not None:  # what DANE (RFC 7672) would publish for this server
            result.lines += [line.strip() for line in certinfo.tlsa_lines(info.leaf, usage=3)]
        result.problems = info.problems()
        result.summary_source = "smtpsh.net.certinfo"
        return
    cert: dict[str, Any] = obj.getpeercert() or {}
    subject = ", ".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)
    issuer = ", ".join(f"{k}={v}" for rdn in cert.get("issuer", ()) for k, v in rdn)
    result.lines = [f"TLS {result.version}, {result.cipher}"]
    if cert:
        result.lines += [f"certificate: {subject}", f"issuer: {issuer}",
                         f"valid until: {cert.get('notAfter', '?')}"]
    result.summary_source = "minimal (ssl module; details only for verified certificates)"


_UNVERIFIED: list[ssl.SSLContext] = []


def _unverified_context() -> ssl.SSLContext:
    """The context of a second look without verification: one for the process (a context
    costs about a millisecond to make, and a probe of many hosts needs one for each whose
    certificate does not verify)."""
    if not _UNVERIFIED:
        _UNVERIFIED.append(make_context(TLSSettings(verify=False)))
    return _UNVERIFIED[0]


def _verify_error(
    failure: ssl.SSLCertVerificationError, options: ClientOptions, client: SMTPClient
) -> str:
    """Why the certificate did not verify, with what the unverified session shows of it."""
    from smtpsh.net import certinfo

    leaf = client.tls_info.leaf if client.tls_info is not None else None
    return certinfo.describe_verify_error(failure, options.server_hostname or options.host, leaf)


async def _group(client: SMTPClient, lines: list[str]) -> list[Reply]:
    """Several commands in one write (the server offers PIPELINING), their replies."""
    return [event.reply for event in await client.replies_to(await client.send_lines(lines))]


class Prober:
    def __init__(
        self,
        target: Target,
        *,
        relay: bool = True,
        relay_config: RelayConfig | None = None,
        verify: bool = True,
    ) -> None:
        self.target = target
        self.do_relay = relay
        self.relay_config = relay_config or RelayConfig()
        self.verify = verify
        self.report = ProbeReport(target.options.host, target.options.port)
        self._tls_context = target.options.ssl_context  # the one STARTTLS worked with
        # The session made without verification, its certificate not checked yet: the
        # check is a handshake with verification made later on a connection the relay
        # tests end with (see _check_certificate).
        self._unchecked: SMTPClient | None = None

    async def _connect(self) -> SMTPClient:
        client = SMTPClient(self.target.options)
        started = time.monotonic()
        banner, hello = await greet(client, self.target.helo)
        if self.report.banner is None:
            self.report.banner, self.report.hello = banner, hello
            self.report.banner_ms = (time.monotonic() - started) * 1000
            if (self.target.options.connector is None and client.peer
                    and near_address(client.peer[0])):
                self.report.near = client.peer[0]
        if banner.code != 220:
            await client.close()
            raise Refused(f"the server refused the session: {banner.one_line()}")
        return client

    async def _connect_first(self) -> SMTPClient:
        """The first connection; with implicit TLS a certificate that does not verify is
        noted and the probe goes on without verification (like the STARTTLS case)."""
        try:
            return await self._connect()
        except ConnectError as exc:
            if not (self.target.options.implicit_tls and self.verify and "TLS" in str(exc)):
                raise
            options = self.target.options.replace(
                ssl_context=_unverified_context()
            )
            self.target = Target(options, self.target.helo, self.target.starttls)
            client = await self._connect()
            self.report.tls.verify_error = str(exc).removeprefix("TLS: ")
            self.verify = False
            return client

    async def run(self) -> ProbeReport:
        report = self.report
        try:
            client = await self._connect_first()
        except (ConnectError, ConnectionClosedError, ReplyTimeout, AuditError) as exc:
            report.fatal = str(exc)
            if isinstance(exc, ReplyTimeout) and not self.target.options.implicit_tls:
                report.fatal += " (if this port expects TLS from the first byte, add --tls)"
            return report
        try:
            await self._plain_phase(client)
            client = await self._tls_phase(client)
            # On the session a client would use: encrypted when TLS works.
            for verb, check in (("VRFY", report.vrfy), ("EXPN", report.expn)):
                await self._check_verb(client, verb, check)
            self._identify()
            await self._behaviour(client)
            await self._ntlm_phase(client)
        except (ConnectionClosedError, ReplyTimeout) as exc:
            report.problems.append(f"the session ended early: {exc}")
        finally:
            await hang_up(client)
        await self._auth_in_clear()
        if self.do_relay:
            await self._relay_phase()
        if self._unchecked is not None:
            await self._check_certificate_apart()
        return report

    # --- phases --------------------------------------------------------------------------

    async def _plain_phase(self, client: SMTPClient) -> None:
        report = self.report
        session = client.session
        report.server_name = session.server_name
        report.esmtp = session.esmtp
        if report.hello is not None and report.hello.klass != 2:
            # Dovecot's LMTP port: `500 5.5.1 Unknown command` to both. What follows was
            # asked without a greeting, so a finding's absence proves little.
            report.problems.append(
                f"the server refused EHLO and HELO ({report.hello.one_line()}): the rest was"
                " asked without a greeting (an LMTP server greets only LHLO, RFC 2033 §4.1)")
        report.capabilities = dict(session.extensions)
        report.auth_plain = session.auth_mechanisms
        report.tls.implicit = self.target.options.implicit_tls
        report.tls.offered = session.advertises("STARTTLS")
        # Does the server let mail in without TLS? MAIL is harmless: RSET follows.
        ask_mail = report.tls.offered and not report.tls.implicit
        if ask_mail and session.advertises("PIPELINING"):
            # One round trip for three (RFC 2920: MAIL and RSET may go ahead of their
            # replies; HELP last, as a command whose reply the client must see first).
            mail, _, report.help = await _group(client, ["MAIL FROM:<>", "RSET", "HELP"])
            report.tls.required = mail.code == 530
            report.tls.required_evidence = mail
            ask_mail = False
        else:
            report.help = await client.command("HELP")
        if report.tls.implicit:
            report.tls.works = True
            report.tls.verified = self.verify
            _describe_tls(client, self.target.context, self.target.options.host, report.tls)
            report.capabilities_tls, report.auth_tls = report.capabilities, report.auth_plain
        elif ask_mail:
            reply = await client.command("MAIL FROM:<>")
            report.tls.required = reply.code == 530
            report.tls.required_evidence = reply
            if reply.klass == 2:
                await client.command("RSET")

    async def _auth_in_clear(self) -> None:
        """Whether AUTH offered in clear is taken there: nodemailer's smtp-server (by
        default) lists AUTH before STARTTLS and answers it with 538. Asked without
        credentials (LOGIN and PLAIN prompt with 334) on a connection of its own, closed
        right after: Haraka does not take '*' as the cancel RFC 4954 §4 makes it, and reads
        the next command as the user name."""
        report = self.report
        offered = report.auth_plain
        mechanism = next((m for m in ("LOGIN", "PLAIN", "CRAM-MD5") if m in offered), None)
        if report.tls.implicit or mechanism is None:
            return  # NTLM or SCRAM only: the NTLM phase, or not tried blind
        client = SMTPClient(self.target.options.replace(implicit_tls=False))
        try:
            await greet(client, self.target.helo)
            reply = await client.command(f"AUTH {mechanism}")
            report.auth_clear = (mechanism, reply)
        except (ConnectError, ConnectionClosedError, ReplyTimeout) as exc:
            report.problems.append(f"AUTH in clear not tried: {exc}")
        finally:
            await hang_up(client, polite=False)

    def _identify(self) -> None:
        report = self.report
        sources = [("banner", report.banner, True), ("EHLO greeting", report.hello, True),
                   ("HELP", report.help, False)]
        for source, reply, skip in sources:
            if reply is None or reply.klass != 2:
                continue
            for line in reply.lines[:1] if source != "HELP" else reply.lines:
                found = identify(line, source, skip_first_word=skip)
                if found is not None:
                    add_found(report.software, found)

    async def _behaviour(self, client: SMTPClient) -> None:
        """Replies whose wording shows the MTA family (see fingerprint.py): an unknown
        command, a malformed and a nested MAIL, HELP where the first was refused."""
        report = self.report
        obs = report.observations
        for source, reply in (("banner", report.banner), ("help", report.help)):
            if reply is not None and reply.code:
                obs[source] = reply_text(reply.code, reply.lines)
        if report.hello is not None and report.hello.lines:
            obs["ehlo"] = report.hello.lines[0].partition(" ")[2]
        obs["keywords"] = " ".join(report.capabilities)
        refusals = [r for r in (report.tls.required_evidence, report.help) if r is not None]
        if report.help is not None and needs_tls(report.help):
            report.help = await client.command("HELP")  # inside TLS now
            obs["help"] = reply_text(report.help.code, report.help.lines)
        for reply in refusals:
            if needs_tls(reply):
                obs["tls_required"] = reply_text(reply.code, reply.lines)
        if client.session.advertises("PIPELINING"):
            # One round trip (RFC 2920: MAIL and RSET go ahead; the unknown command last).
            # The second MAIL goes whatever the first gets: it tells something (nested)
            # only where the first opened a transaction, and is a harmless MAIL otherwise.
            bad, second, *replies = await _group(
                client, ["MAIL FROM:bad", "MAIL FROM:<>", "RSET", "XSMTPSH"])
        else:
            bad = await client.command("MAIL FROM:bad")
            # A second MAIL only where the first opened a transaction (it is then nested).
            lines = ["MAIL FROM:<>"] if bad.klass == 2 else []
            replies = [await client.command(line) for line in [*lines, "RSET", "XSMTPSH"]]
            second = replies[0]
        obs["bad_mail"] = reply_text(bad.code, bad.lines)
        if bad.klass == 2:
            obs["nested_mail"] = reply_text(second.code, second.lines)
        unknown = replies[-1]
        obs["unknown"] = reply_text(unknown.code, unknown.lines)
        report.guesses = fingerprint(obs)

    async def _check_verb(self, client: SMTPClient, verb: str, check: VerbCheck) -> None:
        impossible = random_name()
        canary = await client.command(f"{verb} {impossible}")
        qualify = ""
        if bare_name_refused(canary) and "." in self.report.server_name:
            # Exim: `501 name: recipient address must contain a domain`: ask NAME@DOMAIN.
            qualify = f"@{self.report.server_name}"
            impossible += qualify
            canary = await client.command(f"{verb} {impossible}")
        check.canary = (impossible, canary)
        if canary.code in (500, 502, 504):
            check.state = "unsupported"
            return
        if canary.klass == 4 or needs_tls(canary) or bare_name_refused(canary):
            check.state = "refused"
            return
        verdict = None
        for name in PROBE_REFERENCES:
            reply = await client.command(f"{verb} {name}{qualify}")
            check.reference = (name + qualify, reply)
            verdict = classify(reply, canary)
            if verdict is Verdict.FOUND:
                check.state = "reveals"
                return
        if POLICY_TEXT.search(canary.text):
            # Exim with no acl_smtp_vrfy / acl_smtp_expn (its default): `252
            # Administrative prohibition` to VRFY, `550 Administrative prohibition` to
            # EXPN, for postmaster as for a name that cannot exist: switched off by policy.
            check.state = "prohibited"
            return
        if verdict is Verdict.ABSENT:
            # postmaster, which every mail domain must have (RFC 5321 §4.5.1), got the
            # impossible name's own "no": the reply tells nothing apart here.
            check.state = "inconclusive"
            check.why = ("postmaster got the same 'no' as a name that cannot exist: the"
                         " domain asked may not be one the server takes mail for, or it"
                         " refuses every name")
        elif tells_apart(canary):
            # No common name answered, but an impossible one gets a definite "no such
            # user": any real name would be told apart.
            check.state = "reveals"
            check.why = ("a name that cannot exist gets a definite 'no such user'; a real"
                         " one would be answered otherwise")
        else:
            check.state = "same-answer"

    async def _tls_phase(self, client: SMTPClient) -> SMTPClient:
        report = self.report
        tls = report.tls
        if tls.implicit or not tls.offered:
            return client
        context = self.target.context
        # With the relay tests to follow in clear, this session is made without
        # verification and the certificate is checked at the end of their last connection:
        # a certificate that does not verify (self-signed: most MX hosts) would otherwise
        # cost a connection of its own, the failed handshake's.
        later = self.verify and self.do_relay and not tls.required
        if later:
            context = _unverified_context()
        # A certificate that fails verification is explained from the session made without
        # verification below, not from a third connection made only to look at it.
        client.diagnose_tls = False
        try:
            tls.reply = await client.starttls(context)
        except ConnectionClosedError as exc:
            failure = client.verify_failure
            await client.close()
            if not self.verify or later:
                tls.works, tls.error = False, str(exc)
                return await self._connect()
            # Perhaps only the certificate failed: look again without verifying. If that
            # works, verification was the problem; if not, TLS itself is broken.
            context = _unverified_context()
            client = await self._connect()
            try:
                tls.reply = await client.starttls(context)
            except ConnectionClosedError as again:
                tls.works, tls.error = False, str(again)
                await client.close()
                return await self._connect()
            tls.verify_error = str(exc).removeprefix("TLS: ")
            if failure is not None and tls.reply.code == 220:
                tls.verify_error = _verify_error(failure, self.target.options, client)
        if tls.reply.code != 220:
            tls.works = False
            tls.error = f"STARTTLS answered {tls.reply.one_line()}"
            return client
        tls.works = True
        self._tls_context = context
        tls.verified = self.verify and not tls.verify_error and not later
        _describe_tls(client, context, self.target.options.host, tls)
        if later and not self._failure_certain(client):
            self._unchecked = client
        await client.command(f"EHLO {self.target.helo}")
        report.capabilities_tls = dict(client.session.extensions)
        report.auth_tls = client.session.auth_mechanisms
        return client

    def _failure_certain(self, client: SMTPClient) -> bool:
        """Whether the session made without verification shows a certificate that cannot
        verify (self-signed, trusted by nothing: most MX hosts), so that no verifying
        handshake is needed to say why; smtpsh.net.selfsigned answers only when certain."""
        from smtpsh.net import certinfo, selfsigned

        obj, tls = client.ssl_object, self.report.tls
        if obj is None:
            return False
        chain = certinfo.peer_chain(obj, verified=False)
        code = selfsigned.certain_failure(chain, self.target.context)
        if code is None:
            return False
        leaf = client.tls_info.leaf if client.tls_info is not None else None
        options = self.target.options
        tls.verified = False
        tls.verify_error = certinfo.describe_verify_code(
            code, selfsigned.SELF_SIGNED_MESSAGE, options.server_hostname or options.host, leaf
        )
        return True

    async def _ntlm_phase(self, client: SMTPClient) -> None:
        report = self.report
        if "NTLM" not in client.session.auth_mechanisms:
            if "NTLM" not in report.auth_plain or client.ssl_object is None:
                return
            # Offered only before TLS: ask on a fresh plain connection.
            await hang_up(client)
            plain = self.target.options.replace(implicit_tls=False)
            client = SMTPClient(plain)
            await greet(client, self.target.helo)
            try:
                await self._ntlm_exchange(client)
            finally:
                await hang_up(client)
            return
        await self._ntlm_exchange(client)

    async def _ntlm_exchange(self, client: SMTPClient) -> None:
        report = self.report
        reply = await client.command("AUTH NTLM")
        if reply.code != 334:
            report.ntlm_error = f"AUTH NTLM answered {reply.one_line()}"
            return
        reply = await client.command(negotiate_line())
        try:
            if reply.code != 334 or not reply.lines:
                report.ntlm_error = f"no NTLM challenge: {reply.one_line()}"
                return
            report.ntlm = decode_challenge_line(reply.lines[0])
        except NTLMError as exc:
            report.ntlm_error = str(exc)
        finally:
            if reply.code == 334:
                await client.command("*")  # cancel the exchange (RFC 4954 §4)

    async def _relay_phase(self) -> None:
        target = self.target
        tls = self.report.tls
        if tls.required and tls.works:
            # Where TLS is required, relaying is only tested meaningfully inside TLS.
            options = target.options.replace(ssl_context=self._tls_context)
            target = Target(options, target.helo, starttls=True)
        runner = RelayRunner(target, self.relay_config, last_words=self._check_certificate_on)
        try:
            self.report.relay = await runner.run()
        except AuditError as exc:
            self.report.relay_error = str(exc)

    async def _check_certificate_on(self, client: SMTPClient) -> None:
        """The certificate check on the relay tests' last connection, still in clear: RSET
        (STARTTLS may not start inside a transaction), then STARTTLS with verification,
        without waiting for RSET's reply where the server offers PIPELINING (RFC 3207 §4.2
        lets STARTTLS end a group). Left to _check_certificate_apart when that cannot be
        done here (a STARTTLS refused, a RSET refused first among them)."""
        if self._unchecked is None or client.ssl_object is not None:
            return
        if not client.session.advertises("STARTTLS"):
            return
        if client.session.advertises("PIPELINING"):
            client.forget(await client.send_line("RSET"))
        elif (await client.command("RSET")).klass != 2:
            return
        await self._check_certificate(client)

    async def _check_certificate_apart(self) -> None:
        """The certificate check on a connection of its own (no relay connection took it)."""
        try:
            client = await self._connect()
        except (ConnectError, ConnectionClosedError, ReplyTimeout, AuditError) as exc:
            self._not_checked(f"no connection to check it on: {exc}")
            return
        try:
            await self._check_certificate(client)
        except (ConnectionClosedError, ReplyTimeout) as exc:
            self._not_checked(str(exc))
        finally:
            await hang_up(client)
        if self._unchecked is not None:
            self._not_checked("STARTTLS was not taken for the check")

    async def _check_certificate(self, client: SMTPClient) -> None:
        """STARTTLS with verification on ``client`` (greeted, in clear): the certificate
        verified, or why not, told from the session made without verification. A handshake
        that fails is what verification refused: the unverified one worked."""
        unchecked, tls = self._unchecked, self.report.tls
        assert unchecked is not None
        context = self.target.context
        client.diagnose_tls = False
        try:
            reply = await client.starttls(context)
        except ConnectionClosedError as exc:
            self._unchecked = None
            tls.verify_error = str(exc).removeprefix("TLS: ")
            failure = client.verify_failure
            if failure is not None:
                tls.verify_error = _verify_error(failure, self.target.options, unchecked)
            tls.verified = False
            return
        if reply.code != 220:
            return
        self._unchecked = None
        tls.verified = True
        self._tls_context = context
        # The summary of the verified session: its chain up to the trusted CA, and
        # certinfo's "verified: yes" line.
        _describe_tls(client, context, self.target.options.host, tls)

    def _not_checked(self, why: str) -> None:
        self._unchecked = None
        self.report.tls.verified = False
        self.report.tls.verify_error = f"could not be checked ({why})"


# --- the sub-command ---------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Footprint an SMTP server: banner and software, EHLO capabilities, HELP, STARTTLS "
        "and its certificate, AUTH before and after TLS, VRFY/EXPN, open relay, NTLM "
        "information, then the dangerous settings found and why they matter. "
        + AUTHORISATION_NOTE
    )
    add_target_arguments(parser, starttls=False)
    flags.add_colour(add_probe_options(parser))
    flags.add_targets(parser)


def add_probe_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    """What to probe and how to report it: the sub-command's and the shell's /probe's."""
    out = parser.add_argument_group("probe")
    flags.add_json(out, "the report")
    out.add_argument("--no-relay", action="store_true", help="skip the 16 open-relay tests")
    out.add_argument("--tls-scan", action="store_true",
                     help="also list every TLS version and cipher suite accepted (smtpsh tls)")
    flags.add_domain(out, "outside domain for the relay tests (default example.com)")
    return out


def run(args: argparse.Namespace) -> int:
    from smtpsh.audit.relay import DEFAULT_DOMAIN

    try:
        target = target_from_args(args)
    except UsageError as exc:
        if args.json:
            return jsonout.emit("probe", args.target, exc.exit_status, error=("usage", str(exc)))
        print_error("smtpsh probe", str(exc))
        return exc.exit_status
    prober = Prober(
        target,
        relay=not args.no_relay,
        relay_config=RelayConfig(domain=args.domain or DEFAULT_DOMAIN),
        verify=not args.no_verify,
    )
    status = run_main(_probe(prober, args))
    if status == exitcodes.INTERRUPTED:
        print_error("smtpsh probe", "interrupted")
    return status


async def _probe(prober: Prober, args: argparse.Namespace) -> int:
    report, scan = await probe_once(prober, tls=args.tls_scan)
    status = probe_status(report, scan)
    if args.json:
        return jsonout.emit("probe", report.address, *probe_outcome(report, scan))
    report_printer(args.color).lines(probe_lines(report, scan))
    return status


async def probe_once(prober: Prober, *, tls: bool) -> tuple[ProbeReport, Any]:
    """The probe, and with ``tls`` its --tls-scan: (report, scan or None)."""
    report = await prober.run()
    return report, (await tls_scan(prober) if tls else None)


def probe_outcome(
    report: ProbeReport, scan: Any
) -> tuple[int, dict[str, object], tuple[str, str] | None]:
    """(status, result, error) of the JSON envelope (smtpsh.jsonout) for one host."""
    error = ("failed", report.fatal) if report.fatal else None
    return probe_status(report, scan), probe_json(report, scan), error


# What the probe sub-command and the shell's /probe both make of a report (and a scan).


def probe_status(report: ProbeReport, scan: Any) -> int:
    """The exit status: weak TLS suites found by --tls-scan count as dangerous too."""
    status = exit_status(report)
    weak_tls = scan is not None and not isinstance(scan, str) and scan.grade in ("C", "F")
    return exitcodes.FOUND if status == exitcodes.OK and weak_tls else status


def probe_json(report: ProbeReport, scan: Any) -> dict[str, object]:
    doc = render_json(report)
    if scan is not None:
        doc["tls_scan"] = scan if isinstance(scan, str) else scan.to_json()
    return doc


def probe_lines(report: ProbeReport, scan: Any) -> list[Line]:
    lines = render_text(report)
    if scan is not None:
        from smtpsh.audit.tlsscan import report_lines

        texts = [scan] if isinstance(scan, str) else report_lines(scan)
        lines += [[("", "")], *[[("", text)] for text in texts]]
    return lines


async def tls_scan(prober: Prober) -> Any:
    """--tls-scan: smtpsh tls on the same server (a blocking scan, run in a thread); the
    TLSScan, or one line saying why there is none."""
    from smtpsh.audit.tlsscan import ScanError, Target, scan

    options = prober.target.options
    target = Target(options.host, options.port, starttls=not options.implicit_tls,
                    server_name=options.server_hostname or options.host,
                    connect_timeout=options.connect_timeout, family=options.family,
                    connector=options.connector)  # fmt: skip
    try:
        return await asyncio.to_thread(scan, target)
    except ScanError as exc:
        return f"TLS scan: not done: {exc}"
