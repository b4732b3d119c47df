"""Generated documentation: the reference, the man page and the shell completions, all
made from the real parsers and registries (see model.py), so none of them can drift.

``scripts/gen-docs`` writes them into the source tree (``--check`` only compares);
``smtpsh --man`` and ``smtpsh --completion SHELL`` print them from the installed code.
"""

from __future__ import annotations

import argparse
import difflib
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from smtpsh.docgen import completion, markdown, roff
from smtpsh.docgen.model import Reference, collect

# Path in the source tree -> how it is made.
OUTPUTS: dict[str, Callable[[Reference], str]] = {
    "docs/reference.md": markdown.render,
    "docs/smtpsh.1": roff.render,
    "completions/smtpsh.bash": completion.bash,
    "completions/_smtpsh": completion.zsh,
    "completions/smtpsh.fish": completion.fish,
}

COMPLETIONS: dict[str, Callable[[Reference], str]] = {
    "bash": completion.bash,
    "zsh": completion.zsh,
    "fish": completion.fish,
}


def generate() -> dict[str, str]:
    ref = collect()
    problems = completion.check_names(ref)
    if problems:
        raise ValueError("; ".join(problems))
    return {path: make(ref) for path, make in OUTPUTS.items()}


def stale(root: Path) -> dict[str, str]:
    """Generated files that differ from what is in *root*: path -> unified diff."""
    diffs: dict[str, str] = {}
    for path, text in generate().items():
        target = root / path
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            diffs[path] = "".join(
                difflib.unified_diff(
                    current.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"{path} (committed)",
                    f"{path} (generated now)",
                )
            )
    return diffs


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="gen-docs",
        description="Write docs/reference.md, docs/smtpsh.1 and completions/* from the code.",
    )
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 and show a diff when a file is out of date")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2],
                        help="the source tree (default: the one this smtpsh comes from)")
    args = parser.parse_args(argv)
    diffs = stale(args.root)
    if args.check:
        for diff in diffs.values():
            sys.stdout.write(diff)
        for path in diffs:
            print(f"gen-docs: {path} is out of date: run scripts/gen-docs", file=sys.stderr)
        return 1 if diffs else 0
    generated = generate()
    for path in diffs:
        target = args.root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(generated[path], encoding="utf-8")
        print(f"wrote {path}")
    if not diffs:
        print("gen-docs: everything is up to date")
    return 0


def print_man() -> int:
    sys.stdout.write(roff.render(collect()))
    return 0


def print_completion(shell: str) -> int:
    sys.stdout.write(COMPLETIONS[shell](collect()))
    return 0
