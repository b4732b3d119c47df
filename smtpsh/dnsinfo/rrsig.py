"""dnspython's DNSSEC module, loaded quietly, and why an RRSIG set did not verify, in
words: shared by the validator (dnssec.py) and the proofs of no DS (denial.py)."""

from __future__ import annotations

import warnings
from typing import Any

import dns.rrset


def dnssec_module() -> Any:
    with warnings.catch_warnings():
        # cryptography warns about DSA when dnspython loads its algorithms: not ours to print.
        warnings.simplefilter("ignore")
        import dns.dnssec

    return dns.dnssec


def _utc(seconds: int) -> str:
    import datetime

    moment = datetime.datetime.fromtimestamp(seconds, datetime.UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def signature_failure(sigs: dns.rrset.RRset, exc: Exception, now: float | None = None) -> str:
    """Why ``sigs`` did not verify, in words: dnspython says only "no RRSIGs validated",
    and an expired signature (the commonest DNSSEC failure) deserves its date."""
    import time

    now = time.time() if now is None else now
    expirations = [int(sig.expiration) for sig in sigs]  # type: ignore[attr-defined]
    inceptions = [int(sig.inception) for sig in sigs]  # type: ignore[attr-defined]
    if expirations and all(e < now for e in expirations):
        return f"its signature expired on {_utc(max(expirations))}"
    if inceptions and all(i > now for i in inceptions):
        return f"its signature is not valid before {_utc(min(inceptions))}"
    return f"its signature does not verify ({exc})"
