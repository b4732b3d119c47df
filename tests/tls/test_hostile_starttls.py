"""STARTTLS against servers that misbehave: injection, drops, plain text, 454."""

from __future__ import annotations

from pathlib import Path

import pytest

from smtpsh.protocol.session import State
from tests.helpers.scripted_server import scripted_server, smtp_like
from tests.tls.harness import (
    Pki,
    Received,
    Seen,
    dialogue,
    implicit_tls_server,
    make_shell,
    run,
    starttls_server,
)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


def test_bytes_injected_after_the_220_are_discarded_and_reported(pki: Pki) -> None:
    # CVE-2011-0411 class: a man in the middle appends a reply to the 220 in the same
    # write; a vulnerable client would take "250 injected" as the answer to its next
    # command, sent over TLS.
    received = Received()
    handler = starttls_server(pki, b"220 go ahead\r\n250 injected\r\n", seen=received)
    seen = Seen()
    with scripted_server(handler) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file)], seen)
        run(dialogue(shell, ["EHLO me", "STARTTLS", "EHLO me", "NOOP"]))
    text = out.getvalue()
    warnings = [m for m, level in seen.meta if m.startswith("SECURITY") and level == "error"]
    assert len(warnings) == 1 and "250 injected" in warnings[0] and "discarded" in warnings[0]
    # Never delivered as a reply, neither to the observers nor in place of a real one.
    assert all(b"injected" not in e.reply.raw for e in seen.replies)
    replies = [(e.command.verb if e.command else None, e.reply.code) for e in seen.replies]
    assert replies == [
        ("<banner>", 220), ("EHLO", 250), ("STARTTLS", 220), ("EHLO", 250), ("NOOP", 250),
        ("QUIT", 221),
    ]  # fmt: skip
    after_tls = seen.replies[3].reply
    assert after_tls.lines == ("hostile.test", "AUTH PLAIN", "STARTTLS")
    assert [line.split()[0] for line in received.encrypted] == [b"EHLO", b"NOOP", b"QUIT"]
    assert "S: 250 injected" not in text and "SECURITY" in text


def test_a_server_that_hangs_up_during_the_handshake(pki: Pki) -> None:
    seen = Seen()
    with scripted_server(starttls_server(pki, b"220 2.0.0 go\r\n", then="close")) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file)], seen)

        async def go() -> tuple[State, bool]:
            await shell.connect()
            await shell.handle_line("EHLO me")
            await shell.handle_line("STARTTLS")
            state = shell.session.state
            # The shell goes on: a new session can be opened.
            await shell.handle_line("/reconnect")
            await shell.handle_line("EHLO again")
            reconnected = shell.session.state is State.READY
            await shell.quit()
            return state, reconnected

        state, reconnected = run(go())
    text = out.getvalue()
    errors = [line for line in text.splitlines() if line.startswith("✗")]
    assert errors == [
        f"✗ TLS handshake with 127.0.0.1:{port} failed: the server closed the connection"
        " during the TLS handshake"
    ]
    assert state is State.CLOSED and reconnected
    assert "Traceback" not in text


def test_a_server_that_answers_in_plain_text_after_220(pki: Pki) -> None:
    with scripted_server(starttls_server(pki, b"220 2.0.0 go\r\n", then="plain")) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file)])
        run(dialogue(shell, ["EHLO me", "STARTTLS", "NOOP"]))
    errors = [line for line in out.getvalue().splitlines() if line.startswith("✗")]
    assert errors[1:] == ["✗ not connected: /reconnect opens a new session"]  # the NOOP
    assert (
        "failed: the server answered in plain text, not TLS (the server did not start TLS"
        in (errors[0])
    )
    assert shell.session.state is State.CLOSED


