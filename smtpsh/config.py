"""The user's configuration: ``$XDG_CONFIG_HOME/smtpsh/config.toml`` (default
``~/.config/smtpsh/config.toml``), and the hosts file the shell completions read.

Everything in the file is a *default*: an option on the command line always wins. A broken
file never stops the shell: each problem is one line naming the file, the line and the key.
A key smtpsh does not know (a typo, a key of another version, a password) is ignored with
its line and the rest of the file is used: it could change nothing anyway. A known key with
a wrong value makes the whole file ignored (a half-applied file would be harder to reason
about). Secrets are never read from the file: a ``password`` key says where to give one.

TOML is read with the standard library's ``tomllib``.
"""

from __future__ import annotations

import contextlib
import difflib
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from smtpsh import exitcodes, state
from smtpsh.output.safe import CONTROL, INVISIBLE, escaped, safe
from smtpsh.protocol.encoding import visible
from smtpsh.protocol.errors import SmtpshError

# --- where things live (XDG base-directory specification) ------------------------------


def config_path() -> Path:
    return Path(state.config_file())


def state_dir() -> Path:
    return Path(state.state_dir())


def hosts_path() -> Path:
    return Path(state.hosts_file())


# --- the schema, as data ---------------------------------------------------------------


@dataclass(frozen=True)
class Key:
    name: str
    kind: str  # "str", "name", "bool", "port", "choice", "path", "address"
    help: str
    example: str  # as written in TOML
    choices: tuple[str, ...] = ()


# Top-level keys (before any [table]).
TOP_KEYS: tuple[Key, ...] = (
    Key("helo", "name", "the name offered in EHLO/HELO (like --helo)", '"client.example.net"'),
    Key("annotate", "bool", "explain each reply under it (false: like --no-annotate)", "true"),
    Key("color", "choice", "colour: auto, always or never (like --color)", '"auto"',
        ("auto", "always", "never")),
    Key("theme", "choice", "colour theme: dark (light text on a dark terminal) or light",
        '"dark"', ("dark", "light")),
    Key("keys", "choice", "line-editing keys of the interactive shell: emacs or vi",
        '"emacs"', ("emacs", "vi")),
    Key("mail_from", "address", "default envelope sender: offered first after MAIL FROM:",
        '"me@example.net"'),
    Key("record_dir", "path", "record every session as a transcript in this directory",
        '"~/smtp-transcripts"'),
)

# Keys of a [profiles.NAME] table: `smtpsh @NAME` connects with them.
PROFILE_KEYS: tuple[Key, ...] = (
    Key("host", "name", "the server (required)", '"mail.example.com"'),
    Key("port", "port", "the port (default 25, or 465 with tls = \"implicit\")", "587"),
    Key("tls", "choice", "none, starttls (upgrade after EHLO) or implicit (TLS from the start)",
        '"starttls"', ("none", "starttls", "implicit")),
    Key("user", "str", "the user name for AUTH (the password is asked for, never stored)",
        '"me@example.com"'),
    Key("helo", "name", "the EHLO name for this server (overrides the top-level helo)",
        '"client.example.net"'),
    Key("mail_from", "address", "the envelope sender for this server", '"me@example.com"'),
)

_TOP = {key.name: key for key in TOP_KEYS}
_PROFILE = {key.name: key for key in PROFILE_KEYS}

_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.:_-]*[A-Za-z0-9.\]])?$|^\[[0-9A-Fa-f:.]+\]$")
_PROFILE_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")


@dataclass(frozen=True)
class Profile:
    name: str
    host: str
    port: int | None = None
    tls: str = "none"
    user: str | None = None
    helo: str | None = None
    mail_from: str | None = None


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    helo: str | None = None
    annotate: bool | None = None
    color: str | None = None
    theme: str = "dark"
    keys: str = "emacs"
    mail_from: str | None = None
    record_dir: Path | None = None
    profiles: Mapping[str, Profile] = field(default_factory=lambda: MappingProxyType({}))
    errors: tuple[str, ...] = ()  # one line each; non-empty means the file was ignored
    notes: tuple[str, ...] = ()  # one line each: a key ignored, the rest of the file used


