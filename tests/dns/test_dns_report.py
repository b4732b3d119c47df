"""The mail-domain checks against the dnsmasq test zone: SPF, DMARC, MTA-STS, TLS-RPT,
DANE, DKIM and PTR, as data (items and JSON)."""

from __future__ import annotations

from typing import Any

import dns.resolver
import pytest
from dns_zone import SHA256_DATA, SHA512_DATA, DnsZone

from smtpsh.dns import build_report, check_ptr, info_text
from smtpsh.dnsinfo.dane import check_dane
from smtpsh.dnsinfo.dkim import check_dkim
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.policy import check_dmarc, check_mta_sts, check_tls_rpt
from smtpsh.dnsinfo.report import DomainResolutionError
from smtpsh.dnsinfo.spf import SPFNode, check_spf

pytestmark = pytest.mark.dns  # needs dnsmasq (tests/dns/conftest.py)


def pairs(items: list[Item]) -> list[tuple[Status, str]]:
    return [(i.status, i.reason) for i in items]


def tree(node: SPFNode) -> Any:
    """The include/redirect tree as nested (via, domain, [children])."""
    return (node.via, node.domain, [tree(c) for c in node.children])


# ------------------------------------------------------------------ SPF


def test_spf_over_the_lookup_limit(resolver: dns.resolver.Resolver) -> None:
    spf = check_spf("spf-over.example.test", resolver)
    assert spf.lookups == 12
    assert pairs(spf.items())[0] == (
        Status.ERROR,
        "SPF: 12 DNS lookups, over the limit of 10 (permerror)",
    )
    assert tree(spf.root) == (
        "",
        "spf-over.example.test",
        [
            ("include", "spf1.example.test", [("include", "spf3.example.test", [])]),
            ("include", "spf2.example.test", [("include", "spf4.example.test", [])]),
        ],
    )
    assert (
        Status.WARNING,
        "SPF: spf2.example.test: 'ptr' is slow and unreliable, do not use it (§5.5)",
    ) in pairs(spf.items())
    data = spf.to_json()
    assert data["lookups"] == 12
    assert data["lookup_limit"] == 10
    assert data["tree"]["lookups"] == 2
    assert [c["domain"] for c in data["tree"]["children"]] == [
        "spf1.example.test",
        "spf2.example.test",
    ]


def test_spf_within_limits(resolver: dns.resolver.Resolver) -> None:
    spf = check_spf("spf-ok.example.test", resolver)
    assert spf.lookups == 3
    assert spf.void_lookups == 0
    assert spf.final_all == "-"
    assert pairs(spf.items()) == [
        (Status.OK, "SPF: 3 DNS lookups, within the limit of 10"),
        (Status.OK, "SPF: ends in -all: mail from unlisted hosts fails"),
    ]
    terms = spf.to_json()["tree"]["terms"]
    assert [(t["name"], t["qualifier"], t["value"], t["cidr"]) for t in terms] == [
        ("ip4", "+", "127.0.0.0", "/8"),
        ("ip6", "+", "::1", None),
        ("include", "+", "spf4.example.test", None),
        ("a", "+", "host1.example.test", None),
        ("all", "-", None, None),
    ]


def test_spf_loop_two_records_and_syntax_errors(resolver: dns.resolver.Resolver) -> None:
    loop = check_spf("spf-loop.example.test", resolver)
    assert (
        Status.ERROR,
        "SPF: include loop: spf-loop.example.test -> loop-b.example.test "
        "-> spf-loop.example.test (permerror)",
    ) in pairs(loop.items())
    assert loop.root.children[0].children[0].note == "loop, not followed"

    two = check_spf("spf-two.example.test", resolver)
    assert (
        Status.ERROR,
        "SPF: spf-two.example.test publishes 2 SPF records (permerror, §4.5)",
    ) in pairs(two.items())

    bad = pairs(check_spf("broken.example.test", resolver).items())
    assert (Status.ERROR, "SPF: ends in +all: every host on the internet passes") in bad
    assert (
        Status.ERROR,
        "SPF: broken.example.test: unknown mechanism 'foo:bar' (permerror)",
    ) in bad
    assert (
        Status.ERROR,
        "SPF: broken.example.test: ip4:300.1.2.3: bad ip4 network '300.1.2.3' (permerror)",
    ) in bad


