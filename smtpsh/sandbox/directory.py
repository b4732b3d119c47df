"""The sandbox's demo domain: who exists, which lists expand to whom, and how to answer.

Pure data and lookups (no sockets, no aiosmtpd) so the policy can be tested on its own.
Reply texts imitate Postfix, the MTA learners most often meet, so that what they see in
the sandbox is what they will see on a real server.
"""

from __future__ import annotations

import enum
import hmac
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

DEMO_DOMAIN = "sandbox.test"

# local-part -> real name.  postmaster must exist on every mail domain (RFC 5321 §4.5.1).
DEMO_USERS: Mapping[str, str] = MappingProxyType(
    {
        "alice": "Alice Example",
        "bob": "Bob Example",
        "carol": "Carol Example",
        "postmaster": "Postmaster",
    }
)

# Mailing lists: EXPN answers their members; RCPT accepts them like a user.
DEMO_LISTS: Mapping[str, tuple[str, ...]] = MappingProxyType({"staff": ("alice", "bob", "carol")})

DEMO_CREDENTIALS: tuple[str, str] = ("alice", "sandbox-pass")


class Kind(enum.Enum):
    """What an address given to VRFY, EXPN or RCPT turns out to be."""

    USER = "user"
    LIST = "list"
    UNKNOWN = "unknown"  # our domain, no such mailbox
    REMOTE = "remote"  # another domain: relaying
    BAD = "bad"  # not an address at all


# Every reply the sandbox's own policy produces, Postfix-worded.  `{addr}` is the address
# as the client wrote it, `{arg}` the raw argument.  VRFY answers 252 like Postfix: the
# user exists, but 252 officially means "cannot verify, will try delivery" — so a learner
# has to compare with the answer for a name that cannot exist (that is the lesson).
REPLIES: Mapping[str, str] = MappingProxyType(
    {
        "mail_ok": "250 2.1.0 Ok",
        "rcpt_ok": "250 2.1.5 Ok",
        "rcpt_unknown": (
            "550 5.1.1 <{addr}>: Recipient address rejected: User unknown in local recipient table"
        ),
        # Stock Postfix defers (smtpd_relay_restrictions = ... defer_unauth_destination).
        "relay_denied": "454 4.7.1 <{addr}>: Relay access denied",
        "rcpt_bad": "501 5.1.3 Bad recipient address syntax",
        "vrfy_known": "252 2.0.0 {arg}",
        "vrfy_remote": "252 2.0.0 {arg}",
        "expn_user": "250 2.1.5 {mailbox}",
        "expn_member": "250{sep}2.1.5 {mailbox}",
        "expn_unknown": "550 5.1.1 <{addr}>: User unknown",
        "expn_syntax": "501 5.5.4 Syntax: EXPN <list>",
        "expn_bad": "501 5.1.3 Bad recipient address syntax",
        "expn_remote": "550 5.1.2 <{addr}>: EXPN only expands lists of this domain",
        "queued": "250 2.0.0 Ok: queued as {queue_id}",
        # Policies a scenario can switch on (smtpsh/sandbox/scenarios/*.toml).
        "vrfy_disabled": "502 5.5.1 VRFY command is disabled",
        "not_recognized": "500 5.5.2 Error: command not recognized",  # measured: Postfix 3.7
        "too_many_errors": "421 4.7.0 {host} Error: too many errors",
        "vrfy_needs_domain": "501 5.1.3 {arg}: recipient address must contain a domain",
        "vrfy_deliverable": "250 2.1.5 <{addr}> is deliverable",
        "vrfy_unrouteable": "550 5.1.1 <{addr}>: Recipient address rejected: User unknown",
        "domain_literal": "501 5.1.7 <{addr}>: domain literals not allowed",
        "too_many_nonmail": "554 5.7.0 Too many nonmail commands",
    }
)

