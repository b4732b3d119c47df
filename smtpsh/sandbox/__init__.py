"""The practice SMTP server behind `smtpsh --sandbox` (aiosmtpd, loopback only)."""

from smtpsh.sandbox.directory import Directory
from smtpsh.sandbox.mailbox import ReceivedMessage
from smtpsh.sandbox.server import Sandbox, SandboxError

__all__ = ["Directory", "ReceivedMessage", "Sandbox", "SandboxError"]
