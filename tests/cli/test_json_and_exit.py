"""One JSON shape, one exit-status table, one way to end when the output's reader leaves.

Every sub-command's --json output (errors included) is validated against the schema in
the repository (smtpsh/data/output.schema.json); its status agrees with the exit status.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import jsonschema

from smtpsh import exitcodes, jsonout
from tests.audit.fakesmtp import Policy, running
from tests.helpers.jsondoc import VALIDATOR, document, smtpsh
from tests.helpers.scripted_server import scripted_server, smtp_like


def test_the_schema_itself_is_valid_and_refuses_a_wrong_document() -> None:
    jsonschema.Draft202012Validator.check_schema(VALIDATOR.schema)
    good = jsonout.envelope("relay", "mx.test:25", exitcodes.OK, {"open_relay": False,
                                                                  "results": []})
    VALIDATOR.validate(good)
    for wrong in (
        {**good, "exit": 1},  # status and exit disagree
        {**good, "smtpsh": 2},
        {**good, "status": "failed", "exit": 4},  # failed without an error
        {key: value for key, value in good.items() if key != "target"},
    ):
        assert not VALIDATOR.is_valid(wrong), wrong


def test_probe_json(free_port: int) -> None:
    with running(Policy(vrfy="off", expn=False)) as server:
        found = document(smtpsh("probe", f"127.0.0.1:{server.port}", "--json", "--no-relay"),
                         "probe", exitcodes.FOUND)
    assert found["target"] == f"127.0.0.1:{server.port}"
    assert "no_starttls" in {f["key"] for f in found["result"]["findings"] if f["dangerous"]}
    down = document(smtpsh("probe", f"127.0.0.1:{free_port}", "--json"), "probe",
                    exitcodes.FAILED)
    assert "cannot connect" in down["error"]["message"]
    document(smtpsh("probe", "[::1", "--json"), "probe", exitcodes.USAGE)


def test_enum_json_goes_to_standard_output(free_port: int) -> None:
    with running(Policy()) as server:
        where = f"127.0.0.1:{server.port}"
        found = document(smtpsh("enum", where, "-u", "robin", "-u", "nosuchname", "-m", "vrfy",
                                "--json"), "enum", exitcodes.FOUND)
        none = document(smtpsh("enum", where, "-u", "nosuchname", "-m", "vrfy", "--json"),
                        "enum", exitcodes.OK)
    assert [r["name"] for r in found["result"]["found"]] == ["robin"]
    verdicts = {r["name"]: r["verdict"] for r in found["result"]["results"]}
    assert verdicts["robin"] == "found" and verdicts.get("nosuchname", "absent") == "absent"
    assert none["result"]["found"] == []
    document(smtpsh("enum", f"127.0.0.1:{free_port}", "-u", "x", "--json"), "enum",
             exitcodes.FAILED)
    document(smtpsh("enum", "127.0.0.1", "--json"), "enum", exitcodes.USAGE)


def test_relay_json(free_port: int) -> None:
    with running(Policy()) as server:
        closed = document(smtpsh("relay", f"127.0.0.1:{server.port}", "--json"), "relay",
                          exitcodes.OK)
    with running(Policy(relay=True)) as server:
        open_relay = document(smtpsh("relay", f"127.0.0.1:{server.port}", "--json"), "relay",
                              exitcodes.FOUND)
    assert closed["result"]["open_relay"] is False and open_relay["result"]["open_relay"]
    down = document(smtpsh("relay", f"127.0.0.1:{free_port}", "--json"), "relay",
                    exitcodes.FAILED)
    assert "cannot connect" in down["error"]["message"]
    document(smtpsh("relay", "127.0.0.1", "--to", "a b", "--json"), "relay", exitcodes.USAGE)


def test_replay_json(tmp_path: Path, free_port: int) -> None:
    handler = smtp_like({b"VRFY": b"252 2.0.0 robin\r\n", b"QUIT": b"221 2.0.0 bye\r\n"})
    transcript = tmp_path / "session.smtpt"
    with scripted_server(handler) as port:
        transcript.write_text(f"# connect 127.0.0.1:{port}\nS: 220 test ESMTP\nC: VRFY robin\n"
                              "S: 252 2.0.0 robin\nC: QUIT\nS: 221 2.0.0 bye\n")
        ok = document(smtpsh("replay", str(transcript), "--json"), "replay", exitcodes.OK)
        differs = tmp_path / "differs.smtpt"
        differs.write_text(transcript.read_text().replace("S: 252", "S: 550"))
        found = document(smtpsh("replay", str(differs), "--json"), "replay", exitcodes.FOUND)
    assert [s["ok"] for s in ok["result"]["steps"]] == [True, True, True]
    assert [s["label"] for s in found["result"]["steps"] if not s["ok"]] == ["VRFY robin"]
    down = document(smtpsh("replay", str(transcript), f"127.0.0.1:{free_port}", "--json"),
                    "replay", exitcodes.FAILED)
    assert down["result"]["matched"] == 0
    document(smtpsh("replay", str(tmp_path / "missing.smtpt"), "--json"), "replay",
             exitcodes.USAGE)


def test_a_bad_command_line_with_json_is_a_document_too() -> None:
    """argparse's own refusals (an unknown flag, a missing argument) with --json: the usage
    on standard error as always, and the envelope on standard output."""
    for command in jsonout.COMMANDS:
        proc = smtpsh(command, "x.test", "--no-such-flag", "--json")
        doc = document(proc, command, exitcodes.USAGE)
        assert doc["error"]["kind"] == "usage" and "--no-such-flag" in doc["error"]["message"]
        assert f"usage: smtpsh {command}" in proc.stderr
    no_target = smtpsh("probe", "--json")  # no server: said in the envelope as on stderr
    missing = document(no_target, "probe", exitcodes.USAGE)
    assert f"smtpsh probe: error: {missing['error']['message']}" in no_target.stderr
    without = smtpsh("probe", "--no-such-flag")  # no --json: argparse's text only
    assert without.returncode == exitcodes.USAGE and without.stdout == ""
    for command in jsonout.NO_JSON:  # they refuse --json itself: no document
        proc = smtpsh(command, "--json")
        assert proc.returncode == exitcodes.USAGE and proc.stdout == "", proc
        assert "--json: not offered" in proc.stderr


# --- the table, in every --help ----------------------------------------------------------


def test_every_help_prints_the_one_table() -> None:
    for command in ("", *exitcodes.COMMANDS[1:]):
        proc = smtpsh(*([command] if command else []), "--help")
        assert proc.returncode == 0
        text = " ".join(proc.stdout.split())
        assert exitcodes.HEADING in text, command
        for code, meaning in exitcodes.rows(command or "session"):
            assert f"{code} {' '.join(meaning.split())}" in text, (command, code)


# --- a reader that goes away -------------------------------------------------------------


def _head_1(args: list[str], stdin: str) -> tuple[int, str, str]:
    """`printf stdin | smtpsh args | head -1`: smtpsh's status, head's line, its stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, env={**os.environ, "NO_COLOR": "1"},
    )
    assert proc.stdout is not None and proc.stdin is not None and proc.stderr is not None
    first = proc.stdout.readline().decode()
    proc.stdout.close()  # as head does once it has its line
    try:
        proc.stdin.write(stdin.encode())
        proc.stdin.close()
    except BrokenPipeError:
        pass
    status = proc.wait(timeout=60)
    return status, first, proc.stderr.read().decode()


