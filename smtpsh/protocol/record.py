"""Record: the base of the protocol core's small value classes.

The classes are written out by hand rather than with ``@dataclass``: importing dataclasses
pulls in inspect and ast, ~16 ms, most of what a piped run may spend before its first byte
(bench/bench_session.py). A Record gets equality, hashing and a readable repr from the
names in its ``__slots__``; it is treated as immutable (nothing assigns to one after
``__init__``).
"""

from __future__ import annotations


class Record:
    __slots__: tuple[str, ...] = ()
    _hidden: frozenset[str] = frozenset()  # fields left out of repr() (secrets)

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        assert isinstance(other, Record)
        return self._values() == other._values()

    def __hash__(self) -> int:
        return hash((type(self).__name__, *self._values()))

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{name}={getattr(self, name)!r}" for name in self.__slots__ if name not in self._hidden
        )
        return f"{type(self).__name__}({shown})"
