"""relay and probe against the fake server: what is sent (never DATA), tarpit-aware
reconnection, authentication required, NTLM information, and one-line errors."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import struct
import subprocess
import sys
import time
from pathlib import Path

import trustme

from smtpsh.audit.common import Target
from smtpsh.audit.probe import Prober, ProbeReport
from smtpsh.audit.relay import Outcome, RelayConfig, RelayRunner
from smtpsh.audit.report import exit_status, findings, render_text
from smtpsh.net.client import ClientOptions
from smtpsh.net.tls import TLSSettings, make_context
from smtpsh.output.printer import render
from tests.audit.fakesmtp import Policy, running
from tests.audit.ntlm_message import build_challenge


def target(port: int) -> Target:
    options = ClientOptions("127.0.0.1", port, timeout=3.0, connect_timeout=3.0,
                            ssl_context=make_context(TLSSettings(verify=False)))
    return Target(options, "audit.test", starttls=False)


def smtpsh(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], capture_output=True,
                          text=True, timeout=60, env={"PATH": "/usr/bin:/bin",
                                                      "NO_COLOR": "1"})


def test_relay_never_sends_data_and_resets_between_tests() -> None:
    with running(Policy(relay=True)) as server:
        report = asyncio.run(RelayRunner(target(server.port), RelayConfig()).run())
        commands = list(server.commands)
    # The fake accepts every recipient: the tricks addressed to its own name, its address
    # or to no domain are accepted like a random control name there, so they tell nothing;
    # the six whose recipient routes to example.com relayed.
    assert report.open_relay and [r.case.number for r in report.relayed] == [1, 2, 3, 4, 12, 13]
    assert report.summary == "open relay (6/16 tests)"
    assert all("accepted too" in r.note for r in report.inconclusive)
    assert len(report.inconclusive) == 10
    assert not any(c.upper().startswith("DATA") for c in commands)
    mails = [i for i, c in enumerate(commands) if c.upper().startswith("MAIL")]
    # One transaction a test, and three tests again: 5, 6 and 7 went in one write with
    # the others and were accepted at a domain ([IP], the server's name, none) whose control
    # was not known then; each is run again with its control RCPT in its own transaction,
    # and the later tests to those domains are judged with the controls learnt.
    assert len(mails) == 16 + 3
    assert all(commands[i - 1] == "RSET" for i in mails)
    for result in report.results:
        said = [c for c, _ in result.replies]
        assert said[0] == "RSET" and said.count("RSET") == 1, said
    rcpts = [c for c in commands if c.upper().startswith("RCPT")]
    assert rcpts[0] == "RCPT TO:<relaytest@example.com>"
    assert "RCPT TO:<example.com!relaytest@fake.smtpsh.test>" in rcpts  # {S}: banner name
    assert "MAIL FROM:<antispam@[127.0.0.1]>" in commands


def test_relay_sends_the_tests_of_a_known_sender_in_one_write() -> None:
    # A server that refuses relaying and offers PIPELINING: once a sender is known to be
    # taken, the tests with it go in one write (RSET, MAIL, RCPT each; RFC 2920), as many
    # as the error budget holds, so a test's RCPT is followed by the next test's RSET
    # before its reply. One test a round trip left every RCPT last in its write.
    with running(Policy()) as server:
        report = asyncio.run(RelayRunner(target(server.port), RelayConfig()).run())
        pipelined, connections = server.pipelined, server.connections
    assert report.verdict.name == "CLOSED" and len(report.results) == 16
    assert [len(r.replies) for r in report.results] == [3] * 16  # RSET, MAIL, RCPT each
    # Tests 5-16 share a sender: 12 tests in two writes (the budget of a connection is
    # 10 errors), the last RCPT of each the only one not followed at once: 10. Tests 1-4
    # each have a new sender: the RSET and MAIL of tests 2, 3 and 4 go behind the RCPT
    # of the test before (a RCPT to the test domain needs no control after it): 3 more.
    assert pipelined == 10 + 3, pipelined
    assert connections == 2  # 16 refused RCPTs, 10 errors a connection


def test_relay_options_shape_the_addresses() -> None:
    config = RelayConfig(sender="boss", recipient="victim", domain="target.example",
                         ip="192.0.2.7")
    with running(Policy()) as server:
        report = asyncio.run(RelayRunner(target(server.port), config).run())
        commands = list(server.commands)
    assert not report.open_relay
    assert "RCPT TO:<victim%target.example@[192.0.2.7]>" in commands
    assert "MAIL FROM:<boss@[192.0.2.7]>" in commands


def test_relay_sends_a_refused_sender_once_and_keeps_its_refusal() -> None:
    # Exim refuses domain literals: the [IP] sender of tests 4-16 is refused once (test 4
    # then finds a sender it takes), and tests 5-16 run with that sender at once.
    with running(Policy(literal_senders=False)) as server:
        report = asyncio.run(RelayRunner(target(server.port), RelayConfig()).run())
        commands = list(server.commands)
        connections = server.connections
    literal = "MAIL FROM:<antispam@[127.0.0.1]>"
    assert commands.count(literal) == 1
    assert report.verdict.name == "CLOSED" and len(report.results) == 16
    fourth = report.results[3]
    assert [c for c, _ in fourth.replies] == ["RSET", literal,
                                              "MAIL FROM:<antispam@fake.smtpsh.test>",
                                              "RCPT TO:<relaytest@example.com>"]
    assert fourth.note.startswith(f"sender refused ({literal} → 501 <antispam@[127.0.0.1]>:"
                                  " domain literals not allowed); tested with")
    for result in report.results[4:]:
        assert result.sender == "antispam@fake.smtpsh.test"
        assert result.note.startswith(f"sender refused in test 4 ({literal} → 501 "), result
        assert [c for c, _ in result.replies][:2] == ["RSET",
                                                      "MAIL FROM:<antispam@fake.smtpsh.test>"]
        assert result.as_dict()["sender_used"] == "antispam@fake.smtpsh.test"
    # 17 errors (16 refused RCPTs, one refused sender) under stock Postfix's limit of 10 a
    # connection: two connections. Re-sending the refused sender made it 29 errors, four.
    assert report.connections == connections == 2


def test_relay_renews_the_connection_before_the_tarpit() -> None:
    # Every refused RCPT is an error; from the 3rd on each reply waits 0.5 s.
    with running(Policy(soft_limit=3, soft_sleep=0.5)) as server:
        started = time.monotonic()
        report = asyncio.run(RelayRunner(target(server.port), RelayConfig()).run())
        took = time.monotonic() - started
        connections = server.connections
    assert not report.open_relay and len(report.results) == 16
    assert all(r.outcome is Outcome.REFUSED for r in report.results)
    assert connections >= 6  # 16 errors, at most 3 a connection once learnt
    # One slow reply teaches the limit (0.5 s); naively 13 slow replies, 6.5 s. (Loose:
    # a loaded machine adds its own seconds, never five slow replies' worth.)
    assert took < 3.5


def test_relay_stops_at_authentication_required() -> None:
    with running(Policy()) as server:
        server.policy.relay = False
        # A server that wants AUTH first answers MAIL with 530.
        original = server._answer

        def answer(line: str, state: dict[str, object]) -> str:
            if line.upper().startswith("MAIL"):
                return "530 5.7.0 Authentication required\r\n"
            return original(line, state)

        server._answer = answer  # type: ignore[method-assign]
        proc = smtpsh("relay", f"127.0.0.1:{server.port}")
    # Nothing reached RCPT: that is "could not test" (exit 4), never "not an open relay".
    assert proc.returncode == 4, proc.stdout + proc.stderr
    assert "could not test: the server refuses before RCPT (MAIL FROM:<> → 530 5.7.0" \
        in proc.stdout
    assert "not an open relay" not in proc.stdout
    assert "[ 2/16]" not in proc.stdout


def test_probe_decodes_ntlm_and_flags_auth_in_clear() -> None:
    challenge = build_challenge(dns_computer="exch01.corp.example", version=(10, 0, 20348))
    policy = Policy(auth="NTLM LOGIN", ntlm_challenge=challenge,
                    banner="fake.smtpsh.test Microsoft ESMTP MAIL Service ready")
    with running(policy) as server:
        report = asyncio.run(Prober(target(server.port), relay=False).run())
        negotiate = server.ntlm_negotiate
        commands = list(server.commands)
    # What we sent is an NTLMSSP NEGOTIATE_MESSAGE, and we cancelled afterwards.
    assert negotiate[:8] == b"NTLMSSP\x00" and struct.unpack_from("<I", negotiate, 8)[0] == 1
    assert commands[commands.index("AUTH NTLM") + 2] == "*"
    assert report.ntlm is not None
    assert report.ntlm.dns_computer == "exch01.corp.example"
    assert report.ntlm.product_version == "10.0.20348"
    keys = {f.key for f in findings(report) if f.dangerous}
    assert {"ntlm_info", "auth_in_clear", "no_starttls", "vrfy", "expn"} <= keys
    # The banner names the product without a version; HELP gives the version away.
    leak = next(f for f in findings(report) if f.key == "banner_version")
    assert leak.detail.startswith("FakeMail 1.0 (from the HELP:")
    text = render(render_text(report))
    assert "DNS_Computer_Name:      exch01.corp.example" in text
    assert "Product_Version:        10.0.20348" in text
    assert "Microsoft Exchange / IIS SMTP (from the banner)" in text
    assert exit_status(report) == 1
    assert base64.b64encode(challenge).decode() not in text  # decoded, not dumped


def test_probe_with_starttls_ntlm_only_before_tls(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "fake.smtpsh.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    policy = Policy(tls=server_ctx, auth="NTLM PLAIN LOGIN", auth_after_tls="PLAIN LOGIN",
                    ntlm_challenge=build_challenge(nb_computer="LEGACY7"))
    options = ClientOptions("127.0.0.1", 0, timeout=3.0, connect_timeout=3.0,
                            ssl_context=make_context(TLSSettings(cafile=str(ca_file))))
    with running(policy) as server:
        options.port = server.port
        report = asyncio.run(Prober(Target(options, "audit.test", False), relay=False).run())
        commands = list(server.commands)
    assert report.tls.works and report.tls.verified and not report.tls.verify_error
    assert report.tls.required is False  # MAIL accepted in clear
    assert report.auth_plain == ["NTLM", "PLAIN", "LOGIN"]
    assert report.auth_tls == ["PLAIN", "LOGIN"]
    # NTLM is only offered in clear: it was asked on a second, plain connection.
    assert report.ntlm is not None and report.ntlm.netbios_computer == "LEGACY7"
    assert commands.count("STARTTLS") == 1 and "AUTH NTLM" in commands
    keys = {f.key: f for f in findings(report)}
    assert keys["auth_in_clear"].detail == ("AUTH NTLM PLAIN LOGIN offered before STARTTLS"
                                           " (AUTH LOGIN in clear → 334 VXNlcm5hbWU6:"
                                           " taken there); seen from the server's own host"
                                           " (loopback: 127.0.0.1): some servers offer AUTH"
                                           " in clear only to their own host or network"
                                           " (Haraka's auth plugins, Dovecot's"
                                           " disable_plaintext_auth), so a client outside"
                                           " may not be offered it")
    # Neither the MX port nor a submission port: optional STARTTLS is said, not counted.
    assert not keys["starttls_optional_port"].dangerous
    assert "starttls_not_required" not in keys
    assert "no_starttls" not in keys and "certificate" not in keys


def test_probe_lists_only_what_is_wrong() -> None:
    policy = Policy(vrfy="off", expn=False, banner="fake.smtpsh.test ESMTP",
                    help="see RFC 5321")
    with running(policy) as server:
        proc = smtpsh("probe", f"127.0.0.1:{server.port}", "--json")
    data = json.loads(proc.stdout)["result"]
    # No STARTTLS on the fake server: that alone is dangerous.
    assert [f["key"] for f in data["findings"] if f["dangerous"]] == ["no_starttls"]
    assert proc.returncode == 1
    assert data["software"] == []


def test_probe_unreachable_fails_with_one_line(free_port: int) -> None:
    proc = smtpsh("probe", f"127.0.0.1:{free_port}")
    assert proc.returncode == 4
    assert "could not probe: cannot connect to 127.0.0.1:" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_help_carries_the_authorisation_note() -> None:
    for command in ("probe", "enum", "relay"):
        proc = smtpsh(command, "--help")
        assert proc.returncode == 0
        assert "authorised to test" in " ".join(proc.stdout.split())


def test_bad_input_is_one_line() -> None:
    cases = [
        (("enum", "127.0.0.1"), "give names: -U WORDLIST and/or -u NAME"),
        (("enum", "127.0.0.1", "-U", "/nonexistent/list"), "no such word list"),
        (("enum", "127.0.0.1", "-u", "x", "--workers", "0"), "--workers must be"),
        (("enum", "127.0.0.1", "-u", "x", "--rate=-1"), "--rate must be"),
        (("relay", "127.0.0.1:99999"), "bad port"),
        (("probe", "[::1"), "missing ']'"),
        (("relay", "127.0.0.1", "--to", "a b"), "bad --to"),
    ]
    for args, message in cases:
        proc = smtpsh(*args)
        assert proc.returncode == 2, args
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], (args, proc.stderr)


def _tls_server(tmp_path: Path, *, trusted: bool) -> tuple[Policy, ClientOptions]:
    """A fake offering STARTTLS with a certificate for 127.0.0.1 from a private CA, and
    client options that trust that CA (``trusted``) or another one. (Not the context of
    the system's CAs alone: that one is shared by the process, and a verification made
    with it loads certificates into it that tests/net/test_tls_context.py compares.)"""
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "fake.smtpsh.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    ca_file = tmp_path / "ca.pem"
    (ca if trusted else trustme.CA()).cert_pem.write_to_path(str(ca_file))
    settings = TLSSettings(cafile=str(ca_file))
    options = ClientOptions("127.0.0.1", 0, timeout=3.0, connect_timeout=3.0,
                            ssl_context=make_context(settings))
    return Policy(tls=server_ctx), options


def _probe(policy: Policy, options: ClientOptions) -> tuple[ProbeReport, list[str], int]:
    """The probe (relay tests included) against a fake: the report, what the fake was sent
    and how many connections it took."""
    with running(policy) as server:
        options.port = server.port
        report = asyncio.run(Prober(Target(options, "audit.test", False)).run())
        return report, list(server.commands), server.connections


def test_probe_checks_a_certificate_that_does_not_verify_on_the_relay_connection(
    tmp_path: Path,
) -> None:
    # The certificate's CA is not trusted. The probe's own session is made without
    # verification; the check (STARTTLS with verification, refused by the client's own
    # handshake) is the last thing on the relay tests' last connection: three connections,
    # where a failed handshake of its own made four.
    report, commands, connections = _probe(*_tls_server(tmp_path, trusted=False))
    tls = report.tls
    assert tls.works and tls.verified is False
    assert "not from a trusted CA" in tls.verify_error, tls.verify_error
    assert any(line.startswith("certificate: ") for line in tls.lines)
    assert report.relay is not None and report.relay.verdict.name == "CLOSED"
    assert connections == 3, connections
    assert commands.count("STARTTLS") == 2
    last = len(commands) - 1 - commands[::-1].index("STARTTLS")
    assert commands[last - 1] == "RSET" and commands[last - 2].startswith("RCPT TO:")
    text = render(render_text(report))
    assert "certificate did not verify: " in text
    assert "the session below was made without verification" in text
    assert "verified: NO" not in text  # certinfo's line for the unverified session


def test_probe_checks_a_certificate_that_verifies_on_the_relay_connection(
    tmp_path: Path,
) -> None:
    report, _, connections = _probe(*_tls_server(tmp_path, trusted=True))
    tls = report.tls
    assert tls.works and tls.verified is True and not tls.verify_error
    # The summary is the verified session's: its chain ends at the trusted CA.
    assert any(line.startswith("verified: yes") for line in tls.lines), tls.lines
    assert connections == 3
    assert "certificate" not in {f.key for f in findings(report)}


def test_probe_tells_a_self_signed_certificate_without_a_handshake_to_check_it(
    tmp_path: Path,
) -> None:
    # A self-signed certificate nothing trusts (the usual MX's) cannot verify, and a
    # verifying handshake would only say so: smtpsh.net.selfsigned tells it from the
    # session made without verification: one STARTTLS, where the check on the relay
    # tests' last connection made it two (and two handshakes, the server's costly part).
    from smtpsh.sandbox.tlscert import write_certificate

    files = write_certificate(tmp_path)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(files.cert, files.key)
    # The system store and a CA unrelated to it (a context of its own: see _tls_server).
    unrelated = tmp_path / "unrelated.pem"
    trustme.CA().cert_pem.write_to_path(str(unrelated))
    options = ClientOptions("127.0.0.1", 0, timeout=3.0, connect_timeout=3.0,
                            ssl_context=make_context(TLSSettings(cafile=str(unrelated))))
    report, commands, connections = _probe(Policy(tls=server_ctx), options)
    tls = report.tls
    assert tls.works and tls.verified is False
    assert tls.verify_error.startswith("the certificate for 127.0.0.1 is self-signed ("), (
        tls.verify_error)
    assert commands.count("STARTTLS") == 1
    assert connections == 3, connections  # the probe's, and the relay tests' two
    text = render(render_text(report))
    assert "certificate did not verify: the certificate for 127.0.0.1 is self-signed" in text
    # Trusted (--cafile naming it), the same certificate is checked by a handshake.
    trusted = ClientOptions("127.0.0.1", 0, timeout=3.0, connect_timeout=3.0,
                            ssl_context=make_context(TLSSettings(cafile=str(files.cert))))
    report, commands, _ = _probe(Policy(tls=server_ctx), trusted)
    assert commands.count("STARTTLS") == 2
    assert report.tls.verify_error == "" or "self-signed" not in report.tls.verify_error


def test_probe_checks_the_certificate_apart_when_the_relay_left_no_room(
    tmp_path: Path,
) -> None:
    # Every error costs a slow reply from the second on: the relay tests end each
    # connection at its budget, so the check gets a connection of its own.
    policy, options = _tls_server(tmp_path, trusted=False)
    policy.soft_limit, policy.soft_sleep = 2, 0.4
    report, _, _ = _probe(policy, options)
    assert report.tls.verified is False
    assert "not from a trusted CA" in report.tls.verify_error
