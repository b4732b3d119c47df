"""SOCKS5 (RFC 1928) with user/password authentication (RFC 1929): reach a server through
a proxy, as pentesters pivot. The host name goes to the proxy unresolved (remote DNS, like
curl's socks5h://): the proxy's view of DNS is the one that matters, and nothing about the
target leaks to the local resolver.

Blocking and small: the connect path of both transports runs it before any SMTP byte.
"""

from __future__ import annotations

import ipaddress
import socket
import struct

from smtpsh.net.base import ClientOptions, ConnectError, Connector, format_address

VERSION = 5
NO_AUTH, USER_PASSWORD, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CONNECT = 0x01
ATYP_IPV4, ATYP_DOMAIN, ATYP_IPV6 = 0x01, 0x03, 0x04

# RFC 1928 §6: the REP field of the reply.
REPLIES = {
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by the proxy's rules",
    0x03: "network unreachable (from the proxy)",
    0x04: "host unreachable (from the proxy)",
    0x05: "connection refused (by the target, as seen from the proxy)",
    0x06: "TTL expired",
    0x07: "command not supported by the proxy",
    0x08: "address type not supported by the proxy",
}


class SocksProxy:
    """Where the proxy is, and the credentials for it (the password never in argv)."""

    def __init__(
        self, host: str, port: int, username: str | None = None, password: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.username = username
        self.password = password

    @property
    def address(self) -> str:
        return format_address(self.host, self.port)

    def __repr__(self) -> str:  # never the password
        user = f"{self.username}@" if self.username else ""
        return f"SocksProxy({user}{self.address})"


def _recv_exact(sock: socket.socket, count: int, proxy: str) -> bytes:
    data = b""
    while len(data) < count:
        try:
            chunk = sock.recv(count - len(data))
        except TimeoutError:
            raise ConnectError(f"SOCKS proxy {proxy} stopped answering") from None
        except OSError as exc:
            raise ConnectError(f"SOCKS proxy {proxy}: {exc.strerror or exc}") from None
        if not chunk:
            raise ConnectError(f"SOCKS proxy {proxy} closed the connection during the handshake")
        data += chunk
    return data


def _target_address(host: str) -> bytes:
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna") if not host.isascii() else host.encode("ascii")
        if not 0 < len(name) < 256:
            raise ConnectError(f"'{host}' is too long a name for SOCKS5 (255 octets)") from None
        return bytes([ATYP_DOMAIN, len(name)]) + name  # resolved by the proxy
    if ip.version == 4:
        return bytes([ATYP_IPV4]) + ip.packed
    return bytes([ATYP_IPV6]) + ip.packed


def handshake(sock: socket.socket, proxy: SocksProxy, host: str, port: int) -> tuple[str, int]:
    """Ask the proxy, on the connected ``sock``, for a tunnel to host:port (RFC 1928 §4);
    returns the address the proxy connected from (its BND.ADDR). ConnectError says why not."""
    where = proxy.address
    methods = [NO_AUTH] if proxy.username is None else [USER_PASSWORD]
    sock.sendall(bytes([VERSION, len(methods), *methods]))
    version, method = _recv_exact(sock, 2, where)
    if version != VERSION:
        raise ConnectError(f"{where} is not a SOCKS5 proxy (it answered version {version})")
    if method == NO_ACCEPTABLE:
        wanted = "user/password" if proxy.username else "no authentication"
        hint = "" if proxy.username else "; it may want a user: --socks5 USER@HOST:PORT"
        raise ConnectError(f"SOCKS proxy {where} refuses {wanted}{hint}")
    if method == USER_PASSWORD:
        if proxy.username is None:
            raise ConnectError(f"SOCKS proxy {where} wants a user: --socks5 USER@HOST:PORT")
        user = proxy.username.encode()
        password = (proxy.password or "").encode()
        if len(user) > 255 or len(password) > 255:
            raise ConnectError("SOCKS5 user names and passwords are at most 255 octets")
        sock.sendall(bytes([1, len(user)]) + user + bytes([len(password)]) + password)
        _, status = _recv_exact(sock, 2, where)
        if status != 0:
            raise ConnectError(
                f"SOCKS proxy {where} refused the user {proxy.username!r} (wrong password?)"
            )
    elif method != NO_AUTH:
        raise ConnectError(f"SOCKS proxy {where} chose an unknown method {method:#04x}")
    sock.sendall(bytes([VERSION, CONNECT, 0]) + _target_address(host) + struct.pack("!H", port))
    version, reply, _, atyp = _recv_exact(sock, 4, where)
    if version != VERSION:
        raise ConnectError(f"SOCKS proxy {where} sent a malformed reply")
    if reply != 0:
        reason = REPLIES.get(reply, f"error {reply:#04x}")
        raise ConnectError(
            f"SOCKS proxy {where} cannot reach {format_address(host, port)}: {reason}"
        )
    if atyp == ATYP_IPV4:
        bound = str(ipaddress.IPv4Address(_recv_exact(sock, 4, where)))
    elif atyp == ATYP_IPV6:
        bound = str(ipaddress.IPv6Address(_recv_exact(sock, 16, where)))
    elif atyp == ATYP_DOMAIN:
        size = _recv_exact(sock, 1, where)[0]
        bound = _recv_exact(sock, size, where).decode("ascii", "replace")
    else:
        raise ConnectError(f"SOCKS proxy {where} sent an unknown address type {atyp}")
    (bound_port,) = struct.unpack("!H", _recv_exact(sock, 2, where))
    return bound, bound_port


class SocksConnector(Connector):
    """ClientOptions.connector: a TCP connection to the proxy, then the tunnel."""

    tunnelled = True

    def __init__(self, proxy: SocksProxy) -> None:
        self.proxy = proxy

    def __call__(self, opts: ClientOptions) -> socket.socket:
        from smtpsh.net.blocking import open_socket

        to_proxy = opts.replace(host=self.proxy.host, port=self.proxy.port, connector=None)
        try:
            sock = open_socket(to_proxy)
        except ConnectError as exc:  # said as the proxy's, not the server's
            raise ConnectError(f"the SOCKS proxy: {exc}") from None
        try:
            sock.settimeout(opts.connect_timeout)
            handshake(sock, self.proxy, opts.host, opts.port)
        except BaseException:
            sock.close()
            raise
        return sock

    def describe(self, opts: ClientOptions) -> str:
        return f"{format_address(opts.host, opts.port)} via SOCKS5 {self.proxy.address}"
