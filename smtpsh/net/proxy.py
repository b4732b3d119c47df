"""The HAProxy PROXY protocol, versions 1 (text) and 2 (binary): the header a load
balancer puts before the SMTP dialogue to tell the server who the real client is. A server
that trusts it (Postfix: smtpd_upstream_proxy_protocol = haproxy) then logs, and applies
its access rules to, the address smtpsh sends — which is what a tester wants to see.

Specification: haproxy's doc/proxy-protocol.txt.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from smtpsh.net.base import ClientOptions, ConnectError, Connector, format_address

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_PROXY_COMMAND = 0x21  # version 2, command PROXY
V2_TCP4, V2_TCP6 = 0x11, 0x21


def header(version: int, source: tuple[str, int], destination: tuple[str, int]) -> bytes:
    """The PROXY header saying the connection came from ``source`` to ``destination``."""
    src, dst = ipaddress.ip_address(source[0]), ipaddress.ip_address(destination[0])
    if src.version != dst.version:
        # Both must be of one family; a v4 source on a v6 connection is said as v4-mapped.
        if src.version == 4 and isinstance(dst, ipaddress.IPv6Address) and dst.ipv4_mapped:
            dst = dst.ipv4_mapped
        elif src.version == 4:
            src = ipaddress.IPv6Address(f"::ffff:{src}")
        else:
            raise ConnectError(
                f"PROXY: the source {src} is IPv6 but the connection to the server is IPv4"
            )
    if version == 1:
        name = "TCP4" if src.version == 4 else "TCP6"
        return f"PROXY {name} {src} {dst} {source[1]} {destination[1]}\r\n".encode("ascii")
    family = V2_TCP4 if src.version == 4 else V2_TCP6
    body = src.packed + dst.packed + struct.pack("!HH", source[1], destination[1])
    return V2_SIGNATURE + bytes([V2_PROXY_COMMAND, family]) + struct.pack("!H", len(body)) + body


def parse_source(text: str) -> tuple[str, int]:
    """'192.0.2.1:4444', '[2001:db8::1]:4444' -> (address, port); ValueError says why not."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        port_text = rest[1:] if sep and rest.startswith(":") else ""
    else:
        host, _, port_text = text.rpartition(":")
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(f"'{text}': the source must be an IP address and a port") from None
    if not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"'{text}': the source port must be a number from 1 to 65535")
    return host, int(port_text)


class ProxyHeaderConnector(Connector):
    """Connect (directly, or through ``inner``: SOCKS), then send the PROXY header first."""

    def __init__(
        self, version: int, source: tuple[str, int], inner: Connector | None = None
    ) -> None:
        self.version = version
        self.source = source
        self.inner = inner
        self.tunnelled = inner is not None and inner.tunnelled

    def __call__(self, opts: ClientOptions) -> socket.socket:
        from smtpsh.net.blocking import open_socket

        plain = opts.replace(connector=self.inner)
        sock = self.inner(plain) if self.inner is not None else open_socket(plain)
        try:
            destination = _destination(sock, opts)
            sock.sendall(header(self.version, self.source, destination))
        except OSError as exc:
            sock.close()
            raise ConnectError(f"PROXY header not sent: {exc.strerror or exc}") from None
        except BaseException:
            sock.close()
            raise
        return sock

    def describe(self, opts: ClientOptions) -> str:
        inner = self.inner.describe(opts) if self.inner else format_address(opts.host, opts.port)
        return f"{inner} (PROXY v{self.version} from {format_address(*self.source)})"


def _destination(sock: socket.socket, opts: ClientOptions) -> tuple[str, int]:
    """The address the client connected to: the target itself if it is an address (also
    through SOCKS), else the peer of the socket."""
    try:
        ipaddress.ip_address(opts.host)
        return opts.host, opts.port
    except ValueError:
        pass
    peer = sock.getpeername()
    if isinstance(peer, tuple):
        return str(peer[0]), opts.port
    raise ConnectError("PROXY needs a TCP connection with an IP address to name")
