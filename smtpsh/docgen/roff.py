"""The man page smtpsh(1), in roff (man macros), from the same Reference as the Markdown."""

from __future__ import annotations

from smtpsh import __version__, exitcodes
from smtpsh.config import Key
from smtpsh.docgen import prose
from smtpsh.docgen.model import Command, Option, Reference, epilog_blocks

# Characters groff may not have in every locale -> its own names for them.
_GLYPHS = {
    "—": "\\(em",
    "–": "\\(en",
    "→": "\\(->",
    "·": "\\(md",
    "≥": "\\(>=",
    "≤": "\\(<=",
    "§": "\\(sc",
    "…": "...",
    "‘": "`",
    "’": "'",
    "“": '"',
    "”": '"',
}


def text(value: str) -> str:
    """Escape running text for roff."""
    out = value.replace("\\", "\\e")
    for glyph, name in _GLYPHS.items():
        out = out.replace(glyph, name)
    return out


def literal(value: str) -> str:
    """Escape a command, option or file name: hyphens are minus signs here."""
    return text(value).replace("-", "\\-")


def _line(value: str) -> str:
    """A line of text: one starting with '.' or "'" would be read as a request."""
    return "\\&" + value if value[:1] in (".", "'") else value


def _paragraph(out: list[str], value: str) -> None:
    out.append(_line(text(" ".join(value.split()))))


def _option_head(option: Option) -> str:
    if option.positional:
        name = f"\\fI{literal(option.metavar)}\\fR"
        return f"[{name}]" if option.optional_value else name
    value = f" \\fI{literal(option.metavar)}\\fR" if option.takes_value else ""
    if option.optional_value:
        value = f" [\\fI{literal(option.metavar)}\\fR]"
    return ", ".join(f"\\fB{literal(flag)}\\fR{value}" for flag in option.flags)


def _option_body(option: Option) -> str:
    body = option.help
    if option.repeatable:
        body += " (repeatable)"
    if option.exclusive_with:
        others = [f for f in option.exclusive_with if f not in option.flags]
        body += f" (not with {', '.join(others)})"
    return _line(text(body.strip()))


def _command(out: list[str], command: Command, sub: bool) -> None:
    if sub:
        out.append(f".SS {literal(command.name)}")
        _paragraph(out, command.summary[:1].upper() + command.summary[1:] + ".")
        out.append(".PP")
        out.append(f"\\fBUsage:\\fR {literal(command.usage)}")
        if command.description and command.description != command.summary:
            out.append(".PP")
            _paragraph(out, command.description)
    for group in command.groups:
        if sub:
            out.append(".PP")
            out.append(f"\\fI{text(group.title)}:\\fR")
        else:
            out.append(f".SS {text(group.title)}")
        if group.description:
            _paragraph(out, group.description)
        for option in group.options:
            out.append(".TP")
            out.append(_option_head(option))
            out.append(_option_body(option))
    if sub:
        _blocks(out, command.epilog)


def _blocks(out: list[str], epilog: str) -> None:
    for verbatim, block in epilog_blocks(epilog):
        out.append(".PP")
        if verbatim:
            out.append(".nf")
            out.extend(_line(literal(line)) for line in block.splitlines())
            out.append(".fi")
        else:
            _paragraph(out, block)


def _keys(out: list[str], keys: tuple[Key, ...]) -> None:
    for key in keys:
        value = " or ".join(f'"{c}"' for c in key.choices) if key.choices else key.example
        out.append(".TP")
        out.append(f"\\fB{literal(key.name)}\\fR = {literal(value)}")
        out.append(_line(text(key.help)))


def _pairs(out: list[str], pairs: tuple[tuple[str, str], ...], bold: bool = True) -> None:
    for name, what in pairs:
        out.append(".TP")
        out.append(f"\\fB{literal(name)}\\fR" if bold else literal(name))
        out.append(_line(text(what)))


def render(ref: Reference) -> str:
    main = ref.main
    what = main.description.rstrip(".")
    out = [
        f'.\\" {prose.GENERATED_NOTE}',
        f'.TH SMTPSH 1 "" "smtpsh {__version__}" "User Commands"',
        ".SH NAME",
        f"smtpsh \\- {text(what[:1].lower() + what[1:])}",
        ".SH SYNOPSIS",
        f"\\fBsmtpsh\\fR {literal(main.usage.removeprefix('smtpsh').strip())}",
    ]
    for sub in ref.subcommands:
        out.append(".br")
        out.append(f"\\fB{literal(sub.name)}\\fR \\fI...\\fR")
    out.append(".SH DESCRIPTION")
    _paragraph(out, "smtpsh opens a live SMTP session and shows every reply parsed, with a "
                    "line under each that says what its code and enhanced status code mean. "
                    "It completes verbs and the ESMTP parameters the server advertised, warns "
                    "before a command the server will probably refuse, and keeps a toolbar "
                    "with the state of the session. When standard input is not a terminal it "
                    "sends each line, waits for the reply and prints the dialogue (C: sent, "
                    "S: received). Start with smtpsh --sandbox, a practice server inside the "
                    "program, and its /tour.")
    out.append(".SH OPTIONS")
    _command(out, main, sub=False)
    out.append(".SH SUB-COMMANDS")
    for sub in ref.subcommands:
        _command(out, sub, sub=True)
    out.append(".SH SHELL COMMANDS")
    _paragraph(out, prose.SHELL_INTRO)
    group = None
    for entry in ref.meta:
        if entry.group != group:
            group = entry.group
            out.append(f".SS {text(group)}")
        out.append(".TP")
        out.append(f"\\fB{literal(entry.usage)}\\fR")
        out.append(_line(text(entry.summary)))
    out.append(".SS keys")
    _pairs(out, prose.KEYS)
    out.append(".SH SMTP VERBS")
    _paragraph(out, "help VERB in the shell explains these at length, with an example.")
    for verb in ref.verbs:
        out.append(".TP")
        out.append(f"\\fB{literal(verb.syntax)}\\fR")
        needs = f" Needs {verb.extension}." if verb.extension else ""
        out.append(_line(text(f"{verb.summary} ({verb.rfc}).{needs}")))
    out.append(".SH CONFIGURATION")
    _paragraph(out, f"{prose.FILES[0][0]}: {prose.CONFIG_INTRO}")
    out.append(".PP")
    out.append(".nf")
    out.extend(_line(literal(line)) for line in prose.CONFIG_EXAMPLE.rstrip().splitlines())
    out.append(".fi")
    out.append(".PP")
    out.append("Top-level keys:")
    _keys(out, ref.config_keys)
    out.append(".PP")
    _paragraph(out, "A [profiles.NAME] table; smtpsh @NAME connects with it (options given "
                    "with it still win):")
    _keys(out, ref.profile_keys)
    out.append(".SH FILES")
    _pairs(out, prose.FILES, bold=False)
    out.append(".SH ENVIRONMENT")
    _pairs(out, prose.ENVIRONMENT)
    out.append(".SH EXIT STATUS")
    _pairs(out, prose.EXIT_STATUS)
    if main.epilog:
        out.append(".SH EXAMPLES")
        # The exit statuses have their own section (EXIT STATUS, the whole table).
        _blocks(out, main.epilog.split(exitcodes.HEADING)[0])
    out.append(".SH SEE ALSO")
    _paragraph(out, prose.SEE_ALSO)
    return "\n".join(out) + "\n"