def test_a_session_piped_into_head_stops_and_says_so_in_its_status() -> None:
    received: list[bytes] = []

    def handle(sock: object) -> None:
        import socket as _socket

        assert isinstance(sock, _socket.socket)
        sock.sendall(b"220 test ESMTP\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            while b"\n" in data:
                line, data = data.split(b"\n", 1)
                received.append(line)
                sock.sendall(b"221 bye\r\n" if line.startswith(b"QUIT") else b"250 ok\r\n")
                if line.startswith(b"QUIT"):
                    return

    with scripted_server(handle) as port:
        status, first, err = _head_1([f"127.0.0.1:{port}"], "NOOP\n" * 2000)
    assert first.strip()  # head got its line
    assert status == exitcodes.BROKEN_PIPE, err
    assert "Traceback" not in err and "BrokenPipe" not in err
    noops = sum(1 for line in received if line.startswith(b"NOOP"))
    assert noops < 2000  # it stopped instead of sending the rest of the script


def test_an_audit_piped_into_head_ends_as_the_session_does() -> None:
    with running(Policy()) as server:
        status, first, err = _head_1(["relay", f"127.0.0.1:{server.port}"], "")
    assert first.startswith("relay tests against")
    assert status == exitcodes.BROKEN_PIPE, err
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_tls_json(postfix: object) -> None:
    weak = document(smtpsh("tls", "127.0.0.1:25", "--json"), "tls", exitcodes.FOUND)
    assert weak["result"]["grade"] == "F"
    failed = document(smtpsh("tls", "127.0.0.1:1", "--json"), "tls", exitcodes.FAILED)
    assert failed["result"] is None and failed["error"]["kind"] == "connect"
