"""Errors of the protocol core, named by whose fault they are (as h11 does)."""


class SmtpshError(Exception):
    """Base of every error smtpsh reports to the user as one line."""


class LocalProtocolError(SmtpshError):
    """We were asked to send something SMTP forbids (e.g. a bare LF inside a command)."""


class RemoteProtocolError(SmtpshError):
    """The server sent something we cannot go on from (e.g. an endless reply line)."""
