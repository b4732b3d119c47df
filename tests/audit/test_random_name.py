"""The random names of user enumeration's canary and the relay tests' control: 'zz' and 12
lowercase letters (valid in any local part), a fresh one each time, every letter possible."""

from __future__ import annotations

import re

from smtpsh.audit.common import random_name


def test_a_random_name_is_zz_and_twelve_letters_and_never_the_same() -> None:
    names = [random_name() for _ in range(2000)]
    assert all(re.fullmatch(r"zz[a-z]{12}", name) for name in names)
    assert len(set(names)) == len(names)
    letters = "".join(name[2:] for name in names)
    assert set(letters) == set("abcdefghijklmnopqrstuvwxyz")
    # No letter favoured: each is 1/26 of the 24,000 drawn (923), well within 700..1150.
    assert all(700 < letters.count(letter) < 1150 for letter in set(letters))
