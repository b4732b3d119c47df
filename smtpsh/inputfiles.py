"""Files named on a command line, checked before anything is sent: one line naming the
option and the file ("--cafile /nope.pem: no such file"), instead of an errno after the
connection is open. Only os is imported: the check runs on the start-up path."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable


def file_problem(path: str) -> str | None:
    """Why ``path`` cannot be read as a file, in words; None if it can."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return "no such file"
    except PermissionError:
        return "permission denied"
    except OSError as exc:
        return (exc.strerror or str(exc)).lower()
    if stat.S_ISDIR(info.st_mode):
        return "is a directory, not a file"
    if not os.access(path, os.R_OK):
        return "permission denied"
    return None


def first_problem(named: Iterable[tuple[str, str | None]]) -> str | None:
    """The first of (option, path) pairs whose file cannot be read, as one line."""
    for option, path in named:
        if path:
            problem = file_problem(path)
            if problem is not None:
                return f"{option} {path}: {problem}"
    return None
