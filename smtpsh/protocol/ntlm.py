"""NTLMSSP messages read and written here, sans-IO: the anonymous NEGOTIATE out, the
CHALLENGE decoded, the AUTHENTICATE summed up.

A server offering ``AUTH NTLM`` answers an anonymous NEGOTIATE_MESSAGE with a
CHALLENGE_MESSAGE that names its NetBIOS and DNS host and domain and its OS build, before
any credential is given (what nmap's smtp-ntlm-info reports). The probe sends the
NEGOTIATE and reports the CHALLENGE; the AUTH NTLM client (protocol/auth.py, whose
cryptography is pyspnego's) shows the CHALLENGE it answers and what its AUTHENTICATE
carries. Layouts from [MS-NLMP] §2.2.1.1 (NEGOTIATE), §2.2.1.2 (CHALLENGE), §2.2.1.3
(AUTHENTICATE), §2.2.2.1 (AV_PAIR) and §2.2.2.10 (VERSION).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from smtpsh.protocol.errors import SmtpshError

SIGNATURE = b"NTLMSSP\x00"
NEGOTIATE = 1
CHALLENGE = 2
AUTHENTICATE = 3
# An NTLMv1 NtChallengeResponse is 24 bytes; an NTLMv2 one carries the client's blob and
# is longer ([MS-NLMP] §2.2.2.8).
NTLMV1_RESPONSE_LENGTH = 24

# NegotiateFlags bits used here ([MS-NLMP] §2.2.2.5).
FLAG_UNICODE = 0x00000001
FLAG_OEM = 0x00000002
FLAG_REQUEST_TARGET = 0x00000004
FLAG_NTLM = 0x00000200
FLAG_ALWAYS_SIGN = 0x00008000
FLAG_EXTENDED_SESSIONSECURITY = 0x00080000
FLAG_TARGET_INFO = 0x00800000
FLAG_VERSION = 0x02000000
FLAG_128 = 0x20000000
FLAG_56 = 0x80000000

# The flags nmap's smtp-ntlm-info asks with: enough for any server to fill in its names.
NEGOTIATE_FLAGS = (
    FLAG_UNICODE | FLAG_OEM | FLAG_REQUEST_TARGET | FLAG_NTLM | FLAG_ALWAYS_SIGN
    | FLAG_EXTENDED_SESSIONSECURITY | FLAG_128 | FLAG_56
)

# AV_PAIR ids ([MS-NLMP] §2.2.2.1) -> the field they fill; MsvAvEOL (0) ends the list.
AV_EOL = 0
AV_TIMESTAMP = 7
AV_FIELDS: Mapping[int, str] = MappingProxyType({
    1: "netbios_computer",
    2: "netbios_domain",
    3: "dns_computer",
    4: "dns_domain",
    5: "dns_tree",
    9: "target_spn",
})

# What each field is called in a report, in nmap's words.
FIELD_LABELS: Mapping[str, str] = MappingProxyType({
    "target_name": "Target_Name",
    "netbios_domain": "NetBIOS_Domain_Name",
    "netbios_computer": "NetBIOS_Computer_Name",
    "dns_domain": "DNS_Domain_Name",
    "dns_computer": "DNS_Computer_Name",
    "dns_tree": "DNS_Tree_Name",
    "target_spn": "Target_SPN",
    "product_version": "Product_Version",
    "system_time": "System_Time",
})

_HEADER = struct.Struct("<8sI")  # Signature, MessageType
_FIELDS = struct.Struct("<HHI")  # Len, MaxLen, BufferOffset
_CHALLENGE_FIXED = 48  # up to and including TargetInfoFields
_VERSION = struct.Struct("<BBH3xB")  # major, minor, build, reserved, NTLM revision
_FILETIME_EPOCH = datetime.datetime(1601, 1, 1, tzinfo=datetime.UTC)


class NTLMError(SmtpshError):
    """The server's answer is not a well-formed NTLM CHALLENGE_MESSAGE."""


def negotiate_message(flags: int = NEGOTIATE_FLAGS) -> bytes:
    """An anonymous NEGOTIATE_MESSAGE: no domain, no workstation, no version."""
    empty = _FIELDS.pack(0, 0, 32)  # offsets point just past the 32-byte fixed part
    return _HEADER.pack(SIGNATURE, NEGOTIATE) + struct.pack("<I", flags) + empty + empty


def negotiate_line() -> str:
    """The NEGOTIATE_MESSAGE as the base64 line sent after ``334`` to ``AUTH NTLM``."""
    return base64.b64encode(negotiate_message()).decode("ascii")


@dataclass
class NTLMInfo:
    """What a CHALLENGE_MESSAGE reveals about the server."""

    target_name: str = ""
    netbios_domain: str = ""
    netbios_computer: str = ""
    dns_domain: str = ""
    dns_computer: str = ""
    dns_tree: str = ""
    target_spn: str = ""
    product_version: str = ""  # "10.0.17763" (major.minor.build)
    ntlm_revision: int | None = None
    system_time: str = ""  # ISO 8601, from MsvAvTimestamp
    flags: int = 0
    challenge: str = ""  # the 8-byte server challenge, hex
    unknown_av_ids: list[int] = field(default_factory=list)

    def items(self) -> list[tuple[str, str]]:
        """(nmap label, value) for every field the server filled in, in nmap's order."""
        return [
            (label, str(getattr(self, name)))
            for name, label in FIELD_LABELS.items()
            if getattr(self, name)
        ]

    def as_dict(self) -> dict[str, object]:
        return {
            **{name: getattr(self, name) for name in FIELD_LABELS if getattr(self, name)},
            "ntlm_revision": self.ntlm_revision,
            "flags": f"0x{self.flags:08x}",
            "challenge": self.challenge,
        }


