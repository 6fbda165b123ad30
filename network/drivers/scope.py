"""The managed scope: what part of a device's configuration the toolkit owns.

The toolkit owns what it renders and never negates what it does not own. Per platform, the
inventory variable ``network__scope`` (inventory/defaults/network.yml, overridable per level, site
or router) says, as regular expressions over an entry's *path* (its line, after the lines of the
sections it sits in, joined by `` / ``; a Junos entry is its whole ``set`` line):

- ``owned``: entries the toolkit replaces: whatever the running configuration has there and the
  intended one lacks is negated (the OSPF process, the NTP servers, the VTY ACL, ...);
- ``owned_when_rendered``: entries owned only when the intended configuration renders an entry
  with the same key (the pattern's first group, else its match): an interface the toolkit
  configures is owned whole, a port it does not configure is left as it is;
- ``ignored``: entries the device generates, never compared on either side;
- ``write_only``: top-level lines the device takes but never prints in its running configuration
  (IOS's ``snmp-server user``): never compared, never negated; sent when the device's own report
  (``Driver.absent_write_only``) says they are absent, listed apart when there is no device to ask.

Every other entry is merge-only: a line the intended configuration has is added when missing, and
nothing there is ever negated (the local users, the enable secret or root authentication, the
management VRF or instance and its route, the console and VTY lines, board, chassis, licence and
certificate lines). ``network__full_replace: true`` on a router owns everything but the ignored
entries (an explicit opt-in; the lock-out guard still checks what that would send).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hier_config import HConfig
from hier_config.child import HConfigChild

from egov.errors import NetworkError

SCOPE_KEY = "network__scope"
FULL_REPLACE_KEY = "network__full_replace"
KINDS = ("owned", "owned_when_rendered", "ignored", "write_only")
MGMT = "{mgmt}"  # in a pattern: the router's management interface (its model's, else the platform's)


def path_of(entry: HConfigChild) -> str:
    """An entry's path: its line after the lines of its sections, joined by `` / ``."""
    return " / ".join(entry.path())


@dataclass(frozen=True)
class Scope:
    """The compiled scope of one router."""

    owned: tuple[re.Pattern[str], ...] = ()
    owned_when_rendered: tuple[re.Pattern[str], ...] = ()
    ignored: tuple[re.Pattern[str], ...] = ()
    full_replace: bool = False
    write_only: tuple[re.Pattern[str], ...] = ()

    @classmethod
    def from_vars(cls, where: str, platform: str, variables: Mapping[str, Any], mgmt: str) -> Scope:
        """The scope a router's layered variables give its platform; ``where`` names the router in errors,
        ``{mgmt}`` in a pattern stands for ``mgmt`` (the router's management interface, as a literal)."""
        table = variables.get(SCOPE_KEY)
        if not isinstance(table, Mapping) or not isinstance(table.get(platform), Mapping):
            raise NetworkError(f"{where}: {SCOPE_KEY} has no entry for platform '{platform}'")
        entry = table[platform]
        unknown = sorted(set(entry) - set(KINDS))
        if unknown:
            raise NetworkError(f"{where}: {SCOPE_KEY}.{platform}: unknown key(s) {', '.join(unknown)} "
                               f"(known: {', '.join(KINDS)})")
        compiled: dict[str, tuple[re.Pattern[str], ...]] = {}
        for kind in KINDS:
            patterns = entry.get(kind) or []
            if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
                raise NetworkError(f"{where}: {SCOPE_KEY}.{platform}.{kind} must be a list of regular expressions")
            try:
                compiled[kind] = tuple(re.compile(p.replace(MGMT, re.escape(mgmt))) for p in patterns)
            except re.error as exc:
                raise NetworkError(f"{where}: {SCOPE_KEY}.{platform}.{kind}: bad regular expression "
                                   f"{exc.pattern!r}: {exc}") from None
        full = variables.get(FULL_REPLACE_KEY, False)
        if not isinstance(full, bool):
            raise NetworkError(f"{where}: {FULL_REPLACE_KEY} must be true or false, not {full!r}")
        return cls(compiled["owned"], compiled["owned_when_rendered"], compiled["ignored"], full,
                   compiled["write_only"])

    def widened(self) -> Scope:
        """The scope of going back to a saved configuration (a restore, a rollback): every entry the
        toolkit may own is owned, rendered now or not (what the push being undone rendered is gone)."""
        return Scope((*self.owned, *self.owned_when_rendered), (), self.ignored, self.full_replace, self.write_only)

    # ---- applying it to a pair of configurations ------------------------------------------------

    def is_ignored(self, entry: HConfigChild) -> bool:
        path = path_of(entry)
        return any(pattern.search(path) for pattern in self.ignored)

    def _owned(self, entry: HConfigChild, rendered: Iterable[HConfigChild]) -> bool:
        path = path_of(entry)
        if any(pattern.search(path) for pattern in self.owned):
            return True
        for pattern in self.owned_when_rendered:
            if (m := pattern.search(path)) is not None:
                key = m.group(1) if pattern.groups else m.group(0)
                for twin in rendered:
                    t = pattern.search(path_of(twin))
                    if t is not None and (t.group(1) if pattern.groups else t.group(0)) == key:
                        return True
        return False

    def take_write_only(self, running: HConfig, intended: HConfig) -> list[str]:
        """Take the write-only entries (lines the device never prints) out of both configurations: the
        running one cannot show them, so they are never compared; the intended ones, returned as lines,
        are sent only where the device's own report says they are absent."""
        taken: list[str] = []
        for config, keep in ((running, False), (intended, True)):
            for entry in [e for e in config.children if any(p.search(path_of(e)) for p in self.write_only)]:
                if keep:
                    taken.append(entry.text)
                entry.delete()
        return taken

    def limit(self, running: HConfig, intended: HConfig) -> None:
        """Cut both configurations down to what is compared: ignored entries go from both; from
        ``running``, every entry outside the owned scope that ``intended`` does not also have."""
        for config in (running, intended):
            for entry in [e for e in config.all_children() if self.is_ignored(e)]:
                entry.delete()
        if not self.full_replace:
            self._limit(running, intended)

    def _limit(self, running: HConfig | HConfigChild, intended: HConfig | HConfigChild | None) -> None:
        rendered = list(intended.children) if intended is not None else []
        for entry in list(running.children):
            if self._owned(entry, rendered):
                continue
            twin = intended.get_child(equals=entry.text) if intended is not None else None
            if twin is None:
                entry.delete()  # not ours and not rendered: never negated
            else:
                self._limit(entry, twin)  # merge-only: what the intended section lacks is kept


FULL = Scope(owned=(re.compile(""),), full_replace=True)
"""Everything compared: a configuration against itself or a whole backup in a test."""
