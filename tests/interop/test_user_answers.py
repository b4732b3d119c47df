"""What the shell says of answers about users, on each real server: a difference that
tells who exists is said as such, an answer that cannot tell is never called one.

The interop facts name the users each server has (tests/interop/servers.py)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.interop.conftest import server_fixture
from tests.interop.servers import FACTS_FILE

REVEALS = "the server reveals which recipients exist"
# Whether RCPT of a real user and of a made-up one at the server's own domain, in one
# transaction, tell the two apart in a way smtpsh can read. Exim's recipient ACL refuses the
# unknown name with "550 relay not permitted": worded as a relay refusal, it is not taken
# as "no such user" (the gloss says so). Haraka takes every name (catch-all).
RCPT_TELLS = {"postfix": True, "opensmtpd": True, "nodemailer": True, "aiosmtpd": True,
              "exim": False, "haraka": False}


def run(args: list[str], script: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "smtpsh", *args], input=script,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stdout + proc.stderr, proc.stderr
    return proc.stdout


@pytest.mark.parametrize("name", sorted(RCPT_TELLS))
def test_rcpt_of_a_user_and_of_a_made_up_name(name: str) -> None:
    server = server_fixture(name)
    user = server.address((server.users or ("alice",))[0])
    made_up = server.address("zzsmtpshnosuch")
    out = run([server.target], f"EHLO me\nMAIL FROM:<>\nRCPT TO:<{made_up}>\n"
                               f"RCPT TO:<{user}>\nQUIT\n")
    assert f"C: RCPT TO:<{user}>" in out, out
    said = out.split(f"C: RCPT TO:<{user}>", 1)[1].split("C: QUIT", 1)[0]
    assert (REVEALS in said) == RCPT_TELLS[name], out


def test_opensmtpd_s_524_is_glossed_as_no_such_user() -> None:
    opensmtpd = server_fixture("opensmtpd")
    made_up = opensmtpd.address("zzsmtpshnosuch")
    out = run([opensmtpd.target], f"EHLO me\nMAIL FROM:<>\nRCPT TO:<{made_up}>\nQUIT\n")
    lines = out.splitlines()
    refusal = next(i for i, line in enumerate(lines) if line.startswith("S: 524 5.2.4 "))
    assert lines[refusal + 1] == ("  ↳ 524 the address expands to no mailbox here (OpenSMTPD's"
                                  " 'no such user') · 5.2.4 mailing list expansion problem")


def test_haraka_s_software_is_named_once() -> None:
    haraka = server_fixture("haraka")
    facts = json.loads(FACTS_FILE.read_text(encoding="utf-8"))
    out = run(["probe", haraka.target, "--json", "--no-relay", "--cafile",
               str(haraka.ca_file)], "")
    software = json.loads(out)["result"]["software"]
    assert software == [{"name": "Haraka", "version": facts["versions"]["haraka"],
                         "source": "banner"}], software


@pytest.mark.parametrize(("name", "said"), [
    ("haraka", "550 no rule of the server took this recipient (Haraka's answer when none of its"
               " plugins accepts it): a domain it does not serve, or relaying refused to you"),
    ("opensmtpd", "550 no rule of the server took this recipient (OpenSMTPD's wording when no"
                  " 'match' rule applies): a domain it does not serve, or relaying refused to"
                  " you"),
])
def test_a_refused_outside_recipient_is_not_glossed_as_a_missing_mailbox(
    name: str, said: str,
) -> None:
    # Haraka's "550 I cannot deliver mail for <x>" (no plugin took the recipient) and
    # OpenSMTPD's "550 Invalid recipient: <x>" (no match rule) refuse a domain they do not
    # serve; both were glossed "550 mailbox unavailable", as if a mailbox there were missing.
    server = server_fixture(name)
    out = run([server.target], "EHLO me\nMAIL FROM:<>\nRCPT TO:<relaytest@example.com>\nQUIT\n")
    lines = out.splitlines()
    refusal = next(i for i, line in enumerate(lines) if line.startswith("S: 550 "))
    assert lines[refusal + 1] == f"  ↳ {said}", out
