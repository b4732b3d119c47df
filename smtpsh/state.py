"""Where smtpsh keeps its files (XDG base directories), and the hosts file.

Every session start touches these (is there a config file? remember the host), so this
module uses os.path only: pathlib and the config parser cost a piped run ~10 ms it does not
need when there is no config file (bench/bench_session.py).
"""

from __future__ import annotations

import os
import re
from collections.abc import Awaitable, Callable

_HOST_RE = re.compile(r"^[A-Za-z0-9_.:\[\]-]{1,300}$")
HOSTS_KEEP = 200  # the hosts file is trimmed to this many distinct hosts

PathLike = str | os.PathLike[str]


def config_file() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "smtpsh", "config.toml")


def state_dir() -> str:
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return os.path.join(base, "smtpsh")


def hosts_file() -> str:
    """The servers connected to, one a line: the shell completions read it."""
    return os.path.join(state_dir(), "hosts")


def remember_host(target: str, path: PathLike | None = None) -> None:
    """Append *target* (as typed: host, host:port, [v6]:port) to the hosts file, 0600.

    Best effort: completion data is never worth an error message in the middle of a session.
    """
    if not _HOST_RE.match(target):
        return
    from smtpsh.safefile import open_private, replace_private

    path = os.fspath(path or hosts_file())
    try:
        # No symlink followed, nobody else's file written.
        fd = open_private(path, append=True, make_parents=True)
        with os.fdopen(fd, "a", encoding="utf-8") as stream:
            stream.write(target + "\n")
        hosts = known_hosts(path)
        if len(hosts) > HOSTS_KEEP:
            # Keep the most recent distinct ones, oldest first, as they were appended.
            kept = "".join(h + "\n" for h in reversed(hosts[:HOSTS_KEEP]))
            replace_private(path, kept.encode("utf-8"))
    except OSError:
        pass


def known_hosts(path: PathLike | None = None) -> list[str]:
    """Distinct hosts from the hosts file, most recent first."""
    try:
        with open(path or hosts_file(), encoding="utf-8") as stream:
            lines = stream.read().splitlines()
    except (OSError, UnicodeDecodeError):
        return []
    seen: dict[str, None] = {}
    for line in reversed(lines):
        if _HOST_RE.match(line):
            seen.setdefault(line, None)
    return list(seen)


def host_recorder(target: str) -> Callable[[object], Awaitable[None]]:
    """An ``on_connect`` hook for the shell: remember *target* once the banner arrived."""

    async def record(shell: object) -> None:
        remember_host(target)

    return record
