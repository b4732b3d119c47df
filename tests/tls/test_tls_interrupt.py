"""Ctrl-C during `smtpsh tls --json`: one line on stderr and exit 130, and no document that
breaks the --json schema (it printed an 'interrupted' envelope with an error object, which
the schema allows only for usage and failed runs)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time

from smtpsh import exitcodes


def test_ctrl_c_during_a_scan_with_json() -> None:
    # A server that greets and then never answers EHLO: the scan waits on it.
    listener = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    greeted = threading.Event()

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            conn.sendall(b"220 slow.smtpsh.test ESMTP\r\n")
            held.append(conn)
            greeted.set()

    threading.Thread(target=serve, daemon=True).start()
    port = listener.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", "tls", f"127.0.0.1:{port}", "--json", "--timeout", "30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert greeted.wait(30), "smtpsh never connected"
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        listener.close()
        for conn in held:
            conn.close()
    assert proc.returncode == exitcodes.INTERRUPTED, stdout + stderr
    assert stderr == "smtpsh tls: interrupted: the scan was stopped\n", stderr
    assert stdout == ""
