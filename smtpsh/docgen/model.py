"""What the generated documents describe, read from the code itself: the argparse parsers
(``smtpsh.cli.build_parser`` and each sub-command's ``add_arguments``), the shell's
meta-command registry, the SMTP command table and the config schema.

argparse keeps its groups and actions in ``_action_groups`` / ``_group_actions``; those
names have been stable since Python 3.2 and are the only way to see the grouping.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from smtpsh import cli
from smtpsh.config import PROFILE_KEYS, TOP_KEYS, Key
from smtpsh.protocol.commands import COMMANDS, CommandInfo
from smtpsh.shell import metacommands

# How to complete an option's value or a positional argument, by its metavar.
# "host": hosts from history and @profiles; "file"/"dir": paths; "": free text.
VALUE_KINDS: dict[str, str] = {
    "FILE": "file",
    "DIR": "dir",
    "HOST": "host",
    "HOST[:PORT]": "host",
    "TARGET": "host",
}

# Shell-command groups in the order a newcomer meets them; others follow alphabetically.
META_GROUP_ORDER = ["shell", "session", "learning", "sandbox", "tls", "compose", "dns",
                    "transcript", "audit"]


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]  # ("-p", "--port"); empty for a positional
    metavar: str  # "PORT"; "" for a flag
    help: str
    choices: tuple[str, ...]
    repeatable: bool
    optional_value: bool  # nargs="?": the value (or the positional) may be left out
    terminal: bool  # --help, --version: nothing else matters after it
    exclusive_with: tuple[str, ...]  # flags of a mutually exclusive group (itself included)
    kind: str  # "host", "file", "dir", "choice", "" (free text), "flag"
    dest: str

    @property
    def positional(self) -> bool:
        return not self.flags

    @property
    def takes_value(self) -> bool:
        return self.kind != "flag"


@dataclass(frozen=True)
class Group:
    title: str
    description: str
    options: tuple[Option, ...]


@dataclass(frozen=True)
class Command:
    name: str  # "smtpsh" or "smtpsh dns"
    word: str  # "" for the main command, else the sub-command's name
    summary: str
    usage: str
    description: str
    epilog: str
    groups: tuple[Group, ...]

    @property
    def options(self) -> tuple[Option, ...]:
        return tuple(o for g in self.groups for o in g.options if not o.positional)

    @property
    def positionals(self) -> tuple[Option, ...]:
        return tuple(o for g in self.groups for o in g.options if o.positional)


@dataclass(frozen=True)
class MetaEntry:
    name: str
    usage: str
    summary: str
    group: str


@dataclass(frozen=True)
class Reference:
    main: Command
    subcommands: tuple[Command, ...]
    meta: tuple[MetaEntry, ...]
    verbs: tuple[CommandInfo, ...]
    config_keys: tuple[Key, ...]
    profile_keys: tuple[Key, ...]

    @property
    def commands(self) -> tuple[Command, ...]:
        return (self.main, *self.subcommands)


def epilog_blocks(text: str) -> list[tuple[bool, str]]:
    """(verbatim, text) blocks of an epilog: a block with indented lines (examples) is
    verbatim; the rest is prose to re-flow."""
    blocks = []
    for block in text.strip().split("\n\n"):
        verbatim = any(line.startswith("  ") for line in block.splitlines())
        blocks.append((verbatim, block.rstrip() if verbatim else " ".join(block.split())))
    return blocks


def _kind(action: argparse.Action) -> str:
    if action.nargs == 0:
        return "flag"
    if action.choices:
        return "choice"
    metavar = action.metavar if isinstance(action.metavar, str) else ""
    return VALUE_KINDS.get(metavar, VALUE_KINDS.get(metavar.split("[")[0], ""))


def _help_text(parser: argparse.ArgumentParser, action: argparse.Action) -> str:
    if not action.help or action.help == argparse.SUPPRESS:
        return ""
    params = dict(vars(action), prog=parser.prog)
    for name in list(params):
        if params[name] is argparse.SUPPRESS:
            del params[name]
    if params.get("choices") is not None:
        params["choices"] = ", ".join(str(c) for c in params["choices"])
    try:
        return " ".join((action.help % params).split())
    except (KeyError, TypeError, ValueError):
        return " ".join(action.help.split())


def _metavar(action: argparse.Action) -> str:
    if action.nargs == 0:
        return ""
    if isinstance(action.metavar, str):
        return action.metavar
    if action.choices:
        return "{" + ",".join(str(c) for c in action.choices) + "}"
    return action.dest.upper() if action.option_strings else action.dest


def describe_parser(parser: argparse.ArgumentParser, word: str, summary: str) -> Command:
    exclusive: dict[int, tuple[str, ...]] = {}
    for mutex in parser._mutually_exclusive_groups:
        flags = tuple(f for a in mutex._group_actions for f in a.option_strings)
        for action in mutex._group_actions:
            exclusive[id(action)] = flags
    groups: list[Group] = []
    for group in parser._action_groups:
        options = tuple(
            Option(
                flags=tuple(action.option_strings),
                metavar=_metavar(action),
                help=_help_text(parser, action),
                choices=tuple(str(c) for c in action.choices or ()),
                repeatable=isinstance(action, (argparse._AppendAction, argparse._CountAction)),
                optional_value=action.nargs == "?",
                terminal=isinstance(action, (argparse._HelpAction, argparse._VersionAction)),
                exclusive_with=exclusive.get(id(action), ()),
                kind=_kind(action),
                dest=action.dest,
            )
            for action in group._group_actions
            if action.help != argparse.SUPPRESS
        )
        if options:
            title = group.title or ""
            if title in ("options", "optional arguments"):  # argparse's name for the rest
                title = "general options"
            elif title == "positional arguments":
                title = "arguments"
            groups.append(Group(title, " ".join((group.description or "").split()), options))
    # argparse's usage lists every option; the reference gives them in tables below.
    positionals = " ".join(
        f"[{a.metavar}]" if a.nargs == "?" else str(a.metavar or a.dest)
        for a in parser._actions
        if not a.option_strings and a.help != argparse.SUPPRESS
    )
    usage = parser.usage or f"{parser.prog} [options] {positionals}".strip()
    return Command(
        name=parser.prog,
        word=word,
        summary=summary,
        usage=" ".join(usage.split()),
        description=parser.description or "",
        epilog=parser.epilog or "",
        groups=tuple(groups),
    )


def collect() -> Reference:
    """Everything the reference, the man page and the completions are made from."""
    main_parser = cli.build_parser()
    main = describe_parser(main_parser, "", main_parser.description or "")
    subs = tuple(
        describe_parser(cli.subcommand_parser(name), name, summary)
        for name, (_, summary) in cli.SUBCOMMANDS.items()
    )
    metacommands.load_features()
    def order(m: metacommands.MetaCommand) -> tuple[int, str, str]:
        rank = META_GROUP_ORDER.index(m.group) if m.group in META_GROUP_ORDER else 99
        return (rank, m.group, m.name)

    meta = tuple(
        MetaEntry(m.name, m.usage, m.summary, m.group)
        for m in sorted(metacommands.META.values(), key=order)
    )
    return Reference(
        main=main,
        subcommands=subs,
        meta=meta,
        verbs=tuple(COMMANDS.values()),
        config_keys=TOP_KEYS,
        profile_keys=PROFILE_KEYS,
    )
