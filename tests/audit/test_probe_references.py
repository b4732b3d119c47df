"""probe's VRFY/EXPN verdict from real evidence: root, then postmaster (which every mail
domain must accept, RFC 5321 §4.5.1), against a name that cannot exist.

On the interop Exim the canary and root@mx.exim.test both got `550 … Unrouteable address`
and probe said "ENABLED" from the canary's definite "no" alone; postmaster@mx.exim.test →
`250 … is deliverable` is the evidence. A server whose "no" reaches postmaster too tells
nothing apart: that is inconclusive, not "ENABLED".
"""

from __future__ import annotations

import asyncio

from smtpsh.audit.probe import Prober, ProbeReport
from smtpsh.audit.report import findings
from tests.audit.fakesmtp import Policy, running
from tests.audit.test_relay_probe_fake import target


def probe(policy: Policy) -> ProbeReport:
    with running(policy) as server:
        return asyncio.run(Prober(target(server.port), relay=False).run())


def test_postmaster_is_the_evidence_when_root_is_unknown() -> None:
    report = probe(Policy(users=frozenset({"postmaster", "alice"}), expn=False))
    assert report.vrfy.state == "reveals"
    assert report.vrfy.reference is not None and report.vrfy.reference[0] == "postmaster"
    assert report.vrfy.reference[1].code == 252
    assert report.vrfy.why == ""  # seen, not inferred
    assert "vrfy" in {f.key for f in findings(report) if f.dangerous}


def test_a_no_that_reaches_postmaster_too_is_inconclusive() -> None:
    # Every name, postmaster included, gets the impossible name's `550 5.1.1`.
    report = probe(Policy(users=frozenset({"alice"}), expn=False))
    assert report.vrfy.state == "inconclusive"
    assert report.vrfy.reference is not None and report.vrfy.reference[0] == "postmaster"
    assert "postmaster got the same 'no'" in report.vrfy.why
    assert "vrfy" not in {f.key for f in findings(report)}


def test_an_address_in_the_banner_is_no_software_version() -> None:
    # 'ESMTP Welcome 192.0.2.10' was "banner leaks software and version: Welcome
    # 192.0.2.10", a dangerous finding (exit 1) made of the client's address.
    report = probe(Policy(banner="fake.smtpsh.test ESMTP Welcome 192.0.2.10",
                          help="ready; client 192.0.2.10", expn=False))
    assert report.software == []
    assert not {"banner_version", "banner_software"} & {f.key for f in findings(report)}