# Exim 4's wording for the same situations (no enhanced status codes: Exim sends none unless
# configured to). Measured against Exim 4.96 with Debian's defaults.
EXIM_REPLIES: Mapping[str, str] = MappingProxyType(
    {
        "mail_ok": "250 OK",
        "rcpt_ok": "250 Accepted",
        "rcpt_unknown": "550 Unrouteable address",
        "relay_denied": "550 relay not permitted",
        "rcpt_bad": "501 <{addr}>: malformed address",
        "vrfy_known": "250 <{addr}> is deliverable",
        "vrfy_remote": "550 <{addr}> relay not permitted",
        "expn_user": "250 {mailbox}",
        "expn_member": "250{sep}{mailbox}",
        "expn_unknown": "550 Unrouteable address",
        "expn_syntax": "501 EXPN must have an address operand",
        "expn_bad": "501 <{addr}>: malformed address",
        "expn_remote": "550 Administrative prohibition",
        "queued": "250 OK id={queue_id}",
        "vrfy_disabled": "252 Administrative prohibition",
        "not_recognized": "550 Administrative prohibition",
        "too_many_errors": "421 {host} too many syntax or protocol errors",
        "vrfy_needs_domain": "501 {arg}: recipient address must contain a domain",
        "vrfy_deliverable": "250 <{addr}> is deliverable",
        "vrfy_unrouteable": "550 <{addr}> Unrouteable address",
        "domain_literal": "501 <{addr}>: domain literals not allowed",
        "too_many_nonmail": "554 Too many nonmail commands",
    }
)
FAMILY_REPLIES: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {"postfix": REPLIES, "exim": EXIM_REPLIES}
)


@dataclass(frozen=True)
class Lookup:
    """The result of looking an address up in the directory."""

    kind: Kind
    address: str  # as given, without angle brackets
    local_part: str  # lower-cased; empty for BAD


@dataclass(frozen=True)
class Directory:
    """The demo domain's users, lists and AUTH credentials."""

    domain: str = DEMO_DOMAIN
    users: Mapping[str, str] = field(default_factory=lambda: DEMO_USERS)
    lists: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: DEMO_LISTS)
    credentials: tuple[str, str] = DEMO_CREDENTIALS

    def lookup(self, address: str) -> Lookup:
        """Classify an address; a bare local part counts as ours (Postfix appends myorigin)."""
        addr = address.strip()
        if addr.startswith("<") and addr.endswith(">"):
            addr = addr[1:-1]
        local, at, domain = addr.rpartition("@")
        if not at:
            local, domain = addr, self.domain
        if not local or not domain or any(c.isspace() for c in addr):
            return Lookup(Kind.BAD, addr, "")
        if domain.lower() != self.domain:
            return Lookup(Kind.REMOTE, addr, local.lower())
        # Local parts are matched case-insensitively, as Postfix's local table does.
        key = local.lower()
        if key in self.users:
            return Lookup(Kind.USER, addr, key)
        if key in self.lists:
            return Lookup(Kind.LIST, addr, key)
        return Lookup(Kind.UNKNOWN, addr, key)

    def members(self, list_name: str) -> tuple[str, ...]:
        return self.lists.get(list_name.lower(), ())

    def mailbox_line(self, local_part: str) -> str:
        """`Real Name <local@domain>` as EXPN and the welcome text show a user."""
        name = self.users.get(local_part, local_part)
        return f"{name} <{local_part}@{self.domain}>"

    def check_password(self, username: bytes, password: bytes) -> bool:
        user, secret = self.credentials
        # Compare both halves even when the first fails: no timing hint about which was wrong.
        ok_user = hmac.compare_digest(username, user.encode())
        ok_pass = hmac.compare_digest(password, secret.encode())
        return ok_user and ok_pass

    def check_cram_md5(self, username: bytes, challenge: bytes, digest: bytes) -> bool:
        """RFC 2195: the client answers `user HEX(HMAC-MD5(password, challenge))`."""
        user, secret = self.credentials
        expected = hmac.new(secret.encode(), challenge, "md5").hexdigest().encode()
        ok_user = hmac.compare_digest(username, user.encode())
        ok_digest = hmac.compare_digest(digest.lower(), expected)
        return ok_user and ok_digest
