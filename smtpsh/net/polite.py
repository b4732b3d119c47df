"""Politeness: a pause between two connections to the same host (--delay), whoever opens
them (a probe opens several, a TLS scan dozens, a run over many hosts many at once)."""

from __future__ import annotations

import threading
import time
from typing import Any

from smtpsh.net.base import ClientOptions, ConnectError, Connector, format_address


class Politeness:
    """Spaces the connections to each host ``delay`` seconds apart, whichever job opens
    them (a probe opens several). Thread-safe: connections are opened in worker threads."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()
        self.stopped = threading.Event()  # stop(): every wait ends, no connection is made

    def stop(self) -> None:
        self.stopped.set()

    def reserve(self, host: str) -> float:
        """Book the next connection to ``host``: the seconds to wait before opening it."""
        with self._lock:
            now = time.monotonic()
            at = max(now, self._next.get(host, 0.0))
            self._next[host] = at + self.delay
            return at - now

    def wait_turn(self, host: str) -> bool:
        """Book the next connection to ``host`` and wait for it, in the connecting thread
        (never an event loop): False when the run was stopped meanwhile (connect nothing)."""
        wait = self.reserve(host)
        return not (self.stopped.wait(wait) if wait > 0 else self.stopped.is_set())


class PoliteConnector(Connector):
    """The politeness wait, then the connection: through ``inner`` (--socks5, a PROXY
    header) when given, else a plain TCP connect (smtpsh.net.blocking.open_socket's); the
    connect deadline starts once the wait is over."""

    def __init__(self, politeness: Politeness, inner: Connector | None = None) -> None:
        self.politeness = politeness
        self.inner = inner
        self.tunnelled = inner is not None and inner.tunnelled

    def __call__(self, opts: ClientOptions) -> Any:
        from smtpsh.net.blocking import connect_first, resolve

        # In the connecting thread, never the event loop; a stopped run ends the wait.
        if not self.politeness.wait_turn(opts.host):
            raise ConnectError(f"not connected to {format_address(opts.host, opts.port)}:"
                               " the run was stopped")
        if self.inner is not None:
            return self.inner(opts)
        deadline = time.monotonic() + opts.connect_timeout
        return connect_first(opts, resolve(opts, deadline), deadline)

    def describe(self, opts: ClientOptions) -> str:
        if self.inner is not None:
            return self.inner.describe(opts)
        return format_address(opts.host, opts.port)
