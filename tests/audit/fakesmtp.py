"""A small SMTP server for footprinting tests: users, VRFY/EXPN/RCPT, Postfix-like error
limits (a sleep before every reply after the soft limit, 421 at the hard limit), a 421 in
the middle of a run, names it never answers, catch-all, AUTH NTLM.

It runs its own event loop in a thread, so the client under test can be in-process or a
subprocess. Everything it received is kept in ``commands`` for assertions.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ssl
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

DEFAULT_USERS = frozenset({"robin", "alice", "postmaster", "root"})


@dataclass
class Policy:
    banner: str = "fake.smtpsh.test ESMTP FakeMail v1.0"
    users: frozenset[str] = DEFAULT_USERS
    vrfy: str = "users"  # users: 252 for users, 550 else | all252 | off (502)
    expn: bool = True
    catch_all: bool = False  # RCPT accepts every name
    pipelining: bool = True
    auth: str = ""  # e.g. "NTLM LOGIN": offered on the AUTH line
    ntlm_challenge: bytes = b""
    soft_limit: int | None = None  # from this many errors on, sleep before each reply
    soft_sleep: float = 0.5
    hard_limit: int | None = None  # from this many errors on, answer 421 and close
    drop_every: int | None = None  # every Nth name's first check (server-wide): 421, close
    hang: dict[str, int] = field(default_factory=dict)  # name -> times to stay silent
    max_connections: int | None = None  # more at once: 421 at the banner
    relay: bool = False  # accept RCPT for any domain
    literal_senders: bool = True  # False: MAIL FROM a domain literal gets 501 (as Exim)
    help: str = "FakeMail v1.0 help: see RFC 5321"
    tls: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    auth_after_tls: str | None = None  # the AUTH line once TLS is on (None: same as auth)


async def _say_421_and_close(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, line: bytes
) -> None:
    """421, then a lingering close, as real MTAs do: half-close and read what the client
    still sends. Closing with unread pipelined commands in the buffer would send a TCP
    reset, and a reset can discard the 421 from the client's receive buffer before it is
    read, so the client would see a bare hang-up instead of the 421 that was said."""
    writer.write(line)
    await writer.drain()
    with contextlib.suppress(OSError, RuntimeError):
        writer.write_eof()
    with contextlib.suppress(OSError, asyncio.TimeoutError):
        async with asyncio.timeout(2):
            while await reader.read(65536):
                pass


class FakeServer:
    def __init__(self, policy: Policy | None = None) -> None:
        self.policy = policy or Policy()
        self.commands: list[str] = []
        self.checks: Counter[str] = Counter()  # name -> times asked
        self.connections = 0
        self.refused = 0
        self.ntlm_negotiate: bytes = b""
        self.pipelined = 0  # commands that arrived before the previous one was answered
        self._active = 0
        self._name_checks = 0  # first checks of a name, server-wide
        self._hung: Counter[str] = Counter()
        self._sessions: set[asyncio.Task[None]] = set()
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    # --- life cycle ----------------------------------------------------------------------

    def start(self) -> int:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(self._start(), self._loop)
        self.port = future.result(5)
        return self.port

    async def _start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    def stop(self) -> None:
        async def _close() -> None:
            if self._server is not None:
                self._server.close()
            # End the sessions still open (one asleep in the tarpit, one the client left
            # without QUIT) here, not when the stopped loop's coroutines are collected:
            # their clean-up would then run on a closed loop.
            tasks = [task for task in self._sessions if not task.done()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        asyncio.run_coroutine_threadsafe(_close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    # --- one connection ------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._sessions.add(task)
            task.add_done_callback(self._sessions.discard)
        p = self.policy
        with self._lock:
            self.connections += 1
            self._active += 1
            over = p.max_connections is not None and self._active > p.max_connections
            self.refused += over
        try:
            if over:
                writer.write(b"421 4.7.0 fake.smtpsh.test Error: too many connections\r\n")
                await writer.drain()
                return
            writer.write(f"220 {p.banner}\r\n".encode())
            await writer.drain()
            await self._dialogue(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with self._lock:
                self._active -= 1
            with contextlib.suppress(ConnectionError, OSError):
                writer.close()

    async def _dialogue(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        p = self.policy
        errors = 0
        state: dict[str, object] = {"mail": False, "auth": "", "tls": False}
        while True:
            raw = await reader.readline()
            if not raw:
                return
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            with self._lock:
                self.commands.append(line)
            if p.hard_limit is not None and errors >= p.hard_limit:
                await _say_421_and_close(
                    reader, writer, b"421 4.7.0 fake.smtpsh.test Error: too many errors\r\n")
                return
            name = _checked_name(line)
            if name is not None:
                with self._lock:
                    self.checks[name] += 1
                    # Only first checks count and only they are dropped: a name is cut off
                    # once, then answered. Counting retries too made a name's fate depend
                    # on how the concurrent connections interleaved: under load one name
                    # could be cut off on every attempt, an honest "no answer" the test
                    # did not expect.
                    first = self.checks[name] == 1
                    self._name_checks += first
                    drop = (first and p.drop_every is not None
                            and self._name_checks % p.drop_every == 0)
                    hang = self._hung[name] < p.hang.get(name, 0)
                    if hang:
                        self._hung[name] += 1
                if hang:
                    await reader.read()  # silent until the client gives up and closes
                    return
                if drop:
                    await _say_421_and_close(
                        reader, writer,
                        b"421 4.3.2 fake.smtpsh.test going down for maintenance\r\n")
                    return
            if line.upper().startswith("RCPT") and p.pipelining:
                # Let a pipelining client's next lines arrive, then look whether they did:
                # a lock-step client cannot have sent more before this reply.
                await asyncio.sleep(0.005)
                if reader._buffer:  # private, but the only way to peek without reading
                    with self._lock:
                        self.pipelined += 1
            reply = self._answer(line, state)
            if reply.startswith("220") and p.tls is not None:
                writer.write(reply.encode())
                await writer.drain()
                await writer.start_tls(p.tls)
                state["tls"] = True
                continue
            if p.soft_limit is not None and errors >= p.soft_limit:
                await asyncio.sleep(p.soft_sleep)
            writer.write(reply.encode())
            await writer.drain()
            if reply[:1] in "45":
                errors += 1
            if reply.startswith("221"):
                return

    def _answer(self, line: str, state: dict[str, object]) -> str:
        p = self.policy
        if state["auth"]:
            return self._auth_step(line, state)
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        if verb.startswith("MAIL"):
            verb = "MAIL"
        elif verb.startswith("RCPT"):
            verb = "RCPT"
        arg = arg.strip()
        if verb == "EHLO":
            caps = ["fake.smtpsh.test", "SIZE 1000000", "VRFY", "ENHANCEDSTATUSCODES"]
            if p.pipelining:
                caps.insert(1, "PIPELINING")
            auth = p.auth_after_tls if state["tls"] and p.auth_after_tls is not None \
                else p.auth
            if auth:
                caps.append(f"AUTH {auth}")
            if p.tls is not None and not state["tls"]:
                caps.append("STARTTLS")
            return _multi(250, caps)
        if verb == "STARTTLS" and p.tls is not None and not state["tls"]:
            return "220 2.0.0 Ready to start TLS\r\n"
        if verb == "HELO":
            return "250 fake.smtpsh.test\r\n"
        if verb == "MAIL":
            if not p.literal_senders and "@[" in line:
                address = line.split(":", 1)[1].strip() if ":" in line else ""
                return f"501 {address}: domain literals not allowed\r\n"
            state["mail"] = True
            return "250 2.1.0 Ok\r\n"
        if verb == "RCPT":
            if not state["mail"]:
                return "503 5.5.1 Error: need MAIL command\r\n"
            address = line.split(":", 1)[1].strip().strip("<>") if ":" in line else ""
            local, _, domain = address.rpartition("@")
            if domain and domain != "fake.smtpsh.test" and not p.relay:
                return f"554 5.7.1 <{address}>: Relay access denied\r\n"
            if p.catch_all or (local or address) in p.users or p.relay:
                return "250 2.1.5 Ok\r\n"
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown\r\n"
        if verb == "VRFY":
            if p.vrfy == "off":
                return "502 5.5.1 VRFY command is disabled\r\n"
            if p.vrfy == "all252" or arg.split("@")[0] in p.users:
                return f"252 2.0.0 {arg}\r\n"
            return f"550 5.1.1 <{arg}>: Recipient address rejected: User unknown\r\n"
        if verb == "EXPN":
            if not p.expn:
                return "502 5.5.2 Error: command not recognized\r\n"
            if arg.split("@")[0] in p.users:
                return f"250 2.1.5 {arg} <{arg}@fake.smtpsh.test>\r\n"
            return f"550 5.1.1 <{arg}>: no such list or user\r\n"
        offered = p.auth_after_tls if state["tls"] and p.auth_after_tls is not None else p.auth
        if verb == "AUTH" and arg.upper() == "NTLM" and "NTLM" in offered:
            state["auth"] = "negotiate"
            return "334 \r\n"
        if verb == "AUTH" and arg.upper() in ("LOGIN", "PLAIN") and arg.upper() in offered:
            state["auth"] = "credentials"  # any answer fails (535): no user is known here
            return "334 VXNlcm5hbWU6\r\n" if arg.upper() == "LOGIN" else "334 \r\n"
        if verb in ("RSET", "NOOP"):
            state["mail"] = False
            return "250 2.0.0 Ok\r\n"
        if verb == "HELP":
            return f"214 2.0.0 {p.help}\r\n"
        if verb == "DATA":
            return "554 5.5.1 the fake server takes no DATA\r\n"
        if verb == "QUIT":
            return "221 2.0.0 Bye\r\n"
        return "500 5.5.2 Error: command not recognized\r\n"

    def _auth_step(self, line: str, state: dict[str, object]) -> str:
        if line.strip() == "*":
            state["auth"] = ""
            return "501 5.7.0 Authentication aborted\r\n"
        if state["auth"] == "negotiate":
            self.ntlm_negotiate = base64.b64decode(line)
            state["auth"] = "challenge"
            return "334 " + base64.b64encode(self.policy.ntlm_challenge).decode() + "\r\n"
        state["auth"] = ""
        return "535 5.7.8 Authentication failed\r\n"


def _multi(code: int, lines: list[str]) -> str:
    return "".join(
        f"{code}{' ' if i == len(lines) - 1 else '-'}{text}\r\n" for i, text in enumerate(lines)
    )


def _checked_name(line: str) -> str | None:
    """The user name a VRFY/EXPN/RCPT line asks about."""
    verb = line.split(" ", 1)[0].split(":", 1)[0].upper()
    if verb in ("VRFY", "EXPN"):
        return line.split(" ", 1)[1].strip().split("@")[0] if " " in line else ""
    if verb == "RCPT" and ":" in line:
        return line.split(":", 1)[1].strip().strip("<>").split("@")[0]
    return None


@contextlib.contextmanager
def running(policy: Policy | None = None) -> Iterator[FakeServer]:
    server = FakeServer(policy)
    server.start()
    try:
        yield server
    finally:
        server.stop()
