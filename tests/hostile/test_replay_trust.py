"""A transcript is a file someone else may have written: what it may make `smtpsh replay` do.

It may not choose the servers smtpsh connects to (a second '# connect' to another host is
refused unless --follow-connects or a HOST given), it may not make smtpsh send the user's
credentials in clear (the shell's TLS rule: --insecure-auth to send anyway), and a broken
line anywhere in it is refused before the first byte is sent.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from tests.helpers.scripted_server import scripted_server
from tests.hostile.servers import Peer, serve
from tests.transcript.common import replay

USER, PASSWORD = "bob", "S3cretPassw0rd"
EHLO_AUTH = b"250-hostile.test\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME\r\n"


class Server:
    """A plain server offering AUTH in clear that keeps every line it was sent."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.connections = 0
        self.port = 0

    def handler(self) -> Callable[[socket.socket], None]:
        def ehlo(peer: Peer) -> bool:
            peer.send(EHLO_AUTH)
            return True

        def auth(peer: Peer) -> bool:
            peer.send(b"235 2.7.0 Authentication successful\r\n")
            return True

        inner = serve({b"EHLO": ehlo, b"AUTH": auth}, received=self.received)

        def handle(sock: socket.socket) -> None:
            self.connections += 1
            inner(sock)

        return handle

    @property
    def text(self) -> str:
        return b"".join(self.received).decode("utf-8", "replace")


@contextmanager
def two_servers() -> Iterator[tuple[Server, Server]]:
    first, second = Server(), Server()
    with ExitStack() as stack:
        first.port = stack.enter_context(scripted_server(first.handler()))
        second.port = stack.enter_context(scripted_server(second.handler()))
        yield first, second


def steering_transcript(tmp_path: Path, first: int, second: int) -> Path:
    """Looks like a check of the first server; the AUTH goes to the second."""
    path = tmp_path / "check.smtpt"
    path.write_text(
        "# smtpsh transcript 1\n"
        f"# connect 127.0.0.1:{first}\n"
        "S: 220 hostile.test ESMTP\n"
        "C: EHLO me\n"
        "S: 250 hostile.test\n"
        "C: QUIT\n"
        "S: 221 2.0.0 Bye\n"
        f"# connect 127.0.0.1:{second}\n"
        "S: 220 hostile.test ESMTP\n"
        "C: EHLO me\n"
        "S: 250 hostile.test\n"
        "C: AUTH PLAIN ********\n"
        "S: 235 2.7.0 ok\n"
        "C: QUIT\n"
        "S: 221 2.0.0 Bye\n"
    )
    return path


def credentials(tmp_path: Path) -> list[str]:
    secret = tmp_path / "pw"
    secret.write_text(PASSWORD + "\n")
    return ["--user", USER, "--password-file", str(secret)]


def assert_no_secret(*texts: str) -> None:
    import base64

    plain = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
    for text in texts:
        assert PASSWORD not in text and plain not in text