def test_spf_redirect_and_void_lookups(resolver: dns.resolver.Resolver) -> None:
    redirect = check_spf("spf-redirect.example.test", resolver)
    assert redirect.lookups == 2
    assert redirect.final_all == "-"  # taken from the redirect target
    assert tree(redirect.root) == (
        "",
        "spf-redirect.example.test",
        [("redirect", "spf4.example.test", [])],
    )
    broken = pairs(check_spf("spf-badredirect.example.test", resolver).items())
    assert (
        Status.ERROR,
        "SPF: redirect target nothere.example.test has no SPF record (permerror, §5.2)",
    ) in broken
    void = check_spf("spf-void.example.test", resolver)
    assert void.void_lookups == 3
    assert (Status.ERROR, "SPF: 3 void lookups, over the limit of 2") in pairs(void.items())
    none = check_spf("equal.example.test", resolver)
    assert pairs(none.items()) == [
        (
            Status.WARNING,
            "SPF: no SPF record: receivers cannot tell who may send for equal.example.test",
        )
    ]


# ------------------------------------------------------------------ DMARC, MTA-STS, TLS-RPT


def test_dmarc_reject(resolver: dns.resolver.Resolver) -> None:
    dmarc = check_dmarc("fallback.example.test", resolver)
    assert pairs(dmarc.items()) == [(Status.OK, "DMARC: p=reject: mail failing DMARC is rejected")]
    data = dmarc.to_json()
    assert data["policy"] == "reject"
    assert data["subdomain_policy"] == "quarantine"
    assert data["pct"] == 100
    assert data["adkim"] == "strict"
    assert data["aspf"] == "relaxed"
    assert data["rua"] == ["mailto:dmarc@example.test", "mailto:dmarc2@example.test!10m"]


def test_dmarc_none_quarantine_and_broken(resolver: dns.resolver.Resolver) -> None:
    assert pairs(check_dmarc("spf-ok.example.test", resolver).items()) == [
        (Status.WARNING, "DMARC: p=none: reports only, no enforcement")
    ]
    assert pairs(check_dmarc("spf-over.example.test", resolver).items()) == [
        (Status.OK, "DMARC: p=quarantine: mail failing DMARC is treated as suspicious"),
        (Status.WARNING, "DMARC: pct=50: the policy applies to 50% of failing mail"),
        (Status.WARNING, "DMARC: no rua=: nobody receives aggregate reports"),
    ]
    assert pairs(check_dmarc("broken.example.test", resolver).items()) == [
        (Status.ERROR, "DMARC: p=maybe: must be one of none, quarantine, reject"),
        (Status.ERROR, "DMARC: pct=150: must be a whole number from 0 to 100"),
        (Status.WARNING, "DMARC: no rua=: nobody receives aggregate reports"),
    ]
    assert pairs(check_dmarc("equal.example.test", resolver).items()) == [
        (
            Status.WARNING,
            "DMARC: no DMARC record at _dmarc.equal.example.test, nor at its organisational "
            "domain's _dmarc.example.test",
        )
    ]


