"""How many failed commands a connection can afford before the server's tarpit bites.

Real MTAs punish clients that make errors: stock Postfix sleeps 1 s before every reply once
a connection has made ``smtpd_soft_error_limit = 10`` errors and says ``421`` after
``smtpd_hard_error_limit = 20``. A tool that checks many names therefore stays under the
soft limit on each connection and reconnects. The budget starts at Postfix's stock value
(the most common MTA's; what it rests on is said for the server's family where that is
known, FAMILY_SOURCES) and is lowered when a server shows its limit earlier: a reply that
is suddenly slow after some fast ones, or a disconnection. Sans-IO: callers report
latencies and events; nothing here sleeps or touches a socket.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field

# Stock Postfix: the first 10 errors are answered at once, the 11th reply waits 1 s.
DEFAULT_ERRORS_PER_CONNECTION = 10
# A reply is "slow" when it takes this much longer than the usual fast reply ...
SLOW_FACTOR = 20.0
# ... and at least this long (loopback replies take ~1 ms; tarpits sleep a second or more).
SLOW_MINIMUM = 0.3
_WINDOW = 64  # recent fast latencies kept for the baseline

# What the assumed budget rests on, said in the summary: the limit of the server's family
# where it has a documented one (by fingerprint.py's family names), else the generic line.
# The number stays DEFAULT_ERRORS_PER_CONNECTION; a server that shows another limit lowers
# it (learnt, and said so).
GENERIC_SOURCE = ("assumed 10 errors a connection: a common default, e.g. Postfix's"
                  " smtpd_soft_error_limit")
FAMILY_SOURCES: dict[str, str] = {
    "Postfix": "assumed: Postfix's stock smtpd_soft_error_limit, 10 (past it every reply"
               " waits smtpd_error_sleep_time, 1 s)",
    "Exim": "assumed 10, a common default: stock Exim counts no refused RCPT or VRFY (an"
            " ACL may delay them); its smtp_accept_max_nonmail (10) counts every VRFY and"
            " EXPN, refused or not, and smtp_max_synprot_errors (3) only syntax and"
            " protocol errors",
}


@dataclass
class ErrorBudget:
    """Negative replies one connection may draw before it is closed and a new one opened."""

    limit: int = DEFAULT_ERRORS_PER_CONNECTION
    fixed: bool = False  # given by --errors-per-connection: never changed
    source: str = GENERIC_SOURCE
    slow_replies: int = 0  # replies that were slow with no error before them (not a tarpit)
    tarpit_seen: int = 0  # slow replies after errors: the tarpit bit (should stay at 0-1)
    _fast: deque[float] = field(default_factory=lambda: deque(maxlen=_WINDOW))

    @classmethod
    def given(cls, limit: int) -> ErrorBudget:
        return cls(limit=limit, fixed=True, source="given with --errors-per-connection")

    def assume_for(self, family: str | None) -> None:
        """Name what the assumed budget rests on for a server of ``family`` (None: not
        known); a budget given or already learnt is left as it is."""
        if self.fixed or not self.source.startswith("assumed"):
            return
        self.source = FAMILY_SOURCES.get(family or "", GENERIC_SOURCE)

    @property
    def baseline(self) -> float:
        """The usual latency of a reply (median of the recent fast ones)."""
        return statistics.median(self._fast) if self._fast else 0.0

    def is_slow(self, latency: float) -> bool:
        if latency <= SLOW_MINIMUM:
            return False  # fast whatever the baseline: no median to take (one a reply)
        return latency > SLOW_FACTOR * self.baseline

    def exhausted(self, errors: int) -> bool:
        """True when a connection that has drawn ``errors`` must not send another command."""
        return errors >= self.limit

    def observe(self, latency: float, errors_before: int) -> bool:
        """Record one reply's latency; True means the tarpit bit: abandon this connection.

        ``errors_before`` is how many negative replies this connection had drawn before the
        command this reply answers.
        """
        if not self.is_slow(latency):
            self._fast.append(latency)
            return False
        if errors_before == 0:
            # Slow with a clean record: the server (or network) is just slow. Not a limit.
            self.slow_replies += 1
            return False
        self.tarpit_seen += 1
        self._lower(errors_before, f"learnt: the server slowed down after {errors_before} errors")
        return True

    def on_lost(self, errors_before: int, how: str) -> None:
        """The server hung up (421, close, silence) after ``errors_before`` errors."""
        if errors_before > 0:
            self._lower(errors_before, f"learnt: the server {how} after {errors_before} errors")

    def _lower(self, limit: int, source: str) -> None:
        if not self.fixed and limit < self.limit:
            self.limit = max(1, limit)
            self.source = source
