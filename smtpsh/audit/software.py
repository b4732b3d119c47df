"""What a banner, EHLO greeting or HELP text reveals about the server software.

Known products first (a table of patterns); then a generic "<Name> v1.2" / "<Name>/1.2.3"
pattern, which catches custom banners such as ``ESMTP InFreight v2.11``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# (product, pattern); group "v" is the version when the text carries one.
_PRODUCTS: tuple[tuple[str, str], ...] = (
    ("Microsoft Exchange / IIS SMTP",
     r"Microsoft ESMTP MAIL Service(?:,\s*Version:\s*(?P<v>\d[\d.]*))?"),
    ("Microsoft Exchange", r"Microsoft Exchange(?: Server)?(?:\s+(?P<v>\d[\d.]*))?"),
    ("Postfix", r"\bPostfix\b(?:[ /(]+v?(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Exim", r"\bExim\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Sendmail", r"\bSendmail\b(?:\s+(?P<v>\d+\.\d+[\w./-]*))?"),
    ("OpenSMTPD", r"\bOpenSMTPD\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("qmail", r"\bqmail\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Haraka", r"\bHaraka\b(?:[ /]+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("hMailServer", r"\bhMailServer\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("MDaemon", r"\bMDaemon\b(?:\s+(?:PRO\s+)?(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Zimbra", r"\bZimbra\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("CommuniGate Pro", r"\bCommuniGate Pro\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Kerio Connect", r"\bKerio Connect\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("IceWarp", r"\bIceWarp\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    # "ESMTP MailEnable Service, Version: 10.44-- ready at 12/06/26 08:00:00": the version
    # after a comma and "Version:", and the dashes after it are no part of it.
    ("MailEnable", r"\bMailEnable\b(?:[\w ]*?,?\s+(?:Version:\s*)?(?P<v>\d+\.\d+(?:\.\d+)*))?"),
    ("Courier", r"\bCourier\b(?:[ -]+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Lotus Domino", r"\bLotus Domino\b(?:\s+Release\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("XMail", r"\bXMail\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("SurgeMail", r"\bSurgeMail\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Mercury/32", r"\bMercury/32\b(?:\s+v?(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Apache James", r"\bJAMES\b(?:\s+SMTP Server\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("Dovecot", r"\bDovecot\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    ("aiosmtpd", r"\baiosmtpd\b(?:\s+(?P<v>\d+\.\d+[\w.-]*))?"),
    # aiosmtpd's default banner: "Python SMTP" and its own version (1.4.6 = aiosmtpd 1.4.6).
    ("aiosmtpd", r"\bPython SMTP (?P<v>\d+\.\d+[\w.-]*)"),
    ("Python smtpd", r"\bPython SMTP proxy\b(?:\s+version\s+(?P<v>\d+\.\d+[\w.-]*))?"),
)
_COMPILED = tuple((name, re.compile(pattern, re.IGNORECASE)) for name, pattern in _PRODUCTS)

# "<Name> v1.2", "<Name>/1.2.3", "<Name> 1.2.3": a word, then a dotted version.
_GENERIC = re.compile(r"\b(?P<name>[A-Za-z][\w-]{2,})(?:[ /]v?|\s+version\s+)(?P<v>\d+(?:\.\d+)+)")
# "<Name> ESMTP v1.2": the product before the protocol word, as in the footprinting exercise's
# banner "InFreight ESMTP v2.11" (the generic pattern would stop at "ESMTP v2.11").
_BEFORE_PROTOCOL = re.compile(
    r"\b(?P<name>[A-Za-z][\w-]{2,})\s+E?SMTP\s+(?:v|version\s+)?(?P<v>\d+(?:\.\d+)+)",
    re.IGNORECASE,
)
# Words the generic pattern must not take for a product name.
_NOT_PRODUCTS = frozenset({"esmtp", "smtp", "ready", "service", "version", "mail", "server",
                           "at", "on", "since", "release", "build"})


@dataclass(frozen=True)
class Software:
    name: str
    version: str | None
    source: str  # "banner", "EHLO greeting", "HELP"
    evidence: str  # the text it was read from

    @property
    def text(self) -> str:
        return f"{self.name} {self.version}" if self.version else self.name


def identify(text: str, source: str, *, skip_first_word: bool = True) -> Software | None:
    """The software ``text`` names, if any. The banner's first word is the host name, so it
    is skipped (a host called ``exim4.example`` is no evidence)."""
    # A greeting that is only a host name ("mx.aiosmtpd.test") names no software.
    body = text.partition(" ")[2] if skip_first_word else text
    for name, pattern in _COMPILED:
        match = pattern.search(body)
        if match:
            return Software(name, match.group("v"), source, text)
    for match in (*_BEFORE_PROTOCOL.finditer(body), *_GENERIC.finditer(body)):
        if match.group("name").lower() in _NOT_PRODUCTS or _ipv4(match.group("v")):
            continue
        return Software(match.group("name"), match.group("v"), source, text)
    return None


def add_found(known: list[Software], found: Software) -> None:
    """Add ``found`` to ``known`` unless it says nothing new: Haraka names itself in its
    banner ('Haraka/3.3.4') and again in its EHLO greeting ('Haraka is at your service'),
    one product, not two. A versionless entry gives way to one with the version; two
    different versions of one product both stay (the server contradicts itself: worth
    seeing)."""
    for i, seen in enumerate(known):
        if seen.name.lower() != found.name.lower():
            continue
        if found.version is None or found.version == seen.version:
            return
        if seen.version is None:
            known[i] = found
            return
    known.append(found)


def _ipv4(version: str) -> bool:
    """A dotted quad of octets is an address, not a version: 'ESMTP Welcome 192.0.2.10' and
    'ready; client 192.0.2.10' name no product (a known product's four-part version, such as
    IceWarp's, is read by its own pattern above)."""
    parts = version.split(".")
    return len(parts) == 4 and all(p.isdigit() and int(p) <= 255 for p in parts)
