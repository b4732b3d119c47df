"""MAIL FROM / RCPT TO lines taken apart: the path, its mailbox and the ESMTP parameters.

Lenient on purpose (this is a testing tool): a line that breaks RFC 5321 is still parsed as
far as it goes and what is wrong becomes a *problem* (a warning before sending), never an
exception. The length limits of RFC 5321 §4.5.3.1 are data in ``ADDRESS_LIMITS``.
"""

from __future__ import annotations

import re

from smtpsh.protocol.record import Record


class Limit(Record):
    __slots__ = ("octets", "part", "section")

    def __init__(self, part: str, octets: int, section: str) -> None:
        self.part = part  # which part of the address
        self.octets = octets
        self.section = section  # where RFC 5321 says so


# RFC 5321 §4.5.3.1: the path counts its punctuation ("<", ">", a source route's ":").
ADDRESS_LIMITS: tuple[Limit, ...] = (
    Limit("local-part", 64, "§4.5.3.1.1"),
    Limit("domain", 255, "§4.5.3.1.2"),
    Limit("path", 256, "§4.5.3.1.3"),
)

# The verbs whose argument is a path, and the word before its colon (RFC 5321 §4.1.1.2-3).
PATH_VERBS: dict[str, str] = {"MAIL": "FROM", "RCPT": "TO"}

_COMMAND = re.compile(r"\s*(MAIL|RCPT)\s+(FROM|TO)\s*:(\s*)(.*)", re.IGNORECASE | re.DOTALL)
# esmtp-keyword and esmtp-value (RFC 5321 §4.1.2; RFC 6531 §3.3 allows UTF-8 in values).
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*")
# Written as what it excludes: the same set as [\x21-\x3c\x3e-\x7e\u0080-\U0010ffff], but
# that form takes re ~2 ms to compile at every start (it maps each of 64K code points).
_VALUE = re.compile(r"[^\x00-\x20=\x7f]+")
# Mailboxes RFC 5321 §4.1.1.3 lets a RCPT name without a domain.
_BARE_MAILBOXES = frozenset({"postmaster"})


def _octets(text: str) -> int:
    return len(text.encode("utf-8", errors="surrogatepass"))


class PathCommand(Record):
    __slots__ = ("domain", "local_part", "mailbox", "parameters", "path", "problems", "verb")

    def __init__(
        self,
        verb: str,
        path: str,
        mailbox: str,
        local_part: str,
        domain: str,
        parameters: tuple[tuple[str, str | None], ...],
        problems: tuple[str, ...],
    ) -> None:
        self.verb = verb  # "MAIL" or "RCPT"
        self.path = path  # what stands for the path, brackets included if typed: "<a@b>", "<>"
        self.mailbox = mailbox  # the address without brackets and source route: "a@b"
        self.local_part = local_part
        self.domain = domain  # "" if the mailbox has no "@"
        self.parameters = parameters  # (KEYWORD upper-cased, value or None)
        self.problems = problems  # what RFC 5321 would object to


def _split_path(rest: str) -> tuple[str, str, list[str]]:
    """(path as typed, what follows it, problems); a quoted local part may hold '>' or ' '."""
    problems: list[str] = []
    if not rest.startswith("<"):
        path, _, after = rest.partition(" ")
        problems.append("the address is not in angle brackets: RFC 5321 wants <...>")
        return path, after, problems
    quoted = escaped = False
    for i, ch in enumerate(rest):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == ">" and not quoted:
            return rest[: i + 1], rest[i + 1 :], problems
    path, _, after = rest.partition(" ")
    problems.append("the path has no closing '>'")
    return path, after, problems


def _split_mailbox(inner: str) -> tuple[str, str, str]:
    """(mailbox, local part, domain) of what was between the brackets."""
    mailbox = inner
    if inner.startswith("@") and ":" in inner:
        mailbox = inner.split(":", 1)[1]  # an obsolete source route: @relay,@relay2:a@b
    local, at, domain = mailbox.rpartition("@")
    if not at:
        return mailbox, mailbox, ""
    return mailbox, local, domain


def _parameters(text: str) -> tuple[tuple[tuple[str, str | None], ...], list[str]]:
    params: list[tuple[str, str | None]] = []
    problems: list[str] = []
    if text and not text.startswith(" "):
        problems.append("parameters must follow the path after a space")
    for word in text.split():
        keyword, eq, value = word.partition("=")
        if not _KEYWORD.fullmatch(keyword):
            problems.append(f"{word!r} is not an ESMTP parameter (KEYWORD or KEYWORD=value)")
            continue
        if eq and not _VALUE.fullmatch(value):
            problems.append(f"parameter {keyword.upper()} has an empty or malformed value")
        if any(name == keyword.upper() for name, _ in params):
            problems.append(f"parameter {keyword.upper()} is given twice")
        params.append((keyword.upper(), value if eq else None))
    return tuple(params), problems


def parse_path_command(line: str) -> PathCommand | None:
    """MAIL FROM:<path> [params] / RCPT TO:<path> [params]; None for any other line."""
    match = _COMMAND.fullmatch(line)
    if match is None:
        return None
    verb = match.group(1).upper()
    problems: list[str] = []
    if match.group(3):
        problems.append(f"RFC 5321 allows no space after '{match.group(2).upper()}:'")
    path, after, path_problems = _split_path(match.group(4))
    problems += path_problems
    inner = path[1:-1] if path.startswith("<") and path.endswith(">") else path.lstrip("<")
    mailbox, local, domain = _split_mailbox(inner)
    params, param_problems = _parameters(after)
    problems += param_problems
    if not mailbox and verb == "RCPT":
        problems.append("RCPT TO:<> names no recipient (only MAIL may use the null path)")
    elif mailbox and not domain and mailbox.lower() not in _BARE_MAILBOXES:
        problems.append("the address has no @domain (only <postmaster> may go without one)")
    return PathCommand(verb, path, mailbox, local, domain, params, tuple(problems))


def length_problems(command: PathCommand) -> list[str]:
    """The RFC 5321 §4.5.3.1 limits this path exceeds."""
    path = command.path if command.path.startswith("<") else f"<{command.path}>"
    sizes = {"local-part": command.local_part, "domain": command.domain, "path": path}
    return [
        f"the {limit.part} is {_octets(sizes[limit.part])} octets; RFC 5321 {limit.section}"
        f" allows {limit.octets}"
        for limit in ADDRESS_LIMITS
        if _octets(sizes[limit.part]) > limit.octets
    ]


def address_warnings(line: str) -> list[str]:
    """What to warn about before sending a MAIL/RCPT line: lengths first, then syntax."""
    command = parse_path_command(line)
    if command is None:
        return []
    return length_problems(command) + list(command.problems)
