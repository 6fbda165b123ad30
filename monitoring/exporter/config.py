"""The exporter's configuration file: its shape and its loader."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from egov import yamlfile
from egov.errors import MonitoringConfigError


@dataclass(frozen=True)
class App:
    app: str
    target: str
    url: str


@dataclass(frozen=True)
class TlsEndpoint:
    endpoint: str
    host: str
    port: int
    server_name: str


@dataclass(frozen=True)
class ExporterConfig:
    """The exporter's configuration file (generated per host by ``egov monitor config``)."""

    listen: str = "0.0.0.0:9200"
    interval: float = 30.0
    timeout: float = 5.0
    apps: list[App] = field(default_factory=list)
    tls: list[TlsEndpoint] = field(default_factory=list)
    backup_status_file: str | None = None
    docexchange_url: str | None = None
    drift_file: str | None = None
    drift_interval: float = 900.0


def load_config(path: str | Path) -> ExporterConfig:
    """Read and check the YAML config; MonitoringError names the file and the field."""
    path = Path(path)
    data = yamlfile.load(path, MonitoringConfigError).data or {}  # bounded: size, regular file, depth, aliases
    if not isinstance(data, dict):
        raise MonitoringConfigError(f"{path}: must be a mapping")
    known = set(ExporterConfig.__dataclass_fields__)
    unknown = sorted(set(data) - known)
    if unknown:
        raise MonitoringConfigError(f"{path}: unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    try:
        apps = [App(str(a["app"]), str(a["target"]), str(a["url"])) for a in data.pop("apps", [])]
        tls = [TlsEndpoint(str(t["endpoint"]), str(t["host"]), int(t["port"]), str(t.get("server_name", t["host"])))
               for t in data.pop("tls", [])]
    except (KeyError, TypeError, ValueError) as exc:
        raise MonitoringConfigError(f"{path}: apps/tls entries need app, target, url / endpoint, host, port: "
                                    f"{exc}") from None
    try:
        return ExporterConfig(apps=apps, tls=tls, **data)
    except TypeError as exc:
        raise MonitoringConfigError(f"{path}: {exc}") from None
