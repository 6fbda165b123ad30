"""Monitoring settings: the resolved ``monitoring__*`` variables of a site or host.

Their defaults are the inventory's built-in layer (``inventory/defaults/monitoring.yml``), so a
resolved site's vars hold every key; a bare mapping (a test's) is laid over that layer.

Values are checked here once, so every generator downstream can trust them; a bad value is an
error naming where the inventory set it (``inv.origin``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from egov.errors import MonitoringConfigError
from inventory.loader import builtin_defaults

PREFIX = "monitoring__"
_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")
_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}
# settings whose names end so are durations (a bare number is seconds)
DURATIONS = ("_interval", "_for", "_wait", "_after")


@dataclass(frozen=True)
class Settings:
    """Monitoring settings of one site or host (field names are the keys without the prefix)."""

    scrape_interval: str
    evaluation_interval: str
    host_down_for: str
    group_wait: str
    group_interval: str
    repeat_interval: str
    retention: str
    cert_warning_days: int
    backup_max_age_hours: int
    replication_lag_seconds: int
    disk_free_ratio: float
    disk_critical_ratio: float
    prometheus_port: int
    alertmanager_port: int
    alertmanager_cluster_port: int
    blackbox_port: int
    node_exporter_port: int
    postgres_exporter_port: int
    egov_exporter_port: int
    public_endpoints: list[dict[str, str]]
    tls_ports: dict[str, list[int]]
    app_health_path: str
    docexchange_url: str
    backup_status_file: str
    drift_file: str
    collect_interval: int
    drift_interval: int
    noc_email: str
    noc_webhook: str
    it_email: str
    it_webhook: str
    smtp_smarthost: str
    smtp_from: str
    alert_receiver_port: int
    deadmansswitch_silent_after: str
    runbook_base: str
    # alert routing (monitoring/alertmanager.py) and thresholds of the rules (monitoring/rules.py)
    deadmansswitch_url: str
    deadmansswitch_interval: str
    cert_critical_days: int


def settings_from(vars: Mapping[str, Any], domain: str,
                  where: Callable[[str], str | None] = lambda key: None) -> Settings:
    """Build Settings from resolved vars; ``where(key)`` names the origin of a value (for errors).

    Strings may hold ``{domain}``, replaced by the province's public domain.
    """
    problems: list[str] = []
    values: dict[str, Any] = {}
    for f in fields(Settings):
        key = PREFIX + f.name
        if key in vars:
            value, origin = vars[key], where(key) or ""
        else:
            value, origin = _builtin(key)
        try:
            values[f.name] = _check(f.name, value, domain)
        except (TypeError, ValueError) as exc:
            problems.append(f"{origin}: {key}: {exc}")
    if problems:
        raise MonitoringConfigError(problems)
    return Settings(**values)


def duration_seconds(value: str) -> float:
    """Seconds in a checked Prometheus duration (``1m30s`` -> 90.0)."""
    return float(sum(int(n) * _UNIT_SECONDS[unit] for n, unit in _DURATION_PART.findall(value)))


def _builtin(key: str) -> tuple[Any, str]:
    """The built-in default of ``key`` and the label of its file (the highest file that sets it)."""
    for label, values in reversed(builtin_defaults()):
        if key in values:
            return values[key], label
    raise MonitoringConfigError(f"{key}: no built-in default (inventory/defaults/monitoring.yml)")


def _check(name: str, value: Any, domain: str) -> Any:
    expected = Settings.__dataclass_fields__[name].type
    if expected == "str" and name.endswith(DURATIONS) and isinstance(value, int) \
            and not isinstance(value, bool):
        value = f"{value}s"  # a bare number of seconds
    if expected == "str":
        if not isinstance(value, str):
            raise TypeError(f"expected a string, got {value!r}")
        value = str(value).replace("{domain}", domain)  # a plain str, not the loader's quoted-scalar type
        if name.endswith((*DURATIONS, "retention")) and not _DURATION.match(value):
            raise ValueError(f"not a Prometheus duration (like 30s, 5m): {value!r}")
        return value
    if expected == "int":
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise TypeError(f"expected a positive integer, got {value!r}")
        return value
    if expected == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1:
            raise TypeError(f"expected a ratio between 0 and 1, got {value!r}")
        return float(value)
    if name == "public_endpoints":
        if not isinstance(value, list) or not all(
            isinstance(e, dict) and {"name", "target", "module"} <= set(e) for e in value
        ):
            raise TypeError("expected a list of {name, target, module}")
        return [{k: str(v).replace("{domain}", domain) for k, v in e.items()} for e in value]
    if name == "tls_ports":
        if not isinstance(value, dict) or not all(
            isinstance(p, list) and all(isinstance(n, int) for n in p) for p in value.values()
        ):
            raise TypeError("expected a mapping of role to a list of ports")
        return {str(k): list(v) for k, v in value.items()}
    raise TypeError(f"unsupported setting {name}")  # a field added without a check
