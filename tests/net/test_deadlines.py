"""One deadline per operation: connect (name, every address), each write, a whole message.

Everything on loopback: a listener whose backlog is full drops SYNs (a connect that
never answers), a server that stops reading after 354 (a write that never ends).
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from smtpsh.net.base import ClientOptions, ConnectError, body_deadline, write_timeout
from smtpsh.net.blocking import EarlyConnection, connect_first, open_socket
from tests.helpers.run import run_piped
from tests.helpers.scripted_server import read_line, scripted_server


def _address(port: int) -> tuple[int, int, int, str, tuple[object, ...]]:
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("127.0.0.1", port))


def _full_backlog() -> tuple[socket.socket, list[socket.socket]]:
    """A listener that answers no more SYNs: its (tiny) backlog is filled and never
    accepted, so the next connect waits for ever (Linux drops the SYN)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(listener.getsockname())
        fillers.append(filler)
    time.sleep(0.2)
    return listener, fillers


def test_an_address_that_does_not_answer_leaves_time_for_the_next() -> None:
    listener, fillers = _full_backlog()
    good = socket.socket()
    good.bind(("127.0.0.1", 0))
    good.listen(1)
    try:
        stuck, port = listener.getsockname()[1], good.getsockname()[1]
        options = ClientOptions("127.0.0.1", port, connect_timeout=2)
        started = time.monotonic()
        sock = connect_first(options, [_address(stuck), _address(port)], started + 2)
        assert sock.getpeername()[1] == port
        assert time.monotonic() - started < 2.0  # the first got half, not all of it
        sock.close()
    finally:
        for held in (listener, good, *fillers):
            held.close()


def test_no_address_answering_gives_one_line_with_the_whole_deadline() -> None:
    listener, fillers = _full_backlog()
    try:
        port = listener.getsockname()[1]
        options = ClientOptions("127.0.0.1", port, connect_timeout=1)
        started = time.monotonic()
        with pytest.raises(ConnectError) as caught:
            connect_first(options, [_address(port), _address(port)], started + 1)
        # Both addresses within the one deadline: each given it whole would take 2 s.
        assert time.monotonic() - started < 1.9
        assert str(caught.value) == (
            f"cannot connect to 127.0.0.1:{port}: no answer within 1 s (2 addresses tried)"
        )
    finally:
        for held in (listener, *fillers):
            held.close()


def test_a_socket_that_cannot_be_made_is_one_line_and_the_next_address_is_tried() -> None:
    good = socket.socket()
    good.bind(("127.0.0.1", 0))
    good.listen(1)
    try:
        port = good.getsockname()[1]
        impossible = (socket.AF_INET6, socket.SOCK_STREAM, 9999, "", ("::1", port, 0, 0))
        options = ClientOptions("127.0.0.1", port, connect_timeout=2)
        sock = connect_first(options, [impossible, _address(port)], time.monotonic() + 2)
        sock.close()
        with pytest.raises(ConnectError, match=r"^cannot connect to 127\.0\.0\.1:\d+: \S"):
            connect_first(options, [impossible], time.monotonic() + 2)
    finally:
        good.close()


def test_a_stuck_resolver_is_given_up_at_the_connect_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    release = threading.Event()

    def stuck(*args: object, **kwargs: object) -> list[object]:
        release.wait(10)
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", stuck)
    started = time.monotonic()
    with pytest.raises(ConnectError) as caught:
        open_socket(ClientOptions("mx.example.invalid", 25, connect_timeout=0.5))
    release.set()
    assert time.monotonic() - started < 5  # not the 10 s the resolver would take
    assert str(caught.value) == (
        "cannot resolve host 'mx.example.invalid': no answer within 0.5 s"
    )


def test_an_early_connection_turns_any_failure_into_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(options: ClientOptions) -> socket.socket:
        raise ValueError("something nobody expected")

    monkeypatch.setattr("smtpsh.net.blocking.open_socket", broken)
    early = EarlyConnection(ClientOptions("127.0.0.1", 25))
    with pytest.raises(ConnectError, match=r"cannot connect to 127\.0\.0\.1:25: .*nobody expected"):
        early.result()


def test_the_message_deadline_grows_with_the_size() -> None:
    assert write_timeout(None) == 180.0 and write_timeout(2) == 2
    assert body_deadline(0, 2) == 2
    assert body_deadline(16 * 1024 * 60, 2) == 62  # a minute more at 16 KiB/s


# --- a server that stops reading in the middle of the message --------------------------


def _stops_reading_after_354(stop: threading.Event) -> object:
    def handle(sock: socket.socket) -> None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.sendall(b"220 deaf ESMTP\r\n")
        while line := read_line(sock):
            verb = line.split(b" ", 1)[0].split(b":", 1)[0].strip().upper()
            if verb == b"EHLO":
                sock.sendall(b"250-deaf\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                sock.sendall(b"354 go on\r\n")
                stop.wait(30)  # and never read again
                return
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")

    return handle


@pytest.mark.parametrize("how", ["/send", "typed DATA"])
def test_a_server_that_stops_reading_during_data_fails_within_the_deadline(
    how: str, tmp_path: Path
) -> None:
    body = b"Subject: big\r\n\r\n" + (b"x" * 998 + b"\r\n") * 16_000  # 16 MB
    stop = threading.Event()
    with scripted_server(_stops_reading_after_354(stop)) as port:  # type: ignore[arg-type]
        if how == "/send":
            message = tmp_path / "big.eml"
            message.write_bytes(body)
            script = f"EHLO t\n/send {message} --from a@x.test --to b@y.test\nNOOP\n"
        else:
            script = "EHLO t\nMAIL FROM:<a@x.test>\nRCPT TO:<b@y.test>\nDATA\n"
            script += body.decode().replace("\r\n", "\n") + ".\nNOOP\n"
        started = time.monotonic()
        result = run_piped([f"127.0.0.1:{port}", "--timeout", "2"], script, tmp_path)
        elapsed = time.monotonic() - started
        stop.set()
    out = result.stdout + result.stderr
    assert "Traceback" not in out
    # One error line says what happened; then the close, as every close is told.
    errors = [line for line in out.splitlines() if line.startswith("✗ ")]
    assert errors[0] == (
        f"✗ 127.0.0.1:{port} stopped reading: nothing could be written for 2 s;"
        " closing the connection"
    ), out[-2000:]
    assert [line for line in errors[1:] if not line.startswith("✗ not sent")] == [], errors
    assert any(line.startswith("! smtpsh closed the connection") for line in out.splitlines())
    assert elapsed < 15, elapsed
    assert result.returncode != 0
