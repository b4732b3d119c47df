"""The TLS a mail server really accepts: protocol versions, every cipher suite per version,
whose preference decides, and a grade with the reason it is capped.

Engine: a ClientHello written here and the ServerHello read back, on a socket that has done
the SMTP preamble (banner, EHLO, STARTTLS) or none (implicit TLS). No handshake is
completed, so nothing depends on what this machine's OpenSSL still agrees to speak: SSLv3,
anonymous, NULL, EXPORT and RC4 suites are offered and recognised like any other, as nmap's
ssl-enum-ciphers does. Measured before choosing (bench/bench_tls.py, docs/architecture.md):
sslyze gives the same lists but takes ~1.1 s to import and ~2.2 s to scan Postfix's port 25;
the stdlib ssl module cannot offer TLS 1.3 suites one by one nor any suite OpenSSL 3 dropped.

For each version the scan offers every known suite, takes the one the server picks, removes
it and asks again until the server refuses: the accepted list comes out in the server's
order of preference when it has one; one more hello with the list reversed tells whether it
does. Versions are scanned in parallel, one connection at a time each.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from smtpsh.net.base import Connector

VERSIONS: dict[str, int] = {
    "SSLv3": 0x0300,
    "TLSv1.0": 0x0301,
    "TLSv1.1": 0x0302,
    "TLSv1.2": 0x0303,
    "TLSv1.3": 0x0304,
}
TLS13_SUITES = range(0x1301, 0x1306)
DEFAULT_TIMEOUT = 10.0
_MAX_ROUNDS = 128  # no server accepts more suites than this in one version
_HRR_RANDOM = bytes.fromhex(
    "CF21AD74E59A6111BE1D8C021E65B891C2A211167ABB8C5E079E09E2C8A8339C"
)  # RFC 8446 §4.1.3: a HelloRetryRequest's "random"


class ScanError(Exception):
    """The server could not be reached or did not get to the TLS handshake: one line."""


def cipher_suites() -> dict[int, str]:
    """Code point → IANA name (smtpsh/data/tls-cipher-suites.txt)."""
    text = resources.files("smtpsh").joinpath("data").joinpath("tls-cipher-suites.txt")
    table: dict[int, str] = {}
    for line in text.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            code, name = line.split()
            table[int(code, 16)] = name
    return table


# ---------------------------------------------------------------- what a suite is worth


# Key exchanges (the name's head, Suite.key_exchange) with a fresh key each session.
_EPHEMERAL_KEY_EXCHANGES = ("DHE_", "ECDHE_", "DH_anon", "ECDH_anon", "PSK_DHE", "SRP_")


@dataclass(frozen=True)
class Suite:
    code: int
    name: str

    @property
    def anonymous(self) -> bool:
        return "_anon_" in self.name or self.name.startswith("TLS_NULL_")

    @property
    def null(self) -> bool:
        return self.name.endswith("_NULL_SHA") or "_WITH_NULL_" in self.name

    @property
    def export(self) -> bool:
        return "EXPORT" in self.name

    @property
    def rc4(self) -> bool:
        return "_RC4_" in self.name

    @property
    def des(self) -> bool:
        return "_DES_" in self.name or "_3DES_" in self.name or "DES40" in self.name

    @property
    def cbc(self) -> bool:
        return "_CBC_" in self.name

    @property
    def key_exchange(self) -> str:
        """ECDHE, DHE, RSA, ECDH_anon, ... as the name says; TLS 1.3 suites name none (the
        exchange is (EC)DHE, negotiated apart)."""
        if self.code in TLS13_SUITES:
            return "ECDHE/DHE (TLS 1.3)"
        head = self.name.removeprefix("TLS_").partition("_WITH_")[0]
        return head or "?"

    @property
    def bits(self) -> int:
        """The cipher's strength in bits (3DES counted as 112, its effective strength)."""
        name = self.name
        if self.null:
            return 0
        if "EXPORT" in name:
            return 40
        for marker, strength in (("_3DES_", 112), ("_DES_", 56), ("DES40", 40),
                                 ("CHACHA20", 256), ("_256", 256), ("_128", 128),
                                 ("_RC4_128", 128), ("SEED", 128), ("IDEA", 128)):  # fmt: skip
            if marker in name:
                return strength
        return 0

    @property
    def forward_secret(self) -> bool:
        """Its key exchange is ephemeral (a new key each session), so a server key stolen
        later cannot decrypt a recorded session. RSA key exchange (the client encrypts the
        secret to the certificate's key), static DH/ECDH (the certificate holds the DH key)
        and plain PSK are not. Anonymous DH is ephemeral; it fails for another reason."""
        if self.code in TLS13_SUITES:
            return True
        return self.key_exchange.startswith(_EPHEMERAL_KEY_EXCHANGES)

    def weaknesses(self, version: str) -> list[str]:
        found = []
        if self.anonymous:
            found.append("anonymous key exchange (no authentication: a man in the middle wins)")
        if self.null:
            found.append("NULL cipher (no encryption)")
        if self.export:
            found.append("EXPORT-grade (40/56-bit) cipher")
        if self.rc4:
            found.append("RC4 (broken stream cipher, RFC 7465)")
        if self.des:
            found.append("DES/3DES (64-bit block: Sweet32)")
        if self.cbc and version in ("SSLv3", "TLSv1.0"):
            found.append("CBC in TLS 1.0 or older (BEAST, Lucky13)")
        return found

    def to_json(self) -> dict[str, Any]:
        return {"code": f"0x{self.code:04X}", "name": self.name,
                "key_exchange": self.key_exchange, "bits": self.bits,
                "forward_secrecy": self.forward_secret}  # fmt: skip


# ---------------------------------------------------------------- the wire


def _ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _u16_list(values: Sequence[int]) -> bytes:
    body = b"".join(struct.pack("!H", v) for v in values)
    return struct.pack("!H", len(body)) + body


_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x001E, 0x0100, 0x0101, 0x0102)
_SIG_ALGS = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
             0x0807, 0x0808, 0x0201, 0x0203, 0x0402, 0x0202)  # fmt: skip


# Elliptic-curve groups only: a ClientHello without the RFC 7919 FFDHE groups gets the DH
# group a server gives the clients that name none, the one the DH measurement is after.
_EC_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x001E)


