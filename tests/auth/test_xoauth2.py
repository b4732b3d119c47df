"""XOAUTH2 through /auth against a small server that checks the bearer token, including a
token too long for the AUTH line (RFC 4954 §4) and the empty answer to an error challenge."""

from __future__ import annotations

import base64
import json
import socket
from pathlib import Path

import pytest

from tests.auth.test_auth_sandbox import assert_no_secret
from tests.helpers.scripted_server import Handler, read_line, scripted_server
from tests.tls.harness import Seen, dialogue, make_shell, run

USER = "alice@example.test"
GOOD_TOKEN = "ya29." + "A" * 40
LONG_TOKEN = "ya29." + "B" * 700


def xoauth2_server(received: list[bytes]) -> Handler:
    def handle(sock: socket.socket) -> None:
        sock.sendall(b"220 oauth.test ESMTP\r\n")
        while line := read_line(sock):
            received.append(line)
            words = line.split()
            if words[:1] == [b"EHLO"]:
                sock.sendall(b"250-oauth.test\r\n250 AUTH XOAUTH2\r\n")
            elif words[:2] == [b"AUTH", b"XOAUTH2"]:
                if len(words) == 2:  # initial response withheld: ask for it
                    sock.sendall(b"334 \r\n")
                    words.append(read_line(sock).strip())
                    received.append(words[-1])
                fields = base64.b64decode(words[2]).split(b"\1")
                token = fields[1].removeprefix(b"auth=Bearer ").decode()
                if fields[0] == f"user={USER}".encode() and token in (GOOD_TOKEN, LONG_TOKEN):
                    sock.sendall(b"235 2.7.0 Accepted\r\n")
                    continue
                error = json.dumps({"status": "401", "schemes": "bearer"}).encode()
                sock.sendall(b"334 " + base64.b64encode(error) + b"\r\n")
                received.append(read_line(sock))  # the client's empty answer
                sock.sendall(b"535 5.7.8 Username and Password not accepted\r\n")
            elif words[:1] == [b"QUIT"]:
                sock.sendall(b"221 2.0.0 bye\r\n")
                return
            else:
                sock.sendall(b"250 2.0.0 ok\r\n")

    return handle


@pytest.mark.parametrize("token", [GOOD_TOKEN, LONG_TOKEN, "expired-token"])
def test_xoauth2(token: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(token + "\n")
    token_file.chmod(0o600)
    received: list[bytes] = []
    seen = Seen()
    with scripted_server(xoauth2_server(received)) as port:
        shell, out = make_shell(
            [f"127.0.0.1:{port}", "--insecure-auth", "--password-file", str(token_file)], seen
        )
        run(dialogue(shell, ["EHLO me", f"/auth xoauth2 {USER}"]))
    text = out.getvalue()
    auth_lines = [line for line in received if line.startswith(b"AUTH")]
    if token == LONG_TOKEN:
        assert auth_lines == [b"AUTH XOAUTH2\r\n"]  # not inline: it would pass 512 octets
        assert "(initial response withheld: over 512 octets)" in text
    else:
        assert len(auth_lines) == 1 and len(auth_lines[0].split()) == 3
    if token == "expired-token":
        assert 'decoded: \'{"status": "401", "schemes": "bearer"}\'' in text
        assert "↳ (empty line: acknowledges the server's error report)" in text
        assert received[-2] == b"\r\n"  # the empty answer, then QUIT
        assert f"✗ AUTH XOAUTH2 as {USER} failed: 535 authentication credentials invalid" in text
    else:
        assert f"· authenticated as {USER} with XOAUTH2" in text
        assert shell.session.authenticated
    assert f"user={USER}\\1auth=Bearer ********\\1\\1" in text
    assert_no_secret(text, seen.everything(), user=USER, password=token)
