"""config.toml: parsing, broken files, and the command line using it (defaults, @profiles,
the hosts file, record_dir)."""

from __future__ import annotations

import re
import socket
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smtpsh import config
from smtpsh.config import ConfigError
from tests.helpers.run import run_piped
from tests.helpers.scripted_server import read_line, scripted_server

FULL = """\
# every key, as docs/guide.md shows them
helo = "client.example.net"
annotate = false
color = "never"
theme = "light"
keys = "vi"
mail_from = "me@example.net"
record_dir = "~/smtp-transcripts"

[profiles.work]
host = "mail.example.com"
port = 587
tls = "starttls"
user = "me@example.com"

[profiles."old-box"]   # quoted table key
host = '[::1]'         # literal string
port = 2_525
tls = "implicit"
"""


def test_every_key_is_read() -> None:
    cfg = config.parse(FULL)
    assert (cfg.helo, cfg.annotate, cfg.color, cfg.theme, cfg.keys) == (
        "client.example.net", False, "never", "light", "vi",
    )
    assert cfg.mail_from == "me@example.net"
    assert cfg.record_dir == Path("~/smtp-transcripts").expanduser()
    work = cfg.profiles["work"]
    assert (work.host, work.port, work.tls, work.user) == (
        "mail.example.com", 587, "starttls", "me@example.com",
    )
    old = cfg.profiles["old-box"]
    assert (old.host, old.port, old.tls) == ("[::1]", 2525, "implicit")


def test_defaults_become_argparse_defaults() -> None:
    cfg = config.parse(FULL)
    assert config.argument_defaults(cfg) == {
        "helo": "client.example.net", "no_annotate": True, "color": "never",
    }
    with_profile = config.argument_defaults(cfg, cfg.profiles["work"])
    assert with_profile["port"] == 587 and with_profile["starttls"] is True
    assert with_profile["user"] == "me@example.com"
    implicit = config.argument_defaults(cfg, cfg.profiles["old-box"])
    assert implicit["tls"] is True and "starttls" not in implicit


# (file text, line, key, words the message must contain)
BROKEN = [
    ('annotate = "yes"\n', 1, "annotate", "expected true or false"),
    ('helo = "my host"\n', 1, "helo", "host name"),
    ('theme = "solarized"\n', 1, "theme", '"dark" or "light"'),
    ('keys = "nano"\n', 1, "keys", '"emacs" or "vi"'),
    ('mail_from = "<me@example.net>"\n', 1, "mail_from", "without <>"),
    ('[profiles.work]\nhost = "x"\nport = 70000\n', 3, "profiles.work.port", "1 to 65535"),
    ('[profiles.work]\nhost = "x"\nport = "587"\n', 3, "profiles.work.port", 'not "587"'),
    ('[profiles.work]\nport = 25\n', 1, "profiles.work", "needs host"),
    ('[profiles.work]\nhost = "x"\ntls = "ssl"\n', 3, "profiles.work.tls", '"starttls"'),
    ('helo = "a"\nannotate = yes\n', 2, "annotate", "not valid TOML"),
    ('helo = "a"\nhelo = "b"\n', 2, "helo", ""),
    ('helo = "unterminated\n', 1, "helo", ""),
    # Quoted keys are named as tomllib reads them.
    ('[profiles."work"]\nhost = "x"\n"port" = "587"\n', 3, "profiles.work.port", "port"),
    ("[ 'profiles' . work ]\nhost = \"x\"\ntls = 1\n", 3, "profiles.work.tls", "not 1"),
    # A control character in any string, and in an address or user name a character that
    # hides or reorders text: named, escaped, with the value (escaped) it is in.
    ('mail_from = "\\u001b[31mred@example.net"\n', 1, "mail_from",
     '\\x1b (a control character) in "\\x1b[31mred@example.net"'),
    ('mail_from = "a\\u202eb@example.net"\n', 1, "mail_from",
     "\\u202e (a character that hides or reorders text)"),
    ('[profiles.work]\nhost = "x"\nmail_from = "me\\u009b@x.y"\n', 3,
     "profiles.work.mail_from", "\\x9b (a control character)"),
    ('[profiles.work]\nhost = "x"\nuser = "me\\u007f"\n', 3, "profiles.work.user",
     "\\x7f (a control character)"),
    ('[profiles.work]\nhost = "x\\u001b"\n', 2, "profiles.work.host",
     "\\x1b (a control character)"),
    ('record_dir = "~/a\\u0007b"\n', 1, "record_dir", "\\x07 (a control character)"),
]


