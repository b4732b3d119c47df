"""The hosts of a many-target run: -T files and positional words, CIDR blocks and ranges.

Sans-IO apart from reading the -T file: nothing here resolves a name or connects. A word is

    mx.example.com   mx.example.com:587   192.0.2.7   [2001:db8::1]:25   2001:db8::1
    192.0.2.0/24     192.0.2.10-20        192.0.2.10-192.0.2.20     2001:db8::/120
    192.0.2.0/28:2525   [2001:db8::/124]:25

(a CIDR block counts every address in it, as nmap does). In a -T file: one word a line,
``#`` starts a comment, blank lines are skipped; a line that cannot be read is one problem
naming FILE:LINE and the rest still runs. A word on the command line that cannot be read
is a usage error. Sizes are checked before anything is expanded: a block or a list larger
than the limit (--max-targets) is refused with one line, unless the limit is raised.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from smtpsh.target import InputFileError, UsageError, parse_target

# Enough for a /16 of IPv4 (or a /112 of IPv6); more is refused unless --max-targets says.
MAX_TARGETS = 65536
# A host name: at most 253 octets (RFC 1035); its labels are checked by the resolver.
_NAME_MAX = 253
_BAD_IN_NAME = frozenset(" \t/\\@<>\"'`|;,()[]{}*?!$&=+%^~")


@dataclass(frozen=True, slots=True)
class Host:
    """One target: an address or name and its port (``port`` None: a domain, for dns)."""

    host: str
    port: int | None = None

    @property
    def key(self) -> str:
        """How the target is written in results: HOST:PORT ([v6]:PORT), or the domain;
        --resume matches a JSON line's ``target`` against it."""
        if self.port is None:
            return self.host
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class TooMany(UsageError):
    """A block, a range or the whole list is larger than the limit."""


@dataclass
class Targets:
    """The hosts in the order given (duplicates dropped: how many, and where the first
    was) and the lines that could not be read, each as 'FILE:LINE: why'."""

    hosts: list[Host] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    duplicates: int = 0
    first_duplicate: str = ""  # 'FILE:LINE: HOST' (or the word given on the command line)
    _seen: set[str] = field(default_factory=set, repr=False)

    def add(self, hosts: Iterable[Host], where: str = "") -> None:
        for host in hosts:
            key = host.key
            if key not in self._seen:
                self._seen.add(key)
                self.hosts.append(host)
                continue
            self.duplicates += 1
            if not self.first_duplicate:
                self.first_duplicate = f"{where}: {key}" if where else key


# A domain check for dns (smtpsh.dnsinfo.lookup.parse_domain): the name to use, or raises
# an error whose str() says why.
DomainCheck = Callable[[str], str]


