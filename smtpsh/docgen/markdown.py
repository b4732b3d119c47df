"""docs/reference.md: every command-line option, sub-command, shell command, SMTP verb
and configuration key, in plain Markdown that reads well on the forge."""

from __future__ import annotations

from smtpsh import exitcodes, jsonout
from smtpsh.config import Key
from smtpsh.docgen import prose
from smtpsh.docgen.model import Command, Option, Reference, epilog_blocks


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    """An inline code span that survives backticks inside it."""
    fence = "``" if "`" in text else "`"
    pad = " " if "`" in text else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def _anchor(title: str) -> str:
    """GitHub/Gitea-style heading anchor."""
    kept = "".join(c for c in title.lower() if c.isalnum() or c in " -_")
    return kept.replace(" ", "-")


def option_label(option: Option) -> str:
    if option.positional:
        return _code(f"[{option.metavar}]" if option.optional_value else option.metavar)
    value = f" {option.metavar}" if option.takes_value else ""
    if option.optional_value:
        value = f" [{option.metavar}]"
    return ", ".join(_code(flag + value) for flag in option.flags)


def _option_meaning(option: Option) -> str:
    text = option.help or ""
    extras = []
    if option.repeatable:
        extras.append("repeatable")
    if option.exclusive_with:
        others = [f for f in option.exclusive_with if f not in option.flags]
        extras.append("not with " + ", ".join(_code(f) for f in others))
    if extras:
        text += f" ({'; '.join(extras)})" if text else "; ".join(extras)
    return _cell(text)


def _command(out: list[str], command: Command, level: str) -> None:
    out.append("```text")
    out.append(command.usage)
    out.append("```")
    out.append("")
    if command.description and command.description != command.summary:
        out.append(" ".join(command.description.split()))
        out.append("")
    for group in command.groups:
        out.append(f"{level} {command.name}: {group.title}")
        out.append("")
        if group.description:
            out.append(group.description)
            out.append("")
        out.append("| option | meaning |")
        out.append("| --- | --- |")
        for option in group.options:
            out.append(f"| {option_label(option)} | {_option_meaning(option)} |")
        out.append("")
    for verbatim, block in epilog_blocks(command.epilog):
        out.extend(["```text", block, "```"] if verbatim else [block])
        out.append("")


def _keys(out: list[str], keys: tuple[Key, ...]) -> None:
    out.append("| key | value | meaning |")
    out.append("| --- | --- | --- |")
    for key in keys:
        value = " or ".join(f'"{c}"' for c in key.choices) if key.choices else key.example
        out.append(f"| {_code(key.name)} | {_cell(_code(value))} | {_cell(key.help)} |")
    out.append("")


