"""The exit statuses of every smtpsh command, in one table.

The same number means the same thing whatever the command: a script can tell "found
something" from "could not run" from "cannot say" without knowing which command it ran.
Each ``--help`` and the man page print this table (``epilog``).
"""

from __future__ import annotations

import os
import sys

OK = 0  # ran to the end; nothing to report
FOUND = 1  # ran, and found what it looks for
USAGE = 2  # the command line (or a file it names) is wrong: argparse's own status
UNDETERMINED = 3  # ran, but the server's answers do not allow a verdict
FAILED = 4  # could not run or finish: no connection, the session refused, no such domain
INTERRUPTED = 130  # Ctrl-C (128 + SIGINT, as a shell reports it)
BROKEN_PIPE = 141  # the reader of the output went away, e.g. `| head` (128 + SIGPIPE)

# status -> (name, what it means for each command; "" = never returned by it)
COMMANDS = ("session", "send", "dns", "probe", "enum", "relay", "replay", "tls", "report",
            "sandbox")
# dns, probe, enum, relay and tls over many targets (-T FILE, a CIDR block, a range,
# several hosts: smtpsh.fleet) sum up their hosts in one status: column MANY.
MANY = "many"
MANY_COMMANDS = ("dns", "probe", "enum", "relay", "tls")
COLUMNS = (*COMMANDS, MANY)
TABLE: dict[int, tuple[str, dict[str, str]]] = {
    OK: ("ok", {
        "session": "the session ended with smtpsh's QUIT",
        "send": "the message was accepted for every recipient given (LMTP: delivered to"
        " each); with --quit-after, the step was; --dry-run: built",
        "dns": "no error in the domain's mail DNS",
        "probe": "nothing dangerous found",
        "enum": "no user found",
        "relay": "not an open relay: every test refused",
        "replay": "every reply matched",
        "tls": "grade A or B: no broken version or suite accepted (B still has a"
        " weakness: TLS 1.0/1.1, CBC in TLS 1.0, a suite without forward secrecy, a DH"
        " group under 2048 bits or a certificate problem; the report names it)",
        "report": "written; nothing of high or medium severity",
        "sandbox": "stopped by Ctrl-C or SIGTERM, the way to stop it",
        MANY: "every host checked, and nothing found on any",
    }),
    FOUND: ("found", {
        "session": "a /replay in the script found replies that differ",
        "dns": "errors found",
        "probe": "something dangerous found",
        "enum": "users found",
        "relay": "open relay: a test was relayed",
        "replay": "replies differed",
        "tls": "grade C or F: a broken version or suite accepted (SSLv3, RC4, DES/3DES,"
        " NULL, EXPORT, anonymous, a DH group under 1024 bits), or no handshake completes",
        "report": "written, with findings of high or medium severity",
        MANY: "found on at least one host (each host's status is in its line and JSON)",
    }),
    USAGE: ("usage", {
        **{name: "bad command line or input file" for name in COMMANDS},
        "report": "bad command line or input file (missing, unreadable, not smtpsh's), HTML"
        " to a terminal, --json",
        "sandbox": "bad command line or scenario file, a --host not on loopback, --json",
        MANY: "bad command line, or no target could be read",
    }),
    UNDETERMINED: ("undetermined", {
        "enum": "none found, and the answers cannot tell (no method tells names apart)",
        "relay": "inconclusive: none relayed, some tests told nothing",
        MANY: "nothing found, but a host gave no verdict or was not checked, or a -T line"
              " was unreadable",
    }),
    FAILED: ("failed", {
        "session": "no connection, a /send or /compose failed (or a recipient of it was"
        " refused), or the session did not end with smtpsh's QUIT (the server closed it:"
        " a 421, a hang-up; Ctrl-D or the end of the script in the middle of DATA: the"
        " message abandoned, not sent); at the terminal as in a script",
        "send": "not sent, or not to everyone: no connection, the session refused"
        " (--starttls, AUTH), the sender or the message refused (LMTP: by any recipient),"
        " a recipient refused (the message still goes to those accepted; a last line names"
        " the refused), or the session did not end with smtpsh's QUIT",
        "dns": "the domain does not resolve (NXDOMAIN, SERVFAIL, timeout)",
        "probe": "could not probe: no connection, or the session was refused",
        "enum": "could not enumerate: no connection, or the session was refused",
        "relay": "could not test: refused before RCPT, or no session",
        "replay": "steps could not run (no connection), none differed",
        "tls": "could not scan: no connection, no STARTTLS, no TLS version accepted",
        "report": "not written: -o FILE could not be written (or is not an earlier report)",
        "sandbox": "could not start: the port is taken (or cannot be bound)",
        MANY: "no host could be checked",
    }),
    # The sandbox runs until Ctrl-C: for it that is the end of its work, not an interruption.
    INTERRUPTED: ("interrupted", {
        **{name: "Ctrl-C" for name in COMMANDS if name != "sandbox"},
        MANY: "Ctrl-C (143: SIGTERM); the hosts done are kept in the --jsonl file",
    }),
    BROKEN_PIPE: ("broken pipe", {
        name: "the output's reader went away (| head): smtpsh stopped" for name in COLUMNS
    }),
}


def rows(command: str) -> list[tuple[int, str]]:
    """(status, meaning) for ``command``, in the order of the table."""
    return [(code, per[command]) for code, (_, per) in TABLE.items() if per.get(command)]


HEADING = "exit status (the same numbers for every smtpsh command):"


def _wrapped(meaning: str, width: int = 78) -> list[str]:
    """``meaning`` in lines of at most ``width`` characters, at spaces (textwrap is not
    imported on the start-up path: the session's --help epilog is built at each start)."""
    lines = [""]
    for word in meaning.split():
        if lines[-1] and len(lines[-1]) + 1 + len(word) > width:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".lstrip()
    return lines


def _lines(command: str) -> list[str]:
    lines = []
    for code, meaning in rows(command):
        first, *rest = _wrapped(meaning)
        lines.append(f"  {code:>3}  {first}")
        lines += [f"       {more}" for more in rest]
    return lines


MANY_HEADING = "with many targets (-T FILE, a CIDR block or range, several hosts):"


def epilog(command: str) -> str:
    """The exit statuses of ``command``, for its --help (lines kept under 90 characters);
    for the commands that take many targets, the statuses of such a run too."""
    text = HEADING + "\n" + "\n".join(_lines(command))
    if command in MANY_COMMANDS:
        text += "\n" + MANY_HEADING + "\n" + "\n".join(_lines(MANY))
    return text


# --- the reader of standard output went away ---------------------------------------------

_reader_gone = False


def reader_gone() -> None:
    """Standard output's reader went away (`smtpsh ... | head -1`): from now on writes go
    nowhere (so that neither the next line nor Python's flush at exit fails again). The
    command stops at its next step and smtpsh exits BROKEN_PIPE (cli.main)."""
    global _reader_gone
    _reader_gone = True
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # no standard output to replace: nothing more will reach it either way


def output_gone() -> bool:
    """Whether the reader of standard output went away: a command should stop."""
    return _reader_gone
