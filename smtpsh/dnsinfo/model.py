"""Status items shared by every check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from typing import Any


class Status(str, Enum):
    OK = "ok"
    WARNING = "warning"
    ERROR = "error"


STATUS_RANK = {Status.OK: 0, Status.WARNING: 1, Status.ERROR: 2}


@dataclass(frozen=True)
class Item:
    """One verdict: a check name, a status and a one-line reason."""

    check: str
    status: Status
    text: str

    @property
    def reason(self) -> str:
        return f"{self.check}: {self.text}"

    def to_json(self) -> dict[str, Any]:
        return {"check": self.check, "status": self.status.value, "reason": self.reason}


def worst(items: Iterable[Item]) -> Status:
    """The most severe status among ``items`` (OK when there are none)."""
    return max((i.status for i in items), key=STATUS_RANK.__getitem__, default=Status.OK)


def count_by_status(items: Iterable[Item]) -> dict[str, int]:
    counts = {s.value: 0 for s in Status}
    for item in items:
        counts[item.status.value] += 1
    return counts