class ConfigError(SmtpshError):
    """config.toml (or a profile named on the command line) is wrong: the user's to fix."""

    exit_status = exitcodes.USAGE
    fault = "user"

    def __init__(self, message: str, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.key = key

    def describe(self, path: Path | None) -> str:
        """One line, whatever the file holds: its values and key names are quoted in the
        message, so controls (ESC, C1, CR, LF) are shown escaped."""
        where = str(path or config_path()) + (f" line {self.line}" if self.line else "")
        what = f"key '{self.key}': " if self.key else ""
        return visible(f"config {where}: {what}{self.message}")


# Key names that hold a secret: never read from the file (it is not a place for one, and a
# value there would end up in backups and screenshots), whatever the table.
_SECRET_KEY = re.compile(r"pass(word|wd)?$|passphrase|secret|token|api_?key", re.IGNORECASE)
SECRETS_WHERE = ("secrets are never read from the config file: give --password-file FILE or"
                 " --password-env NAME, or type it when asked")


def _ignored(path: Path | None, line: int | None, profile: str | None, key: str,
             why: str) -> str:
    """One line for a key that is ignored while the rest of the file is used: the file,
    the line, the profile (if the key is in one) and the key."""
    where = str(path or config_path()) + (f" line {line}" if line else "")
    table = f"profile '{profile}': " if profile is not None else ""
    return visible(f"config {where}: {table}key '{key}' ignored: {why}")


def _why_ignored(key: str, known: Any) -> str:
    if _SECRET_KEY.search(key):
        return SECRETS_WHERE
    return _unknown("unknown key", key, known)


# --- reading ---------------------------------------------------------------------------

MAX_CONFIG_BYTES = 256 * 1024  # a hand-written config is a few hundred bytes


def load(path: Path | None = None) -> Config:
    """The configuration; never raises. Problems land in ``Config.errors``."""
    from smtpsh.safefile import read_limited

    path = path or config_path()
    try:
        # A regular file of bounded size: a link to /dev/zero or a FIFO would never end.
        text = read_limited(path, MAX_CONFIG_BYTES).decode("utf-8")
    except FileNotFoundError:
        return Config()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        return Config(path=path, errors=(visible(f"config {path}: cannot read it: {reason}"),))
    try:
        return parse(text, path)
    except ConfigError as exc:
        return Config(path=path, errors=(exc.describe(path),))
    except RecursionError:  # tomllib recurses once a level: [[[[... 5,000 deep
        error = ConfigError("not valid TOML: arrays or tables nested too deeply")
        return Config(path=path, errors=(error.describe(path),))


def parse(text: str, path: Path | None = None) -> Config:
    """Parse and check *text*; raises ConfigError (with line and key) on the first problem."""
    lines = key_lines(text)
    try:
        data = read_toml(text)
    except ConfigError as exc:
        if exc.line is not None and exc.key is None:
            # Name the key written on that line, if there is one.
            exc.key = _key_on_line(text, exc.line)
        raise
    values: dict[str, Any] = {}
    profiles: dict[str, Profile] = {}
    notes: list[str] = []
    for name, value in data.items():
        if name == "profiles":
            if not isinstance(value, dict):
                raise ConfigError("must be a table: [profiles.NAME]", lines.get(("profiles",)),
                                  "profiles")
            for pname, table in value.items():
                profiles[pname] = _profile(pname, table, lines, path, notes)
            continue
        key = _TOP.get(name)
        if key is None:
            line = lines.get((name,))
            if isinstance(value, dict) and not _SECRET_KEY.search(name):
                what = _unknown(f"unknown table [{name}]", name, ("profiles",))
                notes.append(visible(f"config {path or config_path()}"
                                     f"{f' line {line}' if line else ''}: {what}: ignored"))
            else:
                notes.append(_ignored(path, line, None, name,
                                      _why_ignored(name, (*_TOP, "profiles"))))
            continue
        values[name] = _check(key, value, lines.get((name,)), name)
    record_dir = values.pop("record_dir", None)
    return Config(
        path=path,
        record_dir=Path(record_dir).expanduser() if record_dir else None,
        profiles=MappingProxyType(profiles),
        notes=tuple(notes),
        **values,
    )


def _profile(
    name: str, table: Any, lines: Mapping[tuple[str, ...], int], path: Path | None,
    notes: list[str],
) -> Profile:
    where = lines.get(("profiles", name))
    dotted = f"profiles.{name}"
    if not isinstance(table, dict):
        raise ConfigError("must be a table: [profiles.NAME] with host = ...", where, dotted)
    if not _PROFILE_NAME_RE.match(name):
        raise ConfigError("profile names are letters, digits, '-' and '_'", where, dotted)
    values: dict[str, Any] = {}
    for key_name, value in table.items():
        key = _PROFILE.get(key_name)
        line = lines.get(("profiles", name, key_name), where)
        if key is None:
            notes.append(_ignored(path, line, name, key_name, _why_ignored(key_name, _PROFILE)))
            continue
        values[key_name] = _check(key, value, line, f"{dotted}.{key_name}")
    if "host" not in values:
        raise ConfigError("a profile needs host = \"...\"", where, dotted)
    return Profile(name=name, **values)


def _unknown(what: str, name: str, known: Any) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"{what}{hint}; known: {', '.join(known)}"


def _check(key: Key, value: Any, line: int | None, dotted: str) -> Any:
    """The value if it fits the key's kind, else ConfigError saying what was expected."""
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"expected {expected}, not {_show(value)}", line, dotted)

    if key.kind == "bool":
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if key.kind == "port":
        if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
            raise bad("a port number from 1 to 65535")
        return value
    if not isinstance(value, str):
        raise bad("a string in double quotes")
    unsafe = _unsafe_char(value, key.kind)
    if unsafe is not None:
        # Said before the kind's own check, which would only say what was expected: the
        # character is what is wrong, and it is named (escaped) whatever the kind.
        raise ConfigError(f"{unsafe} in {safe(_show(value))}", line, dotted)
    if key.kind == "choice" and value not in key.choices:
        raise bad(" or ".join(f'"{c}"' for c in key.choices))
    if key.kind == "name" and not _NAME_RE.match(value):
        raise bad("a host name or [address literal], without spaces")
    if key.kind == "address" and (not value or any(c.isspace() or c in "<>" for c in value)):
        raise bad("an address like me@example.net, without <> or spaces")
    if key.kind in ("str", "path") and not value:
        raise bad("a non-empty string")
    return value


