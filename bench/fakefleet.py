#!/usr/bin/env python3
"""A fake fleet of SMTP servers on loopback: 1,000 by default, one asyncio process, each
server on its own 127.x.y.z address, for the many-targets scale test and bench_fleet.py.

    python3 bench/fakefleet.py                      # 1,000 servers; prints where, runs until ^C
    python3 bench/fakefleet.py --count 200 --port 2500 --targets /tmp/fleet.txt

Most servers are ordinary, well-configured MTAs (Postfix, Exim, OpenSMTPD and Exchange
wording, their EHLO keywords in their own order, STARTTLS that works, VRFY off, relaying
refused). A few, at fixed places in the plan, are *planted*: open relays, VRFY or EXPN that
tell users apart, no STARTTLS, AUTH offered before TLS, a banner that names the software's
version, a banner full of markup, a server that refuses every session. ``plan()`` is
deterministic (the same count gives the same hosts, traits and banners), and each host says
which of smtpsh probe's dangerous findings it must produce (``Host.expected``).

The servers behave like their MTAs where a client can tell: replies to pipelined commands in
order and in one write (MTAs flush their output when no more input waits), Postfix's error
limits (a 1 s pause before each reply from the 10th error on, 421 at the 20th), STARTTLS
that discards what was pipelined after it, and a polite close after 221 and 421
(half-close, then read what the client still sends) so that a TCP reset cannot eat the
last reply. Nothing is delivered: DATA is read and thrown away.

Importable: ``with running_fleet(count) as fleet:`` starts it in a child process (raising
its open-files limit) and yields the Fleet (hosts, the targets file text, the plan); when
the block ends it stops the child and reads its counters (connections, commands).

Only loopback addresses (127.0.0.0/8) are ever bound.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import datetime
import errno
import gc
import ipaddress
import json
import os
import random
import resource
import select
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

DEFAULT_COUNT = 1000
SEED = 19  # the plan's personas; change it and every expectation moves
DOMAIN = "fleet.test"
LOCAL_USERS = frozenset({"root", "postmaster", "admin", "alice", "bob"})
SOFT_ERROR_LIMIT = 10  # Postfix's smtpd_soft_error_limit: pause before each reply from here
SOFT_ERROR_PAUSE = 1.0  # Postfix's smtpd_error_sleep_time
# The ports smtpsh probe takes for mail submission (smtpsh.audit.report.SUBMISSION_PORTS):
# there, and only there, optional STARTTLS is a dangerous finding.
SUBMISSION_PORTS = frozenset({587, 2525})
HARD_ERROR_LIMIT = 20  # Postfix's smtpd_hard_error_limit: 421 and close
LINGER = 2.0  # seconds to read what a client still sends after our last reply
MAX_LINE = 4096

# --- personas: how each MTA words things (texts as the real ones send them) ------------

POSTFIX = {
    "banner": "{name} ESMTP Postfix (Debian/GNU)",
    "banner_version": "{name} ESMTP Postfix 2.11.3",
    "ehlo": "{name}",
    # Postfix's keyword order; VRFY is left out when disable_vrfy_command = yes.
    "keywords": "PIPELINING|SIZE 10240000|VRFY|ETRN|STARTTLS|AUTH|ENHANCEDSTATUSCODES|8BITMIME"
                "|DSN|SMTPUTF8|CHUNKING",
    "unknown": "502 5.5.2 Error: command not recognized",
    "help": "502 5.5.2 Error: command not recognized",
    "need_ehlo": "503 5.5.1 Error: send HELO/EHLO first",
    "bad_helo": "501 Syntax: {verb} hostname",
    "mail_ok": "250 2.1.0 Ok",
    "rcpt_ok": "250 2.1.5 Ok",
    "rset": "250 2.0.0 Ok",
    "noop": "250 2.0.0 Ok",
    "quit": "221 2.0.0 Bye",
    "bad_mail": "501 5.1.7 Bad sender address syntax",
    "bad_rcpt": "501 5.1.3 Bad recipient address syntax",
    "nested": "503 5.5.1 Error: nested MAIL command",
    "need_mail": "503 5.5.1 Error: need MAIL command",
    "need_rcpt": "554 5.5.1 Error: no valid recipients",
    "relay_denied": "454 4.7.1 <{addr}>: Relay access denied",
    "user_unknown": "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local"
                    " recipient table",
    "vrfy_off": "502 5.5.1 VRFY command is disabled",
    "vrfy_known": "252 2.0.0 {arg}",
    "vrfy_unknown": "550 5.1.1 <{arg}>: Recipient address rejected: User unknown in local"
                    " recipient table",
    "expn_off": "502 5.5.2 Error: command not recognized",
    "starttls": "220 2.0.0 Ready to start TLS",
    "tls_active": "554 5.5.1 Error: TLS already active",
    "auth_failed": "535 5.7.8 Error: authentication failed: authentication failure",
    "auth_bad_mech": "535 5.7.8 Error: authentication failed: Invalid authentication"
                     " mechanism",
    "data": "354 End data with <CR><LF>.<CR><LF>",
    "queued": "250 2.0.0 Ok: queued as {queue_id}",
    "too_many_errors": "421 4.7.0 {name} Error: too many errors",
    "refused": "554 5.7.1 {name} ESMTP not accepting connections",
    "line_too_long": "500 5.5.2 Error: line too long",
}

EXIM = {
    **POSTFIX,
    "banner": "{name} ESMTP Exim",
    "banner_version": "{name} ESMTP Exim 4.96 {date}",
    "ehlo": "{name} Hello {helo} [{peer}]",
    "keywords": "SIZE 52428800|8BITMIME|PIPELINING|PIPECONNECT|AUTH|CHUNKING|STARTTLS|PRDR"
                "|HELP",
    "unknown": "500 unrecognized command",
    "help": "214-Commands supported:\n214 AUTH STARTTLS HELO EHLO MAIL RCPT DATA BDAT NOOP"
            " QUIT RSET HELP",
    "need_ehlo": "503 HELO or EHLO required",
    "bad_helo": "501 Syntactically invalid {verb} argument(s)",
    "mail_ok": "250 OK",
    "rcpt_ok": "250 Accepted",
    "rset": "250 Reset OK",
    "noop": "250 OK",
    "quit": "221 {name} closing connection",
    "bad_mail": "501 {arg}: sender address must contain a domain",
    "bad_rcpt": "501 <{addr}>: malformed address",
    "literal_sender": "501 <{addr}>: domain literals not allowed",
    "nested": "503 sender already given",
    "need_mail": "503 sender not yet given",
    "need_rcpt": "503 valid RCPT command must precede DATA",
    "relay_denied": "550 relay not permitted",
    "user_unknown": "550 Unrouteable address",
    # No acl_smtp_vrfy / acl_smtp_expn: Exim's defaults refuse both.
    "vrfy_off": "252 Administrative prohibition",
    "vrfy_known": "250 <{arg}> is deliverable",
    "vrfy_unknown": "550 <{arg}> Unrouteable address",
    "needs_domain": "501 {arg}: recipient address must contain a domain",
    "expn_off": "550 Administrative prohibition",
    "expn_known": "250 <{arg}>",
    "expn_unknown": "550 Unrouteable address",
    "starttls": "220 TLS go ahead",
    "tls_active": "554 Already in TLS",
    "auth_failed": "535 Incorrect authentication data",
    "auth_bad_mech": "504 {arg} mechanism not supported",
    "data": "354 Enter message, ending with \".\" on a line by itself",
    "queued": "250 OK id={queue_id}",
    "too_many_errors": "421 {name} too many syntax or protocol errors",
    # smtp_max_synprot_errors: the 4th syntax or protocol error (500, 501, 503) ends the
    # session (the reply, then "CODE Too many syntax or protocol errors", then a close).
    "synprot_limit": "3",
    "refused": "554 {name} ESMTP service not available",
    "line_too_long": "500 line too long",
}

OPENSMTPD = {
    **POSTFIX,
    "banner": "{name} ESMTP OpenSMTPD",
    "banner_version": "{name} ESMTP OpenSMTPD 6.8.0p2",
    "ehlo": "{name} Hello {helo} [{peer}], pleased to meet you",
    "keywords": "8BITMIME|ENHANCEDSTATUSCODES|SIZE 36700160|DSN|STARTTLS|AUTH|HELP",
    "unknown": "500 5.5.1 Invalid command: Command unrecognized",
    "help": "214- This is OpenSMTPD\n214- To report bugs in the implementation, please"
            " contact bugs@openbsd.org\n214- with full details\n214 2.0.0: End of HELP info",
    "need_ehlo": "503 5.5.1 Invalid command: Polite people say HELO first",
    "bad_helo": "501 5.5.4 Syntax: {verb} hostname",
    "mail_ok": "250 2.0.0 Ok",
    "rcpt_ok": "250 2.1.5 Destination address valid: Recipient ok",
    "rset": "250 2.0.0 Reset state",
    "noop": "250 2.0.0 Ok",
    "quit": "221 2.0.0 Bye",
    "bad_mail": "553 5.1.0 Sender address syntax error",
    "bad_rcpt": "553 5.1.3 Recipient address syntax error",
    "nested": "503 5.5.1 Invalid command: MAIL already specified",
    "need_mail": "503 5.5.1 Invalid command: No sender specified",
    "need_rcpt": "503 5.5.1 Invalid command: No recipient specified",
    "relay_denied": "550 Invalid recipient: <{addr}>",
    "user_unknown": "550 Invalid recipient: <{addr}>",
    "vrfy_off": "500 5.5.1 Invalid command",
    "expn_off": "500 5.5.1 Invalid command",
    "starttls": "220 2.0.0 Ready to start TLS",
    "tls_active": "503 5.5.1 Invalid command: Command not allowed at this point.",
    "auth_failed": "535 Authentication failed",
    "data": "354 Enter mail, end with \".\" on a line by itself",
    "queued": "250 2.0.0 {queue_id} Message accepted for delivery",
    "too_many_errors": "421 4.7.0 {name} Too many errors, closing session",
    "refused": "554 5.7.1 {name} ESMTP not accepting connections",
    "line_too_long": "500 5.5.1 Invalid command: Line too long",
}

EXCHANGE = {
    **POSTFIX,
    "banner": "{name} Microsoft ESMTP MAIL Service ready at {date}",
    "banner_version": "{name} Microsoft ESMTP MAIL Service, Version: 8.5.9600.16384 ready at"
                      " {date}",
    "ehlo": "{name} Hello [{peer}]",
    "keywords": "SIZE 37748736|PIPELINING|DSN|ENHANCEDSTATUSCODES|STARTTLS|X-ANONYMOUSTLS"
                "|AUTH|8BITMIME|BINARYMIME|CHUNKING|SMTPUTF8",
    "unknown": "500 5.3.3 Unrecognized command '{verb}'",
    "help": "214-This server supports the following commands:\n214 HELO EHLO STARTTLS RCPT"
            " DATA RSET MAIL QUIT HELP AUTH BDAT",
    "need_ehlo": "503 5.5.2 Send hello first",
    "bad_helo": "501 5.5.4 Invalid domain name",
    "mail_ok": "250 2.1.0 Sender OK",
    "rcpt_ok": "250 2.1.5 Recipient OK",
    "rset": "250 2.0.0 Resetting",
    "noop": "250 2.0.0 OK",
    "quit": "221 2.0.0 Service closing transmission channel",
    "bad_mail": "501 5.1.7 Invalid address",
    "bad_rcpt": "501 5.1.3 Invalid address",
    "nested": "503 5.5.2 Sender already specified",
    "need_mail": "503 5.5.2 Need mail command",
    "need_rcpt": "503 5.5.2 Need rcpt command",
    "relay_denied": "550 5.7.54 SMTP; Unable to relay recipient in non-accepted domain",
    "user_unknown": "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP"
                    " address lookup",
    "vrfy_off": "252 2.1.5 Cannot VRFY user, but will accept message for <{arg}@{domain}>",
    "expn_off": "502 5.3.3 Command not implemented",
    "starttls": "220 2.0.0 SMTP server ready",
    "tls_active": "503 5.5.1 Already in TLS",
    "auth_failed": "535 5.7.3 Authentication unsuccessful",
    "data": "354 Start mail input; end with <CRLF>.<CRLF>",
    "queued": "250 2.6.0 <{queue_id}@{name}> [InternalId=1] Queued mail for delivery",
    "too_many_errors": "421 4.7.0 Too many errors on this connection, closing transmission"
                       " channel",
    "refused": "554 5.7.1 {name} Service unavailable",
    "line_too_long": "500 5.5.2 Line too long",
}

SENDMAIL = {
    **POSTFIX,
    "banner": "{name} ESMTP Sendmail; {date}",
    "banner_version": "{name} ESMTP Sendmail 8.17.1.9/8.17.1.9/Debian-2; {date}",
    "ehlo": "{name} Hello localhost [{peer}], pleased to meet you",
    "keywords": "ENHANCEDSTATUSCODES|PIPELINING|EXPN|VERB|8BITMIME|SIZE|DSN|ETRN|AUTH"
                "|STARTTLS|DELIVERBY|HELP",
    "unknown": "500 5.5.1 Command unrecognized: \"{line}\"",
    "help": "214-2.0.0 This is sendmail\n214-2.0.0 Topics:\n214-2.0.0 \tHELO\tEHLO\tMAIL"
            "\tRCPT\tDATA\n214-2.0.0 \tRSET\tNOOP\tQUIT\tHELP\tVRFY\n214-2.0.0 \tEXPN\tVERB"
            "\tETRN\tDSN\tAUTH\n214-2.0.0 \tSTARTTLS\n214 2.0.0 End of HELP info",
    "need_ehlo": "503 5.0.0 Polite people say HELO first",
    "bad_helo": "501 5.0.0 {verb} requires domain address",
    "mail_ok": "250 2.1.0 <{addr}>... Sender ok",
    "rcpt_ok": "250 2.1.5 <{addr}>... Recipient ok",
    "rset": "250 2.0.0 Reset state",
    "noop": "250 2.0.0 OK",
    "quit": "221 2.0.0 {name} closing connection",
    "bad_mail": "553 5.5.4 {arg}... Domain name required for sender address {arg}",
    "bad_rcpt": "553 5.1.3 <{addr}>... Invalid route address",
    "nested": "503 5.5.0 Sender already specified",
    "need_mail": "503 5.0.0 Need MAIL before RCPT",
    "need_rcpt": "503 5.0.0 Need RCPT (recipient)",
    "relay_denied": "550 5.7.1 <{addr}>... Relaying denied",
    "user_unknown": "550 5.1.1 <{addr}>... User unknown",
    "vrfy_off": "252 2.5.2 Cannot VRFY user; try RCPT to attempt delivery (or try finger)",
    "expn_off": "502 5.7.0 Sorry, we do not allow this operation",
    "expn_known": "250 2.1.5 <{arg}@{name}>",
    "expn_unknown": "550 5.1.1 {arg}... User unknown",
    "starttls": "220 2.0.0 Ready to start TLS",
    "tls_active": "454 4.3.3 TLS not available after start",
    "auth_failed": "535 5.7.0 authentication failed",
    "data": "354 Enter mail, end with \".\" on a line by itself",
    "queued": "250 2.0.0 {queue_id} Message accepted for delivery",
    "too_many_errors": "421 4.7.0 {name} Too many errors",
    "refused": "554 5.0.0 {name} Sorry, service not available",
    "line_too_long": "500 5.5.0 Line too long",
}

PERSONAS: dict[str, dict[str, str]] = {
    "postfix": POSTFIX, "exim": EXIM, "opensmtpd": OPENSMTPD, "exchange": EXCHANGE,
    "sendmail": SENDMAIL,
}
# The mix of the ordinary hosts (roughly what a scan of the Internet's MX hosts finds).
PERSONA_WEIGHTS = (("postfix", 55), ("exim", 25), ("exchange", 12), ("opensmtpd", 8))

# --- the plan ---------------------------------------------------------------------------

# What a planted host does wrong (and the smtpsh probe finding it must produce):
#   open_relay     accepts RCPT for any domain             open_relay
#   vrfy           VRFY answers a user and a stranger apart  vrfy
#   expn           EXPN answers a user and a stranger apart  expn
#   no_starttls    STARTTLS not in EHLO                     no_starttls
#   auth_in_clear  AUTH PLAIN LOGIN before STARTTLS         auth_in_clear
#   banner_version the banner names software and version    banner_version
#   ntlm           AUTH NTLM (after TLS) whose challenge     ntlm_info
#                  names the internal domain and host
#   hostile_banner markup and a <script> in the banner      (none: the report must escape it)
#   refuses        554 at the banner                        (none: the probe cannot run)
FINDING_OF = {
    "open_relay": "open_relay", "vrfy": "vrfy", "expn": "expn", "no_starttls": "no_starttls",
    "auth_in_clear": "auth_in_clear", "banner_version": "banner_version", "ntlm": "ntlm_info",
}
HOSTILE_BANNER = ("{name} ESMTP <script>alert('fleet')</script> <b>ready</b>"
                  " <img src=x onerror=alert(1)>")
# (persona, traits): spread evenly over the plan, in this order.
PLANTS: tuple[tuple[str, frozenset[str]], ...] = tuple(
    (persona, frozenset(traits.split())) for persona, traits in (
        ("postfix", "open_relay"),
        ("postfix", "vrfy"),
        ("postfix", "no_starttls"),
        ("postfix", "auth_in_clear"),
        ("sendmail", "banner_version"),
        ("exim", "open_relay"),
        ("exim", "vrfy"),
        ("exim", "expn"),
        ("postfix", "hostile_banner"),
        ("exim", "no_starttls"),
        ("postfix", "refuses"),
        ("exchange", "auth_in_clear"),
        ("opensmtpd", "open_relay"),
        ("postfix", "banner_version"),
        ("sendmail", "expn banner_version"),
        ("postfix", "open_relay vrfy no_starttls auth_in_clear banner_version"),
        ("exim", "banner_version"),
        ("exchange", "open_relay"),
        ("exchange", "ntlm"),
    )
)


@dataclass(frozen=True)
class Host:
    index: int
    address: str
    port: int
    persona: str
    name: str
    traits: frozenset[str] = frozenset()

    @property
    def target(self) -> str:
        """HOST:PORT, as a targets file line."""
        return f"{self.address}:{self.port}"

    @property
    def expected(self) -> frozenset[str]:
        """The dangerous findings `smtpsh probe` must report here, and no others."""
        if "refuses" in self.traits:
            return frozenset()
        found = {FINDING_OF[t] for t in self.traits if t in FINDING_OF}
        # On a submission port, a server that lets mail in without TLS is a finding (it
        # should require it); on 25 it is the norm (RFC 3207 §4); on another port the role
        # is unknown and probe says so without counting it.
        if self.port in SUBMISSION_PORTS and "no_starttls" not in self.traits:
            found.add("starttls_not_required")
        return frozenset(found)

    @property
    def banner(self) -> str:
        replies = PERSONAS[self.persona]
        if "hostile_banner" in self.traits:
            text = HOSTILE_BANNER
        elif "refuses" in self.traits:
            return replies["refused"].format(name=self.name)
        elif "banner_version" in self.traits:
            text = replies["banner_version"]
        else:
            text = replies["banner"]
        return "220 " + text.format(name=self.name, date=BANNER_DATE)


BANNER_DATE = "Sun, 06 Dec 2026 04:00:00 +0000"  # fixed: the plan is deterministic


def addresses(network: str, count: int) -> list[str]:
    """``count`` host addresses of a 127.x.y.0/22 (or larger) block, in order."""
    net = ipaddress.ip_network(network)
    if not net.subnet_of(ipaddress.ip_network("127.0.0.0/8")):  # type: ignore[arg-type]
        raise ValueError(f"{network}: the fleet binds loopback addresses only")
    out = []
    for address in net.hosts():
        out.append(str(address))
        if len(out) == count:
            return out
    raise ValueError(f"{network} holds fewer than {count} host addresses")


def block_for(count: int) -> int:
    """The prefix length of the smallest block holding ``count`` hosts."""
    prefix = 30
    while (1 << (32 - prefix)) - 2 < count:
        prefix -= 1
    return prefix


def plan(network: str, port: int, count: int = DEFAULT_COUNT) -> list[Host]:
    """The fleet: the same count always gives the same personas and planted hosts."""
    rng = random.Random(SEED)
    names = [name for name, _ in PERSONA_WEIGHTS]
    weights = [weight for _, weight in PERSONA_WEIGHTS]
    step = max(1, count // max(1, len(PLANTS)))
    planted = {3 + i * step: plant for i, plant in enumerate(PLANTS) if 3 + i * step < count}
    hosts = []
    for index, address in enumerate(addresses(network, count)):
        persona = rng.choices(names, weights)[0]  # drawn for every host: stable sequence
        traits: frozenset[str] = frozenset()
        if index in planted:
            persona, traits = planted[index]
        hosts.append(Host(index, address, port, persona, f"mx{index:04d}.{DOMAIN}", traits))
    return hosts


# --- one SMTP session --------------------------------------------------------------------


@dataclass
class Counters:
    connections: int = 0
    commands: int = 0
    tls: int = 0
    errors_421: int = 0
    paused: int = 0  # replies held back by the soft error limit
    active: int = 0
    peak_active: int = 0
    per_host: dict[int, int] = field(default_factory=dict)  # index -> connections

    def as_dict(self) -> dict[str, object]:
        return {
            "connections": self.connections, "commands": self.commands, "tls": self.tls,
            "errors_421": self.errors_421, "paused_replies": self.paused,
            "peak_active": self.peak_active,
            "max_connections_per_host": max(self.per_host.values(), default=0),
            "cpu_seconds": round(sum(resource.getrusage(resource.RUSAGE_SELF)[:2]), 2),
        }


def ntlm_challenge(index: int) -> bytes:
    """An NTLM CHALLENGE_MESSAGE ([MS-NLMP] 2.2.1.2) as an Exchange server in a Windows
    domain sends it to anyone who asks: its NetBIOS and DNS names, the domain's, and the
    Windows build: what smtpsh probe (and nmap's smtp-ntlm-info) report."""
    def utf16(text: str) -> bytes:
        return text.encode("utf-16-le")

    computer = f"EXCH{index:04d}"
    pairs = [(2, utf16("FLEETCORP")), (1, utf16(computer)), (4, utf16("corp.fleet.test")),
             (3, utf16(f"{computer.lower()}.corp.fleet.test")), (5, utf16("corp.fleet.test")),
             (7, struct.pack("<Q", 134_100_000_000_000_000))]  # MsvAvTimestamp (2025)
    info = b"".join(struct.pack("<HH", key, len(value)) + value for key, value in pairs)
    info += struct.pack("<HH", 0, 0)  # MsvAvEOL
    target = utf16("FLEETCORP")
    flags = 0x00000001 | 0x00000004 | 0x00000200 | 0x00008000 | 0x00010000 | 0x00080000 \
        | 0x00800000 | 0x02000000 | 0x20000000 | 0x80000000
    header_size = 56  # the fixed fields and the VERSION structure
    return b"".join([
        b"NTLMSSP\0", struct.pack("<I", 2),
        struct.pack("<HHI", len(target), len(target), header_size),
        struct.pack("<I", flags),
        struct.pack("<Q", 0x0123456789ABCDEF + index),  # ServerChallenge
        bytes(8),  # Reserved
        struct.pack("<HHI", len(info), len(info), header_size + len(target)),
        struct.pack("<BBH3xB", 10, 0, 17763, 15),  # Windows 10.0.17763, NTLM revision 15
        target, info,
    ])


def _address_of(argument: str) -> str:
    """The address inside MAIL FROM:<...> / RCPT TO:<...> (ESMTP parameters dropped)."""
    value = argument.strip()
    if value.startswith("<"):
        end = value.find(">")
        return value[1:end] if end > 0 else ""
    return value.split(" ", 1)[0]


class Session(asyncio.Protocol):
    """One client connection to one fake server."""

    def __init__(self, host: Host, context: ssl.SSLContext, counters: Counters,
                 error_pause: float = SOFT_ERROR_PAUSE) -> None:
        self.host = host
        self.error_pause = error_pause
        self.replies = PERSONAS[host.persona]
        self.context = context
        self.counters = counters
        self.transport: asyncio.Transport | None = None
        self.buffer = b""
        self.paused = False  # a reply is held back, or TLS is starting: lines wait
        self.closing = False
        self.in_data = False
        self.tls = False
        self.helo = ""
        self.mail: str | None = None
        self.rcpts = 0
        self.errors = 0
        self.synprot = 0  # Exim's count of syntax and protocol errors
        self.auth_step = ""  # "LOGIN-user", "LOGIN-pass", "PLAIN": an AUTH exchange is on
        self.peer = "127.0.0.1"
        self.queued = 0
        self.refusing = False
        self.out: list[bytes] = []  # replies not yet written (_flush)

    # -- asyncio callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (uvloop's transports are no subclass of asyncio.Transport, but have its methods.)
        self.transport = cast(asyncio.Transport, transport)
        # The listening sockets are made with proto 0, so asyncio does not set TCP_NODELAY
        # on what they accept: Nagle then held the 2nd and 3rd reply to a pipelined group
        # until the client's delayed ACK (~40 ms a group). An MTA flushes them together
        # (the loopback Postfix answers RSET, MAIL, RCPT in one go in under a millisecond).
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        if peer:
            self.peer = peer[0]
        c = self.counters
        c.connections += 1
        c.active += 1
        c.peak_active = max(c.peak_active, c.active)
        c.per_host[self.host.index] = c.per_host.get(self.host.index, 0) + 1
        # RFC 5321 §3.1: a server that will not serve says 554 and waits for QUIT.
        self.refusing = "refuses" in self.host.traits
        self._write(self.host.banner)
        self._flush()

    def connection_lost(self, exc: Exception | None) -> None:
        self.counters.active -= 1
        self.closing = True

    def eof_received(self) -> bool | None:
        if self.transport is not None:
            self.transport.close()
        return None

    def data_received(self, data: bytes) -> None:
        if self.closing:
            return  # after our last word: read and drop (the lingering close)
        self.buffer += data
        self._process()

    # -- lines

    def _process(self) -> None:
        """The whole lines received, then their replies in one write: as Postfix and Exim
        flush their output only when they have no more input to read, the replies to a
        pipelined group leave together (one segment, one read for the client)."""
        self._take_lines()
        self._flush()

    def _take_lines(self) -> None:
        while not self.paused and not self.closing:
            end = self.buffer.find(b"\n")
            if end < 0:
                if len(self.buffer) > MAX_LINE:
                    self.buffer = b""
                    self._reply(self.replies["line_too_long"], error=True)
                return
            line, self.buffer = self.buffer[:end], self.buffer[end + 1:]
            text = line.rstrip(b"\r").decode("utf-8", "replace")
            if self.in_data:
                if text == ".":
                    self.in_data = False
                    self.queued += 1
                    self._reply(self.replies["queued"].format(
                        queue_id=f"{self.host.index:04X}{self.queued:05X}", name=self.host.name))
                    self.mail, self.rcpts = None, 0
                continue
            self.counters.commands += 1
            self._command(text)

    def _write(self, reply: str) -> None:
        """Queue a reply (its lines joined with '-' but the last); _flush writes."""
        if "\n" not in reply:
            self.out.append(f"{reply}\r\n".encode("utf-8", "replace"))
            return
        lines = reply.split("\n")
        wire = "".join(
            f"{line[:3]}{'-' if i < len(lines) - 1 else ' '}{line[4:]}\r\n"
            if len(line) > 3 else f"{line}\r\n" for i, line in enumerate(lines)
        )
        self.out.append(wire.encode("utf-8", "replace"))

    def _flush(self) -> None:
        if self.out and self.transport is not None and not self.transport.is_closing():
            self.transport.write(b"".join(self.out))
        self.out.clear()

    def _reply(self, reply: str, *, error: bool = False) -> None:
        """Send a reply, counting errors as Postfix does: from the soft limit on, each reply
        waits a second; at the hard limit the session ends with 421. Exim ends it at its
        own, lower limit of syntax and protocol errors."""
        errors_before = self.errors
        if error:
            self.errors += 1
            if "synprot_limit" in self.replies and reply[:3] in ("500", "501", "503"):
                self.synprot += 1
                if self.synprot > int(self.replies["synprot_limit"]):
                    self._last_word(f"{reply}\n{reply[:3]} Too many syntax or protocol errors")
                    return
        if self.errors >= HARD_ERROR_LIMIT:
            self.counters.errors_421 += 1
            self._last_word(self.replies["too_many_errors"].format(name=self.host.name))
            return
        if errors_before >= SOFT_ERROR_LIMIT:
            self.paused = True
            self.counters.paused += 1
            asyncio.get_running_loop().call_later(self.error_pause, self._resume, reply)
            return
        self._write(reply)

    def _resume(self, reply: str) -> None:
        if self.closing or self.transport is None or self.transport.is_closing():
            return
        self._write(reply)
        self.paused = False
        self._process()

    def _last_word(self, reply: str) -> None:
        """Say ``reply`` and close the way MTAs do: half-close our side, read (and drop)
        whatever the client still sends until it closes, so no reset discards the reply."""
        assert self.transport is not None
        self._write(reply)
        self._flush()
        self.closing = True
        transport = self.transport
        if transport.can_write_eof():
            transport.write_eof()
            asyncio.get_running_loop().call_later(LINGER, transport.close)
        else:  # TLS: no half-close; the reply is flushed before the close
            transport.close()

    def _command(self, line: str) -> None:
        r = self.replies
        host = self.host
        verb, _, arg = line.partition(" ")
        verb = verb.upper()
        arg = arg.strip()
        fmt = {"name": host.name, "arg": arg, "verb": verb, "line": line, "helo": self.helo,
               "peer": self.peer, "domain": DOMAIN}
        if self.auth_step:
            self._auth_continue(line)
            return
        if self.refusing:
            if verb == "QUIT":
                self._last_word(r["quit"].format(**fmt))
            else:
                self._reply("503 5.5.0 Error: no SMTP service here", error=True)
            return
        if verb in ("EHLO", "HELO"):
            if not arg:
                self._reply(r["bad_helo"].format(**fmt), error=True)
                return
            self.helo, fmt["helo"] = arg, arg
            self.mail, self.rcpts = None, 0
            greeting = r["ehlo"].format(**fmt)
            if verb == "HELO":
                self._reply(f"250 {greeting}")
                return
            self._reply("\n".join(f"250 {x}" for x in [greeting, *self._keywords()]))
            return
        if verb == "QUIT":
            self._last_word(r["quit"].format(**fmt))
            return
        if verb == "NOOP":
            self._reply(r["noop"])
            return
        if verb == "RSET":
            self.mail, self.rcpts = None, 0
            self._reply(r["rset"])
            return
        if verb == "HELP":
            help_text = r["help"].format(**fmt)
            self._reply(help_text, error=help_text[0] in "45")
            return
        if verb == "STARTTLS":
            self._starttls(arg)
            return
        if verb == "VRFY":
            self._verify("vrfy", arg, fmt)
            return
        if verb == "EXPN":
            self._verify("expn", arg, fmt)
            return
        if not self.helo:
            if verb in ("MAIL", "RCPT", "DATA", "AUTH", "BDAT"):
                self._reply(r["need_ehlo"], error=True)
            else:
                self._reply(r["unknown"].format(**fmt), error=True)
            return
        upper = line.upper()
        if upper.startswith("MAIL FROM:"):
            self._mail(line[10:], fmt)
        elif upper.startswith("RCPT TO:"):
            self._rcpt(line[8:], fmt)
        elif verb == "DATA":
            if self.mail is None:
                self._reply(r["need_mail"], error=True)
            elif not self.rcpts:
                self._reply(r["need_rcpt"], error=True)
            else:
                self.in_data = True
                self._reply(r["data"])
        elif verb == "AUTH" and self._auth_offered():
            self._auth_start(arg, fmt)
        else:
            self._reply(r["unknown"].format(**fmt), error=True)

    def _keywords(self) -> list[str]:
        traits = self.host.traits
        out = []
        for keyword in self.replies["keywords"].split("|"):
            if keyword == "VRFY" and "vrfy" not in traits:
                continue
            if keyword == "EXPN" and "expn" not in traits:
                continue
            if keyword == "STARTTLS" and ("no_starttls" in traits or self.tls):
                continue
            if keyword == "X-ANONYMOUSTLS" and self.tls:
                continue
            if keyword == "AUTH":
                if not self._auth_offered():
                    continue
                keyword = ("AUTH NTLM LOGIN" if "ntlm" in self.host.traits else
                           "AUTH LOGIN" if self.host.persona == "exchange" else "AUTH PLAIN LOGIN")
            out.append(keyword)
        return out

    def _auth_offered(self) -> bool:
        # Submission-style AUTH after TLS everywhere; before TLS only where planted.
        return self.tls or "auth_in_clear" in self.host.traits

    def _auth_start(self, arg: str, fmt: dict[str, str]) -> None:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if mechanism == "PLAIN":
            if initial:
                self._reply(self.replies["auth_failed"], error=True)
            else:
                self.auth_step = "PLAIN"
                self._write("334 ")
        elif mechanism == "LOGIN":
            self.auth_step = "LOGIN-user"
            self._write("334 VXNlcm5hbWU6")
        elif mechanism == "NTLM" and "ntlm" in self.host.traits and self.tls:
            self.auth_step = "NTLM-negotiate"
            self._write("334 NTLM supported")
        else:
            fmt["arg"] = mechanism
            self._reply(self.replies["auth_bad_mech"].format(**fmt), error=True)

    def _auth_continue(self, line: str) -> None:
        if line.strip() == "*":
            self.auth_step = ""
            self._reply("501 5.7.0 Authentication aborted", error=True)
        elif self.auth_step == "LOGIN-user":
            self.auth_step = "LOGIN-pass"
            self._write("334 UGFzc3dvcmQ6")
        elif self.auth_step == "NTLM-negotiate":
            try:
                negotiate = base64.b64decode(line.strip(), validate=True)
            except ValueError:
                negotiate = b""
            if not negotiate.startswith(b"NTLMSSP\0\x01\0\0\0"):
                self.auth_step = ""
                self._reply("501 5.5.2 Cannot decode response", error=True)
                return
            self.auth_step = "NTLM-authenticate"
            challenge = ntlm_challenge(self.host.index)
            self._write("334 " + base64.b64encode(challenge).decode())
        else:
            self.auth_step = ""
            self._reply(self.replies["auth_failed"], error=True)

    def _starttls(self, arg: str) -> None:
        r = self.replies
        if "no_starttls" in self.host.traits:
            self._reply(r["unknown"].format(verb="STARTTLS", line="STARTTLS"), error=True)
            return
        if self.tls:
            self._reply(r["tls_active"], error=True)
            return
        if arg:
            self._reply("501 5.5.4 Syntax: STARTTLS", error=True)
            return
        assert self.transport is not None
        self._write(r["starttls"])
        self._flush()  # the 220 in clear, with whatever came before it
        # RFC 3207 §4.2: anything pipelined after STARTTLS is dropped, never acted on.
        self.buffer = b""
        self.paused = True
        self.transport.pause_reading()
        asyncio.get_running_loop().create_task(self._upgrade())

    async def _upgrade(self) -> None:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        try:
            transport = await loop.start_tls(self.transport, self, self.context,
                                             server_side=True, ssl_handshake_timeout=15)
        except (TimeoutError, OSError, ssl.SSLError, ConnectionError):
            self.transport.abort()
            return
        if transport is None:
            return
        self.transport = cast(asyncio.Transport, transport)
        self.counters.tls += 1
        self.tls = True
        self.helo, self.mail, self.rcpts = "", None, 0  # RFC 3207 §4.2: forget it all
        self.paused = False
        self._process()

    def _verify(self, which: str, arg: str, fmt: dict[str, str]) -> None:
        r = self.replies
        if which not in self.host.traits:
            reply = r[f"{which}_off"].format(**fmt)
            self._reply(reply, error=reply[0] in "45")
            return
        if not arg:
            self._reply(f"501 5.5.4 Syntax: {which.upper()} address", error=True)
            return
        address = _address_of(arg)
        local, at, domain = address.rpartition("@")
        if not at:
            if "needs_domain" in r:  # Exim: a bare name is a syntax error
                self._reply(r["needs_domain"].format(**fmt), error=True)
                return
            local, domain = address, ""
        ours = not domain or domain.lower() in (self.host.name, DOMAIN)
        known = ours and local.lower() in LOCAL_USERS
        reply = r[f"{which}_known" if known else f"{which}_unknown"].format(**fmt)
        self._reply(reply, error=reply[0] in "45")

    def _mail(self, argument: str, fmt: dict[str, str]) -> None:
        r = self.replies
        if self.mail is not None:
            self._reply(r["nested"], error=True)
            return
        value = argument.strip()
        address = _address_of(value)
        fmt["addr"] = address
        if not value.startswith("<") or (address and "@" not in address):
            fmt["arg"] = value
            self._reply(r["bad_mail"].format(**fmt), error=True)
            return
        if "literal_sender" in r and "@[" in address:
            self._reply(r["literal_sender"].format(**fmt), error=True)
            return
        self.mail = address
        self._reply(r["mail_ok"].format(**fmt))

    def _rcpt(self, argument: str, fmt: dict[str, str]) -> None:
        r = self.replies
        if self.mail is None:
            self._reply(r["need_mail"], error=True)
            return
        value = argument.strip()
        address = _address_of(value)
        fmt["addr"] = address
        local, at, domain = address.rpartition("@")
        if not value.startswith("<") or not at or not local or not domain:
            self._reply(r["bad_rcpt"].format(**fmt), error=True)
            return
        ours = domain.lower() in (self.host.name, DOMAIN, f"[{self.host.address}]")
        if not ours:
            if "open_relay" in self.host.traits:
                self.rcpts += 1
                self._reply(r["rcpt_ok"].format(**fmt))
            else:
                self._reply(r["relay_denied"].format(**fmt), error=True)
            return
        # Local: the user table decides (routing tricks like "a%b" are not users).
        if local.lower() in LOCAL_USERS:
            self.rcpts += 1
            self._reply(r["rcpt_ok"].format(**fmt))
        else:
            self._reply(r["user_unknown"].format(**fmt), error=True)


# --- serving -----------------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    """One self-signed ECDSA P-256 certificate for every server (cheap handshakes)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{DOMAIN}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{DOMAIN}")]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    with tempfile.TemporaryDirectory() as folder:
        cert_file, key_file = Path(folder, "cert.pem"), Path(folder, "key.pem")
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                               serialization.PrivateFormat.PKCS8,
                                               serialization.NoEncryption()))
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(cert_file, key_file)
    return context


