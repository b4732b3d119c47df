"""One set of flags: the same option means the same thing in every command, and the one
reader of --password-file / --password-env."""

from __future__ import annotations

import argparse
import os
import re
from pathlib import Path

import pytest

from smtpsh import cli, exitcodes, flags
from smtpsh.audit.probe import add_probe_options
from smtpsh.target import UsageError, client_options


def _flag_map(parser: argparse.ArgumentParser) -> dict[str, str]:
    """option string -> its destination, for every option of ``parser``."""
    return {flag: action.dest for action in parser._actions for flag in action.option_strings}


def test_a_flag_has_one_meaning_in_every_command() -> None:
    parsers = {"session": cli.build_parser()} | {
        name: cli.subcommand_parser(name) for name in exitcodes.COMMANDS[1:]
    }
    meanings: dict[str, set[str]] = {}
    for parser in parsers.values():
        for flag, dest in _flag_map(parser).items():
            meanings.setdefault(flag, set()).add(dest)
    assert {flag for flag, dests in meanings.items() if len(dests) > 1} == set()
    for name in ("probe", "enum", "relay"):
        assert _flag_map(parsers[name])["-D"] == "domain", name
    assert _flag_map(parsers["enum"])["-u"] == "names"
    for name in ("session", "replay"):
        assert _flag_map(parsers[name])["--user"] == "user"
        assert _flag_map(parsers[name])["--password-file"] == "password_file"
    for name in ("session", "send", "probe", "enum", "relay", "replay", "tls"):
        assert _flag_map(parsers[name])["--connect-timeout"] == "connect_timeout"
        assert parsers[name].get_default("connect_timeout") == flags.CONNECT_TIMEOUT, name


@pytest.mark.parametrize("name", ["session", "enum", "relay", "replay"])
def test_flags_that_exclude_each_other_are_refused_alike_everywhere(name: str) -> None:
    parser = cli.build_parser() if name == "session" else cli.subcommand_parser(name)
    first = ["x.smtpt"] if name == "replay" else []
    both = ["--password-file", "f", "--password-env", "E"]
    secret = both if name in ("session", "replay") else []
    tls = ["--tls", "--starttls"] if name != "replay" else []
    for extra, message in ((tls, "--starttls and --tls (or port 465) exclude each other"),
                           (secret, "give --password-file or --password-env, not both")):
        if not extra:
            continue
        args = parser.parse_args([*first, "mx.test", *extra])
        with pytest.raises(UsageError, match=re.escape(message)):
            client_options(args, "mx.test", 25)


def test_the_shell_probe_parses_its_words_with_the_probe_flags() -> None:
    parser = flags.WordsParser("/probe")
    add_probe_options(parser)
    opts = parser.parse_words("--no-relay -D relay.example --json --tls-scan")
    assert (opts.no_relay, opts.domain, opts.json, opts.tls_scan) == (
        True, "relay.example", True, True
    )
    with pytest.raises(UsageError, match=r"^/probe: unrecognized arguments: --bogus$"):
        parser.parse_words("--bogus")


# --- the one reader of secrets -----------------------------------------------------------


def test_a_password_file_gives_its_first_line(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "secret"
    secret.write_text("s3cret pass\r\nsecond line\n")
    secret.chmod(0o600)
    assert flags.read_secret(str(secret), None) == ("s3cret pass", [])
    monkeypatch.setenv("HOME", str(tmp_path))
    assert flags.read_secret("~/secret", None)[0] == "s3cret pass"  # ~ expanded
    secret.chmod(0o644)
    _, warnings = flags.read_secret(str(secret), None)
    assert warnings == [f"--password-file: {secret} is readable by others (chmod 600 it)"]


def test_password_problems_are_one_line_each(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\nnot the first line\n")
    empty.chmod(0o600)
    cases = {
        (str(empty), None): f"--password-file: {empty} is empty (the secret is its first line)",
        (str(tmp_path / "none"), None): (
            f"--password-file: cannot read {tmp_path / 'none'}: No such file or directory"
        ),
        (None, "SMTPSH_TEST_UNSET"): (
            "--password-env: the environment variable SMTPSH_TEST_UNSET is not set"
        ),
        (None, "SMTPSH_TEST_EMPTY"): (
            "--password-env: the environment variable SMTPSH_TEST_EMPTY is empty"
        ),
    }
    monkeypatch.delenv("SMTPSH_TEST_UNSET", raising=False)
    monkeypatch.setenv("SMTPSH_TEST_EMPTY", "")
    for (path, env), message in cases.items():
        with pytest.raises(UsageError) as caught:
            flags.read_secret(path, env)
        assert str(caught.value) == message
    monkeypatch.setenv("SMTPSH_TEST_SET", "from env")
    assert flags.read_secret(None, "SMTPSH_TEST_SET") == ("from env", [])
    assert os.environ["SMTPSH_TEST_SET"] == "from env"


def test_tls_takes_the_shared_connection_flags() -> None:
    """smtpsh tls: -4/-6 and --connect-timeout as every command that connects; --tls with
    --starttls refused with the same line as everywhere."""
    from tests.helpers.jsondoc import smtpsh

    parser = cli.subcommand_parser("tls")
    args = parser.parse_args(["mx.test", "-6", "--connect-timeout", "3", "--helo", "me.test"])
    assert (args.family, args.connect_timeout, args.helo) == (6, 3.0, "me.test")
    both = smtpsh("tls", "127.0.0.1", "--tls", "--starttls")
    assert both.returncode == exitcodes.USAGE
    assert both.stderr == (
        "smtpsh tls: --starttls and --tls (or port 465) exclude each other: TLS is already on\n"
    )
    # -6 for an IPv4 address: nothing to connect to, said as the sessions say it
    v6 = smtpsh("tls", "127.0.0.1:25", "-6")
    assert v6.returncode == exitcodes.FAILED and "cannot resolve host '127.0.0.1'" in v6.stderr
