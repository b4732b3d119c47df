"""The practice SMTP server behind `smtpsh --sandbox` (aiosmtpd, loopback only).

It runs in the caller's asyncio loop, so the shell and the server share one event loop.
aiosmtpd's Controller is not used: with port=0 it fails its own start-up self-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import ipaddress
import logging
import secrets
import shutil
import ssl
import tempfile
import time
import weakref
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple

from aiosmtpd.smtp import (
    MISSING,
    SMTP,
    AuthResult,
    Envelope,
    LoginPassword,
    Session,
    auth_mechanism,
    syntax,
)

from smtpsh.protocol.errors import SmtpshError
from smtpsh.sandbox.directory import FAMILY_REPLIES, Directory, Kind
from smtpsh.sandbox.mailbox import ReceivedMessage, format_mailbox
from smtpsh.sandbox.replies import exim_like, realistic
from smtpsh.sandbox.scenario import Scenario, load
from smtpsh.sandbox.tlscert import CertError, make_certificate

SIZE_LIMIT = 10_240_000  # Postfix's default message_size_limit
IDLE_TIMEOUT = 300.0  # RFC 5321 §4.5.3.2.7: a server waits at least 5 minutes
AUTH_MECHANISMS = ("PLAIN", "LOGIN", "CRAM-MD5")
SHUTDOWN_REPLY = "421 4.3.2 {host} Service shutting down, closing transmission channel"
TIMEOUT_REPLY = "421 4.4.2 {host} Error: timeout exceeded"
LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost"})
MessageCallback = Callable[[ReceivedMessage], None]


class SandboxError(SmtpshError):
    """The sandbox could not start; the message is one line for the user."""

    fault = "local"


class _Identity(NamedTuple):
    """What a successful AUTH leaves in the session (never the password)."""

    login: bytes
    mechanism: str


# Commands Exim counts against smtp_accept_max_nonmail (they move no mail).
NONMAIL_VERBS = frozenset({"VRFY", "EXPN", "NOOP", "HELP", "ETRN"})


class _State:
    """What every connection of one sandbox shares."""

    def __init__(
        self,
        directory: Directory,
        tls_context: ssl.SSLContext | None,
        idle_timeout: float,
        scenario: Scenario,
    ) -> None:
        self.directory = directory
        self.tls_context = tls_context
        self.idle_timeout = idle_timeout
        self.scenario = scenario
        # The imitated MTA's texts, with the scenario's own wording on top.
        self.replies: Mapping[str, str] = {**FAMILY_REPLIES[scenario.imitates], **scenario.replies}
        self.mailbox: list[ReceivedMessage] = []
        self.connections: set[_SandboxSMTP] = set()
        self.on_message: MessageCallback | None = None
        self.on_session: Callable[[str], None] | None = None
        self.queried: list[str] = []  # local parts asked by VRFY, EXPN or RCPT, in order

    def policy(self, key: str) -> str:
        return self.scenario.policy[key]

    @property
    def size_limit(self) -> int:
        for keyword in self.scenario.ehlo:
            name, _, value = keyword.partition(" ")
            if name.upper() == "SIZE" and value.isdigit():
                return int(value)
        return SIZE_LIMIT


def _peer_text(peer: Any) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        host = str(peer[0])
        return f"[{host}]:{peer[1]}" if ":" in host else f"{host}:{peer[1]}"
    return str(peer)


class _Handler:
    """aiosmtpd handler hooks: the sandbox's policy for EHLO, MAIL, RCPT, VRFY and DATA."""

    def __init__(self, state: _State) -> None:
        self.state = state

    async def handle_EHLO(
        self, server: _SandboxSMTP, session: Session, envelope: Envelope,
        hostname: str, responses: list[str],
    ) -> list[str]:  # fmt: skip
        # With this (5-argument) hook aiosmtpd leaves remembering the name to us.
        session.host_name = hostname
        state = self.state
        encrypted = session.ssl is not None
        offer_tls = (
            state.tls_context is not None and not encrypted and state.policy("starttls") != "none"
        )
        auth = state.policy("auth")
        offer_auth = auth == "before-tls" or (auth == "after-tls" and encrypted)
        keywords: list[str] = []
        for keyword in state.scenario.ehlo:
            name = keyword.split(" ", 1)[0].upper()
            if name == "STARTTLS" and not offer_tls:
                continue
            if name == "AUTH":
                if offer_auth:
                    keywords.append(f"AUTH {' '.join(AUTH_MECHANISMS)}")
                continue
            keywords.append(keyword)
        first = server.hostname
        if state.scenario.imitates == "exim":
            peer = session.peer[0] if isinstance(session.peer, tuple) else "127.0.0.1"
            first = f"{server.hostname} Hello {hostname} [{peer}]"
        lines = [first, *keywords]
        return [f"250-{line}" for line in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_MAIL(
        self, server: _SandboxSMTP, session: Session, envelope: Envelope,
        address: str, mail_options: list[str],
    ) -> str:  # fmt: skip
        replies = self.state.replies
        if self.state.policy("domain_literals") == "refuse" and address.rstrip(">").endswith("]"):
            return replies["domain_literal"].format(addr=address.strip("<>"))
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return replies["mail_ok"]

    async def handle_RCPT(
        self, server: _SandboxSMTP, session: Session, envelope: Envelope,
        address: str, rcpt_options: list[str],
    ) -> str:  # fmt: skip
        replies = self.state.replies
        found = self.state.directory.lookup(address)
        self.state.queried.append(found.local_part)
        if found.kind is Kind.BAD:  # includes the null path <>, fine for MAIL only
            return replies["rcpt_bad"].format(addr=found.address)
        if found.kind is Kind.UNKNOWN:
            return replies["rcpt_unknown"].format(addr=found.address)
        open_relay = self.state.policy("relay") == "open"
        if found.kind is Kind.REMOTE and not session.authenticated and not open_relay:
            return replies["relay_denied"].format(addr=found.address)
        # Known local user or list, relaying for an authenticated client, or an open relay
        # relaying for anyone: kept here (nothing ever leaves the sandbox).
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return replies["rcpt_ok"]

    async def handle_VRFY(
        self, server: _SandboxSMTP, session: Session, envelope: Envelope, address: str
    ) -> str:
        replies = self.state.replies
        policy = self.state.policy("vrfy")
        if policy == "off":
            return replies["vrfy_disabled"]
        found = self.state.directory.lookup(address)
        self.state.queried.append(found.local_part)
        if found.kind is Kind.BAD:
            return replies["rcpt_bad"].format(addr=found.address)
        if policy == "needs-domain":
            # Exim: a bare name is a syntax error (501), except postmaster (RFC 5321 §4.5.1).
            if "@" not in found.address and found.local_part != "postmaster":
                return replies["vrfy_needs_domain"].format(arg=found.address)
            if found.kind in (Kind.USER, Kind.LIST):
                address = (
                    found.address
                    if "@" in found.address
                    else (f"{found.address}@{self.state.directory.domain}")
                )
                return replies["vrfy_deliverable"].format(addr=address)
        if found.kind is Kind.UNKNOWN:
            key = "vrfy_unrouteable" if policy == "needs-domain" else "rcpt_unknown"
            return replies[key].format(addr=found.address)
        if found.kind is Kind.REMOTE:
            return replies["vrfy_remote"].format(arg=found.address, addr=found.address)
        return replies["vrfy_known"].format(arg=found.address, addr=found.address)

    async def handle_DATA(self, server: _SandboxSMTP, session: Session, envelope: Envelope) -> str:
        queue_id = _queue_id(self.state.scenario.imitates)
        identity = session.auth_data if session.authenticated else None
        reverse_path = envelope.mail_from or ""
        message = ReceivedMessage(
            mail_from="" if reverse_path == "<>" else reverse_path,
            rcpt_tos=list(envelope.rcpt_tos),
            data=bytes(envelope.original_content or b""),
            received_at=datetime.now().astimezone(),
            peer=_peer_text(session.peer),
            tls=session.ssl is not None,
            authenticated_as=(
                identity.login.decode("utf-8", "replace")
                if isinstance(identity, _Identity)
                else None
            ),
            queue_id=queue_id,
            helo=session.host_name,
            esmtp=bool(session.extended_smtp),
            mail_options=list(envelope.mail_options),
        )
        self.state.mailbox.append(message)
        if self.state.on_message is not None:
            try:
                self.state.on_message(message)
            except Exception as exc:
                # The message is accepted either way: a failing observer must not turn the
                # reply into an error.  Report it where asyncio reports stray errors.
                asyncio.get_running_loop().call_exception_handler(
                    {"message": "sandbox on_message callback failed", "exception": exc}
                )
        return self.state.replies["queued"].format(queue_id=queue_id)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope,
        mechanism: str, auth_data: Any,
    ) -> AuthResult:  # fmt: skip
        """aiosmtpd's authenticator for the built-in PLAIN and LOGIN mechanisms."""
        if isinstance(auth_data, LoginPassword) and self.state.directory.check_password(
            auth_data.login, auth_data.password
        ):
            return AuthResult(success=True, auth_data=_Identity(auth_data.login, mechanism))
        # handled=False: aiosmtpd then sends `535 5.7.8 Authentication credentials invalid`.
        return AuthResult(success=False, handled=False)


