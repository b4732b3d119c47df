"""`python -m smtpsh.sandbox`: the same as `smtpsh sandbox` (see smtpsh.sandbox.command)."""

from __future__ import annotations

import sys

from smtpsh.sandbox.command import main

if __name__ == "__main__":
    sys.exit(main(prog="python -m smtpsh.sandbox"))