@pytest.mark.parametrize(("text", "line", "key", "words"), BROKEN)
def test_broken_files_name_line_and_key(
    text: str, line: int, key: str | None, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        config.parse(text)
    error = caught.value
    assert error.line == line
    assert error.key == key
    message = error.describe(Path("/home/u/.config/smtpsh/config.toml"))
    assert message.startswith(f"config /home/u/.config/smtpsh/config.toml line {line}: ")
    assert words in message
    assert "\n" not in message


# Keys smtpsh does not know, and secrets: one line each naming the file, the line, the
# profile and the key; the key is ignored and the rest of the file is used.
IGNORED = [
    ('\n\ncolour = "never"\nkeys = "vi"\n', "line 3: key 'colour' ignored: unknown key"
     " (did you mean 'color'?)"),
    ('keys = "vi"\n[profiles.work]\nhost = "x"\npasword = "s"\n',
     "line 4: profile 'work': key 'pasword' ignored: unknown key"),
    ('keys = "vi"\n[server]\nhost = "x"\n', "line 2: unknown table [server]"),
    ('keys = "vi"\n[profiles.work]\nhost = "x"\npassword = "hunter2"\n',
     "line 4: profile 'work': key 'password' ignored: secrets are never read from the config"
     " file: give --password-file FILE or --password-env NAME, or type it when asked"),
    ('keys = "vi"\npassword = "hunter2"\n', "line 2: key 'password' ignored: secrets are never"
     " read from the config file"),
    ('keys = "vi"\n[profiles.work]\nhost = "x"\ntoken = "abc"\n',
     "profile 'work': key 'token' ignored: secrets are never read"),
]


@pytest.mark.parametrize(("text", "words"), IGNORED)
def test_unknown_and_secret_keys_are_ignored_and_the_rest_is_kept(
    text: str, words: str
) -> None:
    cfg = config.parse(text, Path("/home/u/.config/smtpsh/config.toml"))
    assert not cfg.errors and cfg.keys == "vi"  # the rest of the file is used
    [note] = cfg.notes
    assert note.startswith("config /home/u/.config/smtpsh/config.toml ")
    assert words in note and "\n" not in note
    assert "hunter2" not in note and "abc" not in note  # a secret's value is never repeated
    if "profiles.work" in text or "[profiles.work]" in text:
        assert cfg.profiles["work"].host == "x"


def test_a_control_character_in_mail_from_makes_the_file_ignored(tmp_path: Path) -> None:
    # The module's rule for a known key with a wrong value: the whole file is ignored, in one
    # line naming the file, the line, the key and the character (escaped).
    path = tmp_path / "config.toml"
    path.write_text('keys = "vi"\n[profiles.work]\nhost = "x"\nmail_from = "me\\u001b]0;t@x.y"\n')
    cfg = config.load(path)
    assert cfg.mail_from is None and not cfg.profiles and cfg.keys == "emacs"
    assert cfg.errors == (
        f"config {path} line 4: key 'profiles.work.mail_from': \\x1b (a control character)"
        ' in "me\\x1b]0;t@x.y"',
    )


def test_an_ignored_key_s_name_is_shown_escaped() -> None:
    cfg = config.parse('"a\\u001b[2Jb" = 1\n[profiles.w]\nhost = "x"\n"pass\\u009bwd" = "s"\n')
    assert len(cfg.notes) == 2 and not cfg.errors
    assert "key 'a\\x1b[2Jb' ignored" in cfg.notes[0]
    assert "profile 'w': key 'pass\\x9bwd' ignored" in cfg.notes[1]
    assert not any(ord(c) < 32 or 0x7F <= ord(c) < 0xA0 for note in cfg.notes for c in note)


def test_a_profile_with_a_password_still_connects(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    # The whole file used to be dropped as "unknown key", and @work was then unknown.
    port, received = recording_server
    path = _write_config(tmp_path, f'[profiles.work]\nhost = "127.0.0.1"\nport = {port}\n'
                                   'password = "hunter2"\n')
    result = run_piped(["@work"], "EHLO me\nQUIT\n", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr.splitlines() == [
        f"smtpsh: config {path} line 4: profile 'work': key 'password' ignored: secrets are"
        " never read from the config file: give --password-file FILE or --password-env NAME,"
        " or type it when asked"
    ]
    assert b"EHLO me" in b"".join(received)
    assert "hunter2" not in result.stdout + result.stderr


def test_load_never_raises(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    assert config.load(path) == config.Config()  # no file: the defaults, quietly
    path.write_bytes(b"helo = \"\xff\"\n")
    cfg = config.load(path)
    assert cfg.errors and "cannot read it" in cfg.errors[0] and str(path) in cfg.errors[0]
    path.write_text('keys = "vi"\nannotate = 3\n')
    cfg = config.load(path)
    # The whole file is ignored, not half applied.
    assert cfg.keys == "emacs" and len(cfg.errors) == 1 and "line 2" in cfg.errors[0]


def test_unknown_profile_lists_the_known_ones() -> None:
    cfg = config.parse(FULL)
    with pytest.raises(ConfigError, match=r"no profile @home .*known: @work, @old-box"):
        config.find_profile(cfg, "@home")


# --- the command line with a config file ---------------------------------------------


def _write_config(home: Path, text: str) -> Path:
    path = home / "config" / "smtpsh" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def recording_server() -> Iterator[tuple[int, list[bytes]]]:
    """A server that answers 250 to everything (454 to STARTTLS) and keeps what it got."""
    received: list[bytes] = []
    lock = threading.Lock()

    def handler(sock: socket.socket) -> None:
        sock.sendall(b"220 cfg.test ESMTP\r\n")
        while line := read_line(sock):
            with lock:
                received.append(line)
            verb = line.split()[0].upper() if line.split() else b""
            if verb == b"EHLO":
                sock.sendall(b"250-cfg.test\r\n250 STARTTLS\r\n")
            elif verb == b"STARTTLS":
                sock.sendall(b"454 4.7.0 TLS not available\r\n")
            elif verb == b"QUIT":
                sock.sendall(b"221 bye\r\n")
                return
            else:
                sock.sendall(b"250 ok\r\n")

    with scripted_server(handler) as port:
        yield port, received


def test_config_defaults_and_command_line_wins(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    port, received = recording_server
    _write_config(tmp_path, 'helo = "from-config.example"\nannotate = false\n')
    # --starttls sends EHLO with the configured name on its own.
    result = run_piped(["--starttls", f"127.0.0.1:{port}"], "", tmp_path)
    assert b"EHLO from-config.example\r\n" in received
    assert "↳" not in result.stdout  # annotate = false
    received.clear()
    run_piped(["--starttls", "--helo", "cli.example", f"127.0.0.1:{port}"], "", tmp_path)
    assert b"EHLO cli.example\r\n" in received
    assert b"EHLO from-config.example\r\n" not in received


def test_profile_connects_and_hosts_file_is_kept(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    port, received = recording_server
    _write_config(tmp_path, f'[profiles.lab]\nhost = "127.0.0.1"\nport = {port}\n')
    result = run_piped(["@lab"], "NOOP\n", tmp_path)
    assert result.returncode == 0, result.stderr
    assert "220 cfg.test ESMTP" in result.stdout
    assert b"NOOP\r\n" in received
    hosts = tmp_path / "state" / "smtpsh" / "hosts"
    assert not hosts.exists()  # profiles come from the config, not from the hosts file
    run_piped([f"127.0.0.1:{port}"], "NOOP\n", tmp_path)
    run_piped([f"127.0.0.1:{port}"], "NOOP\n", tmp_path)
    assert hosts.read_text().splitlines() == [f"127.0.0.1:{port}"] * 2
    assert stat.S_IMODE(hosts.stat().st_mode) == 0o600
    assert config.known_hosts(hosts) == [f"127.0.0.1:{port}"]
    # A port that refuses the connection is not remembered.
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        closed = free.getsockname()[1]
    run_piped([f"127.0.0.1:{closed}"], "", tmp_path)
    assert f"127.0.0.1:{closed}" not in hosts.read_text()


def test_unknown_profile_is_a_usage_error(tmp_path: Path) -> None:
    _write_config(tmp_path, '[profiles.lab]\nhost = "127.0.0.1"\n')
    result = run_piped(["@nope"], "", tmp_path)
    assert result.returncode == 2
    assert "no profile @nope" in result.stderr and "known: @lab" in result.stderr
    assert "Traceback" not in result.stderr


def test_broken_config_one_line_then_defaults(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    port, received = recording_server
    path = _write_config(tmp_path, 'annotate = false\nhelo = "x y"\n')
    result = run_piped([f"127.0.0.1:{port}"], "NOOP\n", tmp_path)
    assert result.returncode == 0
    errors = [line for line in result.stderr.splitlines() if line.strip()]
    assert errors == [
        f"smtpsh: config {path} line 2: key 'helo': expected a host name or [address "
        f'literal], without spaces, not "x y"; starting with the defaults'
    ]
    assert "↳ 250" in result.stdout  # annotate = false was not applied: the defaults rule
    assert b"NOOP\r\n" in received


def test_record_dir_records_every_session(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    port, _ = recording_server
    target = tmp_path / "transcripts"
    _write_config(tmp_path, f'record_dir = "{target}"\n')
    result = run_piped([f"127.0.0.1:{port}"], "NOOP\n", tmp_path)
    assert result.returncode == 0, result.stderr
    files = list(target.glob("127.0.0.1-*.smtpt"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert "C: NOOP" in files[0].read_text()
    # --record on the command line wins over the directory.
    chosen = tmp_path / "chosen.smtpt"
    run_piped(["--record", str(chosen), f"127.0.0.1:{port}"], "NOOP\n", tmp_path)
    assert chosen.exists() and len(list(target.glob("*.smtpt"))) == 1


def test_hosts_file_is_trimmed(tmp_path: Path) -> None:
    path = tmp_path / "hosts"
    for i in range(config.HOSTS_KEEP + 30):
        config.remember_host(f"h{i}.example:25", path)
    config.remember_host("not a host; rm -rf", path)  # never written: completions read it
    hosts = config.known_hosts(path)
    assert len(hosts) == config.HOSTS_KEEP
    assert hosts[0] == f"h{config.HOSTS_KEEP + 29}.example:25"  # most recent first
    assert "not a host; rm -rf" not in path.read_text()


def test_subcommands_take_the_configured_helo(
    tmp_path: Path, recording_server: tuple[int, list[bytes]]
) -> None:
    port, received = recording_server
    _write_config(tmp_path, 'helo = "from-config.example"\n')
    result = run_piped(["relay", f"127.0.0.1:{port}"], "", tmp_path)
    assert result.returncode in (0, 1), result.stderr  # 1: this fake server relays anything
    assert b"EHLO from-config.example\r\n" in received
    received.clear()
    run_piped(["relay", "--helo", "cli.example", f"127.0.0.1:{port}"], "", tmp_path)
    assert b"EHLO cli.example\r\n" in received


def test_documented_examples_are_valid() -> None:
    """Every ```toml block of the guide and the reference parses."""
    root = Path(__file__).resolve().parents[2]
    blocks = []
    for page in ("docs/guide.md", "docs/reference.md"):
        text = (root / page).read_text()
        blocks += [b.split("```", 1)[0] for b in text.split("```toml\n")[1:]]
    assert len(blocks) >= 2
    for block in blocks:
        cfg = config.parse(block)
        assert cfg.profiles["work"].tls == "starttls"


def test_theme_changes_the_colours(tmp_path: Path) -> None:
    def colours(theme: str) -> set[str]:
        _write_config(tmp_path, f'theme = "{theme}"\n')
        out = run_piped(["--sandbox", "--color", "always"], "QUIT\n", tmp_path).stdout
        return set(re.findall(r"\x1b\[[0-9;]*m", out))

    dark, light = colours("dark"), colours("light")
    assert dark and light and dark != light  # e.g. the annotations: lighter grey on dark


@pytest.mark.pty
def test_vi_keys(tmp_path: Path) -> None:
    from tests.helpers.run import smtpsh_env
    from tests.helpers.tmux import Screen

    _write_config(tmp_path, 'keys = "vi"\n')
    screen = Screen(["--sandbox"], smtpsh_env(tmp_path))
    try:
        screen.wait_for("›")
        screen.type("xNOOP")
        screen.keys("Escape")
        screen.type("0x")  # vi: to the start of the line, delete a character
        screen.keys("Enter")
        screen.wait_for("250 2.0.0 Ok")
        assert "not recognized" not in screen.text()  # xNOOP never left
        screen.line("/quit")
        assert screen.exit_status() == 0
    finally:
        screen.close()


def test_mail_from_is_the_compose_default(tmp_path: Path) -> None:
    from smtpsh.shell.compose_commands import LAST_SENDER

    assert config.COMPOSE_SENDER_KEY == LAST_SENDER
    _write_config(tmp_path, 'mail_from = "config-sender@example.net"\n')
    script = "EHLO me\n/compose --yes --to alice@sandbox.test --subject hi --body hello\nQUIT\n"
    out = run_piped(["--sandbox"], script, tmp_path).stdout
    assert "C: MAIL FROM:<config-sender@example.net>" in out
    # --from on the command wins over the configured sender.
    script = script.replace("--yes", "--yes --from other@example.net")
    out = run_piped(["--sandbox"], script, tmp_path).stdout
    assert "C: MAIL FROM:<other@example.net>" in out
