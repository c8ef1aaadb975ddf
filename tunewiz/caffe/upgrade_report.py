"""What an upgrade says: Caffe's log lines (:class:`Note`), what it did (:class:`UpgradeReport`), and
where Caffe would stop (:class:`UpgradeError`).

Shared by the net upgrade (:mod:`tunewiz.caffe.upgrade`) and the solver upgrade
(:mod:`tunewiz.caffe.upgrade_solver`), and read by ``tunewiz upgrade-*`` to print the lines.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from tunewiz.errors import FormatError


class UpgradeError(FormatError):
    """Caffe would stop here (LOG(FATAL) / CHECK) while upgrading a file."""


@dataclass(frozen=True)
class Note:
    """One of Caffe's upgrade log lines: level is "info", "warning" or "error"."""

    level: str
    text: str

    def __str__(self) -> str:
        return self.text if self.level == "info" else f"{self.level}: {self.text}"


@dataclass
class UpgradeReport:
    """What an upgrade did: Caffe's log lines, the steps taken and the original format."""

    source_format: str = "current"  # "V0", "V1" or "current": how the file was written
    steps: list[str] = field(default_factory=list)  # "V0", "data", "V1", "input", "batchnorm", "solver_type"
    notes: list[Note] = field(default_factory=list)
    success: bool = True  # False where Caffe says "had one or more problems"

    @property
    def upgraded(self) -> bool:
        return bool(self.steps)
