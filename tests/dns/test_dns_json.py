"""smtpsh dns --json: the envelope every command's --json shares, errors included."""

from __future__ import annotations

import pytest
from dns_zone import DnsZone

from smtpsh import exitcodes
from tests.helpers.jsondoc import document, smtpsh


@pytest.mark.dns
def test_dns_json(dnsmasq: DnsZone) -> None:
    server = ["--dns-server", dnsmasq.server, "--json"]
    ok = document(smtpsh("dns", "fallback.example.test", *server), "dns", exitcodes.OK)
    assert ok["result"]["domain"] == ok["target"] == "fallback.example.test"
    found = document(smtpsh("dns", "spf-over.example.test", *server), "dns", exitcodes.FOUND)
    assert found["result"]["spf"]["lookups"] == 12
    gone = document(smtpsh("dns", "nothere.example.test", *server), "dns", exitcodes.FAILED)
    assert gone["error"]["kind"] == "nxdomain" and gone["result"] is None
    bad = document(smtpsh("dns", "exa mple.test", *server), "dns", exitcodes.USAGE)
    assert bad["error"] == {"kind": "user", "message": "'exa mple.test' is not a domain name"}


