"""The pictures in docs/guide.md ("Reports and ladder diagrams"), made by the test set-up.

One code path for both: scripts/gen-report-pictures runs this module to write docs/, and
tests/report/test_browser.py runs the same functions into a temporary directory, checks
what comes out and that the committed pictures are what it makes. The inputs: a report of
the sandbox's inlanefreight scenario (probe over loopback) and the ladder of a session like
/tour's on the default sandbox, each rendered by `smtpsh report`, photographed by headless
chromium (scripts/setup-chromium), then stored as an 8-bit palette PNG (a third of the
size of the browser's own; the few colours past the 256 most used are antialiasing shades,
given their nearest). Loopback only.

    python3 -m tests.report.pictures [--out DIR] [--chromium PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

from tests.report import png

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
WIDTH = 960
# Each picture: its file in docs/, the page it photographs, the window's height.
PICTURES = {"report-example.png": ("report.html", 1100), "ladder-tour.png": ("ladder.html", 1120)}
MAX_BYTES = 120_000  # each: small enough for a repository, large enough to read
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")  # fmt: skip
TOUR = ["EHLO me.example", "/starttls", "MAIL FROM:<me@example.com>",
        "RCPT TO:<alice@sandbox.test>", "RCPT TO:<nobody@sandbox.test>", "DATA",
        "Subject: hello", "", "Hello Alice.", ".", "QUIT"]  # fmt: skip
FACTS = Path("/var/lib/smtpsh-test/chromium.json")


def find_chromium() -> str | None:
    """The chromium scripts/setup-chromium installed (its facts file), else on PATH."""
    try:
        binary = json.loads(FACTS.read_text())["binary"]
    except (OSError, ValueError, KeyError):
        binary = shutil.which("chromium")
    return str(binary) if binary and os.access(binary, os.X_OK) else None


def _smtpsh(work: Path, *args: str, stdin: str | None = None,
            ) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HOME": str(work), "NO_COLOR": "1"}
    return subprocess.run([sys.executable, "-m", "smtpsh", *args], cwd=work, input=stdin,
                          capture_output=True, text=True, timeout=180, env=env, check=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_pages(work: Path) -> None:
    """report.html and ladder.html in ``work`` (the pages name their inputs as given:
    short names, relative to it)."""
    port = _free_port()
    env = {**os.environ, "HOME": str(work)}
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "smtpsh", "sandbox", "--scenario", "inlanefreight", "--port",
         str(port)], cwd=work, env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or sandbox.poll() is not None:
                    raise RuntimeError("the sandbox did not start") from None
                time.sleep(0.1)
        probe = _smtpsh(work, "probe", f"127.0.0.1:{port}", "--no-verify", "--json")
        (work / "probe.json").write_text(probe.stdout)
    finally:
        sandbox.terminate()
        sandbox.wait(30)
    report = _smtpsh(work, "report", "probe.json", "--title",
                     "SMTP assessment: sandbox (inlanefreight)", "-o", "report.html")
    if not (work / "report.html").exists():
        raise RuntimeError(f"smtpsh report failed: {report.stderr.strip()}")
    _smtpsh(work, "--sandbox", "--record", "tour.smtpt", stdin="\n".join(TOUR) + "\n")
    ladder = _smtpsh(work, "report", "tour.smtpt", "--title", "The sandbox, as in /tour",
                     "-o", "ladder.html")
    if not (work / "ladder.html").exists():
        raise RuntimeError(f"smtpsh report (ladder) failed: {ladder.stderr.strip()}")


def shoot(chromium: str, page: Path, height: int, work: Path) -> bytes:
    """The browser's screenshot of ``page``, WIDTH x ``height`` (its own PNG)."""
    shot = work / f"{page.stem}.shot.png"
    proc = subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={work / 'profile'}", f"--window-size={WIDTH},{height}",
         f"--screenshot={shot}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(work)},
    )  # fmt: skip
    if not shot.exists():
        raise RuntimeError(f"chromium made no screenshot: {proc.stderr.strip()[-1000:]}")
    return shot.read_bytes()


def make_pictures(chromium: str, out: Path, work: Path) -> dict[str, Path]:
    """Every picture of PICTURES, written to ``out`` (docs/ for the guide)."""
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    make_pages(work)
    made: dict[str, Path] = {}
    for name, (page, height) in PICTURES.items():
        target = out / name
        target.write_bytes(palette_png(shoot(chromium, work / page, height, work)))
        made[name] = target
    return made


# --- PNG: 8-bit palette, and how far two pictures differ ----------------------------------


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(
        ">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def _nearest(colour: tuple[int, ...], palette: list[tuple[int, ...]]) -> int:
    return min(range(len(palette)),
               key=lambda i: sum((a - b) ** 2 for a, b in zip(colour, palette[i], strict=True)))


def palette_png(data: bytes) -> bytes:
    """The screenshot as an 8-bit palette PNG: the 256 colours most used, every other pixel
    given the nearest of them (alpha dropped: a screenshot is opaque)."""
    width, height, bpp, rows = png.decode(data)
    counts = png.colours(rows, bpp)
    palette = [c for c, _ in sorted(counts.items(), key=lambda kv: -kv[1])[:256]]
    index = {colour: i for i, colour in enumerate(palette)}
    for colour in counts:
        if colour not in index:
            index[colour] = _nearest(colour, palette)
    raw = bytearray()
    for row in rows:
        raw.append(0)  # no filter: palette indices do not predict well
        raw += bytes(index[tuple(row[i:i + 3]) if bpp >= 3 else (row[i],) * 3]
                     for i in range(0, len(row), bpp))
    return (png.SIGNATURE
            + _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
            + _chunk(b"PLTE", b"".join(bytes(c) for c in palette))
            + _chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + _chunk(b"IEND", b""))


def difference(one: bytes, other: bytes) -> float:
    """The share of pixels that differ visibly (a channel by more than 48 of 255) between
    two pictures of the same size (ValueError when the sizes differ)."""
    w1, h1, bpp1, rows1 = png.decode(one)
    w2, h2, bpp2, rows2 = png.decode(other)
    if (w1, h1) != (w2, h2):
        raise ValueError(f"{w1}x{h1} and {w2}x{h2}: not the same size")
    differ = 0
    for row1, row2 in zip(rows1, rows2, strict=True):
        if row1 == row2:
            continue
        for x in range(w1):
            a = row1[x * bpp1:x * bpp1 + 3]
            b = row2[x * bpp2:x * bpp2 + 3]
            if a != b and max(abs(p - q) for p, q in zip(a, b, strict=True)) > 48:
                differ += 1
    return differ / (w1 * h1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="gen-report-pictures", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=DOCS, help="where to write (docs/)")
    parser.add_argument("--chromium", help="the browser (default: scripts/setup-chromium's)")
    args = parser.parse_args(argv)
    chromium = args.chromium or find_chromium()
    if chromium is None:
        parser.error("chromium is missing: scripts/setup-chromium installs it")
    with tempfile.TemporaryDirectory(prefix="smtpsh-pictures-") as work:
        for path in make_pictures(chromium, args.out, Path(work)).values():
            print(f"wrote {path} ({path.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
