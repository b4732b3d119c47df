"""The fake fleet itself (bench/fakefleet.py), on a few dozen servers: the plan is the same
every time, each server says what its persona says, and it ends sessions the way MTAs do
(421 at the hard error limit reaches a client that pipelined more; nothing pipelined after
STARTTLS is acted on). The scale test and bench_fleet.py trust it to be right."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import pytest

from bench.fakefleet import HARD_ERROR_LIMIT, PLANTS, Fleet, Host, plan, running_fleet

COUNT = 40


@pytest.fixture(scope="module", params=["asyncio", "uvloop"])
def fleet(request: pytest.FixtureRequest) -> Iterator[Fleet]:
    # On either event loop (bench_fleet.py runs it on uvloop when installed).
    with running_fleet(COUNT, error_pause=0.05, event_loop=request.param) as running:
        assert running.loop == request.param
        yield running
    assert running.counters["connections"]  # it counted what it served


def _connect(host: Host) -> socket.socket:
    return socket.create_connection((host.address, host.port), timeout=10)


def _reply(stream: socket.socket) -> list[str]:
    """One whole reply (all its lines)."""
    lines: list[str] = []
    data = b""
    while True:
        while b"\r\n" not in data:
            chunk = stream.recv(4096)
            assert chunk, f"closed after {lines}"
            data += chunk
        line, data = data.split(b"\r\n", 1)
        lines.append(line.decode())
        if line[3:4] != b"-":
            assert not data, "more than one reply"
            return lines


def _say(stream: socket.socket, line: str) -> list[str]:
    stream.sendall(line.encode() + b"\r\n")
    return _reply(stream)


def test_the_plan_is_the_same_every_time() -> None:
    one, two = plan("127.5.0.0/22", 25, 1000), plan("127.5.0.0/22", 25, 1000)
    assert one == two
    assert len({h.address for h in one}) == 1000
    planted = [h for h in one if h.traits]
    assert len(planted) == len(PLANTS)
    assert {"open_relay", "vrfy", "expn", "no_starttls", "auth_in_clear", "banner_version",
            "ntlm_info"} <= {k for h in planted for k in h.expected}  # fmt: skip
    assert not any(h.expected for h in one if not h.traits)  # on port 25
    assert all("starttls_not_required" in h.expected  # submission: every optional STARTTLS
               for h in plan("127.5.0.0/22", 587, 50)
               if not h.traits & {"no_starttls", "refuses"})
    # Any other port: the role is unknown, optional STARTTLS is no dangerous finding.
    assert not any("starttls_not_required" in h.expected for h in plan("127.5.0.0/22", 2500, 50))
    with pytest.raises(ValueError, match="loopback"):
        plan("10.0.0.0/22", 25, 10)


def test_servers_speak_as_their_persona(fleet: Fleet) -> None:
    assert {h.persona for h in fleet.hosts} >= {"postfix", "exim"}
    for host in fleet.hosts:
        with _connect(host) as stream:
            assert _reply(stream) == [host.banner]
            if "refuses" in host.traits:
                assert host.banner.startswith("554 ")
                assert _say(stream, "QUIT")[0].startswith("221")
                continue
            ehlo = _say(stream, "EHLO client.test")
            keywords = [line[4:] for line in ehlo[1:]]
            assert ehlo[0].startswith(f"250-{host.name}")
            assert ("STARTTLS" in keywords) is ("no_starttls" not in host.traits)
            assert any(k.startswith("AUTH") for k in keywords) is ("auth_in_clear" in host.traits)
            assert _say(stream, "MAIL FROM:<a@example.org>")[0].startswith("250")
            relayed = _say(stream, "RCPT TO:<relaytest@example.com>")[0]
            assert relayed.startswith("250" if "open_relay" in host.traits else ("454", "550"))
            assert _say(stream, "QUIT")[0].startswith("221")
            assert stream.recv(100) == b""  # closed after 221


def test_421_at_the_hard_limit_survives_a_pipelining_client(fleet: Fleet) -> None:
    host = next(h for h in fleet.hosts if h.persona == "postfix" and not h.traits)
    with _connect(host) as stream:
        _reply(stream)
        _say(stream, "EHLO client.test")
        # Errors up to the soft limit, then enough pipelined at once to pass the hard limit
        # while more lines are still unread: the 421 must arrive, not a reset.
        stream.sendall(b"XNOPE\r\n" * (HARD_ERROR_LIMIT + 30))
        stream.settimeout(30)
        data = b""
        while chunk := stream.recv(65536):
            data += chunk
        last = data.decode().splitlines()[-1]
        assert last.startswith("421 4.7.0") and "too many errors" in last


def test_the_replies_to_a_pipelined_group_leave_together(fleet: Fleet) -> None:
    # As Postfix and Exim flush their output only when no more input waits: one segment.
    host = next(h for h in fleet.hosts if h.persona == "postfix" and not h.traits)
    with _connect(host) as stream:
        _reply(stream)
        _say(stream, "EHLO client.test")
        stream.sendall(b"RSET\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<root@fleet.test>\r\n")
        assert stream.recv(65536).decode().splitlines() == [
            "250 2.0.0 Ok", "250 2.1.0 Ok", "250 2.1.5 Ok"]


def test_starttls_drops_what_was_pipelined_after_it(fleet: Fleet) -> None:
    host = next(h for h in fleet.hosts if h.persona == "postfix" and not h.traits)
    with _connect(host) as stream:
        _reply(stream)
        _say(stream, "EHLO client.test")
        # RFC 3207 §4.2: a smuggled command after STARTTLS must not be answered in TLS.
        assert _say(stream, "STARTTLS\r\nMAIL FROM:<smuggled@example.org>")[0].startswith("220")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(stream, server_hostname=host.name) as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            ehlo = _say(tls, "EHLO client.test")  # a smuggled MAIL's reply would come first
            assert ehlo[0].startswith("250-") and "250 CHUNKING" in ehlo
            assert "STARTTLS" not in " ".join(ehlo) and "AUTH PLAIN LOGIN" in " ".join(ehlo)
            assert _say(tls, "MAIL FROM:<a@example.org>")[0] == "250 2.1.0 Ok"  # not nested


def test_exim_ends_the_session_at_its_fourth_syntax_error(fleet: Fleet) -> None:
    host = next(h for h in fleet.hosts if h.persona == "exim" and not h.traits)
    with _connect(host) as stream:
        _reply(stream)
        assert _say(stream, "EHLO client.test")[0].startswith(f"250-{host.name} Hello")
        for _ in range(3):  # smtp_max_synprot_errors = 3
            assert _say(stream, "XNOPE") == ["500 unrecognized command"]
        assert _say(stream, "XNOPE") == ["500-unrecognized command",
                                         "500 Too many syntax or protocol errors"]
        assert stream.recv(100) == b""


def test_the_ntlm_host_tells_its_internal_names_inside_tls(fleet: Fleet) -> None:
    import base64

    from smtpsh.protocol.ntlm import decode_challenge, negotiate_line

    host = next(h for h in fleet.hosts if "ntlm" in h.traits)
    with _connect(host) as stream:
        _reply(stream)
        assert "NTLM" not in " ".join(_say(stream, "EHLO client.test"))  # not in clear
        _say(stream, "STARTTLS")
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(stream, server_hostname=host.name) as tls:
            assert "250-AUTH NTLM LOGIN" in _say(tls, "EHLO client.test")
            assert _say(tls, "AUTH NTLM") == ["334 NTLM supported"]
            challenge = _say(tls, negotiate_line())[0]
            info = decode_challenge(base64.b64decode(challenge[4:]))
            assert info.dns_computer == f"exch{host.index:04d}.corp.fleet.test"
            assert _say(tls, "*")[0].startswith("501")