def test_dmarc_falls_back_to_the_organisational_domain(resolver: dns.resolver.Resolver) -> None:
    """RFC 7489 §6.6.3: no record at sub.corp.test, so corp.test's applies, with sp=."""
    dmarc = check_dmarc("sub.corp.test", resolver)
    assert pairs(dmarc.items())[0] == (
        Status.OK,
        "DMARC: no record at _dmarc.sub.corp.test: the organisational domain corp.test's "
        "record applies (RFC 7489 §6.6.3), with its sp=quarantine for subdomains",
    )
    data = dmarc.to_json()
    assert data["organisational_domain"] == "corp.test" and data["inherited"] is True
    assert data["applied_policy"] == "quarantine" and data["name"] == "_dmarc.corp.test"
    # The organisational domain itself gets its own p=, as before.
    assert pairs(check_dmarc("corp.test", resolver).items())[0] == (
        Status.OK, "DMARC: p=reject: mail failing DMARC is rejected"
    )  # fmt: skip


def test_mta_sts_and_tls_rpt(resolver: dns.resolver.Resolver) -> None:
    sts = check_mta_sts("fallback.example.test", resolver)
    assert sts.extra["id"] == "20240501T120000"
    assert pairs(sts.items()) == [
        (
            Status.OK,
            "MTA-STS: id=20240501T120000, policy at "
            "https://mta-sts.fallback.example.test/.well-known/mta-sts.txt",
        )
    ]
    assert pairs(check_mta_sts("broken.example.test", resolver).items()) == [
        (Status.ERROR, "MTA-STS: id=not-valid!: must be 1-32 letters or digits")
    ]
    assert check_mta_sts("equal.example.test", resolver).items()[0].status is Status.WARNING
    rpt = check_tls_rpt("fallback.example.test", resolver)
    assert pairs(rpt.items()) == [(Status.OK, "TLS-RPT: reports go to mailto:tlsrpt@example.test")]
    assert rpt.to_json()["rua"] == ["mailto:tlsrpt@example.test"]
    assert pairs(check_tls_rpt("broken.example.test", resolver).items()) == [
        (
            Status.ERROR,
            "TLS-RPT: rua=ftp://reports.example.test: "
            "'ftp://reports.example.test' is not a mailto or https URI",
        )
    ]


def test_policy_lookup_failure_is_an_error_item(dnsmasq: DnsZone) -> None:
    dmarc = check_dmarc("servfail.example.test", dnsmasq.resolver(timeout=5.0))
    assert pairs(dmarc.items()) == [
        (
            Status.ERROR,
            "DMARC: lookup of _dmarc.servfail.example.test failed: "
            "SERVFAIL (the DNS server failed to answer)",
        )
    ]


# ------------------------------------------------------------------ DANE


def test_tlsa_records_decoded(dnsmasq: DnsZone, resolver: dns.resolver.Resolver) -> None:
    dane = check_dane(["dead.example.test", dnsmasq.postfix_host], resolver)
    records = [(h.host, [r.to_json() for r in h.records]) for h in dane.hosts]
    assert records == [
        (
            "dead.example.test",
            [
                {
                    "usage": 3,
                    "usage_name": "DANE-EE",
                    "selector": 1,
                    "selector_name": "SPKI",
                    "matching_type": 1,
                    "matching_type_name": "SHA2-256",
                    "data": SHA256_DATA,
                }
            ],
        ),
        (
            dnsmasq.postfix_host,
            [
                {
                    "usage": 2,
                    "usage_name": "DANE-TA",
                    "selector": 0,
                    "selector_name": "Cert",
                    "matching_type": 2,
                    "matching_type_name": "SHA2-512",
                    "data": SHA512_DATA,
                }
            ],
        ),
    ]
    assert pairs(dane.items()) == [
        (Status.OK, "DANE: dead.example.test: 1 TLSA record: 3 1 1 (DANE-EE, SPKI, SHA2-256)"),
        (
            Status.OK,
            f"DANE: {dnsmasq.postfix_host}: 1 TLSA record: 2 0 2 (DANE-TA, Cert, SHA2-512)",
        ),
        # dnsmasq does not validate DNSSEC, so the answers carry no AD bit.
        (
            Status.WARNING,
            "DANE: TLSA answers lack the AD bit (not DNSSEC-validated); "
            "senders ignore unsigned TLSA",
        ),
    ]


