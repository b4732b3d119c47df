"""MX resolution against the dnsmasq test zone, and the fallback to the loopback Postfix."""

from __future__ import annotations

import random
import socket
from typing import Protocol

import dns.resolver
import pytest
from dns_zone import DnsZone

from smtpsh.dns import format_mx, info_text, mx_candidates, mx_report_text, resolve_mx
from smtpsh.dnsinfo.lookup import Failure
from smtpsh.dnsinfo.model import Status
from smtpsh.dnsinfo.mx import MXKind

pytestmark = pytest.mark.dns  # needs dnsmasq (tests/dns/conftest.py)


class PostfixLike(Protocol):
    host: str
    banner: str

    def port(self, profile: str = "smtp") -> int: ...


def test_two_mx_sorted_by_preference_with_addresses(
    dnsmasq: DnsZone, resolver: dns.resolver.Resolver
) -> None:
    mx = resolve_mx("fallback.example.test", resolver)
    assert mx.kind is MXKind.MX
    assert mx.accepts_mail
    rows = [(e.preference, e.host, e.ipv4, e.ipv6, e.problems) for e in mx.exchangers]
    assert rows == [
        (10, "dead.example.test", ("127.0.0.2",), (), ()),
        (20, dnsmasq.postfix_host, ("127.0.0.1",), ("::1",), ()),
    ]
    assert mx_candidates(mx) == [
        ("dead.example.test", "127.0.0.2"),
        (dnsmasq.postfix_host, "127.0.0.1"),
        (dnsmasq.postfix_host, "::1"),
    ]
    assert mx_candidates(mx, families=(6, 4)) == [
        ("dead.example.test", "127.0.0.2"),
        (dnsmasq.postfix_host, "::1"),
        (dnsmasq.postfix_host, "127.0.0.1"),
    ]
    assert mx_candidates(mx, families=(6,)) == [(dnsmasq.postfix_host, "::1")]
    assert [(i.status, i.reason) for i in mx.items()] == [
        (Status.OK, "MX: 2 MX records for fallback.example.test, 2 of 2 resolve to an address")
    ]


def test_equal_preferences_come_in_random_order(resolver: dns.resolver.Resolver) -> None:
    orders = set()
    for seed in range(40):
        mx = resolve_mx("equal.example.test", resolver, random.Random(seed))
        orders.add(tuple(e.host for e in mx.exchangers))
    assert orders == {
        ("eq-c.example.test", "eq-a.example.test", "eq-b.example.test"),
        ("eq-c.example.test", "eq-b.example.test", "eq-a.example.test"),
    }


def test_no_mx_means_implicit_mx(resolver: dns.resolver.Resolver) -> None:
    mx = resolve_mx("implicit.example.test", resolver)
    assert mx.kind is MXKind.IMPLICIT
    assert [(e.host, e.ipv4, e.implicit) for e in mx.exchangers] == [
        ("implicit.example.test", ("127.0.0.5",), True)
    ]
    assert mx_candidates(mx) == [("implicit.example.test", "127.0.0.5")]
    assert mx.items()[0].status is Status.WARNING
    assert "implicit MX" in mx.summary


def test_null_mx_accepts_no_mail(resolver: dns.resolver.Resolver) -> None:
    mx = resolve_mx("nullmx.example.test", resolver)
    assert mx.kind is MXKind.NULL
    assert not mx.accepts_mail
    assert mx_candidates(mx) == []
    assert mx.summary == "null MX (RFC 7505): nullmx.example.test accepts no mail"


def test_no_mx_and_no_address(resolver: dns.resolver.Resolver) -> None:
    mx = resolve_mx("noaddr.example.test", resolver)
    assert mx.kind is MXKind.NONE
    assert mx_candidates(mx) == []
    assert [(i.status, i.text) for i in mx.items()] == [
        (Status.ERROR, "no MX and no address for noaddr.example.test: mail cannot be delivered")
    ]


