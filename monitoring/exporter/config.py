"""The exporter's configuration file: its shape and its loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml

from egov.errors import MonitoringError

# The labels every finding about a target carries: the target's place in the inventory, not the
# exporter host's (a commune router's drift goes to that commune's IT).
TARGET_LABELS = ("site", "level", "zone")


@dataclass(frozen=True)
class Router:
    router: str
    site: str
    level: str
    zone: str

    def labels(self) -> list[str]:
        return [self.router, self.site, self.level, self.zone]


@dataclass(frozen=True)
class ExporterConfig:
    """The exporter's configuration file (generated per host by ``egov monitor config``)."""

    listen: str = "0.0.0.0:9200"
    interval: float = 30.0  # how often the backup status file is read
    backup_status_file: str | None = None
    drift_file: str | None = None
    drift_interval: float = 900.0
    routers: list[Router] = field(default_factory=list)  # whose drift this exporter reports, with their labels


def load_config(path: str | Path) -> ExporterConfig:
    """Read and check the YAML config; MonitoringError names the file and the field."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise MonitoringError(f"{path}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise MonitoringError(f"{path}{f':{mark.line + 1}' if mark else ''}: not valid YAML") from None
    if not isinstance(data, dict):
        raise MonitoringError(f"{path}: must be a mapping")
    known = set(ExporterConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise MonitoringError(f"{path}: unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        routers = [Router(str(r["router"]), *(str(r[k]) for k in TARGET_LABELS)) for r in data.pop("routers", [])]
    except (KeyError, TypeError) as exc:
        raise MonitoringError(f"{path}: routers entries need router, {', '.join(TARGET_LABELS)}: {exc}") from None
    try:
        return ExporterConfig(routers=routers, **data)
    except TypeError as exc:
        raise MonitoringError(f"{path}: {exc}") from None