def test_tlsa_pkix_usage_and_missing(resolver: dns.resolver.Resolver) -> None:
    dane = pairs(check_dane(["nowhere.example.test", "alias.example.test"], resolver).items())
    assert dane[:3] == [
        (Status.WARNING, "DANE: nowhere.example.test has no TLSA record: no DANE for this MX"),
        (
            Status.WARNING,
            "DANE: alias.example.test: 1 TLSA record: 1 1 2 (PKIX-EE, SPKI, SHA2-512)",
        ),
        (
            Status.WARNING,
            "DANE: alias.example.test: PKIX-EE is not used by SMTP senders (RFC 7672 §3.1.3)",
        ),
    ]
    assert pairs(check_dane(["host1.example.test"], resolver).items()) == [
        (Status.WARNING, "DANE: no TLSA records for any MX (DANE not used)")
    ]


# ------------------------------------------------------------------ DKIM


@pytest.mark.parametrize(
    ("selector", "key_type", "bits", "expected"),
    [
        ("s2048", "RSA", 2048, [(Status.OK, "DKIM: s2048: RSA 2048-bit key")]),
        (
            "s1024",
            "RSA",
            1024,
            [
                (Status.WARNING, "DKIM: s1024: t=y: testing mode, verifiers may ignore failures"),
                (
                    Status.WARNING,
                    "DKIM: s1024: RSA 1024-bit key, under 2048 bits: "
                    "RFC 8301 §3.2 says sign with at least 2048",
                ),
            ],
        ),
        (
            "short",
            "RSA",
            768,
            [
                (
                    Status.ERROR,
                    "DKIM: short: RSA 768-bit key, under 1024 bits: "
                    "verifiers must not accept it (RFC 8301 §3.2)",
                )
            ],
        ),
        ("ed", "Ed25519", 256, [(Status.OK, "DKIM: ed: Ed25519 key (RFC 8463)")]),
        (
            "revoked",
            "RSA",
            None,
            [(Status.WARNING, "DKIM: revoked: empty p=: the key has been revoked")],
        ),
        (
            "sha1",
            "RSA",
            2048,
            [
                (
                    Status.ERROR,
                    "DKIM: sha1: h= excludes sha256; sha1 signatures are rejected (RFC 8301)",
                ),
                (Status.OK, "DKIM: sha1: RSA 2048-bit key"),
            ],
        ),
        (
            "missing",
            None,
            None,
            [
                (
                    Status.ERROR,
                    "DKIM: missing: no key at missing._domainkey.fallback.example.test",
                )
            ],
        ),
    ],
)
def test_dkim_keys(
    resolver: dns.resolver.Resolver,
    selector: str,
    key_type: str | None,
    bits: int | None,
    expected: list[tuple[Status, str]],
) -> None:
    dkim = check_dkim("fallback.example.test", selector, resolver)
    assert dkim.key_type == key_type
    assert dkim.key_bits == bits
    assert pairs(dkim.items()) == expected


def test_dkim_long_key_is_joined_from_several_strings(
    dnsmasq: DnsZone, resolver: dns.resolver.Resolver
) -> None:
    dkim = check_dkim("fallback.example.test", "s2048", resolver)
    assert dkim.tags.get("p") == dnsmasq.keys.rsa2048
    assert len(dnsmasq.keys.rsa2048) > 255  # so the record really spans two strings


# ------------------------------------------------------------------ PTR


def test_ptr_forward_confirmed(dnsmasq: DnsZone, resolver: dns.resolver.Resolver) -> None:
    ptr = check_ptr("127.0.0.1", resolver, banner_host=dnsmasq.postfix_host.upper())
    assert ptr.names == [dnsmasq.postfix_host]
    assert ptr.confirmed == [dnsmasq.postfix_host]
    assert ptr.banner_match is True
    assert [i.status for i in ptr.items()] == [Status.OK, Status.OK]
    v6 = check_ptr("::1", resolver)
    assert v6.confirmed == [dnsmasq.postfix_host]
    assert v6.forward == {dnsmasq.postfix_host: ["::1"]}


