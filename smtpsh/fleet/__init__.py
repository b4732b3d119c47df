"""Many targets at once: `smtpsh probe|relay|enum|tls|dns` over a list, a CIDR or a range.

targets.py turns -T files and positional words into hosts (sans-IO, no network); runner.py
runs one command's per-host job over them with bounded concurrency, a politeness delay,
per-host deadlines, JSON Lines streamed per host and resume; jobs.py says what each command
does for one host (the audit modules stay one-host libraries); command.py is the front
door the CLI calls. Headless: text reaches the terminal only through smtpsh.output.
"""

from __future__ import annotations

import argparse

# The commands that take many targets, and the name of each one's positional argument.
TARGET_DEST = {"probe": "target", "relay": "target", "enum": "target", "tls": "target",
               "dns": "domain"}  # fmt: skip


def is_many(word: str) -> bool:
    """Whether one positional word stands for more than one host: a CIDR block
    (192.0.2.0/24) or an address range (192.0.2.10-20); a name with a hyphen is one host."""
    host = word[1:].partition("]")[0] if word.startswith("[") else word
    if host.count(":") == 1:
        host = host.partition(":")[0]
    if "/" in host:
        return True
    first, dash, _ = host.partition("-")
    return bool(dash) and bool(first) and all(c in "0123456789abcdefABCDEF.:" for c in first) \
        and ("." in first or ":" in first)


def wants_many(args: argparse.Namespace, command: str) -> bool:
    """A many-target run: -T, --jsonl/--resume, several targets, or a block or a range
    (else the command's own one-host run, as before)."""
    words: list[str] = getattr(args, TARGET_DEST[command]) or []
    return bool(
        getattr(args, "targets_file", None) or getattr(args, "jsonl", None)
        or getattr(args, "resume", None) or len(words) > 1 or any(map(is_many, words))
    )