def client_hello(version: int, suites: Sequence[int], server_name: str | None,
                 groups: Sequence[int] = _GROUPS) -> bytes:
    """One TLS record holding a ClientHello offering ``suites`` at ``version``."""
    legacy = min(version, 0x0303)
    session_id = os.urandom(32) if version == 0x0304 else b""
    body = struct.pack("!H", legacy) + os.urandom(32)
    body += bytes([len(session_id)]) + session_id
    body += _u16_list(suites) + b"\x01\x00"  # compression: null only
    if version > 0x0300:
        exts = b""
        if server_name:
            name = server_name.encode("idna")
            entry = b"\x00" + struct.pack("!H", len(name)) + name
            exts += _ext(0x0000, struct.pack("!H", len(entry)) + entry)
        exts += _ext(0x000A, _u16_list(groups))
        exts += _ext(0x000B, b"\x01\x00")
        exts += _ext(0x000D, _u16_list(_SIG_ALGS))
        exts += _ext(0xFF01, b"\x00")  # renegotiation_info: some servers insist
        if version == 0x0304:
            exts += _ext(0x002B, b"\x02\x03\x04")  # supported_versions: TLS 1.3 only
            # A key share for x25519 when offered (any 32 bytes are a key); none otherwise,
            # so that the server asks for its group with a HelloRetryRequest.
            share = struct.pack("!HH", 0x001D, 32) + os.urandom(32) if 0x001D in groups else b""
            exts += _ext(0x0033, struct.pack("!H", len(share)) + share)
            exts += _ext(0x002D, b"\x01\x01")  # psk_key_exchange_modes: psk_dhe_ke
        body += struct.pack("!H", len(exts)) + exts
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    record_version = 0x0300 if version == 0x0300 else 0x0301
    return b"\x16" + struct.pack("!HH", record_version, len(handshake)) + handshake


def _read_exact(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            break
        data += chunk
    return data


# Names of the groups the ClientHello offers (_GROUPS), for the TLS 1.3 key exchange.
GROUP_NAMES = {0x001D: "x25519", 0x0017: "secp256r1", 0x0018: "secp384r1",
               0x0019: "secp521r1", 0x001E: "x448", 0x0100: "ffdhe2048",
               0x0101: "ffdhe3072", 0x0102: "ffdhe4096"}  # fmt: skip

# The named elliptic curves of an ECDHE key exchange in TLS 1.2 and older (RFC 8422 §5.1.1,
# RFC 7027, RFC 7748; IANA's TLS Supported Groups registry): code → (name, size in bits).
EC_CURVES: dict[int, tuple[str, int]] = {
    1: ("sect163k1", 163), 2: ("sect163r1", 163), 3: ("sect163r2", 163),
    4: ("sect193r1", 193), 5: ("sect193r2", 193), 6: ("sect233k1", 233),
    7: ("sect233r1", 233), 8: ("sect239k1", 239), 9: ("sect283k1", 283),
    10: ("sect283r1", 283), 11: ("sect409k1", 409), 12: ("sect409r1", 409),
    13: ("sect571k1", 571), 14: ("sect571r1", 571), 15: ("secp160k1", 160),
    16: ("secp160r1", 160), 17: ("secp160r2", 160), 18: ("secp192k1", 192),
    19: ("secp192r1", 192), 20: ("secp224k1", 224), 21: ("secp224r1", 224),
    22: ("secp256k1", 256), 23: ("secp256r1", 256), 24: ("secp384r1", 384),
    25: ("secp521r1", 521), 26: ("brainpoolP256r1", 256), 27: ("brainpoolP384r1", 384),
    28: ("brainpoolP512r1", 512), 29: ("x25519", 255), 30: ("x448", 448),
}  # fmt: skip
# The curves IANA's registry recommends for TLS (the others are marked "N"), in the order
# OpenSSL's clients offer them.
_RECOMMENDED_CURVES = ("x25519", "secp256r1", "x448", "secp521r1", "secp384r1")
# The order the scan offers the curves in: the recommended ones first, as clients offer
# them, so that the server's pick among them all is what a client gets.
_CURVE_OFFER = sorted(EC_CURVES, key=lambda code: (
    _RECOMMENDED_CURVES.index(EC_CURVES[code][0]) if EC_CURVES[code][0] in _RECOMMENDED_CURVES
    else len(_RECOMMENDED_CURVES), code))  # fmt: skip
_WEAK_CURVE_BITS = 224  # under this, less than 112-bit security: a 2048-bit DH group's


def curve_weakness(name: str, bits: int) -> str | None:
    """Why an accepted ECDHE curve is a finding; None for the ones IANA recommends."""
    if name in _RECOMMENDED_CURVES:
        return None
    if bits < _WEAK_CURVE_BITS:
        return (f"{bits}-bit curve (about {bits // 2}-bit security, under the 112 bits of a "
                "2048-bit DH group)")  # fmt: skip
    if bits < 256:
        return f"{bits}-bit curve (under 256 bits; IANA does not recommend it for TLS)"
    if name.startswith("sect"):
        return "binary curve (deprecated by RFC 8422; IANA does not recommend it for TLS)"
    if name.startswith("brainpool"):
        return ("Brainpool curve (IANA does not recommend it for TLS; TLS 1.3 clients do not "
                "offer it under this code, RFC 8734)")  # fmt: skip
    return "IANA does not recommend it for TLS"


@dataclass(frozen=True)
class ServerHello:
    version: int
    suite: int
    group: int | None = None  # TLS 1.3: the key_share's group (a HelloRetryRequest's ask)
    retry: bool = False  # a HelloRetryRequest (RFC 8446 §4.1.4), not a ServerHello


def read_server_hello(sock: socket.socket) -> tuple[int, int] | None:
    """(version, suite) from the ServerHello (or HelloRetryRequest); None for an alert, a
    close or anything else."""
    hello = read_hello(sock)
    return None if hello is None else (hello.version, hello.suite)


def read_hello(sock: socket.socket) -> ServerHello | None:
    """The ServerHello (or HelloRetryRequest) read back: its version, suite and, in TLS
    1.3, the key exchange group; None for an alert, a close or anything else."""
    header = _read_exact(sock, 5)
    if len(header) < 5 or header[0] != 0x16:
        return None
    length = struct.unpack("!H", header[3:5])[0]
    record = _read_exact(sock, min(length, 1 << 14))
    if len(record) < 42 or record[0] != 0x02:
        return None
    version = struct.unpack("!H", record[4:6])[0]
    sid_len = record[38]
    at = 39 + sid_len
    if len(record) < at + 3:
        return None
    suite = struct.unpack("!H", record[at : at + 2])[0]
    retry = record[6:38] == _HRR_RANDOM
    group = None
    at += 3  # suite and compression
    if len(record) >= at + 2:  # extensions: supported_versions tells TLS 1.3
        end = at + 2 + struct.unpack("!H", record[at : at + 2])[0]
        at += 2
        while at + 4 <= min(end, len(record)):
            kind, size = struct.unpack("!HH", record[at : at + 4])
            if kind == 0x002B and size == 2:
                version = struct.unpack("!H", record[at + 4 : at + 6])[0]
            elif kind == 0x0033 and size >= 2 and len(record) >= at + 6:
                # key_share: a ServerHello's entry starts with its group; a
                # HelloRetryRequest's is the group alone (RFC 8446 §4.2.8)
                group = struct.unpack("!H", record[at + 4 : at + 6])[0]
            at += 4 + size
    return ServerHello(version, suite, group, retry)


_MAX_FLIGHT = 1 << 16  # the server's first flight, certificates included, fits in this


def read_server_key_exchange(sock: socket.socket) -> bytes | str:
    """The body of the server's ServerKeyExchange (TLS 1.2 and older), read from the
    plaintext handshake messages that follow the ServerHello; or why there is none."""
    handshake = b""
    read = 0
    while read < _MAX_FLIGHT:
        header = _read_exact(sock, 5)
        if len(header) < 5:
            return "the server closed the connection before its key exchange"
        length = struct.unpack("!H", header[3:5])[0]
        record = _read_exact(sock, length)
        read += 5 + len(record)
        if header[0] == 0x15:
            return "the server answered with an alert"
        if header[0] != 0x16 or len(record) < length:
            return "the server's answer is not a TLS handshake"
        handshake += record
        while len(handshake) >= 4:
            kind = handshake[0]
            size = int.from_bytes(handshake[1:4], "big")
            if len(handshake) < 4 + size:
                break  # the rest of this message is in the next record
            body, handshake = handshake[4 : 4 + size], handshake[4 + size :]
            if kind == 12:  # ServerKeyExchange
                return body
            if kind == 14:  # ServerHelloDone: no key exchange message came
                return "the server sent no ServerKeyExchange"
    return "no ServerKeyExchange in the first 64 KiB"


def read_dh_group_bits(sock: socket.socket) -> int | str:
    """The size in bits of the DH prime in the server's ServerKeyExchange (RFC 5246 §7.4.3,
    ServerDHParams: dh_p, dh_g, dh_Ys, each with a 2-byte length); or why not."""
    body = read_server_key_exchange(sock)
    if isinstance(body, str):
        return body
    if len(body) < 3:
        return "its ServerKeyExchange is too short"
    p_length = struct.unpack("!H", body[:2])[0]
    prime = body[2 : 2 + p_length]
    if not prime or len(prime) < p_length:
        return "its ServerKeyExchange is too short"
    return int.from_bytes(prime, "big").bit_length()


def read_ecdhe_curve(sock: socket.socket) -> int | str:
    """The named curve of the server's ECDHE ServerKeyExchange (RFC 8422 §5.4,
    ServerECDHParams: curve_type 3, named_curve, then the point); or why not."""
    body = read_server_key_exchange(sock)
    if isinstance(body, str):
        return body
    if len(body) < 3:
        return "its ServerKeyExchange is too short"
    if body[0] != 3:
        return "its ServerKeyExchange gives explicit curve parameters, not a named curve"
    return int(struct.unpack("!H", body[1:3])[0])


@dataclass(frozen=True)
class DHGroup:
    """The DH groups a server uses for its DHE (and DH_anon) suites at one version: the
    smallest size in bits and the suite that got it, every size seen, or why none could be
    measured."""

    version: str
    bits: int | None
    suite: str = ""  # the suite that got the smallest group
    sizes: tuple[int, ...] = ()
    why_not: str = ""

    @property
    def weakness(self) -> str | None:
        if self.bits is None:
            return None
        if self.bits < 1024:
            return f"{self.bits}-bit DH group (under 1024 bits: broken, Logjam)"
        if self.bits < 2048:
            return (f"{self.bits}-bit DH group (under 2048 bits: within reach of the "
                    "precomputation Logjam showed for 1024-bit groups)")  # fmt: skip
        return None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "bits": self.bits, "suite": self.suite or None,
                "sizes": list(self.sizes), "not_measured": self.why_not or None}  # fmt: skip