def render(ref: Reference) -> str:
    out: list[str] = ["# smtpsh reference", "", f"<!-- {prose.GENERATED_NOTE} -->", ""]
    sections = ["Command line", "Sub-commands", "Shell commands", "SMTP verbs",
                "Configuration file", "Files and environment", "Exit status", "JSON output"]
    out.append(" · ".join(f"[{s}](#{_anchor(s)})" for s in sections))
    out.append("")
    out.append("For a walk-through see the [user guide](guide.md); for SMTP itself, the "
               "[primer](primer.md); for the file `--record` writes, the "
               "[transcript format](transcripts.md#the-format).")
    out.append("")

    out.append("## Command line")
    out.append("")
    out.append(ref.main.description)
    out.append("")
    _command(out, ref.main, "###")

    out.append("## Sub-commands")
    out.append("")
    out.append("The first word after `smtpsh` picks a sub-command; each does one job.")
    out.append("")
    for sub in ref.subcommands:
        out.append(f"- [`{sub.name}`](#{_anchor(sub.name)}) — {sub.summary}")
    out.append("")
    for sub in ref.subcommands:
        out.append(f"### {sub.name}")
        out.append("")
        out.append(sub.summary[:1].upper() + sub.summary[1:] + ".")
        out.append("")
        _command(out, sub, "####")

    out.append("## Shell commands")
    out.append("")
    out.append(prose.SHELL_INTRO)
    out.append("")
    groups: dict[str, list[str]] = {}
    for entry in ref.meta:
        groups.setdefault(entry.group, []).append(
            f"| {_cell(_code(entry.usage))} | {_cell(entry.summary)} |"
        )
    for group, rows in groups.items():
        out.extend([f"### {group}", "", "| command | what it does |", "| --- | --- |", *rows, ""])
    out.extend(["### keys", "", "| key | what it does |", "| --- | --- |"])
    out.extend(f"| {k} | {_cell(v)} |" for k, v in prose.KEYS)
    out.append("")

    out.append("## SMTP verbs")
    out.append("")
    out.append("The verbs smtpsh knows (it sends any other line too). `help VERB` in the shell "
               "shows the full text and an example.")
    out.append("")
    out.append("| verb | syntax | what it does | defined in | needs |")
    out.append("| --- | --- | --- | --- | --- |")
    for verb in ref.verbs:
        needs = verb.extension or ""
        out.append(f"| {verb.verb} | {_cell(_code(verb.syntax))} | {_cell(verb.summary)} | "
                   f"{verb.rfc} | {needs} |")
    out.append("")

    out.append("## Configuration file")
    out.append("")
    out.append(f"`{prose.FILES[0][0]}` — {prose.CONFIG_INTRO}")
    out.append("")
    out.extend(["```toml", prose.CONFIG_EXAMPLE.rstrip(), "```", ""])
    out.append("Top-level keys:")
    out.append("")
    _keys(out, ref.config_keys)
    out.append("A `[profiles.NAME]` table; `smtpsh @NAME` connects with it (options given "
               "with it still win):")
    out.append("")
    _keys(out, ref.profile_keys)

    out.append("## Files and environment")
    out.append("")
    out.append("| file | what |")
    out.append("| --- | --- |")
    out.extend(f"| `{f}` | {_cell(what)} |" for f, what in prose.FILES)
    out.append("")
    out.append("| variable | effect |")
    out.append("| --- | --- |")
    out.extend(f"| `{v}` | {_cell(what)} |" for v, what in prose.ENVIRONMENT)
    out.append("")

    out.append("## Exit status")
    out.append("")
    out.append("One table for every command (`smtpsh.exitcodes`): the same number means the same"
               " thing whatever the command; a dash, that the command never returns it. Column"
               " `many`: dns, probe, enum, relay and tls over many targets (one status for"
               " the whole run).")
    out.append("")
    out.append("| status | | " + " | ".join(exitcodes.COLUMNS) + " |")
    out.append("| --- | --- | " + " | ".join("---" for _ in exitcodes.COLUMNS) + " |")
    for code, (name, per) in exitcodes.TABLE.items():
        cells = " | ".join(_cell(per.get(c, "") or "—") for c in exitcodes.COLUMNS)
        out.append(f"| {code} | {name} | {cells} |")
    json_cells = " | ".join(
        "the envelope below" if c in jsonout.COMMANDS
        else _cell(f"refused (status 2): {jsonout.NO_JSON[c]}") if c in jsonout.NO_JSON
        else "—"
        for c in exitcodes.COMMANDS
    )
    out.append(f"| `--json` | | {json_cells} |")
    out.append("")

    out.append("## JSON output")
    out.append("")
    out.append(f"`--json` ({', '.join(jsonout.COMMANDS)}) prints one document: a versioned"
               " envelope around the command's own result, errors included (then `result` is"
               " null and `error` says why; a command line argparse refuses too, besides its"
               " usage on standard error). `status` and `exit` are the exit status above."
               " The JSON Schema (draft 2020-12) is `smtpsh/data/output.schema.json`.")
    out.append("")
    out.append("`smtpsh send --json` prints the dialogue on standard error, as text, and on"
               " standard output what became of the message: the greeting, the sender and each"
               " recipient with its reply, the replies to the message (in LMTP each recipient"
               " has its own `delivery`), the queue id, and `accepted`; a failed send's `error`"
               " says which step refused (`kind` refused), or that there was no connection"
               " (`connect`). With `--dry-run` the message as built (`text`), and no reply."
               " `report` and `sandbox` refuse `--json` (status 2) and say why: a report is a"
               " page for people made from these documents; the sandbox is a server whose"
               " output is a log.")
    out.append("")
    out.extend(["```json", jsonout.schema_text().rstrip(), "```", ""])
    return "\n".join(out)
