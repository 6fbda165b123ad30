"""Typed results of work done on many targets (hosts or routers), after Nornir's.

A ``Result`` is one target's outcome; a ``RunResult`` maps target name to its result and
answers the questions a caller asks of a whole run: what failed, what changed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Result:
    """What happened on one target.

    + target: host or router name
    + changed: whether anything on the target was changed (or would be, in a dry run)
    + failed: whether the work failed on this target
    + diff: the change, as text a person reads (already redacted)
    + error: one line saying what went wrong, when failed
    + data: anything else the caller reports (timings, counts, checks)
    """

    target: str
    changed: bool = False
    failed: bool = False
    diff: str = ""
    error: str = ""
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RunResult(dict[str, Result]):
    """Results by target name, in the order the targets were given."""

    @property
    def failed(self) -> bool:
        return any(r.failed for r in self.values())

    @property
    def failed_targets(self) -> list[str]:
        return [name for name, r in self.items() if r.failed]

    @property
    def changed_targets(self) -> list[str]:
        return [name for name, r in self.items() if r.changed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "failed": self.failed,
            "failed_targets": self.failed_targets,
            "changed_targets": self.changed_targets,
            "results": {name: r.to_dict() for name, r in self.items()},
        }