def _ephemeral_dh(suite: Suite) -> bool:
    """Its key exchange sends DH parameters in a ServerKeyExchange (TLS 1.2 and older)."""
    return suite.key_exchange.startswith(("DHE_", "DH_anon"))


def _dh_bits_for(target: Target, version: str, suite: Suite) -> int | str:
    """The size of the DH prime the server sends when ``suite`` is the one offered."""
    try:
        sock = open_tls_socket(target)
    except ScanError as exc:
        return str(exc)
    try:
        sock.sendall(client_hello(VERSIONS[version], [suite.code], target.server_name,
                                  groups=_EC_GROUPS))  # fmt: skip
        answer = read_server_hello(sock)
        if answer is None or answer[1] != suite.code:
            return f"the server refused {suite.name} this time"
        return read_dh_group_bits(sock)
    except OSError as exc:
        return str(exc) or type(exc).__name__
    finally:
        sock.close()


def measure_dh_group(target: Target, version: str, suites: Sequence[Suite]) -> DHGroup:
    """The DH groups of the version's accepted DHE suites. A server's group may depend on
    the suite: OpenSSL's automatic choice follows the cipher's strength and, for anonymous
    suites, gives 1024 bits to a 128-bit cipher and 3072 to others on the same port. So one
    suite of each kind (anonymous or not, cipher strength) is offered alone."""
    kinds: dict[tuple[bool, int], Suite] = {}
    for suite in suites:
        kinds.setdefault((suite.anonymous, suite.bits), suite)
    seen: list[tuple[int, Suite]] = []
    why = ""
    for suite in kinds.values():
        found = _dh_bits_for(target, version, suite)
        if isinstance(found, str):
            why = why or f"{suite.name}: {found}"
        else:
            seen.append((found, suite))
    if not seen:
        return DHGroup(version, None, why_not=f"not measured ({why})")
    bits, weakest = min(seen, key=lambda pair: pair[0])
    return DHGroup(version, bits, weakest.name, tuple(sorted({b for b, _ in seen})))


