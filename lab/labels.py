"""What makes a Docker object or a veth link one lab's own: its labels, never its name.

Names are ``<lab>-<node>``, and they collide between labs (lab ``a`` + node ``b-h1`` is lab
``a-b`` + node ``h1``), so every container and network a lab creates carries the lab's name and
state directory as labels, and every WAN veth end the same as its interface alias. A lab finds
its objects by those labels; an object that only has one of its names is someone else's: the lab
refuses to go on and names the owner, and never removes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from egov.errors import LabError

LABEL = "egov.lab"
STATE_LABEL = "egov.lab.state"


@dataclass(frozen=True)
class Owner:
    """One lab as its objects' labels name it.

    + name: the lab's name (checked by ``egov.connection.lab_name``)
    + state_dir: its state directory: two labs of one name but different ``$EGOV_LAB_DIR`` differ
    """

    name: str
    state_dir: Path

    def labels(self) -> list[str]:
        """``docker create`` / ``docker network create`` options that mark an object as this lab's."""
        return ["--label", f"{LABEL}={self.name}", "--label", f"{STATE_LABEL}={self.state_dir}"]

    def filter(self) -> list[str]:
        """``docker ps`` / ``network ls`` options that list candidates; ``owns`` then decides."""
        return ["--filter", f"label={LABEL}={self.name}"]

    def owns(self, labels: Mapping[str, str] | None) -> bool:
        # an object made before the state label existed carries the name alone: still this lab's
        labels = labels or {}
        return labels.get(LABEL) == self.name and labels.get(STATE_LABEL, str(self.state_dir)) == str(self.state_dir)

    @property
    def alias(self) -> str:
        """The interface alias of this lab's WAN veth ends (``ip link set ... alias``)."""
        return f"{LABEL}={self.name},{STATE_LABEL}={self.state_dir}"  # one word: `ip -o link` prints it last

    def refuse(self, kind: str, name: str, labels: Mapping[str, str] | None) -> LabError:
        """The error for an object named as this lab's that is not this lab's."""
        return LabError(f"{kind} {name} already exists and is not lab {self.name}'s (its owner: {owner_of(labels)}); "
                        f"egov leaves it alone: remove or rename it yourself, or give this lab another name "
                        f"($EGOV_LAB_NAME)")


def owner_of(labels: Mapping[str, str] | None) -> str:
    """How an error names an object's owner: its lab labels, or that it has none."""
    labels = labels or {}
    if LABEL not in labels:
        return f"no {LABEL} label"
    state = f", {STATE_LABEL}={labels[STATE_LABEL]}" if STATE_LABEL in labels else ""
    return f"{LABEL}={labels[LABEL]}{state}"
