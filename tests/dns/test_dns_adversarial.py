"""Records that a mail-DNS checker easily gets wrong, served by the dnsmasq test zone: each
test names what smtpsh said before and what RFC 7489 (DMARC) or RFC 7208 (SPF) says instead."""

from __future__ import annotations

import dns.resolver
import pytest

from smtpsh.dns import build_report
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.policy import check_dmarc
from smtpsh.dnsinfo.spf import check_spf

pytestmark = pytest.mark.dns  # needs dnsmasq (tests/dns/conftest.py)


def pairs(items: list[Item]) -> list[tuple[Status, str]]:
    return [(i.status, i.reason) for i in items]


def test_reports_to_another_organisation_need_its_authorisation(
    resolver: dns.resolver.Resolver,
) -> None:
    # RFC 7489 §7.1: other.test publishes no dmarc-ext.example.test._report._dmarc record,
    # so receivers send it no aggregate reports; corp.test does publish one (ruf= fine).
    # smtpsh said nothing about either.
    dmarc = check_dmarc("dmarc-ext.example.test", resolver)
    assert pairs(dmarc.items()) == [
        (Status.OK, "DMARC: p=reject: mail failing DMARC is rejected"),
        (
            Status.WARNING,
            "DMARC: rua=mailto:d@reports.other.test!10m: reports.other.test has not "
            "authorised reports for dmarc-ext.example.test (no v=DMARC1 TXT at "
            "dmarc-ext.example.test._report._dmarc.reports.other.test, RFC 7489 §7.1): "
            "receivers will not send them there",
        ),
    ]


def test_same_organisation_needs_no_authorisation(resolver: dns.resolver.Resolver) -> None:
    # fallback.example.test sends reports to example.test: the same organisational domain.
    assert not any("authorised" in i.reason for i in check_dmarc("fallback.example.test",
                                                                  resolver).items())  # fmt: skip


def test_dmarcbis_tags_are_not_called_unknown(resolver: dns.resolver.Resolver) -> None:
    # np=, psd= and t= are DMARCbis tags: "unknown tag np= (ignored by receivers)" was wrong.
    assert pairs(check_dmarc("dmarc-bis.example.test", resolver).items()) == [
        (Status.OK, "DMARC: p=reject: mail failing DMARC is rejected"),
    ]


def test_a_record_without_p_says_what_receivers_do(resolver: dns.resolver.Resolver) -> None:
    assert pairs(check_dmarc("dmarc-nop.example.test", resolver).items()) == [
        (
            Status.ERROR,
            "DMARC: no p= tag: the record has no policy (receivers treat it as p=none when "
            "rua= is valid, else ignore it; RFC 7489 §6.6.3)",
        ),
    ]


def test_a_record_without_its_semicolon_is_malformed_not_missing(
    resolver: dns.resolver.Resolver,
) -> None:
    # "v=DMARC1 p=reject": smtpsh said "no DMARC record at _dmarc.dmarc-semi.example.test".
    items = pairs(check_dmarc("dmarc-semi.example.test", resolver).items())
    assert items == [
        (
            Status.ERROR,
            'DMARC: "v=DMARC1 p=reject" at _dmarc.dmarc-semi.example.test is malformed (v= '
            "must be exactly DMARC1, then ';'): receivers ignore it",
        ),
        (
            Status.WARNING,
            "DMARC: no DMARC record at _dmarc.dmarc-semi.example.test, nor at its "
            "organisational domain's _dmarc.example.test",
        ),
    ]


def test_a_malformed_own_record_falls_back_to_the_organisational_domain(
    resolver: dns.resolver.Resolver,
) -> None:
    # RFC 7489 §6.6.3: the malformed record is discarded, then corp.test's applies.
    dmarc = check_dmarc("semi.corp.test", resolver)
    assert pairs(dmarc.items())[:2] == [
        (
            Status.ERROR,
            'DMARC: "v=DMARC1 p=none" at _dmarc.semi.corp.test is malformed (v= must be '
            "exactly DMARC1, then ';'): receivers ignore it",
        ),
        (
            Status.OK,
            "DMARC: no record at _dmarc.semi.corp.test: the organisational domain corp.test's "
            "record applies (RFC 7489 §6.6.3), with its sp=quarantine for subdomains",
        ),
    ]
    assert dmarc.extra["applied_policy"] == "quarantine"


def test_spf_mechanisms_after_all_are_never_evaluated(resolver: dns.resolver.Resolver) -> None:
    # "v=spf1 ip4:192.0.2.1 -all include:spf-over... a mx": smtpsh followed the include and
    # counted 15 lookups, "over the limit of 10 (permerror)". Evaluation stops at -all.
    spf = check_spf("spf-after-all.example.test", resolver)
    assert pairs(spf.items()) == [
        (Status.OK, "SPF: 0 DNS lookups, within the limit of 10"),
        (Status.OK, "SPF: ends in -all: mail from unlisted hosts fails"),
        (
            Status.WARNING,
            "SPF: spf-after-all.example.test: 3 mechanisms after 'all' never evaluated "
            "(§5.1): include:spf-over.example.test a mx",
        ),
    ]
    assert spf.root.children == []
    tree = spf.to_json()["tree"]
    assert tree["lookups"] == 0
    assert tree["never_evaluated"] == ["include:spf-over.example.test", "a", "mx"]


def test_a_bimi_logo_under_an_unenforced_dmarc_policy_will_not_show(
    resolver: dns.resolver.Resolver,
) -> None:
    # spf-over: p=quarantine; pct=50. smtpsh said "[ok] BIMI: logo https://..." only.
    report = build_report("spf-over.example.test", resolver)
    assert report.bimi is not None
    assert pairs(report.bimi.items()) == [
        (Status.OK, "BIMI: logo https://spf-over.example.test/l.svg"),
        (
            Status.WARNING,
            "BIMI: no logo will be shown: DMARC p=quarantine applies to only pct=50% (BIMI "
            "needs DMARC p=quarantine at pct=100, or p=reject)",
        ),
    ]
    enforced = build_report("fallback.example.test", resolver).bimi  # p=reject
    assert enforced is not None
    assert [i.status for i in enforced.items()] == [Status.OK]


@pytest.mark.parametrize(
    ("policy", "pct", "why"),
    [
        ("none", 100, "DMARC policy none"),
        (None, None, "the domain has no usable DMARC policy"),
        ("quarantine", 99, "DMARC p=quarantine applies to only pct=99%"),
        ("reject", 50, None),  # the rest is quarantined: enforced all the same
        ("quarantine", None, None),
    ],
)
def test_bimi_enforcement_rule(policy: str | None, pct: int | None, why: str | None) -> None:
    from smtpsh.dnsinfo.zoneinfo import BIMIResult, bimi_needs_enforcement

    bimi = BIMIResult("default._bimi.x.test", logo="https://x.test/l.svg")
    bimi_needs_enforcement(bimi, policy, pct)
    assert [i.reason for i in bimi.items()] == (
        [] if why is None else [f"BIMI: no logo will be shown: {why} (BIMI needs DMARC "
                                "p=quarantine at pct=100, or p=reject)"]
    )  # fmt: skip
    declined = BIMIResult("default._bimi.x.test")  # no logo: nothing to show anyway
    bimi_needs_enforcement(declined, policy, pct)
    assert declined.items() == []