def measure_dh_groups(target: Target, versions: Sequence[VersionResult]) -> list[DHGroup]:
    """The DH groups of each version (TLS 1.2 and older) that accepted a suite with an
    ephemeral DH key exchange. TLS 1.3 has no DH parameters of the server's choosing: its
    FFDHE groups are RFC 7919's, 2048 bits and up; the group a TLS 1.3 server picks is
    measure_tls13_group's."""
    groups = []
    for result in versions:
        suites = [s for s in result.suites if _ephemeral_dh(s)]
        if suites and result.version != "TLSv1.3":
            groups.append(measure_dh_group(target, result.version, suites))
    return groups


@dataclass(frozen=True)
class KeyExchangeGroup:
    """The key exchange groups of one version: the one the server picks when offered every
    group the scan knows, and which of those it accepts offered alone. TLS 1.3's
    (GROUP_NAMES, a key share for x25519; the hybrid post-quantum groups the scan does not
    know are not tried) or the ECDHE curves of TLS 1.2 and older (EC_CURVES)."""

    group: str | None
    retry: bool = False  # the server asked for it with a HelloRetryRequest
    why_not: str = ""
    accepted: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()
    unanswered: tuple[tuple[str, str], ...] = ()  # (group, why the scan cannot tell)
    version: str = "TLSv1.3"
    # TLS 1.2 and older: the curve offered after each one, so that an ECDSA certificate on
    # it stays usable (RFC 8422 §5.1: the client's curves are the certificate's too)
    paired_with: str | None = None
    order_note: str = ""  # how a refusal was told when each curve was offered paired

    def describe(self) -> list[str]:
        if self.group is None:
            return [f"not measured ({self.why_not})"]
        how = (" (asked for by a HelloRetryRequest: the scan's key share was x25519)"
               if self.retry else "")  # fmt: skip
        noun = "group" if self.version == "TLSv1.3" else "curve"
        lines = [f"{self.group}{how}, the server's pick when offered every {noun} below"]
        lines.append(f"{noun}s accepted: " + (", ".join(self.accepted) or "none alone"))
        if self.refused:
            lines.append("refused: " + ", ".join(self.refused))
        if self.unanswered:
            reasons: dict[str, list[str]] = {}
            for name, why in self.unanswered:
                reasons.setdefault(why, []).append(name)
            lines.append("could not tell: " + "; ".join(
                f"{', '.join(names)} ({why})" for why, names in reasons.items()))
        if self.version == "TLSv1.3":
            lines.append("groups smtpsh does not know (hybrid post-quantum ones) are not tried")
        elif self.paired_with is not None:
            lines.append(f"each curve refused alone was offered again with {self.paired_with} "
                         "after it (accepted alone: the certificate's curve, which ECDHE_ECDSA "
                         "suites need in TLS 1.2)" +
                         (f"; {self.order_note}" if self.order_note else ""))  # fmt: skip
        return lines

    def to_json(self) -> dict[str, Any]:
        found = {"group": self.group, "hello_retry_request": self.retry,
                 "accepted_groups": list(self.accepted), "refused_groups": list(self.refused),
                 "unanswered_groups": [name for name, _ in self.unanswered],
                 "unanswered_why": [{"group": name, "why": why} for name, why in self.unanswered],
                 "not_measured": self.why_not or None}  # fmt: skip
        if self.version != "TLSv1.3":
            del found["hello_retry_request"]
            found = {"version": self.version, **found, "paired_with": self.paired_with}
        return found


_SILENT_ENOUGH = 2  # hellos in a row without an answer before the other groups are left


# What a server did with one group offered: the group it used (accepted when it is the one
# offered), None (refused: an alert or a close), or why its answer tells nothing. No answer
# at all raises TimeoutError or ScanError.
GroupAnswer = int | str | None


def offer_each_group(names: dict[int, str], answer: Callable[[int], GroupAnswer]
                     ) -> tuple[list[str], list[str], list[tuple[str, str]]]:  # fmt: skip
    """(accepted, refused, could not tell with why) for each group of ``names`` offered
    as ``answer`` offers it."""
    accepted: list[str] = []
    refused: list[str] = []
    unclear: list[tuple[str, str]] = []
    silent = 0  # hellos in a row without an answer
    for code, name in names.items():
        if silent >= _SILENT_ENOUGH:  # not a timeout more for each group left
            unclear.append((name, "not tried: the server stopped answering"))
            continue
        try:
            got = answer(code)
        except TimeoutError:
            silent += 1
            unclear.append((name, "no answer"))
            continue
        except ScanError as exc:
            silent += 1
            unclear.append((name, str(exc)))
            continue
        silent = 0
        if got == code:
            accepted.append(name)
        elif got is None:
            refused.append(name)
        elif isinstance(got, str):
            unclear.append((name, got))
        else:
            used = names.get(got, f"group 0x{got:04X}")
            unclear.append((name, f"the server used {used}, not offered"))
    return accepted, refused, unclear


_Answer = TypeVar("_Answer")


def _exchange(target: Target, hello: bytes, read: Callable[[socket.socket], _Answer]
              ) -> _Answer | None:  # fmt: skip
    """``read``'s reading of the server's answer to ``hello`` on a new connection: None when
    the connection fails (a reset: a refusal); TimeoutError when the server does not
    answer, ScanError when it cannot be reached."""
    sock = open_tls_socket(target)
    try:
        sock.sendall(hello)
        return read(sock)
    except TimeoutError:
        raise
    except OSError:
        return None
    finally:
        sock.close()


def _tls13_hello(target: Target, suites: Sequence[Suite], groups: Sequence[int]
                 ) -> ServerHello | None:  # fmt: skip
    """The server's answer to a TLS 1.3 ClientHello offering ``groups``: None when it
    refuses (an alert, a close); TimeoutError when it does not answer."""
    hello = client_hello(0x0304, [s.code for s in suites], target.server_name, groups=groups)
    return _exchange(target, hello, read_hello)


def measure_tls13_group(target: Target, suites: Sequence[Suite]) -> KeyExchangeGroup:
    """The group of the TLS 1.3 key exchange the server picks (read from its key_share or
    its HelloRetryRequest), then each known group offered alone."""
    try:
        hello = _tls13_hello(target, suites, _GROUPS)
    except (ScanError, TimeoutError) as exc:
        return KeyExchangeGroup(None, why_not=str(exc) or "no answer")
    if hello is None or hello.version != 0x0304:
        return KeyExchangeGroup(None, why_not="the server did not answer with a TLS 1.3 hello "
                                "this time")  # fmt: skip
    if hello.group is None:
        return KeyExchangeGroup(None, why_not="its hello names no key exchange group")

    def alone(code: int) -> GroupAnswer:
        got = _tls13_hello(target, suites, [code])
        if got is None or got.version != 0x0304:
            return None
        return got.group if got.group is not None else "its hello names no group"

    accepted, refused, unclear = offer_each_group(GROUP_NAMES, alone)
    pick = GROUP_NAMES.get(hello.group, f"group 0x{hello.group:04X}")
    return KeyExchangeGroup(pick, hello.retry, accepted=tuple(accepted),
                            refused=tuple(refused), unanswered=tuple(unclear))  # fmt: skip


