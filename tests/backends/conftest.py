"""The real back-ends of scripts/setup-backends: Dovecot (SASL for Postfix, LMTP),
Postfix listeners for SASL, XCLIENT and PROXY, and microsocks. Facts come from
/var/lib/smtpsh-test/backends.json; missing or down fails under CI=true, else skips."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.run import smtpsh_env

FACTS_FILE = Path("/var/lib/smtpsh-test/backends.json")
CA_FILE = "/var/lib/smtpsh-test/ca.pem"
POSTFIX_LOG = Path("/var/log/postfix.log")


@dataclass(frozen=True)
class Backends:
    host: str
    ports: dict[str, int]
    dovecot: dict[str, Any]
    socks: dict[str, str]
    versions: dict[str, str]
    blocked_address: str
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def user(self) -> str:
        return str(self.dovecot["user"])

    @property
    def password(self) -> str:
        return str(self.dovecot["password"])

    def target(self, name: str) -> str:
        return f"{self.host}:{self.ports[name]}"


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _load() -> tuple[Backends | None, str]:
    try:
        facts: dict[str, Any] = json.loads(FACTS_FILE.read_text(encoding="utf-8"))
        env = Backends(
            host=facts["host"],
            ports={k: int(v) for k, v in facts["ports"].items()},
            dovecot=facts["dovecot"],
            socks=facts["socks"],
            versions=facts["versions"],
            blocked_address=facts["xclient_blocked_address"],
            raw=facts,
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{FACTS_FILE} missing or unreadable: {exc!r}"
    targets: list[tuple[int, object]] = [
        (socket.AF_INET, (env.host, port)) for port in env.ports.values()
    ]
    targets += [
        (socket.AF_INET, (env.host, env.dovecot["lmtp_port"])),
        (socket.AF_UNIX, env.dovecot["lmtp_socket"]),
    ]
    for family, address in targets:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect(address)  # type: ignore[arg-type]
        except OSError as exc:
            return None, f"{address} does not answer: {exc}"
    return env, ""


@pytest.fixture(scope="session")
def backends() -> Backends:
    env, reason = _load()
    if env is None:
        if _in_ci():
            pytest.fail(f"back-ends unavailable: {reason}", pytrace=False)
        pytest.skip(f"back-ends unavailable ({reason}); run scripts/setup-test-env")
    return env


NTLM_FACTS_FILE = Path("/var/lib/smtpsh-test/ntlm.json")


@dataclass(frozen=True)
class Ntlm:
    """The AUTH NTLM path: Postfix -> Dovecot (auth_use_winbind) -> Samba winbindd."""

    host: str
    port: int
    domain: str
    user: str
    password: str = field(repr=False)
    log_file: Path
    versions: dict[str, str]

    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def qualified_user(self) -> str:
        return f"{self.domain}\\{self.user}"


@pytest.fixture(scope="session")
def ntlm() -> Ntlm:
    try:
        facts: dict[str, Any] = json.loads(NTLM_FACTS_FILE.read_text(encoding="utf-8"))
        env = Ntlm(
            host=facts["host"], port=int(facts["port"]), domain=facts["domain"],
            user=facts["user"], password=facts["password"], log_file=Path(facts["log_file"]),
            versions=facts["versions"],
        )  # fmt: skip
        with socket.create_connection((env.host, env.port), timeout=3):
            pass
    except (OSError, ValueError, KeyError, TypeError) as exc:
        if _in_ci():
            pytest.fail(f"the NTLM back-end is unavailable: {exc!r}", pytrace=False)
        pytest.skip(f"the NTLM back-end is unavailable ({exc!r}); run scripts/setup-test-env")
    return env


@pytest.fixture
def password_file(tmp_path: Path, backends: Backends) -> Path:
    path = tmp_path / "password"
    path.write_text(backends.password + "\n")
    path.chmod(0o600)
    return path


def smtpsh(
    args: list[str], script: str = "", home: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """`printf script | smtpsh args` (piped), NO_COLOR for plain text."""
    home = home or Path("/tmp")
    env = smtpsh_env(home)
    env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "smtpsh", *args],
        input=script,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def log_mark(path: Path = POSTFIX_LOG) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def wait_for_log(needle: str, mark: int, path: Path = POSTFIX_LOG, timeout: float = 30) -> str:
    """The first line after ``mark`` containing ``needle`` (AssertionError on timeout)."""
    deadline = time.monotonic() + timeout
    while True:
        with path.open("rb") as fh:
            fh.seek(mark)
            text = fh.read().decode("utf-8", "replace")
        for line in text.splitlines():
            if needle in line:
                return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no line with {needle!r} in {path} within {timeout} s")
        time.sleep(0.1)


# --- the back-end matrix, printed at the end of the run ------------------------------------
# A test that stands for a row calls the ``matrix_row`` fixture: its verdict and time are
# printed in a table after the run, beside the real component and its version.

_ROWS: dict[str, tuple[str, str, bool, float]] = {}  # nodeid -> (row, component, passed, s)


@pytest.fixture
def matrix_row(
    backends: Backends, record_property: Callable[[str, object], None]
) -> Callable[..., None]:
    def mark(row: str, component: str, more: dict[str, str] | None = None) -> None:
        # "Postfix + Dovecot SASL" -> "Postfix 3.7.11 + Dovecot …"
        versions = {**backends.versions, **(more or {})}
        words = [
            f"{w} {versions[w.lower()]}" if w.lower() in versions else w for w in component.split()
        ]
        record_property("matrix_row", row)
        record_property("matrix_component", " ".join(words))

    return mark


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    props = dict(report.user_properties)
    if "matrix_row" not in props or report.when != "call":
        return
    _ROWS[report.nodeid] = (
        str(props["matrix_row"]),
        str(props["matrix_component"]),
        report.passed,
        report.duration,
    )


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not _ROWS:
        return
    terminalreporter.section("back-end matrix (real components, scripts/setup-backends)")
    rows = sorted(_ROWS.values())
    width = max(len(row) for row, *_ in rows)
    comp = max(len(component) for _, component, *_ in rows)
    for row, component, passed, seconds in rows:
        verdict = "PASS" if passed else "FAIL"
        terminalreporter.write_line(
            f"{row:<{width}}  {component:<{comp}}  {verdict} {seconds:5.1f}s"
        )
    passed = sum(1 for *_, ok, _ in rows if ok)
    terminalreporter.write_line(f"{passed}/{len(rows)} rows passed")


@pytest.fixture
def socks_args(backends: Backends, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The options that take a command through the loopback microsocks, with its user and
    the password in the environment (never in argv)."""
    monkeypatch.setenv("SMTPSH_SOCKS_PW", backends.socks["password"])
    return [
        "--socks5", f"{backends.socks['user']}@{backends.host}:{backends.ports['socks']}",
        "--socks5-password-env", "SMTPSH_SOCKS_PW",
    ]  # fmt: skip
