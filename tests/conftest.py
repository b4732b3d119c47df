"""Shared fixtures: the loopback Postfix set up by scripts/setup-test-env, and free ports.

Use in a test::

    from typing import TYPE_CHECKING
    if TYPE_CHECKING:
        from conftest import PostfixEnv

    def test_banner(postfix: PostfixEnv) -> None:
        host, port = postfix.host, postfix.port("smtps")

Profiles (postfix.port(name)): smtp (25, also on ::1), smtps (implicit TLS), open_relay,
no_vrfy, wrong_name, expired, submission (STARTTLS required), bigmsg (no size limit,
relays to discard), strict_newline (a bare LF is refused). See scripts/postfix-setup.
"""

from __future__ import annotations

import json
import os
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, settings

from tests.helpers.ports import pick_free_port
from tests.interop.servers import banner as read_banner

if TYPE_CHECKING:
    from tests.helpers.tmux import Screen

# Property tests check what the code does, not how fast it does it (speed lives in bench/):
# on a loaded machine hypothesis' default deadline of 200 ms a case, and its health check
# for slow data generation, failed tests whose code was right.
settings.register_profile(
    "smtpsh", deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("smtpsh")

FACTS_FILE = Path("/var/lib/smtpsh-test/postfix.json")
_POLL = 0.1
# mbox: every message starts with a "From " line (body lines are escaped as ">From ").


def _message_holding(mbox: bytes, needle: bytes) -> str | None:
    """The first mbox message (from its "From " line to the next) that holds ``needle``.
    Found with bytes.find, not by splitting the whole mailbox: the test mailboxes grow to
    hundreds of MB over runs (5 MB messages), and a split of that took seconds a poll."""
    at = mbox.find(needle)
    if at < 0:
        return None
    start = mbox.rfind(b"\nFrom ", 0, at) + 1  # 0: the first message
    end = mbox.find(b"\nFrom ", at)
    return mbox[start : len(mbox) if end < 0 else end + 1].decode("utf-8", "replace")


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@dataclass(frozen=True)
class PostfixEnv:
    """Facts about the test Postfix (from postfix.json) plus helpers to observe it."""

    host: str
    host6: str | None
    hostname: str
    domain: str
    banner: str
    ports: dict[str, int]
    tls_modes: dict[str, str]  # profile -> "starttls" | "implicit" | "required"
    ca_file: Path
    certs: dict[str, Path]  # "server" | "wrong-name" | "expired" -> certificate PEM
    users: tuple[str, ...]
    log_file: Path
    spool_dir: Path
    raw: dict[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_file(cls, path: Path = FACTS_FILE) -> PostfixEnv:
        facts: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            host=facts["host"],
            host6=facts.get("host6"),
            hostname=facts["hostname"],
            domain=facts["domain"],
            banner=facts["banner"],
            ports={k: int(v) for k, v in facts["ports"].items()},
            tls_modes={k: str(v["tls"]) for k, v in facts["profiles"].items()},
            ca_file=Path(facts["ca_file"]),
            certs={k: Path(v["cert"]) for k, v in facts["certs"].items()},
            users=tuple(facts["users"]),
            log_file=Path(facts["log_file"]),
            spool_dir=Path(facts["mail_spool_dir"]),
            raw=facts,
        )

    def port(self, profile: str = "smtp") -> int:
        try:
            return self.ports[profile]
        except KeyError:
            known = ", ".join(sorted(self.ports))
            raise KeyError(f"no Postfix profile {profile!r} (known: {known})") from None

    def address(self, profile: str = "smtp") -> tuple[str, int]:
        return self.host, self.port(profile)

    def tls_context(self) -> ssl.SSLContext:
        """A client context that trusts only the test CA (hostname checks on)."""
        return ssl.create_default_context(cafile=str(self.ca_file))

    def mailbox(self, user: str) -> Path:
        return self.spool_dir / user

    # --- log ---------------------------------------------------------------------------
    def log_mark(self) -> int:
        """Current end of the Postfix log; pass it to log_since() later."""
        try:
            return self.log_file.stat().st_size
        except FileNotFoundError:
            return 0

    def log_since(self, mark: int) -> list[str]:
        """Complete log lines written after `mark` (from the start if the log was truncated)."""
        try:
            with self.log_file.open("rb") as fh:
                size = fh.seek(0, os.SEEK_END)
                fh.seek(mark if mark <= size else 0)
                data = fh.read()
        except FileNotFoundError:
            return []
        # A line still being written has no newline yet: leave it for the next call.
        text = data[: data.rfind(b"\n") + 1].decode("utf-8", "replace")
        return text.splitlines()

    def wait_for_log(self, needle: str, mark: int, timeout: float = 30.0) -> str:
        """First log line after `mark` containing `needle`; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            for line in self.log_since(mark):
                if needle in line:
                    return line
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no Postfix log line containing {needle!r} within {timeout}s "
                    f"in {self.log_file}"
                )
            time.sleep(_POLL)

    # --- mail --------------------------------------------------------------------------
    def wait_for_mail(self, user: str, needle: str, timeout: float = 30.0) -> str:
        """The mbox message for `user` that contains `needle` (use a unique needle, e.g. a
        fresh Message-ID: the mbox keeps earlier runs' mail). AssertionError on timeout."""
        box = self.mailbox(user)
        deadline = time.monotonic() + timeout
        while True:
            try:
                data = box.read_bytes()
            except FileNotFoundError:
                data = b""
            except PermissionError:
                raise AssertionError(
                    f"cannot read {box}: tests that read mail must run as root"
                ) from None
            message = _message_holding(data, needle.encode())
            if message is not None:
                return message
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"no mail containing {needle!r} for {user} within {timeout}s in {box}"
                )
            time.sleep(_POLL)


def _load_postfix() -> tuple[PostfixEnv | None, str]:
    try:
        env = PostfixEnv.from_file()
    except FileNotFoundError:
        return None, f"{FACTS_FILE} is missing"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return None, f"{FACTS_FILE} is unreadable: {exc!r}"
    try:
        banner = read_banner(*env.address("smtp"), timeout=3.0)
    except OSError as exc:
        return None, f"Postfix does not answer on {env.host}:{env.port('smtp')}: {exc}"
    if not banner.startswith("220"):
        return None, f"Postfix answered {banner!r} instead of a 220 banner"
    return env, ""


@pytest.fixture(scope="session")
def postfix() -> PostfixEnv:
    """The loopback Postfix. Missing or down: fails under CI=true, else skips."""
    env, reason = _load_postfix()
    if env is None:
        if _in_ci():
            pytest.fail(f"loopback Postfix unavailable: {reason}", pytrace=False)
        pytest.skip(f"loopback Postfix unavailable ({reason}); run scripts/setup-test-env")
    return env


@pytest.fixture
def free_port() -> int:
    """A currently free 127.0.0.1 port (TCP and UDP). Call pick_free_port() for more."""
    return pick_free_port()


@pytest.fixture
def screens() -> Iterator[list[Screen]]:
    """The terminals (tests.helpers.tmux.Screen) a test opens: closed after it, passed or
    failed. (Some older test files still define their own.)"""
    opened: list[Screen] = []
    yield opened
    for screen in opened:
        screen.close()