def raise_open_files(wanted: int) -> int:
    """Raise the soft RLIMIT_NOFILE towards ``wanted`` (at most the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def bind_block(count: int, port: int | None, network: str | None) -> tuple[str, int,
                                                                           list[socket.socket]]:
    """Listening sockets for ``count`` addresses: the network given, or a free random
    127.x.y.0 block (so that two fleets on one machine do not collide); the port given, or
    25 when allowed, else one free high port shared by all."""
    prefix = block_for(count)
    tries = 1 if network else 40
    rng = random.Random(os.getpid())
    last_error: OSError | None = None
    for _ in range(tries):
        if network is None:
            size = 1 << (32 - prefix)
            base = (127 << 24) | (rng.randrange(100, 200) << 16) | (
                rng.randrange(0, 65536 // size) * size if size < 65536 else 0)
            chosen = f"{ipaddress.IPv4Address(base)}/{prefix}"
        else:
            chosen = network
        wanted = port if port is not None else (25 if os.geteuid() == 0 else 0)
        sockets: list[socket.socket] = []
        try:
            for address in addresses(chosen, count):
                sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                sockets.append(sock)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                sock.bind((address, wanted))
                wanted = sock.getsockname()[1]
                sock.listen(128)
                sock.setblocking(False)
            return chosen, wanted, sockets
        except OSError as exc:
            for sock in sockets:
                sock.close()
            if exc.errno not in (errno.EADDRINUSE, errno.EACCES):
                raise
            last_error = exc
    raise OSError(f"no free block of {count} loopback addresses: {last_error}")


async def serve(hosts_sockets: list[tuple[Host, socket.socket]], stop: asyncio.Event,
                counters: Counters, error_pause: float = SOFT_ERROR_PAUSE) -> None:
    loop = asyncio.get_running_loop()
    context = _tls_context()
    servers = []
    for host, sock in hosts_sockets:
        def factory(host: Host = host) -> Session:
            return Session(host, context, counters, error_pause)
        servers.append(await loop.create_server(factory, sock=sock, backlog=128))
    await stop.wait()
    for server in servers:
        server.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=DEFAULT_COUNT,
                        help=f"how many servers (default {DEFAULT_COUNT})")
    parser.add_argument("--port", type=int, default=None,
                        help="the port of every server (default 25 as root, else a free one)")
    parser.add_argument("--network", help="a 127.x.y.z/N block (default: a free random one)")
    parser.add_argument("--targets", type=Path, help="write HOST:PORT a line to this file")
    parser.add_argument("--plan", type=Path, help="write the plan (JSON) to this file")
    parser.add_argument("--error-pause", type=float, default=SOFT_ERROR_PAUSE,
                        help="seconds each reply waits from the soft error limit on"
                             f" (default {SOFT_ERROR_PAUSE:g}, as Postfix)")
    parser.add_argument("--event-loop", choices=("auto", "asyncio", "uvloop"), default="auto",
                        help="auto (default): uvloop's when installed, else asyncio's")
    parser.add_argument("--child", action="store_true",
                        help="(for running_fleet) one JSON line when ready; counters at exit")
    args = parser.parse_args(argv)
    if args.count < 1 or args.count > 16000:
        parser.error("--count: 1 to 16000")
    raise_open_files(args.count + 8192)
    network, port, sockets = bind_block(args.count, args.port, args.network)
    hosts = plan(network, port, args.count)
    if args.targets:
        args.targets.write_text("".join(f"{h.target}\n" for h in hosts))
    if args.plan:
        args.plan.write_text(json.dumps(plan_json(hosts), indent=1))
    counters = Counters()
    factory = None
    if args.event_loop != "asyncio":
        try:
            import uvloop
            factory = uvloop.new_event_loop
        except ImportError:
            if args.event_loop == "uvloop":
                parser.error("--event-loop uvloop: uvloop is not installed")
    loop_name = "asyncio" if factory is None else "uvloop"

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        # SIGUSR1: the counters so far, a JSON line (Fleet.snapshot: one run's share).
        loop.add_signal_handler(signal.SIGUSR1, lambda: print(json.dumps(counters.as_dict()),
                                                              flush=True))
        task = loop.create_task(serve(list(zip(hosts, sockets, strict=True)), stop, counters,
                                     args.error_pause))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        if args.child:
            print(json.dumps({"network": network, "port": port, "count": args.count,
                              "loop": loop_name}), flush=True)
        else:
            planted = [h for h in hosts if h.traits]
            print(f"fakefleet: {len(hosts)} servers on {network} port {port}"
                  f" ({len(planted)} planted; {loop_name} event loop); Ctrl-C stops", flush=True)
            for h in planted:
                print(f"  {h.target:<22} {h.persona:<10} {' '.join(sorted(h.traits))}")
        await task

    # The fleet stands in for 1,000 servers that would run elsewhere: it should take as
    # little of the machine smtpsh is measured on as it can. Its replies make many
    # short-lived objects and few cycles: the cyclic collector runs at 10,000 new objects,
    # not 700 (as smtpsh's own runs over many targets do).
    gc.set_threshold(10_000, *gc.get_threshold()[1:])
    with asyncio.Runner(loop_factory=factory) as loop:
        loop.run(run())
    if args.child:
        print(json.dumps(counters.as_dict()), flush=True)
    else:
        print(f"fakefleet: stopped; {json.dumps(counters.as_dict())}")
    return 0


def plan_json(hosts: list[Host]) -> list[dict[str, object]]:
    return [{"target": h.target, "persona": h.persona, "name": h.name,
             "traits": sorted(h.traits), "expected": sorted(h.expected)} for h in hosts]


# --- for tests and benchmarks ------------------------------------------------------------


@dataclass
class Fleet:
    hosts: list[Host]
    network: str
    port: int
    pid: int
    counters: dict[str, object] = field(default_factory=dict)  # filled when it stops
    loop: str = "asyncio"  # its event loop: asyncio or uvloop
    _stdout: Any = None  # the child's standard output (snapshot reads it)

    def snapshot(self, timeout: float = 10) -> dict[str, Any]:
        """The counters so far (CPU seconds included), asked of the running child: the
        difference of two is what the fleet served, and spent, in between."""
        assert self._stdout is not None
        os.kill(self.pid, signal.SIGUSR1)
        ready, _, _ = select.select([self._stdout], [], [], timeout)
        line = self._stdout.readline() if ready else ""
        if not line:
            raise RuntimeError("the fake fleet did not answer SIGUSR1")
        counters: dict[str, Any] = json.loads(line)
        return counters

    def targets_text(self) -> str:
        return "".join(f"{h.target}\n" for h in self.hosts)

    def by_target(self) -> dict[str, Host]:
        return {h.target: h for h in self.hosts}

    @property
    def planted(self) -> list[Host]:
        return [h for h in self.hosts if h.traits]


@contextlib.contextmanager
def running_fleet(count: int = DEFAULT_COUNT, port: int | None = None,
                  network: str | None = None, error_pause: float = SOFT_ERROR_PAUSE,
                  ready_timeout: float = 60, event_loop: str = "auto") -> Iterator[Fleet]:
    """The fleet in a child process for the duration of the block."""
    argv = [sys.executable, str(Path(__file__).resolve()), "--child", "--count", str(count),
            "--error-pause", str(error_pause), "--event-loop", event_loop]
    if port is not None:
        argv += ["--port", str(port)]
    if network is not None:
        argv += ["--network", network]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready, _, _ = select.select([proc.stdout], [], [], ready_timeout)
        line = proc.stdout.readline() if ready else ""
        if not line:
            proc.kill()
            _, err = proc.communicate(timeout=10)
            raise RuntimeError(f"the fake fleet did not start: {err.strip()[-2000:]}")
        info = json.loads(line)
        fleet = Fleet(plan(info["network"], info["port"], count), info["network"], info["port"],
                      proc.pid, loop=info.get("loop", "asyncio"), _stdout=proc.stdout)
        yield fleet
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
        with contextlib.suppress(ValueError, NameError, IndexError):
            fleet.counters = json.loads(out.strip().splitlines()[-1])


if __name__ == "__main__":
    sys.exit(main())
