"""TLS contexts: verification on by default, weakened only when the user says so."""

from __future__ import annotations

import ssl
from dataclasses import dataclass


@dataclass(frozen=True)
class TLSSettings:
    verify: bool = True
    cafile: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


def make_context(settings: TLSSettings) -> ssl.SSLContext:
    """A client context: the system store plus --cafile; --no-verify turns checks off."""
    context = ssl.create_default_context()
    if settings.cafile:
        context.load_verify_locations(cafile=settings.cafile)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    return context
