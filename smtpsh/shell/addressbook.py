"""Addresses used with a server, kept across connections and sessions for completion.

One file in the state directory (mode 0600, opened without following a symlink), a line
"server<TAB>address" per address: the envelope addresses typed after MAIL FROM:, RCPT TO:,
VRFY and EXPN. Never message contents. Best effort: a file that cannot be read or written
is an empty address book, not an error in the middle of a session.
"""

from __future__ import annotations

import contextlib
import os

from smtpsh import state

KEEP_PER_SERVER = 200  # the most recent addresses of each server are kept


def book_file() -> str:
    return os.path.join(state.state_dir(), "addresses")


def _clean(text: str) -> bool:
    return bool(text) and text.isprintable() and "\t" not in text and len(text) <= 320


class AddressBook:
    """The addresses used with one server (``key``: host:port), most recent last."""

    def __init__(self, key: str, path: str | None = None) -> None:
        self.key = key
        self.path = path or book_file()
        self._all: list[tuple[str, str]] | None = None  # loaded on first use

    def _load(self) -> list[tuple[str, str]]:
        if self._all is None:
            self._all = []
            try:
                fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW)
                with os.fdopen(fd, encoding="utf-8", errors="replace") as stream:
                    for line in stream:
                        server, sep, address = line.rstrip("\n").partition("\t")
                        if sep and _clean(server) and _clean(address):
                            self._all.append((server, address))
            except OSError:
                pass
        return self._all

    def addresses(self) -> list[str]:
        """This server's addresses, most recently used first."""
        seen: dict[str, None] = {}
        for server, address in reversed(self._load()):
            if server == self.key:
                seen.setdefault(address, None)
        return list(seen)

    def add(self, address: str) -> None:
        if not _clean(address) or address in self.addresses()[:1]:
            return
        entries = [e for e in self._load() if e != (self.key, address)]
        entries.append((self.key, address))
        mine = [e for e in entries if e[0] == self.key]
        if len(mine) > KEEP_PER_SERVER:
            drop = set(mine[: len(mine) - KEEP_PER_SERVER])
            entries = [e for e in entries if e not in drop]
        self._all = entries
        self._save()

    def _save(self) -> None:
        assert self._all is not None
        tmp = f"{self.path}.{os.getpid()}.tmp"
        try:
            os.makedirs(os.path.dirname(self.path) or ".", mode=0o700, exist_ok=True)
            fd = os.open(tmp, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                stream.writelines(f"{server}\t{address}\n" for server, address in self._all)
            os.replace(tmp, self.path)  # replaces a symlink itself, never follows it
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
