"""DNSSEC validation against a real signed zone: Knot DNS on 127.0.0.1 serving signed.test
and bogus.test (signed, then its MX changed), set up by scripts/setup-dnssec."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tiny_dns import TinyDnsServer

from smtpsh.dnsinfo.dnssec import TrustAnchorError, Validator, load_trust_anchors

FACTS = Path("/var/lib/smtpsh-test/dnssec.json")


@pytest.fixture(scope="module")
def knot() -> dict[str, Any]:
    try:
        return dict(json.loads(FACTS.read_text()))
    except (OSError, ValueError) as exc:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"the signed zones are not set up: {exc}", pytrace=False)
        pytest.skip(f"run scripts/setup-test-env ({exc})")


# An unsigned zone whose MX is the signed zone's MX host (signed TLSA, matching): a hosted
# domain pointing at a provider's DANE-protected MX. Served by a loopback forwarder in front
# of Knot, so the shared Knot set-up stays as it is: plain.test is answered there, unsigned;
# everything else goes to Knot and comes back untouched, its signatures included.
PLAIN = "plain.test"


def _plain_zone(name: str, rdtype: str) -> list[str] | None:
    if name != PLAIN and not name.endswith("." + PLAIN):
        return None
    return ["10 mx.signed.test."] if (name, rdtype) == (PLAIN, "MX") else []


@pytest.fixture(scope="module")
def with_plain(knot: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The knot facts, with ``server`` the forwarder that also serves plain.test."""
    host, port = knot["server"].rsplit(":", 1)
    server = TinyDnsServer(_plain_zone, upstream=(host, int(port)))
    try:
        yield {**knot, "server": server.server}
    finally:
        server.close()


def validator(knot: dict[str, Any]) -> Validator:
    host, port = knot["server"].rsplit(":", 1)
    return Validator(load_trust_anchors(knot["trust_anchors"]), host, int(port))


def test_signed_zone_answers_are_secure(knot: dict[str, Any]) -> None:
    v = validator(knot)
    for name, rdtype in (("signed.test", "MX"), ("_25._tcp.mx.signed.test", "TLSA"),
                         ("_mta-sts.signed.test", "TXT")):  # fmt: skip
        check = v.validate(name, rdtype)
        assert (check.status, check.zone) == ("secure", "signed.test"), check


def test_tampered_answer_is_bogus(knot: dict[str, Any]) -> None:
    check = validator(knot).validate("bogus.test", "MX")
    assert check.status == "bogus" and "signature does not verify" in check.reason


def test_names_without_an_anchor_are_indeterminate_not_insecure(
    knot: dict[str, Any], with_plain: dict[str, Any]
) -> None:
    # "insecure" (RFC 4035 §4.3) needs a validated proof that the zone is unsigned (a DS
    # chain from an anchor to an NSEC/NSEC3 denial of its DS: test_dnssec_chain.py), and no
    # anchor starts one here: the RFC's word is "indeterminate", and the reason says what
    # the answer showed.
    check = validator(knot).validate("example.org", "MX")
    assert (check.status, check.reason) == ("indeterminate", "no trust anchor covers this name")
    plain = validator(with_plain).validate(PLAIN, "MX")
    assert (plain.status, plain.reason) == (
        "indeterminate", "no trust anchor covers this name; the answer came unsigned, without RRSIG"
    )
    # signed.test's answers are signed, but with an anchor for another zone only, nothing
    # can check them: not "secure", not "insecure" either.
    host, port = knot["server"].rsplit(":", 1)
    others = Validator(load_trust_anchors_text("bogus.test. IN DS 1 13 2 " + "00" * 32), host,
                       int(port))  # fmt: skip
    check = others.validate("signed.test", "MX")
    assert check.status == "indeterminate", check
    assert check.reason.endswith("the answer came signed, but nothing here can check the "
                                 "signature")  # fmt: skip


def test_a_wrong_anchor_makes_the_zone_bogus(knot: dict[str, Any], tmp_path: Path) -> None:
    wrong = tmp_path / "anchors"
    wrong.write_text("signed.test. IN DS 1 13 2 " + "00" * 32 + "\n")
    host, port = knot["server"].rsplit(":", 1)
    check = Validator(load_trust_anchors(str(wrong)), host, int(port)).validate(
        "signed.test", "MX"
    )
    assert check.status == "bogus" and "matches its trust anchor" in check.reason


