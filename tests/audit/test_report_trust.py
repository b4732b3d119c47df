"""Probe findings that depend on what could be seen from outside: the port's role, and
whether AUTH listed in clear is taken there (replies as the interop servers gave them)."""

from __future__ import annotations

import pytest

from smtpsh.audit.probe import ProbeReport, TLSResult
from smtpsh.audit.report import exit_status, findings
from smtpsh.protocol.replies import Reply


def report(port: int, *, auth: list[str] | None = None,
           auth_reply: tuple[str, Reply] | None = None) -> ProbeReport:
    r = ProbeReport("127.0.0.1", port, banner=Reply(220, ("mx.test ESMTP",)), esmtp=True)
    r.tls = TLSResult(offered=True, works=True, required=False,
                      required_evidence=Reply(250, ("2.1.0 Ok",)))
    r.auth_plain = auth or []
    r.auth_clear = auth_reply
    return r


@pytest.mark.parametrize(("port", "key", "dangerous"), [
    (25, "starttls_optional_mx", False),  # an MX must take mail in clear (RFC 3207 §4)
    (587, "starttls_not_required", True),  # submission (RFC 6409, RFC 8314)
    (2525, "starttls_not_required", True),
    (11004, "starttls_optional_port", False),  # unknown role: said, not counted
    (2500, "starttls_optional_port", False),
])  # fmt: skip
def test_optional_starttls_is_judged_by_the_port_role(port: int, key: str,
                                                      dangerous: bool) -> None:
    found = {f.key: f for f in findings(report(port))}
    tls_keys = {k for k in found if k.startswith("starttls")}
    assert tls_keys == {key}
    assert found[key].dangerous is dangerous
    assert exit_status(report(port)) == (1 if dangerous else 0)
    if key == "starttls_optional_port":
        assert f"port {port} is neither the MX port 25 nor a submission port" in found[key].detail


def test_auth_listed_in_clear_and_refused_there_is_a_note() -> None:
    # nodemailer's smtp-server lists AUTH PLAIN LOGIN before STARTTLS and answers 538.
    refused = ("LOGIN", Reply(538, ("Error: Must issue a STARTTLS command first",)))
    found = {f.key: f for f in findings(report(11004, auth=["PLAIN", "LOGIN"],
                                               auth_reply=refused))}
    assert "auth_in_clear" not in found
    note = found["auth_refused_in_clear"]
    assert not note.dangerous
    assert note.detail == ("AUTH PLAIN LOGIN listed before STARTTLS; AUTH LOGIN in clear → 538"
                           " Error: Must issue a STARTTLS command first")


def test_auth_taken_in_clear_is_dangerous_with_the_evidence() -> None:
    # Haraka (from loopback, a private address for it) prompts for the user name in clear.
    taken = ("LOGIN", Reply(334, ("VXNlcm5hbWU6",)))
    found = {f.key: f for f in findings(report(25, auth=["PLAIN", "LOGIN"], auth_reply=taken))}
    assert found["auth_in_clear"].dangerous
    assert found["auth_in_clear"].detail.endswith("(AUTH LOGIN in clear → 334 VXNlcm5hbWU6:"
                                                  " taken there)")
    assert "auth_refused_in_clear" not in found


def test_auth_listed_in_clear_but_not_tried_stays_dangerous() -> None:
    # Only mechanisms that cannot be tried blind (SCRAM): what was listed is what is said.
    found = {f.key: f for f in findings(report(25, auth=["SCRAM-SHA-256"]))}
    assert found["auth_in_clear"].detail == "AUTH SCRAM-SHA-256 offered before STARTTLS"
    assert found["auth_in_clear"].dangerous