@pytest.mark.parametrize(
    ("domain", "failure", "text"),
    [
        ("nothere.example.test", Failure.NXDOMAIN, "NXDOMAIN"),
        ("servfail.example.test", Failure.SERVFAIL, "SERVFAIL"),
        ("timeout.example.test", Failure.TIMEOUT, "timeout"),
    ],
)
def test_resolution_failures_are_reported(
    dnsmasq: DnsZone, domain: str, failure: Failure, text: str
) -> None:
    # A short wait only where waiting is the point: an answer (NXDOMAIN, SERVFAIL) that
    # took over 0.5 s on a loaded machine would read as a timeout.
    wait = 0.5 if failure is Failure.TIMEOUT else 5.0
    mx = resolve_mx(domain, dnsmasq.resolver(timeout=wait))
    assert mx.kind is MXKind.FAILED
    assert mx.failure is failure
    assert mx_candidates(mx) == []
    assert mx.summary.startswith(f"MX lookup for {domain} failed: {text}")


def test_broken_exchangers_are_flagged(resolver: dns.resolver.Resolver) -> None:
    mx = resolve_mx("broken.example.test", resolver)
    by_host = {e.host: e for e in mx.exchangers}
    assert by_host["nowhere.example.test"].problems == ("does not exist (NXDOMAIN)",)
    assert by_host["alias.example.test"].ipv4 == ("127.0.0.7",)
    assert by_host["alias.example.test"].warnings == (
        "is an alias (CNAME to host1.example.test), RFC 2181 §10.3",
    )
    # Only the usable exchanger is a candidate.
    assert mx_candidates(mx) == [("alias.example.test", "127.0.0.7")]
    statuses = {(i.status, i.text) for i in mx.items()}
    assert (Status.ERROR, "nowhere.example.test does not exist (NXDOMAIN)") in statuses


def test_format_mx_shows_table_and_try_order(
    dnsmasq: DnsZone, resolver: dns.resolver.Resolver
) -> None:
    text = format_mx(resolve_mx("fallback.example.test", resolver))
    lines = text.splitlines()
    assert lines[0] == "MX for fallback.example.test"
    assert lines[2].split() == ["10", "dead.example.test", "127.0.0.2"]
    assert lines[3].split() == ["20", dnsmasq.postfix_host, "127.0.0.1", "::1"]
    assert lines[4] == (
        f"  try order: dead.example.test [127.0.0.2], {dnsmasq.postfix_host} [127.0.0.1], "
        f"{dnsmasq.postfix_host} [::1]"
    )
    assert "\x1b[" not in text
    assert "\x1b[32m[ok]" in format_mx(resolve_mx("fallback.example.test", resolver), color=True)


def test_mx_report_text_never_raises(resolver: dns.resolver.Resolver) -> None:
    assert (
        mx_report_text("nullmx.example.test", resolver)
        .splitlines()[-1]
        .endswith("null MX (RFC 7505): nullmx.example.test accepts no mail")
    )
    assert "NXDOMAIN" in mx_report_text("nothere.example.test", resolver)
    assert mx_report_text("not a domain", resolver) == "mx: 'not a domain' is not a domain name"


@pytest.mark.postfix
def test_fallback_reaches_postfix(
    dnsmasq: DnsZone, resolver: dns.resolver.Resolver, postfix: PostfixLike
) -> None:
    """Try the candidates in order as `smtpsh --mx` does: the first MX (127.0.0.2) has
    nothing on port 25, the second is the loopback Postfix."""
    port = postfix.port("smtp")
    tried: list[tuple[str, str, str]] = []
    banner = ""
    for host, address in mx_candidates(resolve_mx("fallback.example.test", resolver)):
        try:
            with socket.create_connection((address, port), timeout=3) as sock:
                banner = sock.recv(512).decode("ascii", "replace")
                sock.sendall(b"QUIT\r\n")
        except OSError as exc:
            tried.append((host, address, type(exc).__name__))
            continue
        tried.append((host, address, "connected"))
        break
    assert tried == [
        ("dead.example.test", "127.0.0.2", "ConnectionRefusedError"),
        (dnsmasq.postfix_host, "127.0.0.1", "connected"),
    ]
    assert banner.startswith("220 ")
    assert "InFreight" in banner
    # /info for the server reached: PTR, FCrDNS and the banner's host name all agree.
    info = info_text("127.0.0.1", resolver, banner=banner)
    assert (
        f"[ok]    PTR: 127.0.0.1 -> {dnsmasq.postfix_host} -> 127.0.0.1: forward-confirmed" in info
    )
    assert f"[ok]    PTR: banner host name {dnsmasq.postfix_host} matches the PTR" in info
