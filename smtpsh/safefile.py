"""Opening the files smtpsh writes (transcripts, history, the hosts file, enum results)
without being turned against another file, and reading the ones it is given with a bound.

The threat is a path an attacker prepared: a symbolic link (``--record /tmp/x.smtpt``
where /tmp/x.smtpt points at ~/.bashrc), a hard link to someone's file, a FIFO or a
device. So: the last component is never followed (O_NOFOLLOW); a new file is created
with O_EXCL and mode 0600; an existing one is used only when it is a regular file of ours
with one link, and its mode is left as its owner set it (smtpsh chmods only what it made);
missing parent directories are made 0700 whatever the umask.

os only (no pathlib): the hosts file is written on the path of every session start.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Callable

PathLike = str | os.PathLike[str]

# An existing file may be overwritten only when this says it is one of its kind
# (e.g. a transcript starts with its header): else the path names someone else's file.
Recognise = Callable[[bytes], bool]


class UnsafePath(OSError):
    """A path smtpsh refuses to write through; ``str()`` says why in one line."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.strerror = reason


def make_private_dirs(directory: PathLike) -> None:
    """Create ``directory`` and its missing parents, each 0700 (os.makedirs gives the
    parents 0777 less the umask: world-writable under umask 000)."""
    directory = os.path.abspath(os.fspath(directory))
    missing: list[str] = []
    while not os.path.isdir(directory):
        missing.append(directory)
        parent = os.path.dirname(directory)
        if parent == directory:
            break
        directory = parent
    for path in reversed(missing):
        try:
            os.mkdir(path, 0o700)
        except FileExistsError:
            continue
        os.chmod(path, 0o700)  # ours, just made: the umask may have taken bits off 0700


def open_private(
    path: PathLike,
    *,
    append: bool = False,
    recognise: Recognise | None = None,
    what: str = "file",
    make_parents: bool = False,
) -> int:
    """A file descriptor to write ``path``: created 0600, or an existing regular file of
    ours (truncated unless ``append``). UnsafePath for a symlink, a hard link, another
    user's file, something not a regular file, or (with ``recognise``) a file that is not
    of the kind being written. ``make_parents``: missing parent directories are made 0700
    (smtpsh's own state; a path the user typed with a missing directory is an error)."""
    name = os.fspath(path)
    flags = os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW | (os.O_APPEND if append else 0)
    parent = os.path.dirname(name)
    if parent and make_parents:
        make_private_dirs(parent)
    try:
        return os.open(name, flags | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    try:
        fd = os.open(name, flags | os.O_NONBLOCK)  # a FIFO must not block the open
    except OSError as exc:
        if os.path.islink(name):
            raise UnsafePath(name, "is a symbolic link: refused") from None
        raise exc
    try:
        _check_existing(fd, name, recognise, what)
        if not append:
            os.ftruncate(fd, 0)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _check_existing(fd: int, name: str, recognise: Recognise | None, what: str) -> None:
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        raise UnsafePath(name, "exists and is not a regular file: refused")
    if info.st_uid != os.geteuid():
        raise UnsafePath(name, "exists and belongs to another user: refused")
    if info.st_nlink > 1:
        raise UnsafePath(name, "exists with other hard links to it: refused")
    if recognise is not None and info.st_size:
        with open(name, "rb", opener=_no_follow) as stream:
            head = stream.read(256)
        if not recognise(head):
            raise UnsafePath(
                name, f"exists and is not a {what}: refused (remove it or pick another name)"
            )


def _no_follow(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC)


def replace_private(path: PathLike, data: bytes) -> None:
    """Write ``data`` to a new 0600 file beside ``path``, then rename it over ``path``
    (the rename replaces a symlink itself, never what it points at)."""
    name = os.fspath(path)
    tmp = f"{name}.tmp{os.getpid()}"
    try:
        fd = open_private(tmp)
    except UnsafePath:
        os.unlink(tmp)  # a leftover (or a planted link) in our own directory
        fd = open_private(tmp)
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.replace(tmp, name)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_limited(path: PathLike, limit: int) -> bytes:
    """The content of a regular file of at most ``limit`` bytes (symlinks to one are
    followed: a dotfiles manager links config files). OSError / UnsafePath say why not:
    a device such as /dev/zero or a FIFO would never end, a huge file is not a config."""
    name = os.fspath(path)
    with open(name, "rb", opener=_nonblocking) as stream:
        info = os.fstat(stream.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePath(name, "is not a regular file")
        data = stream.read(limit + 1)
    if len(data) > limit:
        raise UnsafePath(name, f"is larger than {limit // 1024} KiB")
    return data


def _nonblocking(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NONBLOCK | os.O_CLOEXEC)
