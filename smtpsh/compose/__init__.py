"""Composing and sending messages: build (email package), scan (SIZE=, problems before
MAIL), plan the envelope from what the server advertised, and send step by step.

The shell commands are in smtpsh/shell/compose_commands.py: /compose, /send, /raw.
"""
