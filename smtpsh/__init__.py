"""smtpsh: an interactive SMTP shell for testing, learning and footprinting mail servers."""

__version__ = "0.1.0"
