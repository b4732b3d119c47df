"""DKIM public key records at ``<selector>._domainkey.<domain>`` (RFC 6376 §3.6.1)."""

from __future__ import annotations

import base64
import binascii
import re
import warnings
from dataclasses import dataclass, field
from typing import Any

import dns.resolver

from smtpsh.dnsinfo.lookup import Failure, query
from smtpsh.dnsinfo.model import Item, Status
from smtpsh.dnsinfo.tags import TagList, parse_tag_list

_SELECTOR = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$")

# RSA key sizes: (below this many bits, status, reason). RFC 8301 §3.2.
RSA_KEY_SIZES: list[tuple[int, Status, str]] = [
    (1024, Status.ERROR, "under 1024 bits: verifiers must not accept it (RFC 8301 §3.2)"),
    (2048, Status.WARNING, "under 2048 bits: RFC 8301 §3.2 says sign with at least 2048"),
]
KEY_TYPES = {"rsa": "RSA", "ed25519": "Ed25519"}  # RFC 6376 §3.6.1, RFC 8463
ED25519_KEY_BYTES = 32


def rsa_key_bits(der: bytes) -> int | None:
    """Modulus size of an RSA key given as SubjectPublicKeyInfo or as a bare
    RSAPublicKey (RFC 6376 says the latter, everyone publishes the former); None for
    anything else. The bytes come from DNS: cryptography reads them."""
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. "DSA is deprecated": not for the user's terminal
        try:
            key = load_der_public_key(der)
        except (ValueError, TypeError, UnsupportedAlgorithm):  # not DER, not a key, unknown
            return None
    return key.key_size if isinstance(key, rsa.RSAPublicKey) else None


@dataclass
class DKIMResult:
    selector: str
    name: str
    records: list[str] = field(default_factory=list)
    tags: TagList = field(default_factory=TagList)
    key_type: str | None = None
    key_bits: int | None = None
    item_list: list[Item] = field(default_factory=list)

    def items(self) -> list[Item]:
        return self.item_list

    def add(self, status: Status, text: str) -> None:
        self.item_list.append(Item("DKIM", status, f"{self.selector}: {text}"))

    def to_json(self) -> dict[str, Any]:
        return {
            "selector": self.selector,
            "name": self.name,
            "record": self.records[0] if self.records else None,
            "tags": dict(self.tags.tags),
            "key_type": self.key_type,
            "key_bits": self.key_bits,
            "items": [i.to_json() for i in self.item_list],
        }


def check_dkim(domain: str, selector: str, resolver: dns.resolver.Resolver) -> DKIMResult:
    result = DKIMResult(selector, f"{selector}._domainkey.{domain}")
    if not _SELECTOR.match(selector):
        result.add(Status.ERROR, f"{selector!r} is not a valid selector")
        return result
    answer = query(resolver, result.name, "TXT")
    if answer.failure and answer.failure is not Failure.NXDOMAIN:
        result.add(Status.ERROR, f"lookup of {result.name} failed: {answer.failure_text}")
        return result
    result.records = answer.texts()
    if not result.records:
        result.add(Status.ERROR, f"no key at {result.name}")
        return result
    if len(result.records) > 1:
        result.add(
            Status.ERROR, f"{len(result.records)} TXT records at {result.name}; one expected"
        )
    result.tags = tags = parse_tag_list(result.records[0])
    for problem in tags.problems:
        result.add(Status.ERROR, problem)
    if "v" in tags.tags and (tags.order[0] != "v" or tags.tags["v"] != "DKIM1"):
        result.add(Status.ERROR, "v= must be first and DKIM1")
    key_type = (tags.get("k") or "rsa").lower()
    if key_type not in KEY_TYPES:
        result.add(Status.ERROR, f"unknown key type k={key_type}")
        return result
    result.key_type = KEY_TYPES[key_type]
    hashes = [h.strip().lower() for h in (tags.get("h") or "sha256").split(":")]
    if "sha256" not in hashes:
        result.add(Status.ERROR, "h= excludes sha256; sha1 signatures are rejected (RFC 8301)")
    if "y" in [f.strip().lower() for f in (tags.get("t") or "").split(":")]:
        result.add(Status.WARNING, "t=y: testing mode, verifiers may ignore failures")
    _judge_key(result, key_type, tags.get("p"))
    return result


def _judge_key(result: DKIMResult, key_type: str, p: str | None) -> None:
    if p is None:
        result.add(Status.ERROR, "no p= tag (the public key)")
        return
    data = "".join(p.split())
    if not data:
        result.add(Status.WARNING, "empty p=: the key has been revoked")
        return
    try:
        key = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        result.add(Status.ERROR, "p= is not valid base64")
        return
    if key_type == "ed25519":
        if len(key) != ED25519_KEY_BYTES:
            result.add(Status.ERROR, f"Ed25519 key is {len(key)} bytes, expected 32 (RFC 8463)")
            return
        result.key_bits = 256
        result.add(Status.OK, "Ed25519 key (RFC 8463)")
        return
    bits = rsa_key_bits(key)
    if bits is None:
        result.add(Status.ERROR, "p= is not an RSA public key")
        return
    result.key_bits = bits
    for limit, status, text in RSA_KEY_SIZES:
        if bits < limit:
            result.add(status, f"RSA {bits}-bit key, {text}")
            return
    result.add(Status.OK, f"RSA {bits}-bit key")
