"""The docs: the generated reference, man page and completions match the code now; every
option, sub-command and shell command is in them; --help is grouped with examples that
parse; the man page renders without warnings; relative links resolve."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from smtpsh import cli, docgen
from smtpsh.shell import metacommands

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "docs" / "reference.md"
MAN = ROOT / "docs" / "smtpsh.1"
SMTPSH = [*shlex.split(os.environ.get("SMTPSH", f"{sys.executable} -m smtpsh"))]


def test_generated_files_are_current() -> None:
    """Fails when an option, sub-command or shell command changed and the committed
    reference, man page or completions were not regenerated (run scripts/gen-docs)."""
    diffs = docgen.stale(ROOT)
    assert not diffs, "out of date, run scripts/gen-docs:\n" + "\n".join(diffs.values())


def _parsers() -> list[argparse.ArgumentParser]:
    return [cli.build_parser(), *(cli.subcommand_parser(name) for name in cli.SUBCOMMANDS)]


def test_every_option_and_command_is_documented() -> None:
    reference = REFERENCE.read_text()
    man = MAN.read_text().replace("\\-", "-")
    for parser in _parsers():
        assert f"### {parser.prog}" in reference or parser.prog == "smtpsh"
        for action in parser._actions:
            for flag in action.option_strings:
                assert f"`{flag}" in reference, f"{parser.prog} {flag} not in reference.md"
                assert f"\\fB{flag}\\fR" in man, f"{parser.prog} {flag} not in smtpsh.1"
    metacommands.load_features()
    for name, command in metacommands.META.items():
        assert f"`{command.usage.replace('|', chr(92) + '|')}`" in reference, name
        assert name in man, name


def test_gen_docs_check_catches_drift(tmp_path: Path) -> None:
    script = [sys.executable, str(ROOT / "scripts" / "gen-docs")]
    written = subprocess.run([*script, "--root", str(tmp_path)],
                             capture_output=True, text=True, timeout=120)
    assert written.returncode == 0, written.stderr
    assert "wrote docs/reference.md" in written.stdout
    clean = subprocess.run([*script, "--root", str(tmp_path), "--check"],
                           capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    # Someone documents an option by hand (or an option changes): --check fails with a diff.
    reference = tmp_path / "docs" / "reference.md"
    reference.write_text(reference.read_text().replace("`--starttls`", "`--start-tls`"))
    stale = subprocess.run([*script, "--root", str(tmp_path), "--check"],
                           capture_output=True, text=True, timeout=120)
    assert stale.returncode == 1
    assert "docs/reference.md is out of date" in stale.stderr
    assert "-| `--start-tls`" in stale.stdout and "+| `--starttls`" in stale.stdout


def test_man_option_prints_the_committed_page() -> None:
    result = subprocess.run([*SMTPSH, "--man"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == MAN.read_text()


def test_man_page_renders_without_warnings() -> None:
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    result = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(MAN)], capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    text = subprocess.run([groff, "-man", "-Tutf8", str(MAN)], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "LC_ALL": "C.UTF-8"}).stdout
    plain = re.sub(r".\x08", "", text)
    for heading in ("NAME", "SYNOPSIS", "OPTIONS", "SUB-COMMANDS", "SHELL COMMANDS",
                    "CONFIGURATION", "FILES", "EXIT STATUS", "EXAMPLES"):
        assert f"\n{heading}\n" in plain, heading


@pytest.mark.parametrize("words", [[], *([name] for name in cli.SUBCOMMANDS)])
def test_help_is_grouped_with_examples(words: list[str]) -> None:
    result = subprocess.run([*SMTPSH, *words, "--help"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "COLUMNS": "100"})
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "\nexamples:\n" in out
    titles = re.findall(r"(?m)^([A-Za-z][^\n:]*):$", out)
    # Options in groups of their own, not one long list under "options:".
    assert len([t for t in titles if t not in ("options", "positional arguments")]) >= 2, titles
    assert max(len(line) for line in out.splitlines()) <= 100
    examples = out.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    for line in examples.splitlines():
        command = line.strip().split("  ")[0]
        assert command.startswith("smtpsh"), line
        argv = shlex.split(re.split(r" [<>|] ", command)[0])[1:]  # no shell redirection
        if argv[0] in cli.SUBCOMMANDS:
            parser = cli.subcommand_parser(argv[0])
            argv = argv[1:]
        else:
            parser = cli.build_parser()
        parser.parse_args(argv)  # every example is a valid command line


def test_subcommand_examples_cover_every_subcommand() -> None:
    assert set(cli.SUBCOMMAND_EXAMPLES) == set(cli.SUBCOMMANDS)


_LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _anchors(markdown: str) -> set[str]:
    anchors = set()
    for heading in re.findall(r"(?m)^#+ (.+)$", markdown):
        kept = "".join(c for c in heading.lower() if c.isalnum() or c in " -_")
        anchors.add(kept.replace(" ", "-"))
    return anchors


def test_relative_links_resolve() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")),
             ROOT / "completions" / "README.md"]
    for page in pages:
        text = page.read_text()
        for target in _LINK.findall(text):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            path, _, anchor = target.partition("#")
            file = (page.parent / path).resolve() if path else page
            assert file.exists(), f"{page.name}: broken link {target}"
            if anchor and file.suffix == ".md":
                assert anchor in _anchors(file.read_text()), f"{page.name}: no #{anchor}"


def test_user_guide_covers_the_path() -> None:
    guide = (ROOT / "docs" / "guide.md").read_text()
    headings = re.findall(r"(?m)^## (.+)$", guide)
    wanted = ["Install", "sandbox", "real server", "STARTTLS", "AUTH", "Composing", "DNS",
              "Transcripts", "Footprinting", "Configuration", "Shell completion"]
    for word in wanted:
        assert any(word.lower() in h.lower() for h in headings), word
    # The steps come in the order a newcomer needs them.
    order = [next(i for i, h in enumerate(headings) if w.lower() in h.lower()) for w in wanted[:9]]
    assert order == sorted(order)


def test_what_the_docs_say_of_help_in_capitals_is_what_happens() -> None:
    # The guide and the man page said `HELP` in capitals goes to the server; smtpsh
    # answers it itself in any case, and /send-verb HELP is the way to the server's.
    proc = subprocess.run(
        [*SMTPSH, "--sandbox"], input="EHLO me\nHELP\nQUIT\n",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "C: HELP" not in proc.stdout and "/send-verb HELP" in proc.stdout
    for doc in ("docs/guide.md", "docs/reference.md", "docs/smtpsh.1"):
        text = (ROOT / doc).read_text(encoding="utf-8")
        assert "capitals goes to the server" not in text, doc
        assert "/send-verb HELP" in text, doc
