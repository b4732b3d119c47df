"""`pip install` carries the man page and the completions (setuptools data-files), and
the package itself can print them (--man, --completion) wherever it was installed."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA_FILES = {
    "share/man/man1/smtpsh.1": "docs/smtpsh.1",
    "share/bash-completion/completions/smtpsh.bash": "completions/smtpsh.bash",
    "share/zsh/site-functions/_smtpsh": "completions/_smtpsh",
    "share/fish/vendor_completions.d/smtpsh.fish": "completions/smtpsh.fish",
}


def test_pyproject_installs_the_generated_files() -> None:
    tomllib = pytest.importorskip("tomllib")
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    entries = config["tool"]["setuptools"]["data-files"]
    installed = {f"{target}/{Path(source).name}": source
                 for target, sources in entries.items() for source in sources}
    assert installed == DATA_FILES
    for source in installed.values():
        assert (ROOT / source).is_file(), source


def test_the_wheel_holds_them(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path),
         str(ROOT)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = tmp_path.glob("smtpsh-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for target, source in DATA_FILES.items():
            (member,) = [n for n in names if n.endswith(f".data/data/{target}")]
            assert archive.read(member) == (ROOT / source).read_bytes(), target
        assert "smtpsh/docgen/roff.py" in names  # --man works from the installed package
