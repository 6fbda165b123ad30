"""Facts about the backup host's store."""

from __future__ import annotations

from pyinfra.api import FactBase
from typing_extensions import override


class _Everyone(frozenset[str]):
    def __contains__(self, name: object) -> bool:
        return True


class ArchivedHosts(FactBase[frozenset[str]]):
    """The hosts with at least one file archive under ``directory``/files/<host>/ (``frozenset``
    of names; empty before the first pull)."""

    @override
    def command(self, directory: str) -> str:
        return (f"find {directory}/files -mindepth 2 -name '*.tar.gz' -printf '%h\\n' 2>/dev/null "
                "| xargs -r -n1 basename | sort -u")

    @override
    @staticmethod
    def default() -> frozenset[str]:
        return frozenset()

    @staticmethod
    def rehearsal_default() -> frozenset[str]:
        """Before the host has answered (``deploys/fact_cache.py``), every host is archived: the
        backup deploy then does not ask which hosts are ready to be pulled (an SSH to each, the
        slowest command of a rehearsal) unless the real answer says some are not."""
        return _Everyone()

    @override
    def process(self, output: list[str]) -> frozenset[str]:
        return frozenset(line.strip() for line in output if line.strip())
