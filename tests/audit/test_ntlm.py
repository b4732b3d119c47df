"""NTLMSSP: the negotiate message we send and the decoding of a real challenge."""

from __future__ import annotations

import base64
import struct

import pytest

from smtpsh.protocol.ntlm import (
    FLAG_NTLM,
    FLAG_REQUEST_TARGET,
    FLAG_UNICODE,
    NTLMError,
    decode_challenge,
    decode_challenge_line,
    negotiate_line,
    negotiate_message,
)
from tests.audit.ntlm_message import av_pair, build_challenge


def test_negotiate_message_follows_ms_nlmp() -> None:
    msg = negotiate_message()
    assert len(msg) == 32
    assert msg[:8] == b"NTLMSSP\x00"
    assert struct.unpack_from("<I", msg, 8)[0] == 1  # NEGOTIATE_MESSAGE
    flags = struct.unpack_from("<I", msg, 12)[0]
    assert flags & FLAG_UNICODE and flags & FLAG_REQUEST_TARGET and flags & FLAG_NTLM
    # DomainNameFields and WorkstationFields: empty, pointing inside the message.
    for at in (16, 24):
        length, max_length, offset = struct.unpack_from("<HHI", msg, at)
        assert (length, max_length) == (0, 0) and offset <= len(msg)
    assert base64.b64decode(negotiate_line()) == msg


def test_decodes_every_field_nmap_reports() -> None:
    info = decode_challenge(build_challenge())
    assert info.target_name == "SMTPTEST"
    assert info.netbios_domain == "SMTPTEST"
    assert info.netbios_computer == "MAIL01"
    assert info.dns_domain == "smtptest.local"
    assert info.dns_computer == "mail01.smtptest.local"
    assert info.dns_tree == "smtptest.local"
    assert info.product_version == "10.0.17763"
    assert info.ntlm_revision == 15
    assert info.system_time == "2024-01-02T03:04:05+00:00"
    assert info.challenge == "0123456789abcdef"
    labels = [label for label, _ in info.items()]
    assert labels[:7] == [
        "Target_Name", "NetBIOS_Domain_Name", "NetBIOS_Computer_Name", "DNS_Domain_Name",
        "DNS_Computer_Name", "DNS_Tree_Name", "Product_Version",
    ]


def test_other_values_come_through() -> None:
    message = build_challenge(target_name="CORP", nb_computer="EXCH2", version=(6, 1, 7601))
    info = decode_challenge_line(base64.b64encode(message).decode())
    assert (info.target_name, info.netbios_computer, info.product_version) == (
        "CORP", "EXCH2", "6.1.7601")


def test_oem_target_name_and_no_version() -> None:
    info = decode_challenge(build_challenge(unicode=False, with_version=False,
                                            target_name="OLDBOX"))
    assert info.target_name == "OLDBOX"
    assert info.product_version == ""
    assert info.ntlm_revision is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"NTLMSSP\x00" + b"\x00" * 10, "at least 48"),
        (b"XTLMSSP\x00" + build_challenge()[8:], "signature"),
        (b"NTLMSSP\x00" + struct.pack("<I", 3) + build_challenge()[12:], "type 3"),
        (build_challenge()[:60], "past the end"),
    ],
)
def test_malformed_challenges_are_refused(data: bytes, message: str) -> None:
    with pytest.raises(NTLMError, match=message):
        decode_challenge(data)


def test_av_pair_running_past_target_info() -> None:
    good = build_challenge()
    _, _, info_offset = struct.unpack_from("<HHI", good, 40)
    broken_info = av_pair(2, "X".encode("utf-16-le")) + struct.pack("<HH", 1, 200) + b"AB"
    data = (good[:40] + struct.pack("<HHI", len(broken_info), len(broken_info), info_offset)
            + good[48:info_offset] + broken_info)
    with pytest.raises(NTLMError, match="AV_PAIR"):
        decode_challenge(data)


def test_not_base64() -> None:
    with pytest.raises(NTLMError, match="base64"):
        decode_challenge_line("this is not base64!")
