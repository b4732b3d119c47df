"""/info also says what software the banner names and which MTA family the session's
banner and EHLO point to (the probe's fingerprint table, from what the session saw)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import PostfixEnv
from tests.helpers.run import run_piped


@pytest.mark.postfix
def test_info_names_software_and_family(postfix: PostfixEnv, tmp_path: Path) -> None:
    result = run_piped([postfix.host, "--no-annotate"], "EHLO me\n/info\nQUIT\n", tmp_path)
    assert "software  InFreight 2.11 (from the banner)" in result.stdout, result.stdout
    assert "family    Postfix (from this session's banner and EHLO" in result.stdout


def test_info_without_ehlo_says_it_cannot_tell(tmp_path: Path) -> None:
    result = run_piped(["--sandbox", "--no-annotate"], "/info\nQUIT\n", tmp_path)
    assert "software  the banner names none" in result.stdout, result.stdout
    assert "family    not told apart by the banner and EHLO alone" in result.stdout
