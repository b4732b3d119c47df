"""Errors of the protocol core, named by whose fault they are (as h11 does)."""

from smtpsh import exitcodes


class SmtpshError(Exception):
    """Base of every error smtpsh reports to the user as one line.

    ``exit_status``: how a command ends when this error stops it (smtpsh.exitcodes);
    ``fault``: whose it is, for the one line and for --json's ``error.kind``: "user" (the
    command line, a file given), "server" (what it sent or did), "network", "local" (this
    machine)."""

    exit_status = exitcodes.FAILED
    fault = "server"


class LocalProtocolError(SmtpshError):
    """We were asked to send something SMTP forbids (e.g. a bare LF inside a command)."""

    fault = "user"


class RemoteProtocolError(SmtpshError):
    """The server sent something we cannot go on from (e.g. an endless reply line)."""
