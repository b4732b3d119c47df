"""The real servers of the interop matrix, as scripts/setup-interop describes them in
/var/lib/smtpsh-test/interop.json."""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

FACTS_FILE = Path("/var/lib/smtpsh-test/interop.json")
# Known at collection time, so a server missing from the facts is a failed cell, not a
# silently smaller matrix. Keep in step with scripts/interop/facts.py.
SERVER_NAMES = ("postfix", "postfix_plain", "exim", "opensmtpd", "haraka", "nodemailer", "aiosmtpd",
                "aiosmtpd_tls")


@dataclass(frozen=True)
class Server:
    name: str
    host: str
    port: int
    family: str
    hostname: str
    domain: str
    tls: str  # "starttls" (offered) | "required" (530 before STARTTLS)
    auth: tuple[str, ...]  # mechanisms offered inside TLS
    users: tuple[str, ...]  # the users the test config defines: what enum must find
    aliases: tuple[str, ...]
    catch_all: bool
    ca_file: Path
    auth_user: str
    auth_password: str

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def address(self, local: str) -> str:
        return f"{local}@{self.domain}"


def load(name: str, path: Path = FACTS_FILE) -> Server:
    facts: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    s = facts["servers"][name]
    return Server(
        name=name, host=facts["host"], port=int(s["port"]), family=s["family"],
        hostname=s["hostname"], domain=s["domain"], tls=s["tls"], auth=tuple(s["auth"]),
        users=tuple(s["users"]), aliases=tuple(s["aliases"]), catch_all=bool(s["catch_all"]),
        ca_file=Path(facts["ca_file"]), auth_user=facts["auth"]["user"],
        auth_password=facts["auth"]["password"],
    )


def _facts_script() -> Any:
    """scripts/interop/facts.py, which sets the servers up and checks their banners: its
    banner() is the one the tests use too."""
    path = Path(__file__).resolve().parents[2] / "scripts" / "interop" / "facts.py"
    spec = importlib.util.spec_from_file_location("smtpsh_interop_facts", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_FACTS_SCRIPT = _facts_script()


def banner(host: str, port: int, timeout: float = 30.0) -> str:
    # Generous: OpenSMTPD looks the client up in DNS before its banner, and here the
    # resolver is unreachable, so about one connection in twenty waits exactly 5 s (a
    # 5 s limit made the server "unavailable", a failed run under CI=true). A server
    # that is down refuses at once; this only bounds one that is up but stuck.
    return str(_FACTS_SCRIPT.banner(host, port, timeout))


def available(name: str) -> tuple[Server | None, str]:
    """The server, or None and why it cannot be used."""
    try:
        server = load(name)
    except FileNotFoundError:
        return None, f"{FACTS_FILE} is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{FACTS_FILE} has no usable entry for {name}: {exc!r}"
    try:
        text = banner(server.host, server.port)
    except OSError as exc:
        return None, f"{name} does not answer on {server.target}: {exc}"
    if not text.startswith("220"):
        return None, f"{name} answered {text!r} instead of a 220 banner"
    return server, ""