def decode_challenge_line(line: str) -> NTLMInfo:
    """Decode the base64 text of a ``334`` reply to an NTLM negotiate."""
    try:
        data = base64.b64decode(line.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise NTLMError("the 334 challenge is not base64") from None
    return decode_challenge(data)


def decode_challenge(data: bytes) -> NTLMInfo:
    """Decode a CHALLENGE_MESSAGE ([MS-NLMP] §2.2.1.2)."""
    if len(data) < _CHALLENGE_FIXED:
        raise NTLMError(f"challenge is {len(data)} bytes; a CHALLENGE_MESSAGE has at least 48")
    signature, message_type = _HEADER.unpack_from(data, 0)
    if signature != SIGNATURE:
        raise NTLMError("not an NTLMSSP message (bad signature)")
    if message_type != CHALLENGE:
        raise NTLMError(f"NTLMSSP message type {message_type}, expected 2 (CHALLENGE)")
    (flags,) = struct.unpack_from("<I", data, 20)
    info = NTLMInfo(flags=flags, challenge=data[24:32].hex())
    unicode = bool(flags & FLAG_UNICODE)
    target = _field(data, 12, "TargetName")
    info.target_name = _text(target, unicode)
    # The VERSION structure sits after the fixed fields when the server sets the flag.
    if flags & FLAG_VERSION and len(data) >= _CHALLENGE_FIXED + _VERSION.size:
        major, minor, build, revision = _VERSION.unpack_from(data, _CHALLENGE_FIXED)
        info.product_version = f"{major}.{minor}.{build}"
        info.ntlm_revision = revision
    _read_target_info(info, _field(data, 40, "TargetInfo"))
    return info


def _field(data: bytes, at: int, name: str) -> bytes:
    length, _max, offset = _FIELDS.unpack_from(data, at)
    if length and offset + length > len(data):
        raise NTLMError(f"{name} runs past the end of the message")
    return data[offset : offset + length]


def _text(raw: bytes, unicode: bool) -> str:
    return raw.decode("utf-16-le" if unicode else "latin-1", errors="replace")


def _read_target_info(info: NTLMInfo, blob: bytes) -> None:
    pos = 0
    while pos + 4 <= len(blob):
        av_id, av_len = struct.unpack_from("<HH", blob, pos)
        value = blob[pos + 4 : pos + 4 + av_len]
        if len(value) != av_len:
            raise NTLMError(f"AV_PAIR {av_id} runs past the end of TargetInfo")
        pos += 4 + av_len
        if av_id == AV_EOL:
            return
        if av_id in AV_FIELDS:
            setattr(info, AV_FIELDS[av_id], value.decode("utf-16-le", errors="replace"))
        elif av_id == AV_TIMESTAMP and av_len == 8:
            (ticks,) = struct.unpack("<Q", value)  # 100 ns units since 1601-01-01
            stamp = _FILETIME_EPOCH + datetime.timedelta(microseconds=ticks // 10)
            info.system_time = stamp.isoformat(timespec="seconds")
        elif av_id not in (6, 8, 10):  # flags, single-host, channel bindings: not names
            info.unknown_av_ids.append(av_id)


@dataclass(frozen=True)
class AuthenticateSummary:
    """What an AUTHENTICATE_MESSAGE tells the server, the response itself left out."""

    domain: str
    user: str
    workstation: str
    nt_response_length: int

    @property
    def ntlmv2(self) -> bool:
        return self.nt_response_length > NTLMV1_RESPONSE_LENGTH


_AUTHENTICATE_FIXED = 64  # up to and including NegotiateFlags


def summarize_authenticate(data: bytes) -> AuthenticateSummary:
    """The names and the response version in an AUTHENTICATE_MESSAGE ([MS-NLMP] §2.2.1.3)."""
    if len(data) < _AUTHENTICATE_FIXED:
        raise NTLMError(f"AUTHENTICATE is {len(data)} bytes; it has at least 64")
    signature, message_type = _HEADER.unpack_from(data, 0)
    if signature != SIGNATURE or message_type != AUTHENTICATE:
        raise NTLMError("not an NTLMSSP AUTHENTICATE message")
    (flags,) = struct.unpack_from("<I", data, 60)
    unicode = bool(flags & FLAG_UNICODE)
    return AuthenticateSummary(
        domain=_text(_field(data, 28, "DomainName"), unicode),
        user=_text(_field(data, 36, "UserName"), unicode),
        workstation=_text(_field(data, 44, "Workstation"), unicode),
        nt_response_length=len(_field(data, 20, "NtChallengeResponse")),
    )
