"""The report and a ladder diagram opened in a real browser (Debian's chromium, headless):
the screenshot is not blank and shows the severity and reply colours, the DOM has the
expected elements, and a hostile banner's <script> is text, not an element."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from smtpsh.report.ladder import REPLY_COLOURS
from smtpsh.report.render import SEVERITY_COLOURS
from tests.report import pictures, png
from tests.report.common import HOSTILE_BANNER, HOSTILE_REPLY, Markup, smtpsh, write_inputs

FACTS = Path("/var/lib/smtpsh-test/chromium.json")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars")  # fmt: skip


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


@pytest.fixture(scope="module")
def chromium() -> str:
    """The chromium binary scripts/setup-chromium installed. Missing: fails under CI=true."""
    binary = None
    try:
        binary = json.loads(FACTS.read_text())["binary"]
    except (OSError, ValueError, KeyError):
        binary = shutil.which("chromium")
    if not binary or not os.access(binary, os.X_OK):
        if _in_ci():
            pytest.fail("chromium is missing: scripts/setup-chromium installs it", pytrace=False)
        pytest.skip("chromium is missing; run scripts/setup-test-env")
    return str(binary)


def browse(
    chromium: str, page: Path, tmp_path: Path, *how: str
) -> subprocess.CompletedProcess[str]:
    profile = tmp_path / f"profile-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [chromium, *FLAGS, f"--user-data-dir={profile}", *how, page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
    )  # fmt: skip


def screenshot(chromium: str, page: Path, tmp_path: Path,
               height: int = 900) -> dict[tuple[int, ...], int]:
    shot = tmp_path / f"{page.stem}.png"
    proc = browse(chromium, page, tmp_path, f"--screenshot={shot}",
                  f"--window-size=1200,{height}")
    assert shot.exists(), proc.stderr[-2000:]
    width, got_height, bpp, rows = png.decode(shot.read_bytes())
    assert (width, got_height) == (1200, height)
    return png.colours(rows, bpp)


def rgb(colour: str) -> tuple[int, ...]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("pages")
    probe, transcript = write_inputs(folder)
    report, ladder = folder / "report.html", folder / "ladder.html"
    assert smtpsh("report", str(probe), str(transcript), "-o", str(report)).returncode == 1
    assert smtpsh("report", str(transcript), "-o", str(ladder)).returncode == 0
    return report, ladder


def test_report_screenshot_is_not_blank(chromium: str, pages: tuple[Path, Path],
                                        tmp_path: Path) -> None:
    counts = screenshot(chromium, pages[0], tmp_path)
    assert len(counts) > 50  # text, badges, borders: many colours, not one
    background = max(counts.values())
    assert background < 0.98 * sum(counts.values())
    # The CSS was applied: the High badge and the finding's edge are drawn in its colour.
    assert counts.get(rgb(SEVERITY_COLOURS["high"]), 0) > 200


def test_ladder_screenshot_shows_the_reply_colours(chromium: str, pages: tuple[Path, Path],
                                                   tmp_path: Path) -> None:
    counts = screenshot(chromium, pages[1], tmp_path, height=1200)  # the whole ladder
    assert len(counts) > 50
    for klass in (2, 4, 5):  # the 2xx, the 451 and the 550 arrows (and their labels)
        assert counts.get(rgb(REPLY_COLOURS[klass]), 0) > 100, klass


def test_dom_has_the_findings_and_the_ladder(chromium: str, pages: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    proc = browse(chromium, pages[0], tmp_path, "--dump-dom")
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = Markup(proc.stdout)
    names = [tag for tag, _ in dom.tags]
    assert "script" not in names and "img" not in names
    assert names.count("article") == 3  # the three findings
    assert names.count("svg") == 1 and "title" in names  # the ladder, with its tooltips
    lines = [a for t, a in dom.tags if t == "line" and str(a.get("class")).startswith("arrow")]
    assert len(lines) == 17
    # Each of the 9 replies glossed under its arrow, as text the browser shows.
    assert [t for t, a in dom.tags if a.get("class") == "gloss"] == ["text"] * 9
    text = dom.all_text()
    # The server's markup, as the browser holds it: text.
    assert HOSTILE_BANNER in text and HOSTILE_REPLY in text
    assert "550 mailbox unavailable · 5.1.1 bad destination mailbox address" in text
    assert "pwned" not in (proc.stdout.split("<title>", 1)[1].split("</title>", 1)[0])


def test_the_guides_pictures_are_the_ones_the_test_set_up_makes(chromium: str,
                                                                tmp_path: Path) -> None:
    """docs/guide.md's two pictures, made again by the code scripts/gen-report-pictures
    runs: each is a picture (many colours, not one background), small, of the size the
    guide's are; the committed one is the same picture, but for what changes between runs
    (the date, the sandbox's port, the ladder's times)."""
    made = pictures.make_pictures(chromium, tmp_path / "out", tmp_path / "work")
    guide = (pictures.DOCS / "guide.md").read_text(encoding="utf-8")
    assert set(made) == set(pictures.PICTURES)
    for name, path in made.items():
        data = path.read_bytes()
        assert len(data) <= pictures.MAX_BYTES, (name, len(data))
        width, height, bpp, rows = png.decode(data)
        assert (width, height) == (pictures.WIDTH, pictures.PICTURES[name][1])
        counts = png.colours(rows, bpp)
        assert len(counts) > 50, name
        assert max(counts.values()) < 0.97 * width * height, name
        committed = (pictures.DOCS / name).read_bytes()
        assert len(committed) <= pictures.MAX_BYTES, name
        share = pictures.difference(data, committed)
        assert share < 0.03, (f"docs/{name} is not what the test set-up makes ({share:.1%} of"
                              " its pixels differ): run scripts/gen-report-pictures")
        assert f"]({name})" in guide, name