def test_454_to_starttls_leaves_the_session_usable_in_clear(pki: Pki) -> None:
    refusal = b"454 4.7.0 TLS not available due to local problem\r\n"
    seen = Seen()
    with scripted_server(starttls_server(pki, refusal, then="serve")) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file)], seen)
        run(dialogue(shell, ["EHLO me", "STARTTLS", "MAIL FROM:<a@b.test>"]))
    text = out.getvalue()
    assert "S: 454 4.7.0 TLS not available due to local problem" in text
    assert "! STARTTLS refused (454): the session is still unencrypted" in text
    assert [e.reply.code for e in seen.replies][-2:] == [250, 221]  # MAIL, QUIT still work
    assert shell.client.tls_info is None


def test_starttls_option_fails_closed_on_454(pki: Pki) -> None:
    refusal = b"454 4.7.0 TLS not available\r\n"
    received = Received()
    handler = starttls_server(pki, refusal, then="serve", seen=received)
    with scripted_server(handler) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file), "--starttls"])
        connected = run(dialogue(shell, ["MAIL FROM:<a@b.test>"]))
    text = out.getvalue()
    assert not connected and shell.exit_code == 4
    assert "✗ --starttls: the server answered 454 to STARTTLS; not going on without TLS" in text
    # Nothing after STARTTLS but the QUIT went out in clear.
    assert [line.split()[0] for line in received.plain] == [b"EHLO", b"STARTTLS", b"QUIT"]


def test_starttls_option_upgrades_and_says_hello_again(pki: Pki) -> None:
    received = Received()
    handler = starttls_server(pki, b"220 2.0.0 go\r\n", seen=received)
    with scripted_server(handler) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--cafile", str(pki.ca_file), "--starttls"])
        connected = run(dialogue(shell, ["NOOP"]))
    assert connected
    assert [line.split()[0] for line in received.plain] == [b"EHLO", b"STARTTLS"]
    assert [line.split()[0] for line in received.encrypted] == [b"EHLO", b"NOOP", b"QUIT"]
    assert "verified: yes" in out.getvalue()


def test_implicit_tls_to_a_server_that_hangs_up(tmp_path: Path) -> None:
    def hang_up(sock: object) -> None:
        return None  # the connection is closed as soon as it is accepted

    with scripted_server(hang_up) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--tls"])
        connected = run(dialogue(shell, []))
    assert not connected
    assert out.getvalue().strip() == (
        f"✗ TLS handshake with 127.0.0.1:{port} failed: the server closed the connection"
        " during the TLS handshake"
    )


def test_client_certificate_required_and_presented(pki: Pki) -> None:
    peers: list[dict[str, object]] = []
    with scripted_server(implicit_tls_server(pki.mutual_context(), peers)) as port:
        base = [f"127.0.0.1:{port}", "--tls", "--cafile", str(pki.ca_file)]
        shell, out = make_shell(base)
        run(dialogue(shell, ["NOOP"]))
        refused = out.getvalue()
        cert = pki.client_cert_file("client.smtpsh.test")
        shell, out = make_shell([*base, "--client-cert", str(cert)])
        run(dialogue(shell, ["NOOP"]))
        accepted = out.getvalue()
    assert "the server wants a client certificate: use --client-cert FILE" in refused
    assert "Traceback" not in refused
    assert "S: 250 2.0.0 ok" in accepted and "S: 221 2.0.0 bye" in accepted
    assert len(peers) == 1 and "client.smtpsh.test" in str(peers[0]["subjectAltName"])


@pytest.mark.parametrize(
    ("replies", "why"),
    [
        ({b"EHLO": b"554 5.7.1 go away\r\n"}, "the server answered 554 to EHLO"),
        ({}, "the server does not offer STARTTLS (not in its EHLO reply)"),
    ],
)
def test_starttls_option_fails_closed_without_starttls(
    replies: dict[bytes, bytes], why: str
) -> None:
    with scripted_server(smtp_like(replies)) as port:
        shell, out = make_shell([f"127.0.0.1:{port}", "--starttls"])
        connected = run(dialogue(shell, ["AUTH PLAIN AGFsaWNlAHB3"]))
    assert not connected and shell.exit_code == 4
    text = out.getvalue()
    assert f"✗ --starttls: {why}; not going on without TLS" in text
    assert "AUTH" not in text