# What a string value may not hold, by kind: no terminal control anywhere (an ESC in
# mail_from was taken, shown escaped, and refused only once /compose used it as an
# address); in an address or a user name not either what hides or reorders text (a bidi
# override makes the sender shown differ from the one sent). A path may hold those.
_REFUSED_KINDS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "path": (CONTROL,),
})


def _unsafe_char(value: str, kind: str) -> str | None:
    """The first character of ``value`` its kind refuses, escaped and named: '\\x1b (a
    control character)'; None if there is none."""
    if value.isprintable():
        return None
    for ch in value:
        if safe(ch, kinds=_REFUSED_KINDS.get(kind, (CONTROL, INVISIBLE))) != ch:
            what = "a control character" if safe(ch, kinds=(CONTROL,)) != ch else (
                "a character that hides or reorders text")
            return f"{escaped(ch)} ({what})"
    return None


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        shown = value if len(value) <= 80 else value[:80] + "…"
        return f'"{shown}"'
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    return str(value)


# --- TOML: tomllib, imported on first use (start-up time) ------------------------------


def read_toml(text: str) -> dict[str, Any]:
    import tomllib

    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise _from_tomllib(exc) from None


_TOMLLIB_WHERE = re.compile(r"^(?P<msg>.*?) \(at line (?P<line>\d+), column \d+\)$")


def _from_tomllib(exc: Exception) -> ConfigError:
    """tomllib says 'Expected ... (at line 3, column 7)': keep the line, word it for us."""
    match = _TOMLLIB_WHERE.match(str(exc))
    if match is None:
        return ConfigError(f"not valid TOML: {exc}")
    return ConfigError(f"not valid TOML: {match['msg']}", int(match["line"]))


# Where keys are written, for the errors tomllib cannot place (a value of the wrong kind):
# a line-by-line look at table headers and `key =` starts, keys unquoted by tomllib itself.
_BARE_KEY = r"[A-Za-z0-9_-]+"
_QUOTED_KEY = r'"(?:[^"\\]|\\.)*"|\'[^\'\n]*\''
_KEY = rf"(?:{_BARE_KEY}|{_QUOTED_KEY})"
_TABLE_RE = re.compile(rf"^\[\s*({_KEY}(?:\s*\.\s*{_KEY})*)\s*\]\s*(?:#.*)?$")
_PAIR_RE = re.compile(rf"^({_KEY})\s*=\s*(.*)$")


def _split_key(dotted: str) -> list[str]:
    parts = re.findall(rf"{_KEY}", dotted)
    return [_unquote_key(part) for part in parts]


def _unquote_key(key: str) -> str:
    """A bare or quoted TOML key as tomllib reads it; ConfigError if it is not one."""
    import tomllib

    try:
        return next(iter(tomllib.loads(f"{key} = 0")))
    except tomllib.TOMLDecodeError:
        raise ConfigError(f"bad key {key}") from None


