"""The hostile-server matrix: every behaviour against the piped mode and the shell.

The matrix and its pass count are printed at the end of the run (see conftest.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers.scripted_server import scripted_server
from tests.hostile.conftest import HostileCA
from tests.hostile.drivers import run_piped, run_shell
from tests.hostile.servers import BEHAVIOURS, Behaviour

RUNNERS = {"piped": run_piped, "shell": run_shell}


@pytest.mark.parametrize("mode", list(RUNNERS))
@pytest.mark.parametrize("behaviour", BEHAVIOURS, ids=[b.name for b in BEHAVIOURS])
def test_hostile(
    behaviour: Behaviour,
    mode: str,
    test_ca: HostileCA,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    record_property("summary", behaviour.summary)
    if mode == "shell":
        pytest.importorskip("prompt_toolkit")
    tls = test_ca.wants_client_cert if behaviour.wants_client_cert else test_ca.server
    with scripted_server(behaviour.handler(tls)) as port:
        outcome = RUNNERS[mode](behaviour, port, test_ca.cafile, tmp_path)
    record_property("said", outcome.said)
    record_property("seconds", round(outcome.seconds, 2))
    record_property("peak_kib", outcome.peak_kib)
