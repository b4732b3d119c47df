"""What the shell says after a reply that proves its own warning wrong, on the real
servers that are lenient where the RFCs (and Postfix) are strict."""

from __future__ import annotations

import subprocess
import sys

from tests.interop.conftest import server_fixture

LENIENT = "this server is lenient here"


def piped(target: str, script: str, *extra: str) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", *extra, target], input=script,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc.stdout.splitlines()


def said_after(lines: list[str], reply: str) -> list[str]:
    """The lines after the server's ``reply`` up to the next line sent."""
    start = lines.index(f"S: {reply}") + 1
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("C: ")), len(lines))
    return lines[start:end]


def test_opensmtpd_s_acceptance_of_an_oversize_mail_is_said_under_the_reply() -> None:
    opensmtpd = server_fixture("opensmtpd")
    lines = piped(opensmtpd.target, "EHLO me\nMAIL FROM:<a@b.test> SIZE=99999999999\nQUIT\n")
    assert any(line.startswith("! expect 552 5.3.4 ") for line in lines), lines
    after = said_after(lines, "250 2.0.0 Ok")
    assert after[1].startswith("  ↳ predicted 552 (SIZE=99999999999 is over the "), after
    assert after[1].endswith("the server answered 250: " + LENIENT), after


def test_opensmtpd_s_starttls_after_helo_is_said_to_be_taken_before_the_handshake() -> None:
    # The 220 is said to prove the 502 wrong (the note belongs to the reply, not to the
    # handshake it sets off), and the handshake that follows completes.
    opensmtpd = server_fixture("opensmtpd")
    lines = piped(opensmtpd.target, "HELO me\nSTARTTLS\nQUIT\n",
                  "--cafile", str(opensmtpd.ca_file))
    assert any(line.startswith("! expect 502 ") for line in lines), lines
    after = said_after(lines, "220 2.0.0 Ready to start TLS")
    assert after[1].startswith("  ↳ predicted 502 (STARTTLS needs the STARTTLS extension"), after
    assert after[1].endswith("answered 220: " + LENIENT), after
    assert any(line.startswith("· TLS established: TLSv1.") for line in lines), lines


def test_opensmtpd_s_refusal_of_a_second_auth_inside_tls_is_said_as_predicted() -> None:
    # OpenSMTPD lists AUTH only inside TLS; there it refuses a second AUTH with 503, as
    # RFC 4954 §4 says: the warning held, so no "lenient" line, and the 503 is glossed as
    # that refusal (not as a generic bad sequence).
    import base64

    opensmtpd = server_fixture("opensmtpd")
    plain = base64.b64encode(
        f"\0{opensmtpd.auth_user}\0{opensmtpd.auth_password}".encode()).decode()
    lines = piped(opensmtpd.target,
                  f"EHLO me\nSTARTTLS\nEHLO me\nAUTH PLAIN {plain}\nAUTH PLAIN {plain}\nQUIT\n",
                  "--cafile", str(opensmtpd.ca_file))
    assert not any(plain in line for line in lines), lines
    assert any(line.startswith("· TLS established: TLSv1.") for line in lines), lines
    assert "S: 235 2.0.0 Authentication succeeded" in lines, lines
    assert sum(line.startswith("! expect 503 5.5.1 already authenticated") for line in lines) == 1
    after = said_after(lines, "503 5.5.1 Invalid command: Already authenticated")
    assert after[0].startswith("  ↳ 503 a second AUTH is refused: this session is already"
                               " authenticated"), after
    assert not any(line.endswith(LENIENT) for line in lines), lines


