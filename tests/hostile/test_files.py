"""Files on disk an attacker may have prepared: smtpsh writes its own files (transcripts,
history, the hosts file, enum results) without following a planted symlink, never chmods a
file it did not create, and makes missing parent directories 0700 whatever the umask.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from tests.audit.fakesmtp import running
from tests.helpers.run import run_piped, smtpsh_env
from tests.helpers.scripted_server import scripted_server
from tests.helpers.tmux import Screen
from tests.hostile.drivers import Terminal, assert_no_traceback
from tests.hostile.servers import serve

VICTIM_TEXT = "precious: not smtpsh's\n"


def victim(tmp_path: Path) -> Path:
    path = tmp_path / "victim.txt"
    path.write_text(VICTIM_TEXT)
    path.chmod(0o644)
    return path


def assert_untouched(path: Path) -> None:
    assert path.read_text() == VICTIM_TEXT
    assert path.stat().st_mode & 0o777 == 0o644, oct(path.stat().st_mode)


def test_record_to_a_planted_symlink_is_refused(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: symlink planted where smtpsh writes", "piped")
    target = victim(tmp_path)
    link = tmp_path / "link.smtpt"
    link.symlink_to(target)
    with scripted_server(serve({})) as port:
        result = run_piped(["--record", str(link), f"127.0.0.1:{port}"], "NOOP\nQUIT\n", tmp_path)
    out = result.stdout + result.stderr
    assert f"cannot record to {link}: is a symbolic link: refused" in out, out
    assert result.returncode != 0
    assert_untouched(target)


def test_slash_record_to_a_planted_symlink_is_refused_and_the_session_goes_on(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: symlink planted where smtpsh writes", "piped")
    target = victim(tmp_path)
    link = tmp_path / "link.smtpt"
    link.symlink_to(target)
    with scripted_server(serve({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], f"/record {link}\nNOOP\nQUIT\n", tmp_path)
    out = result.stdout + result.stderr
    assert "is a symbolic link: refused" in out and "250 2.0.0 still here" in out, out
    assert_untouched(target)


def test_record_over_a_file_that_is_not_a_transcript_is_refused(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: existing file that is not smtpsh's", "piped")
    target = victim(tmp_path)
    with scripted_server(serve({})) as port:
        result = run_piped(["--record", str(target), f"127.0.0.1:{port}"], "QUIT\n", tmp_path)
    assert "exists and is not a transcript: refused" in result.stdout + result.stderr
    assert_untouched(target)


def test_record_over_a_hard_link_is_refused(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: existing file that is not smtpsh's", "piped")
    target = tmp_path / "someone-elses.smtpt"
    target.write_text("# smtpsh transcript 1\n")
    target.chmod(0o644)
    link = tmp_path / "hard.smtpt"
    os.link(target, link)
    with scripted_server(serve({})) as port:
        result = run_piped(["--record", str(link), f"127.0.0.1:{port}"], "QUIT\n", tmp_path)
    assert "other hard links to it: refused" in result.stdout + result.stderr
    assert target.read_text() == "# smtpsh transcript 1\n"


def test_an_existing_transcript_is_overwritten_and_keeps_its_mode(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: existing file that is not smtpsh's", "piped")
    path = tmp_path / "old.smtpt"
    path.write_text("# smtpsh transcript 1\nC: OLD\n")
    path.chmod(0o640)
    with scripted_server(serve({})) as port:
        result = run_piped(["--record", str(path), f"127.0.0.1:{port}"], "NOOP\nQUIT\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    text = path.read_text()
    assert "C: NOOP" in text and "C: OLD" not in text
    assert path.stat().st_mode & 0o777 == 0o640  # the owner's choice, not chmod-ed


def test_the_hosts_file_as_a_symlink_is_not_followed(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: symlink planted where smtpsh writes", "files")
    target = victim(tmp_path)
    state = tmp_path / "state" / "smtpsh"
    state.mkdir(parents=True)
    (state / "hosts").symlink_to(target)
    with scripted_server(serve({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "NOOP\nQUIT\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_untouched(target)


def test_enum_output_to_a_planted_symlink_is_refused(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: symlink planted where smtpsh writes", "enum")
    target = victim(tmp_path)
    link = tmp_path / "found.txt"
    link.symlink_to(target)
    with running() as server:
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", "enum", f"127.0.0.1:{server.port}", "-u", "robin",
             "-m", "vrfy", "-q", "-o", str(link)],
            capture_output=True, text=True, timeout=60, env=smtpsh_env(tmp_path),
            stdin=subprocess.DEVNULL,
        )
    assert "robin" in result.stdout, result.stdout + result.stderr
    assert f"cannot write {link}: is a symbolic link: refused" in result.stderr, result.stderr
    assert_untouched(target)


def test_history_as_a_symlink_is_not_followed(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: symlink planted where smtpsh writes", "shell")
    target = victim(tmp_path)
    state = tmp_path / "state" / "smtpsh"
    state.mkdir(parents=True)
    (state / "history").symlink_to(target)
    with scripted_server(serve({})) as port:
        screen = Screen([f"127.0.0.1:{port}"], smtpsh_env(tmp_path))
        try:
            term = Terminal(screen)
            term.wait_prompt(0, 15)
            term.enter("NOOP", 10)
            shown = screen.history()
            screen.line("/quit")
            assert screen.exit_status() == 0
        finally:
            screen.close()
    assert_no_traceback(shown)
    words = " ".join(shown.split())  # the shell wraps a long message across rows
    assert "history not saved to" in words and "is a symbolic link: refused" in words, shown
    assert_untouched(target)


def test_missing_parents_are_made_0700_under_umask_000(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("file: umask 000, state directories missing", "piped")
    env = smtpsh_env(tmp_path)
    del env["XDG_STATE_HOME"]  # the default, ~/.local/state/smtpsh
    record_dir = tmp_path / "records"
    record_dir.mkdir()
    with scripted_server(serve({})) as port:
        result = subprocess.run(
            [sys.executable, "-m", "smtpsh", "--record", str(record_dir / "s.smtpt"),
             f"127.0.0.1:{port}"],
            input="NOOP\nQUIT\n", capture_output=True, text=True, timeout=60, env=env,
            preexec_fn=lambda: os.umask(0),
        )
    assert result.returncode == 0, result.stdout + result.stderr
    made = [tmp_path / ".local", tmp_path / ".local" / "state",
            tmp_path / ".local" / "state" / "smtpsh"]
    modes = {str(p.relative_to(tmp_path)): oct(p.stat().st_mode & 0o777) for p in made}
    assert set(modes.values()) == {"0o700"}, modes
    assert (tmp_path / ".local" / "state" / "smtpsh" / "hosts").stat().st_mode & 0o777 == 0o600
    assert (record_dir / "s.smtpt").stat().st_mode & 0o777 == 0o600
