"""The meta-command registry: features load all or say which failed; prefixes resolve."""

from __future__ import annotations

import sys
import types

import pytest

from smtpsh.shell import metacommands


def test_an_ambiguous_prefix_names_the_candidates() -> None:
    command, problem = metacommands.resolve("/re")
    assert command is None
    assert problem.startswith("ambiguous shell command /re: ")
    assert "/reconnect" in problem and "/record" in problem


def test_a_unique_prefix_and_an_unknown_word() -> None:
    command, _ = metacommands.resolve("/reconn")
    assert command is not None and command.name == "/reconnect"
    assert metacommands.resolve("/nosuch") == (
        None, "unknown shell command /nosuch; /help lists them"
    )


def test_a_feature_that_fails_to_load_is_named_and_the_others_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = "smtpsh_test_broken_feature"
    monkeypatch.setitem(sys.modules, broken, None)  # importing it raises ImportError
    monkeypatch.setattr(metacommands, "FEATURE_MODULES", [broken, *metacommands.FEATURE_MODULES])
    monkeypatch.setattr(metacommands, "FAILED", {})
    failed = metacommands.load_features()
    assert list(failed) == [broken] and failed[broken].startswith("ModuleNotFoundError: ")
    assert metacommands.find("/send") is not None  # the others are all there
    _, problem = metacommands.resolve("/nosuch")
    assert f"some could not be loaded: {broken}: ModuleNotFoundError" in problem
    # Not marked loaded: once it can be imported, the next need loads it.
    monkeypatch.setitem(sys.modules, broken, types.ModuleType(broken))
    assert metacommands.load_features() == {}
