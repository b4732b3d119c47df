"""A hostile config.toml (written by someone else, or a symlink to a device) is one line on
stderr and the defaults: no traceback, nothing it holds reaches the terminal raw, and the
session goes on.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.run import run_piped
from tests.helpers.scripted_server import scripted_server
from tests.hostile.drivers import assert_no_traceback
from tests.hostile.servers import STILL_HERE, serve


def config_file(home: Path) -> Path:
    path = home / "config" / "smtpsh" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_nested(path: Path) -> None:
    path.write_text("helo = " + "[" * 5000 + "]" * 5000 + "\n")


def link_to_dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def write_escapes(path: Path) -> None:
    path.write_bytes(b'helo = "a\\u001b[2Jb\\u009b31mc"\n')


def write_escape_in_mail_from(path: Path) -> None:
    path.write_bytes(b'mail_from = "\\u001b[31mred\\u202e@example.net"\n')


def write_crlf(path: Path) -> None:
    path.write_bytes(b'mail_from = "a@b\\r\\nX-Injected: yes"\n')


CASES: dict[str, tuple[Callable[[Path], None], str]] = {
    "nested-5000": (write_nested, r"nested too deeply"),
    "dev-zero": (link_to_dev_zero, r"is not a regular file"),
    "escapes-in-helo": (write_escapes, r"\\x1b\[2Jb\\x9b31mc"),
    "crlf-in-a-value": (write_crlf, r"a@b\\x0d\\x0aX-Injected: yes"),
    "escape-in-mail_from": (write_escape_in_mail_from,
                            r"key 'mail_from': \\x1b \(a control character\) in"
                            r' "\\x1b\[31mred\\u202e@example\.net"'),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_hostile_config_is_one_line_and_the_defaults(
    case: str, tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row(f"config.toml: {case}", "piped")
    write, said = CASES[case]
    write(config_file(tmp_path))
    with scripted_server(serve({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "NOOP\nQUIT\n", tmp_path, timeout=30)
    assert_no_traceback(result.stdout + result.stderr)
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(errors) == 1, result.stderr
    assert errors[0].startswith("smtpsh: config "), errors
    assert re.search(said, errors[0]), errors[0]
    assert errors[0].endswith("; starting with the defaults")
    assert not re.search("[\x00-\x08\x0b-\x1f\x7f-\x9f]", result.stderr), repr(result.stderr)
    assert STILL_HERE in result.stdout
    assert result.returncode == 0


def test_a_huge_config_file_is_refused_without_reading_it_all(
    tmp_path: Path, hostile_row: Callable[[str, str], None]
) -> None:
    hostile_row("config.toml: 100 MB", "piped")
    path = config_file(tmp_path)
    with open(path, "wb") as stream:
        stream.truncate(100 * 2**20)  # sparse: costs no disk
    with scripted_server(serve({})) as port:
        result = run_piped([f"127.0.0.1:{port}"], "NOOP\nQUIT\n", tmp_path, timeout=30)
    assert "is larger than" in result.stderr, result.stderr
    assert STILL_HERE in result.stdout
    os.unlink(path)
