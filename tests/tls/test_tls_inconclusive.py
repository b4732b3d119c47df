"""`smtpsh tls` against a server that does not answer some ClientHellos at all: a version
that was never answered is "could not tell", not "not accepted" (a timeout is no refusal),
and the grade says it may be too high."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from smtpsh.audit.tlscommand import scan_outcome
from smtpsh.audit.tlsscan import (
    Suite,
    Target,
    TLSScan,
    VersionResult,
    grade,
    report_lines,
    scan,
)

ALERT = b"\x15\x03\x03\x00\x02\x02\x28"  # fatal handshake_failure


@pytest.fixture()
def silent_on_tls10() -> Iterator[tuple[int, list[int]]]:
    """Implicit TLS: every ClientHello gets a handshake_failure alert, except those asking
    for TLS 1.0, which get no answer at all. Yields (port, the versions asked for)."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.2)
    stop = threading.Event()
    asked: list[int] = []

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                hello = conn.recv(4096)
                if not hello:
                    return
                version = int.from_bytes(hello[9:11], "big")  # ClientHello.client_version
                asked.append(version)
                if version == 0x0301:
                    while conn.recv(4096):  # silent until the client gives up
                        pass
                    return
                conn.sendall(ALERT)
                conn.shutdown(socket.SHUT_WR)
                while conn.recv(4096):
                    pass
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except (TimeoutError, OSError):
                continue
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], asked
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def test_a_version_never_answered_is_not_called_refused(
    silent_on_tls10: tuple[int, list[int]],
) -> None:
    port, asked = silent_on_tls10
    target = Target("127.0.0.1", port, starttls=False, timeout=0.5, connect_timeout=5)
    result = scan(target)
    by_name = {v.version: v for v in result.versions}
    assert by_name["TLSv1.0"].unknown == "no answer to a ClientHello within 0.5 s"
    assert asked.count(0x0301) == 2  # asked once more before giving up
    assert all(by_name[n].unknown is None for n in ("SSLv3", "TLSv1.1", "TLSv1.2", "TLSv1.3"))
    assert result.grade == "?"
    assert result.caps == ["no protocol version accepted, TLSv1.0 not answered"]
    lines = report_lines(result)
    assert "  TLSv1.0  could not tell: no answer to a ClientHello within 0.5 s" in lines
    assert "  TLSv1.1  not accepted" in lines
    status, scanned, error = scan_outcome(target)
    assert (status, scanned) == (4, None)
    assert error == ("tls", "no protocol version accepted, TLSv1.0 not answered")


def test_an_unanswered_version_beside_accepted_ones_makes_the_grade_inconclusive() -> None:
    strong = VersionResult("TLSv1.2", [Suite(0xC02F, "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256")])
    silent = VersionResult("TLSv1.0", unknown="no answer to a ClientHello within 10 s")
    letter, caps, findings = grade([silent, strong])
    assert (letter, caps) == ("A", [])
    assert findings == ["TLSv1.0: could not tell (no answer to a ClientHello within 10 s); "
                        "the grade may be higher than it should"]  # fmt: skip
    result = TLSScan("127.0.0.1:25", [silent, strong], letter, caps, findings)
    lines = report_lines(result)
    assert lines[-2:] == [
        "grade A",
        "  inconclusive: TLSv1.0 not fully tested (no answer); the grade may be higher than "
        "it should",
    ]
    assert result.to_json()["versions"][0]["inconclusive"] == silent.unknown