def _ecdhe_suites(suites: Sequence[Suite]) -> list[Suite]:
    """The suites whose ServerKeyExchange names an elliptic curve (RFC 8422 §5.4): ECDHE
    signed with RSA or ECDSA, and anonymous ECDH; not ECDHE_PSK (a PSK hint comes first)."""
    return [s for s in suites
            if s.key_exchange in ("ECDHE_RSA", "ECDHE_ECDSA", "ECDH_anon")]  # fmt: skip


def _ecdhe_curve(target: Target, version: str, suites: Sequence[Suite],
                 curves: Sequence[int]) -> GroupAnswer:  # fmt: skip
    """The curve of the server's ServerKeyExchange when a hello at ``version`` offers
    ``suites`` and ``curves``: None when it refuses; why, when its answer tells nothing."""
    codes = [s.code for s in suites]

    def read(sock: socket.socket) -> GroupAnswer:
        hello = read_hello(sock)
        if hello is None:
            return None
        if hello.version != VERSIONS[version]:
            return f"the server answered with another version (0x{hello.version:04X})"
        if hello.suite not in codes:
            return f"the server picked a suite not offered (0x{hello.suite:04X})"
        curve = read_ecdhe_curve(sock)
        return None if curve == "the server answered with an alert" else curve

    hello = client_hello(VERSIONS[version], codes, target.server_name, groups=curves)
    return _exchange(target, hello, read)


def measure_ecdhe_curves(target: Target, version: str, suites: Sequence[Suite]
                         ) -> KeyExchangeGroup:  # fmt: skip
    """The ECDHE curves a TLS 1.2 (or older) server accepts: the one it picks when offered
    every curve of EC_CURVES, then each offered alone with the version's accepted ECDHE
    suites. In TLS 1.2 the client's curves are its certificate's too: a server whose only
    ECDHE suites are ECDSA ones refuses every curve alone but its certificate's. Then each
    other curve is offered again with that one after it: used, accepted; not used, refused
    only if the server is seen to follow the client's order of curves, else 'could not
    tell' (its own order may put the certificate's curve first)."""
    names = {code: EC_CURVES[code][0] for code in _CURVE_OFFER}
    with_rsa = [s for s in suites if s.key_exchange in ("ECDHE_RSA", "ECDH_anon")]
    offered = with_rsa or list(suites)
    try:
        pick = _ecdhe_curve(target, version, offered, _CURVE_OFFER)
    except (ScanError, TimeoutError) as exc:
        return KeyExchangeGroup(None, why_not=str(exc) or "no answer", version=version)
    if not isinstance(pick, int):
        why = pick or "the server refused every curve offered together"
        return KeyExchangeGroup(None, why_not=why, version=version)
    accepted, refused, unclear = offer_each_group(
        names, lambda code: _ecdhe_curve(target, version, offered, [code]))
    found = KeyExchangeGroup(names.get(pick, f"curve 0x{pick:04X}"), accepted=tuple(accepted),
                             refused=tuple(refused), unanswered=tuple(unclear),
                             version=version)  # fmt: skip
    if with_rsa or not accepted or not refused:
        return found
    return _paired_with_certificate_curve(target, found, offered)


def _paired_with_certificate_curve(target: Target, alone: KeyExchangeGroup,
                                   suites: Sequence[Suite]) -> KeyExchangeGroup:  # fmt: skip
    """ECDHE_ECDSA suites only: each curve refused alone offered again before the first
    one accepted alone (the certificate's, or one the certificate's is not needed for)."""
    codes = {name: code for code, (name, _) in EC_CURVES.items()}
    anchor = alone.accepted[0]
    version = alone.version
    chose_anchor = f"the server used {anchor}, offered after it"

    def paired(code: int) -> GroupAnswer:
        got = _ecdhe_curve(target, version, suites, [code, codes[anchor]])
        return chose_anchor if got == codes[anchor] else got

    names = {codes[name]: name for name in alone.refused}
    accepted, refused, unclear = offer_each_group(names, paired)
    note = "whose order decides was not seen: a curve it did not use may be refused or not"
    if accepted:
        try:
            reverse = _ecdhe_curve(target, version, suites, [codes[anchor], codes[accepted[0]]])
        except (ScanError, TimeoutError):
            reverse = None
        if reverse == codes[anchor]:
            note = (f"the client's order decides ({accepted[0]} then {anchor} got "
                    f"{accepted[0]}, the reverse {anchor}): a curve it did not use is refused")
            refused += [name for name, why in unclear if why == chose_anchor]
            unclear = [(name, why) for name, why in unclear if why != chose_anchor]
        elif reverse == codes[accepted[0]]:
            note = ("the server's order decides: a curve it did not use may be refused or "
                    "ranked after " + anchor)  # fmt: skip
    ranked = [EC_CURVES[code][0] for code in _CURVE_OFFER]
    every = sorted([*alone.accepted, *accepted], key=ranked.index)
    return KeyExchangeGroup(alone.group, accepted=tuple(every),
                            refused=tuple(sorted(refused, key=ranked.index)),
                            unanswered=(*alone.unanswered, *unclear),
                            version=version, paired_with=anchor, order_note=note)  # fmt: skip


def measure_ecdhe(target: Target, versions: Sequence[VersionResult]) -> KeyExchangeGroup | None:
    """The ECDHE curves of the newest version of TLS 1.2 and older that accepted a suite
    with an ECDHE key exchange (a server's curve list is one for all versions); None when
    none did."""
    for result in sorted(versions, key=lambda v: VERSIONS[v.version], reverse=True):
        suites = _ecdhe_suites(result.suites)
        if suites and result.version != "TLSv1.3":
            return measure_ecdhe_curves(target, result.version, suites)
    return None


# ---------------------------------------------------------------- SMTP preamble


