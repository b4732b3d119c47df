"""The pure parts of the DNS checks: no DNS server needed."""

from __future__ import annotations

import base64
import random
import re
import warnings

import dns.resolver
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, rsa

from smtpsh.dnsinfo.dkim import rsa_key_bits
from smtpsh.dnsinfo.lookup import DNSInputError, make_resolver, parse_domain, parse_server
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.mx import order_by_preference
from smtpsh.dnsinfo.policy import (
    TXTPolicy,
    apply_fetched_policy,
    mx_pattern_matches,
    parse_mta_sts_policy,
    policy_items,
)
from smtpsh.dnsinfo.ptr import banner_hostname
from smtpsh.dnsinfo.report import Style
from smtpsh.dnsinfo.spf import is_spf_record, parse_spf
from smtpsh.dnsinfo.tags import parse_tag_list

# ------------------------------------------------------------------ resolver options


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1", ("127.0.0.1", 53)),
        ("127.0.0.1:5353", ("127.0.0.1", 5353)),
        ("::1", ("::1", 53)),
        ("[::1]:5353", ("::1", 5353)),
        ("[::1]", ("::1", 53)),
    ],
)
def test_parse_server(text: str, expected: tuple[str, int]) -> None:
    assert parse_server(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("localhost", "not an IP address"),
        ("127.0.0.1:0", "port must be 1-65535"),
        ("127.0.0.1:70000", "port must be 1-65535"),
        ("127.0.0.1:x", "port must be 1-65535"),
        ("[::1", "expected [IPv6]:PORT"),
        ("[::1]x", "expected [IPv6]:PORT"),
    ],
)
def test_parse_server_rejects(text: str, message: str) -> None:
    with pytest.raises(DNSInputError, match=re.escape(message)) as info:
        parse_server(text)
    assert "\n" not in str(info.value)


