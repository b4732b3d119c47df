"""Build a real NTLM CHALLENGE_MESSAGE, field by field, as [MS-NLMP] §2.2.1.2 lays it out.

Written independently of smtpsh.protocol.ntlm so the decoder is tested against the spec, not
against itself.
"""

from __future__ import annotations

import struct

NTLMSSP_NEGOTIATE_UNICODE = 0x00000001
NTLMSSP_REQUEST_TARGET = 0x00000004
NTLMSSP_NEGOTIATE_NTLM = 0x00000200
NTLMSSP_TARGET_TYPE_DOMAIN = 0x00010000
NTLMSSP_NEGOTIATE_TARGET_INFO = 0x00800000
NTLMSSP_NEGOTIATE_VERSION = 0x02000000

MSV_AV_EOL = 0
MSV_AV_NB_COMPUTER_NAME = 1
MSV_AV_NB_DOMAIN_NAME = 2
MSV_AV_DNS_COMPUTER_NAME = 3
MSV_AV_DNS_DOMAIN_NAME = 4
MSV_AV_DNS_TREE_NAME = 5
MSV_AV_TIMESTAMP = 7

# 2024-01-02 03:04:05 UTC as a FILETIME (100 ns ticks since 1601-01-01).
TIMESTAMP_2024 = (1704164645 + 11644473600) * 10_000_000


def av_pair(av_id: int, value: bytes) -> bytes:
    return struct.pack("<HH", av_id, len(value)) + value


def build_challenge(
    *,
    target_name: str = "SMTPTEST",
    nb_domain: str = "SMTPTEST",
    nb_computer: str = "MAIL01",
    dns_domain: str = "smtptest.local",
    dns_computer: str = "mail01.smtptest.local",
    dns_tree: str = "smtptest.local",
    version: tuple[int, int, int] = (10, 0, 17763),
    unicode: bool = True,
    with_version: bool = True,
) -> bytes:
    enc = "utf-16-le" if unicode else "latin-1"
    target = target_name.encode(enc)
    info = b"".join([
        av_pair(MSV_AV_NB_DOMAIN_NAME, nb_domain.encode("utf-16-le")),
        av_pair(MSV_AV_NB_COMPUTER_NAME, nb_computer.encode("utf-16-le")),
        av_pair(MSV_AV_DNS_DOMAIN_NAME, dns_domain.encode("utf-16-le")),
        av_pair(MSV_AV_DNS_COMPUTER_NAME, dns_computer.encode("utf-16-le")),
        av_pair(MSV_AV_DNS_TREE_NAME, dns_tree.encode("utf-16-le")),
        av_pair(MSV_AV_TIMESTAMP, struct.pack("<Q", TIMESTAMP_2024)),
        av_pair(MSV_AV_EOL, b""),
    ])
    flags = (NTLMSSP_REQUEST_TARGET | NTLMSSP_NEGOTIATE_NTLM | NTLMSSP_TARGET_TYPE_DOMAIN
             | NTLMSSP_NEGOTIATE_TARGET_INFO)
    flags |= NTLMSSP_NEGOTIATE_UNICODE if unicode else 0x00000002  # OEM
    flags |= NTLMSSP_NEGOTIATE_VERSION if with_version else 0
    # Signature(8) MessageType(4) TargetNameFields(8) NegotiateFlags(4) ServerChallenge(8)
    # Reserved(8) TargetInfoFields(8) Version(8) = 56, then the payload.
    payload_start = 56
    target_offset = payload_start
    info_offset = target_offset + len(target)
    major, minor, build = version
    version_field = struct.pack("<BBH3xB", major, minor, build, 0x0F) if with_version \
        else b"\x00" * 8
    header = (
        b"NTLMSSP\x00"
        + struct.pack("<I", 2)
        + struct.pack("<HHI", len(target), len(target), target_offset)
        + struct.pack("<I", flags)
        + bytes.fromhex("0123456789abcdef")
        + b"\x00" * 8
        + struct.pack("<HHI", len(info), len(info), info_offset)
        + version_field
    )
    assert len(header) == payload_start
    return header + target + info