def _smtp_reply(sock: socket.socket) -> str:
    """One whole SMTP reply (multi-line until 'NNN ')."""
    data = b""
    while True:
        chunk = sock.recv(4096)
        if not chunk:
            raise ScanError(f"the server closed the connection ({data[-80:]!r})")
        data += chunk
        lines = data.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return data.decode("utf-8", "replace")
        if len(data) > 65536:
            raise ScanError("the server's reply is too long")


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    starttls: bool
    server_name: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    helo: str = "smtpsh.invalid"
    cafile: str | None = None  # also trust these CAs when verifying the chain
    connect_timeout: float = 30.0  # to resolve and connect, every address tried within it
    family: int = 0  # socket.AF_INET / AF_INET6 for -4 / -6; 0 = either
    # How to reach the server other than by a TCP connect (probe --socks5, --proxy-v1/-v2:
    # the scan's many connections go the same way as the probe's).
    connector: Connector | None = field(default=None, compare=False)
    # Set to stop the scan (Ctrl-C, a many-target run stopped or out of time): no new
    # connection is opened, the versions' threads end after the one in progress.
    stop: threading.Event | None = field(default=None, compare=False)


def open_tls_socket(target: Target) -> socket.socket:
    """A socket on which the next bytes are the TLS handshake."""
    from smtpsh.net.base import ClientOptions, ConnectError
    from smtpsh.net.blocking import open_socket

    if target.stop is not None and target.stop.is_set():
        raise ScanError("the scan was stopped")
    # The sessions' way in: the name resolved and every address tried within the deadline.
    options = ClientOptions(target.host, target.port, connect_timeout=target.connect_timeout,
                            family=target.family, connector=target.connector)  # fmt: skip
    try:
        sock = open_socket(options)
    except ConnectError as exc:
        raise ScanError(str(exc)) from None
    sock.settimeout(target.timeout)
    try:
        if target.starttls:
            banner = _smtp_reply(sock)
            if not banner.startswith("220"):
                raise ScanError(f"the banner is not 220: {banner.splitlines()[0][:80]}")
            sock.sendall(f"EHLO {target.helo}\r\n".encode())
            ehlo = _smtp_reply(sock)
            if "STARTTLS" not in ehlo.upper():
                raise ScanError("the server does not offer STARTTLS")
            sock.sendall(b"STARTTLS\r\n")
            answer = _smtp_reply(sock)
            if not answer.startswith("220"):
                raise ScanError(f"STARTTLS answered {answer.splitlines()[0][:80]}")
    except (OSError, ScanError) as exc:
        sock.close()
        if isinstance(exc, ScanError):
            raise
        raise ScanError(f"{target.host}:{target.port}: {exc}") from None
    return sock


def ask(target: Target, version: int, suites: Sequence[int]) -> int | None:
    """The suite the server picks among ``suites`` at exactly ``version`` (None: refused)."""
    sock = open_tls_socket(target)
    try:
        sock.sendall(client_hello(version, suites, target.server_name))
        answer = read_server_hello(sock)
    except TimeoutError:
        raise  # no answer at all: not a refusal (scan_version says it could not tell)
    except OSError:
        return None
    finally:
        sock.close()
    if answer is None:
        return None
    got_version, suite = answer
    return suite if got_version == version else None


# ---------------------------------------------------------------- the scan


@dataclass
class VersionResult:
    version: str
    suites: list[Suite] = field(default_factory=list)  # in the server's order if it has one
    server_preference: bool | None = None  # None: fewer than two suites, cannot tell
    # Why the answer is incomplete: the server did not answer a ClientHello (twice) within
    # the timeout. Then "not accepted" (or the suites listed) may not be the whole truth.
    unknown: str | None = None

    @property
    def accepted(self) -> bool:
        return bool(self.suites)

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "accepted": self.accepted,
            "suites": [s.to_json() for s in self.suites],
            "server_preference": self.server_preference,
            "inconclusive": self.unknown,
        }


def _ask_patiently(target: Target, version: int, suites: Sequence[int]) -> int | None:
    """ask(), once more after a timeout (a loaded server may be slow once); TimeoutError
    when the server did not answer either time."""
    try:
        return ask(target, version, suites)
    except TimeoutError:
        return ask(target, version, suites)


def scan_version(target: Target, name: str, table: dict[int, str]) -> VersionResult:
    version = VERSIONS[name]
    offer = [c for c in table if (c in TLS13_SUITES) == (version == 0x0304)]
    result = VersionResult(name)
    for _ in range(_MAX_ROUNDS):
        if not offer:
            break
        try:
            picked = _ask_patiently(target, version, offer)
        except TimeoutError:
            result.unknown = f"no answer to a ClientHello within {target.timeout:g} s"
            break
        if picked is None or picked not in offer:
            break
        result.suites.append(Suite(picked, table.get(picked, f"0x{picked:04X}")))
        offer.remove(picked)
    if len(result.suites) >= 2 and result.unknown is None:
        reverse = [s.code for s in reversed(result.suites)]
        with contextlib.suppress(TimeoutError):  # no answer: None, cannot tell
            result.server_preference = (
                _ask_patiently(target, version, reverse) == result.suites[0].code
            )
    return result


@dataclass
class TLSScan:
    target: str
    versions: list[VersionResult]
    grade: str = "?"
    caps: list[str] = field(default_factory=list)  # why the grade is not higher
    findings: list[str] = field(default_factory=list)
    certificate: list[str] = field(default_factory=list)  # key, names, validity, trust
    dh_groups: list[DHGroup] = field(default_factory=list)  # versions with DHE suites
    tls13_group: KeyExchangeGroup | None = None  # TLS 1.3 accepted: the group it picks
    ecdhe_curves: KeyExchangeGroup | None = None  # TLS 1.2 or older with ECDHE suites

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "versions": [v.to_json() for v in self.versions],
            "grade": self.grade,
            "grade_capped_by": self.caps,
            "findings": self.findings,
            "certificate": self.certificate,
            "dh_groups": [g.to_json() for g in self.dh_groups],
            "tls13_key_exchange": None if self.tls13_group is None else self.tls13_group.to_json(),
            "ecdhe_curves": None if self.ecdhe_curves is None else self.ecdhe_curves.to_json(),
        }


