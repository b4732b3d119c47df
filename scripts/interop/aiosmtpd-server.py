"""aiosmtpd on loopback for smtpsh's interop tests (started by scripts/setup-interop).

Usage: python aiosmtpd-server.py FACTS.json
Two listeners from the same handler: one with STARTTLS optional and one with
``require_starttls`` (530 to everything but EHLO, NOOP, STARTTLS and QUIT). AUTH PLAIN
and LOGIN inside TLS; RCPT accepted for the configured users of its own domains only
(its domain and its host name).
"""

from __future__ import annotations

import asyncio
import json
import ssl
import sys
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


class Handler:
    def __init__(self, facts: dict[str, Any]) -> None:
        self.domains = {d.lower() for d in facts["domains"]}
        self.users = {u.lower() for u in facts["users"]}

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope,
                          address: str, rcpt_options: list[str]) -> str:
        local, _, domain = address.rpartition("@")
        if domain.lower() in self.domains:
            if local.lower() in self.users:
                envelope.rcpt_tos.append(address)
                return "250 OK"
            return "550 5.1.1 No such user here"
        if session.authenticated:
            envelope.rcpt_tos.append(address)
            return "250 OK"
        return "554 5.7.1 Relay access denied"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        return "250 OK"


def main() -> None:
    facts = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(facts["cert"], facts["key"])
    auth = facts["auth"]

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      data: Any) -> AuthResult:
        ok = (isinstance(data, LoginPassword) and data.login == auth["user"].encode()
              and data.password == auth["password"].encode())
        return AuthResult(success=ok)

    handler = Handler(facts)

    def factory(require: bool) -> SMTP:
        return SMTP(handler, hostname=facts["hostname"], tls_context=context,
                    require_starttls=require, authenticator=authenticator,
                    auth_require_tls=True, data_size_limit=facts["size"])

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        servers = [
            await loop.create_server(lambda: factory(False), facts["host"], facts["port"]),
            await loop.create_server(lambda: factory(True), facts["host"],
                                     facts["port_require_starttls"]),
        ]
        await asyncio.gather(*(s.serve_forever() for s in servers))

    asyncio.run(serve())


if __name__ == "__main__":
    main()