def test_make_resolver_uses_server_port_and_timeout() -> None:
    resolver = make_resolver("127.0.0.1:5353", 1.5)
    assert [str(ns) for ns in resolver.nameservers] == ["127.0.0.1"]
    assert resolver.port == 5353
    assert resolver.lifetime == 1.5
    with pytest.raises(DNSInputError, match="more than 0"):
        make_resolver("127.0.0.1", 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Example.TEST.", "example.test"),
        ("  mail.example.test ", "mail.example.test"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_parse_domain(text: str, expected: str) -> None:
    assert parse_domain(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("exa mple.test", "not a domain name"),
        ("user@example.test", "not a domain name"),
        ("a..b", "not a valid domain name"),
        ("127.0.0.1", "is an IP address"),
        ("x" * 64 + ".test", "not a valid domain name"),
    ],
)
def test_parse_domain_rejects(text: str, message: str) -> None:
    with pytest.raises(DNSInputError, match=message):
        parse_domain(text)


# ------------------------------------------------------------------ MX ordering


def test_order_by_preference_sorts_and_shuffles_equal_preferences() -> None:
    records = [(20, "c"), (10, "a"), (10, "b"), (5, "z")]
    seen = set()
    for seed in range(64):
        ordered = order_by_preference(records, random.Random(seed))
        assert [p for p, _ in ordered] == [5, 10, 10, 20]
        seen.add(tuple(h for _, h in ordered))
    # Both orders of the two preference-10 hosts occur (RFC 5321 §5.1).
    assert seen == {("z", "a", "b", "c"), ("z", "b", "a", "c")}


# ------------------------------------------------------------------ SPF syntax


def test_is_spf_record() -> None:
    assert is_spf_record("v=spf1 -all")
    assert is_spf_record("V=SPF1 mx")
    assert is_spf_record("v=spf1")
    assert not is_spf_record("v=spf10 -all")
    assert not is_spf_record("spf1 -all")


def test_parse_spf_terms() -> None:
    terms = parse_spf(
        "v=spf1 ip4:192.0.2.0/24 -ip6:2001:db8::/32 ~a a:mail.example.test/24//64 mx/28 "
        "?include:_spf.example.test exists:%{i}.bl.example.test ptr redirect=other.example.test "
        "exp=explain.example.test custom-mod=x -all"
    )
    got = [(t.name, t.modifier, t.qualifier, t.value, t.cidr, t.lookup, t.error) for t in terms]
    assert got == [
        ("ip4", False, "+", "192.0.2.0", "/24", False, None),
        ("ip6", False, "-", "2001:db8::", "/32", False, None),
        ("a", False, "~", "", "", True, None),
        ("a", False, "+", "mail.example.test", "/24//64", True, None),
        ("mx", False, "+", "", "/28", True, None),
        ("include", False, "?", "_spf.example.test", "", True, None),
        ("exists", False, "+", "%{i}.bl.example.test", "", True, None),
        ("ptr", False, "+", "", "", True, None),
        ("redirect", True, "", "other.example.test", "", True, None),
        ("exp", True, "", "explain.example.test", "", False, None),
        ("custom-mod", True, "", "x", "", False, None),
        ("all", False, "-", "", "", False, None),
    ]
    assert sum(t.lookup for t in terms) == 7


@pytest.mark.parametrize(
    ("record", "error"),
    [
        ("v=spf1 ip4:300.1.1.1", "bad ip4 network"),
        ("v=spf1 ip4:192.0.2.0/33", "bad ip4 network"),
        ("v=spf1 ip6:192.0.2.1", "bad ip6 network"),
        ("v=spf1 include", "needs ':domain'"),
        ("v=spf1 include:", "empty domain"),
        ("v=spf1 a/40", "bad CIDR length"),
        ("v=spf1 a:example.test//129", "bad CIDR length"),
        ("v=spf1 all:x", "unexpected argument"),
        ("v=spf1 foo:bar", "unknown mechanism"),
        ("v=spf1 exists:%{x}.example.test", "bad macro"),
        ("v=spf1 redirect=a.example.test redirect=b.example.test", "appears more than once"),
    ],
)
def test_parse_spf_errors(record: str, error: str) -> None:
    errors = [t.error for t in parse_spf(record) if t.error]
    assert len(errors) == 1
    assert error in errors[0]


# ------------------------------------------------------------------ tag lists


def test_parse_tag_list() -> None:
    tags = parse_tag_list(" v=DMARC1 ; p = reject; rua=mailto:a@example.test; ;")
    assert tags.tags == {"v": "DMARC1", "p": "reject", "rua": "mailto:a@example.test"}
    assert tags.order == ["v", "p", "rua"]
    assert tags.problems == []
    bad = parse_tag_list("v=DMARC1; p=none; p=reject; junk")
    assert bad.tags["p"] == "none"
    assert bad.problems == [
        "tag p= appears more than once",
        "malformed tag 'junk' (expected tag=value)",
    ]


# ------------------------------------------------------------------ MTA-STS policy file


@pytest.mark.parametrize(
    ("pattern", "host", "matches"),
    [
        ("mx1.example.test", "MX1.example.test.", True),
        ("*.example.test", "mx1.example.test", True),
        ("*.example.test", "a.b.example.test", False),
        ("*.example.test", "example.test", False),
        ("mx1.example.test", "mx2.example.test", False),
    ],
)
def test_mx_pattern_matches(pattern: str, host: str, matches: bool) -> None:
    assert mx_pattern_matches(pattern, host) is matches


POLICY = (
    "version: STSv1\r\nmode: enforce\r\nmx: mx1.example.test\r\n"
    "mx: *.backup.example.test\r\nmax_age: 604800\r\n"
)


def test_mta_sts_policy_covering_every_mx() -> None:
    policy = parse_mta_sts_policy(POLICY)
    assert policy.mx_patterns == ["mx1.example.test", "*.backup.example.test"]
    items = policy_items(policy, ["mx1.example.test", "b1.backup.example.test"])
    assert [(i.status, i.text) for i in items] == [
        (Status.OK, "mode enforce: senders refuse MX hosts without valid TLS")
    ]


def test_mta_sts_policy_problems() -> None:
    text = POLICY.replace("enforce", "testing").replace("604800", "3600")
    items = policy_items(parse_mta_sts_policy(text), ["mx9.example.test"])
    assert [(i.status, i.text) for i in items] == [
        (Status.WARNING, "mode testing: failures are reported, not enforced"),
        (Status.WARNING, "policy: max_age=3600 is under a day"),
        (Status.ERROR, "MX mx9.example.test is not covered by the policy"),
    ]
    broken = policy_items(parse_mta_sts_policy("version: STSv2\nmode: strict\nnonsense"), [])
    assert {i.text for i in broken} >= {
        "malformed line 'nonsense'",
        "policy: version is not STSv1",
        "policy: bad mode 'strict'",
        "policy: bad max_age ''",
        "policy lists no mx: patterns",
    }
    assert all(i.status is Status.ERROR for i in broken)


def test_apply_fetched_policy_reports_fetch_failure_and_success() -> None:
    def failing(domain: str) -> str:
        raise OSError(f"cannot fetch https://mta-sts.{domain}/: refused")

    result = TXTPolicy("MTA-STS", "_mta-sts.example.test")
    apply_fetched_policy(result, "example.test", ["mx1.example.test"], failing)
    assert [i.reason for i in result.items()] == [
        "MTA-STS: policy fetch failed: cannot fetch https://mta-sts.example.test/: refused"
    ]
    assert all(i.status is Status.ERROR for i in result.items())

    fetched: list[str] = []

    def serving(domain: str) -> str:
        fetched.append(domain)
        return POLICY

    ok = TXTPolicy("MTA-STS", "_mta-sts.example.test")
    apply_fetched_policy(ok, "example.test", ["mx1.example.test"], serving)
    assert fetched == ["example.test"]
    assert ok.extra["policy"]["mode"] == "enforce"
    assert [i.status for i in ok.items()] == [Status.OK]


# ------------------------------------------------------------------ banners, keys, style


@pytest.mark.parametrize(
    ("banner", "host"),
    [
        ("220 mx.example.test ESMTP Postfix", "mx.example.test"),
        ("220-MX.Example.Test welcome\r\n220 more", "mx.example.test"),
        ("mx.smtpsh.test ESMTP InFreight v2.11", "mx.smtpsh.test"),
        ("220 [127.0.0.1] ready", "[127.0.0.1]"),
        ("220 ESMTP ready", None),
        ("220", None),
        ("", None),
    ],
)
def test_banner_hostname(banner: str, host: str | None) -> None:
    assert banner_hostname(banner) == host


@pytest.mark.parametrize("bits", [1024, 2048, 3072])
def test_rsa_key_bits_reads_spki_and_pkcs1(bits: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    for fmt in (serialization.PublicFormat.SubjectPublicKeyInfo, serialization.PublicFormat.PKCS1):
        assert rsa_key_bits(key.public_bytes(serialization.Encoding.DER, fmt)) == bits


def test_rsa_key_bits_rejects_garbage() -> None:
    assert rsa_key_bits(b"") is None
    assert rsa_key_bits(b"\x30\x82\xff\xff\x02") is None
    assert rsa_key_bits(base64.b64decode("MCowBQYDK2VwAyEA" + "A" * 43 + "=")) is None  # Ed25519


def test_rsa_key_bits_small_and_odd_keys_quietly() -> None:
    # A 512-bit key must still be measured (it is the ERROR case), and a DSA key, about
    # which cryptography warns, gives None without a warning reaching the terminal.
    modulus = ((1 << 511) | 0xF1).to_bytes(65, "big")
    body = b"\x02\x41" + modulus + b"\x02\x03\x01\x00\x01"
    assert rsa_key_bits(b"\x30" + bytes([len(body)]) + body) == 512
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # making one is deprecated too
        spki = dsa.generate_private_key(key_size=1024).public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert rsa_key_bits(spki) is None


def test_style_colours_marks_only_when_asked() -> None:
    item = Item("SPF", Status.ERROR, "12 DNS lookups, over the limit of 10")
    assert Style(color=False).item(item) == "  [error] SPF: 12 DNS lookups, over the limit of 10"
    coloured = Style(color=True).item(item)
    assert "\x1b[31m[error]" in coloured
    assert coloured.endswith("SPF: 12 DNS lookups, over the limit of 10")


def test_make_resolver_without_system_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    class Unconfigured(dns.resolver.Resolver):
        def __init__(self, filename: str = "/etc/resolv.conf", configure: bool = True) -> None:
            if configure:
                raise dns.resolver.NoResolverConfiguration  # as with an empty resolv.conf
            super().__init__(filename, configure)

    monkeypatch.setattr(dns.resolver, "Resolver", Unconfigured)
    with pytest.raises(DNSInputError) as info:
        make_resolver()
    assert str(info.value) == (
        "no system DNS resolver configured (/etc/resolv.conf); use --dns-server IP[:PORT]"
    )
    assert make_resolver("127.0.0.1").port == 53  # an explicit server still works