def test_haraka_s_nested_mail_is_said_lenient_and_the_state_follows_it() -> None:
    haraka = server_fixture("haraka")
    rcpt = haraka.address("alice")
    script = (f"EHLO me\nMAIL FROM:<a@b.test>\nRCPT TO:<{rcpt}> NOTIFY=NEVER\n"
              "MAIL FROM:<c@b.test>\nDATA\nQUIT\n")
    lines = piped(haraka.target, script)
    # RCPT's NOTIFY without DSN advertised: predicted 555, taken.
    after = said_after(lines, f"250 recipient <{rcpt}> OK")
    assert after[1].startswith("  ↳ predicted 555 (the server did not advertise DSN"), after
    assert after[1].endswith(LENIENT)
    after = said_after(lines, "250 sender <c@b.test> OK")
    assert after[1].startswith("  ↳ predicted 503 (MAIL is out of order in state 'rcpt'"), after
    # Haraka forgot the recipient with the new MAIL: DATA's 503 is now predicted, and came.
    data = lines.index("C: DATA")
    assert lines[data - 1].startswith("! expect 503 need RCPT before DATA"), lines
    assert lines[data + 1] == "S: 503 RCPT required first", lines
    assert not any("predicted" in line or "not predicted" in line
                   for line in said_after(lines, "503 RCPT required first")), lines


def test_a_warning_that_comes_true_gets_no_second_word() -> None:
    exim = server_fixture("exim")
    lines = piped(exim.target, "EHLO me\nMAIL FROM:<a@b.test>\nMAIL FROM:<c@b.test>\nQUIT\n")
    after = said_after(lines, "503 sender already given")
    assert after and not any("predicted" in line for line in after), after


def test_postfix_takes_a_transaction_before_ehlo_and_the_state_follows() -> None:
    # Postfix's smtpd_helo_required is 'no' by default: MAIL before EHLO gets 250. The
    # state stayed 'greeted', so RCPT and DATA were then each predicted 503 and, taken,
    # said "lenient" too: one wrong belief made three wrong warnings.
    postfix = server_fixture("postfix")
    user = postfix.address(postfix.users[0])
    lines = piped(postfix.target, f"MAIL FROM:<a@b.test>\nRCPT TO:<{user}>\nDATA\n"
                                  "Subject: smtpsh state test\n\nhi\n.\nQUIT\n")
    assert [line for line in lines if line.startswith("! expect ")] == [
        "! expect 503 5.5.1 need EHLO first, or a transaction is open: MAIL is out of order in"
        " state 'greeted' (RFC 5321 §4.1.4) (sending anyway)"], lines
    lenient = [line for line in lines if line.endswith(LENIENT)]
    assert len(lenient) == 1 and lenient[0].startswith("  ↳ predicted 503 (MAIL is out of"), lines
    assert any(line.startswith("S: 354 ") for line in lines), lines
    assert any(line.startswith("· message accepted, queue id ") for line in lines), lines


def test_what_haraka_took_once_is_not_predicted_again_in_the_session() -> None:
    haraka = server_fixture("haraka")
    lines = piped(haraka.target, "EHLO me\nMAIL FROM:<a@b.test>\nMAIL FROM:<c@b.test>\n"
                                 "MAIL FROM:<d@b.test>\nQUIT\n")
    third = lines.index("C: MAIL FROM:<d@b.test>")
    assert lines[third - 1].startswith(
        "! this server took the same earlier in this session, though 503 was predicted"), lines
    assert sum(line.startswith("! expect 503 ") for line in lines) == 1, lines
    assert sum(line.endswith(LENIENT) for line in lines) == 1, lines


def test_haraka_s_second_auth_is_said_once_under_the_reply() -> None:
    import base64

    haraka = server_fixture("haraka")
    plain = base64.b64encode(f"\0{haraka.auth_user}\0{haraka.auth_password}".encode()).decode()
    script = f"EHLO me\nSTARTTLS\nEHLO me\nAUTH PLAIN {plain}\nAUTH PLAIN {plain}\nQUIT\n"
    lines = piped(haraka.target, script, "--cafile", str(haraka.ca_file))
    assert sum(line.startswith("  ↳ 235 a second AUTH accepted, though") for line in lines) == 1
    assert not any(line.startswith("  ↳ predicted 503") for line in lines), lines
    # --no-annotate shows no gloss: the miss is said by the line alone.
    bare = piped(haraka.target, script, "--cafile", str(haraka.ca_file), "--no-annotate")
    assert sum(line.startswith("  ↳ predicted 503 (RFC 4954 §4") for line in bare) == 1, bare