def test_ptr_not_forward_confirmed_and_banner_mismatch(resolver: dns.resolver.Resolver) -> None:
    ptr = check_ptr("127.0.0.3", resolver, banner_host="mail.example.test")
    assert ptr.names == ["liar.example.test"]
    assert ptr.forward == {"liar.example.test": ["127.0.0.4"]}
    assert ptr.confirmed == []
    assert pairs(ptr.items()) == [
        (
            Status.WARNING,
            "PTR: 127.0.0.3 -> liar.example.test -> 127.0.0.4: not forward-confirmed",
        ),
        (
            Status.WARNING,
            "PTR: banner host name mail.example.test differs from the PTR (liar.example.test)",
        ),
    ]
    assert ptr.to_json()["fcrdns"] is False


def test_ptr_missing_and_info_text(resolver: dns.resolver.Resolver) -> None:
    ptr = check_ptr("127.0.0.9", resolver)
    assert ptr.names == []
    assert pairs(ptr.items()) == [
        (Status.WARNING, "PTR: 127.0.0.9 has no PTR record (receivers often distrust that)")
    ]
    text = info_text("127.0.0.3", resolver, banner="220 ESMTP ready")
    assert text.splitlines()[0] == "Reverse DNS for 127.0.0.3"
    assert "  PTR liar.example.test -> 127.0.0.4" in text
    assert "[warn]  PTR: the banner does not start with a host name (RFC 5321 §4.2)" in text
    assert info_text("not-an-ip", resolver) == "info: 'not-an-ip' is not an IP address"


# ------------------------------------------------------------------ the whole report


def test_report_for_a_well_set_up_domain(dnsmasq: DnsZone, resolver: dns.resolver.Resolver) -> None:
    report = build_report("fallback.example.test", resolver, dkim_selectors=["s2048"])
    assert report.exit_code == 0
    assert report.status is Status.WARNING  # only the missing DNSSEC validation
    assert [i.reason for i in report.items if i.status is not Status.OK] == [
        "DANE: TLSA answers lack the AD bit (not DNSSEC-validated); senders ignore unsigned TLSA",
        # dnsmasq does not validate: nothing says the MX answer itself was not forged.
        "DANE: mail for fallback.example.test is not shown to be DANE-protected: its MX answer "
        "carried no AD bit (the DNS server asked did not vouch for it; ask a validating "
        "resolver or give --trust-anchor); a forged MX answer can name a host that the TLSA "
        "records of dead.example.test, mx.smtpsh.test do not cover (RFC 7672 §2.2.1)",
    ]
    data = report.to_json()
    assert data["dns_server"] == dnsmasq.server
    assert data["summary"] == {"ok": 11, "warning": 2, "error": 0}  # + BIMI and zone
    assert data["mx"]["candidates"][0] == {"host": "dead.example.test", "address": "127.0.0.2"}
    assert data["dkim"][0]["key_bits"] == 2048


def test_report_for_a_null_mx_domain_skips_transport_checks(
    resolver: dns.resolver.Resolver,
) -> None:
    report = build_report("nullmx.example.test", resolver)
    assert report.mta_sts is None and report.tls_rpt is None and report.dane is None
    assert report.exit_code == 0
    assert report.to_json()["dane"] is None


def test_report_raises_for_an_unresolvable_domain(dnsmasq: DnsZone) -> None:
    with pytest.raises(DomainResolutionError) as info:
        build_report("nothere.example.test", dnsmasq.resolver())
    assert str(info.value) == "nothere.example.test: NXDOMAIN (the name does not exist)"
    assert info.value.to_json()["error"]["kind"] == "nxdomain"