def test_a_second_connect_to_another_host_is_refused_before_anything_is_sent(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: '# connect' to a second host", "replay")
    with two_servers() as (first, second):
        path = steering_transcript(tmp_path, first.port, second.port)
        result = replay([str(path), *credentials(tmp_path)], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    err = result.stderr.strip()
    assert err.count("\n") == 0, err
    assert f"127.0.0.1:{first.port} (line 2) and then to 127.0.0.1:{second.port} (line 8)" in err
    assert "--follow-connects" in err
    assert first.connections == 0 and second.connections == 0


def test_dry_run_lists_every_host_once_and_says_the_replay_would_be_refused(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: '# connect' to a second host", "replay")
    with two_servers() as (first, second):
        path = steering_transcript(tmp_path, first.port, second.port)
        result = replay(["--dry-run", str(path)], tmp_path)
    out = result.stdout.splitlines()
    connects = [line for line in out if line.startswith("# would connect to")]
    assert connects == [
        f"# would connect to 127.0.0.1:{first.port}",
        f"# would connect to 127.0.0.1:{second.port}",
    ], result.stdout
    assert result.returncode == 2
    assert out[-1].startswith("a replay would be refused: ")
    assert first.connections == 0 and second.connections == 0


def test_follow_connects_goes_to_both_but_sends_no_credentials_in_clear(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: AUTH with my credentials, no TLS", "replay")
    with two_servers() as (first, second):
        path = steering_transcript(tmp_path, first.port, second.port)
        result = replay([str(path), "--follow-connects", *credentials(tmp_path)], tmp_path)
    out = result.stdout
    assert result.returncode == 4, out + result.stderr  # a step not run: could not finish
    assert f"against 127.0.0.1:{first.port}, then 127.0.0.1:{second.port}" in out
    assert f"connecting to 127.0.0.1:{second.port} (line 8)" in out
    assert "refused: the connection is not encrypted" in out
    assert first.connections == 1 and second.connections == 1
    assert "AUTH" not in second.text, second.text
    assert_no_secret(first.text, second.text, out, result.stderr)


def test_insecure_auth_sends_them_and_says_so(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: AUTH with my credentials, no TLS", "replay")
    with two_servers() as (first, second):
        path = steering_transcript(tmp_path, first.port, second.port)
        args = [str(path), "--follow-connects", "--insecure-auth", *credentials(tmp_path)]
        result = replay(args, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "AUTH without TLS (--insecure-auth)" in result.stdout
    assert "AUTH PLAIN " in second.text
    assert_no_secret(result.stdout, result.stderr)


def test_a_host_given_takes_every_connection(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: '# connect' to a second host", "replay")
    with two_servers() as (first, second):
        path = steering_transcript(tmp_path, first.port, second.port)
        result = replay([str(path), f"127.0.0.1:{first.port}", "--insecure-auth",
                         *credentials(tmp_path)], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert first.connections == 2 and second.connections == 0


def bad_line_transcript(tmp_path: Path, port: int) -> Path:
    """Good up to a client line holding a raw CR (a second command smuggled in it)."""
    path = tmp_path / "smuggle.smtpt"
    path.write_bytes(
        b"# smtpsh transcript 1\n"
        + f"# connect 127.0.0.1:{port}\n".encode()
        + b"S: 220 hostile.test ESMTP\n"
        b"C: EHLO from-the-file\n"
        b"S: 250 hostile.test\n"
        b"C: MAIL FROM:<a@b>\rRCPT TO:<victim@elsewhere>\n"
        b"S: 250 ok\n"
    )
    return path


def test_a_bad_client_line_anywhere_is_refused_before_the_first_byte(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: raw CR in a client line", "replay")
    server = Server()
    with scripted_server(server.handler()) as port:
        path = bad_line_transcript(tmp_path, port)
        result = replay([str(path)], tmp_path)
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith(f"smtpsh replay: {path}, line 6: a client line with a CR")
    assert result.stderr.count("\n") == 1
    assert server.connections == 0


def test_the_shell_replay_refuses_it_before_sending_too(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    from tests.helpers.run import run_piped

    hostile_row("transcript: raw CR in a client line", "piped")
    server = Server()
    with scripted_server(server.handler()) as port:
        path = bad_line_transcript(tmp_path, port)
        result = run_piped([f"127.0.0.1:{port}"], f"/replay {path}\nNOOP\nQUIT\n", tmp_path)
    out = result.stdout + result.stderr
    assert f"{path}, line 6: a client line with a CR" in out
    assert "from-the-file" not in server.text and "RCPT" not in server.text, server.text
    assert "NOOP" in server.text  # the shell went on


def redos_transcript(tmp_path: Path, port: int) -> Path:
    path = tmp_path / "redos.smtpt"
    path.write_text(
        f"# connect 127.0.0.1:{port}\n"
        "S: 220 hostile.test ESMTP\n"
        "C: NOOP\n"
        "S: 250 ~/(o+)+$/\n"
        "C: QUIT\n"
        "S: 221 2.0.0 Bye\n"
    )
    return path


def redos_server() -> Callable[[socket.socket], None]:
    """Answers NOOP with the text that makes (o+)+$ backtrack for ever in Python's re."""

    def noop(peer: Peer) -> bool:
        peer.send(b"250 " + b"o" * 40 + b"!\r\n")
        return True

    return serve({b"NOOP": noop})


def test_a_catastrophic_regex_cannot_wedge_the_replay(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    import subprocess
    import sys
    import time

    from tests.helpers.run import smtpsh_env

    hostile_row("transcript: ReDoS regex vs. the server's text", "replay")
    with scripted_server(redos_server()) as port:
        path = redos_transcript(tmp_path, port)
        started = time.monotonic()
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", "replay", "--color", "never", str(path)],
            capture_output=True, text=True, timeout=30, env=smtpsh_env(tmp_path),
            stdin=subprocess.DEVNULL,
        )
        elapsed = time.monotonic() - started
    assert elapsed < 10, elapsed
    assert result.returncode == 1, result.stdout + result.stderr
    assert "line 1 does not match its ~/regex/" in result.stdout
    assert "3 steps, 2 matched, 1 differed" in result.stdout


def test_the_shell_replay_matches_in_linear_time_too(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    from tests.helpers.run import run_piped

    hostile_row("transcript: ReDoS regex vs. the server's text", "piped")
    with scripted_server(redos_server()) as port:
        path = redos_transcript(tmp_path, port)
        result = run_piped([f"127.0.0.1:{port}"], f"/replay {path}\n", tmp_path, timeout=30)
    assert "line 1 does not match its ~/regex/" in result.stdout, result.stdout + result.stderr


def test_a_regex_outside_re2_syntax_is_one_line_before_anything_is_sent(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("transcript: ReDoS regex vs. the server's text", "replay")
    server = Server()
    with scripted_server(server.handler()) as port:
        path = tmp_path / "backref.smtpt"
        path.write_text(f"# connect 127.0.0.1:{port}\nC: NOOP\nS: 250 ~/(o)\\1/\n")
        result = replay([str(path)], tmp_path)
    assert result.returncode == 2
    assert result.stderr.startswith(f"smtpsh replay: {path}, line 3: bad regular expression")
    assert "RE2 syntax" in result.stderr and result.stderr.count("\n") == 1, result.stderr
    assert server.connections == 0