def certificate_facts(target: Target) -> tuple[list[str], list[str], str | None]:
    """One real handshake (no verification, to see whatever is sent), then a verifying one:
    (facts about the chain, problems that cap the grade, why no handshake completes when
    the server breaks every one: its ServerHello alone made the suites look fine)."""
    import ssl

    from smtpsh.net import certinfo

    look = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    look.check_hostname, look.verify_mode = False, ssl.CERT_NONE
    # Security level 0: Python's own level 2 refuses a DH group under 2048 bits (and more)
    # that OpenSSL's default level 1, as most mail clients run it, accepts: "no handshake
    # completes" would be this client's policy, not the server's fault. The weak group is
    # measured and graded on its own (measure_dh_groups).
    with contextlib.suppress(ssl.SSLError):
        look.set_ciphers("ALL:@SECLEVEL=0")
    name = target.server_name or target.host
    try:
        with look.wrap_socket(open_tls_socket(target), server_hostname=name) as tls:
            chain, unreadable = certinfo.read_chain(certinfo.peer_chain(tls, verified=False))
    except ssl.SSLError as exc:
        why = certinfo.describe_tls_error(exc, name, implicit=not target.starttls)
        return [f"no handshake completes: {why}"], [], why
    except (OSError, ScanError) as exc:
        return [f"no handshake completed to read the certificate: {exc}"], [], None
    facts = [f"[{depth}] {cert.subject_text} · {cert.key} · signed with {cert.signature}"
             for depth, cert in enumerate(chain)] + list(unreadable)  # fmt: skip
    problems: list[str] = []
    if len(chain) == 1 and not chain[0].self_issued:
        facts.append("the signatures above [0] are not measured: the server sent only its own "
                     "certificate")  # fmt: skip
    leaf = chain[0] if chain else None
    if leaf is not None:
        facts.append(f"valid until {certinfo.format_time(leaf.not_after)}")
        if (issue := leaf.validity_problem()) is not None:
            problems.append(f"certificate {issue}")
        kind, _, bits = leaf.key.partition(" ")
        if kind in ("RSA", "DSA") and bits.isdigit() and int(bits) < 2048:
            problems.append(f"{leaf.key} key (under 2048 bits)")
    problems += weak_signatures(chain)
    check = ssl.create_default_context(cafile=target.cafile) if target.cafile else (
        ssl.create_default_context()
    )
    # Python's default list has only (EC)DHE suites: against a server with RSA key exchange
    # only, the verifying handshake failed and the chain was never judged. The chain is what
    # this handshake is for: OpenSSL's default list, at Python's security level (2).
    with contextlib.suppress(ssl.SSLError):
        check.set_ciphers("DEFAULT:@SECLEVEL=2")
    try:
        with check.wrap_socket(open_tls_socket(target), server_hostname=name):
            store = target.cafile or "the system trust store"
            facts.append(f"the chain verifies for {name} against {store}")
    except ssl.SSLCertVerificationError as exc:
        reason = exc.verify_message or str(exc)
        facts.append(f"the chain does not verify for {name}: {reason}")
        problems.append("certificate not trusted (" + reason + ")")
    except ssl.SSLError as exc:  # the handshake itself failed, not the chain
        why = certinfo.describe_tls_error(exc, name, implicit=not target.starttls)
        facts.append(f"verification not done: a default TLS client's handshake fails: {why}")
    except (OSError, ScanError) as exc:
        facts.append(f"verification not tried: {exc}")
    return facts, problems, None


def weak_signatures(chain: Sequence[Any]) -> list[str]:
    """A certificate of the chain (certinfo.CertificateInfo, leaf first) signed with SHA-1
    or MD5, whose collisions are practical: such a signature can be forged. A self-signed
    certificate above the leaf is a trust anchor, whose own signature no client checks."""
    from smtpsh.net.certinfo import WEAK_SIGNATURES

    found = []
    for depth, cert in enumerate(chain):
        if depth > 0 and cert.self_issued:
            continue
        if cert.signature in WEAK_SIGNATURES:
            digest = "MD5" if "md5" in cert.signature.lower() else "SHA-1"
            found.append(f"certificate [{depth}] signed with {digest} ({cert.signature}: "
                         "collisions are practical, the signature can be forged)")  # fmt: skip
    return found


def _without_forward_secrecy(suites: Sequence[Suite]) -> list[Suite]:
    """The suites whose key exchange is not ephemeral; anonymous ones are graded apart (F)."""
    return [s for s in suites if not s.forward_secret and not s.anonymous]


def _forward_secrecy(accepted: Sequence[VersionResult]) -> tuple[str, list[str]] | None:
    """(what caps the grade, a finding a version) when a suite without forward secrecy is
    accepted; None when every suite has it. Capped at B either way, as SSL Labs and
    testssl.sh grade it: a server whose own order puts forward-secret suites first still
    gives none to a client that offers them last or not at all (old or minimal clients,
    and the MTAs that offer RSA key exchange suites first), and the finding says so."""
    findings = []
    for v in accepted:
        lacking = _without_forward_secrecy(v.suites)
        if not lacking:
            continue
        exchanges = ", ".join(dict.fromkeys(s.key_exchange for s in lacking))
        if len(lacking) == len(v.suites):
            whose = "no suite it accepts has it"
        elif v.server_preference and v.suites[0].forward_secret:
            whose = ("the server's order puts forward-secret suites first, so only a client "
                     "that offers none of those gets one of these")  # fmt: skip
        elif v.server_preference:
            whose = "the server's order prefers one of these"
        elif v.server_preference is False:
            whose = "the client's order decides: a client that offers one of these first gets it"
        else:
            whose = "whose order decides was not measured"
        count = (f"all {len(lacking)} suites" if len(lacking) == len(v.suites)
                 else f"{len(lacking)} of {len(v.suites)} suites")  # fmt: skip
        findings.append(
            f"{v.version}: {count} without forward secrecy "
            f"({exchanges} key exchange: whoever gets the server's private key later can "
            f"decrypt recorded sessions); {whose}: {', '.join(s.name for s in lacking)}"
        )
    if not findings:
        return None
    if not any(s.forward_secret for v in accepted for s in v.suites):
        return "no forward secrecy (no suite with an ephemeral key exchange)", findings
    return "suites without forward secrecy accepted", findings


def _curve_findings(curves: KeyExchangeGroup | None) -> list[tuple[str, bool]]:
    """(a finding, whether it caps the grade at B) for each accepted ECDHE curve that IANA
    does not recommend; one under 224 bits caps it, as a DH group under 2048 bits does."""
    if curves is None:
        return []
    sizes = dict(EC_CURVES.values())
    found = []
    for name in curves.accepted:
        bits = sizes.get(name, 0)
        if (weakness := curve_weakness(name, bits)) is not None:
            found.append((f"{curves.version} ECDHE curve {name} accepted: {weakness}",
                          bits < _WEAK_CURVE_BITS))  # fmt: skip
    return found


