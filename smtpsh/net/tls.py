"""TLS contexts: verification on by default, weakened only when the user says so."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TLSSettings:
    verify: bool = True
    cafile: str | None = None
    client_cert: str | None = None
    client_key: str | None = None


class _LazyTrustContext(ssl.SSLContext):
    """Loads the system trust store on first use.

    Loading it costs ~40 ms, a sixth of the start-up budget, and most plain-text sessions
    never use TLS (bench/bench_session.py)."""

    _trust_loaded = False

    def load_trust(self) -> None:
        """Load the system store now (smtpsh.net.selfsigned reads what it trusts)."""
        if not self._trust_loaded:
            self._trust_loaded = True
            self.load_default_certs(ssl.Purpose.SERVER_AUTH)

    def wrap_bio(self, *args: Any, **kwargs: Any) -> ssl.SSLObject:
        self.load_trust()
        return super().wrap_bio(*args, **kwargs)

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        self.load_trust()
        return super().wrap_socket(*args, **kwargs)


# Contexts that name no file, made once a process and shared by every connection: loading
# the system store costs ~40 ms, which a run over many targets paid once a host (it was
# nine tenths of the CPU time of `smtpsh probe` over a fleet; bench/bench_fleet.py). An
# SSLContext is safe to share; nothing changes one after make_context() returns it.
_SHARED: dict[TLSSettings, ssl.SSLContext] = {}


def make_context(settings: TLSSettings) -> ssl.SSLContext:
    """A client context: the system store plus --cafile; --no-verify turns checks off.
    Without files, the same context for the same settings (files are read every time:
    they may have changed)."""
    if settings.cafile or settings.client_cert or settings.client_key:
        return _new_context(settings)
    context = _SHARED.get(settings)
    if context is None:
        context = _SHARED[settings] = _new_context(settings)
    return context


def _new_context(settings: TLSSettings) -> ssl.SSLContext:
    # Same settings as ssl.create_default_context(): hostname check, CERT_REQUIRED.
    context = _LazyTrustContext(ssl.PROTOCOL_TLS_CLIENT)
    if settings.cafile:
        context.load_verify_locations(cafile=settings.cafile)
    if not settings.verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context._trust_loaded = True  # nothing is verified: the system store is not needed
    if settings.client_cert:
        context.load_cert_chain(settings.client_cert, settings.client_key)
    return context