class Parser:
    """Reads words into hosts. ``port``: the port of a word without one (None: domains,
    each checked by ``domain_check``); ``limit``: the most hosts in all."""

    def __init__(
        self,
        *,
        port: int | None = 25,
        domain_check: DomainCheck | None = None,
        limit: int = MAX_TARGETS,
    ) -> None:
        self.port = port
        self.domains = port is None
        self.domain_check = domain_check
        self.limit = limit
        self.targets = Targets()

    # --- words ---------------------------------------------------------------------------

    def word(self, text: str) -> list[Host]:
        """The hosts one word stands for; ValueError (one line) when it cannot be read."""
        text = text.strip()
        if not text:
            raise ValueError("empty")
        if any(ord(c) < 32 or c == "\x7f" for c in text):
            raise ValueError("control characters in it")
        hidden = _invisible(text)
        if hidden is not None:
            raise ValueError(f"an invisible character in it (U+{ord(hidden):04X})")
        if self.domains:
            return [Host(self._domain(text))]
        try:
            host, port = parse_target(text, None)
        except UsageError as exc:
            raise ValueError(str(exc)) from None
        if not host:
            raise ValueError(f"no host in '{text}'")
        port = port or self.port
        if "/" in host:
            return [Host(a, port) for a in self._block(host)]
        if "-" in host:
            addresses = self._range(host)
            if addresses is not None:
                return [Host(a, port) for a in addresses]
        return [Host(self._single(host), port)]

    def _domain(self, text: str) -> str:
        if self.domain_check is None:
            return self._single(text.rstrip("."))
        try:
            return self.domain_check(text)
        except Exception as exc:  # the checker's own error says why in one line
            raise ValueError(str(exc)) from None

    def _single(self, host: str) -> str:
        try:
            return str(ipaddress.ip_address(host))
        except ValueError:
            pass
        if len(host) > _NAME_MAX or any(c in _BAD_IN_NAME for c in host):
            raise ValueError(f"'{host}' is not a host name or an address")
        if host.replace(".", "").isdigit():
            raise ValueError(f"'{host}' is not a valid IPv4 address")
        return host

    def _check_size(self, what: str, size: int) -> None:
        room = self.limit - len(self.targets.hosts)
        if size > room:
            raise TooMany(
                f"{what} is {size:,} addresses, more than --max-targets allows"
                f" ({self.limit:,} in all): narrow it, or raise --max-targets"
            )

    def _block(self, text: str) -> Iterator[str]:
        try:
            network = ipaddress.ip_network(text, strict=False)
        except ValueError:
            raise ValueError(f"'{text}' is not a CIDR block (e.g. 192.0.2.0/24)") from None
        self._check_size(text, network.num_addresses)
        return (str(address) for address in network)

    def _range(self, text: str) -> Iterator[str] | None:
        """'192.0.2.10-20' or '192.0.2.10-192.0.2.20' (IPv6: both ends whole); None when
        the text is no range at all (a name with a hyphen, mx-1.example.com)."""
        first_text, _, last_text = text.partition("-")
        try:
            first = ipaddress.ip_address(first_text)
        except ValueError:
            return None
        if last_text.isdigit() and first.version == 4:
            head = first_text.rpartition(".")[0]
            last_text = f"{head}.{last_text}"
        try:
            last = ipaddress.ip_address(last_text)
        except ValueError:
            raise ValueError(f"'{text}': the end of the range is not an address") from None
        if last.version != first.version or int(last) < int(first):
            raise ValueError(f"'{text}': the range ends before it starts")
        self._check_size(text, int(last) - int(first) + 1)
        kind = type(first)
        return (str(kind(n)) for n in range(int(first), int(last) + 1))

    # --- sources -------------------------------------------------------------------------

    def add_word(self, text: str) -> None:
        """A word from the command line: a bad one is a usage error."""
        try:
            self.targets.add(self.word(text))
        except ValueError as exc:
            raise UsageError(f"bad target {text!r}: {exc}") from None
        self._check_total()

    def add_file(self, path: str) -> None:
        """A -T file (``-``: standard input): bad lines become problems, the rest is read."""
        name = "<stdin>" if path == "-" else path
        for number, raw in _lines(path):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.targets.problems.append(f"{name}:{number}: not UTF-8 text")
                continue
            if number == 1:
                text = text.removeprefix("\ufeff")  # a byte-order mark (Windows editors)
            text = _without_comment(text).strip()
            if not text:
                continue
            try:
                self.targets.add(self.word(text), f"{name}:{number}")
            except TooMany as exc:
                raise TooMany(f"{name}:{number}: {exc}") from None
            except ValueError as exc:
                self.targets.problems.append(f"{name}:{number}: {exc}")
                continue
            self._check_total()

    def _check_total(self) -> None:
        if len(self.targets.hosts) > self.limit:
            raise TooMany(
                f"more than {self.limit:,} targets: split the list, or raise --max-targets"
            )


def _invisible(text: str) -> str | None:
    """The first character of ``text`` that shows nothing but is not a plain space or tab
    (a byte-order mark, a zero-width space, a no-break space: pasted from a document)."""
    if text.isascii():
        return None
    import unicodedata

    for c in text:
        kind = unicodedata.category(c)
        if kind in ("Cf", "Zl", "Zp", "Cs", "Co", "Cn") or (kind == "Zs" and c != " "):
            return c
    return None


def _without_comment(text: str) -> str:
    """'host  # note' -> 'host'; a '#' inside a word is kept (no host name has one, but
    the error then names the whole word)."""
    if text.lstrip().startswith("#"):
        return ""
    for marker in (" #", "\t#"):
        text = text.split(marker, 1)[0]
    return text


def _lines(path: str) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes without the line ending) of a -T file; InputFileError when it
    cannot be opened or read."""
    try:
        stream = sys.stdin.buffer if path == "-" else open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise InputFileError(f"-T {path}: {exc.strerror or exc}") from None
    try:
        for number, line in enumerate(stream, 1):
            yield number, line.rstrip(b"\r\n")
    except OSError as exc:
        raise InputFileError(f"-T {path}: {exc.strerror or exc}") from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()


def collect(
    words: Iterable[str],
    files: Iterable[str],
    *,
    port: int | None = 25,
    domain_check: DomainCheck | None = None,
    limit: int = MAX_TARGETS,
) -> Targets:
    """The targets of a run: the positional words, then each -T file, in that order."""
    parser = Parser(port=port, domain_check=domain_check, limit=limit)
    for word in words:
        parser.add_word(word)
    for path in files:
        parser.add_file(path)
    return parser.targets

