"""The generated completions, loaded into real bash, zsh and fish: options and sub-commands
as the argument parsers define them, files where a file is expected, and host names from
the hosts file and the config's profiles."""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from smtpsh import cli

ROOT = Path(__file__).resolve().parents[2]
BASH = ROOT / "completions" / "smtpsh.bash"
ZSH_DIR = ROOT / "completions"
FISH = ROOT / "completions" / "smtpsh.fish"
HOSTS = ["mail.example.com", "127.0.0.1:2525", "[::1]:25"]


def need(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{program} is not installed (scripts/setup-test-env installs it)")
        pytest.skip(f"{program} is not installed")
    return path


@pytest.fixture
def home(tmp_path: Path) -> Path:
    state = tmp_path / "state" / "smtpsh"
    state.mkdir(parents=True)
    (state / "hosts").write_text("\n".join([*HOSTS, "mail.example.com", "bad host; x"]) + "\n")
    conf = tmp_path / "config" / "smtpsh"
    conf.mkdir(parents=True)
    (conf / "config.toml").write_text(
        'helo = "me.example"\n[profiles.work]\nhost = "a.example"\n'
        '[ profiles.home-lab ]\nhost = "b.example"\n'
    )
    files = tmp_path / "files"
    files.mkdir()
    (files / "ca.pem").write_text("x")
    (files / "session.smtpt").write_text("x")
    return tmp_path


def env_for(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
    env.update(HOME=str(home), XDG_STATE_HOME=str(home / "state"),
               XDG_CONFIG_HOME=str(home / "config"), TERM="xterm")
    return env


def long_flags(parser: argparse.ArgumentParser) -> set[str]:
    """Straight from the parser, not from the generator's model."""
    return {f for a in parser._actions for f in a.option_strings if f.startswith("--")}


def expected_first_words() -> set[str]:
    return {*cli.SUBCOMMANDS, *HOSTS, "@work", "@home-lab"}


# --- bash ----------------------------------------------------------------------------------

_BREAKS = "\"'@><=;|&(:"


def bash_words(line: str) -> list[str]:
    """COMP_WORDS as bash builds them: runs of COMP_WORDBREAKS characters are words of their
    own (checked against bash itself: 'x [::1]:2' -> x [ :: 1] : 2)."""
    pattern = f"[{re.escape(_BREAKS)}]+|[^\\s{re.escape(_BREAKS)}]+"
    words = re.findall(pattern, line)
    if not line or line[-1].isspace():
        words.append("")
    return words


def bash_complete(home: Path, line: str) -> list[str]:
    words = bash_words(line)
    script = (
        f"source {shlex.quote(str(BASH))}\n"
        "complete -p smtpsh >&2\n"
        f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={shlex.quote(line)}\n"
        f"COMP_POINT={len(line)}\n"
        "_smtpsh\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    result = subprocess.run(
        [need("bash"), "--norc", "--noprofile", "-c", script],
        capture_output=True, text=True, timeout=30, env=env_for(home),
    )
    assert "complete -F _smtpsh smtpsh" in result.stderr, result.stderr
    return [w for w in result.stdout.split("\n") if w]


def test_bash_options_from_the_parser(home: Path) -> None:
    assert set(bash_complete(home, "smtpsh --")) == long_flags(cli.build_parser())
    assert bash_complete(home, "smtpsh --star") == ["--starttls"]
    for name in cli.SUBCOMMANDS:
        got = set(bash_complete(home, f"smtpsh {name} --"))
        assert got == long_flags(cli.subcommand_parser(name)), name


def test_bash_first_word_hosts_and_profiles(home: Path) -> None:
    assert set(bash_complete(home, "smtpsh ")) == expected_first_words()
    # Readline replaces only the text after the last ':' or '=' (an '@' stays in it), so
    # that is what the answers hold (checked with real readline in the next test).
    assert bash_complete(home, "smtpsh @") == ["@work", "@home-lab"]
    assert bash_complete(home, "smtpsh @w") == ["@work"]
    assert bash_complete(home, "smtpsh 127.0.0.1:") == ["2525"]
    assert bash_complete(home, "smtpsh [::1]:2") == ["25"]
    assert bash_complete(home, "smtpsh --tls mail") == ["mail.example.com"]
    assert bash_complete(home, "smtpsh probe ") == [*sorted(HOSTS), "@work", "@home-lab"]


def test_bash_values(home: Path) -> None:
    assert bash_complete(home, "smtpsh --color ") == ["auto", "always", "never"]
    assert bash_complete(home, "smtpsh --color=al") == ["always"]
    assert bash_complete(home, "smtpsh --color=") == ["auto", "always", "never"]
    assert bash_complete(home, "smtpsh enum -m r") == ["rcpt"]
    assert bash_complete(home, f"smtpsh --cafile {home}/files/c") == [f"{home}/files/ca.pem"]
    assert bash_complete(home, f"smtpsh replay {home}/files/se") == [
        f"{home}/files/session.smtpt"
    ]
    assert bash_complete(home, "smtpsh --port ") == []  # a number: nothing to offer
    assert bash_complete(home, "smtpsh dns ") == []  # a domain: free text


@pytest.mark.pty
def test_bash_tab_in_a_real_terminal(home: Path) -> None:
    """Readline itself, in tmux: what the user sees after pressing Tab."""
    need("tmux")
    socket = f"smtpsh-comp-{uuid.uuid4().hex[:8]}"
    rc = home / "bashrc"
    rc.write_text(f"PS1='$ '\nsource {shlex.quote(str(BASH))}\n")
    env = env_for(home)
    command = ["env", *(f"{k}={v}" for k, v in env.items() if k.isidentifier()),
               "bash", "--noprofile", "--rcfile", str(rc), "-i"]
    subprocess.run(["tmux", "-L", socket, "new-session", "-d", "-x", "100", "-y", "10",
                    *command], check=True, timeout=10)
    try:
        def screen() -> str:
            return subprocess.run(["tmux", "-L", socket, "capture-pane", "-p"],
                                  capture_output=True, text=True, timeout=10).stdout

        def tab_result(typed: str, expect: str) -> None:
            subprocess.run(["tmux", "-L", socket, "send-keys", "-l", typed], timeout=10)
            subprocess.run(["tmux", "-L", socket, "send-keys", "Tab"], timeout=10)
            deadline = time.monotonic() + 10
            # capture-pane drops trailing blanks: compare the whole prompt line instead.
            def line() -> str:
                return next((r for r in screen().splitlines() if r.startswith("$ smtpsh")), "")

            while time.monotonic() < deadline and line() != f"$ {expect}":
                time.sleep(0.1)
            assert line() == f"$ {expect}", screen()
            subprocess.run(["tmux", "-L", socket, "send-keys", "C-u"], timeout=10)

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "$" not in screen():
            time.sleep(0.1)
        tab_result("smtpsh @w", "smtpsh @work")
        tab_result("smtpsh 127.0.0.1:", "smtpsh 127.0.0.1:2525")
        tab_result("smtpsh --sta", "smtpsh --starttls")
        tab_result("smtpsh --color=al", "smtpsh --color=always")
        tab_result("smtpsh [::1]:", "smtpsh [::1]:25")
    finally:
        subprocess.run(["tmux", "-L", socket, "kill-server"], capture_output=True, timeout=10)


# --- zsh -----------------------------------------------------------------------------------

# Starts an interactive zsh on a pseudo-terminal (zpty), loads compinit with the generated
# function, replaces compadd by one that prints each match, and presses Tab.
ZSH_CAPTURE = r"""
zmodload zsh/zpty
zpty z zsh -f -i
zpty -w z "PROMPT=''; fpath=($1 \$fpath); autoload -Uz compinit; compinit -u -D"
zpty -w z 'zstyle ":completion:*" list-grouped false; zstyle ":completion:*" insert-tab false'
zpty -w z 'compadd () {
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then builtin compadd "$@"; return $?; fi
  typeset -a __hits; builtin compadd -A __hits "$@"; local ret=$?
  (( $#__hits )) || return $ret
  local h; for h in $__hits; do print -r -- "<<$h>>"; done
  builtin compadd -Q -U ""
}'
zpty -w z 'bindkey "^I" complete-word'
zpty -w z 'echo READY'
zpty -r z line '*READY*'
zpty -r z line '*READY*'
zpty -w -n z "$2"$'\t'
while zpty -r -t z line 2>/dev/null || { sleep 0.3; zpty -r -t z line 2>/dev/null }; do
  print -r -- "$line"
done
zpty -d z
"""


def zsh_complete(home: Path, line: str) -> set[str]:
    result = subprocess.run(
        [need("zsh"), "-f", "-c", ZSH_CAPTURE, "zsh", str(ZSH_DIR), line],
        capture_output=True, text=True, timeout=60, env=env_for(home),
    )
    return {m.replace("\\", "") for m in re.findall(r"<<([^>\r\n]*)>>", result.stdout)}


def test_zsh(home: Path) -> None:
    assert zsh_complete(home, "smtpsh --") >= long_flags(cli.build_parser())
    assert zsh_complete(home, "smtpsh --star") == {"--starttls"}
    assert zsh_complete(home, "smtpsh ") == expected_first_words()
    assert zsh_complete(home, "smtpsh @") == {"@work", "@home-lab"}
    assert zsh_complete(home, "smtpsh --color ") == {"auto", "always", "never"}
    assert zsh_complete(home, "smtpsh enum -m ") == {"auto", "vrfy", "expn", "rcpt"}
    assert zsh_complete(home, f"smtpsh --cafile {home}/files/c") == {"ca.pem"}
    assert zsh_complete(home, "smtpsh relay ") == {*HOSTS, "@work", "@home-lab"}
    for name in ("dns", "replay"):
        got = zsh_complete(home, f"smtpsh {name} --")
        assert got >= long_flags(cli.subcommand_parser(name)) - {"--help"}, name
        assert "--sandbox" not in got  # the main command's options stay out


# --- fish ----------------------------------------------------------------------------------


def fish_complete(home: Path, line: str) -> set[str]:
    script = f"source {shlex.quote(str(FISH))}; complete -C{shlex.quote(line)}"
    result = subprocess.run(
        [need("fish"), "--no-config", "-c", script],
        capture_output=True, text=True, timeout=30, env=env_for(home),
    )
    assert result.returncode == 0, result.stderr
    return {row.split("\t")[0] for row in result.stdout.splitlines() if row}


def test_fish(home: Path) -> None:
    assert fish_complete(home, "smtpsh --") == long_flags(cli.build_parser())
    assert fish_complete(home, "smtpsh ") == expected_first_words()
    assert fish_complete(home, "smtpsh @") == {"@work", "@home-lab"}
    assert fish_complete(home, "smtpsh --color ") == {"auto", "always", "never"}
    assert fish_complete(home, "smtpsh enum -m ") == {"auto", "vrfy", "expn", "rcpt"}
    assert fish_complete(home, f"smtpsh --cafile {home}/files/c") == {f"{home}/files/ca.pem"}
    assert fish_complete(home, f"smtpsh replay {home}/files/s") == {
        f"{home}/files/session.smtpt"
    }
    for name in cli.SUBCOMMANDS:
        got = fish_complete(home, f"smtpsh {name} --")
        assert got == long_flags(cli.subcommand_parser(name)), name


# --- the scripts are what the generator makes now -----------------------------------------


@pytest.mark.parametrize(("shell", "path"), [
    ("bash", BASH), ("zsh", ZSH_DIR / "_smtpsh"), ("fish", FISH),
])
def test_smtpsh_completion_prints_the_committed_script(shell: str, path: Path) -> None:
    result = subprocess.run(
        [*shlex.split(os.environ.get("SMTPSH", "python3 -m smtpsh")), "--completion", shell],
        capture_output=True, text=True, timeout=30, cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == path.read_text(), "run scripts/gen-docs"