def grade(versions: Sequence[VersionResult], dh_groups: Sequence[DHGroup] = (),
          curves: KeyExchangeGroup | None = None) -> tuple[str, list[str], list[str]]:
    """(grade, what capped it, every weakness found) — F < C < B < A."""
    accepted = [v for v in versions if v.accepted]
    if not accepted:
        untested = [v.version for v in versions if v.unknown is not None]
        if untested:
            return "?", [f"no protocol version accepted, {', '.join(untested)} not answered"], []
        return "-", ["no protocol version accepted"], []
    caps: dict[str, list[str]] = {"F": [], "C": [], "B": []}
    findings: list[str] = []
    for v in accepted:
        if v.version == "SSLv3":
            caps["F"].append("SSLv3 accepted (POODLE, RFC 7568)")
        elif v.version in ("TLSv1.0", "TLSv1.1"):
            caps["B"].append(f"{v.version} accepted (deprecated, RFC 8996)")
        for suite in v.suites:
            for weakness in suite.weaknesses(v.version):
                findings.append(f"{v.version} {suite.name}: {weakness}")
                level = "C" if weakness.startswith(("RC4", "DES")) else "F"
                if weakness.startswith("CBC"):
                    level = "B"
                caps[level].append(weakness.split(" (")[0])
    if (secrecy := _forward_secrecy(accepted)) is not None:
        cap, said = secrecy
        caps["B"].append(cap)
        findings += said
    for group in dh_groups:
        if (dh_weakness := group.weakness) is not None:
            findings.append(f"{group.version} {group.suite}: {dh_weakness}")
            caps["F" if group.bits is not None and group.bits < 1024 else "B"].append(
                dh_weakness.split(" (")[0])
    for finding, caps_grade in _curve_findings(curves):
        findings.append(finding)
        if caps_grade:
            caps["B"].append(f"ECDHE curve under {_WEAK_CURVE_BITS} bits accepted")
    for v in versions:
        if v.unknown is not None:
            # A version that could not be tested may hide what would lower the grade.
            findings.append(f"{v.version}: could not tell ({v.unknown}); the grade may be "
                            "higher than it should")  # fmt: skip
    for level in ("F", "C", "B"):
        if caps[level]:
            return level, sorted(set(caps[level])), findings
    return "A", [], findings


def scan(target: Target, versions: Sequence[str] = tuple(VERSIONS)) -> TLSScan:
    """Scan every version in parallel. Raises ScanError when the server cannot be reached
    (tried once, before anything else, so that the error is said once)."""
    open_tls_socket(target).close()
    table = cipher_suites()
    pool = ThreadPoolExecutor(max_workers=len(versions))
    try:
        futures = [pool.submit(scan_version, target, name, table) for name in versions]
        results = [f.result() for f in futures]
    except BaseException:  # Ctrl-C: the threads stop at their next connection, unwaited
        if target.stop is not None:
            target.stop.set()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    result = TLSScan(f"{target.host}:{target.port}", results)
    result.dh_groups = measure_dh_groups(target, results)
    tls13 = next((v for v in results if v.version == "TLSv1.3" and v.accepted), None)
    if tls13 is not None:
        result.tls13_group = measure_tls13_group(target, tls13.suites)
    result.ecdhe_curves = measure_ecdhe(target, results)
    result.grade, result.caps, result.findings = grade(results, result.dh_groups,
                                                       result.ecdhe_curves)  # fmt: skip
    if any(v.accepted for v in results):
        result.certificate, problems, broken = certificate_facts(target)
        if broken is not None:
            # Suites a ServerHello names are worth nothing to a client that never gets
            # past the handshake: no grade above F (nmap grades the hellos alone).
            cap = f"no TLS handshake completes ({broken})"
            result.findings.append(cap)
            result.grade, result.caps = "F", [cap]
        elif problems:
            result.findings += problems
            if result.grade == "A":
                result.grade, result.caps = "B", problems
            elif result.grade == "B":  # capped at B both ways: say both
                result.caps += problems  # (a C or F cipher cap already says more)
    return result


def report_lines(result: TLSScan) -> list[str]:
    """Plain text lines (the caller prints them through the output layer)."""
    lines = [f"TLS scan of {result.target}"]
    for v in result.versions:
        if not v.accepted:
            state = f"could not tell: {v.unknown}" if v.unknown else "not accepted"
            lines.append(f"  {v.version:<8} {state}")
            continue
        if v.unknown:
            lines.append(f"  {v.version:<8} (the list may be incomplete: {v.unknown})")
        order = {True: "server's order", False: "client's order", None: ""}[v.server_preference]
        lines.append(f"  {v.version:<8} {len(v.suites)} suites" + (f" ({order})" if order else ""))
        for suite in v.suites:
            weak = suite.weaknesses(v.version)
            if not suite.forward_secret and not suite.anonymous:
                weak.append("no forward secrecy")
            mark = "  ✗ " + "; ".join(weak) if weak else ""
            lines.append(f"    {suite.name} ({suite.key_exchange}, {suite.bits} bits){mark}")
    if result.tls13_group is not None:
        first, *more = result.tls13_group.describe()
        lines.append(f"  key exchange TLSv1.3: {first}")
        lines += [f"    {line}" for line in more]
    if result.ecdhe_curves is not None:
        first, *more = result.ecdhe_curves.describe()
        lines.append(f"  ECDHE curves {result.ecdhe_curves.version}: {first}")
        lines += [f"    {line}" for line in more]
        weak = [name for name in result.ecdhe_curves.accepted
                if curve_weakness(name, dict(EC_CURVES.values()).get(name, 0))]  # fmt: skip
        if weak:
            lines.append(f"    ✗ accepted, not recommended: {', '.join(weak)}")
    for group in result.dh_groups:
        if group.bits is None:
            size = group.why_not
        elif len(group.sizes) > 1:
            shown = ", ".join(str(b) for b in group.sizes)
            size = f"{shown} bits by suite; {group.bits} with {group.suite}"
        else:
            size = f"{group.bits} bits"
        mark = "  ✗ " + group.weakness if group.weakness else ""
        lines.append(f"  DH group {group.version} (DHE suites): {size}{mark}")
    if result.certificate:
        lines.append("  certificate")
        lines += [f"    {fact}" for fact in result.certificate]
    lines.append(f"grade {result.grade}" + (f" (capped by: {', '.join(result.caps)})"
                                             if result.caps else ""))  # fmt: skip
    untested = [v.version for v in result.versions if v.unknown is not None and v.accepted]
    untested += [v.version for v in result.versions if v.unknown is not None and not v.accepted
                 and result.grade != "?"]  # fmt: skip
    if untested:
        lines.append(f"  inconclusive: {', '.join(untested)} not fully tested (no answer); "
                     "the grade may be higher than it should")  # fmt: skip
    return lines
