"""The organisational domain of a name (RFC 7489 §3.2): one label more than its public
suffix, by the Public Suffix List.

The list is data that changes every month, so it comes from the `publicsuffixlist` package,
which ships a copy offline (no fetch at run time) and is updated with it. Loading the list
takes ~90 ms: done once, when the first DMARC lookup falls back to the organisational domain.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _psl() -> Any:
    from publicsuffixlist import PublicSuffixList

    return PublicSuffixList()


def organisational_domain(domain: str) -> str | None:
    """``sub.corp.example.co.uk`` → ``example.co.uk``; a name that is itself a public suffix
    (``co.uk``, ``test``) has none. A TLD the list does not know counts as a public suffix
    (the list's default rule `*`), so ``sub.corp.test`` → ``corp.test``."""
    name = domain.strip().rstrip(".").lower()
    if not name:
        return None
    found: str | None = _psl().privatesuffix(name)
    return found
