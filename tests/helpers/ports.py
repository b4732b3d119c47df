"""Free loopback ports for test servers."""

from __future__ import annotations

import socket


def pick_free_port() -> int:
    """A 127.0.0.1 port free for both TCP and UDP right now (dnsmasq needs both)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port: int = tcp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("127.0.0.1", port))
                except OSError:
                    continue
        return port
    raise RuntimeError("no free 127.0.0.1 port for both TCP and UDP")
