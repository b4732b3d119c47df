"""A server that names cipher suites in its ServerHello, then ends every handshake with an
internal-error alert (OpenSMTPD 6.8 over OpenSSL 3 did exactly this before the interop
set-up's fix, docs/interop.md): its hellos would grade it A, yet no client gets a session.
``smtpsh tls`` must grade it F and say why. The server here is a few lines of TLS record
handling on loopback (implicit TLS: ``--tls``), standing in for that broken build."""

from __future__ import annotations

import json
import os
import socket
import struct
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.helpers.scripted_server import scripted_server

TLS12 = 0x0303
TLS13 = 0x0304
# The suites this server "supports" (names them in a ServerHello), in its order.
SUITES = (0xC02F, 0xC030, 0x009C)
ALERT_INTERNAL_ERROR = 80
ALERT_HANDSHAKE_FAILURE = 40
ALERT_PROTOCOL_VERSION = 70


def _read_exactly(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _client_hello(conn: socket.socket) -> tuple[int, set[int], list[int]]:
    """(the ClientHello's version, the versions of its supported_versions, its suites)."""
    header = _read_exactly(conn, 5)
    if header[0] != 0x16:
        raise ConnectionError("not a handshake record")
    body = _read_exactly(conn, struct.unpack("!H", header[3:5])[0])
    at = 4  # handshake type and length
    version = struct.unpack("!H", body[at : at + 2])[0]
    at += 2 + 32
    at += 1 + body[at]  # session id
    length = struct.unpack("!H", body[at : at + 2])[0]
    suites = [struct.unpack("!H", body[at + 2 + i : at + 4 + i])[0] for i in range(0, length, 2)]
    at += 2 + length
    at += 1 + body[at]  # compression methods
    versions: set[int] = set()
    if at + 2 <= len(body):
        end = at + 2 + struct.unpack("!H", body[at : at + 2])[0]
        at += 2
        while at + 4 <= end:
            kind, size = struct.unpack("!HH", body[at : at + 4])
            if kind == 0x002B:  # supported_versions
                values = body[at + 5 : at + 4 + size]
                versions = {struct.unpack("!H", values[i : i + 2])[0]
                            for i in range(0, len(values), 2)}  # fmt: skip
            at += 4 + size
    return version, versions, suites


def _alert(description: int) -> bytes:
    return b"\x15\x03\x03\x00\x02\x02" + bytes([description])


def _server_hello(suite: int) -> bytes:
    # TLS 1.2, a random without the TLS 1.3 downgrade sentinel, no session id, and the
    # renegotiation_info extension (OpenSSL 3 clients refuse a server without it).
    body = (struct.pack("!H", TLS12) + os.urandom(32) + b"\x00" + struct.pack("!H", suite)
            + b"\x00" + struct.pack("!H", 5) + b"\xff\x01\x00\x01\x00")  # fmt: skip
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(handshake)) + handshake


def _answer(conn: socket.socket) -> None:
    """One connection (scripted_server closes it, letting the alert arrive)."""
    conn.settimeout(5)
    try:
        version, versions, offered = _client_hello(conn)
    except (ConnectionError, OSError, struct.error, IndexError):
        return
    twelve = TLS12 in versions if versions else version >= TLS12
    if not twelve:
        refusal = ALERT_HANDSHAKE_FAILURE if TLS13 in versions else ALERT_PROTOCOL_VERSION
        conn.sendall(_alert(refusal))
        return
    chosen = next((s for s in offered if s in SUITES), None)
    if chosen is None:
        conn.sendall(_alert(ALERT_HANDSHAKE_FAILURE))
        return
    # The suite named, then the end of every handshake: an internal error.
    conn.sendall(_server_hello(chosen) + _alert(ALERT_INTERNAL_ERROR))


@pytest.fixture
def broken_server() -> Iterator[int]:
    with scripted_server(_answer) as port:
        yield port


def smtpsh_tls(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", "tls", *args],
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_a_server_whose_handshakes_all_fail_is_graded_f_not_on_its_hellos(
    broken_server: int,
) -> None:
    target = f"127.0.0.1:{broken_server}"
    proc = smtpsh_tls(target, "--tls", "--json")
    result = json.loads(proc.stdout)["result"]
    tls12 = next(v for v in result["versions"] if v["version"] == "TLSv1.2")
    assert {s["name"] for s in tls12["suites"]} >= {"TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}
    cap = "no TLS handshake completes (the server reported an internal TLS error)"
    assert (result["grade"], result["grade_capped_by"], proc.returncode) == ("F", [cap], 1)
    text = smtpsh_tls(target, "--tls", "--color", "never").stdout
    assert "no handshake completes: the server reported an internal TLS error" in text
    assert "_ssl.c" not in text and f"grade F (capped by: {cap})" in text
