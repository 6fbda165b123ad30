"""The exporter's configuration file: its shape and its loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egov import yamlfile
from egov.errors import MonitoringConfigError

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
        """router, instance, role, site, level, zone: the router is the target (its own place, and
        ``instance`` as its ping probe has it), not the exporter's host."""
        return [self.router, self.router, "router", self.site, self.level, self.zone]


@dataclass(frozen=True)
class ExporterConfig:
    """The exporter's configuration file (generated per host by ``egov monitor config``)."""

    listen: str = "0.0.0.0:9200"
    interval: float = 30.0  # how often the backup status file is read
    backup_status_file: str | None = None
    drift_file: str | None = None
    drift_interval: float = 900.0
    routers: list[Router] = field(default_factory=list)  # whose drift this exporter reports, with their labels
    web_config: str | None = None  # the host's exporter-toolkit web config: TLS and basic auth (webauth.py)


def load_config(path: str | Path) -> ExporterConfig:
    """Read and check the YAML config; MonitoringConfigError names the file and the field."""
    path = Path(path)
    data = yamlfile.load(path, MonitoringConfigError).data or {}  # bounded: size, regular file, depth, aliases
    if not isinstance(data, dict):
        raise MonitoringConfigError(f"{path}: must be a mapping")
    known = set(ExporterConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise MonitoringConfigError(f"{path}: unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        routers = [Router(str(r["router"]), *(str(r[k]) for k in TARGET_LABELS)) for r in data.pop("routers", [])]
    except (KeyError, TypeError) as exc:
        raise MonitoringConfigError(f"{path}: routers entries need router, {', '.join(TARGET_LABELS)}: {exc}") from None
    try:
        return ExporterConfig(routers=routers, **data)
    except TypeError as exc:
        raise MonitoringConfigError(f"{path}: {exc}") from None
