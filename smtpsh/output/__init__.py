"""The one output layer: every byte smtpsh writes to a terminal or to standard output
(``--json`` aside) goes through here.

``safe`` makes text from outside (a server, a certificate, DNS, a transcript) safe to show;
``printer`` writes lines of (style, text) fragments, coloured or plain; ``dialogue`` shows
the SMTP dialogue (a ClientObserver). Nothing here imports prompt_toolkit until a line is
shown in the shell's colours: the piped path must start fast (bench/bench_session.py).
This package's ``__init__`` stays empty: ``safe`` is imported by the sans-IO core.
"""
