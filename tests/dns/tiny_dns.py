"""A tiny UDP DNS server on loopback for tests that need answers dnsmasq cannot give (a
delay, names made up per test): ``answer(qname, qtype)`` gives the records (zone-file
rdata text, TTL 60), or None to pass the query as it is to ``upstream`` (HOST, PORT) and its
answer back untouched (signatures included); ``delay(qname)`` the seconds before the reply
goes out. Each delayed reply has a timer of its own, so queries do not queue behind each
other. ``rewrite(reply)`` may change each forwarded reply (an attacker on the path, a
broken resolver). With ``servfail`` every query is answered SERVFAIL (a failing upstream
for dnsmasq, tests/dns/conftest.py). ``respond(query)``, when given, makes the whole reply
(records signed in a test, with their RRSIGs); None falls through to ``answer``."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset

Answer = Callable[[str, str], list[str] | None]
Rewrite = Callable[[dns.message.Message], dns.message.Message]
Respond = Callable[[dns.message.Message], "dns.message.Message | None"]


class TinyDnsServer:
    def __init__(self, answer: Answer, delay: Callable[[str], float] = lambda name: 0.0,
                 upstream: tuple[str, int] | None = None, vouch: bool = False,
                 rewrite: Rewrite | None = None, servfail: bool = False,
                 respond: Respond | None = None) -> None:
        # vouch: set the AD bit on every forwarded answer, as a resolver that claims to have
        # validated whatever it relays (wrongly, for a bogus one).
        self.answer, self.delay, self.upstream, self.vouch = answer, delay, upstream, vouch
        self.rewrite, self.servfail, self.respond = rewrite, servfail, respond
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port: int = self.sock.getsockname()[1]
        self.server = f"127.0.0.1:{self.port}"
        self.queries: list[tuple[str, str]] = []  # (name without the final dot, type)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self.sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                query = dns.message.from_wire(data)
                question = query.question[0]
            except Exception:  # not a DNS query: ignore it
                continue
            name = question.name.to_text(omit_final_dot=True).lower()
            rdtype = dns.rdatatype.to_text(question.rdtype)
            with self._lock:
                self.queries.append((name, rdtype))
            if self.servfail:
                reply = dns.message.make_response(query)
                reply.set_rcode(dns.rcode.SERVFAIL)
                self._send(reply.to_wire(), peer)
                continue
            if self.respond is not None and (made := self.respond(query)) is not None:
                self._send(made.to_wire(), peer)
                continue
            records = self.answer(name, rdtype)
            if records is None and self.upstream is not None:
                threading.Thread(target=self._forward, args=(data, peer), daemon=True).start()
                continue
            reply = dns.message.make_response(query)
            if records:
                reply.answer.append(dns.rrset.from_text_list(question.name, 60, "IN", rdtype,
                                                             records))  # fmt: skip
            wait = self.delay(name)
            if wait > 0:
                timer = threading.Timer(wait, self._send, (reply.to_wire(), peer))
                timer.daemon = True
                timer.start()
            else:
                self._send(reply.to_wire(), peer)

    def _forward(self, data: bytes, peer: tuple[str, int]) -> None:
        assert self.upstream is not None
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as up:
            up.settimeout(5)
            try:
                up.sendto(data, self.upstream)
                wire, _ = up.recvfrom(65535)
            except OSError:
                return  # no answer: the client times out, as behind a dead upstream
        if self.vouch or self.rewrite is not None:
            reply = dns.message.from_wire(wire)
            if self.vouch:
                reply.flags |= dns.flags.AD
            if self.rewrite is not None:
                reply = self.rewrite(reply)
            wire = reply.to_wire()
        self._send(wire, peer)

    def _send(self, wire: bytes, peer: tuple[str, int]) -> None:
        with contextlib.suppress(OSError):  # closed meanwhile
            self.sock.sendto(wire, peer)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()