def _lines(text: str) -> list[str]:
    """TOML lines end at LF (or CRLF) only; str.splitlines() would also split at NEL, FF..."""
    return [line.removesuffix("\r") for line in text.split("\n")]


def _keys_written(text: str) -> list[tuple[tuple[str, ...], int]]:
    """Every table header and key with the line it is written on (1-based)."""
    found: list[tuple[tuple[str, ...], int]] = []
    table: tuple[str, ...] = ()
    for number, original in enumerate(_lines(text), 1):
        line = original.strip()
        header = _TABLE_RE.match(line)
        if header is not None:
            table = tuple(_split_key(header.group(1)))
            found.append((table, number))
            continue
        pair = _PAIR_RE.match(line)
        if pair is not None:
            try:
                key = _unquote_key(pair.group(1))
            except ConfigError:
                continue
            found.append(((*table, key), number))
    return found


def key_lines(text: str) -> dict[tuple[str, ...], int]:
    """Where each key and table is first written, for errors tomllib cannot place."""
    lines: dict[tuple[str, ...], int] = {}
    for key, number in _keys_written(text):
        lines.setdefault(key, number)
    return lines


def _key_on_line(text: str, line: int) -> str | None:
    return next((".".join(k) for k, n in _keys_written(text) if n == line), None)


# --- applying it: argparse defaults -----------------------------------------------------

# Profile TLS mode -> argparse defaults it stands for.
TLS_MODES: Mapping[str, Mapping[str, Any]] = MappingProxyType({
    "none": MappingProxyType({}),
    "starttls": MappingProxyType({"starttls": True}),
    "implicit": MappingProxyType({"tls": True}),
})


def argument_defaults(config: Config, profile: Profile | None = None) -> dict[str, Any]:
    """argparse ``set_defaults`` values for the main parser: command-line options still win."""
    defaults: dict[str, Any] = {}
    if config.helo:
        defaults["helo"] = config.helo
    if config.annotate is not None:
        defaults["no_annotate"] = not config.annotate
    if config.color:
        defaults["color"] = config.color
    if profile is not None:
        if profile.port is not None:
            defaults["port"] = profile.port
        defaults.update(TLS_MODES[profile.tls])
        if profile.user:
            defaults["user"] = profile.user
        if profile.helo:
            defaults["helo"] = profile.helo
    return defaults


def envelope_sender(config: Config, profile: Profile | None = None) -> str | None:
    return (profile.mail_from if profile else None) or config.mail_from


def find_profile(config: Config, target: str) -> Profile:
    """``@work`` -> the profile; ConfigError naming the known ones if there is none."""
    name = target[1:]
    if name in config.profiles:
        return config.profiles[name]
    if config.errors:
        raise ConfigError(f"no profile @{name}: the config file was not used (see above)")
    known = ", ".join("@" + p for p in config.profiles) or "none yet"
    where = config.path or config_path()
    raise ConfigError(f"no profile @{name} in {where} (known: {known})")


# --- the hosts file (read by the shell completions): smtpsh.state ----------------------

HOSTS_KEEP = state.HOSTS_KEEP
remember_host = state.remember_host
known_hosts = state.known_hosts
host_recorder = state.host_recorder


# compose_commands.LAST_SENDER, spelt out: importing /compose (prompt_toolkit, email) at
# start-up would slow every piped run (tests/config checks the two agree).
COMPOSE_SENDER_KEY = "compose.sender"


def sender_defaulter(sender: str) -> Callable[[Any], Awaitable[None]]:
    """An ``on_connect`` hook: *sender* is /compose's default and completes after MAIL FROM:."""

    async def default(shell: Any) -> None:
        shell.extra.setdefault(COMPOSE_SENDER_KEY, sender)
        seen = shell.session.addresses_seen
        if sender not in seen:
            seen.insert(0, sender)

    return default


def record_file(directory: Path, host: str) -> Path:
    """A new transcript name in *directory*: HOST-YYYYmmdd-HHMMSS.smtpt (dir made 0700)."""
    with_safe_chars = re.sub(r"[^A-Za-z0-9_.-]", "_", host) or "session"
    from smtpsh.safefile import make_private_dirs

    with contextlib.suppress(OSError):  # the recorder says why it cannot write there
        make_private_dirs(directory)
    return directory / f"{with_safe_chars}-{time.strftime('%Y%m%d-%H%M%S')}.smtpt"
