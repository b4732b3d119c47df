"""Words of a verdict that must fit the server they are said of (found by trying each
command on each interop server as a user would)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.interop.conftest import server_fixture


def run_enum(target: str, method: str, names: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "enum", target, "-m", method, "-U", str(names)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_a_vrfy_that_answers_252_to_all_is_not_called_a_catch_all(tmp_path: Path) -> None:
    # Haraka answers every VRFY `252 Just try sending a mail…`: it declines to say, it does
    # not accept mail for any name (its RCPT is the catch-all, said as such).
    haraka = server_fixture("haraka")
    names = tmp_path / "names.txt"
    names.write_text("alice\nbob\nroot\n")
    vrfy = run_enum(haraka.target, "vrfy", names)
    assert vrfy.returncode == 3, vrfy.stderr
    last = vrfy.stderr.splitlines()[-1]  # the found names alone go to stdout
    assert last.startswith("no answer tells: 3 names got the same answer as the impossible"
                           " name (252 "), last  # fmt: skip
    assert "catch-all" not in last
    rcpt = run_enum(haraka.target, "rcpt", names)
    assert rcpt.returncode == 3, rcpt.stderr
    assert rcpt.stderr.splitlines()[-1].startswith("catch-all: 3 names got the same answer")


def expectations(target: str, script: str) -> list[tuple[str, str]]:
    """(the `! expect …` line's reply, the real reply's first line) for each warned line of
    a piped session."""
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", target], input=script,
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    pairs: list[tuple[str, str]] = []
    expected = None
    for line in proc.stdout.splitlines():
        if line.startswith("! expect "):
            expected = line.removeprefix("! expect ").split(":", 1)[0]
        elif line.startswith("S: ") and expected is not None:
            pairs.append((expected, line.removeprefix("S: ")))
            expected = None
    return pairs


def test_a_family_habit_names_the_reply_that_family_gives() -> None:
    # OpenSMTPD lists HELP in EHLO; the inference "HELP listed, EXPN not: 502" hid the
    # family's own answer (500 5.5.1). Exim sends no enhanced status codes: its bare-name
    # VRFY refusal was predicted as "501 5.5.4".
    opensmtpd, exim = server_fixture("opensmtpd"), server_fixture("exim")
    pairs = expectations(opensmtpd.target, "EHLO me\nEXPN postmaster\nQUIT\n")
    pairs += expectations(exim.target, "EHLO me\nVRFY alice\nQUIT\n")
    assert len(pairs) == 2, pairs
    for expected, got in pairs:
        code, _, text = expected.partition(" ")
        assert got.startswith(code + " "), (expected, got)
        enhanced = text.split(" ", 1)[0]
        if enhanced[:1].isdigit() and "." in enhanced:  # predicted an enhanced code
            assert got.split(" ")[1] == enhanced, (expected, got)
        else:
            assert not got.split(" ")[1][:1].isdigit(), (expected, got)


def test_the_relay_gloss_makes_no_claim_about_the_domain() -> None:
    # This Exim's recipient ACL ends in `deny message = relay not permitted`, so an unknown
    # user at its own domain gets the relay refusal while alice@ the same domain is taken.
    # The gloss said "that domain is not one this server takes mail for": false here.
    exim = server_fixture("exim")
    script = (f"EHLO me\nMAIL FROM:<a@example.net>\nRCPT TO:<{exim.address(exim.users[0])}>\n"
              f"RCPT TO:<{exim.address('zz-nosuch')}>\nQUIT\n")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", exim.target], input=script,
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert "S: 250 Accepted" in out and "S: 550 relay not permitted" in out, out
    gloss = out.split("S: 550 relay not permitted\n", 1)[1].splitlines()[0]
    wanted = "↳ 550 relaying refused: the server does not take mail for this address from you"
    assert gloss.strip() == wanted


def test_no_enhanced_code_is_predicted_where_the_server_offers_none() -> None:
    # Exim, Haraka and smtp-server offer no ENHANCEDSTATUSCODES and send none: the warning
    # before RCPT-before-MAIL said "expect 503 5.5.1"; they answer "503 sender not yet
    # given", "503 Use MAIL before RCPT", "503 Error: need MAIL command".
    pairs = []
    for name in ("exim", "haraka", "nodemailer"):
        server = server_fixture(name)
        script = f"EHLO me\nRCPT TO:<{server.address('alice')}>\nQUIT\n"
        found = expectations(server.target, script)
        assert len(found) == 1, (name, found)
        pairs += found
    for expected, got in pairs:
        assert expected.split(" ", 2)[:2] == ["503", "need"], expected
        assert got.startswith("503 ") and not got.split(" ")[1][:1].isdigit(), got


def test_haraka_s_250_not_implemented_to_help_is_not_glossed_as_completed() -> None:
    # Haraka answers HELP with `250 Not implemented`: the gloss said "requested action
    # completed", the opposite of the text.
    haraka = server_fixture("haraka")
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", haraka.target], input="EHLO me\n/send-verb HELP\nQUIT\n",
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    lines = out.splitlines()
    reply = lines.index("S: 250 Not implemented")
    assert lines[reply + 1] == ("  ↳ 250 a success code, but the text says HELP is not"
                                " implemented: no help text here"), out


def test_haraka_s_acceptance_of_a_second_auth_is_said_as_it_is() -> None:
    # The warning said servers refuse a second AUTH; Haraka takes it (235), and the gloss
    # said "authentication succeeded" as for the first.
    import base64

    haraka = server_fixture("haraka")
    plain = base64.b64encode(f"\0{haraka.auth_user}\0{haraka.auth_password}".encode()).decode()
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", haraka.target, "--cafile", str(haraka.ca_file)],
        input=f"EHLO me\nSTARTTLS\nEHLO me\nAUTH PLAIN {plain}\nAUTH PLAIN {plain}\nQUIT\n",
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert plain not in out
    assert ("! expect 503 already authenticated: RFC 4954 §4 says a server must refuse AUTH"
            " after a successful one; this server may still answer otherwise") in out, out
    glosses = [line for line in out.splitlines() if line.startswith("  ↳ 235 ")]
    assert len(glosses) == 2, out
    assert glosses[0].startswith("  ↳ 235 authentication succeeded")
    assert glosses[1].startswith("  ↳ 235 a second AUTH accepted, though RFC 4954 §4 says it"
                                 " must be refused (503)")


def test_enum_s_error_budget_is_not_said_to_be_postfix_s_on_exim(tmp_path: Path) -> None:
    exim = server_fixture("exim")
    names = tmp_path / "names.txt"
    names.write_text("alice\nbob\nnosuch\n")
    proc = run_enum(exim.target, "rcpt", names)
    [budget] = [line for line in proc.stderr.splitlines() if line.startswith("error budget:")]
    assert budget.startswith("error budget: 10 per connection; assumed 10, a common default:"
                             " stock Exim counts no refused RCPT or VRFY"), budget
    assert "smtpd_soft_error_limit" not in budget


def test_enumeration_is_claimed_only_from_a_no_such_user_at_the_same_domain() -> None:
    # The shell compared a 250 with any refusal of the same verb: a 503 for RCPT before
    # MAIL (Exim), a refusal of a foreign domain (OpenSMTPD), and on Haraka, which takes
    # every name at its own domain, it said "user enumeration works here" twice.
    # OpenSMTPD's own "no such user" at its domain (`524 5.2.4`) is the finding, once.
    said = {}
    for name in ("exim", "opensmtpd", "haraka", "nodemailer"):
        server = server_fixture(name)
        script = (f"EHLO me\nRCPT TO:<c@d>\nMAIL FROM:<a@example.net>\n"
                  f"RCPT TO:<{server.address('alice')}>\nRCPT TO:<{server.address('zz-nosuch')}>\n"
                  f"RCPT TO:<x@example.com>\nQUIT\n")  # fmt: skip
        said[name] = subprocess.run(
            [sys.executable, "-m", "smtpsh", server.target], input=script,
            capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
    for name in ("exim", "haraka"):
        assert "enumeration works here" not in said[name], said[name]
    # smtp-server refuses the unknown name at its own domain: `550 No such user here`;
    # OpenSMTPD with `524 5.2.4 Mailing list expansion problem`.
    node, opensmtpd = said["nodemailer"], said["opensmtpd"]
    assert "S: 550 No such user here" in node, node
    for out in (node, opensmtpd):
        assert out.count("user enumeration works here") == 1, out
        assert "→ 250 but RCPT TO:<zz-nosuch@" in out, out
        assert "x@example.com" not in out.split("user enumeration works here")[0].rsplit(
            "\n", 1)[-1], out  # the note never names the foreign domain's refusal


def glosses(target: str, script: str) -> dict[str, str]:
    """Each server line of a piped session → the annotation under it."""
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", target], input=script,
        capture_output=True, text=True, timeout=120,
    ).stdout.splitlines()  # fmt: skip
    return {line.removeprefix("S: "): out[i + 1].strip()
            for i, line in enumerate(out[:-1]) if line.startswith("S: ")}


def test_glosses_of_replies_other_servers_word_their_own_way() -> None:
    # OpenSMTPD's unknown user was glossed "524 encryption required for requested
    # authentication mechanism"; Haraka's size refusal at MAIL "550 mailbox unavailable".
    opensmtpd, haraka = server_fixture("opensmtpd"), server_fixture("haraka")
    seen = glosses(opensmtpd.target, f"EHLO me\nMAIL FROM:<a@example.net>\n"
                                     f"RCPT TO:<{opensmtpd.address('zz-nosuch')}>\nQUIT\n")
    refusal = next(line for line in seen if line.startswith("524 5.2.4"))
    # Its meaning on OpenSMTPD, and RFC 3463's for 5.2.4 beside it.
    assert "encryption" not in seen[refusal]
    assert seen[refusal] == ("↳ 524 the address expands to no mailbox here (OpenSMTPD's 'no such"
                             " user') · 5.2.4 mailing list expansion problem")
    seen = glosses(haraka.target, "EHLO me\nMAIL FROM:<a@example.net> SIZE=999999999\nQUIT\n")
    assert seen["550 Message too big!"] == "↳ 550 the message is over the server's size limit"


def test_probe_shows_a_name_that_exists_as_the_evidence_of_vrfy_on_exim(tmp_path: Path) -> None:
    # root@mx.exim.test and the impossible name both got `550 … Unrouteable address`;
    # "ENABLED" rested on the canary's "no" alone. postmaster is the evidence now.
    exim = server_fixture("exim")
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", exim.target, "--no-relay", "--json",
         "--cafile", str(exim.ca_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    result = json.loads(proc.stdout)["result"]
    for verb in ("vrfy", "expn"):
        check = result[verb]
        assert check["state"] == "reveals", check
        assert check["reference"]["name"].startswith("postmaster"), check
        assert check["reference"]["reply"][0].startswith("250 "), check


def test_auth_where_none_is_advertised_is_predicted_as_the_503_servers_give() -> None:
    # Postfix, Exim and OpenSMTPD answer AUTH on a session whose EHLO listed none with 503
    # (`503 5.5.1 Error: authentication not enabled`, `503 AUTH command used when not
    # advertised`, `503 5.5.1 Invalid command: Command not supported`); smtpsh said 502.
    pairs = []
    for name in ("postfix_plain", "exim", "opensmtpd"):
        server = server_fixture(name)
        found = expectations(server.target, "EHLO me\nAUTH PLAIN AGRhdmUAc2VjcmV0\nQUIT\n")
        assert len(found) == 1, (name, found)
        pairs += found
    for expected, got in pairs:
        assert expected.startswith("503 ") and got.startswith("503 "), (expected, got)


def test_eight_bit_text_without_body_8bitmime_is_warned_once_a_message() -> None:
    # Every interop server takes 8-bit text after a MAIL without BODY=8BITMIME; RFC 6152
    # lets a client send it only so declared, to a server that offers 8BITMIME.
    exim, postfix = server_fixture("exim"), server_fixture("postfix_plain")
    to = exim.address(exim.users[0])
    script = (f"EHLO me\nMAIL FROM:<a@example.net>\nRCPT TO:<{to}>\nDATA\nSubject: café\n\n"
              f"été\n.\nMAIL FROM:<a@example.net> BODY=8BITMIME\nRCPT TO:<{to}>\nDATA\n"
              f"été\n.\nQUIT\n")  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", exim.target], input=script,
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert out.count("! 8-bit characters in the message") == 1, out
    first, second = out.split("C: MAIL FROM:<a@example.net> BODY=8BITMIME", 1)
    assert "declared no BODY=8BITMIME (RFC 6152)" in first
    assert "8-bit" not in second and second.count("S: 250 OK id=") == 1, out
    # After HELO no extension is in force: 8BITMIME was not advertised.
    to = postfix.address(postfix.users[0])
    out = subprocess.run(
        [sys.executable, "-m", "smtpsh", postfix.target],
        input=f"HELO me\nMAIL FROM:<a@example.net>\nRCPT TO:<{to}>\nDATA\nété\n.\nQUIT\n",
        capture_output=True, text=True, timeout=120,
    ).stdout  # fmt: skip
    assert "the server did not advertise 8BITMIME (RFC 6152)" in out, out


def test_enum_says_a_certificate_it_cannot_verify_is_why_nothing_was_tested(
    tmp_path: Path,
) -> None:
    # aiosmtpd with require_starttls answers VRFY with 530; enum then starts every
    # connection with STARTTLS. Without --cafile the test CA does not verify: each method
    # failed 4 times and the verdict was "no method tells users apart on this server"
    # (exit 3), an answer the server never gave.
    server = server_fixture("aiosmtpd_tls")
    names = tmp_path / "names.txt"
    names.write_text("alice\nroot\n")
    proc = run_enum(server.target, "auto", names)
    assert proc.returncode == 4, proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert last.startswith("smtpsh enum: STARTTLS failed: TLS: the certificate"), last
    assert "--cafile" in last and "tells users apart" not in proc.stderr


def test_enum_at_a_domain_the_server_does_not_serve_is_inconclusive(tmp_path: Path) -> None:
    # -m rcpt -D example.org: Exim answers every name `550 relay not permitted`, smtp-server
    # `554 Relay access denied`; enum said "found 0: none" and exit 0, as if the names had
    # been checked and did not exist.
    names = tmp_path / "names.txt"
    names.write_text("alice\nbob\nroot\n")
    for name in ("exim", "nodemailer"):
        server = server_fixture(name)
        proc = subprocess.run(
            [sys.executable, "-m", "smtpsh", "enum", server.target, "-m", "rcpt",
             "-D", "example.org", "-U", str(names)],
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert proc.returncode == 3, (name, proc.stderr)
        assert "inconclusive: the impossible name was refused for another reason" in (
            proc.stderr + proc.stdout), (name, proc.stderr)
    # At its own domain the same method finds the users (exit 1), as before.
    exim = server_fixture("exim")
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "enum", exim.target, "-m", "rcpt", "-D", exim.domain,
         "-U", str(names)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1 and "found 2: alice, bob" in proc.stderr + proc.stdout, proc.stderr


def test_no_enhanced_code_is_predicted_after_helo() -> None:
    # After HELO nothing is offered: Exim, Haraka, smtp-server and aiosmtpd then send no
    # enhanced code (Exim `501 … SIZE=10 may not follow …`, Haraka `555 Invalid command
    # parameters`), yet the warning said "expect 555 5.5.4".
    for name in ("exim", "haraka", "nodemailer", "aiosmtpd"):
        server = server_fixture(name)
        found = expectations(server.target, "HELO me\nMAIL FROM:<a@example.net> SIZE=10\nQUIT\n")
        assert len(found) == 1, (name, found)
        expected, got = found[0]
        assert expected.startswith("555 parameter not recognised"), (name, expected)
        assert not got.split(" ")[1][:1].isdigit(), (name, got)  # the server sent none either


def test_enum_by_rcpt_goes_into_starttls_when_mail_wants_it(tmp_path: Path) -> None:
    # aiosmtpd with require_starttls answers MAIL FROM with 530 before STARTTLS. VRFY then
    # went on inside STARTTLS, but -m rcpt stopped at once: "the server refused MAIL
    # FROM:<>" and exit 3 (undetermined), as if the answers could not tell, while inside
    # TLS they tell every user apart.
    server = server_fixture("aiosmtpd_tls")
    names = tmp_path / "names.txt"
    names.write_text("".join(f"{user}\n" for user in server.users) + "zznosuchuser\n")
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "enum", server.target, "-m", "rcpt", "-U",
         str(names), "--cafile", str(server.ca_file), "--json"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    assert "MAIL FROM:<> answered 530 " in proc.stderr, proc.stderr
    assert "every connection now starts with it" in proc.stderr, proc.stderr
    found = {r["name"] for r in json.loads(proc.stdout)["result"]["found"]}
    assert found == set(server.users), proc.stdout


def test_auth_in_clear_seen_from_loopback_says_where_it_was_seen() -> None:
    # Haraka's auth/flat_file offers AUTH before STARTTLS only to private addresses (its
    # is_private covers loopback): probed from 127.0.0.1 it is offered and taken in clear,
    # from the internet it would not be. The finding said it flatly, as a fact of the
    # server for every client.
    haraka = server_fixture("haraka")
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "probe", haraka.target, "--no-relay", "--json",
         "--cafile", str(haraka.ca_file)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    found = {f["key"]: f for f in json.loads(proc.stdout)["result"]["findings"]}
    detail = found["auth_in_clear"]["detail"]
    assert detail.startswith("AUTH PLAIN LOGIN offered before STARTTLS"), detail
    assert f"seen from the server's own host (loopback: {haraka.host})" in detail, detail
    assert "so a client outside may not be offered it" in detail, detail
    assert found["auth_in_clear"]["dangerous"] is True  # what was seen is still a danger
