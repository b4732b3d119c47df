"""Sandbox scenarios: what the practice server is, as data (one TOML file each).

A scenario names the server (domain, host name, banner), who exists there (users, lists,
AUTH credentials), its policy (VRFY, EXPN, HELP, relaying, STARTTLS, AUTH before or after
TLS), its limits (Postfix's error tarpit, Exim's smtp_accept_max_nonmail) and the MTA whose
reply texts it imitates. The files ship in the package (``smtpsh/sandbox/scenarios/``); a
path to a file of one's own works too. Nothing here opens a socket.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from types import MappingProxyType
from typing import Any

# The choices each policy key takes, the first one being the default.
POLICY_CHOICES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "vrfy": ("on", "off", "needs-domain"),
        "expn": ("on", "off"),
        "help": ("on", "off"),
        "relay": ("closed", "open"),
        "starttls": ("optional", "required", "none"),
        "auth": ("after-tls", "before-tls", "none"),
        "domain_literals": ("accept", "refuse"),
    }
)
FAMILIES = ("postfix", "exim")
_TOP_KEYS = frozenset(
    {"name", "summary", "imitates", "domain", "hostname", "banner", "ehlo", "wordlist",
     "users", "lists", "credentials", "policy", "limits", "replies", "dangerous",
     "reveal_users"}
)  # fmt: skip
_LIMIT_KEYS = frozenset({"soft_errors", "error_delay", "hard_errors", "max_nonmail"})
_MAX_FILE = 256 * 1024  # a scenario is a page of text; anything bigger is not one


class ScenarioError(Exception):
    """A scenario could not be found or read; the message is one line for the user."""


@dataclass(frozen=True)
class Limits:
    """When the server slows down or hangs up. None: no such limit."""

    soft_errors: int | None = None  # errors after which each reply waits error_delay
    error_delay: float = 1.0
    hard_errors: int | None = None  # errors after which the next command gets 421
    max_nonmail: int | None = None  # non-mail commands (VRFY, NOOP...) before 554 (Exim)


@dataclass(frozen=True)
class Danger:
    """A dangerous setting the scenario has on purpose, and the setting that fixes it."""

    finding: str
    fix: str


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    imitates: str
    domain: str
    hostname: str
    banner: str  # after "220 HOSTNAME "; {date} becomes the RFC 5322 date at connect time
    ehlo: tuple[str, ...]  # keywords in order; STARTTLS and AUTH appear only when offered
    users: Mapping[str, str]
    lists: Mapping[str, tuple[str, ...]]
    credentials: tuple[str, str]
    policy: Mapping[str, str]
    limits: Limits = Limits()
    replies: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    dangerous: tuple[Danger, ...] = ()
    wordlist: str = ""  # a word list shipped beside the scenario, for the footprint tour
    reveal_users: bool = True  # False: the welcome text keeps them secret (the exercise)

    def wordlist_path(self) -> Path | None:
        """The shipped word list for `smtpsh enum -U`, when the scenario has one."""
        if not self.wordlist:
            return None
        return Path(str(resources.files(__package__).joinpath("scenarios").joinpath(self.wordlist)))


def available() -> list[str]:
    """The names of the scenarios shipped with smtpsh, sorted."""
    folder = resources.files(__package__).joinpath("scenarios")
    return sorted(p.name[: -len(".toml")] for p in folder.iterdir() if p.name.endswith(".toml"))


def load(name_or_path: str) -> Scenario:
    """A shipped scenario by name, or a TOML file by path (one containing '/' or ending .toml)."""
    if "/" in name_or_path or name_or_path.endswith(".toml"):
        path = Path(name_or_path)
        try:
            with path.open("rb") as f:
                raw = f.read(_MAX_FILE + 1)
        except OSError as exc:
            raise ScenarioError(f"cannot read scenario {path}: {exc.strerror or exc}") from None
        where = str(path)
    else:
        if name_or_path not in available():
            names = ", ".join(available())
            raise ScenarioError(f"no scenario named {name_or_path!r} (there are: {names})")
        where = f"scenario {name_or_path}"
        folder = resources.files(__package__).joinpath("scenarios")
        raw = folder.joinpath(f"{name_or_path}.toml").read_bytes()
    if len(raw) > _MAX_FILE:
        raise ScenarioError(f"{where}: larger than {_MAX_FILE // 1024} KiB, not a scenario")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError(f"{where}: not valid TOML ({exc})") from None
    return from_mapping(data, where)


def _text(data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or (default is None and not value):
        raise ScenarioError(f"{where}: '{key}' must be a non-empty string")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise ScenarioError(f"{where}: '{key}' contains a control character")
    return value


def _table(data: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    value = data.get(key, {})
    if not isinstance(value, dict):
        raise ScenarioError(f"{where}: [{key}] must be a table")
    return value


def _limits(raw: Mapping[str, Any], where: str) -> Limits:
    unknown = set(raw) - _LIMIT_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key in [limits]: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool) and value >= 0
        if not ok or (key != "error_delay" and not isinstance(value, int)):
            raise ScenarioError(f"{where}: limits.{key} must be a non-negative number")
        values[key] = value
    return Limits(**values)


def from_mapping(data: Mapping[str, Any], where: str = "scenario") -> Scenario:
    """Check a parsed scenario and build it; any problem is one ScenarioError line."""
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown key {', '.join(sorted(unknown))}")
    name = _text(data, "name", where)
    domain = _text(data, "domain", where).lower()
    hostname = _text(data, "hostname", where)
    banner = _text(data, "banner", where)
    limits = _limits(_table(data, "limits", where), where)
    imitates = _text(data, "imitates", where, "postfix")
    if imitates not in FAMILIES:
        raise ScenarioError(f"{where}: 'imitates' must be one of {', '.join(FAMILIES)}")
    policy_raw = _table(data, "policy", where)
    policy: dict[str, str] = {}
    for key, choices in POLICY_CHOICES.items():
        value = policy_raw.get(key, choices[0])
        if value not in choices:
            raise ScenarioError(f"{where}: policy.{key} must be one of {', '.join(choices)}")
        policy[key] = value
    if set(policy_raw) - set(POLICY_CHOICES):
        extra = ", ".join(sorted(set(policy_raw) - set(POLICY_CHOICES)))
        raise ScenarioError(f"{where}: unknown key in [policy]: {extra}")
    users = {str(k).lower(): _text({"v": v}, "v", f"{where}: users.{k}")
             for k, v in _table(data, "users", where).items()}  # fmt: skip
    lists: dict[str, tuple[str, ...]] = {}
    for list_name, members in _table(data, "lists", where).items():
        if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
            raise ScenarioError(f"{where}: lists.{list_name} must be a list of user names")
        lists[str(list_name).lower()] = tuple(m.lower() for m in members)
    creds = _table(data, "credentials", where)
    credentials = (_text(creds, "user", where), _text(creds, "password", where))
    ehlo = data.get("ehlo", [])
    if not isinstance(ehlo, list) or not all(isinstance(k, str) and k for k in ehlo):
        raise ScenarioError(f"{where}: 'ehlo' must be a list of keywords")
    replies = _table(data, "replies", where)
    if not all(isinstance(v, str) for v in replies.values()):
        raise ScenarioError(f"{where}: [replies] values must be strings")
    dangers = data.get("dangerous", [])
    if not isinstance(dangers, list):
        raise ScenarioError(f"{where}: 'dangerous' must be an array of tables")
    dangerous = tuple(
        Danger(_text(d, "finding", where), _text(d, "fix", where))
        for d in dangers if isinstance(d, dict)
    )  # fmt: skip
    return Scenario(
        name=name,
        summary=_text(data, "summary", where, ""),
        imitates=imitates,
        domain=domain,
        hostname=hostname,
        banner=banner,
        ehlo=tuple(ehlo),
        users=MappingProxyType(users),
        lists=MappingProxyType(lists),
        credentials=credentials,
        policy=MappingProxyType(policy),
        limits=limits,
        replies=MappingProxyType(dict(replies)),
        dangerous=dangerous,
        wordlist=_text(data, "wordlist", where, ""),
        reveal_users=_flag(data, "reveal_users", where),
    )


def _flag(data: Mapping[str, Any], key: str, where: str) -> bool:
    value = data.get(key, True)
    if not isinstance(value, bool):
        raise ScenarioError(f"{where}: '{key}' must be true or false")
    return value