def load_trust_anchors_text(text: str) -> Any:
    import tempfile

    with tempfile.NamedTemporaryFile("w", suffix=".anchors") as f:
        f.write(text + "\n")
        f.flush()
        return load_trust_anchors(f.name)


def run_dns(knot: dict[str, Any], domain: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", domain, "--dns-server", knot["server"],
         "--trust-anchor", knot["trust_anchors"], *extra],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


def test_cli_report(knot: dict[str, Any]) -> None:
    good = run_dns(knot, "signed.test", "--json")
    data = json.loads(good.stdout)
    report = data.get("result", data)
    assert {c["status"] for c in report["dnssec"]["checks"]} == {"secure"}
    # MX, its MX host's address and TLSA (what DANE rests on, RFC 7672 §2.2), MTA-STS
    assert [(c["type"], c["name"]) for c in report["dnssec"]["checks"]] == [
        ("MX", "signed.test"), ("TLSA", "_25._tcp.mx.signed.test"), ("A", "mx.signed.test"),
        ("TXT", "_mta-sts.signed.test"),
    ]
    bad = run_dns(knot, "bogus.test", "--color", "never")
    assert bad.returncode == 1
    assert "DNSSEC: MX bogus.test: bogus" in bad.stdout


def test_bad_anchor_file_is_one_line(knot: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "anchors"
    bad.write_text("signed.test. IN A 127.0.0.1\n")
    with pytest.raises(TrustAnchorError, match="not a DS or DNSKEY record"):
        load_trust_anchors(str(bad))
    proc = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "signed.test", "--trust-anchor", str(bad)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2 and proc.stderr.count("\n") == 1, proc.stderr


def test_tlsa_proven_secure_by_the_anchor_is_not_called_unvalidated(knot: dict[str, Any]) -> None:
    # Knot is authoritative: its answers never carry the AD bit. Once --trust-anchor has
    # validated the TLSA answer, "senders ignore unsigned TLSA" would contradict the
    # DNSSEC section printed below it.
    warning = "TLSA answers lack the AD bit"
    anchored = run_dns(knot, "signed.test", "--color", "never")
    assert "DNSSEC: TLSA _25._tcp.mx.signed.test: secure" in anchored.stdout
    assert warning not in anchored.stdout
    report = json.loads(run_dns(knot, "signed.test", "--json").stdout)
    report = report.get("result", report)
    assert [h["dnssec_validated"] for h in report["dane"]["hosts"]] == [True]
    unanchored = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "signed.test", "--dns-server", knot["server"],
         "--color", "never"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert warning in unanchored.stdout


def test_a_domain_with_nothing_to_validate_says_so(knot: dict[str, Any]) -> None:
    # _dmarc.signed.test has no MX and no address (so no MX host to look up TLSA for), no
    # MTA-STS: the DNSSEC section was a bare heading, then "nothing to validate"; the
    # absence of its MX, A and AAAA, on which "mail cannot be delivered" rests, is
    # validated now (test_dnssec_nsec3_strict.py).
    proc = run_dns(knot, "_dmarc.signed.test", "--color", "never")
    after = proc.stdout.split("DNSSEC (from your trust anchors)\n", 1)[1]
    for rdtype in ("MX", "A", "AAAA"):
        assert (f"  [ok]    DNSSEC: {rdtype} _dmarc.signed.test: secure (no such record, proven "
                "absent by authenticated denial: signed.test's NSEC record at "
                f"_dmarc.signed.test lists no {rdtype})\n") in after, after  # fmt: skip
    # ns1.signed.test (implicit MX, no TLSA) said the same; the absence of its MX and of
    # its MX host's TLSA are validated now (test_dnssec_absence.py).
    proc = run_dns(knot, "ns1.signed.test", "--color", "never")
    after = proc.stdout.split("DNSSEC (from your trust anchors)\n", 1)[1]
    assert after.startswith("  [ok]    DNSSEC: MX ns1.signed.test: secure (no such record, "
                            "proven absent by authenticated denial: "), after  # fmt: skip


def test_check_mx_does_not_call_a_tlsa_proven_by_the_anchor_unvalidated(
    knot: dict[str, Any],
) -> None:
    # --check-mx judged each MX before --trust-anchor had validated the TLSA answer: the DANE
    # section said "not DNSSEC-validated (no AD bit): senders would not use it" right above
    # "DNSSEC: TLSA _25._tcp.mx.signed.test: secure".
    unvalidated = "was not DNSSEC-validated"
    proc = run_dns(knot, "signed.test", "--check-mx", "--color", "never")
    assert "mx.signed.test: match" in proc.stdout, proc.stdout + proc.stderr
    assert "DNSSEC: TLSA _25._tcp.mx.signed.test: secure" in proc.stdout
    assert unvalidated not in proc.stdout
    data = json.loads(run_dns(knot, "signed.test", "--check-mx", "--json").stdout)
    report = data.get("result", data)
    assert [c["dnssec_validated"] for c in report["dane"]["checks"]] == [True]
    unanchored = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "signed.test", "--dns-server", knot["server"],
         "--check-mx", "--color", "never"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert unvalidated in unanchored.stdout


# In signed.test, stale.signed.test's MX, address and TLSA carry signatures that expired ten
# days ago (scripts/make-signed-zones.py; the facts file names it "expired").
STALE = "stale.signed.test"


def test_expired_signatures_are_bogus_and_say_when_they_expired(knot: dict[str, Any]) -> None:
    # dnspython says only "no RRSIGs validated"; the date is what an operator needs.
    check = validator(knot).validate(STALE, "MX")
    assert check.status == "bogus", check
    assert "signature expired on 20" in check.reason and " UTC" in check.reason, check.reason


def test_signature_failure_words() -> None:
    import dns.rdata
    import dns.rrset

    from smtpsh.dnsinfo.dnssec import signature_failure

    def sigs(inception: int, expiration: int) -> dns.rrset.RRset:
        rdata = dns.rdata.from_text(
            "IN", "RRSIG",
            f"MX 13 2 300 {expiration} {inception} 12345 x.test. " + "AAAA" * 16,
        )  # fmt: skip
        return dns.rrset.from_rdata("x.test.", 300, rdata)

    now = 1_800_000_000
    failure = ValueError("no RRSIGs validated")
    assert signature_failure(sigs(now - 100, now - 10), failure, now) == (
        "its signature expired on 2027-01-15 07:59 UTC"
    )
    assert signature_failure(sigs(now + 3600, now + 7200), failure, now) == (
        "its signature is not valid before 2027-01-15 09:00 UTC"
    )
    assert signature_failure(sigs(now - 100, now + 100), failure, now) == (
        "its signature does not verify (no RRSIGs validated)"
    )


def test_a_bogus_tlsa_answer_is_not_called_unsigned(knot: dict[str, Any]) -> None:
    # With a bogus TLSA answer the DANE section said "senders ignore unsigned TLSA" and "not
    # DNSSEC-validated (no AD bit): senders would not use it": a validating sender does not
    # ignore it, it does not deliver to that MX at all (RFC 7672 §2.1.1).
    proc = run_dns(knot, STALE, "--check-mx", "--color", "never")
    assert proc.returncode == 1
    assert (
        "[error] DANE: mx.stale.signed.test: its TLSA answer is DNSSEC-bogus: validating senders "
        "treat it as a failed lookup and do not deliver to this MX (RFC 7672 §2.1.1)"
    ) in proc.stdout, proc.stdout
    assert "senders ignore unsigned TLSA" not in proc.stdout
    assert "was not DNSSEC-validated" not in proc.stdout
    data = json.loads(run_dns(knot, STALE, "--check-mx", "--json").stdout)
    report = data.get("result", data)
    assert [h["dnssec_bogus"] for h in report["dane"]["hosts"]] == [True]
    assert [c["dnssec_bogus"] for c in report["dane"]["checks"]] == [True]


def test_signed_tlsa_behind_an_insecure_mx_answer_is_not_dane_protection(
    with_plain: dict[str, Any],
) -> None:
    # plain.test is unsigned; its MX is mx.signed.test, whose TLSA is signed and matches. The
    # report was all [ok] for DANE: but a forged MX answer can name any host, so the TLSA of
    # the host the forger left out protects nothing (RFC 7672 §2.2.1).
    knot, domain = with_plain, PLAIN
    proc = run_dns(knot, domain, "--check-mx", "--color", "never")
    dane = proc.stdout.split("\nDANE\n", 1)[1].split("\n\n", 1)[0]
    assert "DNSSEC: TLSA _25._tcp.mx.signed.test: secure" in proc.stdout
    # What was seen (no anchor covers plain.test, its answer came unsigned) and why it does
    # not count. "Not shown to be": with no anchor above plain.test nothing proves it
    # unsigned (RFC 4035 §4.3's "insecure"), only that nothing vouched for this answer.
    assert (
        f"[warn]  DANE: mail for {domain} is not shown to be DANE-protected: its MX answer "
        "could not be validated (no trust anchor covers this name; the answer came unsigned, "
        "without RRSIG); a forged MX answer can name a host that the TLSA records of "
        "mx.signed.test do not cover (RFC 7672 §2.2.1)"
    ) in dane, dane
    assert "DANE applies" not in proc.stdout
    data = json.loads(run_dns(knot, domain, "--json").stdout)
    report = data.get("result", data)
    assert report["dane"]["mx_dnssec"]["status"] == "indeterminate"
    assert [(h["host"], h["dane_applies"]) for h in report["dane"]["hosts"]] == [
        ("mx.signed.test", False)
    ]
    assert "DANE" in {i["check"] for i in report["items"] if i["status"] == "warning"}


def test_dane_applies_only_when_mx_address_and_tlsa_answers_validate(
    knot: dict[str, Any],
) -> None:
    # signed.test: MX, mx.signed.test's address and its TLSA all validate from the anchor;
    # the report says DANE applies, and which answers it rests on (the address one among
    # them, RFC 7672 §2.2.2).
    proc = run_dns(knot, "signed.test", "--color", "never")
    assert (
        "[ok]    DANE: mx.signed.test: DANE applies to mail for signed.test: its MX, address "
        "and TLSA answers are DNSSEC-validated"
    ) in proc.stdout, proc.stdout
    assert "DNSSEC: A mx.signed.test: secure" in proc.stdout
    # Without an anchor, an authoritative server sets no AD bit: nothing is shown validated,
    # and the report says so instead of calling the domain protected.
    bare = subprocess.run(
        [sys.executable, "-m", "smtpsh", "dns", "signed.test", "--dns-server", knot["server"],
         "--color", "never"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert "DANE applies" not in bare.stdout
    assert (
        "mail for signed.test is not shown to be DANE-protected: its MX answer carried no AD bit"
    ) in bare.stdout, bare.stdout


def test_a_resolver_s_ad_bit_does_not_outweigh_a_bogus_validation(knot: dict[str, Any]) -> None:
    # A resolver that sets AD on answers --trust-anchor finds bogus (stale.signed.test: its
    # signatures expired): the report said "DANE applies" right above "DNSSEC: MX ...: bogus".
    host, port = knot["server"].rsplit(":", 1)
    vouching = TinyDnsServer(lambda name, rdtype: None, upstream=(host, int(port)), vouch=True)
    try:
        proc = run_dns({**knot, "server": vouching.server}, STALE, "--color", "never")
        data = json.loads(run_dns({**knot, "server": vouching.server}, STALE, "--json").stdout)
    finally:
        vouching.close()
    assert "DNSSEC: MX stale.signed.test: bogus" in proc.stdout, proc.stdout
    assert "DANE applies" not in proc.stdout
    assert (
        "[error] DANE: mail for stale.signed.test is not DANE-protected: its MX answer is "
        "DNSSEC-bogus (its signature expired on "
    ) in proc.stdout
    report = data.get("result", data)
    assert report["dane"]["mx_dnssec"]["status"] == "bogus"
    assert [(h["dnssec_validated"], h["dnssec_bogus"], h["dane_applies"])
            for h in report["dane"]["hosts"]] == [(False, True, False)]  # fmt: skip