def _queue_id(family: str) -> str:
    """A queue id in the imitated MTA's format (Postfix: 10 hex digits; Exim: 1tXXXX-…)."""
    if family == "exim":
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
        pick = "".join(secrets.choice(alphabet) for _ in range(13))
        return f"1{pick[:5]}-{pick[5:11]}-{pick[11:]}"
    return secrets.token_hex(5).upper()


class _SandboxSMTP(SMTP):
    """aiosmtpd's SMTP with MTA-like replies, CRAM-MD5 and a clean shutdown."""

    # Real servers prompt `Username:` / `Password:` (aiosmtpd's default ends in a NUL).
    AuthLoginUsernameChallenge = "Username:"
    AuthLoginPasswordChallenge = "Password:"

    def __init__(self, state: _State, hostname: str, loop: asyncio.AbstractEventLoop) -> None:
        handler = _Handler(state)
        scenario = state.scenario
        tls_context = state.tls_context if scenario.policy["starttls"] != "none" else None
        super().__init__(
            handler,
            hostname=hostname,
            ident=scenario.banner,
            data_size_limit=state.size_limit,
            enable_SMTPUTF8=True,
            decode_data=False,
            tls_context=tls_context,
            require_starttls=tls_context is not None and scenario.policy["starttls"] == "required",
            auth_require_tls=scenario.policy["auth"] != "before-tls",
            authenticator=handler.authenticate,
            timeout=state.idle_timeout,
            loop=loop,
        )
        self._state = state
        self._greeted = False  # the banner goes out as is
        self._verbatim = False  # HELO/EHLO replies carry no enhanced codes (RFC 2034 §3)
        self._errors = 0  # 4xx/5xx replies so far: Postfix's tarpit counts them
        self._doomed = False  # the hard error limit was reached: the next reply is a 421
        self._nonmail = 0  # commands that move no mail (Exim's smtp_accept_max_nonmail)
        self._peer = "?"
        self._continued: list[str] = []  # the lines of a multi-line reply, until its last
        self.closed = asyncio.Event()

    # -- reply wording -------------------------------------------------------------------

    async def push(self, status: str | bytes) -> None:  # type: ignore[override]
        if isinstance(status, bytes):  # AUTH challenges (334 + base64) go out unchanged
            await super().push(status)
            return
        if self._doomed:  # Postfix: the command after the hard limit gets 421, then close
            self.shut_down(self._state.replies["too_many_errors"].format(host=self.hostname))
            return
        if self._greeted and not self._verbatim:
            if self._state.scenario.imitates == "exim":
                status = exim_like(status, self.hostname)
            else:
                status = realistic(status)
        first = not self._greeted
        self._greeted = True
        if status[3:4] == "-":
            # A real MTA writes a multi-line reply at once; aiosmtpd writes each line, which
            # some clients (nmap's smtp-commands) read as a reply of one line.
            self._continued.append(status)
            return
        if not first and status[:1] in ("4", "5"):
            await self._count_error()
        lines, self._continued = [*self._continued, status], []
        await super().push("\r\n".join(lines))

    async def _count_error(self) -> None:
        """Postfix's tarpit: past the soft limit every error reply waits; at the hard limit
        the next command is answered 421 and the connection closed."""
        limits = self._state.scenario.limits
        self._errors += 1
        if limits.soft_errors is not None and self._errors > limits.soft_errors:
            await asyncio.sleep(limits.error_delay)
        if limits.hard_errors is not None and self._errors >= limits.hard_errors:
            self._doomed = True

    async def _nonmail_allowed(self) -> bool:
        """Exim's smtp_accept_max_nonmail: one command too many gets 554 and the end."""
        limit = self._state.scenario.limits.max_nonmail
        if limit is None:
            return True
        self._nonmail += 1
        if self._nonmail <= limit:
            return True
        self.shut_down(self._state.replies["too_many_nonmail"])
        return False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The banner may carry the date (Exim's does): made when the client connects.
        banner = self._state.scenario.banner
        if "{date}" in banner:
            self.__ident__ = banner.replace("{date}", email.utils.formatdate(localtime=True))
        self._state.connections.add(self)
        self._peer = _peer_text(transport.get_extra_info("peername"))
        if self._state.on_session is not None:
            self._state.on_session(f"connect from {self._peer}")
        super().connection_made(transport)

    @syntax("VRFY <address>")
    async def smtp_VRFY(self, arg: str) -> None:
        if await self._nonmail_allowed():
            await super().smtp_VRFY(arg)

    @syntax("NOOP [ignored]")
    async def smtp_NOOP(self, arg: str) -> None:
        if await self._nonmail_allowed():
            await super().smtp_NOOP(arg)

    @syntax("HELP [command]")
    async def smtp_HELP(self, arg: str) -> None:
        if not await self._nonmail_allowed():
            return
        if self._state.policy("help") == "off":
            await self.push(self._state.replies["not_recognized"])
            return
        await super().smtp_HELP(arg)

    @syntax("HELO hostname")
    async def smtp_HELO(self, hostname: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_HELO(hostname)
        finally:
            self._verbatim = False

    @syntax("EHLO hostname")
    async def smtp_EHLO(self, hostname: str) -> None:
        self._verbatim = True
        try:
            await super().smtp_EHLO(hostname)
        finally:
            self._verbatim = False

    # -- commands aiosmtpd does not do the way a real MTA does ----------------------------

    @syntax("STARTTLS", when="tls_context")
    async def smtp_STARTTLS(self, arg: str) -> None:
        # aiosmtpd would start a second TLS layer inside the first one.
        if self._tls_protocol is not None:
            await self.push("554 5.5.1 Error: TLS already active")
            return
        await super().smtp_STARTTLS(arg)

    @syntax("AUTH <mechanism>")
    async def smtp_AUTH(self, arg: str) -> None:
        # SASL mechanism names are case-insensitive (RFC 4422 §3.1); aiosmtpd's lookup is not.
        if arg:
            mechanism, _, rest = arg.strip().partition(" ")
            arg = f"{mechanism.upper()} {rest}".rstrip()
        await super().smtp_AUTH(arg)

    @syntax("EXPN <list>")
    async def smtp_EXPN(self, arg: str | None) -> None:
        if not await self._nonmail_allowed():
            return
        if self._state.policy("expn") == "off":
            await self.push(self._state.replies["not_recognized"])
            return
        replies = self._state.replies
        if not arg:
            await self.push(replies["expn_syntax"])
            return
        directory = self._state.directory
        found = directory.lookup(arg)
        if found.kind is Kind.LIST:
            members = directory.members(found.local_part)
            for i, member in enumerate(members, start=1):
                sep = " " if i == len(members) else "-"
                line = replies["expn_member"].format(
                    sep=sep, mailbox=directory.mailbox_line(member)
                )
                await self.push(line)
            return
        templates: Mapping[Kind, str] = {
            Kind.USER: replies["expn_user"],
            Kind.UNKNOWN: replies["expn_unknown"],
            Kind.REMOTE: replies["expn_remote"],
            Kind.BAD: replies["expn_bad"],
        }
        mailbox = directory.mailbox_line(found.local_part) if found.kind is Kind.USER else ""
        await self.push(templates[found.kind].format(addr=found.address, mailbox=mailbox))

    @auth_mechanism("CRAM-MD5")
    async def auth_CRAM_MD5(self, _server: SMTP, args: list[str]) -> AuthResult:
        """RFC 2195: the server sends a unique challenge, the client its HMAC-MD5 digest."""
        if len(args) > 1:
            await self.push("501 5.5.4 CRAM-MD5 takes no initial response")
            return AuthResult(success=False, handled=True)
        challenge = f"<{secrets.randbits(48)}.{int(time.time())}@{self.hostname}>".encode()
        response = await self.challenge_auth(challenge)
        if response is MISSING:  # aborted with `*` or bad base64: already answered
            return AuthResult(success=False, handled=True)
        user, _, digest = bytes(response).rpartition(b" ")
        if self._state.directory.check_cram_md5(user, challenge, digest):
            return AuthResult(success=True, auth_data=_Identity(user, "CRAM-MD5"))
        return AuthResult(success=False, handled=False)

    # -- connection bookkeeping -----------------------------------------------------------

    def connection_lost(self, error: Exception | None) -> None:
        try:
            super().connection_lost(error)
        finally:
            self._state.connections.discard(self)
            self.closed.set()
            if self._state.on_session is not None:
                self._state.on_session(f"disconnect from {self._peer}")

    def _timeout_cb(self) -> None:
        # Say why before hanging up, as Postfix does, so a client sees an idle 421.
        # Closing the transport makes aiosmtpd clean up in connection_lost().
        self.shut_down(TIMEOUT_REPLY.format(host=self.hostname))

    def shut_down(self, reply: str) -> None:
        """Send a last reply without waiting for the client, then close the connection."""
        transport = self.transport
        if isinstance(transport, asyncio.WriteTransport) and not transport.is_closing():
            with contextlib.suppress(Exception):
                transport.write(reply.encode("ascii") + b"\r\n")
        if transport is not None:
            transport.close()


def check_loopback(host: str) -> None:
    """The sandbox never listens beyond this machine."""
    if host.lower() in LOOPBACK_NAMES:
        return
    try:
        is_loopback = ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        is_loopback = False
    if not is_loopback:
        raise SandboxError(
            f"the sandbox listens on loopback only (127.0.0.0/8 or ::1), not on {host!r}"
        )


def _quiet_aiosmtpd() -> None:
    # aiosmtpd logs warnings (e.g. a deprecation on every AUTH) that Python would print on
    # stderr, in the middle of the shell's prompt.  A NullHandler stops that last-resort
    # printing but still lets an application's own logging configuration see them.
    logger = logging.getLogger("mail.log")
    if not any(isinstance(h, logging.NullHandler) for h in logger.handlers):
        logger.addHandler(logging.NullHandler())


class Sandbox:
    """A running practice server.  Start with `await Sandbox.start()`, end with `stop()`."""

    def __init__(
        self,
        server: asyncio.AbstractServer,
        state: _State,
        host: str,
        port: int,
        cafile: Path | None,
        tls_note: str,
        workdir: Path,
    ) -> None:
        self._server = server
        self._state = state
        self.host = host
        self.port = port
        self.cafile = cafile
        self.tls_note = tls_note  # why there is no TLS, or "" when there is
        self._workdir = workdir
        self._stopped = False
        # If stop() is never reached (a crash), the key still leaves /tmp at exit.
        self._cleanup = weakref.finalize(self, shutil.rmtree, workdir, ignore_errors=True)

    @classmethod
    async def start(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        tls: bool = True,
        *,
        idle_timeout: float = IDLE_TIMEOUT,
        directory: Directory | None = None,
        scenario: Scenario | None = None,
    ) -> Sandbox:
        """Listen on `host:port` (port 0: a free one) in the running event loop.

        Raises SandboxError with a one-line message for a non-loopback host or a port that
        cannot be bound.  If `tls` is asked for but no certificate can be made, it still starts,
        without STARTTLS, and `welcome_text()` says why.
        """
        check_loopback(host)
        if not 0 <= port <= 65535:
            raise SandboxError(f"port must be 0..65535, not {port}")
        _quiet_aiosmtpd()
        loop = asyncio.get_running_loop()
        scenario = scenario or load("default")
        directory = directory or Directory(
            domain=scenario.domain,
            users=scenario.users,
            lists=scenario.lists,
            credentials=scenario.credentials,
        )
        workdir = Path(tempfile.mkdtemp(prefix="smtpsh-sandbox-"))  # private: mode 0700
        cafile: Path | None = None
        context: ssl.SSLContext | None = None
        tls_note = "" if tls else "STARTTLS is off (started without TLS)"
        try:
            if tls:
                try:
                    files = await make_certificate(workdir)
                    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                    context.load_cert_chain(files.cert, files.key)
                    cafile = files.cert
                except (CertError, ssl.SSLError, OSError) as exc:
                    tls_note = f"STARTTLS is off: could not make a certificate ({exc})"
                    context = None
            state = _State(directory, context, idle_timeout, scenario)
            try:
                server = await loop.create_server(
                    lambda: _SandboxSMTP(state, scenario.hostname, loop), host, port
                )
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise SandboxError(f"cannot listen on {host}:{port}: {reason}") from None
        except BaseException:
            shutil.rmtree(workdir, ignore_errors=True)
            raise
        bound_port = int(server.sockets[0].getsockname()[1])
        return cls(server, state, host, bound_port, cafile, tls_note, workdir)

    # -- what the shell reads ------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self._state.directory.domain

    @property
    def users(self) -> Mapping[str, str]:
        return self._state.directory.users

    @property
    def lists(self) -> Mapping[str, tuple[str, ...]]:
        return self._state.directory.lists

    @property
    def credentials(self) -> tuple[str, str]:
        return self._state.directory.credentials

    @property
    def mailbox(self) -> list[ReceivedMessage]:
        return self._state.mailbox

    @property
    def tls(self) -> bool:
        return self._state.tls_context is not None

    @property
    def on_message(self) -> MessageCallback | None:
        """Called (in the event loop) with each message as it is accepted."""
        return self._state.on_message

    @on_message.setter
    def on_message(self, callback: MessageCallback | None) -> None:
        self._state.on_message = callback

    @property
    def scenario(self) -> Scenario:
        return self._state.scenario

    @property
    def queried(self) -> list[str]:
        """Local parts clients asked about (VRFY, RCPT), in order: what a tour can check."""
        return self._state.queried

    @property
    def on_session(self) -> Callable[[str], None] | None:
        """Called with one line when a client connects or leaves (`smtpsh sandbox` prints it)."""
        return self._state.on_session

    @on_session.setter
    def on_session(self, callback: Callable[[str], None] | None) -> None:
        self._state.on_session = callback

    def welcome_text(self) -> str:
        """The lines printed when the sandbox starts: what this server is and will do."""
        state = self._state
        scenario = state.scenario
        directory = state.directory
        where = f"[{self.host}]" if ":" in self.host else self.host
        user, password = self.credentials
        users = ", ".join(f"{local} ({name})" for local, name in self.users.items())
        lists = "; ".join(f"{name} → {', '.join(members)}" for name, members in self.lists.items())
        starttls, auth = state.policy("starttls"), state.policy("auth")
        tls_on = self.tls and starttls != "none"
        if not tls_on:
            tls_line = self.tls_note or "STARTTLS is not offered"
        else:
            tls_line = (
                f"STARTTLS with a self-signed certificate for localhost; CA file {self.cafile}"
            )
            if starttls == "required":
                tls_line += " · required before MAIL (530 until then)"
        mechanisms = " ".join(AUTH_MECHANISMS)
        if auth == "none":
            auth_line = "not offered"
        elif auth == "before-tls":
            auth_line = (
                f"{mechanisms} offered in clear, before STARTTLS · user {user} · "
                f"password {password}"
            )
        elif tls_on:
            auth_line = f"{mechanisms} after STARTTLS · user {user} · password {password}"
        else:
            auth_line = "refused (538 5.7.11): AUTH needs STARTTLS, which is off"
        relay_line = (
            "an OPEN RELAY: mail to any domain is accepted (and kept here)"
            if state.policy("relay") == "open"
            else f"mail to other domains is refused ({state.replies['relay_denied'][:3]})"
            + (" unless you AUTH" if auth != "none" and (tls_on or auth == "before-tls") else "")
        )
        first_user = next((u for u in self.users if u != "postmaster"), "alice")
        first_list = next(iter(self.lists), "")
        if not scenario.reveal_users:
            first_user = "robin" if "robin" in self.users else "postmaster"
        tries = [f"EHLO me · VRFY {first_user} · VRFY nobody"]
        if first_list and state.policy("expn") == "on":
            tries[0] += f" · EXPN {first_list}"
        return "\n".join(
            [
                f"smtpsh practice server on {where}:{self.port} — nothing you send leaves "
                "this program",
                f"  scenario {scenario.name}: {scenario.summary}",
                f"  domain   {directory.domain}",
                f"  users    {users}" if scenario.reveal_users else
                f"  users    {len(self.users)} mailboxes: finding them is the exercise "
                "(VRFY, smtpsh enum)",
                *([f"  lists    {lists}  (try EXPN)"] if lists else []),
                f"  TLS      {tls_line}",
                f"  AUTH     {auth_line}",
                f"  relay    {relay_line}",
                f"  try      {tries[0]}",
                "           MAIL FROM:<you@example.net> · "
                f"RCPT TO:<{first_user if scenario.reveal_users else 'someone'}"
                f"@{directory.domain}> · DATA · then /mailbox",
                *(
                    [f"           STARTTLS · EHLO me · AUTH LOGIN (as {user})"]
                    if tls_on and auth == "after-tls"
                    else []
                ),
            ]
        )

    def mailbox_text(self, number: int | None = None) -> str:
        """What `/mailbox` prints: one block per message (envelope, headers, size); with
        ``number``, that message and its body (ValueError: no such message)."""
        return format_mailbox(self._state.mailbox, number)

    # -- shutting down -------------------------------------------------------------------

    async def stop(self, grace: float = 2.0) -> None:
        """Stop listening, close every open session with a 421, remove the certificate."""
        if self._stopped:
            return
        self._stopped = True
        self._server.close()
        connections = list(self._state.connections)
        for conn in connections:
            conn.shut_down(SHUTDOWN_REPLY.format(host=conn.hostname))
        waiters = [asyncio.ensure_future(conn.closed.wait()) for conn in connections]
        if waiters:
            _, pending = await asyncio.wait(waiters, timeout=grace)
            for waiter in pending:
                waiter.cancel()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._server.wait_closed(), timeout=grace)
        self._cleanup()

    async def __aenter__(self) -> Sandbox:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()
